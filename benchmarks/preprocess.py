"""Wall time of the full DailyDialog preprocessing job: Beam with 1 and 2 workers vs a
plain single-process Python loop doing the same work with the same library functions.

    python -m benchmarks.preprocess [--input DIR] [--repeats 1]

Each mode runs as a fresh subprocess, so TensorFlow import and Beam worker start-up are
counted. Prints figures; asserts nothing.
"""
import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time


def plain_loop(input_path, output):
    """The job's work without Beam: read, tokenise, vocabulary, encode, slice, write."""
    import tensorflow as tf

    from preprocessing import schema, text
    from preprocessing.constants import SPECIAL_TOKENS, UNK_ID
    from preprocessing.corpora.dailydialog import find_split_files, parse_line
    from preprocessing.slicing import slice_bounds
    from preprocessing.vocab import rank_tokens

    tokenized = {}
    for split, path in find_split_files(input_path).items():
        with open(path, "rb") as f:
            dialogues = [(f"{split}-{n:05d}", parse_line(raw.decode("utf-8").rstrip("\r\n")))
                         for n, raw in enumerate(f, 1)]
        turns = [t for _, d in dialogues for t in d]
        tokens = []
        for start in range(0, len(turns), 4096):
            tokens += text.tokenize_batch(turns[start:start + 4096], max_words=30)
        it = iter(tokens)
        tokenized[split] = [(i, [next(it) for _ in d]) for i, d in dialogues]
    counts = collections.Counter(t for _, d in tokenized["train"] for u in d for t in u)
    vocab = list(SPECIAL_TOKENS) + rank_tokens(counts.items(), 20000)
    ids = {t: i for i, t in enumerate(vocab)}
    for split, dialogues in tokenized.items():
        os.makedirs(os.path.join(output, split), exist_ok=True)
        with tf.io.TFRecordWriter(os.path.join(output, split, "data.tfrecord")) as writer:
            for dialogue_id, utterances in dialogues:
                encoded = [[ids.get(t, UNK_ID) for t in u] for u in utterances]
                for k, (s, e) in enumerate(slice_bounds([len(u) for u in encoded], 80)):
                    writer.write(schema.make_example(dialogue_id, "dailydialog", k, s,
                                                     encoded[s:e]))
    with open(os.path.join(output, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    return sum(len(d) for d in tokenized.values())


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", help="DailyDialog folder (default: as preprocessing.run)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--plain_loop_into", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from preprocessing.datasets import resolve_input
    input_path = resolve_input("dailydialog", args.input)
    if args.plain_loop_into:
        plain_loop(input_path, args.plain_loop_into)
        return
    dialogues = 13118
    with tempfile.TemporaryDirectory() as scratch:
        modes = {
            "plain Python loop (1 process)": [
                sys.executable, "-m", "benchmarks.preprocess", "--input", input_path,
                "--plain_loop_into", os.path.join(scratch, "plain")],
        }
        for workers in (1, 2):
            modes[f"Beam FnApiRunner, {workers} worker(s)"] = [
                sys.executable, "-m", "preprocessing.run", "--input", input_path,
                "--output", os.path.join(scratch, f"beam{workers}"), "--overwrite",
                f"--direct_num_workers={workers}"]
        results = {name: min(timed(cmd) for _ in range(args.repeats))
                   for name, cmd in modes.items()}
    plain = results["plain Python loop (1 process)"]
    print(f"Full DailyDialog job ({dialogues} dialogues), wall time incl. start-up, "
          f"best of {args.repeats}, {os.cpu_count()} CPUs")
    print(f"{'mode':<34} {'wall s':>8} {'dialogues/s':>12} {'x plain':>8}")
    for name, seconds in results.items():
        print(f"{name:<34} {seconds:8.2f} {dialogues / seconds:12.0f} {seconds / plain:8.2f}")


if __name__ == "__main__":
    main()
