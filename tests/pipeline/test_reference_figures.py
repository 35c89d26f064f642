"""Embedding metrics and reference responders on real DailyDialog pairs (no model).

Prints the figures BUILD.md quotes: gold against itself, and the three reference
responders (constant, random gold, retrieval) on the official test split, answered from
the official training split, scored with the default GloVe vectors.
"""
import os

import pytest

from pipeline.evaluate import response_metrics
from pipeline.evaluation import metrics
from pipeline.evaluation.reference_responders import RESPONDERS, ReferenceResponders, training_pairs
from preprocessing.text import tokenize_batch
from tests.helpers import corpus_path

pytestmark = pytest.mark.corpus


def dialogues(root, split, limit=None):
    with open(os.path.join(root, split, f"dialogues_{split}.txt"), encoding="utf-8") as f:
        lines = [line for _, line in zip(range(limit or 10**9), f)]
    turns = [[t for t in line.split("__eou__") if t.strip()] for line in lines]
    flat = tokenize_batch([t for dialogue in turns for t in dialogue], 30)
    out, i = [], 0
    for dialogue in turns:
        out.append([" ".join(tokens) for tokens in flat[i:i + len(dialogue)]])
        i += len(dialogue)
    return out


def test_reference_responders_on_dailydialog_test_pairs():
    root = corpus_path("dailydialog")
    responders = ReferenceResponders(training_pairs(dialogues(root, "train")))
    examples = [{"id": str(k), "context": prompt, "gold": [reply]}
                for k, (prompt, reply) in enumerate(training_pairs(dialogues(root, "test",
                                                                             300)))]
    vectors = metrics.load_word_vectors()
    itself = response_metrics([dict(ex, response=ex["gold"]) for ex in examples], vectors)
    for name in ("average", "greedy", "extrema"):
        assert itself[name] == pytest.approx(1.0, abs=1e-5)
    replies = responders.respond(examples)
    print(f"\n{len(examples)} DailyDialog test pairs, GloVe 6B 50-d, words only; constant "
          f"reply {responders.constant!r}")
    print("| responder | Average | Greedy | Extrema | BLEU | exact match |")
    for name in RESPONDERS:
        m = response_metrics([dict(ex, response=r) for ex, r in zip(examples, replies[name])],
                             vectors)
        assert m["pairs_scored"] > 0.9 * len(examples)
        assert all(0 < m[k] < 1 for k in ("average", "greedy", "extrema"))
        print(f"| {name} | {m['average']:.3f} | {m['greedy']:.3f} | {m['extrema']:.3f} | "
              f"{m['bleu']:.2f} | {m['exact_match']:.3f} |")
    assert replies["constant"][0] == [responders.constant]
