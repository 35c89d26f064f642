"""Subprocess for test_distribute: one optimizer step on 1 device vs MirroredStrategy over
2 logical CPUs, from the same weights on the same global batch. Prints JSON.

The CPU must be split before TensorFlow starts its devices, hence a separate process.
Latent sampling is replaced by the mean so that both runs are deterministic.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from pipeline.training import distribute  # noqa: E402

distribute.split_cpu(2)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_models.vhcr  # noqa: E402
import keras_models.vhred  # noqa: E402
from keras_models import build_model  # noqa: E402
from keras_models.optimizers import FusedAdam  # noqa: E402
from pipeline import configs, data  # noqa: E402
from tests.helpers import TINY_MODEL  # noqa: E402


def deterministic_sample(mean, variance, seed_generator=None):
    return mean


keras_models.vhred.sample = keras_models.vhcr.sample = deterministic_sample


def one_step(strategy, config, vocab_size, batch, weights):
    with strategy.scope():
        model = build_model(config.model, vocab_size)
        model.build_from_batch(batch)
        optimizer = FusedAdam(1e-2)  # the optimizer pipeline.train uses
        optimizer.build(model.trainable_variables)
        model.compile(optimizer=optimizer)
        if weights is not None:
            model.set_weights(weights)
    before = [w.copy() for w in model.get_weights()]
    logs = model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, steps_per_epoch=1,
                     verbose=0).history
    return before, model.get_weights(), logs


def main(data_dir, architecture):
    config = configs.make_config("vhred")
    config.override({"model": {"architecture": architecture, "free_bits_per_dim": 0.05,
                               **TINY_MODEL}})
    vocab_size = len(data.load_vocabulary(data_dir))
    batch = next(iter(data.make_dataset(data_dir, "train", 8, training=False)))
    before, single, single_logs = one_step(tf.distribute.get_strategy(), config, vocab_size,
                                           batch, None)
    mirrored = distribute.make_strategy("mirrored", 2)
    _, multi, multi_logs = one_step(mirrored, config, vocab_size, batch, before)
    print(json.dumps({
        "replicas": mirrored.num_replicas_in_sync,
        "max_update": max(float(np.abs(a - b).max()) for a, b in zip(single, before)),
        "max_difference": max(float(np.abs(a - b).max()) for a, b in zip(single, multi)),
        "loss_single": single_logs["loss"][0], "loss_mirrored": multi_logs["loss"][0],
        "nll_single": single_logs["nll"][0], "nll_mirrored": multi_logs["nll"][0],
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
