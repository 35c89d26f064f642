"""The parts of `pipeline.evaluate` and `pipeline.report`: likelihood bounds, response
metrics, reference responders, and the files an evaluation writes."""
