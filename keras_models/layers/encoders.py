"""Utterance encoder (GRU over words), context encoder (GRU over utterance vectors), and
VHCR's bidirectional conversation encoder.

GRUs keep Keras's default activations and reset_after=True so a GPU uses cuDNN.
"""
import keras

from keras_models.layers.gru import GRU


class UtteranceEncoder(keras.layers.Layer):
    """[N, L] token ids (0 = pad) -> [N, units] final GRU states."""

    def __init__(self, embedding, units, **kwargs):
        super().__init__(**kwargs)
        self.embedding = embedding
        self.gru = GRU(units, name="gru")

    def build(self, input_shape):
        if not self.embedding.built:
            self.embedding.build(input_shape)
        self.gru.build((*input_shape, self.embedding.output_dim))

    def call(self, tokens):
        return self.gru(self.embedding(tokens), mask=tokens != 0)


class ContextEncoder(keras.layers.Layer):
    """[B, T, D] utterance vectors -> [B, T, units] context states (one per utterance)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.gru = GRU(units, return_sequences=True, name="gru")

    def build(self, input_shape):
        self.gru.build(input_shape)

    def call(self, vectors, mask, initial_state=None):
        kwargs = {"initial_state": [initial_state]} if initial_state is not None else {}
        return self.gru(vectors, mask=mask, **kwargs)


class ConversationEncoder(keras.layers.Layer):
    """VHCR's q(z_conv | x_1..x_n) input: a bidirectional GRU over utterance vectors."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.rnn = keras.layers.Bidirectional(GRU(units), name="bigru")

    def build(self, input_shape):
        self.rnn.build(input_shape)

    def call(self, vectors, mask):
        return self.rnn(vectors, mask=mask)
