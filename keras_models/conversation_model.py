"""The hierarchical encoder-decoder all conversation models share, with custom train/test steps.

A batch is {"utterances": int32 [B, T, L]}: T utterances per slice, each ending with </s>,
padded with 0 (absent utterances are all-0 rows). Every utterance after the first is a
response, decoded from the context state after the utterance before it.

Subclasses (HRED, VHRED, VHCR) add latent variables by overriding
`conversation_latent`, `context_inputs` and `utterance_latent`.
"""
import keras
import tensorflow as tf

from keras_models import losses, schedules
from keras_models.config import ModelConfig
from keras_models.inference import InferenceMixin, teacher_inputs
from keras_models.layers import (
    BagOfWords,
    ContextEncoder,
    UtteranceDecoder,
    UtteranceDrop,
    UtteranceEncoder,
    word_drop,
)
from keras_models.metrics import NllBoundPerplexity
from keras_models.types import Batch, ConversationLatent, Moments, OptimizerFactory, Terms
from preprocessing.constants import EOS_ID

# What a step reports, all kept in trackers (a value returned without a tracker
# would show 0.0 in Keras's epoch logs).
PER_WORD = ("nll", "kl_utt", "kl_conv", "bow", "nll_bound")


def make_tracker(name: str) -> keras.metrics.Metric:
    """The metric behind one reported name: a count of words, the bound's perplexity, or a
    (weighted) mean."""
    if name == "words":
        return keras.metrics.Sum(name=name)
    if name == "ppl":
        return NllBoundPerplexity()
    return keras.metrics.Mean(name=name)


