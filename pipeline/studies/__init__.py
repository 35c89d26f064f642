"""The parts of `pipeline.study`: the paper's qualitative claims judged from a study's
rows, and the study's report (tables, curves, README)."""
