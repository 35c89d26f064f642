"""Time to quality: validation perplexity against updates and against training seconds,
for a model preset next to a plain language model built from stock Keras layers.

    python -m benchmarks.time_to_quality --model hred --updates 600 --eval_every 100
    python -m benchmarks.time_to_quality --model co_ss --minutes 10 --out results/ttq_co_ss

The reference is what any user would write first: Embedding -> keras.layers.GRU ->
Dense over the responses alone (every utterance after a slice's first, ending in </s>),
batches of `--lm_batch` random responses, Adam at the same learning rate. Both are scored
on the *whole* validation split, on the same tokens (every response of every validation
slice, </s> included): the model by its own evaluation (its NLL bound for latent
models), the language model by exp(total NLL / tokens). Seconds count training only
(input pipeline included), never validation. CO presets alternate AE / CVAE phases every
`--eval_every` updates (use 250 for the demo's epochs). Prints a table, writes JSON and a
PNG of the curves. Asserts nothing.
"""
from preprocessing import cli

if __name__ == "__main__":  # run as a tool: quiet before TensorFlow or Beam loads
    cli.quiet_unless_verbose()

import argparse
import json
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from pipeline import configs, data  # noqa: E402
from pipeline.train import DEMO_CONFIG
from pipeline.training.callbacks import PhaseSchedule, global_step  # noqa: E402
from pipeline.training.factory import compile_model  # noqa: E402
from preprocessing.constants import BOS_ID  # noqa: E402


class Curve(keras.callbacks.Callback):
    """Records (updates, training seconds, validation PPL) at every epoch end; the clock
    stops at the epoch's last batch, so validation time is not counted."""

    def __init__(self, name, evaluate=None, deadline=None):
        super().__init__()
        self.name, self.evaluate, self.deadline = name, evaluate, deadline
        self.points, self.seconds = [], 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.start = self.last = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds += self.last - self.start
        ppl = self.evaluate() if self.evaluate else float(logs["val_ppl"])
        updates = global_step(self.model)  # every update, both CO phases included
        self.points.append({"updates": updates, "seconds": round(self.seconds, 1),
                            "val_ppl": round(ppl, 2)})
        print(f"{self.name:<10} {updates:>7} {self.seconds:>9.1f} {ppl:>9.2f}", flush=True)
        if self.deadline and self.seconds >= self.deadline:
            self.model.stop_training = True


def response_dataset(data_dir, split, batch_size, training, seed=1):
    """Responses alone: (inputs <s> x_1..x_n, targets x_1..x_n </s>), 0-padded."""
    slices = data.make_dataset(data_dir, split, 1, training=False)
    responses = slices.unbatch().flat_map(
        lambda ex: tf.data.Dataset.from_tensor_slices(ex["utterances"][1:]))
    responses = responses.filter(lambda u: u[0] != 0).map(
        lambda u: tf.boolean_mask(u, u != 0))
    if training:
        responses = responses.repeat().shuffle(20000, seed=seed)
    pairs = responses.map(lambda u: (tf.concat([[BOS_ID], u[:-1]], 0), u))
    return pairs.padded_batch(batch_size).prefetch(tf.data.AUTOTUNE)


def language_model(vocab_size, embedding_dim, units):
    return keras.Sequential([
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(vocab_size, embedding_dim, mask_zero=True),
        keras.layers.GRU(units, return_sequences=True),
        keras.layers.Dense(vocab_size)])


def lm_perplexity(model, dataset):
    @tf.function
    def sums(inputs, targets):
        nll = tf.keras.losses.sparse_categorical_crossentropy(
            targets, model(inputs, training=False), from_logits=True)
        mask = tf.cast(targets != 0, tf.float32)
        return tf.reduce_sum(nll * mask), tf.reduce_sum(mask)

    nats = tokens = 0.0
    for inputs, targets in dataset:
        n, t = sums(inputs, targets)
        nats, tokens = nats + float(n), tokens + float(t)
    return math.exp(nats / tokens)