class ConversationModel(InferenceMixin, keras.Model):
    latent_names = ()  # e.g. ("utt",) or ("conv", "utt")
    # What this class's steps report, in order (each a tracker, see make_tracker).
    TRACKERS = ("loss", *PER_WORD, "kl_weight", "padding_fraction", "words", "ppl")

    def __init__(self, config: ModelConfig, vocab_size: int, seed: int = 1,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.config = config
        self.vocab_size = vocab_size
        # N(0, 1) as PyTorch's nn.Embedding (the VHCR authors' code): Keras's uniform
        # +-0.05 gives near-identical utterance vectors at the start, and the encoders
        # saturate before they learn to tell utterances apart (BUILD.md, "Conditioning").
        self.embedding = keras.layers.Embedding(
            vocab_size, config.embedding_dim, name="embedding",
            embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0,
                                                                  seed=self.seed_for(7)))
        self.utterance_encoder = UtteranceEncoder(self.embedding, config.utterance_units,
                                                  length_groups=config.length_groups,
                                                  name="utterance_encoder")
        self.context_encoder = ContextEncoder(config.context_units, name="context_encoder")
        self.decoder = UtteranceDecoder(self.embedding, config.decoder_units, vocab_size,
                                        length_groups=config.length_groups,
                                        softmax_cutoffs=config.softmax_cutoffs,
                                        condition_every_step=(
                                            config.decoder_conditioning == "every_step"),
                                        init_activation=config.decoder_init_activation,
                                        name="decoder")
        self.utterance_drop = (UtteranceDrop(config.utterance_drop,
                                             config.utterance_drop_form,
                                             seed=self.seed_for(17), name="utterance_drop")
                               if config.utterance_drop else None)
        self.bag_of_words = (BagOfWords(vocab_size, config.mlp_units, name="bag_of_words")
                             if config.bow_loss else None)
        self.word_drop_seed = keras.random.SeedGenerator(self.seed_for(23))
        self.latent_seed = keras.random.SeedGenerator(self.seed_for(29))
        self.trackers = {name: make_tracker(name) for name in self.TRACKERS}

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values())

    def seed_for(self, offset: int) -> int:
        """The seed of one random stream (initializer, noise): fixed per stream, and
        different for every run seed (train.seed), so seeds differ in initialisation and
        noise as well as in data order; seed 1 keeps the streams' historical seeds."""
        return offset + 1000 * (self.seed - 1)

    # ----- hooks for the latent-variable models -------------------------------------
    def conversation_latent(self, vectors: tf.Tensor, mask: tf.Tensor, training: bool,
                            sample_latent: bool = True) -> ConversationLatent | None:
        """VHCR's z_conv: returns (z [B, Dc], kl per dim [B, Dc], its posterior's (mean,
        variance)) or None; z is the posterior mean when not `sample_latent`."""
        return None

    def context_inputs(self, vectors: tf.Tensor, conversation: ConversationLatent | None
                       ) -> tuple[tf.Tensor, tf.Tensor | None]:
        """(inputs of the context RNN, its initial state or None)."""
        return vectors, None

    def utterance_latent(self, context: tf.Tensor, target: tf.Tensor,
                         conversation: tf.Tensor | None, training: bool
                         ) -> tuple[tf.Tensor, tf.Tensor | None]:
        """(decoder conditioning [N, D], kl per dim [N, Dz] or None) for N responses."""
        return context, None

    def bow_input(self, condition: tf.Tensor) -> tf.Tensor:
        """What the bag-of-words head reads (model.bow_input): the whole decoder condition,
        or the response latent alone, which every latent model puts last in it."""
        if self.config.bow_input == "latent":
            return condition[:, -self.config.latent_dim:]
        return condition

    def generation_condition(self, context: tf.Tensor, conversation: tf.Tensor | None,
                             sample_latent: bool = True) -> tf.Tensor:
        """Decoder conditioning for a new response: latents drawn from their priors, or
        the prior means when not `sample_latent` (deterministic "best" responses)."""
        return context

    def prior_moments(self, context: tf.Tensor, conversation: tf.Tensor | None
                      ) -> Moments | None:
        """(mean, variance) of the response latent's prior, or None without a latent."""
        return None

    # ----- diagnostics: latent moments, collected only in eager diagnostic calls ------
    _moments = None

    def record_moments(self, latent: str, **tensors: tf.Tensor) -> None:
        if self._moments is not None:
            self._moments.setdefault(latent, {}).update(tensors)

    def latent_moments(self, batch: Batch) -> dict[str, dict[str, tf.Tensor]]:
        """{latent: {"q_mean", "p_mean", "p_var" ...}} over a batch (eager, no training)."""
        self._moments = {}
        try:
            self.compute_terms(batch, training=False)
            return self._moments
        finally:
            self._moments = None

    # ----- the shared forward pass ---------------------------------------------------
    def encode_utterances(self, utterances: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """[B, T, L] -> ([B, T, H] vectors, [B, T] mask); only real utterances are encoded."""
        shape = tf.shape(utterances)
        flat = tf.reshape(utterances, [-1, shape[2]])
        mask = utterances[:, :, 0] != 0
        rows = tf.where(tf.reshape(mask, [-1]))
        vectors = self.utterance_encoder(tf.gather_nd(flat, rows))
        dense = tf.scatter_nd(rows, vectors, [shape[0] * shape[1], tf.shape(vectors)[-1]])
        return tf.reshape(dense, [shape[0], shape[1], -1]), mask

    def encode_context(self, batch: Batch, training: bool = False) -> dict:
        """The hierarchical encoder: for each of the N responses in the batch, its context
        state [N, H], its own utterance vector [N, U] and its token ids [N, L]."""
        utterances = tf.cast(batch["utterances"], tf.int32)
        vectors, mask = self.encode_utterances(utterances)
        context_in = vectors
        if self.utterance_drop is not None:
            context_in = self.utterance_drop(context_in, training=training)
        # The authors' form drops the z_conv posterior's inputs too; ours never does.
        dropped_posterior = (self.utterance_drop is not None
                             and self.utterance_drop.form == "position")
        conversation = self.conversation_latent(context_in if dropped_posterior else vectors,
                                                mask, training)
        context_in, initial = self.context_inputs(context_in, conversation)
        context = self.context_encoder(context_in, mask, initial_state=initial)

        responses = tf.where(mask[:, 1:])  # (b, t): utterance t+1 answers context t
        return {
            "context": tf.gather_nd(context[:, :-1], responses),
            "target_vectors": tf.gather_nd(vectors[:, 1:], responses),
            "targets": tf.gather_nd(utterances[:, 1:], responses),
            "conversation": conversation,  # None, or (z_conv [B, Dc], kl per dim [B, Dc])
            "batch_index": responses[:, 0],
            "conversations": tf.cast(tf.shape(utterances)[0], tf.float32),
        }

    def decode_terms(self, condition: tf.Tensor, targets: tf.Tensor,
                     training: bool = False) -> Terms:
        """Teacher-forced decoding of `targets` [N, L] from `condition` [N, D]: summed NLL,
        word and response counts, padding fraction, and the bag-of-words loss."""
        inputs = teacher_inputs(targets)
        if training:
            inputs = word_drop(inputs, self.config.word_drop, self.word_drop_seed)
        nll, words = self.decoder(condition, inputs, targets)
        terms = {
            "nll": nll, "words": words,
            "responses": tf.cast(tf.shape(targets)[0], tf.float32),
            "padding_fraction": 1.0 - words / tf.cast(tf.size(targets), tf.float32),
        }
        if self.bag_of_words is not None:
            terms["bow"] = self.bag_of_words(
                self.bow_input(condition),
                tf.where(targets == EOS_ID, tf.zeros_like(targets), targets))
        return terms

    def compute_terms(self, batch: Batch, training: bool = False) -> Terms:
        """Per-replica sums: nll, words, kl_<latent> ([D] per-dim sums), counts, bow."""
        encoded = self.encode_context(batch, training)
        conversation = encoded["conversation"]
        condition, kl_utt = self.utterance_latent(
            encoded["context"], encoded["target_vectors"],
            None if conversation is None else tf.gather(conversation[0],
                                                        encoded["batch_index"]),
            training)
        terms = self.decode_terms(condition, encoded["targets"], training)
        terms["conversations"] = encoded["conversations"]
        if kl_utt is not None:
            terms["kl_utt"] = tf.reduce_sum(kl_utt, 0)
        if conversation is not None:
            terms["kl_conv"] = tf.reduce_sum(conversation[1], 0)
        return terms

    def loss_from_terms(self, terms: Terms, training: bool
                        ) -> tuple[tf.Tensor, Terms, tf.Tensor]:
        """(this replica's share of the global per-word loss, local sums to report).

        The loss is divided by the *global* word count, so summing gradients over
        replicas gives exactly the one-device gradient of the global batch.
        """
        cfg = self.config
        beta = (schedules.kl_weight(self.step_counter, cfg.kl_annealing_steps)
                if training else tf.constant(1.0))
        sums = {"nll": terms["nll"], "kl_utt": 0.0, "kl_conv": 0.0, "bow": 0.0}
        kl_in_loss = 0.0
        for name, count in (("kl_utt", "responses"), ("kl_conv", "conversations")):
            if name in terms:
                sums[name] = tf.reduce_sum(terms[name])
                kl_in_loss += losses.floored_kl(terms[name], terms[count],
                                                cfg.free_bits_per_dim, cfg.free_bits_total)
        sums["bow"] = terms.get("bow", 0.0)
        sums["nll_bound"] = sums["nll"] + sums["kl_utt"] + sums["kl_conv"]
        sums["loss"] = sums["nll"] + beta * kl_in_loss + sums["bow"]
        loss = sums["loss"] / tf.maximum(losses.global_sum(terms["words"]), 1.0)
        return loss, sums, beta

    def _update_trackers(self, terms: Terms, sums: Terms, beta: tf.Tensor) -> None:
        """Per-word means weighted by words; Keras sums metric variables over replicas."""
        words = terms["words"]
        per_word = 1.0 / tf.maximum(words, 1.0)
        for name in ("loss", *PER_WORD):
            self.trackers[name].update_state(sums[name] * per_word, sample_weight=words)
        self.trackers["kl_weight"].update_state(beta)
        self.trackers["padding_fraction"].update_state(terms["padding_fraction"],
                                                       sample_weight=words)
        self.trackers["words"].update_state(words)
        self.trackers["ppl"].update_state(sums["nll_bound"], words)

    def train_step(self, batch: Batch) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            terms = self.compute_terms(batch, training=True)
            loss, sums, beta = self.loss_from_terms(terms, training=True)
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        self._update_trackers(terms, sums, beta)
        return self._results()

    def _results(self, results: dict[str, tf.Tensor] | None = None
                 ) -> dict[str, tf.Tensor]:
        """What a step returns: every tracker's result unless `results` is given."""
        if results is None:
            results = {name: t.result() for name, t in self.trackers.items()}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras reduces step outputs with strategy.reduce(MEAN, axis=0) under
            # multi-worker, which fails on scalars (tensorflow #72388). The trackers are
            # already synchronised, so a [1]-shaped copy reduces to the same value.
            results = {name: tf.reshape(value, [1]) for name, value in results.items()}
        return results

    def test_step(self, batch: Batch) -> dict[str, tf.Tensor]:
        terms = self.compute_terms(batch, training=False)
        _, sums, beta = self.loss_from_terms(terms, training=False)
        self._update_trackers(terms, sums, beta)
        return self._results()

    def call(self, batch: Batch, training: bool = False) -> Terms:
        return self.compute_terms(batch, training=training)

    def _maybe_symbolic_build(self, iterator: object = None,
                              data_batch: Batch | None = None) -> None:
        # Every variable is created up front (build_from_batch + optimizer.build) inside
        # the strategy scope. Keras's symbolic build would reduce a dict batch, which
        # fails under MultiWorkerMirroredStrategy, so skip it when there is nothing to build.
        if self.built and self.optimizer is not None and self.optimizer.built:
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    @property
    def step_counter(self) -> tf.Variable:
        """The global training step (one per train_step, whatever the model optimises)."""
        return self.optimizer.iterations

    def build_optimizers(self, make_optimizer: OptimizerFactory
                         ) -> dict[str, keras.optimizers.Optimizer]:
        """Creates and builds the optimizer(s) up front, inside the caller's strategy scope
        (a lazily built optimizer fails under MirroredStrategy, keras #23085). Returns the
        `compile` arguments that pass them."""
        optimizer = make_optimizer()
        optimizer.build(self.trainable_variables)
        return {"optimizer": optimizer}

    def build_from_batch(self, batch: Batch) -> None:
        """Creates every variable (inside the caller's strategy scope) before fit."""
        self.compute_terms(batch, training=False)
        self.built = True
