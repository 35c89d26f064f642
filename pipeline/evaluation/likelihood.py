"""Likelihood of a split, in both papers' units, and an importance-weighted bound.

- The ELBO (one posterior sample; exact for HRED) comes from the model's own test step,
  per word, as training's validation reports it.
- The papers' units: the VHCR paper reports per-word NLL bound = reconstruction + KL (and
  the KL split z_conv / z_utt); the CO paper reports NLL *summed over each 80-word slice*
  and averaged over slices, and KL per response (the unit of its max(alpha, KL)).
- Context gain: the per-word bound of each response decoded from another response's
  context (a seeded shuffle within the batch) minus that from its own. A model that
  ignores its context, such as one whose decoder state saturated, scores 0.
- The importance-weighted estimate (Burda et al. 2016) of log p(x | c) with K posterior
  samples per unit (`ConversationModel.importance_log_weights`): a bound that tightens
  with K, so HRED's exact NLL and the latent models' bounds can be compared fairly.
"""
import logging
import math
import time
from collections.abc import Sequence

import tensorflow as tf

from keras_models.conversation_model import ConversationModel
from keras_models.inference import teacher_inputs
from keras_models.types import Batch

log = logging.getLogger("dialogvae")
ELBO_KEYS = ("nll", "nll_bound", "ppl", "kl_utt", "kl_conv", "kl_response", "gen_error",
             "words")


def split_counts(dataset: tf.data.Dataset) -> tuple[int, int]:
    """Slices and responses of a split (every utterance after a slice's first)."""
    slices = responses = 0
    for batch in dataset:
        turns = tf.reduce_sum(tf.cast(batch["utterances"][:, :, 0] != 0, tf.int32), 1)
        slices += int(tf.shape(turns)[0])
        responses += int(tf.reduce_sum(tf.maximum(turns - 1, 0)))
    return slices, responses


def elbo(model: ConversationModel, dataset: tf.data.Dataset) -> dict[str, float]:
    """The model's test-step metrics over the whole split, plus the papers' units."""
    logs = model.evaluate(dataset, verbose=0, return_dict=True)
    # Only the KL of latents the model has: HRED's or CO's trackers would report 0.0 for
    # a z_utt or z_conv that does not exist.
    absent = {f"kl_{name}" for name in ("utt", "conv") if name not in model.latent_names}
    out = {key: float(logs[key]) for key in ELBO_KEYS if key in logs and key not in absent}
    slices, responses = split_counts(dataset)
    words = out["words"]
    out.update(slices=slices, responses=responses,
               nll_bound_per_slice=out["nll_bound"] * words / max(slices, 1),
               recon_per_slice=out["nll"] * words / max(slices, 1))
    if "kl_utt" in out:  # the response latent's KL (z_utt, or CO's e) per response
        out["kl_per_response"] = out["kl_utt"] * words / max(responses, 1)
    return out


def importance_weighted(model: ConversationModel, dataset: tf.data.Dataset, samples: int,
                        words: float, slices: int, log_every: int = 50) -> dict[str, float]:
    """-log p(x | c) estimated with `samples` importance samples per unit: per word, per
    slice, and its perplexity. `words` and `slices` are the split's counts (`elbo`)."""
    if samples < 1:
        raise ValueError(f"--iw_samples must be >= 1, got {samples}")
    draw = tf.function(model.importance_log_weights, reduce_retracing=True)
    total = 0.0
    start = time.time()
    for i, batch in enumerate(dataset):
        log_w = tf.stack([draw(batch)[0] for _ in range(samples)])  # [K, M]
        total += float(tf.reduce_sum(tf.reduce_logsumexp(log_w, 0) - math.log(samples)))
        if log_every and (i + 1) % log_every == 0:
            log.info("importance sampling (K=%d): %d batches, %.0f s", samples, i + 1,
                     time.time() - start)
    nll = -total / max(words, 1.0)
    return {"iw_samples": samples, "iw_nll": nll, "iw_ppl": math.exp(min(nll, 50.0)),
            "iw_nll_per_slice": -total / max(slices, 1)}


def context_gain(model: ConversationModel, batches: Sequence[Batch], seed: int = 0
                 ) -> tuple[float, float, float]:
    """(own-context bound, shuffled-context bound, gain), per word, over `batches`: each
    response is decoded (its latent drawn from the posterior, as in the ELBO) once with
    its own context and once with another response's, from a seeded permutation within
    the batch. z_conv moves with its context; its KL is left out of both, as it cancels."""
    generator = tf.random.Generator.from_seed(seed)
    own = shuffled = words = 0.0
    for batch in batches:
        encoded = model.encode_context(batch, training=False)
        context, targets = encoded["context"], encoded["targets"]
        conversation = encoded["conversation"]
        if conversation is not None:
            conversation = tf.gather(conversation[0], encoded["batch_index"])
        order = tf.argsort(generator.uniform(tf.shape(context)[:1]))
        inputs = teacher_inputs(targets)
        for permuted, total in ((None, "own"), (order, "shuffled")):
            c, z = context, conversation
            if permuted is not None:
                c = tf.gather(c, permuted)
                z = None if z is None else tf.gather(z, permuted)
            condition, kl = model.utterance_latent(c, encoded["target_vectors"], z, False)
            nll, count = model.decoder(condition, inputs, targets)
            bound = float(nll) + (0.0 if kl is None else float(tf.reduce_sum(kl)))
            if total == "own":
                own += bound
                words += float(count)
            else:
                shuffled += bound
    words = max(words, 1.0)
    return {"nll_bound_own_context": own / words,
            "nll_bound_shuffled_context": shuffled / words,
            "context_gain": (shuffled - own) / words}
