"""Metrics the conversation models track beyond Keras's own."""
import keras
import tensorflow as tf


class NllBoundPerplexity(keras.metrics.Metric):
    """exp(total NLL bound / total words): perplexity over everything seen so far."""

    def __init__(self, name: str = "ppl", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.nats = self.add_variable(shape=(), initializer="zeros", name="nats",
                                      aggregation="sum")
        self.words = self.add_variable(shape=(), initializer="zeros", name="words",
                                       aggregation="sum")

    def update_state(self, nats: tf.Tensor, words: tf.Tensor) -> None:
        self.nats.assign_add(tf.cast(nats, self.dtype))
        self.words.assign_add(tf.cast(words, self.dtype))

    def result(self) -> tf.Tensor:
        return tf.exp(self.nats / tf.maximum(self.words, 1.0))
