"""Greedy, sampling and beam search decoding; 3-turn context feeding."""
import itertools

import numpy as np
import pytest
import tensorflow as tf

from keras_models import build_model
from keras_models.decoding import append_utterance, response_lengths
from pipeline import configs
from preprocessing.constants import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from tests.helpers import decode_beam, decode_greedy, decode_sample

SEED = 0
EOS_BOOST = 2.0
VOCAB = 7  # <pad> <unk> <s> </s> and three words
CONTEXT = tf.constant([[[4, 5, EOS_ID], [6, EOS_ID, 0]], [[5, EOS_ID, 0], [0, 0, 0]]])


@pytest.fixture(scope="module")
def tiny():
    config = configs.make_config("hred")
    # (tanh first state: the random model these cases were worked out on)
    config.override({"model": {"embedding_dim": 4, "utterance_units": 5, "context_units": 6,
                               "decoder_units": 5, "decoder_init_activation": "tanh"}})
    model = build_model(config.model, VOCAB)
    model.build_from_batch({"utterances": tf.concat([CONTEXT, CONTEXT], 1)})
    rng = np.random.default_rng(SEED)  # sharp logits; greedy ends a context with </s>
    model.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in model.get_weights()])
    bias = model.decoder.projection.bias
    bias.assign(bias.numpy() + EOS_BOOST * (np.arange(VOCAB) == EOS_ID))
    return model


def log_prob(model, condition, sequence, max_length=31):
    """Exact log p(sequence | condition) over the decoder with banned ids excluded (and
    only </s> allowed at token max_length)."""
    from keras_models.decoding import banned_bias
    state = model.decoder.initial_state(condition)
    token, total = tf.constant([BOS_ID]), 0.0
    for step, next_id in enumerate(sequence):
        logits, state = model.decoder.step(token, state)
        total += float(tf.nn.log_softmax(logits + banned_bias(VOCAB, step, max_length))[
            0, next_id])
        token = tf.constant([next_id])
    return total


def test_beam_of_one_equals_greedy(tiny):
    """Wherever greedy reaches </s>. (Model Garden's search keeps finished hypotheses apart
    from the live beam, so one beam can still return an early </s> that greedy passed by
    when that is more probable than greedy's whole path; an unfinished greedy path loses
    to any finished one.)"""
    greedy = decode_greedy(tiny, CONTEXT, max_length=6).numpy()
    beam, _ = decode_beam(tiny, CONTEXT, beam_size=1, max_length=6, alpha=0.0)
    beam = beam[:, 0, :greedy.shape[1]].numpy()
    finished = [i for i, row in enumerate(greedy) if EOS_ID in row]
    assert finished
    np.testing.assert_array_equal(beam[finished], greedy[finished])


@pytest.mark.parametrize("row", [0, 1])
def test_wide_beam_finds_the_exhaustive_best(tiny, row):
    condition = tiny.response_condition(CONTEXT[row:row + 1])
    words, max_length = (4, 5, 6), 3
    candidates = [(*prefix, EOS_ID) for n in range(1, max_length)  # at least one word
                  for prefix in itertools.product(words, repeat=n)]
    scored = {c: log_prob(tiny, condition, c, max_length) for c in candidates}
    ranking = sorted(scored, key=scored.get, reverse=True)
    ids, scores = decode_beam(tiny, None, beam_size=len(candidates), max_length=max_length,
                              alpha=0.0, condition=condition)  # plain log-probabilities
    found = [tuple(int(i) for i in seq if i != PAD_ID) for seq, score in
             zip(ids[0].numpy(), scores[0].numpy()) if score > -1e6]
    assert found[0] == ranking[0]
    assert float(scores[0, 0]) == pytest.approx(scored[ranking[0]], abs=1e-4)
    # Every sequence it returns is scored with its true log-probability, best first.
    for seq, score in zip(found, scores[0].numpy()):
        assert score == pytest.approx(scored[seq], abs=1e-4)


def test_no_decoder_ends_before_the_first_word(tiny):
    boosted = tiny.decoder.projection.bias
    saved = boosted.numpy()
    boosted.assign(saved + 50.0 * (np.arange(VOCAB) == EOS_ID))  # </s> overwhelmingly likely
    try:
        for ids in (decode_greedy(tiny, CONTEXT), decode_sample(tiny, CONTEXT, seed=1),
                    decode_beam(tiny, CONTEXT, beam_size=3)[0][:, 0]):
            assert (ids.numpy()[:, 0] != EOS_ID).all()
            assert (ids.numpy()[:, 1] == EOS_ID).all()
    finally:
        boosted.assign(saved)


def test_no_decoder_ever_produces_banned_tokens(tiny):
    outputs = [decode_greedy(tiny, CONTEXT).numpy(),
               decode_sample(tiny, CONTEXT, temperature=5.0, seed=1).numpy(),
               decode_beam(tiny, CONTEXT, beam_size=5)]
    ids, scores = outputs[2]  # an n-best slot the search never filled scores -1e7
    outputs[2] = ids.numpy()[scores.numpy() > -1e6]
    for ids in outputs:
        for row in ids:
            real = row[:list(row).index(EOS_ID)] if EOS_ID in row else row
            assert not np.isin(real, [UNK_ID, BOS_ID, PAD_ID]).any(), row
            if EOS_ID in row:
                assert not row[list(row).index(EOS_ID) + 1:].any()


