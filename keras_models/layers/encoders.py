"""Utterance encoder (GRU over words), context encoder (GRU over utterance vectors), and
VHCR's bidirectional conversation encoder.

GRUs keep Keras's default activations and reset_after=True so a GPU uses cuDNN.
"""
import keras
import tensorflow as tf

from keras_models.layers.gru import GRU
from keras_models.layers.length_groups import gather_rows, length_groups


class UtteranceEncoder(keras.layers.Layer):
    """[N, L] token ids (0 = pad) -> [N, units] final GRU states."""

    def __init__(self, embedding: keras.layers.Embedding, units: int, length_groups: int = 2,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.embedding = embedding
        self.length_groups = length_groups
        self.gru = GRU(units, name="gru")

    def build(self, input_shape: tuple) -> None:
        if not self.embedding.built:
            self.embedding.build(input_shape)
        self.gru.build((*input_shape, self.embedding.output_dim))

    def call(self, tokens: tf.Tensor) -> tf.Tensor:
        """Encodes in length groups (see `length_groups`), returned in the input order."""
        lengths = tf.reduce_sum(tf.cast(tokens != 0, tf.int32), 1)
        indices, vectors = [], []
        for rows, longest in length_groups(lengths, self.length_groups):
            group = gather_rows(tokens, rows, longest)
            indices.append(rows)
            vectors.append(self.gru(self.embedding(group), mask=group != 0))
        return tf.dynamic_stitch(indices, vectors)


class ContextEncoder(keras.layers.Layer):
    """[B, T, D] utterance vectors -> [B, T, units] context states (one per utterance)."""

    def __init__(self, units: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.gru = GRU(units, return_sequences=True, name="gru")

    def build(self, input_shape: tuple) -> None:
        self.gru.build(input_shape)

    def call(self, vectors: tf.Tensor, mask: tf.Tensor,
             initial_state: tf.Tensor | None = None) -> tf.Tensor:
        kwargs = {"initial_state": [initial_state]} if initial_state is not None else {}
        return self.gru(vectors, mask=mask, **kwargs)


class ConversationEncoder(keras.layers.Layer):
    """VHCR's q(z_conv | x_1..x_n) input: a bidirectional GRU over utterance vectors."""

    def __init__(self, units: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rnn = keras.layers.Bidirectional(GRU(units), name="bigru")

    def build(self, input_shape: tuple) -> None:
        self.rnn.build(input_shape)

    def call(self, vectors: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        return self.rnn(vectors, mask=mask)
