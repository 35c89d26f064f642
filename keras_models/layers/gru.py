"""keras.layers.GRU with a faster CPU loop, same weights and config.

On a GPU the parent picks cuDNN (default activations, reset_after=True). Without one,
Keras's cell multiplies each time step's input by the kernel inside the loop; here the
input projection of every time step is one large matmul before the loop, and the loop
only does the recurrent matmul. Checkpoints move freely between the two paths.
"""
import keras
import tensorflow as tf
from keras import ops
from keras.src import backend


def _has_gpu() -> bool:
    return bool(tf.config.list_logical_devices("GPU"))


@keras.saving.register_keras_serializable(package="dialogvae")
class GRU(keras.layers.GRU):
    def inner_loop(self, sequences: tf.Tensor, initial_state: tf.Tensor | list,
                   mask: tf.Tensor | list | None, training: bool = False) -> tuple:
        cell = self.cell
        if (_has_gpu() or not cell.reset_after or cell.dropout or cell.recurrent_dropout
                or not cell.use_bias):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        if isinstance(initial_state, (list, tuple)):
            initial_state = initial_state[0]
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        input_bias, recurrent_bias = cell.bias[0], cell.bias[1]
        projected = ops.matmul(sequences, cell.kernel) + input_bias  # [B, T, 3H] at once
        recurrent_kernel = cell.recurrent_kernel
        activation, recurrent_activation = cell.activation, cell.recurrent_activation

        def step(x_t, states):
            h_tm1 = states[0]
            inner = ops.matmul(h_tm1, recurrent_kernel) + recurrent_bias
            x_z, x_r, x_h = ops.split(x_t, 3, axis=-1)
            r_z, r_r, r_h = ops.split(inner, 3, axis=-1)
            z = recurrent_activation(x_z + r_z)
            r = recurrent_activation(x_r + r_r)
            h = z * h_tm1 + (1 - z) * activation(x_h + r * r_h)
            return h, [h]

        return backend.rnn(step, projected, [initial_state], go_backwards=self.go_backwards,
                           mask=mask, unroll=self.unroll, input_length=sequences.shape[1],
                           zero_output_for_mask=self.zero_output_for_mask,
                           return_all_outputs=self.return_sequences)
