"""Step-dependent values: KL annealing, the scheduled-sampling keep-rate, and the
learning-rate schedule."""
import math
from collections.abc import Callable

import keras
import tensorflow as tf


def kl_weight(step: tf.Tensor, annealing_steps: int) -> tf.Tensor:
    """Linear KL annealing 0 -> 1 over `annealing_steps` (1 throughout when 0)."""
    if not annealing_steps:
        return tf.constant(1.0)
    return tf.minimum(1.0, tf.cast(step, tf.float32) / float(annealing_steps))


def keep_rate(step: tf.Tensor, k: int) -> tf.Tensor:
    """Scheduled sampling keep-rate p = max(1 - i/k, 0) (CO paper)."""
    return tf.maximum(1.0 - tf.cast(step, tf.float32) / float(k), 0.0)


@keras.saving.register_keras_serializable(package="dialogvae")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to `peak` over `warmup_steps`, then `decay`: "constant",
    "cosine" (to `final_ratio` * peak at `total_steps`) or "inverse_sqrt" (peak *
    sqrt(warmup / step), Vaswani et al.)."""

    def __init__(self, peak: float, warmup_steps: int = 0, total_steps: int = 0,
                 decay: str = "constant", final_ratio: float = 0.1) -> None:
        """The values as `pipeline.configs.validate` accepts them (train.learning_rate,
        warmup_steps, lr_decay, lr_final_ratio); only the rule that needs the planned run
        is checked here."""
        if decay == "cosine" and total_steps <= warmup_steps:
            raise ValueError(f"train.lr_decay cosine needs more planned steps "
                             f"({total_steps}) than train.warmup_steps ({warmup_steps})")
        self.peak, self.warmup_steps, self.total_steps = peak, warmup_steps, total_steps
        self.decay, self.final_ratio = decay, final_ratio

    def __call__(self, step: tf.Tensor) -> tf.Tensor:
        step = tf.cast(step, tf.float32)
        warmup = float(max(self.warmup_steps, 1))
        rate = self.peak * tf.minimum(1.0, (step + 1.0) / warmup)
        if self.decay == "cosine":
            progress = tf.clip_by_value((step - self.warmup_steps)
                                        / float(self.total_steps - self.warmup_steps), 0., 1.)
            cosine = 0.5 * (1.0 + tf.cos(math.pi * progress))
            rate *= self.final_ratio + (1.0 - self.final_ratio) * cosine
        elif self.decay == "inverse_sqrt":
            rate *= tf.minimum(1.0, tf.sqrt(warmup / tf.maximum(step + 1.0, 1.0)))
        return rate

    def get_config(self) -> dict:
        return {"peak": self.peak, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps, "decay": self.decay,
                "final_ratio": self.final_ratio}


class OnStep(keras.optimizers.schedules.LearningRateSchedule):
    """`schedule` read at `step()` instead of the optimizer's own update count: a model
    with two optimizers that take turns (CO) runs both on the one global step, so its
    learning rate at step t is every other model's at step t."""

    def __init__(self, schedule: keras.optimizers.schedules.LearningRateSchedule,
                 step: Callable[[], tf.Tensor]) -> None:
        self.schedule, self.step = schedule, step

    def __call__(self, _: tf.Tensor) -> tf.Tensor:
        return self.schedule(self.step())

    def get_config(self) -> dict:
        return self.schedule.get_config()
