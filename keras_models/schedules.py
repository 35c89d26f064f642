"""Step-dependent values: KL annealing, the scheduled-sampling keep-rate, and the
learning-rate schedule."""
import math

import keras
import tensorflow as tf


def kl_weight(step, annealing_steps):
    """Linear KL annealing 0 -> 1 over `annealing_steps` (1 throughout when 0)."""
    if not annealing_steps:
        return tf.constant(1.0)
    return tf.minimum(1.0, tf.cast(step, tf.float32) / float(annealing_steps))


def keep_rate(step, k):
    """Scheduled sampling keep-rate p = max(1 - i/k, 0) (CO paper)."""
    return tf.maximum(1.0 - tf.cast(step, tf.float32) / float(k), 0.0)


@keras.saving.register_keras_serializable(package="dialogvae")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to `peak` over `warmup_steps`, then `decay`: "constant",
    "cosine" (to `final_ratio` * peak at `total_steps`) or "inverse_sqrt" (peak *
    sqrt(warmup / step), Vaswani et al.)."""

    DECAYS = ("constant", "cosine", "inverse_sqrt")

    def __init__(self, peak, warmup_steps=0, total_steps=0, decay="constant",
                 final_ratio=0.1):
        if peak <= 0:
            raise ValueError(f"train.learning_rate must be > 0, got {peak}")
        if decay not in self.DECAYS:
            raise ValueError(f"train.lr_decay {decay!r} is not one of {self.DECAYS}")
        if decay == "cosine" and total_steps <= warmup_steps:
            raise ValueError(f"train.lr_decay cosine needs more planned steps "
                             f"({total_steps}) than train.warmup_steps ({warmup_steps})")
        if not 0 < final_ratio <= 1:
            raise ValueError(f"train.lr_final_ratio must be in (0, 1], got {final_ratio}")
        self.peak, self.warmup_steps, self.total_steps = peak, warmup_steps, total_steps
        self.decay, self.final_ratio = decay, final_ratio

    def __call__(self, step):
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

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps, "decay": self.decay,
                "final_ratio": self.final_ratio}


class OnStep(keras.optimizers.schedules.LearningRateSchedule):
    """`schedule` read at `step()` instead of the optimizer's own update count: a model
    with two optimizers that take turns (CO) runs both on the one global step, so its
    learning rate at step t is every other model's at step t."""

    def __init__(self, schedule, step):
        self.schedule, self.step = schedule, step

    def __call__(self, _):
        return self.schedule(self.step())

    def get_config(self):
        return self.schedule.get_config()
