"""The corpus-independent PTransforms of the preprocessing job.

Dialogue --AssignSplit--> Dialogue --TokenizeDialogues--> TokenizedDialogue
  --EncodeAndSlice(vocab)--> (split, serialized SequenceExample) + per-split stats.
TensorFlow is imported in DoFn.setup (on the workers), not when the job is built.
"""
import json

import apache_beam as beam
from apache_beam.metrics import Metrics

from preprocessing import splits as splits_lib
from preprocessing.constants import UNK_ID
from preprocessing.corpora.common import REJECTED, reject
from preprocessing.records import Reason, TokenizedDialogue
from preprocessing.slicing import slice_bounds

METRICS_NAMESPACE = "dialogvae"
STATS = "stats"
SLICE_HISTOGRAM_BIN = 10  # words per bin of the slice-length histogram


class AssignSplit(beam.PTransform):
    """Keeps a corpus's official split; hashes the id when there is none or on request."""

    def __init__(self, corpus, ratios=None):
        super().__init__()
        self._corpus = corpus
        self._ratios = ratios  # None: official split where known, else 10:1:1

    def expand(self, dialogues):
        corpus, ratios = self._corpus, self._ratios

        def assign(dialogue):
            if ratios is None and dialogue.split is not None:
                return dialogue
            split = splits_lib.hash_split(corpus, dialogue.id, ratios or splits_lib.DEFAULT_RATIOS)
            return dialogue._replace(split=split)

        return dialogues | "Assign" >> beam.Map(assign)


def _source_order(source):
    """'file:12' sorts before 'file:100' (line numbers as numbers)."""
    path, _, line = source.rpartition(":")
    return (path, int(line)) if line.isdigit() else (source, -1)


def _keep_first(id_and_dialogues):
    dialogues = sorted(id_and_dialogues[1], key=lambda d: _source_order(d.source))
    yield dialogues[0]
    for duplicate in dialogues[1:]:
        yield reject(duplicate.source, Reason.DUPLICATE_ID,
                     f"dialogue id {duplicate.id!r} was already read at "
                     f"{dialogues[0].source}; the first is kept", _as_record(duplicate))


class DropDuplicateIds(beam.PTransform):
    """Keeps one dialogue per id, the first in source order (the same on every runner),
    and rejects the others: an id names a dialogue in example ids, evaluation outputs
    and the hash split, so two dialogues must never share one."""

    def expand(self, dialogues):
        return (dialogues
                | "ById" >> beam.Map(lambda d: (d.id, d))
                | "GroupIds" >> beam.GroupByKey()
                | "KeepFirst" >> beam.FlatMap(_keep_first).with_outputs(REJECTED,
                                                                         main="dialogues"))


def _as_record(dialogue):
    return json.dumps({"id": dialogue.id, "turns": list(dialogue.turns)}, ensure_ascii=False)


class _TokenizeBatch(beam.DoFn):
    """Validates and tokenises a batch of dialogues with one call of the TF tokenizer."""

    def __init__(self, max_utterance_words):
        self._max_words = max_utterance_words
        self._truncated = Metrics.counter(METRICS_NAMESPACE, "utterances_truncated")

    def setup(self):
        from preprocessing import text  # imports TensorFlow, once per worker
        self._tokenize = text.tokenize_batch

    def process(self, batch):
        valid = []
        for dialogue in batch:
            problem = _turn_problem([t.strip() for t in dialogue.turns])
            if problem:
                yield reject(dialogue.source, problem[0], problem[1], _as_record(dialogue))
            else:
                valid.append(dialogue)
        tokens = iter(self._tokenize([t for d in valid for t in d.turns]))
        for dialogue in valid:
            utterances = [next(tokens) for _ in dialogue.turns]
            problem = _turn_problem(utterances)
            if problem:  # e.g. a turn of only control or zero-width characters
                yield reject(dialogue.source, problem[0], problem[1] + " after tokenisation",
                             _as_record(dialogue))
                continue
            truncated = sum(len(u) > self._max_words for u in utterances)
            self._truncated.inc(truncated)
            yield TokenizedDialogue(
                dialogue.id, dialogue.source, dialogue.split,
                tuple(tuple(u[:self._max_words]) for u in utterances), truncated)


