"""The one model factory: build, restore and compile a model for train, evaluate, export,
benchmarks and tests (precision, optimizer, learning-rate schedule, XLA from the config)."""
import logging
from collections.abc import Callable

import keras
import tensorflow as tf

from keras_models import build_model, schedules
from keras_models.conversation_model import ConversationModel
from keras_models.optimizers import FusedAdam
from keras_models.types import Batch
from pipeline import configs

log = logging.getLogger("dialogvae")


def learning_rate(config: configs.ExperimentConfig, total_steps: int | None = None
                  ) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The configured rate or schedule. `total_steps` None is a reload (evaluation, export)
    that takes no step: a schedule then only has to exist, because Keras keeps a float
    rate in a variable of its own and a schedule in none, so the optimizer's saved
    variables match only if the reload builds the same kind."""
    t = configs.validate(config).train  # the one check of every value (a config built in
    # code reaches here without make_config)
    if not t.warmup_steps and t.lr_decay == "constant":
        return t.learning_rate
    if total_steps is None:
        total_steps = t.warmup_steps + 1
    try:
        return schedules.WarmupDecay(t.learning_rate, t.warmup_steps, total_steps,
                                     t.lr_decay, t.lr_final_ratio)
    except ValueError as e:
        raise configs.ConfigError(str(e)) from None


def make_optimizer(config: configs.ExperimentConfig, total_steps: int | None = None,
                   step: Callable[[], tf.Tensor] | None = None) -> keras.optimizers.Optimizer:
    """Adam at the configured rate or schedule: the global batch is split over replicas
    and the learning rate is deliberately not rescaled with their number. `step` (a
    callable) is the step a schedule runs on, when not the optimizer's own count."""
    rate = learning_rate(config, total_steps)
    if step is not None and callable(rate):
        rate = schedules.OnStep(rate, step)
    optimizer = FusedAdam(rate, clipnorm=config.train.clipnorm or None)
    if config.runtime.mixed_precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def compile_model(config: configs.ExperimentConfig, vocab_size: int, batch: Batch,
                  vocab: list[str] | None = None, total_steps: int | None = None
                  ) -> ConversationModel:
    """The one model factory (train, restore, benchmarks, tests): the model of `config`
    under its runtime precision, every variable and optimizer built (call inside the
    strategy scope), compiled with its runtime XLA setting; word vectors loaded when
    configured and `vocab` is given (a reload passes none: its weights come from a
    checkpoint). `total_steps` (the planned run) sets the learning-rate schedule; None for
    a reload. The global Keras dtype policy is left as it was."""
    configs.validate(config)  # a config built in code reaches here without make_config
    previous = keras.mixed_precision.global_policy()
    if config.runtime.mixed_precision != "none":
        keras.mixed_precision.set_global_policy(config.runtime.mixed_precision)
    try:
        model = build_model(config.model, vocab_size, seed=config.train.seed)
        model.build_from_batch(batch)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    if config.model.embeddings_path and vocab is not None:
        load_word_vectors(model, config.model.embeddings_path, vocab)
    optimizers = model.build_optimizers(
        lambda step=None: make_optimizer(config, total_steps, step))
    model.compile(**optimizers, jit_compile=config.runtime.jit_compile)
    return model


def load_word_vectors(model: ConversationModel, path: str, vocab: list[str]) -> None:
    """Initialises the embedding rows of words found in a word2vec text/binary file."""
    from gensim.models import KeyedVectors
    vectors = KeyedVectors.load_word2vec_format(path, binary=not path.endswith(".txt"))
    matrix = model.embedding.embeddings.numpy()
    if vectors.vector_size != matrix.shape[1]:
        raise ValueError(f"model.embeddings_path {path}: {vectors.vector_size}-d vectors, "
                         f"model.embedding_dim is {matrix.shape[1]}")
    found = 0
    for i, word in enumerate(vocab):
        if word in vectors.key_to_index:
            matrix[i] = vectors[word]
            found += 1
    model.embedding.embeddings.assign(matrix)
    log.info("embeddings: %d of %d words initialised from %s", found, len(vocab), path)
