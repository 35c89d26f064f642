"""Training throughput per model: target tokens/s (real, non-pad decoded tokens), padding
fraction, and the fraction of this machine's measured fp32 matmul rate spent on useful work.

    python -m benchmarks.train_throughput [--data data/dailydialog] [--steps 8]

"padding" is the share of decoder steps spent on padded positions, after the
model's length grouping. Batches are real DailyDialog slices (32 per batch, as the VHCR
authors' reference run);
create them with `python -m preprocessing.run`. Prints figures; asserts nothing.
"""
from preprocessing import cli

if __name__ == "__main__":  # run as a tool: quiet before TensorFlow or Beam loads
    cli.quiet_unless_verbose()

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

from keras_models import build_model  # noqa: E402
from keras_models.layers.length_groups import length_groups  # noqa: E402
from keras_models.optimizers import FusedAdam  # noqa: E402
from pipeline import configs, data  # noqa: E402

SMALL = {"embedding_dim": 64, "utterance_units": 64, "context_units": 128,
         "decoder_units": 64, "latent_dim": 32, "conv_latent_dim": 32, "mlp_units": 64}
PRESET = {"hred": "hred", "vhred": "vhred", "vhcr": "vhcr_ud"}


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


def useful_flops(batch, m, vocab_size, architecture):
    """Forward+backward (3x forward) matmul FLOPs over real positions only."""
    utterances = batch["utterances"]
    real_words = float(tf.reduce_sum(tf.cast(utterances != 0, tf.float32)))
    real_utts = float(tf.reduce_sum(tf.cast(utterances[:, :, 0] != 0, tf.float32)))
    targets = float(tf.reduce_sum(tf.cast(utterances[:, 1:] != 0, tf.float32)))
    responses = float(tf.reduce_sum(tf.cast(utterances[:, 1:, 0] != 0, tf.float32)))
    u, c, d, e = m.utterance_units, m.context_units, m.decoder_units, m.embedding_dim
    context_in = u + (m.conv_latent_dim if architecture == "vhcr" else 0)
    flops = real_words * 2 * 3 * u * (e + u)  # utterance GRU
    flops += real_utts * 2 * 3 * c * (context_in + c)  # context GRU
    flops += targets * (2 * 3 * d * (e + d) + 2 * d * vocab_size)  # decoder GRU + softmax
    if architecture == "vhcr":
        flops += real_utts * 2 * 2 * 3 * u * (u + u)  # bidirectional z_conv encoder
    if architecture != "hred":
        flops += responses * 2 * 2 * (c + u) * m.mlp_units  # prior/posterior heads
    return 3 * flops, targets


def decoded_positions(batch, groups):
    """Decoder positions actually stepped through when responses run in length groups."""
    responses = batch["utterances"][:, 1:]
    targets = tf.boolean_mask(responses, responses[:, :, 0] != 0)
    lengths = tf.reduce_sum(tf.cast(targets != 0, tf.int32), 1)
    return sum(float(tf.size(rows) * longest) for rows, longest in
               length_groups(lengths, groups))


def measure(architecture, sizes, batches, vocab_size, steps, groups):
    config = configs.make_config(PRESET[architecture])
    config.override({"model": {**(sizes or {}), "length_groups": groups}})
    model = build_model(config.model, vocab_size)
    model.build_from_batch(batches[0])
    optimizer = FusedAdam(2e-4, clipnorm=1.0)
    optimizer.build(model.trainable_variables)
    model.compile(optimizer=optimizer)
    # One trace for every batch shape, as Keras's fit does after its first retraces.
    step = tf.function(model.train_step, input_signature=[
        {"utterances": tf.TensorSpec([None, None, None], tf.int32)}])
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
        f, t = useful_flops(batch, config.model, vocab_size, architecture)
        flops, tokens = flops + f, tokens + t
        positions += decoded_positions(batch, groups)
    return tokens / seconds, 1 - tokens / positions, flops / seconds / 1e9, seconds / len(timed)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="data/dailydialog")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--models", default="hred,vhred,vhcr")
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
    print(f"{'model':<6} {'size':<6} {'tokens/s':>9} {'s/step':>7} {'padding':>8} "
          f"{'useful GFLOP/s':>15} {'of peak':>8}")
    for architecture in args.models.split(","):
        for label in args.sizes.split(","):
            sizes = {"paper": None, "small": SMALL}[label]
            rate, padding, gflops, per_step = measure(architecture, sizes, batches,
                                                      vocab_size, args.steps,
                                                      args.length_groups)
            print(f"{architecture:<6} {label:<6} {rate:9.0f} {per_step:7.2f} "
                  f"{padding:8.1%} {gflops:15.1f} {gflops / peak:8.1%}")


if __name__ == "__main__":
    main()
