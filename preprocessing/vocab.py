"""Vocabulary: special tokens, the Beam transform that builds it, and vocab.txt I/O."""
import collections

import apache_beam as beam

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIAL_TOKENS = (PAD, UNK, BOS, EOS)  # ids 0..3; <pad> must be 0 for masking
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)
VOCAB_FILE = "vocab.txt"


def rank_tokens(counts, vocab_size, min_count=1):
    """The `vocab_size` most frequent tokens; ties broken by the token itself.

    `counts` is an iterable of (token, count). Plain-Python reference of what
    `BuildVocabulary` computes with Beam.
    """
    kept = [(t, c) for t, c in counts if c >= min_count]
    kept.sort(key=_rank_key)
    return [t for t, _ in kept[:vocab_size]]


def _rank_key(token_count):
    token, count = token_count
    return (-count, token)


def _count_batch(dialogues):
    counts = collections.Counter()
    for dialogue in dialogues:
        for utterance in dialogue.utterances:
            counts.update(utterance)
    return counts.items()


class BuildVocabulary(beam.PTransform):
    """TokenizedDialogues -> a single list: the special tokens, then the kept tokens.

    Counting per batch first keeps the shuffle to (token, count) pairs instead of one
    element per token occurrence.
    """

    def __init__(self, vocab_size, min_count=1):
        super().__init__()
        self._vocab_size = vocab_size
        self._min_count = min_count

    def expand(self, dialogues):
        min_count = self._min_count
        return (
            dialogues
            | "Batch" >> beam.BatchElements(min_batch_size=256, max_batch_size=4096)
            | "CountBatch" >> beam.FlatMap(_count_batch)
            | "SumCounts" >> beam.CombinePerKey(sum)
            | "MinCount" >> beam.Filter(lambda kv: kv[1] >= min_count)
            # The n smallest by (-count, token): most frequent first, ties by token.
            | "Top" >> beam.combiners.Top.Of(self._vocab_size, key=_rank_key, reverse=True)
            | "AddSpecials" >> beam.Map(
                lambda top: list(SPECIAL_TOKENS) + [t for t, _ in top]))


def load_vocab(path):
    """Reads vocab.txt into a list of tokens (line number = id)."""
    with open(path, encoding="utf-8") as f:
        tokens = [line.rstrip("\n") for line in f]
    if tuple(tokens[:len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
        raise ValueError(f"{path}: the first lines must be {SPECIAL_TOKENS}, "
                         f"got {tokens[:len(SPECIAL_TOKENS)]}")
    return tokens
