"""The one tokenizer of dialogvae, written in TensorFlow ops.

Beam calls `tokenize` (eagerly, on batches of utterances) while writing TFRecords, and
the exported serving graph calls the very same function on raw requests, so training
and serving cannot tokenise differently.

Rules, in order:
1. Unicode NFKC normalisation and case folding (tensorflow-text).
2. Typographic quotes become ASCII: ’ ‘ ` ´ ′ -> '   and   “ ” ″ -> ".
3. Contractions are single tokens, one consistent way: "don't", "I'm", "it's".
   DailyDialog's spaced forms ("don ’ t", "I ’ m") are re-joined first.
4. Every other punctuation or symbol character becomes its own token, so
   "Hello, world!" and "hello , world !" give the same tokens.
5. Split on (Unicode) whitespace.
"""
import tensorflow as tf
import tensorflow_text as tf_text

# Contraction suffixes written "don't" or spaced on both sides "don ' t" (DailyDialog)
# are one token; "james' t-shirt" or "the 'd' key" are left alone.
_SPACED_CONTRACTION = r"(\pL)(?:'| ' )(s|t|m|re|ve|ll|d)\b"
# A private-use character protects word-internal apostrophes ("o'clock", "ma'am")
# while every other apostrophe is split off as punctuation.
_KEEP = "\uE000"
_WORD_APOSTROPHE = r"(\pL)'(\pL)"
_PUNCTUATION = r"([^\pL\pM\pN\s" + _KEEP + r"])"

_WHITESPACE_TOKENIZER = tf_text.WhitespaceTokenizer()


def normalize(texts):
    """Normalises a string tensor (any shape) to the text that `tokenize` splits."""
    x = tf_text.normalize_utf8(texts, "NFKC")
    x = tf_text.case_fold_utf8(x)
    x = tf.strings.regex_replace(x, "[’‘`´′]", "'")
    x = tf.strings.regex_replace(x, "[“”″]", '"')
    x = tf.strings.regex_replace(x, _SPACED_CONTRACTION, r"\1'\2")
    # Twice: RE2 matches do not overlap, so "rock'n'roll" needs a second pass.
    for _ in range(2):
        x = tf.strings.regex_replace(x, _WORD_APOSTROPHE, r"\1" + _KEEP + r"\2")
    x = tf.strings.regex_replace(x, _PUNCTUATION, r" \1 ")
    return tf.strings.regex_replace(x, _KEEP, "'")


def tokenize(texts, max_words=None):
    """Tokenises a 1-D string tensor into a RaggedTensor [batch, (tokens)] of strings.

    `max_words` keeps only the first words of each utterance (VHCR truncates at 30).
    Input must be valid UTF-8; callers decode (and reject) bytes before this point.
    """
    tokens = _WHITESPACE_TOKENIZER.tokenize(normalize(texts))
    if max_words is not None:
        tokens = tokens[:, :max_words]
    return tokens


def tokenize_batch(texts, max_words=None):
    """Python convenience around `tokenize`: list of str -> list of lists of str.

    Used by the Beam pipeline and tests; it runs the same TF ops eagerly.
    """
    if not texts:
        return []
    ragged = tokenize(tf.constant(list(texts), dtype=tf.string), max_words)
    return [[t.decode("utf-8") for t in row] for row in ragged.to_list()]
