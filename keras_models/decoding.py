"""Response generation: greedy, sampling with temperature, and beam search, through one
call: `decode(model, condition, options, seed)`.

Every mode runs the decoder's GRU cell one token at a time from the conditioning vector a
model gives for a context (`model.response_condition`), never produces <pad>, <unk> or
<s>, never ends before the first word (an empty response is never an answer, and beam
search would otherwise favour it: one </s> is more probable than any sentence), ends with
</s> at the latest at token `max_length` (so a response has at most max_length - 1
words: `response_tokens` of the run's own word cap), and returns 0-padded ids. All are
graph-friendly (tf.while_loop), so the serving export traces the same functions, and all
run one step function: Model Garden's beam search (`official.nlp.modeling.ops.
beam_search`) for beam, and one plain loop for greedy and sampling. Sampling draws with
stateless ops from an explicit seed (Model Garden's sampling module draws from
TensorFlow's global generator, which a caller can only reset, never hand over).
"""
import dataclasses
from collections.abc import Callable

import tensorflow as tf
from official.nlp.modeling.ops import beam_search as model_garden_beam_search

from keras_models.conversation_model import ConversationModel
from preprocessing.constants import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from preprocessing.limits import DEFAULT_LENGTH_ALPHA

BANNED = (PAD_ID, UNK_ID, BOS_ID)  # never generated
MODES = ("greedy", "sample", "beam")
# (context, z_conv or None) -> (response ids, the z_conv used): `respond`, bound.
RespondFn = Callable[[tf.Tensor, tf.Tensor | None], tuple[tf.Tensor, tf.Tensor | None]]


def response_tokens(max_utterance_words: int) -> int:
    """Decoding steps for a run whose data cut utterances at `max_utterance_words`: its
    words and </s>. The one source of a response's maximum length."""
    return int(max_utterance_words) + 1


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
    """How `decode` answers: `mode` greedy | sample | beam, at most `max_length` tokens
    (`response_tokens` of the run's word cap), `beam_size` responses with Model Garden's
    length normalisation `alpha` ((5 + length) / 6) ** alpha (0 ranks by plain
    log-probability), sampling from softmax(logits / `temperature`)."""
    max_length: int
    mode: str = "greedy"
    beam_size: int = 5
    alpha: float = DEFAULT_LENGTH_ALPHA
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"decoding mode {self.mode!r} is not one of {', '.join(MODES)}")


def banned_bias(vocab_size: int, step: tf.Tensor, max_length: int) -> tf.Tensor:
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
    {"state"}) -> (logits with the step's bias, new cache). Beam search and the token loop
    (greedy, sampling) share it."""
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


def _argmax(logits, step):
    return tf.argmax(logits, -1, output_type=tf.int32)


def _sampler(temperature, seed):
    """Token picker drawing from softmax(logits / temperature) with stateless ops: step i
    uses `seed` folded with i, so one seed gives one set of responses."""
    temperature = tf.maximum(tf.cast(temperature, tf.float32), 1e-6)

    def pick(logits, step):
        step_seed = tf.random.experimental.stateless_fold_in(seed, step)
        return tf.random.stateless_categorical(tf.cast(logits, tf.float32) / temperature, 1,
                                               step_seed, dtype=tf.int32)[:, 0]
    return pick


def _token_loop(model, condition, max_length, pick):
    """Greedy or sampled decoding as a plain tf.while_loop over the shared step function:
    (ids [B, <= L], log-probability of each response under the untempered model [B]).
    Model Garden's sampling module gives the same greedy responses with more bookkeeping
    per step and served greedy ~4% slower (BUILD.md, Serving)."""
    step = _symbols_to_logits(model, max_length)
    batch = tf.shape(condition)[0]

    def body(i, token, cache, finished, log_prob, tokens):
        logits, cache = step(token[:, None], i, cache)
        token = tf.where(finished, PAD_ID, pick(logits, i))
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


def _beam(model, condition, options):
    batch = tf.shape(condition)[0]
    ids, scores = model_garden_beam_search.sequence_beam_search(
        _symbols_to_logits(model, options.max_length), initial_ids=tf.fill([batch], BOS_ID),
        initial_cache=_initial_cache(model, condition), vocab_size=model.vocab_size,
        beam_size=options.beam_size, alpha=options.alpha,
        max_decode_length=options.max_length, eos_id=EOS_ID, padded_decode=False)
    return ids[:, :, 1:], scores  # without the leading <s>


def decode(model: ConversationModel, condition: tf.Tensor, options: DecodeOptions,
           seed: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """Responses to the conditions [B, D] of `model.response_condition`: (ids [B, k,
    <= max_length], scores [B, k]), k = 1 for greedy and sample, `beam_size` for beam (best
    first). Scores are log-probabilities (beam: length-normalised with `alpha`; sample:
    under the untempered model). `seed` ([2] ints) fixes a sample's draws; None draws a
    fresh seed from TensorFlow's global generator (a served request)."""
    if options.mode == "beam":
        return _beam(model, condition, options)
    if options.mode == "greedy":
        pick = _argmax
    else:
        if seed is None:
            seed = tf.random.uniform([2], maxval=tf.int32.max, dtype=tf.int32)
        pick = _sampler(options.temperature, tf.cast(seed, tf.int32))
    ids, scores = _token_loop(model, condition, options.max_length, pick)
    return ids[:, None], scores[:, None]


def response_lengths(ids: tf.Tensor) -> tf.Tensor:
    """Tokens up to and including </s> (or all) per row of [..., L] ids."""
    is_eos = tf.cast(ids == EOS_ID, tf.int32)
    before_eos = tf.cast(tf.cumsum(is_eos, -1, exclusive=True) == 0, tf.int32)
    return tf.reduce_sum(before_eos * tf.cast(ids != PAD_ID, tf.int32), -1)


def append_utterance(context: tf.Tensor, response: tf.Tensor) -> tf.Tensor:
    """Context [B, T, L] + response [B, L2] -> [B, T + 1, max(L, L2)], each response
    placed right after its row's last real utterance (rows have different turn counts)."""
    response = tf.cast(response, context.dtype)
    turns = tf.reduce_sum(tf.cast(context[:, :, 0] != PAD_ID, tf.int32), 1)
    length = tf.maximum(tf.shape(context)[2], tf.shape(response)[1])
    context = tf.pad(context, [[0, 0], [0, 1], [0, length - tf.shape(context)[2]]])
    response = tf.pad(response, [[0, 0], [0, length - tf.shape(response)[1]]])
    index = tf.stack([tf.range(tf.shape(context)[0]), turns], 1)
    return tf.tensor_scatter_nd_update(context, index, response)


def respond(model: ConversationModel, context: tf.Tensor, options: DecodeOptions,
            z_conv: tf.Tensor | None = None, sample_latents: bool = True,
            seed: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor | None]:
    """The best response to context [B, T, L] decoded with `options` (and `seed`): (ids
    [B, <= max_length], the z_conv it was conditioned on, or None without a conversation
    latent)."""
    state, z_conv = model.context_state(context, z_conv, sample_latents)
    condition = model.generation_condition(state, z_conv, sample_latents)
    return decode(model, condition, options, seed)[0][:, 0], z_conv


def converse(respond_fn: RespondFn, context: tf.Tensor, turns: int,
             z_conv: tf.Tensor | None = None) -> list[tf.Tensor]:
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
