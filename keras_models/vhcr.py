"""VHCR (Park et al. 2018): a conversation latent z_conv above the utterance latents.

q(z_conv | x_1..x_n) from a bidirectional GRU over utterance vectors, p(z_conv) = N(0, I);
the context RNN starts from tanh(W z_conv) and reads [h_t, z_conv]; z_utt's prior and
posterior and the decoder are conditioned on z_conv too. Utterance drop (a config switch)
replaces context-RNN inputs by the learned h_unk; in the authors' "position" form the z_conv
posterior's inputs too, as their code does.
"""
import keras
import tensorflow as tf

from keras_models.config import ModelConfig
from keras_models.layers import ConversationEncoder, GaussianHead
from keras_models.layers.gaussian import gaussian_kl, sample
from keras_models.types import ConversationLatent
from keras_models.vhred import VHRED


class VHCR(VHRED):
    latent_names = ("conv", "utt")

    def __init__(self, config: ModelConfig, vocab_size: int, **kwargs) -> None:
        super().__init__(config, vocab_size, **kwargs)
        self.conversation_encoder = ConversationEncoder(config.utterance_units,
                                                        name="conversation_encoder")
        self.conv_posterior = GaussianHead(config.conv_latent_dim, config.mlp_units,
                                           name="conv_posterior")
        self.context_init = keras.layers.Dense(config.context_units, activation="tanh",
                                               name="context_init")

    def conversation_latent(self, vectors: tf.Tensor, mask: tf.Tensor, training: bool,
                            sample_latent: bool = True) -> ConversationLatent:
        q_mean, q_var = self.conv_posterior(self.conversation_encoder(vectors, mask))
        self.record_moments("conv", q_mean=q_mean)
        z = sample(q_mean, q_var, self.latent_seed) if sample_latent else q_mean
        return z, gaussian_kl(q_mean, q_var), (q_mean, q_var)

    def context_inputs(self, vectors: tf.Tensor, conversation: ConversationLatent
                       ) -> tuple[tf.Tensor, tf.Tensor]:
        z = tf.cast(conversation[0], vectors.dtype)
        tiled = tf.tile(z[:, None, :], [1, tf.shape(vectors)[1], 1])
        return tf.concat([vectors, tiled], -1), self.context_init(z)