def test_sampling_temperature_spreads_the_choices(tiny):
    cold = {tuple(decode_sample(tiny, CONTEXT[:1], temperature=0.01, max_length=4)[0].numpy())
            for _ in range(5)}
    hot = {tuple(decode_sample(tiny, CONTEXT[:1], temperature=10.0, max_length=4)[0].numpy())
           for _ in range(12)}
    assert len(cold) == 1 and len(hot) > 1
    assert cold == {tuple(decode_greedy(tiny, CONTEXT[:1], max_length=4)[0].numpy())}


def test_append_utterance_places_the_response_after_each_rows_last_turn():
    response = tf.constant([[4, 4, 4, EOS_ID], [6, EOS_ID, 0, 0]])
    out = append_utterance(CONTEXT, response).numpy()
    assert out.shape == (2, 3, 4)
    assert out[0, 2].tolist() == [4, 4, 4, EOS_ID]  # row 0 had 2 turns
    assert out[1, 1].tolist() == [6, EOS_ID, 0, 0] and not out[1, 2].any()  # row 1 had 1
    assert out[0, 0].tolist() == [4, 5, EOS_ID, 0]
    assert response_lengths(response).numpy().tolist() == [4, 2]


def test_greedy_and_sample_scores_are_the_responses_log_probabilities(tiny):
    condition = tiny.response_condition(CONTEXT)
    for ids, scores in (decode_greedy(tiny, None, 6, condition, with_scores=True),
                        decode_sample(tiny, None, 2.0, 6, condition, seed=3,
                                      with_scores=True)):
        for row in range(2):
            tokens = [int(t) for t in ids[row].numpy() if t != PAD_ID]
            expected = log_prob(tiny, condition[row:row + 1], tokens, 6)
            assert float(scores[row]) == pytest.approx(expected, abs=1e-4)


def test_every_decoder_ends_with_eos_at_the_length_cap(tiny):
    boosted = tiny.decoder.projection.bias
    saved = boosted.numpy()
    boosted.assign(saved - 50.0 * (np.arange(VOCAB) == EOS_ID))  # </s> all but impossible
    try:
        for ids in (decode_greedy(tiny, CONTEXT, max_length=4),
                    decode_sample(tiny, CONTEXT, max_length=4, seed=1),
                    decode_beam(tiny, CONTEXT, beam_size=3, max_length=4)[0][:, 0]):
            ids = ids.numpy()
            assert ids.shape[1] == 4 and (ids[:, 3] == EOS_ID).all()  # 3 words, then </s>
            assert (ids[:, :3] != EOS_ID).all()
    finally:
        boosted.assign(saved)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_every_decoder_runs_a_mixed_precision_model(policy):
    """A model whose decoder state is float16/bfloat16 decodes with all three modes
    (Model Garden's decoders require a float32 cache)."""
    import keras
    keras.mixed_precision.set_global_policy(policy)
    try:
        config = configs.make_config("hred")
        config.override({"model": {"embedding_dim": 4, "utterance_units": 5,
                                   "context_units": 6, "decoder_units": 5}})
        model = build_model(config.model, VOCAB)
        model.build_from_batch({"utterances": tf.concat([CONTEXT, CONTEXT], 1)})
        assert model.decoder.compute_dtype != "float32"
        for ids in (decode_greedy(model, CONTEXT, max_length=5),
                    decode_sample(model, CONTEXT, max_length=5, seed=1),
                    decode_beam(model, CONTEXT, beam_size=2, max_length=5)[0][:, 0]):
            assert ids.shape[0] == 2 and EOS_ID in ids.numpy()[0]
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_sampling_draws_from_its_seed_and_leaves_the_global_generator_alone(tiny):
    tf.random.set_seed(5)
    expected = tf.random.uniform([3]).numpy()
    tf.random.set_seed(5)
    first = decode_sample(tiny, CONTEXT, temperature=5.0, seed=7).numpy()
    assert np.array_equal(tf.random.uniform([3]).numpy(), expected)  # nothing drawn there
    again = decode_sample(tiny, CONTEXT, temperature=5.0, seed=7).numpy()
    assert np.array_equal(first, again)
    others = {decode_sample(tiny, CONTEXT, temperature=5.0, seed=s).numpy().tobytes()
              for s in range(8)}
    assert len(others) > 1


def test_the_response_cap_is_the_runs_own_word_cap():
    """A run trained on 50-word utterances answers with up to 50 words, wherever it
    decodes: evaluation and the latent tools (TrainedRun), TensorBoard samples."""
    from keras_models.decoding import DecodeOptions, response_tokens
    from pipeline.restore import TrainedRun
    from pipeline.training.callbacks import ValidationDiagnostics
    run = TrainedRun(None, None, [], "", "", {"max_utterance_words": 50})
    assert run.decode_options(mode="beam").max_length == response_tokens(50) == 51
    samples = ValidationDiagnostics(tf.data.Dataset.range(0), [], None, 50)
    assert samples.options == DecodeOptions(51)
    with pytest.raises(ValueError, match="'nucleus' is not one of greedy, sample, beam"):
        DecodeOptions(31, "nucleus")
