"""FusedAdam makes exactly Keras Adam's updates (tests/scripts/mirrored_step.py covers it under
MirroredStrategy)."""
import keras
import numpy as np
import tensorflow as tf

from keras_models.optimizers import FusedAdam

SHAPES = [(7, 3), (5,), (4, 6)]


def _run(optimizer_cls, strategy, steps=4):
    rng = np.random.default_rng(0)
    start = [rng.normal(size=s).astype("float32") for s in SHAPES]
    grads = [[rng.normal(size=s).astype("float32") for s in SHAPES] for _ in range(steps)]
    with strategy.scope():
        variables = [keras.Variable(v) for v in start]
        optimizer = optimizer_cls(0.05, clipnorm=1.0)
        optimizer.build(variables)

    @tf.function
    def apply(step_grads):
        def replica_fn(g):
            optimizer.apply([x / strategy.num_replicas_in_sync for x in g], variables)
        strategy.run(replica_fn, args=(step_grads,))

    for step_grads in grads:
        apply([tf.constant(g) for g in step_grads])
    slots = [keras.ops.convert_to_numpy(v) for v in optimizer.variables[1:]]
    return [keras.ops.convert_to_numpy(v) for v in variables], slots


def test_fused_adam_equals_keras_adam():
    strategy = tf.distribute.get_strategy()
    expected, expected_slots = _run(keras.optimizers.Adam, strategy)
    actual, actual_slots = _run(FusedAdam, strategy)
    for a, b in zip(actual + actual_slots, expected + expected_slots):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(actual[0], expected[0] * 0)  # variables moved

