"""The preprocessing job's PTransforms on small inputs, with Beam's TestPipeline and
assert_that (no corpus needed)."""
import apache_beam as beam
import tensorflow as tf
from apache_beam.testing.util import assert_that, equal_to

from preprocessing import schema
from preprocessing.constants import EOS_ID, SPECIAL_TOKENS, UNK_ID
from preprocessing.corpora.common import REJECTED
from preprocessing.records import Dialogue, TokenizedDialogue
from preprocessing.transforms import AssignSplit, EncodeAndSlice, TokenizeDialogues
from preprocessing.vocab import BuildVocabulary
from tests.helpers import beam_test_pipeline


def test_tokenize_keeps_good_dialogues_and_rejects_the_rest_with_their_source():
    dialogues = [Dialogue("ok", ("Hello, world!", "Hi there."), "f:1", "train"),
                 Dialogue("one", ("only me",), "f:2", "train"),
                 Dialogue("blank", ("hi", "  "), "f:3", "test"),
                 Dialogue("long", ("a b c d e f", "g"), "f:4", "train")]
    with beam_test_pipeline() as p:
        out = p | beam.Create(dialogues) | TokenizeDialogues(max_utterance_words=4)
        assert_that(out.dialogues | beam.Map(lambda d: (d.id, d.utterances, d.truncated)),
                    equal_to([("ok", (("hello", ",", "world", "!"), ("hi", "there", ".")), 0),
                              ("long", (("a", "b", "c", "d"), ("g",)), 1)]))
        assert_that(out[REJECTED] | beam.Map(lambda r: (r.source, r.reason)),
                    equal_to([("f:2", "too_few_utterances"), ("f:3", "blank_turn")]),
                    label="Rejections")


def test_assign_split_keeps_official_splits_and_hashes_the_others():
    dialogues = [Dialogue("a", ("x", "y"), "f:1", "test"), Dialogue("b", ("x", "y"), "f:2",
                                                                    None)]
    with beam_test_pipeline() as p:
        out = p | beam.Create(dialogues) | AssignSplit("jsonl")
        assert_that(out | beam.Map(lambda d: (d.id, d.split is not None, d.split == "test"
                                              if d.id == "a" else True)),
                    equal_to([("a", True, True), ("b", True, True)]))


def test_vocabulary_ranks_by_count_then_token_after_the_special_tokens():
    dialogues = [TokenizedDialogue("1", "s", "train", (("b", "a", "a"), ("c", "b", "a")), 0)]
    with beam_test_pipeline() as p:
        vocab = p | beam.Create(dialogues) | BuildVocabulary(vocab_size=2)
        assert_that(vocab, equal_to([list(SPECIAL_TOKENS) + ["a", "b"]]))


def _decoded(item):
    split, serialized = item
    parsed = schema.parse_example(tf.constant(serialized))
    ids = [row.tolist() for row in parsed[schema.UTTERANCES].numpy()]
    return (split, parsed[schema.DIALOGUE_ID].numpy().decode(),
            int(parsed[schema.SLICE_INDEX]), tuple(map(tuple, ids)))


def test_encode_and_slice_writes_overlapping_slices_of_ids_and_counts_them():
    vocab = list(SPECIAL_TOKENS) + ["a", "b"]
    utterances = (("a", "b"), ("b", "zz"), ("a",), ("b", "a", "a"))
    dialogue = TokenizedDialogue("d1", "s", "validation", utterances, 0)
    with beam_test_pipeline() as p:
        vocab_pc = p | "Vocab" >> beam.Create([vocab])
        out = p | beam.Create([dialogue]) | EncodeAndSlice("jsonl", 5, vocab_pc)
        # 5-word slices of whole utterances, overlapping by one; "zz" is <unk>
        assert_that(out.examples | beam.Map(_decoded), equal_to([
            ("validation", "d1", 0, ((4, 5), (5, UNK_ID), (4,))),
            ("validation", "d1", 1, ((4,), (5, 4, 4)))]))
        assert_that(out.stats | beam.Map(lambda kv: (kv[0], kv[1]["slices"], kv[1]["tokens"],
                                                     kv[1]["oov_tokens"])),
                    equal_to([("validation", 2, 8, 1)]), label="Stats")
    assert EOS_ID not in (4, 5)  # stored ids carry no </s>; the codec adds it
