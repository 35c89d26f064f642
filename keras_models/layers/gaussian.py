"""Diagonal Gaussian heads: MLP -> mean and softplus variance, reparameterised sampling."""
import math

import keras
import tensorflow as tf


class GaussianHead(keras.layers.Layer):
    """x -> (mean, variance) of a diagonal Gaussian over `latent_dim` units.

    A hidden tanh layer then linear mean and softplus variance, as VHRED/VHCR do.
    """

    def __init__(self, latent_dim: int, hidden_units: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.latent_dim = latent_dim
        self.hidden = keras.layers.Dense(hidden_units, activation="tanh", name="hidden")
        self.mean = keras.layers.Dense(latent_dim, name="mean")
        self.raw_variance = keras.layers.Dense(latent_dim, name="raw_variance")

    def build(self, input_shape: tuple) -> None:
        self.hidden.build(input_shape)
        hidden_shape = (*input_shape[:-1], self.hidden.units)
        self.mean.build(hidden_shape)
        self.raw_variance.build(hidden_shape)

    def call(self, inputs: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        h = self.hidden(inputs)
        mean = tf.cast(self.mean(h), tf.float32)
        variance = tf.nn.softplus(tf.cast(self.raw_variance(h), tf.float32)) + 1e-6
        return mean, variance


def sample(mean: tf.Tensor, variance: tf.Tensor,
           seed_generator: keras.random.SeedGenerator | None = None) -> tf.Tensor:
    """Reparameterised draw mean + sqrt(variance) * eps (differentiable in both)."""
    eps = keras.random.normal(tf.shape(mean), seed=seed_generator)
    return mean + tf.sqrt(variance) * eps


def log_density(x: tf.Tensor, mean: tf.Tensor | None = None,
                variance: tf.Tensor | None = None) -> tf.Tensor:
    """log N(x; mean, diag(variance)) summed over the last axis; N(0, I) by default."""
    if mean is None:
        mean, variance = tf.zeros_like(x), tf.ones_like(x)
    return -0.5 * tf.reduce_sum(tf.math.log(2.0 * math.pi * variance)
                                + tf.square(x - mean) / variance, -1)


def gaussian_kl(q_mean: tf.Tensor, q_var: tf.Tensor, p_mean: tf.Tensor | None = None,
                p_var: tf.Tensor | None = None) -> tf.Tensor:
    """Per-dimension KL(q || p) of diagonal Gaussians; p defaults to N(0, I)."""
    if p_mean is None:
        p_mean = tf.zeros_like(q_mean)
        p_var = tf.ones_like(q_var)
    return 0.5 * (tf.math.log(p_var) - tf.math.log(q_var)
                  + (q_var + tf.square(q_mean - p_mean)) / p_var - 1.0)
