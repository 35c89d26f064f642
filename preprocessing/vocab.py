"""Vocabulary: the Beam transform that builds it (special tokens and vocab.txt reading
live in the Beam-free `preprocessing.constants`)."""
import collections

import apache_beam as beam

from preprocessing.constants import SPECIAL_TOKENS


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

