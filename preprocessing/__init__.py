"""Apache Beam preprocessing: dialogue corpora -> sliced SequenceExample TFRecords."""
from preprocessing.cli import quiet_unless_verbose

quiet_unless_verbose()
