"""Names for the structures the models pass around, used in their signatures."""
from collections.abc import Callable

import keras
import tensorflow as tf

Batch = dict[str, tf.Tensor]  # {"utterances": int32 [B, T, L]}
Terms = dict[str, tf.Tensor]  # named per-replica sums and counts of one step
Moments = tuple[tf.Tensor, tf.Tensor]  # (mean, variance) of a diagonal Gaussian
# VHCR's conversation latent: (z_conv [B, Dc], KL per dimension [B, Dc], its posterior).
ConversationLatent = tuple[tf.Tensor, tf.Tensor, Moments]
# Makes one optimizer; `step` (a callable) is the step its schedule runs on, None its own.
OptimizerFactory = Callable[..., keras.optimizers.Optimizer]
