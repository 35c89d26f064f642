"""The preprocessing job: a dialogue corpus -> sliced SequenceExample TFRecords.

    python -m preprocessing.run --corpus dailydialog --output data/dailydialog

Unknown flags are Beam pipeline options, so the same job runs on Dataflow, Flink or
Spark (`--runner DataflowRunner --project ... --temp_location ...`). Without --runner it
runs offline on this machine: FnApiRunner with one worker process per CPU.
"""
from preprocessing import cli

if __name__ == "__main__":  # run as a tool: quiet before TensorFlow or Beam loads
    cli.quiet_unless_verbose()

import argparse
import json
import os
import time

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.transforms.environments import SubprocessSDKEnvironment

from preprocessing import beam_worker, corpora, datasets
from preprocessing import output as output_lib
from preprocessing.constants import CO_SLICE_WORDS, MAX_UTTERANCE_WORDS, VOCAB_FILE
from preprocessing.corpora.common import REJECTED, InputError
from preprocessing.records import SPLITS
from preprocessing.slicing import check_slice_options
from preprocessing.splits import DEFAULT_RATIOS, parse_ratios
from preprocessing.transforms import (
    METRICS_NAMESPACE,
    AssignSplit,
    DropDuplicateIds,
    EncodeAndSlice,
    SumCounts,
    TokenizeDialogues,
)
from preprocessing.vocab import BuildVocabulary

FORMAT_VERSION = 1


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m preprocessing.run",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="dailydialog",
                        type=cli.choice(corpora.READERS, "a corpus"),
                        help="which reader to use (default: dailydialog)")
    parser.add_argument("--input", help="corpus file or folder (default: $DIALOGVAE_DATA/"
                        "CORPUS, ../shared/datasets/CORPUS, or for dailydialog a download)")
    parser.add_argument("--output", help="output folder (default: data/CORPUS)")
    parser.add_argument("--vocab_size", type=int, default=20000,
                        help="most frequent training tokens kept, plus 4 specials")
    parser.add_argument("--min_count", type=int, default=1,
                        help="drop tokens seen fewer times in training")
    parser.add_argument("--max_utterance_words", type=int, default=MAX_UTTERANCE_WORDS,
                        help="truncate longer utterances (VHCR: 30)")
    parser.add_argument("--max_slice_words", type=int, default=CO_SLICE_WORDS,
                        help="words per dialogue slice (CO paper: 80); 0 keeps dialogues whole")
    parser.add_argument("--split", default=None,
                        help="train:validation:test ratios (e.g. 10:1:1) to split by a hash "
                        "of the dialogue id; default: the official split, else 10:1:1")
    parser.add_argument("--num_shards", type=int, default=0,
                        help="TFRecord shards per split (0: let the runner decide)")
    cli.add_verbose_flag(parser)
    parser.add_argument("--overwrite", action="store_true",
                        help="replace whatever OUTPUT holds")
    parser.add_argument("--no_download", action="store_true",
                        help="never download DailyDialog; fail instead")
    return parser


def validate(parser, args):
    """Option errors name the option (argparse exits with status 2)."""
    try:
        check_slice_options(args.max_utterance_words, args.max_slice_words)
        args.split_ratios = parse_ratios(args.split) if args.split else None
    except ValueError as e:
        parser.error(str(e))
    if args.vocab_size < 1:
        parser.error(f"--vocab_size must be at least 1, got {args.vocab_size}")
    if args.min_count < 1:
        parser.error(f"--min_count must be at least 1, got {args.min_count}")
    if args.num_shards < 0:
        parser.error(f"--num_shards must be 0 or positive, got {args.num_shards}")


def check_output_spares_input(output, input_path):
    """Refuses an --output that is, or holds, the --input: --overwrite would delete the
    corpus itself."""
    if output_lib.is_remote(output) or output_lib.is_remote(input_path):
        return
    out, source = os.path.realpath(output), os.path.realpath(input_path)
    if source == out or source.startswith(out + os.sep):
        raise InputError(f"--output {output!r} holds the --input {input_path!r}; writing "
                         "there would replace the corpus: give a new folder, e.g. "
                         f"--output data/{os.path.basename(out) or 'corpus'}")


def split_mode(args, reader):
    """The split the run applies, as run.json records it: "official" only where the
    reader's input has one and no --split was given, else the hash ratios."""
    if args.split_ratios is None and reader.official_split:
        return "official"
    return list(args.split_ratios or DEFAULT_RATIOS)


def make_manifest(args, input_path, reader):
    """What defines a run: equal manifests mean a rerun may replace the output."""
    return {
        "format_version": FORMAT_VERSION,
        "corpus": args.corpus,
        "input": os.path.abspath(input_path) if not output_lib.is_remote(input_path)
        else input_path,
        "options": {
            "vocab_size": args.vocab_size,
            "min_count": args.min_count,
            "max_utterance_words": args.max_utterance_words,
            "max_slice_words": args.max_slice_words,
            "split": split_mode(args, reader),
        },
    }


def _option_classes(cls=PipelineOptions):
    for sub in cls.__subclasses__():
        yield sub
        yield from _option_classes(sub)


