"""The one codec of dialogvae: utterance text -> token ids -> padded tensors, and back.

Every place that turns text into model input or model output into text goes through
here: the Beam job (tokens -> ids when writing TFRecords), `pipeline/data.py` (stored ids
-> padded batches ending in </s>), the tools that take text from a user (latent-space
tools, tests), the evaluation's text, and the serving graph (the same steps in TF ops).
The rules live once:
- tokens come from `preprocessing.text.tokenize`, cut at the data's word cap
  (`max_utterance_words` of the preprocessing run);
- a token outside the vocabulary is <unk>;
- TFRecords store an utterance's ids without </s>; the model sees them with </s>
  appended (`with_eos`);
- text from ids stops at </s> or <pad>.
No Beam import here, so model and serving code can use it.
"""
import numpy as np
import tensorflow as tf

from preprocessing.constants import EOS_ID, PAD_ID, UNK_ID
from preprocessing.text import tokenize, tokenize_batch

DEFAULT_MAX_WORDS = 30  # the preprocessing default (the VHCR paper's cut)


class Codec:
    """Text <-> ids for one vocabulary (a list of tokens, line number = id) and word cap."""

    def __init__(self, vocab, max_words=DEFAULT_MAX_WORDS):
        self.vocab = list(vocab)
        self.max_words = max_words
        self._index = {token: i for i, token in enumerate(self.vocab)}

    # ----- Python (the Beam workers, the tools) --------------------------------------------
    def token_ids(self, tokens):
        """Tokens -> ids (<unk> for a token outside the vocabulary), no </s>."""
        return [self._index.get(t, UNK_ID) for t in tokens]

    def utterance_ids(self, texts):
        """Utterance strings -> lists of ids, each cut at the word cap and ending in </s>."""
        return [self.token_ids(tokens) + [EOS_ID]
                for tokens in tokenize_batch(list(texts), self.max_words)]

    def encode_context(self, utterances):
        """A list of utterance strings -> int32 [1, T, L] ids ending in </s>, 0-padded:
        one slice, as `pipeline.data` batches them."""
        rows = self.utterance_ids(utterances)
        out = np.zeros([1, len(rows), max(map(len, rows), default=1)], np.int32)
        for t, row in enumerate(rows):
            out[0, t, :len(row)] = row
        return out

    def text(self, ids):
        """Token ids (up to </s> or <pad>) -> a space-joined string."""
        return ids_to_text(ids, self.vocab)

    # ----- TensorFlow (tf.data and the serving graph) ---------------------------------------
    def tf_encode(self, texts, table):
        """[N] strings -> ragged [N, (words + 1)] int32 ids ending in </s>, with `table`
        (`lookup_table`) mapping tokens to ids."""
        ids = tf.ragged.map_flat_values(table.lookup, tokenize(texts, self.max_words))
        return with_eos(tf.cast(ids, tf.int32))

    def tf_text(self, ids, words):
        """[..., L] ids -> [...] strings: the words (a string tensor of the vocabulary)
        up to </s>, joined by spaces."""
        shape = tf.shape(ids)[:-1]
        flat = tf.reshape(ids, [-1, tf.shape(ids)[-1]])
        before_eos = tf.cumsum(tf.cast(flat == EOS_ID, tf.int32), -1, exclusive=True) == 0
        keep = before_eos & (flat != EOS_ID) & (flat != PAD_ID)
        joined = tf.strings.reduce_join(tf.ragged.boolean_mask(tf.gather(words, flat), keep),
                                        axis=-1, separator=" ")
        return tf.reshape(joined, shape)


def lookup_table(vocab_file):
    """token -> id table over a vocab.txt (a path or a SavedModel asset); <unk> otherwise."""
    return tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(vocab_file, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                                      tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER),
        default_value=UNK_ID)


def with_eos(utterances):
    """Ragged [N, (ids)] -> the same with </s> appended to every row (what the model reads)."""
    eos = tf.fill([utterances.nrows(), 1], tf.constant(EOS_ID, utterances.dtype))
    return tf.concat([utterances, eos], axis=1)


def ids_to_text(ids, vocab):
    """Token ids (stops at </s> or padding) -> a space-joined string."""
    words = []
    for i in ids:
        i = int(i)
        if i in (EOS_ID, PAD_ID):
            break
        words.append(vocab[i])
    return " ".join(words)
