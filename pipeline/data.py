"""tf.data input: preprocessing's TFRecords -> padded, length-bucketed batches.

A batch is {"utterances": int32 [B, T, L]}: each utterance ends with </s>, 0 pads.
Slices are bucketed by their longest utterance, because the decoder GRU runs over every
padded word position of every response (the output projection only over real ones).
"""
import json
import os

import tensorflow as tf

from preprocessing import schema
from preprocessing.cli import ToolError
from preprocessing.codec import with_eos
from preprocessing.constants import (
    CO_SLICE_WORDS,
    MANIFEST,
    MAX_UTTERANCE_WORDS,
    VOCAB_FILE,
    load_vocab,
)

BUCKET_BOUNDARIES = (8, 12, 16, 20, 24, 28, 32)  # longest utterance incl. </s>


class DataError(ToolError):
    """Preprocessed data that cannot be used; the message names the file and the fix."""


class MissingDataError(DataError, FileNotFoundError):
    """The preprocessed data is absent or incomplete; the message says how to create it."""


def corrupt_shard_error(data_dir: str, error: tf.errors.OpError) -> DataError:
    """A DataError naming the TFRecord shard(s) of `data_dir` that cannot be read (TF's
    DataLossError names only a byte offset)."""
    bad = []
    for path in sorted(tf.io.gfile.glob(os.path.join(data_dir, "*", "*.tfrecord*"))):
        try:
            for _ in tf.data.TFRecordDataset(path):
                pass
        except tf.errors.DataLossError as e:
            bad.append(f"{path} ({e.message.splitlines()[0]})")
    where = "; ".join(bad) if bad else f"a shard under {data_dir} ({error.message})"
    return DataError(f"corrupt TFRecord data: {where}. Recreate the folder with "
                     f"python -m preprocessing.run --overwrite --output {data_dir} (and the "
                     f"same --corpus and options, see its run.json)")


def check_data_dir(data_dir: str) -> str:
    """Raises MissingDataError unless `data_dir` holds a finished preprocessing run."""
    if not os.path.isfile(os.path.join(data_dir, MANIFEST)):
        if os.path.isdir(data_dir) and os.listdir(data_dir):  # a raw corpus, perhaps
            name = os.path.basename(os.path.normpath(data_dir)) or "corpus"
            raise MissingDataError(
                f"{data_dir!r} holds no finished preprocessing run ({MANIFEST} is missing) "
                f"but other files (a raw corpus?). Preprocess it into a folder of its own "
                f"with:\n  python -m preprocessing.run --corpus CORPUS --input {data_dir} "
                f"--output data/{name}")
        raise MissingDataError(
            f"{data_dir!r} holds no finished preprocessing run ({MANIFEST} is missing). "
            f"Create it with:\n  python -m preprocessing.run --corpus dailydialog "
            f"--output {data_dir}")
    return data_dir


def read_manifest(data_dir: str) -> dict | None:
    """A finished preprocessing run's run.json (corpus, options), or None without one."""
    path = os.path.join(data_dir, MANIFEST)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# The preprocessing defaults, for data made before run.json stored its options.
DEFAULT_DATA_OPTIONS = {"max_utterance_words": MAX_UTTERANCE_WORDS,
                        "max_slice_words": CO_SLICE_WORDS}


def data_options(data_dir: str) -> dict:
    """The preprocessing options `data_dir` was made with (its run.json), defaults filled."""
    return {**DEFAULT_DATA_OPTIONS, **((read_manifest(data_dir) or {}).get("options") or {})}


def corpus_of(data_dir: str) -> str | None:
    """The corpus a finished preprocessing run read, or None without one."""
    return (read_manifest(data_dir) or {}).get("corpus")


def load_vocabulary(data_dir: str) -> list[str]:
    """The vocabulary of a finished preprocessing run, id order."""
    return load_vocab(os.path.join(check_data_dir(data_dir), VOCAB_FILE))


def load_stats(data_dir: str) -> dict:
    """A finished preprocessing run's stats.json (sizes of each split)."""
    with open(os.path.join(check_data_dir(data_dir), "stats.json"), encoding="utf-8") as f:
        return json.load(f)


def _to_dense(example, max_turns, with_ids=False):
    utterances = example[schema.UTTERANCES]
    if max_turns:
        utterances = utterances[:max_turns]
    dense = {"utterances": tf.cast(with_eos(utterances).to_tensor(), tf.int32)}
    if with_ids:  # "dialogue_id:slice_index", stable across runs on the same data
        dense["example_id"] = tf.strings.join(
            [example[schema.DIALOGUE_ID], tf.strings.as_string(example[schema.SLICE_INDEX])],
            ":")
    return dense


def _longest_utterance(batch):
    return tf.shape(batch["utterances"])[1]


def make_dataset(data_dir: str, split: str, batch_size: int, training: bool,
                 shuffle_buffer: int = 10000, seed: int = 1, max_turns: int = 0,
                 skip_batches: int = 0, with_ids: bool = False) -> tf.data.Dataset:
    """Batches of `split`. Training data is an endless stream in a seeded order, so a
    run resumed after `skip_batches` steps sees exactly the batches it would have seen.
    `with_ids` adds each slice's "example_id" (for evaluation outputs)."""
    files = sorted(tf.io.gfile.glob(os.path.join(check_data_dir(data_dir), split,
                                                 "*.tfrecord")))
    if not files:
        raise MissingDataError(f"{data_dir!r} has no {split}/*.tfrecord files")
    dataset = tf.data.TFRecordDataset(files)
    if training:
        dataset = dataset.repeat().shuffle(shuffle_buffer, seed=seed,
                                           reshuffle_each_iteration=True)
    dataset = dataset.map(schema.parse_example, num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
    dataset = dataset.map(lambda ex: _to_dense(ex, max_turns, with_ids),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.bucket_by_sequence_length(
        element_length_func=_longest_utterance,
        bucket_boundaries=list(BUCKET_BOUNDARIES),
        bucket_batch_sizes=[batch_size] * (len(BUCKET_BOUNDARIES) + 1),
        padded_shapes={"utterances": [None, None], **({"example_id": []} if with_ids else {})},
        drop_remainder=training)
    if skip_batches:
        dataset = dataset.skip(skip_batches)
    return dataset.prefetch(tf.data.AUTOTUNE)
