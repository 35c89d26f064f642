"""Run a recurrent layer over rows grouped by length, so short rows skip padded steps.

A masked GRU still spends a step on every padded position up to the longest row. Sorting
the rows by length and running each group only up to its own longest row removes most
of that padding. Results do not depend on the grouping, only the cost does.
"""
from collections.abc import Iterator

import tensorflow as tf


def length_groups(lengths: tf.Tensor, groups: int) -> Iterator[tuple[tf.Tensor, tf.Tensor]]:
    """Yields (row indices, their longest length >= 1) for `groups` length-sorted groups.

    The groups hold equal numbers of rows (the last may be larger); one may be empty when
    there are fewer rows than groups.
    """
    order = tf.argsort(lengths, stable=True)
    n = tf.shape(order)[0]
    for g in range(groups):
        rows = order[n * g // groups:n * (g + 1) // groups]
        longest = tf.reduce_max(tf.concat([tf.gather(lengths, rows), [1]], 0))
        yield rows, longest


def gather_rows(tokens: tf.Tensor, rows: tf.Tensor, longest: tf.Tensor) -> tf.Tensor:
    """The `rows` of [N, L] `tokens`, cut to their `longest` length."""
    return tf.gather(tokens, rows)[:, :longest]
