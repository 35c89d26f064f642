"""Response generation: greedy, sampling with temperature, and beam search.

All three run the decoder's GRU cell one token at a time from the conditioning vector a
model gives for a context (`model.response_condition`), never produce <pad>, <unk> or
<s>, never end before the first word (an empty response is never an answer, and beam
search would otherwise favour it: one </s> is more probable than any sentence), end with
</s> at the latest at token `max_length` (so a response has at most max_length - 1
words, as the training data's utterances have at most the word cap), and return 0-padded
ids. They are
graph-friendly (tf.while_loop), so the serving export traces the same functions.
All three run one step function: Model Garden's beam search
(`official.nlp.modeling.ops.beam_search`) and sampling module (sampling), and a plain loop
for greedy (faster to serve than the sampling module); `generate` is the one entry point.
"""
import tensorflow as tf
from official.nlp.modeling.ops import beam_search as model_garden_beam_search
from official.nlp.modeling.ops import sampling_module as model_garden_sampling

from preprocessing.constants import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from preprocessing.limits import DEFAULT_LENGTH_ALPHA  # noqa: F401  (re-exported)

BANNED = (PAD_ID, UNK_ID, BOS_ID)  # never generated
MAX_RESPONSE_TOKENS = 31  # 30 words (the preprocessing cap) + </s>


def banned_bias(vocab_size, step=1, max_length=MAX_RESPONSE_TOKENS):
    """[V] logit bias: -1e9 on the banned ids, on </s> at step 0, and on everything but
    </s> at the last step (max_length - 1)."""
    return _step_bias(vocab_size, max_length)(step)


def _step_bias(vocab_size, max_length):
    """step -> [V] bias, the vectors built once (outside any decoding loop)."""
    later = tf.scatter_nd([[i] for i in BANNED], [-1e9] * len(BANNED), [vocab_size])
    first = later + tf.one_hot(EOS_ID, vocab_size, on_value=-1e9)
    last = tf.one_hot(EOS_ID, vocab_size, on_value=0.0, off_value=-1e9)
    return lambda step: tf.where(tf.equal(step, 0), first,
                                 tf.where(tf.equal(step, max_length - 1), last, later))


def _symbols_to_logits(model, max_length):
    """Model Garden's decoding step over the decoder's GRU cell: (ids so far, step index,
    {"state"}) -> (logits with the step's bias, new cache). Beam search and the sampling
    module (greedy, sampling) share it."""
    decoder = model.decoder
    bias = _step_bias(model.vocab_size, max_length)

    def symbols_to_logits(ids, index, cache):
        state = tf.cast(cache["state"], decoder.compute_dtype)
        logits, state = decoder.step(ids[:, -1], state)
        return logits + bias(index), {"state": tf.cast(state, tf.float32)}
    return symbols_to_logits


def _initial_cache(model, condition):
    """The decoding cache. Model Garden's decoders check it is float32, so a mixed-precision
    model's float16 state is carried as float32 (lossless) and cast back at each step."""
    return {"state": tf.cast(model.decoder.initial_state(condition), tf.float32)}


def _greedy(model, condition, max_length):
    """Greedy decoding as a plain tf.while_loop over the shared step function: (ids
    [B, <= L], log-probability of each response [B]). Model Garden's sampling module gives
    the same responses with more bookkeeping per step (tempered and untempered scores,
    top-k / top-p) and served greedy ~4% slower (BUILD.md, Serving), so the serving
    default keeps this loop."""
    step = _symbols_to_logits(model, max_length)
    batch = tf.shape(condition)[0]

    def body(i, token, cache, finished, log_prob, tokens):
        logits, cache = step(token[:, None], i, cache)
        token = tf.where(finished, PAD_ID, tf.argmax(logits, -1, output_type=tf.int32))
        picked = (tf.gather(logits, token, batch_dims=1)
                  - tf.reduce_logsumexp(logits, -1))  # log-softmax at one id only
        log_prob += tf.where(finished, 0.0, picked)
        return (i + 1, token, cache, finished | (token == EOS_ID), log_prob,
                tokens.write(i, token))

    def not_done(i, token, cache, finished, log_prob, tokens):
        return (i < max_length) & ~tf.reduce_all(finished)

    *_, log_prob, tokens = tf.while_loop(
        not_done, body, (0, tf.fill([batch], BOS_ID), _initial_cache(model, condition),
                         tf.zeros([batch], tf.bool), tf.zeros([batch]),
                         tf.TensorArray(tf.int32, size=0, dynamic_size=True)))
    return tf.transpose(tf.reshape(tokens.stack(), [-1, batch])), log_prob


def _sample(model, condition, max_length, greedy, temperature=1.0):
    """Greedy (`_greedy`) or sampled decoding, the latter with Model Garden's
    SamplingModule: (ids [B, <= L], log-probability of each response under the untempered
    model [B])."""
    if greedy:
        return _greedy(model, condition, max_length)
    module = model_garden_sampling.SamplingModule(
        _symbols_to_logits(model, max_length), vocab_size=model.vocab_size,
        max_decode_length=max_length, eos_id=EOS_ID, padded_decode=False,
        sample_temperature=tf.maximum(tf.cast(temperature, tf.float32), 1e-6),
        enable_greedy=False)
    batch = tf.shape(condition)[0]
    ids, scores = module.generate(tf.fill([batch], BOS_ID), _initial_cache(model, condition))
    return ids[:, 1:], scores[:, 0]  # without the leading <s>


