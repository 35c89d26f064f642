"""Deterministic train/validation/test assignment by a hash of the dialogue id.

A hash (not a random draw) means reruns, and runs on other runners or with other
worker counts, put every dialogue in the same split.
"""
import hashlib

from preprocessing.records import SPLITS

DEFAULT_RATIOS = (10, 1, 1)  # the CO paper's 10:1:1 when a corpus has no official split


def parse_ratios(text):
    """'10:1:1' -> (10.0, 1.0, 1.0); raises ValueError naming the option otherwise."""
    parts = text.split(":")
    try:
        ratios = tuple(float(p) for p in parts)
    except ValueError:
        ratios = ()
    if len(ratios) != 3 or any(not r > 0 for r in ratios):
        raise ValueError(
            f"--split must be three positive numbers train:validation:test such as 10:1:1 "
            f"(training selects on validation and reports on test, so neither may be "
            f"empty), got {text!r}")
    return ratios


def hash_split(corpus, dialogue_id, ratios=DEFAULT_RATIOS):
    """Maps a dialogue id to a split name with probabilities proportional to `ratios`."""
    digest = hashlib.sha256(f"{corpus}\x00{dialogue_id}".encode("utf-8")).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2.0**64
    threshold = 0.0
    total = float(sum(ratios))
    for name, ratio in zip(SPLITS, ratios):
        threshold += ratio / total
        if fraction < threshold:
            return name
    return SPLITS[-1]
