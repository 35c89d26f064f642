"""Latency of the exported serving signatures at paper sizes on this CPU.

    python -m benchmarks.serving_latency [--model co_ss] [--repeats 30]

Builds a paper-size model (vocabulary 20,004, untrained weights), exports it with
`serving.export`, loads the SavedModel in this process and times `serving_default`
(greedy) and `beam` (beam 5) on 3-turn contexts, batch 1 and 32. Untrained weights rarely
emit </s>, so most responses run to the 31-token cap: this is the worst case a trained
model approaches only for long responses. Prints p50/p95; asserts nothing.

Beside them, the same run times a reference: 31 tokens' worth of the decoder's output
projection alone (a [batch, 512] x [512, 20,004] product per token, in one tf.function
loop), the memory-bandwidth floor of greedy decoding on this machine. Compare decoders
across machines or commits by their distance to it, not by their raw milliseconds.
"""
from preprocessing import cli

if __name__ == "__main__":  # run as a tool: quiet before TensorFlow or Beam loads
    cli.quiet_unless_verbose()

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import yaml  # noqa: E402

CONTEXT = ["hi , how are you doing today ?", "i'm fine , thanks . i just got back from work .",
           "oh , how was it ? anything interesting ?"]
VOCAB_SIZE = 20004


def paper_size_run(preset, folder):
    """A model_dir with config.yaml, a 20,004-word vocab.txt and untrained weights."""
    from pipeline import configs
    from pipeline.restore import placeholder_batch
    from preprocessing.constants import SPECIAL_TOKENS
    config = configs.make_config(preset)
    vocab = list(SPECIAL_TOKENS) + [w for w in CONTEXT_WORDS if w not in SPECIAL_TOKENS]
    vocab += [f"word{i}" for i in range(VOCAB_SIZE - len(vocab))]
    os.makedirs(os.path.join(folder, "checkpoints"))
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(folder, "config.yaml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(config.as_dict(), f)
    from pipeline.training.factory import compile_model
    model = compile_model(config, VOCAB_SIZE, placeholder_batch())
    model.save_weights(os.path.join(folder, "checkpoints", "best.weights.h5"))


CONTEXT_WORDS = sorted({w for line in CONTEXT for w in line.split()})
TOKENS = 31  # the decoders' cap: 30 words + </s>


def projection_floor(batch, units=512):
    """A function running TOKENS output projections ([batch, units] x [units, V] + argmax)
    in a tf.while_loop: what greedy decoding cannot go below."""
    kernel = tf.Variable(tf.random.normal([units, VOCAB_SIZE], stddev=0.05))
    state = tf.random.normal([batch, units])

    @tf.function
    def run():
        def body(i, h, ids):
            logits = tf.matmul(h, kernel)
            return i + 1, h * 0.99, ids + tf.argmax(logits, -1, output_type=tf.int32)
        return tf.while_loop(lambda i, *_: i < TOKENS, body,
                             (0, state, tf.zeros([batch], tf.int32)))[2]
    return run


def percentiles(function, repeats):
    function()  # warm-up (first call initialises the tables)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return np.percentile(times, 50) * 1000, np.percentile(times, 95) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="co_ss", help="preset")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    from serving.export import export
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = os.path.join(tmp, "run")
        paper_size_run(args.model, run_dir)
        path = export(run_dir, os.path.join(tmp, "models", args.model))
        import tensorflow_text  # noqa: F401
        loaded = tf.saved_model.load(path)
        print(f"{args.model} at paper sizes (vocabulary {VOCAB_SIZE}), untrained weights, "
              f"{args.repeats} calls each after one warm-up; 3-turn contexts")
        print(f"{'signature':<21} {'batch':>5} {'p50 ms':>8} {'p95 ms':>8} {'tokens':>7}")
        for batch in (1, 32):
            context = tf.constant([CONTEXT] * batch)
            calls = {
                "reference: projection": projection_floor(batch),
                "encode (no decoding)": lambda: loaded.signatures["encode"](context=context),
                "serving_default": lambda: loaded.signatures["serving_default"](context=context),
                "beam (5)": lambda: loaded.signatures["beam"](context=context,
                                                              beam_size=tf.constant(5)),
            }
            for name, call in calls.items():
                p50, p95 = percentiles(call, args.repeats if batch == 1 else
                                       max(5, args.repeats // 3))
                out = call()
                if not isinstance(out, dict):  # the reference: TOKENS steps by construction
                    print(f"{name:<21} {batch:>5} {p50:8.1f} {p95:8.1f} {TOKENS:7.1f}")
                    continue
                if "mean" in out:
                    print(f"{name:<21} {batch:>5} {p50:8.1f} {p95:8.1f} {0:7.1f}")
                    continue
                text = out["response"] if "response" in out else out["responses"][:, 0]
                tokens = np.mean([len(t.split()) + 1 for t in text.numpy()])
                print(f"{name:<21} {batch:>5} {p50:8.1f} {p95:8.1f} {tokens:7.1f}")


if __name__ == "__main__":
    main()