def generate(model, condition, mode="greedy", max_length=MAX_RESPONSE_TOKENS, beam_size=5,
             alpha=DEFAULT_LENGTH_ALPHA, temperature=1.0):
    """The one decoding entry point: responses to the conditions [B, D] of
    `model.response_condition` as (ids [B, k, <= max_length], scores [B, k]), k = 1 for
    greedy and sample, `beam_size` for beam (best first). Scores are log-probabilities
    (beam: length-normalised with `alpha`)."""
    if mode == "beam":
        return beam_decode(model, None, beam_size, max_length, alpha, condition)
    if mode not in ("greedy", "sample"):
        raise ValueError(f"decoding mode {mode!r} is not one of greedy, sample, beam")
    ids, scores = _sample(model, condition, max_length, mode == "greedy", temperature)
    return ids[:, None], scores[:, None]


def greedy_decode(model, context, max_length=MAX_RESPONSE_TOKENS, condition=None,
                  with_scores=False):
    """Context utterances [B, T, L] -> response ids [B, <= max_length] (and, with
    `with_scores`, each response's log-probability)."""
    if condition is None:
        condition = model.response_condition(context)
    ids, scores = _sample(model, condition, max_length, greedy=True)
    return (ids, scores) if with_scores else ids


def sample_decode(model, context, temperature=1.0, max_length=MAX_RESPONSE_TOKENS,
                  condition=None, seed=None, with_scores=False):
    """Like greedy_decode, each token drawn from softmax(logits / temperature); the
    scores are log-probabilities under the untempered model. `seed` seeds TensorFlow's
    global generator (Model Garden's sampler draws from it)."""
    if condition is None:
        condition = model.response_condition(context)
    if seed is not None:
        tf.random.set_seed(seed)
    ids, scores = _sample(model, condition, max_length, greedy=False,
                          temperature=temperature)
    return (ids, scores) if with_scores else ids


def beam_decode(model, context, beam_size=5, max_length=MAX_RESPONSE_TOKENS,
                alpha=DEFAULT_LENGTH_ALPHA, condition=None):
    """(ids [B, beam, max_length], scores [B, beam]) best first.

    alpha is Model Garden's length normalisation, ((5 + length) / 6) ** alpha; 0 ranks by
    plain log-probability. Scores are the (normalised) log-probabilities.
    """
    if condition is None:
        condition = model.response_condition(context)
    batch = tf.shape(condition)[0]
    ids, scores = model_garden_beam_search.sequence_beam_search(
        _symbols_to_logits(model, max_length), initial_ids=tf.fill([batch], BOS_ID),
        initial_cache=_initial_cache(model, condition),
        vocab_size=model.vocab_size, beam_size=beam_size, alpha=alpha,
        max_decode_length=max_length, eos_id=EOS_ID, padded_decode=False)
    return ids[:, :, 1:], scores  # without the leading <s>


def response_lengths(ids):
    """Tokens up to and including </s> (or all) per row of [..., L] ids."""
    is_eos = tf.cast(ids == EOS_ID, tf.int32)
    before_eos = tf.cast(tf.cumsum(is_eos, -1, exclusive=True) == 0, tf.int32)
    return tf.reduce_sum(before_eos * tf.cast(ids != PAD_ID, tf.int32), -1)


def append_utterance(context, response):
    """Context [B, T, L] + response [B, L2] -> [B, T + 1, max(L, L2)], each response
    placed right after its row's last real utterance (rows have different turn counts)."""
    response = tf.cast(response, context.dtype)
    turns = tf.reduce_sum(tf.cast(context[:, :, 0] != PAD_ID, tf.int32), 1)
    length = tf.maximum(tf.shape(context)[2], tf.shape(response)[1])
    context = tf.pad(context, [[0, 0], [0, 1], [0, length - tf.shape(context)[2]]])
    response = tf.pad(response, [[0, 0], [0, length - tf.shape(response)[1]]])
    index = tf.stack([tf.range(tf.shape(context)[0]), turns], 1)
    return tf.tensor_scatter_nd_update(context, index, response)


def respond(model, context, decode, z_conv=None, sample_latents=True):
    """One response to context [B, T, L] with `decode(context, condition) -> ids`:
    (ids, the z_conv it was conditioned on, or None without a conversation latent)."""
    state, z_conv = model.context_state(context, z_conv, sample_latents)
    return decode(context, model.generation_condition(state, z_conv, sample_latents)), z_conv


def converse(respond_fn, context, turns, z_conv=None):
    """`turns` responses, each fed back as context for the next: `respond_fn(context,
    z_conv) -> (ids, z_conv)`, e.g. `respond` bound to a model and decoder. VHCR's z_conv
    is drawn once (from its posterior over the opening context, unless given) and held
    for the whole conversation, as the VHCR authors' generation does."""
    responses = []
    for _ in range(turns):
        response, z_conv = respond_fn(context, z_conv)
        responses.append(response)
        context = append_utterance(context, response)
    return responses
