"""Rebuilds a trained model from its model_dir (config.yaml, vocab.txt, checkpoints/).

Every tool after training (evaluate, latent, serving export, chat) starts here, so a model
is always rebuilt with the exact config and vocabulary it was trained with.
"""
import dataclasses
import os

import keras
import tensorflow as tf
import yaml

from keras_models.conversation_model import ConversationModel
from keras_models.decoding import DecodeOptions, response_tokens
from keras_models.types import Batch
from pipeline import configs, data
from pipeline.training.factory import compile_model
from pipeline.training.run_record import load as load_record
from pipeline.training.run_record import resolve_data_dir
from preprocessing.cli import ToolError
from preprocessing.codec import Codec
from preprocessing.constants import EOS_ID, VOCAB_FILE, load_vocab

CHECKPOINTS = {"best": "checkpoints/best.weights.h5", "last": "checkpoints/last.weights.h5",
               "backup": "backup/latest.weights.h5"}


class CheckpointError(ToolError, ValueError):
    """A weights file that cannot be loaded; the message names it and the way out."""


def load_weights(model: keras.Model, path: str) -> None:
    """model.load_weights, with an error naming the file when it is truncated, not a Keras
    weights file, or made by another model (h5py and Keras name neither)."""
    try:
        model.load_weights(path)
    except (OSError, ValueError, KeyError) as e:
        detail = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise CheckpointError(
            f"{path} cannot be loaded ({detail}): it is truncated, or not a .weights.h5 "
            f"file of this model and config. Use another checkpoint (--checkpoint last | "
            f"backup), or start a new --model_dir.") from None


@dataclasses.dataclass
class TrainedRun:
    model: ConversationModel
    config: configs.ExperimentConfig
    vocab: list[str]
    checkpoint: str
    model_dir: str
    # The preprocessing options of the data it was trained on (run.json "options"): the
    # limits evaluation text, the latent tools and the SavedModel apply to new text.
    data_options: dict = dataclasses.field(
        default_factory=lambda: dict(data.DEFAULT_DATA_OPTIONS))

    @property
    def max_utterance_words(self) -> int:
        return int(self.data_options.get("max_utterance_words",
                                         data.DEFAULT_DATA_OPTIONS["max_utterance_words"]))

    def decode_options(self, **options: object) -> DecodeOptions:
        """DecodeOptions for this run: responses as long as its data's utterances."""
        return DecodeOptions(response_tokens(self.max_utterance_words), **options)

    @property
    def codec(self) -> Codec:
        """Text <-> ids as the run's data was made (its vocabulary and word cap)."""
        return Codec(self.vocab, self.max_utterance_words)


def data_options(model_dir: str, config: configs.ExperimentConfig) -> dict:
    """The preprocessing options a run was trained on: from its run record, else from its
    data folder's run.json, else the preprocessing defaults."""
    options = ((load_record(model_dir) or {}).get("data") or {}).get("options")
    if options is None:
        return data.data_options(config.data.data_dir)
    return {**data.DEFAULT_DATA_OPTIONS, **options}


def load_config(model_dir: str) -> configs.ExperimentConfig:
    """The config a run was trained with (its config.yaml), its data path resolved."""
    path = os.path.join(model_dir, "config.yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--model_dir {model_dir}: no config.yaml; is it the "
                                f"--model_dir of a `python -m pipeline.train` run?")
    with open(path, encoding="utf-8") as f:
        config = configs.ExperimentConfig()
        config.override(yaml.safe_load(f), is_strict=True)
    # A relative data path resolves from where the run was made (its run record).
    config.override({"data": {"data_dir": resolve_data_dir(model_dir, config.data.data_dir)}})
    return config


def checkpoint_path(model_dir: str, checkpoint: str = "best") -> str:
    """`best`, `last`, `backup` or a path; `best` falls back to `last`, then `backup`."""
    if checkpoint not in CHECKPOINTS:
        if not os.path.isfile(checkpoint):
            raise FileNotFoundError(f"--checkpoint {checkpoint}: no such file")
        return checkpoint
    order = {"best": ("best", "last", "backup"), "last": ("last", "backup"),
             "backup": ("backup",)}[checkpoint]
    for name in order:
        path = os.path.join(model_dir, CHECKPOINTS[name])
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"--model_dir {model_dir} has no {checkpoint} checkpoint "
                            f"({', '.join(CHECKPOINTS[n] for n in order)}); train it first")


def placeholder_batch() -> Batch:
    """Two 2-utterance slices: enough to create every variable of any model."""
    return {"utterances": tf.constant([[[4, EOS_ID], [5, EOS_ID]]] * 2, tf.int32)}


def load_run(model_dir: str, checkpoint: str = "best") -> TrainedRun:
    """The trained model (weights and optimizer state loaded), its config and vocab."""
    config = load_config(model_dir)
    vocab = load_vocab(os.path.join(model_dir, VOCAB_FILE))
    model = compile_model(config, len(vocab), placeholder_batch())
    path = checkpoint_path(model_dir, checkpoint)
    load_weights(model, path)
    return TrainedRun(model, config, vocab, path, model_dir, data_options(model_dir, config))