# Runners Beam knows only by their full name.
# DaskRunner is Beam's, with the fixes of preprocessing/dask_runner.py.
RUNNER_NAMES = {"DaskRunner": "preprocessing.dask_runner.DaskRunner"}


def expand_runner_name(beam_args):
    """`--runner DaskRunner` (or `=DaskRunner`) -> its full name; other args unchanged."""
    out, args = [], list(beam_args)
    for i, arg in enumerate(args):
        if arg.startswith("--runner="):
            name = arg.split("=", 1)[1]
            arg = f"--runner={RUNNER_NAMES.get(name, name)}"
        elif i and args[i - 1] == "--runner":
            arg = RUNNER_NAMES.get(arg, arg)
        out.append(arg)
    return out


def check_beam_args(parser, beam_args):
    """Arguments this tool does not know must be Beam pipeline options (they pass through
    to the runner); anything else, such as a typo like --vocab-size, is an error here,
    where Beam would only warn and drop it. A --runner Beam cannot create is refused
    before any output is touched; one it can is created first, so that the options of its
    own module (DaskRunner's --dask_client_address, ...) are known to the check."""
    runner = PipelineOptions(beam_args).view_as(StandardOptions).runner
    if runner:
        from apache_beam.runners.runner import create_runner
        try:
            create_runner(runner)
        except (ValueError, ImportError) as e:
            parser.error(f"--runner {runner}: {str(e).splitlines()[0]}")
    beam_parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for cls in set(_option_classes()):
        try:
            cls._add_argparse_args(beam_parser)
        except argparse.ArgumentError:  # an option two classes declare
            pass
    _, unknown = beam_parser.parse_known_args(beam_args)
    flags = [a for a in unknown if a.startswith("-")]
    if flags or unknown:
        parser.error(f"unrecognized argument {(flags or unknown)[0]!r}: neither an option of "
                     f"this tool (see --help) nor a Beam pipeline option")


def make_pipeline(beam_args):
    """The user's runner when --runner is given, else offline multi-process FnApiRunner
    whose worker processes exit with this job (`preprocessing.beam_worker`).

    (Beam's default DirectRunner would first try to download the Prism runner.)
    """
    options = PipelineOptions(beam_args)
    if options.view_as(StandardOptions).runner:
        return beam.Pipeline(options=options)
    # Defaults first, so the user's own --direct_* flags (parsed last) win; a
    # --direct_running_mode of the user's (in_memory, multi_threading, multi_processing)
    # runs Beam's own workers.
    defaults = ["--default_sdk_harness_log_level=WARNING",
                f"--direct_num_workers={len(os.sched_getaffinity(0))}"]
    options = PipelineOptions(defaults + list(beam_args))
    if any(arg.startswith("--direct_running_mode") for arg in beam_args):
        return beam.Pipeline(runner=FnApiRunner(), options=options)
    workers = SubprocessSDKEnvironment.from_command_string(beam_worker.command_line())
    return beam.Pipeline(runner=FnApiRunner(default_environment=workers), options=options)


def build(pipeline, reader, corpus, folder, args):
    """Adds the whole job to `pipeline`, writing every output file into `folder`."""
    join = lambda name: os.path.join(folder, name)  # noqa: E731
    read, read_rejections = pipeline | "Read" >> reader
    unique = read | "UniqueIds" >> DropDuplicateIds()
    dialogues = (unique.dialogues
                 | "Spread" >> beam.Reshuffle()
                 | "Split" >> AssignSplit(corpus, args.split_ratios))
    tokenized = dialogues | "Tokenize" >> TokenizeDialogues(args.max_utterance_words)

    vocab = (tokenized.dialogues
             | "TrainOnly" >> beam.Filter(lambda d: d.split == "train")
             | "Vocabulary" >> BuildVocabulary(args.vocab_size, args.min_count))
    _ = (vocab
         | "VocabText" >> beam.Map("\n".join)
         | "WriteVocab" >> beam.io.WriteToText(join(VOCAB_FILE), shard_name_template=""))

    encoded = tokenized.dialogues | "Encode" >> EncodeAndSlice(
        corpus, args.max_slice_words, vocab)
    by_split = encoded.examples | "BySplit" >> beam.Partition(
        lambda kv, _: SPLITS.index(kv[0]), len(SPLITS))
    for split, examples in zip(SPLITS, by_split):
        _ = (examples
             | f"{split}Serialized" >> beam.Values()
             | f"Write{split}" >> beam.io.WriteToTFRecord(
                 join(f"{split}/data"), file_name_suffix=".tfrecord",
                 num_shards=args.num_shards))

    rejections = ((read_rejections, unique[REJECTED], tokenized[REJECTED])
                  | "AllRejections" >> beam.Flatten()
                  | "CountRejection" >> beam.Map(_count_rejection))
    _ = (rejections
         | "RejectionJson" >> beam.Map(lambda r: r.to_json())
         | "WriteRejections" >> beam.io.WriteToText(join("rejected"),
                                                    file_name_suffix=".jsonl"))

    per_split = encoded.stats | "SplitStats" >> beam.CombinePerKey(SumCounts())
    by_reason = (rejections
                 | "Reason" >> beam.Map(lambda r: r.reason)
                 | "ByReason" >> beam.combiners.Count.PerElement())
    read_count = read | "CountRead" >> beam.combiners.Count.Globally()
    read_rejected = read_rejections | "CountReadRejected" >> beam.combiners.Count.Globally()
    _ = (pipeline
         | "StatsSeed" >> beam.Create([None])
         | "Stats" >> beam.Map(
             _make_stats, corpus,
             beam.pvalue.AsDict(per_split), beam.pvalue.AsDict(by_reason),
             beam.pvalue.AsSingleton(read_count), beam.pvalue.AsSingleton(read_rejected),
             beam.pvalue.AsSingleton(vocab))
         | "StatsJson" >> beam.Map(lambda s: json.dumps(s, indent=2, sort_keys=True))
         | "WriteStats" >> beam.io.WriteToText(join("stats.json"), shard_name_template=""))