def _turn_problem(turns):
    """(reason, detail) when a dialogue cannot be used, else None."""
    if len(turns) < 2:
        return (Reason.TOO_FEW_UTTERANCES,
                f"{len(turns)} utterance(s); a dialogue needs at least 2")
    for i, turn in enumerate(turns):
        if not turn:
            return Reason.BLANK_TURN, f"turn {i + 1} of {len(turns)} is blank"
    return None


class TokenizeDialogues(beam.PTransform):
    """Dialogue -> TokenizedDialogue, plus rejections (tagged REJECTED)."""

    def __init__(self, max_utterance_words):
        super().__init__()
        self._max_words = max_utterance_words

    def expand(self, dialogues):
        return (dialogues
                | "Batch" >> beam.BatchElements(min_batch_size=32, max_batch_size=512)
                | "Tokenize" >> beam.ParDo(_TokenizeBatch(self._max_words))
                .with_outputs(REJECTED, main="dialogues"))


class _EncodeAndSlice(beam.DoFn):
    def __init__(self, corpus, max_slice_words):
        self._corpus = corpus
        self._max_slice_words = max_slice_words
        self._vocab = None
        self._codec = None

    def setup(self):
        from preprocessing import schema  # imports TensorFlow's protos
        from preprocessing.codec import Codec  # imports TensorFlow (the tokenizer)
        self._make_example = schema.make_example
        self._make_codec = Codec

    def process(self, dialogue, vocab):
        if self._vocab is not vocab:  # the side input is the same object per worker
            self._vocab = vocab
            self._codec = self._make_codec(vocab)
        ids = [self._codec.token_ids(u) for u in dialogue.utterances]
        lengths = [len(u) for u in ids]
        bounds = slice_bounds(lengths, self._max_slice_words)
        histogram = {}
        for index, (start, end) in enumerate(bounds):
            words = sum(lengths[start:end])
            bin_end = -(-words // SLICE_HISTOGRAM_BIN) * SLICE_HISTOGRAM_BIN  # "71-80"
            key = f"{bin_end - SLICE_HISTOGRAM_BIN + 1}-{bin_end}"
            histogram[key] = histogram.get(key, 0) + 1
            yield dialogue.split, self._make_example(
                dialogue.id, self._corpus, index, start, ids[start:end])
        yield beam.pvalue.TaggedOutput(STATS, (dialogue.split, {
            "dialogues": 1,
            "utterances": len(ids),
            "tokens": sum(lengths),
            "oov_tokens": sum(i == UNK_ID for u in ids for i in u),
            "truncated_utterances": dialogue.truncated,
            "slices": len(bounds),
            "slice_words_histogram": histogram,
        }))


class EncodeAndSlice(beam.PTransform):
    """TokenizedDialogue -> (split, serialized SequenceExample) per slice, and stats."""

    def __init__(self, corpus, max_slice_words, vocab):
        super().__init__()
        self._corpus = corpus
        self._max_slice_words = max_slice_words
        self._vocab = vocab  # a single-element PCollection: the token list

    def expand(self, dialogues):
        return dialogues | "EncodeSlice" >> beam.ParDo(
            _EncodeAndSlice(self._corpus, self._max_slice_words),
            beam.pvalue.AsSingleton(self._vocab)).with_outputs(STATS, main="examples")


def add_counts(a, b):
    """Adds nested dicts of counts (the per-split stats records)."""
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, dict):
            out[key] = add_counts(out.get(key, {}), value)
        else:
            out[key] = out.get(key, 0) + value
    return out


class SumCounts(beam.CombineFn):
    def create_accumulator(self):
        return {}

    def add_input(self, accumulator, element):
        return add_counts(accumulator, element)

    def merge_accumulators(self, accumulators):
        result = {}
        for acc in accumulators:
            result = add_counts(result, acc)
        return result

    def extract_output(self, accumulator):
        return accumulator
