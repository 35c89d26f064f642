"""Collaborative VED (Shen et al., AAAI 2018): an autoencoder and a CVAE trained in turn.

AE module (theta): the hierarchical encoder gives the context c; f_theta embeds the target
utterance (its utterance-GRU vector, then a linear map) into z~; the decoder models
p_theta(x | z, c).
CVAE module (phi): prior p_phi(e | c), posterior q_phi(e | z~, c) (2-layer Gaussian MLPs)
and the generator g_phi(e, c) -> z.

  CVAE phase (eq. 8), phi only:  KL(q(e|z~,c) || p(e|c)) + 1/2 ||g(e, c) - z~||^2, z~ fixed.
  AE phase (eq. 9), theta only:  max(alpha, KL) - log p(x | z, c), where z is z~ with the
      scheduled-sampling keep-rate p = max(1 - i/k, 0) (i = AE-phase step) and g(e, c) with
      e ~ q(e | z~, c) otherwise; without scheduled sampling (k = 0) always g(e, c).
  Joint (the paper's CO+SS joint row): both updates every step, each on its own parameters.

Phases alternate every `phase_period_steps` steps (or `phase_period_epochs` epochs),
starting with AE. Each phase has its
own compiled train function (Keras caches `train_function`, so flipping an attribute
would silently keep training the first phase); `set_phase` swaps them, driven by
`pipeline.training.callbacks.PhaseSchedule` from the global step, so a resumed run lands in the
right phase. Both optimizers are built up front, passed to `compile` (as keras-io's GAN
example passes its two) and saved with the weights.

Evaluation uses the posterior path (z = g(e, c), e ~ q(e | z~, c)): per-word NLL + KL is
the reported bound. Generation samples e ~ p(e | c) and decodes from z = g(e, c).
"""
import functools
from collections.abc import Callable

import keras
import tensorflow as tf

from keras_models import schedules
from keras_models.config import ModelConfig
from keras_models.conversation_model import ConversationModel
from keras_models.inference import teacher_inputs
from keras_models.layers import GaussianHead, LatentGenerator
from keras_models.layers.gaussian import gaussian_kl, log_density, sample
from keras_models.losses import global_sum
from keras_models.types import Batch, Moments, OptimizerFactory, Terms

AE, CVAE, JOINT = "ae", "cvae", "joint"
PHASE_IDS = {AE: 0.0, CVAE: 1.0, JOINT: 2.0}
# What each phase's train step reports (plus "phase"); validation reports every tracker.
PHASE_METRICS = {
    AE: ("loss", "ae_loss", "cvae_loss", "nll", "kl_utt", "kl_response", "gen_error",
         "keep_rate", "words", "padding_fraction"),
    CVAE: ("loss", "cvae_loss", "kl_utt", "kl_response", "gen_error", "words"),
}
PHASE_METRICS[JOINT] = PHASE_METRICS[AE]


