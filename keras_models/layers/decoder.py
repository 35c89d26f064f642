"""The utterance decoder: a GRU started from the conditioning vector, teacher-forced.

The 512 x vocabulary output projection dominates training FLOPs, so it is applied only
to the real (non-pad) target positions, gathered into one large matmul, followed by the
fused sparse softmax cross-entropy in float32. With `softmax_cutoffs` the output layer is
an adaptive softmax instead (an exact distribution at a fraction of the cost; see
`adaptive_softmax.py`), and `logits` are its log-probabilities.

Conditioning: the GRU always starts from W [condition] + b (`init_activation` linear;
tanh as the VHCR authors' code);
with `condition_every_step` the condition is also concatenated to the input of every
step (Serban et al.'s VHRED), which the decoder cannot learn to ignore as easily. The
decoding state then carries the condition beside the GRU state ([h, condition]), so
greedy, sampling and beam search, which only pass the state along, need no change.
"""
from collections.abc import Sequence

import keras
import tensorflow as tf

from keras_models.layers.adaptive_softmax import AdaptiveSoftmax
from keras_models.layers.gru import GRU
from keras_models.layers.length_groups import gather_rows, length_groups


class UtteranceDecoder(keras.layers.Layer):
    def __init__(self, embedding: keras.layers.Embedding, units: int, vocab_size: int,
                 length_groups: int = 2, softmax_cutoffs: Sequence[int] = (),
                 condition_every_step: bool = False, init_activation: str = "linear",
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.embedding = embedding
        self.units = units
        self.condition_every_step = condition_every_step
        self.length_groups = length_groups
        self.init_state = keras.layers.Dense(units, activation=init_activation,
                                             name="init_state")
        self.gru = GRU(units, return_sequences=True, return_state=True,
                                    name="gru")
        if softmax_cutoffs:
            self.adaptive_softmax = AdaptiveSoftmax(vocab_size, softmax_cutoffs,
                                                    name="adaptive_softmax")
        else:
            self.adaptive_softmax = None
            self.projection = keras.layers.Dense(vocab_size, name="projection",
                                                 dtype="float32")

    def build(self, condition_shape: tuple) -> None:
        self.init_state.build(condition_shape)
        extra = int(condition_shape[-1]) if self.condition_every_step else 0
        self.gru.build((None, None, self.embedding.output_dim + extra))
        (self.adaptive_softmax or self.projection).build((None, self.units))

    def initial_state(self, condition: tf.Tensor) -> tf.Tensor:
        """The decoding state: [N, units], or [N, units + D] = [h, condition]."""
        state = self.init_state(condition)
        if self.condition_every_step:
            state = tf.concat([state, tf.cast(condition, state.dtype)], -1)
        return state

    def _inputs(self, embedded, state):
        """(GRU inputs, GRU state): the condition, if carried, joins every step's input."""
        if not self.condition_every_step:
            return embedded, state
        h, condition = state[..., :self.units], state[..., self.units:]
        condition = tf.cast(condition, embedded.dtype)
        if len(embedded.shape) == 3:
            condition = tf.tile(condition[:, None, :], [1, tf.shape(embedded)[1], 1])
        return tf.concat([embedded, condition], -1), h

    def _state(self, h, state):
        return tf.concat([h, state[..., self.units:]], -1) if self.condition_every_step else h

    def run(self, inputs: tf.Tensor, state: tf.Tensor, mask: tf.Tensor | None = None
            ) -> tuple[tf.Tensor, tf.Tensor]:
        """[N, L] input ids + decoding state -> ([N, L, units] outputs, final state)."""
        x, h = self._inputs(self.embedding(inputs), state)
        outputs, final = self.gru(x, initial_state=[h], mask=mask)
        return outputs, self._state(final, state)

    def logits(self, states: tf.Tensor) -> tf.Tensor:
        """[N, units] -> [N, V] logits (log-probabilities with the adaptive softmax)."""
        if self.adaptive_softmax is not None:
            return self.adaptive_softmax.log_probs(states)
        return self.projection(states)

    def token_nll(self, states: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
        """[N] NLL of `labels` at [N, units] states (real positions only)."""
        if self.adaptive_softmax is not None:
            return self.adaptive_softmax.nll(states, labels)
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels,
                                                             logits=self.logits(states))

    def nll_per_row(self, condition: tf.Tensor, inputs: tf.Tensor, targets: tf.Tensor
                    ) -> tf.Tensor:
        """[N] summed NLL of each row of `targets` (0 = pad), for scoring and importance
        weights; like `call`, the projection runs over the real positions only."""
        outputs, _ = self.run(inputs, self.initial_state(condition), mask=targets != 0)
        positions = tf.where(targets != 0)
        nll = self.token_nll(tf.gather_nd(outputs, positions),
                             tf.gather_nd(targets, positions))
        return tf.math.unsorted_segment_sum(nll, positions[:, 0], tf.shape(targets)[0])

    def step(self, token_ids: tf.Tensor, state: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """One generation step with the GRU cell: ([N] ids, [N, units]) -> ([N, V] float32
        logits, new state). The same weights as `run`, without the sequence loop."""
        x, h = self._inputs(self.embedding(token_ids), state)
        output, new_state = self.gru.cell(x, [h])
        return self.logits(output), self._state(new_state[0], state)

    def call(self, condition: tf.Tensor, inputs: tf.Tensor, targets: tf.Tensor
             ) -> tuple[tf.Tensor, tf.Tensor]:
        """Summed NLL of `targets` ([N, L], 0 = pad) and the number of target tokens.

        Responses are decoded in length groups (see `length_groups`); the real positions
        of all groups then share one projection and softmax.
        """
        state = self.initial_state(condition)
        lengths = tf.reduce_sum(tf.cast(targets != 0, tf.int32), 1)
        states, labels = [], []
        for rows, longest in length_groups(lengths, self.length_groups):
            group_targets = gather_rows(targets, rows, longest)
            outputs, _ = self.run(gather_rows(inputs, rows, longest), tf.gather(state, rows),
                                  mask=group_targets != 0)
            positions = tf.where(group_targets != 0)
            states.append(tf.gather_nd(outputs, positions))
            labels.append(tf.gather_nd(group_targets, positions))
        labels = tf.concat(labels, 0)
        nll = self.token_nll(tf.concat(states, 0), labels)
        return tf.reduce_sum(nll), tf.cast(tf.shape(labels)[0], tf.float32)
