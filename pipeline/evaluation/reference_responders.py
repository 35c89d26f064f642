"""Reference responders: the points every model's response metrics are read against.

A response metric means little alone (a constant "i don't know ." scored as well as a
model on GloVe Average), so evaluation scores three responders that need no model on the
very contexts the model answered:

- constant: the most frequent response of the training split, whatever the context;
- random gold: the gold reply of another, randomly chosen test context (a fluent human
  reply that ignores the context);
- retrieval: the training response whose prompt (the utterance it answers) is the most
  TF-IDF-cosine-similar to the test context's last utterance.

For n-turn evaluation each responder answers n turns as a model does: the constant one
repeats itself, random gold takes all n gold turns of the other context, and retrieval
feeds its own reply back as the next prompt. A model that has learnt nothing lands at or
below the constant responder; one that uses the context should approach retrieval.
"""
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

RESPONDERS = ("constant", "random_gold", "retrieval")


class ReferenceResponders:
    """Built from training (prompt, response) pairs of space-joined token strings."""

    def __init__(self, train_pairs: Sequence[tuple[str, str]], seed: int = 1) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not train_pairs:
            raise ValueError("reference responders need at least one training pair")
        prompts, self.responses = zip(*train_pairs)
        counts = Counter(self.responses)
        # Most frequent first, ties broken by the text so the choice is reproducible.
        self.constant = min(counts, key=lambda r: (-counts[r], r))
        self.constant_count = counts[self.constant]
        self.vectorizer = TfidfVectorizer(token_pattern=r"\S+", lowercase=False,
                                          sublinear_tf=True)
        self.index = self.vectorizer.fit_transform(prompts)
        self.seed = seed

    def retrieve(self, prompts: Sequence[str], chunk: int = 512) -> list[str]:
        """The training response whose prompt is most similar to each of `prompts`."""
        out = []
        for start in range(0, len(prompts), chunk):
            query = self.vectorizer.transform(prompts[start:start + chunk])
            best = np.asarray((query @ self.index.T).argmax(axis=1)).ravel()
            out += [self.responses[i] for i in best]
        return out

    def respond(self, examples: Sequence[dict]) -> dict[str, list[list[str]]]:
        """{responder: [[response per turn] per example]} for evaluation examples
        ({"context": "u1 __eou__ u2", "gold": [turn texts]}), turns = len(gold)."""
        if not examples:
            return {name: [] for name in RESPONDERS}
        turns = len(examples[0]["gold"])
        replies = {"constant": [[self.constant] * turns for _ in examples],
                   "random_gold": [list(examples[j]["gold"])
                                   for j in derangement(len(examples), self.seed)]}
        prompts = [ex["context"].split(" __eou__ ")[-1] for ex in examples]
        conversations = [[] for _ in examples]
        for _ in range(turns):
            prompts = self.retrieve(prompts)
            for conversation, reply in zip(conversations, prompts):
                conversation.append(reply)
        replies["retrieval"] = conversations
        return replies


def derangement(n: int, seed: int = 1) -> np.ndarray:
    """A seeded permutation of range(n) with no fixed point (identity when n < 2)."""
    if n < 2:
        return list(range(n))
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    # Shifting along a random cycle: element order[i] takes order[i + 1]'s gold.
    out = np.empty(n, dtype=int)
    out[order] = np.roll(order, -1)
    return out.tolist()


def training_pairs(utterance_rows: Iterable[Sequence[str]]) -> list[tuple[str, str]]:
    """(prompt, response) pairs from dialogues or slices given as lists of utterance
    strings: every utterance after the first answers the one before it."""
    return [(row[t - 1], row[t]) for row in utterance_rows for t in range(1, len(row))]
