"""Adaptive softmax: an exact distribution, a cheap NLL equal to the full one, and a
model that trains, decodes and restores with it."""
import numpy as np
import pytest
import tensorflow as tf

from keras_models.layers.adaptive_softmax import AdaptiveSoftmax


@pytest.fixture
def layer():
    layer = AdaptiveSoftmax(50, [10, 25], factor=2)
    layer.build((None, 8))
    for v in layer.trainable_variables:  # non-trivial weights everywhere, biases included
        v.assign(tf.random.stateless_normal(v.shape, seed=[1, len(v.name)]))
    return layer


def test_log_probs_are_an_exact_distribution(layer):
    states = tf.random.stateless_normal([6, 8], seed=[2, 3])
    log_probs = layer.log_probs(states)
    assert log_probs.shape == (6, 50)
    np.testing.assert_allclose(tf.reduce_sum(tf.exp(log_probs), -1), 1.0, rtol=1e-5)
    # The head's ids, one from each tail: log p = log p(cluster) + log p(word | cluster).
    head = tf.nn.log_softmax(layer.head(states))
    tail1 = tf.nn.log_softmax(layer.tail_outputs[1](layer.tail_projections[1](states)))
    np.testing.assert_allclose(log_probs[:, 3], head[:, 3], rtol=1e-5)
    np.testing.assert_allclose(log_probs[:, 30], head[:, 11] + tail1[:, 5], rtol=1e-5)


def test_nll_equals_the_full_log_probs_and_has_their_gradient(layer):
    states = tf.random.stateless_normal([40, 8], seed=[4, 5])
    labels = tf.constant(np.random.default_rng(0).integers(0, 50, 40), tf.int32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(states)
        cheap = layer.nll(states, labels)
        full = -tf.gather(layer.log_probs(states), labels, batch_dims=1)
        cheap_sum, full_sum = tf.reduce_sum(cheap), tf.reduce_sum(full)
    np.testing.assert_allclose(cheap, full, rtol=1e-5, atol=1e-5)
    for a, b in zip(tape.gradient(cheap_sum, [states, *layer.trainable_variables]),
                    tape.gradient(full_sum, [states, *layer.trainable_variables])):
        np.testing.assert_allclose(tf.convert_to_tensor(a), tf.convert_to_tensor(b),
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cutoffs", [[], [3], [10, 60], [30, 20]])
def test_bad_cutoffs_are_refused(cutoffs):
    with pytest.raises(ValueError, match="softmax_cutoffs"):
        AdaptiveSoftmax(50, cutoffs)


@pytest.mark.slow  # trains a tiny model
def test_a_model_with_adaptive_softmax_trains_and_scores_exactly():
    from tests.helpers import decode_greedy, tiny_model
    batch = {"utterances": tf.constant(
        [[[4, 20, 45, 3], [5, 33, 3, 0], [59, 3, 0, 0]]] * 4, tf.int32)}
    model = tiny_model("vhred", batch, 60, 0.01, softmax_cutoffs=[12, 30])
    first = float(model.train_step(batch)["nll"])
    for _ in range(20):
        last = float(model.train_step(batch)["nll"])
    assert last < first
    # The training NLL and the exact log-probabilities agree.
    decoder = model.decoder
    states = tf.random.stateless_normal([5, decoder.units], seed=[6, 7])
    labels = tf.constant([3, 11, 12, 31, 59])
    np.testing.assert_allclose(decoder.token_nll(states, labels), -tf.gather(
        tf.nn.log_softmax(decoder.logits(states)), labels, batch_dims=1), rtol=1e-5)
    ids = decode_greedy(model, batch["utterances"][:, :2])
    assert ids.shape[0] == 4 and int(tf.reduce_max(ids)) < 60
