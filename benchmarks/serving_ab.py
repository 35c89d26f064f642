"""Greedy serving latency of two SavedModels, interleaved call by call in one process.

    python -m benchmarks.serving_ab A_VERSION_DIR B_VERSION_DIR [--repeats 400]

Compares two exports (e.g. the same run exported by two commits) under the same machine
load: calls alternate A, B / B, A, so drift on a shared or noisy machine falls on both.
Prints p50 / p95 / mean in ms of `serving_default` on a 3-turn context, batch 1 and 32;
asserts nothing.
"""
from preprocessing import cli

if __name__ == "__main__":  # run as a tool: quiet before TensorFlow or Beam loads
    cli.quiet_unless_verbose()

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.serving_latency import CONTEXT  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--repeats", type=int, default=400, help="calls of each at batch 1")
    args = parser.parse_args()
    import tensorflow_text  # noqa: F401  (the ops the serving graph uses)
    models = {name: tf.saved_model.load(path).signatures["serving_default"]
              for name, path in (("A", args.a), ("B", args.b))}
    print(f"A = {args.a}\nB = {args.b}")
    print(f"{'batch':>5} {'model':>5} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for batch, repeats in ((1, args.repeats), (32, max(10, args.repeats // 10))):
        context = tf.constant([CONTEXT] * batch)
        for function in models.values():
            for _ in range(3):  # warm-up
                function(context=context)
        times = {name: [] for name in models}
        for i in range(repeats):
            for name in (("A", "B") if i % 2 else ("B", "A")):
                start = time.perf_counter()
                models[name](context=context)
                times[name].append(time.perf_counter() - start)
        for name, values in times.items():
            ms = np.array(values) * 1000
            print(f"{batch:>5} {name:>5} {np.percentile(ms, 50):8.1f} "
                  f"{np.percentile(ms, 95):8.1f} {ms.mean():8.1f}")


if __name__ == "__main__":
    main()
