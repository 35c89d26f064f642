"""Training throughput per model: target tokens/s (real, non-pad decoded tokens), padding
fraction, and the fraction of this machine's measured fp32 matmul rate spent on useful work.

    python -m benchmarks.train_throughput [--data data/dailydialog] [--steps 8]

"padding" is the share of decoder steps spent on padded positions, after the
model's length grouping. Batches are real DailyDialog slices (32 per batch, as the VHCR
authors' reference run);
create them with `python -m preprocessing.run`. Prints figures; asserts nothing.

Models are built by the one factory (`compile_model`, as training builds them). CO is timed
per phase, with today's one compiled function per phase ("co/ae", "co/cvae") and with the
prototype of a single train step that picks its phase from a variable ("co/ae 1fn",
"co/cvae 1fn"), which keeps both phases in one graph behind a `tf.cond`.
"""
from preprocessing import cli

if __name__ == "__main__":  # run as a tool: quiet before TensorFlow or Beam loads
    cli.quiet_unless_verbose()

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

from keras_models.collaborative import AE, CVAE  # noqa: E402
from keras_models.layers.length_groups import length_groups  # noqa: E402
from pipeline import configs, data  # noqa: E402
from pipeline.training.factory import compile_model  # noqa: E402

SMALL = {"embedding_dim": 64, "utterance_units": 64, "context_units": 128,
         "decoder_units": 64, "latent_dim": 32, "conv_latent_dim": 32, "mlp_units": 64}
PRESET = {"hred": "hred", "vhred": "vhred", "vhcr": "vhcr_ud", "co": "co_ss"}


def matmul_peak(n=2048, repeats=10):
    """Measured fp32 GFLOP/s of a large square matmul (the machine's practical peak)."""
    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    fn = tf.function(lambda: tf.matmul(a, b))
    fn().numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        fn().numpy()
    return 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9


def useful_flops(batch, m, vocab_size, architecture, decodes=True):
    """Matmul FLOPs over real positions only: forward and backward (3x forward) for a
    step that trains everything; CO's CVAE phase runs the encoders forward only (its
    gradients reach phi alone) and does not decode."""
    utterances = batch["utterances"]
    real_words = float(tf.reduce_sum(tf.cast(utterances != 0, tf.float32)))
    real_utts = float(tf.reduce_sum(tf.cast(utterances[:, :, 0] != 0, tf.float32)))
    targets = float(tf.reduce_sum(tf.cast(utterances[:, 1:] != 0, tf.float32)))
    responses = float(tf.reduce_sum(tf.cast(utterances[:, 1:, 0] != 0, tf.float32)))
    u, c, d, e = m.utterance_units, m.context_units, m.decoder_units, m.embedding_dim
    context_in = u + (m.conv_latent_dim if architecture == "vhcr" else 0)
    encoders = real_words * 2 * 3 * u * (e + u)  # utterance GRU
    encoders += real_utts * 2 * 3 * c * (context_in + c)  # context GRU
    if architecture == "vhcr":
        encoders += real_utts * 2 * 2 * 3 * u * (u + u)  # bidirectional z_conv encoder
    heads = responses * 2 * 2 * (c + u) * m.mlp_units if architecture != "hred" else 0.0
    if not decodes:
        return encoders + 3 * heads, targets
    decoder = targets * (2 * 3 * d * (e + d) + 2 * d * vocab_size)  # decoder GRU + softmax
    return 3 * (encoders + heads + decoder), targets


def decoded_positions(batch, groups):
    """Decoder positions actually stepped through when responses run in length groups."""
    responses = batch["utterances"][:, 1:]
    targets = tf.boolean_mask(responses, responses[:, :, 0] != 0)
    lengths = tf.reduce_sum(tf.cast(targets != 0, tf.int32), 1)
    return sum(float(tf.size(rows) * longest) for rows, longest in
               length_groups(lengths, groups))


