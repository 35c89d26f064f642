"""The CO paper's generator g(e, c) -> z: a 2-layer feed-forward network."""
import keras
import tensorflow as tf


class LatentGenerator(keras.layers.Layer):
    """[e, c] -> z in the autoencoder's latent space (float32)."""

    def __init__(self, latent_dim: int, hidden_units: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(hidden_units, activation="tanh", name="hidden")
        self.output_layer = keras.layers.Dense(latent_dim, name="output")

    def build(self, input_shape: tuple) -> None:
        self.hidden.build(input_shape)
        self.output_layer.build((*input_shape[:-1], self.hidden.units))

    def call(self, inputs: tf.Tensor) -> tf.Tensor:
        return tf.cast(self.output_layer(self.hidden(inputs)), tf.float32)
