"""Step-dependent weights: KL annealing and the scheduled-sampling keep-rate."""
import tensorflow as tf


def kl_weight(step, annealing_steps):
    """Linear KL annealing 0 -> 1 over `annealing_steps` (1 throughout when 0)."""
    if not annealing_steps:
        return tf.constant(1.0)
    return tf.minimum(1.0, tf.cast(step, tf.float32) / float(annealing_steps))


def keep_rate(step, k):
    """Scheduled sampling keep-rate p = max(1 - i/k, 0) (CO paper)."""
    return tf.maximum(1.0 - tf.cast(step, tf.float32) / float(k), 0.0)
