"""The TFRecord schema: one `tf.train.SequenceExample` per dialogue slice.

Shared by the Beam writer and by `pipeline/data.py`, so both sides agree by import.

context:
  dialogue_id   bytes   the corpus's dialogue id (e.g. "train-00017", "m0-L194")
  corpus        bytes   reader name ("dailydialog", "cornell", ...)
  slice_index   int64   0, 1, ... within the dialogue
  first_turn    int64   index in the dialogue of the slice's first utterance
feature_lists:
  utterances    one int64 Feature per utterance: its token ids, without <s> / </s>
"""
import tensorflow as tf

DIALOGUE_ID = "dialogue_id"
CORPUS = "corpus"
SLICE_INDEX = "slice_index"
FIRST_TURN = "first_turn"
UTTERANCES = "utterances"

CONTEXT_FEATURES = {
    DIALOGUE_ID: tf.io.FixedLenFeature([], tf.string),
    CORPUS: tf.io.FixedLenFeature([], tf.string),
    SLICE_INDEX: tf.io.FixedLenFeature([], tf.int64),
    FIRST_TURN: tf.io.FixedLenFeature([], tf.int64),
}
SEQUENCE_FEATURES = {
    # Ragged [num_utterances, (tokens)] once parsed.
    UTTERANCES: tf.io.RaggedFeature(tf.int64),
}


def make_example(dialogue_id, corpus, slice_index, first_turn, utterance_ids):
    """Builds the serialized SequenceExample of one slice (pure protobuf, no TF ops)."""
    example = tf.train.SequenceExample()
    ctx = example.context.feature
    ctx[DIALOGUE_ID].bytes_list.value.append(dialogue_id.encode("utf-8"))
    ctx[CORPUS].bytes_list.value.append(corpus.encode("utf-8"))
    ctx[SLICE_INDEX].int64_list.value.append(slice_index)
    ctx[FIRST_TURN].int64_list.value.append(first_turn)
    utterances = example.feature_lists.feature_list[UTTERANCES].feature
    for ids in utterance_ids:
        utterances.add().int64_list.value.extend(ids)
    return example.SerializeToString()


def parse_example(serialized):
    """Parses one serialized slice into a dict of tensors (usable inside tf.data)."""
    context, sequence = tf.io.parse_single_sequence_example(
        serialized, context_features=CONTEXT_FEATURES, sequence_features=SEQUENCE_FEATURES)
    return {**context, **sequence}