def run_model(args, config, vocab_size, epochs):
    keras.utils.set_random_seed(config.train.seed)
    validation = data.make_dataset(args.data, "validation", config.data.batch_size,
                                   training=False)
    model = compile_model(config, vocab_size, next(iter(validation)),
                          total_steps=args.planned_steps)
    train = data.make_dataset(args.data, "train", config.data.batch_size, training=True,
                              shuffle_buffer=config.data.shuffle_buffer,
                              seed=config.train.seed)
    curve = Curve(args.model, deadline=args.minutes * 60 if args.minutes else None)
    callbacks = [curve]
    if hasattr(model, "phases"):
        callbacks.insert(0, PhaseSchedule(args.eval_every))
    model.fit(train, epochs=epochs, steps_per_epoch=args.eval_every,
              validation_data=validation, callbacks=callbacks, verbose=0)
    return curve.points


def run_language_model(args, config, vocab_size, epochs):
    keras.utils.set_random_seed(config.train.seed)
    m = config.model
    model = language_model(vocab_size, m.embedding_dim, m.decoder_units)
    model.compile(optimizer=keras.optimizers.Adam(config.train.learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    validation = response_dataset(args.data, "validation", 64, training=False)
    train = response_dataset(args.data, "train", args.lm_batch, training=True)
    curve = Curve("plain LM", evaluate=lambda: lm_perplexity(model, validation),
                  deadline=args.minutes * 60 if args.minutes else None)
    model.fit(train, epochs=epochs, steps_per_epoch=args.eval_every, callbacks=[curve],
              verbose=0)
    return curve.points


def plot(path, curves, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, points in curves.items():
        for ax, x in zip(axes, ("updates", "seconds")):
            ax.plot([p[x] for p in points], [p["val_ppl"] for p in points], marker="o",
                    label=name)
    for ax, x in zip(axes, ("updates", "training seconds")):
        ax.set_xlabel(x)
        ax.set_ylabel("validation perplexity")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.time_to_quality",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/dailydialog")
    parser.add_argument("--model", default="hred", help="a preset of pipeline.train")
    parser.add_argument("--size", default="demo", choices=("demo", "paper"),
                        help="demo: the main job's recipe (pipeline/demo.yaml); paper: the "
                        "preset as it is")
    parser.add_argument("--params_override", default="",
                        help="further config overrides, as pipeline.train takes them")
    parser.add_argument("--updates", type=int, default=600)
    parser.add_argument("--minutes", type=float, default=0,
                        help="stop each curve after this much training time instead")
    parser.add_argument("--eval_every", type=int, default=100)
    parser.add_argument("--lm_batch", type=int, default=64)
    parser.add_argument("--no_lm", action="store_true", help="skip the plain LM")
    parser.add_argument("--out", default="", help="folder for time_to_quality.json/.png")
    args = parser.parse_args(argv)

    config = configs.make_config(args.model, DEMO_CONFIG if args.size == "demo" else None,
                                 args.params_override or None)
    config.override({"data": {"data_dir": args.data}})
    vocab_size = len(data.load_vocabulary(args.data))
    epochs = 10 ** 6 if args.minutes else max(1, args.updates // args.eval_every)
    # The learning-rate schedule spans the planned updates (or the run's own plan).
    args.planned_steps = (args.updates if not args.minutes
                          else config.train.epochs * config.train.steps_per_epoch or None)
    override = args.params_override
    print(f"{args.model}, {args.size} recipe{' + ' + override if override else ''}: "
          f"lr {config.train.learning_rate} warm-up {config.train.warmup_steps} "
          f"{config.train.lr_decay}, batch {config.data.batch_size}, softmax cutoffs "
          f"{config.model.softmax_cutoffs or 'none (full)'}; validation PPL on the whole "
          f"validation split every {args.eval_every} updates")
    print(f"{'curve':<10} {'updates':>7} {'seconds':>9} {'val PPL':>9}")
    curves = {args.model: run_model(args, config, vocab_size, epochs)}
    if not args.no_lm:
        curves["plain LM"] = run_language_model(args, config, vocab_size, epochs)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "time_to_quality.json"), "w") as f:
            json.dump({"model": args.model, "size": args.size, "override": override,
                       "curves": curves}, f, indent=2)
        plot(os.path.join(args.out, "time_to_quality.png"), curves,
             f"{args.model} ({args.size} sizes) vs a plain Keras GRU LM, DailyDialog")
        print(f"wrote {args.out}/time_to_quality.json and .png")


if __name__ == "__main__":
    main()