def step_functions(model, architecture):
    """(label, make step, whether it decodes) per timed variant: the model's train step,
    or for CO each phase's step as compiled today and as the one-function prototype."""
    def traced(fn):  # one trace for every batch shape, as Keras's fit after its retraces
        return tf.function(fn, input_signature=[
            {"utterances": tf.TensorSpec([None, None, None], tf.int32)}])
    if architecture != "co":
        return [(architecture, lambda: traced(model.train_step), True)]
    phase = tf.Variable(0, trainable=False, name="phase")
    common = ("loss", "cvae_loss", "kl_utt", "gen_error", "words")

    def switching_step(batch):
        def step_of(name):
            return lambda: {k: model.phase_train_step(name, batch)[k] for k in common}
        return tf.cond(tf.equal(phase, 0), step_of(AE), step_of(CVAE))
    switching = traced(switching_step)

    def on_phase(value):  # the phase is set once, as PhaseSchedule would at a switch
        phase.assign(value)
        return switching
    return [("co/ae", lambda: traced(lambda b: model.phase_train_step(AE, b)), True),
            ("co/cvae", lambda: traced(lambda b: model.phase_train_step(CVAE, b)), False),
            ("co/ae 1fn", lambda: on_phase(0), True),
            ("co/cvae 1fn", lambda: on_phase(1), False)]


def measure(architecture, sizes, batches, vocab_size, steps, groups):
    """[(label, tokens/s, padding, useful GFLOP/s, s/step)] for one model and size."""
    config = configs.make_config(PRESET[architecture])
    config.override({"model": {**(sizes or {}), "length_groups": groups},
                     "train": {"learning_rate": 2e-4, "warmup_steps": 0,
                               "lr_decay": "constant", "clipnorm": 1.0}})
    model = compile_model(config, vocab_size, batches[0])
    rows = []
    for label, make_step, decodes in step_functions(model, architecture):
        step = make_step()
        for batch in batches[:2]:
            step(batch)
        timed = batches[2:2 + steps]
        start = time.perf_counter()
        for batch in timed:
            logs = step(batch)
        float(logs["loss"])
        seconds = time.perf_counter() - start
        flops, tokens, positions = 0.0, 0.0, 0.0
        for batch in timed:
            f, t = useful_flops(batch, config.model, vocab_size, architecture, decodes)
            flops, tokens = flops + f, tokens + t
            positions += decoded_positions(batch, groups)
        rows.append((label, tokens / seconds if decodes else float("nan"),
                     1 - tokens / positions, flops / seconds / 1e9, seconds / len(timed)))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="data/dailydialog")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--models", default="hred,vhred,vhcr,co")
    parser.add_argument("--sizes", default="paper,small")
    parser.add_argument("--length_groups", type=int, default=2,
                        help="model.length_groups (1 = decode every row to the longest)")
    args = parser.parse_args()
    vocab_size = 20004  # the paper's 20,000 + 4 specials, whatever this corpus has
    batches = [{"utterances": tf.minimum(b["utterances"], vocab_size - 1)} for b in
               data.make_dataset(args.data, "train", args.batch_size, training=True,
                                 shuffle_buffer=5000).take(args.steps + 2)]
    peak = matmul_peak()
    print(f"fp32 matmul peak on this machine: {peak:.0f} GFLOP/s; batches of "
          f"{args.batch_size} DailyDialog slices; {args.steps} timed steps after 2 warm-up; "
          f"length groups {args.length_groups}")
    print(f"{'model':<11} {'size':<6} {'tokens/s':>9} {'s/step':>7} {'padding':>8} "
          f"{'useful GFLOP/s':>15} {'of peak':>8}")
    for architecture in args.models.split(","):
        for label in args.sizes.split(","):
            sizes = {"paper": None, "small": SMALL}[label]
            for name, rate, padding, gflops, per_step in measure(
                    architecture, sizes, batches, vocab_size, args.steps,
                    args.length_groups):
                print(f"{name:<11} {label:<6} {rate:9.0f} {per_step:7.2f} "
                      f"{padding:8.1%} {gflops:15.1f} {gflops / peak:8.1%}")


if __name__ == "__main__":
    main()