class CollaborativeVED(ConversationModel):
    latent_names = ("utt",)  # e, the CVAE's per-response latent
    # No bag-of-words, z_conv or KL weight: max(alpha, KL) is CO's only KL term.
    TRACKERS = ("loss", "nll", "kl_utt", "nll_bound", "padding_fraction", "words", "ppl",
                "ae_loss", "cvae_loss", "gen_error", "kl_response", "keep_rate")

    def __init__(self, config: ModelConfig, vocab_size: int, seed: int = 1,
                 **kwargs) -> None:
        super().__init__(config, vocab_size, seed=seed, **kwargs)
        dim, hidden = config.latent_dim, config.mlp_units
        self.target_encoder = keras.layers.Dense(dim, name="target_encoder")  # f_theta
        self.cvae_prior = GaussianHead(dim, hidden, name="cvae_prior")
        self.cvae_posterior = GaussianHead(dim, hidden, name="cvae_posterior")
        self.generator = LatentGenerator(dim, hidden, name="generator")
        self.schedule_seed = keras.random.SeedGenerator(self.seed_for(31))
        self.global_step = self.add_weight(shape=(), dtype="int64", initializer="zeros",
                                           trainable=False, name="global_step",
                                           aggregation="only_first_replica")
        self.phase = JOINT if config.joint_phases else AE
        self.cvae_optimizer = None
        self._phase_functions = None

    # ----- parameter sets and optimizers ------------------------------------------------
    def cvae_variables(self) -> list[keras.Variable]:
        """phi: the CVAE's prior, posterior and generator."""
        return [v for layer in (self.cvae_prior, self.cvae_posterior, self.generator)
                for v in layer.trainable_variables]

    def ae_variables(self) -> list[keras.Variable]:
        """theta: everything else (embeddings, encoders, f_theta, decoder)."""
        phi = {id(v) for v in self.cvae_variables()}
        return [v for v in self.trainable_variables if id(v) not in phi]

    def build_optimizers(self, make_optimizer: OptimizerFactory
                         ) -> dict[str, keras.optimizers.Optimizer]:
        """One optimizer per parameter set, both built now, their learning-rate schedules
        on the global step (each optimizer's own count would run the schedule at half
        speed)."""
        step = lambda: self.global_step  # noqa: E731
        ae_optimizer, cvae_optimizer = make_optimizer(step=step), make_optimizer(step=step)
        ae_optimizer.build(self.ae_variables())
        cvae_optimizer.build(self.cvae_variables())
        return {"ae_optimizer": ae_optimizer, "cvae_optimizer": cvae_optimizer}

    def compile(self, ae_optimizer: keras.optimizers.Optimizer,
                cvae_optimizer: keras.optimizers.Optimizer, **kwargs) -> None:
        """theta's optimizer is Keras's `optimizer` (its step count is the scheduled-sampling
        step i), phi's is `cvae_optimizer`; a new compile makes new phase functions."""
        super().compile(optimizer=ae_optimizer, **kwargs)
        self.cvae_optimizer = cvae_optimizer
        self._phase_functions = None

    @property
    def step_counter(self) -> tf.Variable:
        return self.global_step

    def keep_rate(self) -> tf.Tensor:
        """Scheduled sampling's probability of feeding z~ (0 without scheduled sampling)."""
        k = self.config.scheduled_sampling_steps
        return schedules.keep_rate(self.optimizer.iterations, k) if k else tf.constant(0.0)

    # ----- phase switching ----------------------------------------------------------------
    def phases(self) -> tuple[str, ...]:
        return (JOINT,) if self.config.joint_phases else (AE, CVAE)

    def phase_at(self, step: int, steps_per_epoch: int) -> str:
        """The phase of global step `step`: AE first, then alternating every period."""
        if self.config.joint_phases:
            return JOINT
        return (AE, CVAE)[(step // self.phase_period(steps_per_epoch)) % 2]

    def phase_period(self, steps_per_epoch: int) -> int:
        """Steps per phase: model.phase_period_steps, else phase_period_epochs epochs."""
        return (self.config.phase_period_steps
                or max(1, self.config.phase_period_epochs) * steps_per_epoch)

    def make_train_function(self, force: bool = False) -> Callable:
        """One Keras train function per phase instead of Keras's single cached one. Keras
        binds `self.train_step` when it makes the function, so each is bound to its phase."""
        if self._phase_functions is not None and self.train_function is not None \
                and not force:
            return self.train_function
        functions = {}
        for phase in self.phases():
            self.train_step = functools.partial(self.phase_train_step, phase)
            try:
                super().make_train_function(force=True)
            finally:
                del self.train_step
            functions[phase] = self.train_function
        self._phase_functions = functions
        self.set_phase(self.phase)
        return self.train_function

    def set_phase(self, phase: str) -> None:
        if phase not in self.phases():
            raise ValueError(f"phase {phase!r} is not one of {self.phases()}")
        self.phase = phase
        if self._phase_functions is not None:
            self.train_function = self._phase_functions[phase]

    # ----- the two modules -----------------------------------------------------------------
    def posterior_path(self, context: tf.Tensor, target_vectors: tf.Tensor
                       ) -> dict[str, tf.Tensor | Moments]:
        """z~ = f(x), the prior and posterior moments of e, e ~ q(e | z~, c), z = g(e, c)."""
        z_tilde = tf.cast(self.target_encoder(target_vectors), tf.float32)
        prior = self.cvae_prior(context)
        posterior = self.cvae_posterior(
            tf.concat([tf.cast(z_tilde, context.dtype), context], -1))
        self.record_moments("utt", q_mean=posterior[0], p_mean=prior[0], p_var=prior[1])
        e = sample(*posterior, self.latent_seed)
        z = self.generator(tf.concat([tf.cast(e, context.dtype), context], -1))
        return {"z_tilde": z_tilde, "prior": prior, "posterior": posterior, "e": e, "z": z}

    def cvae(self, context: tf.Tensor, target_vectors: tf.Tensor
             ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """z~, KL per dimension [N, D], the posterior-path z = g(e, c), and 1/2||z - z~||^2."""
        path = self.posterior_path(context, target_vectors)
        z_tilde, z = path["z_tilde"], path["z"]
        gen_error = 0.5 * tf.reduce_sum(tf.square(z - tf.stop_gradient(z_tilde)), -1)
        return z_tilde, gaussian_kl(*path["posterior"], *path["prior"]), z, gen_error

    def condition(self, context: tf.Tensor, z: tf.Tensor) -> tf.Tensor:
        return tf.concat([context, tf.cast(z, context.dtype)], -1)

    def utterance_latent(self, context: tf.Tensor, target: tf.Tensor,
                         conversation: tf.Tensor | None, training: bool
                         ) -> tuple[tf.Tensor, tf.Tensor]:
        """The posterior path, used for evaluation and diagnostics."""
        _, kl, z, _ = self.cvae(context, target)
        return self.condition(context, z), kl

    def response_log_weights(self, context: tf.Tensor, target_vectors: tf.Tensor,
                             targets: tf.Tensor, conversation: tf.Tensor | None
                             ) -> tf.Tensor:
        """Over e, with q(e | z~, c) as the proposal and z = g(e, c) (the posterior path
        that evaluation's bound uses)."""
        path = self.posterior_path(context, target_vectors)
        nll = self.decoder.nll_per_row(self.condition(context, path["z"]),
                                       teacher_inputs(targets), targets)
        return (-nll + log_density(path["e"], *path["prior"])
                - log_density(path["e"], *path["posterior"]))

    def generation_condition(self, context: tf.Tensor, conversation: tf.Tensor | None,
                             sample_latent: bool = True) -> tf.Tensor:
        """e ~ p(e | c) (or its mean), z = g(e, c)."""
        p_mean, p_var = self.cvae_prior(context)
        e = sample(p_mean, p_var, self.latent_seed) if sample_latent else p_mean
        return self.condition(context, self.generator(
            tf.concat([tf.cast(e, context.dtype), context], -1)))

    def prior_moments(self, context: tf.Tensor, conversation: tf.Tensor | None) -> Moments:
        return self.cvae_prior(context)

    def latent_samples(self, utterances: tf.Tensor, response: tf.Tensor | None = None,
                       samples: int = 1) -> tf.Tensor:
        """z = g(e, c) with e from p(e | c), or from q(e | z~, c) given the response."""
        context, _ = self.context_state(utterances)
        if response is None:
            mean, var = self.cvae_prior(context)
        else:
            target = self.utterance_encoder(tf.cast(response, tf.int32))
            z_tilde = self.target_encoder(target)
            mean, var = self.cvae_posterior(tf.concat([tf.cast(z_tilde, context.dtype),
                                                       context], -1))
        context = tf.repeat(context, samples, 0)
        e = sample(tf.repeat(mean, samples, 0), tf.repeat(var, samples, 0), self.latent_seed)
        return self.generator(tf.concat([tf.cast(e, context.dtype), context], -1))

    # ----- steps ----------------------------------------------------------------------------
    def co_terms(self, batch: Batch, phase: str, training: bool) -> Terms:
        """Per-replica sums for `phase` ('ae'/'joint' decode; 'cvae' does not) and the
        losses, each divided by its global count (words or responses)."""
        encoded = self.encode_context(batch, training)
        context, targets = encoded["context"], encoded["targets"]
        z_tilde, kl_dims, z, gen_error = self.cvae(context, encoded["target_vectors"])
        kl = tf.reduce_sum(kl_dims, -1)  # [N]
        responses = tf.cast(tf.shape(targets)[0], tf.float32)
        words = tf.reduce_sum(tf.cast(targets != 0, tf.float32))
        terms = {"kl": tf.reduce_sum(kl), "gen_error": tf.reduce_sum(gen_error),
                 "responses": responses, "words": words}
        terms["cvae_loss"] = ((terms["kl"] + terms["gen_error"])
                              / tf.maximum(global_sum(responses), 1.0))
        if phase == CVAE:
            return terms
        if training:
            keep = self.keep_rate()
            coin = keras.random.uniform(tf.shape(kl), seed=self.schedule_seed) < keep
            z = tf.where(coin[:, None], z_tilde, z)
            terms["keep_rate"] = keep
        decoded = self.decode_terms(self.condition(context, z), targets, training)
        terms.update(nll=decoded["nll"], padding_fraction=decoded["padding_fraction"])
        terms["ae_sum"] = decoded["nll"] + tf.reduce_sum(tf.maximum(self.config.co_alpha, kl))
        terms["ae_loss"] = terms["ae_sum"] / tf.maximum(global_sum(words), 1.0)
        return terms

    def train_step(self, batch: Batch) -> dict[str, tf.Tensor]:
        return self.phase_train_step(self.phase, batch)

    def phase_train_step(self, phase: str, batch: Batch) -> dict[str, tf.Tensor]:
        with tf.GradientTape(persistent=True) as tape:
            terms = self.co_terms(batch, phase, training=True)
            ae_scaled = (self.optimizer.scale_loss(terms["ae_loss"]) if phase != CVAE
                         else None)
            cvae_scaled = (self.cvae_optimizer.scale_loss(terms["cvae_loss"])
                           if phase != AE else None)
        if phase != CVAE:
            theta = self.ae_variables()
            self.optimizer.apply(tape.gradient(ae_scaled, theta), theta)
        if phase != AE:
            phi = self.cvae_variables()
            self.cvae_optimizer.apply(tape.gradient(cvae_scaled, phi), phi)
        del tape
        self.global_step.assign_add(1)
        self._update_co_trackers(terms, phase)
        results = {name: self.trackers[name].result() for name in PHASE_METRICS[phase]}
        # A key that is not a metric makes Keras keep these logs as they are, instead of
        # replacing them by every tracker (those of the other phase would read 0.0).
        results["phase"] = tf.constant(PHASE_IDS[phase])
        return self._results(results)

    def test_step(self, batch: Batch) -> dict[str, tf.Tensor]:
        """Every tracker; "loss" is the per-word bound (reconstruction NLL + KL)."""
        terms = self.co_terms(batch, AE, training=False)
        self._update_co_trackers(terms, AE, evaluation=True)
        return self._results()

    def _update_co_trackers(self, terms: Terms, phase: str, evaluation: bool = False
                            ) -> None:
        words, responses = terms["words"], terms["responses"]
        per_word = 1.0 / tf.maximum(words, 1.0)
        per_response = 1.0 / tf.maximum(responses, 1.0)
        t = self.trackers
        t["words"].update_state(words)
        t["kl_utt"].update_state(terms["kl"] * per_word, sample_weight=words)
        t["kl_response"].update_state(terms["kl"] * per_response, sample_weight=responses)
        t["gen_error"].update_state(terms["gen_error"] * per_response,
                                    sample_weight=responses)
        t["cvae_loss"].update_state((terms["kl"] + terms["gen_error"]) * per_response,
                                    sample_weight=responses)
        if phase == CVAE:
            t["loss"].update_state((terms["kl"] + terms["gen_error"]) * per_response,
                                   sample_weight=responses)
            return
        t["nll"].update_state(terms["nll"] * per_word, sample_weight=words)
        t["ae_loss"].update_state(terms["ae_sum"] * per_word, sample_weight=words)
        t["padding_fraction"].update_state(terms["padding_fraction"], sample_weight=words)
        t["keep_rate"].update_state(terms.get("keep_rate", self.keep_rate()))
        if evaluation:
            bound = (terms["nll"] + terms["kl"]) * per_word
            t["nll_bound"].update_state(bound, sample_weight=words)
            t["ppl"].update_state(terms["nll"] + terms["kl"], words)
            t["loss"].update_state(bound, sample_weight=words)
            return
        loss = terms["ae_sum"] * per_word
        if phase == JOINT:
            loss += (terms["kl"] + terms["gen_error"]) * per_response
        t["loss"].update_state(loss, sample_weight=words)
