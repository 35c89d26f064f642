"""Apache Beam preprocessing: dialogue corpora -> sliced SequenceExample TFRecords."""
