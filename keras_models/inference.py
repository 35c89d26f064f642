"""What a trained conversation model answers outside training: the context state and
the conditioning of a new response, scores of given responses, importance-weighted
likelihood terms and latent samples. A mixin of `ConversationModel`; the latent models
override the hooks it calls (`conversation_latent`, `context_inputs`,
`generation_condition`, `utterance_latent`, `response_log_weights`, `latent_samples`).
Decoding itself (greedy, sampling, beam search) is `keras_models.decoding`.
"""
import tensorflow as tf

from keras_models.layers.gaussian import log_density
from keras_models.types import Batch
from preprocessing.constants import BOS_ID


def teacher_inputs(targets: tf.Tensor) -> tf.Tensor:
    """Decoder inputs for teacher forcing: <s> then the targets shifted right."""
    return tf.concat([tf.fill([tf.shape(targets)[0], 1], BOS_ID), targets[:, :-1]], 1)


class InferenceMixin:
    def context_state(self, utterances: tf.Tensor, z_conv: tf.Tensor | None = None,
                      sample_latents: bool = True) -> tuple[tf.Tensor, tf.Tensor | None]:
        """Context utterances [B, T, L] -> (the context RNN's last state [B, H], z_conv or
        None). VHCR's z_conv comes from its posterior over the context unless given."""
        utterances = tf.cast(utterances, tf.int32)
        vectors, mask = self.encode_utterances(utterances)
        conversation = self.conversation_latent(vectors, mask, training=False,
                                                sample_latent=sample_latents)
        if conversation is not None and z_conv is not None:
            conversation = (tf.cast(z_conv, conversation[0].dtype), *conversation[1:])
        context_in, initial = self.context_inputs(vectors, conversation)
        context = self.context_encoder(context_in, mask, initial_state=initial)
        last = tf.reduce_sum(tf.cast(mask, tf.int32), 1) - 1
        context_last = tf.gather(context, tf.maximum(last, 0), batch_dims=1)
        return context_last, None if conversation is None else conversation[0]

    def response_condition(self, utterances: tf.Tensor, z_conv: tf.Tensor | None = None,
                           sample_latents: bool = True) -> tf.Tensor:
        """Context utterances [B, T, L] -> conditioning [B, D] of the next response, with
        the latents drawn (or, when not `sample_latents`, at their means)."""
        context, conversation = self.context_state(utterances, z_conv, sample_latents)
        return self.generation_condition(context, conversation, sample_latents)

    def score_responses(self, utterances: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Per slice of [B, T, L], the last utterance scored as a response to the ones
        before it: (NLL + KL terms in nats [B], its words incl. </s> [B]). The latent
        models' KL makes it the single-sample per-response ELBO bound."""
        encoded = self.encode_context({"utterances": utterances}, training=False)
        batch = tf.shape(utterances)[0]
        index = tf.range(tf.shape(encoded["batch_index"])[0])
        last = tf.math.unsorted_segment_max(index, encoded["batch_index"], batch)
        conversation = encoded["conversation"]
        z_conv = (None if conversation is None
                  else tf.gather(conversation[0], tf.gather(encoded["batch_index"], last)))
        condition, kl = self.utterance_latent(
            tf.gather(encoded["context"], last), tf.gather(encoded["target_vectors"], last),
            z_conv, training=False)
        targets = tf.gather(encoded["targets"], last)
        nll = self.decoder.nll_per_row(condition, teacher_inputs(targets), targets)
        if kl is not None:
            nll += tf.reduce_sum(kl, -1)
        if conversation is not None:
            nll += tf.reduce_sum(conversation[1], -1)
        return nll, tf.reduce_sum(tf.cast(targets != 0, tf.float32), -1)

    # ----- importance-weighted likelihood ------------------------------------------------
    def response_log_weights(self, context: tf.Tensor, target_vectors: tf.Tensor,
                             targets: tf.Tensor, conversation: tf.Tensor | None
                             ) -> tf.Tensor:
        """One importance sample per response: log p(x | z, c) + log p(z | c) - log q(z | x, c)
        [N], z drawn from the posterior. Without a response latent it is the exact
        log p(x | c)."""
        return -self.decoder.nll_per_row(context, teacher_inputs(targets), targets)

    def importance_log_weights(self, batch: Batch) -> tuple[tf.Tensor, tf.Tensor]:
        """One importance sample of log w for each independent unit of the batch:
        (log w [M], slice index [M]). The units are the responses, or whole slices when a
        conversation latent couples them (z_conv ~ q(z_conv | slice) is then shared by
        all its responses and its log p(z_conv) - log q(z_conv) is added). The mean of
        log w is the ELBO; log mean exp over K draws is a tighter bound (Burda et al.)."""
        encoded = self.encode_context(batch, training=False)
        conversation = encoded["conversation"]
        index = encoded["batch_index"]
        log_w = self.response_log_weights(
            encoded["context"], encoded["target_vectors"], encoded["targets"],
            None if conversation is None else tf.gather(conversation[0], index))
        if conversation is None:
            return log_w, index
        slices = tf.shape(batch["utterances"])[0]
        z, _, (q_mean, q_var) = conversation
        log_w = (tf.math.unsorted_segment_sum(log_w, index, slices)
                 + log_density(z) - log_density(z, q_mean, q_var))
        return log_w, tf.range(slices, dtype=index.dtype)

    def latent_samples(self, utterances: tf.Tensor, response: tf.Tensor | None = None,
                       samples: int = 1) -> tf.Tensor:
        """[B * samples, Dz] draws of the response latent: from the prior given the
        context, or from the posterior when `response` ([B, L] ids) is given. The
        latent-space figures plot these."""
        raise ValueError(f"{type(self).__name__} has no response latent")
