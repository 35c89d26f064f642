"""Cutting dialogues into slices of whole utterances (the CO paper's 80-word slices)."""


def slice_bounds(lengths, max_slice_words):
    """Returns [start, end) utterance ranges covering a dialogue.

    Each slice holds whole consecutive utterances with at most `max_slice_words` words
    and at least two utterances; consecutive slices overlap by one utterance so every
    response keeps the utterance before it as context. `max_slice_words=0` keeps the
    dialogue whole. Callers guarantee any two consecutive utterances fit in a slice
    (see `check_slice_options`), so the greedy cut always makes progress.
    """
    n = len(lengths)
    if n < 2:
        return []
    if not max_slice_words:
        return [(0, n)]
    bounds = []
    start = 0
    while True:
        end, words = start, 0
        while end < n and words + lengths[end] <= max_slice_words:
            words += lengths[end]
            end += 1
        if end - start < 2:
            raise ValueError(
                f"utterances {start} and {start + 1} ({lengths[start]} + "
                f"{lengths[start + 1]} words) do not fit in a {max_slice_words}-word slice")
        bounds.append((start, end))
        if end == n:
            return bounds
        start = end - 1


def check_slice_options(max_utterance_words, max_slice_words):
    """Raises ValueError, naming the options, when two utterances could not fit a slice."""
    if max_utterance_words < 1:
        raise ValueError(f"--max_utterance_words must be at least 1, got {max_utterance_words}")
    if max_slice_words < 0:
        raise ValueError(f"--max_slice_words must be 0 (no slicing) or positive, "
                         f"got {max_slice_words}")
    if max_slice_words and 2 * max_utterance_words > max_slice_words:
        raise ValueError(
            f"--max_slice_words ({max_slice_words}) must be at least twice "
            f"--max_utterance_words ({max_utterance_words}) so that every slice can hold "
            f"an utterance and its response")
