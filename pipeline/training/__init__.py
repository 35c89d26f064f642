"""The parts of `pipeline.train`: the model factory, the run's plan and budget, the run
record that guards resuming, the strategies, and the Keras callbacks."""
