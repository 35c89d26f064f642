"""Loss terms computed per replica but normalised globally.

Keras sums gradients over replicas, so each replica's loss is its *share* of the global
per-word loss: sums over its own examples divided by the global token count. Free bits
compare the *global* batch-mean KL with the floor, so 2 replicas give the same update
as 1 device on the same global batch.
"""
import tensorflow as tf


def global_sum(value: tf.Tensor) -> tf.Tensor:
    """Sum over replicas (identity outside a tf.distribute replica context)."""
    return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, value)


def floored_kl(kl_sums: tf.Tensor, count: tf.Tensor, per_dim_floor: float = 0.0,
               total_floor: float = 0.0) -> tf.Tensor:
    """This replica's share of the KL term after free bits.

    kl_sums: [D] KL per dimension summed over this replica's `count` samples.
    per_dim_floor (FB): each dimension's batch-mean KL floored at lambda.
    total_floor (FB-all): the batch-mean total KL floored at lambda.
    Below a floor the term is a constant (no gradient), as in Kingma et al. 2016.
    """
    if not per_dim_floor and not total_floor:
        return tf.reduce_sum(kl_sums)
    global_count = tf.maximum(global_sum(count), 1.0)
    if per_dim_floor:
        mean = global_sum(kl_sums) / global_count
        kl_sums = tf.where(mean > per_dim_floor, kl_sums,
                           tf.stop_gradient(tf.fill(tf.shape(kl_sums), per_dim_floor) * count))
    total = tf.reduce_sum(kl_sums)
    if total_floor:
        mean_total = global_sum(total) / global_count
        total = tf.where(mean_total > total_floor, total, tf.stop_gradient(total_floor * count))
    return total
