"""Adaptive softmax (Grave et al. 2017, "Efficient softmax approximation for GPUs").

An exact distribution over the whole vocabulary that costs a fraction of a full softmax.
The vocabulary is ordered by frequency (preprocessing writes it so), and cut into a head
(the most frequent ids, plus one "cluster" entry per tail) and tails of rarer words:

    log p(w) = log p_head(w)                                     w in the head
    log p(w) = log p_head(cluster i) + log p_tail_i(w | cluster)  w in tail i

Each tail reads the decoder state through a projection `factor` times smaller than the
one before it. Training computes the head for every position and a tail only for the
positions whose target lies in it, so the output layer's cost falls with the share of
rare words (about 10% of DailyDialog's tokens lie beyond the 2,000 most frequent ids).
Nothing is sampled: evaluation and generation see the same exact probabilities.
"""
import keras
import tensorflow as tf


class AdaptiveSoftmax(keras.layers.Layer):
    def __init__(self, vocab_size: int, cutoffs: list[int], factor: int = 4,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        cutoffs = [int(c) for c in cutoffs]
        if not cutoffs or cutoffs != sorted(set(cutoffs)) or cutoffs[0] < 4 \
                or cutoffs[-1] >= vocab_size:
            raise ValueError(f"model.softmax_cutoffs {cutoffs}: need increasing ids between "
                             f"4 and the vocabulary size {vocab_size} (exclusive)")
        self.vocab_size = vocab_size
        self.bounds = [*cutoffs, vocab_size]  # tail i covers [bounds[i], bounds[i + 1])
        self.head_size = cutoffs[0]
        self.factor = factor
        self.head = keras.layers.Dense(self.head_size + len(cutoffs), name="head",
                                       dtype="float32")
        self.tail_projections, self.tail_outputs = [], []

    def build(self, input_shape: tuple) -> None:
        units = int(input_shape[-1])
        self.head.build((None, units))
        for i in range(len(self.bounds) - 1):
            dim = max(1, units // self.factor ** (i + 1))
            projection = keras.layers.Dense(dim, use_bias=False, name=f"tail{i}_projection",
                                            dtype="float32")
            output = keras.layers.Dense(self.bounds[i + 1] - self.bounds[i],
                                        name=f"tail{i}_output", dtype="float32")
            projection.build((None, units))
            output.build((None, dim))
            self.tail_projections.append(projection)
            self.tail_outputs.append(output)

    def _tail_logits(self, i, states):
        return self.tail_outputs[i](self.tail_projections[i](states))

    def log_probs(self, states: tf.Tensor) -> tf.Tensor:
        """[N, units] -> [N, V] exact log-probabilities (for decoding and scoring)."""
        states = tf.cast(states, tf.float32)
        head = tf.nn.log_softmax(self.head(states))
        parts = [head[:, :self.head_size]]
        for i in range(len(self.tail_outputs)):
            cluster = head[:, self.head_size + i:self.head_size + i + 1]
            parts.append(cluster + tf.nn.log_softmax(self._tail_logits(i, states)))
        return tf.concat(parts, -1)

    def nll(self, states: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        """[N] -log p(labels) for [N, units] states, each tail run only where needed."""
        states = tf.cast(states, tf.float32)
        labels = tf.cast(labels, tf.int32)
        # -1 in the head, else the index of the tail holding the label.
        tail = tf.add_n([tf.cast(labels >= b, tf.int32) for b in self.bounds[:-1]]) - 1
        head_labels = tf.where(tail < 0, labels, self.head_size + tail)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=head_labels,
                                                             logits=self.head(states))
        for i in range(len(self.tail_outputs)):
            rows = tf.where(tail == i)
            tail_nll = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=tf.gather_nd(labels, rows) - self.bounds[i],
                logits=self._tail_logits(i, tf.gather_nd(states, rows)))
            nll = tf.tensor_scatter_nd_add(nll, rows, tail_nll)
        return nll

    def call(self, states: tf.Tensor) -> tf.Tensor:
        return self.log_probs(states)
