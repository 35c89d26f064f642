"""Training-only input corruptions: word drop (decoder inputs) and utterance drop."""
import keras
import tensorflow as tf

from preprocessing.constants import BOS_ID, PAD_ID, UNK_ID


def word_drop(tokens: tf.Tensor, rate: float,
              seed_generator: keras.random.SeedGenerator | None = None) -> tf.Tensor:
    """Replaces decoder input tokens by <unk> with probability `rate` (not <s>/<pad>)."""
    if not rate:
        return tokens
    drop = keras.random.uniform(tf.shape(tokens), seed=seed_generator) < rate
    droppable = (tokens != PAD_ID) & (tokens != BOS_ID)
    return tf.where(drop & droppable, tf.cast(UNK_ID, tokens.dtype), tokens)


class UtteranceDrop(keras.layers.Layer):
    """Replaces utterance vectors by a learned h_unk with probability `rate` (VHCR).

    form "utterance": each utterance of each conversation is drawn on its own.
    form "position": the VHCR authors' code, `np.random.rand(max_len) < p` once per batch:
    the same positions are dropped in every conversation, the last position never (it
    feeds no context state). h_unk starts N(0, 1), as their `torch.randn` parameter.
    `at_inference` keeps the drop on outside training: the authors' evaluation does not
    switch it off, so their reported VHCR + u.d. figures include it.
    """

    def __init__(self, rate: float, form: str = "utterance", seed: int = 17, **kwargs) -> None:
        """`rate` and `form` as validated in the model config (model.utterance_drop*)."""
        super().__init__(**kwargs)
        self.rate = rate
        self.form = form
        self.at_inference = False
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: tuple) -> None:
        self.h_unk = self.add_weight(name="h_unk", shape=(input_shape[-1],),
                                     initializer=keras.initializers.RandomNormal(stddev=1.0))

    def keep_mask(self, vectors: tf.Tensor) -> tf.Tensor:
        """[B, T] booleans: True where the vector is kept."""
        shape = tf.shape(vectors)[:-1]
        if self.form == "utterance":
            return keras.random.uniform(shape, seed=self.seed_generator) >= self.rate
        positions = keras.random.uniform(shape[1:], seed=self.seed_generator) >= self.rate
        last = tf.range(shape[1]) == shape[1] - 1
        return tf.broadcast_to((positions | last)[None, :], shape)

    def call(self, vectors: tf.Tensor, training: bool = False) -> tf.Tensor:
        if not (training or self.at_inference) or not self.rate:
            return vectors
        keep = self.keep_mask(vectors)
        h_unk = tf.cast(self.h_unk, vectors.dtype)
        return tf.where(keep[..., None], vectors, tf.broadcast_to(h_unk, tf.shape(vectors)))
