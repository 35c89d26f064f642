"""VHRED (Serban et al. 2017): a per-utterance latent z_utt.

prior p(z_t | c_t), posterior q(z_t | x_t, c_t); the decoder is conditioned on [c_t, z_t],
or on z_t alone with `model.decoder_context` false (the VHCR paper's Eq. 13 / Fig. 2
experiment, where the prior degenerates to point masses).
"""
import tensorflow as tf

from keras_models.config import ModelConfig
from keras_models.conversation_model import ConversationModel
from keras_models.inference import teacher_inputs
from keras_models.layers import GaussianHead
from keras_models.layers.gaussian import gaussian_kl, log_density, sample
from keras_models.types import Moments


class VHRED(ConversationModel):
    latent_names = ("utt",)

    def __init__(self, config: ModelConfig, vocab_size: int, **kwargs) -> None:
        super().__init__(config, vocab_size, **kwargs)
        self.utt_prior = GaussianHead(config.latent_dim, config.mlp_units, name="utt_prior")
        self.utt_posterior = GaussianHead(config.latent_dim, config.mlp_units,
                                          name="utt_posterior")

    def utterance_condition(self, context: tf.Tensor, conversation: tf.Tensor | None
                            ) -> tf.Tensor:
        """What both the prior and the decoder see: c_t (and z_conv for VHCR)."""
        if conversation is None:
            return context
        return tf.concat([context, tf.cast(conversation, context.dtype)], -1)

    def decoder_condition(self, given: tf.Tensor, z: tf.Tensor,
                          conversation: tf.Tensor | None) -> tf.Tensor:
        """[given, z]; without the context (`decoder_context` false) the latents only."""
        if not self.config.decoder_context:
            given = (None if conversation is None
                     else tf.cast(conversation, z.dtype))
        z = tf.cast(z, tf.float32 if given is None else given.dtype)
        return z if given is None else tf.concat([given, z], -1)

    def utterance_latent(self, context: tf.Tensor, target: tf.Tensor,
                         conversation: tf.Tensor | None, training: bool
                         ) -> tuple[tf.Tensor, tf.Tensor]:
        given = self.utterance_condition(context, conversation)
        p_mean, p_var = self.utt_prior(given)
        q_mean, q_var = self.utt_posterior(tf.concat([given, target], -1))
        self.record_moments("utt", q_mean=q_mean, p_mean=p_mean, p_var=p_var)
        z = sample(q_mean, q_var, self.latent_seed)
        condition = self.decoder_condition(given, z, conversation)
        return condition, gaussian_kl(q_mean, q_var, p_mean, p_var)

    def response_log_weights(self, context: tf.Tensor, target_vectors: tf.Tensor,
                             targets: tf.Tensor, conversation: tf.Tensor | None
                             ) -> tf.Tensor:
        given = self.utterance_condition(context, conversation)
        p_mean, p_var = self.utt_prior(given)
        q_mean, q_var = self.utt_posterior(tf.concat([given, target_vectors], -1))
        z = sample(q_mean, q_var, self.latent_seed)
        condition = self.decoder_condition(given, z, conversation)
        nll = self.decoder.nll_per_row(condition, teacher_inputs(targets), targets)
        return -nll + log_density(z, p_mean, p_var) - log_density(z, q_mean, q_var)

    def generation_condition(self, context: tf.Tensor, conversation: tf.Tensor | None,
                             sample_latent: bool = True) -> tf.Tensor:
        """Decoder conditioning with z_t drawn from the prior p(z_t | c_t) (or its mean)."""
        given = self.utterance_condition(context, conversation)
        p_mean, p_var = self.utt_prior(given)
        z = sample(p_mean, p_var, self.latent_seed) if sample_latent else p_mean
        return self.decoder_condition(given, z, conversation)

    def prior_moments(self, context: tf.Tensor, conversation: tf.Tensor | None) -> Moments:
        return self.utt_prior(self.utterance_condition(context, conversation))

    def latent_samples(self, utterances: tf.Tensor, response: tf.Tensor | None = None,
                       samples: int = 1) -> tf.Tensor:
        context, conversation = self.context_state(utterances)
        given = self.utterance_condition(context, conversation)
        if response is None:
            mean, var = self.utt_prior(given)
        else:
            target = self.utterance_encoder(tf.cast(response, tf.int32))
            mean, var = self.utt_posterior(tf.concat([given, target], -1))
        return sample(tf.repeat(mean, samples, 0), tf.repeat(var, samples, 0),
                      self.latent_seed)
