"""The one codec: the Python path (Beam, tools) and the TF path (tf.data, serving) agree."""
import numpy as np
import tensorflow as tf

from preprocessing.codec import Codec, ids_to_text, lookup_table, with_eos
from preprocessing.constants import EOS_ID, SPECIAL_TOKENS, UNK_ID

VOCAB = list(SPECIAL_TOKENS) + ["hello", ",", "how", "are", "you", "?", "i'm", "fine", "."]
TEXTS = ["Hello, how are you?", "I'm FINE — thanks.", "hello hello hello hello hello"]


def test_python_and_graph_paths_give_the_same_ids(tmp_path):
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    codec = Codec(VOCAB, max_words=4)
    python_ids = codec.utterance_ids(TEXTS)
    graph_ids = codec.tf_encode(tf.constant(TEXTS), lookup_table(str(vocab_file))).to_list()
    assert python_ids == graph_ids
    assert python_ids[0] == [4, 5, 6, 7, EOS_ID]  # hello , how are </s>: cut at 4 words
    assert python_ids[1] == [10, 11, UNK_ID, UNK_ID, EOS_ID]  # out of vocabulary -> <unk>
    assert all(row[-1] == EOS_ID and len(row) <= 5 for row in python_ids)


def test_context_tensor_and_text_round_trip():
    codec = Codec(VOCAB, max_words=30)
    context = codec.encode_context(["hello , how are you ?", "i'm fine ."])
    assert context.dtype == np.int32 and context.shape == (1, 2, 7)
    assert context[0, 1].tolist() == [10, 11, 12, EOS_ID, 0, 0, 0]
    assert [codec.text(u) for u in context[0]] == ["hello , how are you ?", "i'm fine ."]
    words = tf.constant(VOCAB)
    assert codec.tf_text(tf.constant(context[0]), words).numpy().tolist() == [
        b"hello , how are you ?", b"i'm fine ."]
    assert ids_to_text([4, EOS_ID, 5], VOCAB) == "hello"


def test_stored_ids_get_eos_as_the_model_reads_them():
    stored = tf.ragged.constant([[4, 5], [], [6]], dtype=tf.int64)
    assert with_eos(stored).to_list() == [[4, 5, EOS_ID], [EOS_ID], [6, EOS_ID]]
