"""Raw utterance text -> model input ids, with the tokenizer preprocessing uses.

The serving graph does the same in TF ops (`serving/export.py`); this is the Python-side
path for the tools that take text from a user (latent-space tools, the local chat).
"""
import numpy as np

from preprocessing.text import tokenize_batch
from preprocessing.constants import EOS_ID, UNK_ID

MAX_UTTERANCE_WORDS = 30  # the preprocessing default (VHCR)


def encode_context(utterances, vocab, max_words=MAX_UTTERANCE_WORDS):
    """A list of utterance strings -> int32 [1, T, L] ids ending in </s> (0-padded);
    words outside the vocabulary become <unk>."""
    index = {word: i for i, word in enumerate(vocab)}
    rows = [[index.get(w, UNK_ID) for w in words] + [EOS_ID]
            for words in tokenize_batch(list(utterances), max_words)]
    out = np.zeros([1, len(rows), max(map(len, rows), default=1)], np.int32)
    for t, row in enumerate(rows):
        out[0, t, :len(row)] = row
    return out
