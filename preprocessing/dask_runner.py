"""Beam's DaskRunner (`--runner DaskRunner`), with the fixes the preprocessing job needs.

Beam 2.77's DaskRunner (`apache_beam.runners.dask`, experimental) translates a pipeline
into dask.bag operations and runs them on a dask.distributed cluster, but three of its
shortcuts lose or mix data in a job like ours (each found by
`tests/preprocessing/test_dask_runner.py`, which compares this runner's output with the
default one's):
- a ParDo with tagged outputs hands every consumer the whole output bag, all tags mixed
  (so `Partition` does not partition and rejections flow into the statistics);
- outputs emitted in `finish_bundle` are dropped (BatchElements' last batch of a
  bundle);
- only the last transform visited is computed, so with several sinks (the TFRecord
  shards, the vocabulary, the statistics) the others never run;
- a side input is recomputed inside every task that reads it, so a file sink, whose
  finalisation reads the written temporary files' names as a side input, renames files
  of one execution with the names of another (they are random).
This runner keeps Beam's translations of Create, GroupByKey and Flatten and replaces the
ParDo and the graph walk: each output PCollection gets its own bag, a bundle's elements
are collected after finish_bundle, a side input is computed once (on the cluster, when
the graph reaches it) and handed to its readers as values, and every leaf is computed.
The price: what feeds a side input and also other transforms is computed twice.
"""
import collections
import dataclasses

import apache_beam
from apache_beam import DoFn, TaggedOutput, pvalue
from apache_beam.pipeline import PipelineVisitor
from apache_beam.runners.common import (
    DoFnContext,
    DoFnInvoker,
    DoFnSignature,
    Receiver,
    _OutputHandler,
)
from apache_beam.runners.dask import dask_runner as beam_dask
from apache_beam.runners.dask import transform_evaluator as evaluator
from apache_beam.transforms.sideinputs import SideInputMap
from apache_beam.utils.windowed_value import WindowedValue


class _Collector(Receiver):
    """Collects (tag, element) pairs; tag None is the main output."""

    def __init__(self, tag, out):
        self.tag, self.out = tag, out

    def receive(self, windowed_value):
        self.out.append((self.tag, windowed_value.value))


class _Receivers(dict):
    def __init__(self):
        super().__init__()
        self.out = []

    def __missing__(self, tag):
        self[tag] = _Collector(tag, self.out)
        return self[tag]


def _run_bundle(items, fn, window_fn, label, side_inputs, args, kwargs):
    """One dask partition through the DoFn: [(tag, element)], finish_bundle's too."""
    receivers = _Receivers()
    handler = _OutputHandler(
        window_fn=window_fn, main_receivers=receivers[None], tagged_receivers=receivers,
        per_element_output_counter=None, output_batch_converter=None,
        process_yields_batches=False, process_batch_yields_elements=False)
    invoker = DoFnInvoker.create_invoker(
        DoFnSignature(fn), handler, context=DoFnContext(label, state=None),
        side_inputs=side_inputs, input_args=args, input_kwargs=kwargs,
        user_state_context=None, bundle_finalizer_param=DoFn.BundleFinalizerParam())
    invoker.invoke_setup()
    invoker.invoke_start_bundle()
    for item in items:
        invoker.invoke_process(evaluator.get_windowed_value(item, window_fn))
    invoker.invoke_finish_bundle()
    invoker.invoke_teardown()
    return receivers.out


@dataclasses.dataclass(frozen=True)
class _HasTag:
    """A picklable predicate: the (tag, element) pair is of this output."""
    tag: object

    def __call__(self, pair):
        return pair[0] == self.tag


def _element(pair):
    value = pair[1]
    return value.value if isinstance(value, (TaggedOutput, WindowedValue)) else value


class _Result(beam_dask.DaskRunnerResult):
    """Closes its client once the job is done (Beam's leaves it open, and it then fails
    to reconnect when the cluster goes away)."""

    def wait_until_finish(self, duration=None):
        try:
            return super().wait_until_finish(duration)
        finally:
            self.client.close()


class DaskRunner(beam_dask.DaskRunner):
    """Executes a pipeline on a Dask distributed client (see the module docstring)."""

    @staticmethod
    def to_dask_bag_visitor(bag_kwargs=None, client=None):
        bag_kwargs = bag_kwargs or {}

        @dataclasses.dataclass
        class Visitor(PipelineVisitor):
            client: object = None
            bags: dict = dataclasses.field(default_factory=collections.OrderedDict)
            consumed: set = dataclasses.field(default_factory=set)
            side_values: dict = dataclasses.field(default_factory=dict)

            def bag_of(self, pcoll):
                self.consumed.add(pcoll)
                return self.bags.get(pcoll)

            def side_input_bag(self, pcoll):
                """The side input's values, computed once on the cluster, as a bag."""
                import dask.bag as db
                if pcoll not in self.side_values:
                    values = self.client.compute(self.bag_of(pcoll)).result()
                    self.side_values[pcoll] = db.from_sequence(list(values), npartitions=1)
                return self.side_values[pcoll]

            def visit_transform(self, node):
                inputs = [self.bag_of(i) for i in node.inputs
                          if not isinstance(i, pvalue.PBegin)]
                side_inputs = [SideInputMap(type(si), si._view_options(),
                                            evaluator.DaskBagWindowedIterator(
                                                self.side_input_bag(si.pvalue),
                                                si._window_mapping_fn))
                               for si in node.side_inputs]
                if type(node.transform) is apache_beam.ParDo:
                    out = self.par_do(node, inputs[0], side_inputs)
                    tags = list(node.outputs)
                    for tag, pcoll in node.outputs.items():
                        self.bags[pcoll] = (out.map(_element) if len(tags) == 1 else
                                            out.filter(_HasTag(tag)).map(_element))
                    return
                op_class = evaluator.TRANSLATIONS.get(type(node.transform), evaluator.NoOp)
                op = op_class(node, bag_kwargs=bag_kwargs)
                if isinstance(op, evaluator.Flatten):
                    bag = op.apply(inputs)
                elif isinstance(op, evaluator.Create):
                    bag = op.apply(None)
                else:
                    bag = op.apply(inputs[0] if inputs else None, side_inputs or None)
                for pcoll in node.outputs.values():
                    self.bags[pcoll] = bag
                if not node.outputs:  # a sink with no output: computed as a leaf
                    self.bags[node] = bag

            @staticmethod
            def par_do(node, bag, side_inputs):
                transform = node.transform
                args, kwargs = transform.raw_side_inputs
                main = next(iter(node.main_inputs.values()))
                window_fn = main.windowing.windowfn if hasattr(main, "windowing") else None
                return bag.map_partitions(_run_bundle, transform.fn, window_fn,
                                          transform.label, side_inputs or None, list(args),
                                          kwargs)

            def leaves(self):
                return [bag for pcoll, bag in self.bags.items()
                        if pcoll not in self.consumed and bag is not None]

        return Visitor(client)

    def run_pipeline(self, pipeline, options):
        import dask
        import dask.distributed as ddist
        dask_options = options.view_as(beam_dask.DaskOptions).get_all_options(
            drop_default=True, current_only=True)
        bag_kwargs = beam_dask.DaskOptions._extract_bag_kwargs(dask_options)
        client = ddist.Client(**dask_options)
        pipeline.replace_all(beam_dask.dask_overrides())
        visitor = self.to_dask_bag_visitor(bag_kwargs, client)
        pipeline.visit(visitor)
        leaves = dask.optimize(*visitor.leaves())
        return _Result(client, client.compute(list(leaves)))
