"""Bag-of-words head (Zhao et al. 2017): predict the response's words from the latent."""
import keras
import tensorflow as tf


class BagOfWords(keras.layers.Layer):
    def __init__(self, vocab_size: int, hidden_units: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(hidden_units, activation="tanh", name="hidden")
        self.logits = keras.layers.Dense(vocab_size, name="logits", dtype="float32")

    def build(self, input_shape: tuple) -> None:
        self.hidden.build(input_shape)
        self.logits.build((*input_shape[:-1], self.hidden.units))

    def call(self, condition: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        """Summed negative log-likelihood of every target token (ignoring order)."""
        log_probs = tf.nn.log_softmax(self.logits(self.hidden(condition)))  # [N, V]
        picked = tf.gather(log_probs, targets, batch_dims=1)  # [N, L]
        mask = tf.cast(targets > 0, picked.dtype)
        return -tf.reduce_sum(picked * mask)