def _count_rejection(rejection):
    beam.metrics.Metrics.counter(METRICS_NAMESPACE, f"rejected_{rejection.reason}").inc()
    return rejection


def _make_stats(_, corpus, per_split, by_reason, read, read_rejected, vocab):
    splits = {}
    for split in SPLITS:
        stats = dict(per_split.get(split, {}))
        for key in ("dialogues", "utterances", "tokens", "oov_tokens", "slices",
                    "truncated_utterances"):
            stats.setdefault(key, 0)
        stats.setdefault("slice_words_histogram", {})
        stats["oov_rate"] = stats["oov_tokens"] / stats["tokens"] if stats["tokens"] else 0.0
        splits[split] = stats
    written = sum(s["dialogues"] for s in splits.values())
    rejected = sum(by_reason.values())
    return {
        "corpus": corpus,
        "input_records": read + read_rejected,
        "written_dialogues": written,
        "rejected_records": rejected,
        "rejected": dict(sorted(by_reason.items())),
        "vocab_size": len(vocab),
        "splits": splits,
    }


def print_summary(stats, result, seconds, output):
    print(f"\n{stats['corpus']}: {stats['input_records']} input records -> "
          f"{stats['written_dialogues']} dialogues written, "
          f"{stats['rejected_records']} rejected, in {seconds:.1f} s")
    for split in SPLITS:
        s = stats["splits"][split]
        print(f"  {split:<10} {s['dialogues']:>7} dialogues {s['utterances']:>8} utterances "
              f"{s['slices']:>7} slices {s['tokens']:>9} tokens  OOV {100 * s['oov_rate']:.2f}%")
    for reason, n in stats["rejected"].items():
        print(f"  rejected   {n:>7} {reason}")
    print(f"  vocabulary {stats['vocab_size']} tokens (4 special)")
    try:
        counters = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    except NotImplementedError:  # runners without metrics (DaskRunner)
        counters = {"counters": []}
    for counter in sorted(counters["counters"], key=lambda c: c.key.metric.name):
        print(f"  beam metric {counter.key.metric.name} = {counter.committed}")
    print(f"Wrote {output}/ (train/, validation/, test/ TFRecords, {VOCAB_FILE}, "
          f"stats.json, rejected-*.jsonl, {output_lib.MANIFEST})")


def run(argv=None):
    parser = build_parser()
    args, beam_args = parser.parse_known_args(argv)
    validate(parser, args)
    beam_args = expand_runner_name(beam_args)
    check_beam_args(parser, beam_args)
    output = args.output or os.path.join("data", args.corpus)
    input_path = datasets.resolve_input(args.corpus, args.input, download=not args.no_download)
    reader = corpora.make_reader(args.corpus, input_path)
    check_output_spares_input(output, input_path)
    manifest = make_manifest(args, input_path, reader)
    folder = output_lib.prepare_output(output, manifest, overwrite=args.overwrite)

    start = time.time()
    pipeline = make_pipeline(beam_args)
    build(pipeline, reader, args.corpus, folder, args)
    with cli.worker_output_hidden(argv):
        result = pipeline.run()
        result.wait_until_finish()
    stats = output_lib.read_stats(folder)
    accounted = stats["written_dialogues"] + stats["rejected_records"]
    if accounted != stats["input_records"]:
        raise RuntimeError(f"{stats['input_records']} input records but {accounted} written "
                           f"or rejected; the output in {folder} was not published")
    if not stats["splits"]["train"]["dialogues"]:
        hint = ("; this input has no training file: give --split 10:1:1 to split every "
                "dialogue by its id's hash" if manifest["options"]["split"] == "official"
                else "")
        raise InputError(f"no dialogue reached the training split "
                         f"({stats['rejected_records']} of {stats['input_records']} records "
                         f"rejected; see {folder}/rejected-*.jsonl){hint}; nothing was "
                         f"published to {output}")
    output_lib.publish_output(output, folder, manifest)
    print_summary(stats, result, time.time() - start, output)
    return stats


def main(argv=None):
    cli.run_tool(lambda: run(argv))


if __name__ == "__main__":
    main()
