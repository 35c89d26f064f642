"""Training-only input corruptions: word drop (decoder inputs) and utterance drop."""
import keras
import tensorflow as tf

from preprocessing.constants import BOS_ID, PAD_ID, UNK_ID


def word_drop(tokens, rate, seed_generator=None):
    """Replaces decoder input tokens by <unk> with probability `rate` (not <s>/<pad>)."""
    if not rate:
        return tokens
    drop = keras.random.uniform(tf.shape(tokens), seed=seed_generator) < rate
    droppable = (tokens != PAD_ID) & (tokens != BOS_ID)
    return tf.where(drop & droppable, tf.cast(UNK_ID, tokens.dtype), tokens)


class UtteranceDrop(keras.layers.Layer):
    """Replaces each utterance vector by a learned h_unk with probability `rate` (VHCR)."""

    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed_generator = keras.random.SeedGenerator(17)

    def build(self, input_shape):
        self.h_unk = self.add_weight(name="h_unk", shape=(input_shape[-1],),
                                     initializer="random_normal")

    def call(self, vectors, training=False):
        if not training or not self.rate:
            return vectors
        keep = keras.random.uniform(tf.shape(vectors)[:-1], seed=self.seed_generator) >= self.rate
        h_unk = tf.cast(self.h_unk, vectors.dtype)
        return tf.where(keep[..., None], vectors, tf.broadcast_to(h_unk, tf.shape(vectors)))
