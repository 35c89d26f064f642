"""The utterance decoder: a GRU started from the conditioning vector, teacher-forced.

The 512 x vocabulary output projection dominates training FLOPs, so it is applied only
to the real (non-pad) target positions, gathered into one large matmul, followed by the
fused sparse softmax cross-entropy in float32.
"""
import keras

from keras_models.layers.gru import GRU
import tensorflow as tf


class UtteranceDecoder(keras.layers.Layer):
    def __init__(self, embedding, units, vocab_size, **kwargs):
        super().__init__(**kwargs)
        self.embedding = embedding
        self.units = units
        self.init_state = keras.layers.Dense(units, activation="tanh", name="init_state")
        self.gru = GRU(units, return_sequences=True, return_state=True,
                                    name="gru")
        self.projection = keras.layers.Dense(vocab_size, name="projection", dtype="float32")

    def build(self, condition_shape):
        self.init_state.build(condition_shape)
        self.gru.build((None, None, self.embedding.output_dim))
        self.projection.build((None, self.units))

    def initial_state(self, condition):
        return self.init_state(condition)

    def run(self, inputs, state, mask=None):
        """[N, L] input ids + [N, units] state -> ([N, L, units] outputs, final state)."""
        outputs, final = self.gru(self.embedding(inputs), initial_state=[state], mask=mask)
        return outputs, final

    def logits(self, states):
        return self.projection(states)

    def call(self, condition, inputs, targets):
        """Summed NLL of `targets` ([N, L], 0 = pad) and the number of target tokens."""
        outputs, _ = self.run(inputs, self.initial_state(condition), mask=targets != 0)
        positions = tf.where(targets != 0)
        logits = self.logits(tf.gather_nd(outputs, positions))
        labels = tf.gather_nd(targets, positions)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        return tf.reduce_sum(nll), tf.cast(tf.shape(positions)[0], tf.float32)
