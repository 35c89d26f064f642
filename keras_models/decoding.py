"""Response generation: greedy, sampling with temperature, and beam search.

All three run the decoder's GRU cell one token at a time from the conditioning vector a
model gives for a context (`model.response_condition`), never produce <pad>, <unk> or
<s>, never end before the first word (an empty response is never an answer, and beam
search would otherwise favour it: one </s> is more probable than any sentence), end with
</s> at the latest at token `max_length` (so a response has at most max_length - 1
words, as the training data's utterances have at most the word cap), and return 0-padded
ids. They are
graph-friendly (tf.while_loop), so the serving export traces the same functions.
Beam search is Model Garden's `official.nlp.modeling.ops.beam_search`.
"""
import tensorflow as tf
from official.nlp.modeling.ops import beam_search as model_garden_beam_search

from preprocessing.constants import BOS_ID, EOS_ID, PAD_ID, UNK_ID

BANNED = (PAD_ID, UNK_ID, BOS_ID)  # never generated
MAX_RESPONSE_TOKENS = 31  # 30 words (the preprocessing cap) + </s>
DEFAULT_LENGTH_ALPHA = 0.6  # beam length normalisation of the tools (GNMT, Model Garden)


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


def _token_by_token(model, condition, max_length, choose):
    """Runs `choose(logits) -> ids` until every row has produced </s> (at the latest at
    token max_length).
    Returns (ids [B, steps], summed log-probability of each row's tokens [B])."""
    decoder = model.decoder
    bias = _step_bias(model.vocab_size, max_length)
    batch = tf.shape(condition)[0]
    state = decoder.initial_state(condition)
    tokens = tf.TensorArray(tf.int32, size=0, dynamic_size=True)

    def body(i, token, state, finished, log_prob, tokens):
        logits, state = decoder.step(token, state)
        logits += bias(i)
        token = tf.where(finished, PAD_ID, choose(logits))
        picked = (tf.gather(logits, token, batch_dims=1)
                  - tf.reduce_logsumexp(logits, -1))  # log-softmax at one id only
        log_prob += tf.where(finished, 0.0, picked)
        return (i + 1, token, state, finished | (token == EOS_ID), log_prob,
                tokens.write(i, token))

    def not_done(i, token, state, finished, log_prob, tokens):
        return (i < max_length) & ~tf.reduce_all(finished)

    _, _, _, _, log_prob, tokens = tf.while_loop(
        not_done, body, (0, tf.fill([batch], BOS_ID), state, tf.zeros([batch], tf.bool),
                         tf.zeros([batch]), tokens))
    ids = tokens.stack()  # [steps, B]
    return tf.transpose(tf.reshape(ids, [-1, batch])), log_prob


def greedy_decode(model, context, max_length=MAX_RESPONSE_TOKENS, condition=None,
                  with_scores=False):
    """Context utterances [B, T, L] -> response ids [B, <= max_length] (and, with
    `with_scores`, each response's log-probability)."""
    if condition is None:
        condition = model.response_condition(context)
    ids, scores = _token_by_token(model, condition, max_length,
                                  lambda logits: tf.argmax(logits, -1, output_type=tf.int32))
    return (ids, scores) if with_scores else ids


def sample_decode(model, context, temperature=1.0, max_length=MAX_RESPONSE_TOKENS,
                  condition=None, seed=None, with_scores=False):
    """Like greedy_decode, each token drawn from softmax(logits / temperature); the
    scores are log-probabilities under the untempered model."""
    if condition is None:
        condition = model.response_condition(context)
    temperature = tf.maximum(tf.cast(temperature, tf.float32), 1e-6)

    def choose(logits):
        drawn = tf.random.categorical(logits / temperature, 1, dtype=tf.int32, seed=seed)
        return drawn[:, 0]

    ids, scores = _token_by_token(model, condition, max_length, choose)
    return (ids, scores) if with_scores else ids


def beam_decode(model, context, beam_size=5, max_length=MAX_RESPONSE_TOKENS,
                alpha=DEFAULT_LENGTH_ALPHA, condition=None):
    """(ids [B, beam, max_length], scores [B, beam]) best first.

    alpha is Model Garden's length normalisation, ((5 + length) / 6) ** alpha; 0 ranks by
    plain log-probability. Scores are the (normalised) log-probabilities.
    """
    if condition is None:
        condition = model.response_condition(context)
    decoder = model.decoder
    bias = _step_bias(model.vocab_size, max_length)

    def symbols_to_logits(ids, index, cache):
        logits, state = decoder.step(ids[:, -1], cache["state"])
        return logits + bias(index), {"state": state}

    batch = tf.shape(condition)[0]
    ids, scores = model_garden_beam_search.sequence_beam_search(
        symbols_to_logits, initial_ids=tf.fill([batch], BOS_ID),
        initial_cache={"state": decoder.initial_state(condition)},
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
