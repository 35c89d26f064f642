"""Decoder conditioning at every step (Serban et al.'s VHRED) beside the initial state."""
import numpy as np
import pytest
import tensorflow as tf

from pipeline import configs
from pipeline.training import factory
from tests.helpers import TINY_MODEL, decode_beam, decode_greedy, decode_sample

BATCH = {"utterances": tf.constant([[[4, 20, 45, 3], [5, 33, 3, 0], [59, 3, 0, 0]]] * 4)}


def tiny(preset, **model):
    config = configs.make_config(preset)
    config.override({"model": {**TINY_MODEL, **model}, "train": {"learning_rate": 0.01}})
    return factory.compile_model(config, 60, BATCH)


@pytest.mark.slow  # trains each model a few steps
@pytest.mark.parametrize("preset", ["hred", "vhcr_ud", "co_ss"])
def test_every_step_conditioning_reaches_each_step_and_decodes(preset):
    model = tiny(preset, decoder_conditioning="every_step")
    decoder = model.decoder
    condition = tf.random.stateless_normal([2, decoder.init_state.kernel.shape[0]], [1, 2])
    # With the initial state blind to the condition, only the per-step input carries it.
    decoder.init_state.kernel.assign(tf.zeros_like(decoder.init_state.kernel))
    inputs = tf.constant([[2, 7, 8], [2, 7, 8]])
    outputs, _ = decoder.run(inputs, decoder.initial_state(condition))
    assert not np.allclose(outputs[0], outputs[1])
    blind = tiny(preset)  # initial_state only: the same zeroed map makes rows identical
    blind.decoder.init_state.kernel.assign(tf.zeros_like(blind.decoder.init_state.kernel))
    outputs, _ = blind.decoder.run(inputs, blind.decoder.initial_state(condition))
    np.testing.assert_allclose(outputs[0], outputs[1])
    # The step-by-step path (generation) equals the sequence path (training).
    state = decoder.initial_state(condition)
    for t in range(3):
        logits, state = decoder.step(inputs[:, t], state)
    sequence, _ = decoder.run(inputs, decoder.initial_state(condition))
    np.testing.assert_allclose(logits, decoder.logits(sequence[:, -1]), rtol=1e-4, atol=1e-5)
    first = float(model.train_step(BATCH)["loss"])
    for _ in range(15):
        last = float(model.train_step(BATCH)["loss"])
    assert last < first
    context = BATCH["utterances"][:, :2]
    assert decode_greedy(model, context).shape[0] == 4
    assert decode_sample(model, context).shape[0] == 4
    assert decode_beam(model, context, beam_size=3)[0].shape[:2] == (4, 3)


def test_unknown_conditioning_is_refused():
    with pytest.raises(configs.ConfigError,
                       match="model.decoder_conditioning='sideways' must be one of"):
        tiny("hred", decoder_conditioning="sideways")
