"""The tokenizer: its rules, and Beam path == serving-graph path on all of DailyDialog."""
import apache_beam as beam
import pytest
import tensorflow as tf

from preprocessing import text
from preprocessing.corpora.dailydialog import ReadDailyDialog
from preprocessing.transforms import TokenizeDialogues
from tests.helpers import corpus_path, run_and_collect


def tok(s, **kw):
    return text.tokenize_batch([s], **kw)[0]


def test_punctuation_is_split_so_raw_and_pretokenised_text_agree():
    assert tok("Hello, world!") == tok("hello , world !") == ["hello", ",", "world", "!"]
    assert tok("right.But") == ["right", ".", "but"]


@pytest.mark.parametrize("variant", ["I don't know", "I don ’ t know", "i DON'T know",
                                     "I don’t know", "I don ' t know"])
def test_contractions_are_one_token_whatever_the_spacing_or_quote(variant):
    assert tok(variant) == ["i", "don't", "know"]


def test_word_internal_apostrophes_kept_other_apostrophes_split():
    assert tok("it's 5 o'clock, ma'am") == ["it's", "5", "o'clock", ",", "ma'am"]
    assert tok("'quoted' students'") == ["'", "quoted", "'", "students", "'"]


def test_unicode_normalisation_and_case_folding():
    assert tok("ＨＥＬＬＯ Straße “Hi”") == ["hello", "strasse", '"', "hi", '"']


def test_special_token_spellings_cannot_appear_in_text():
    assert tok("<unk> </s>") == ["<", "unk", ">", "<", "/", "s", ">"]


def test_truncation_and_empty_inputs():
    assert tok("a b c d e", max_words=3) == ["a", "b", "c"]
    assert text.tokenize_batch(["", "   \t"]) == [[], []]
    assert text.tokenize_batch([]) == []


@pytest.mark.corpus
def test_beam_tokens_equal_serving_graph_tokens_on_all_of_dailydialog(tmp_path):
    """Beam's eager batches vs the tokenizer traced into a SavedModel and loaded back."""
    path = corpus_path("dailydialog")
    reader = ReadDailyDialog(path)
    results = run_and_collect(lambda p: {
        "tokenized": ((p | reader)[0] | TokenizeDialogues(max_utterance_words=10_000))
                     .dialogues | beam.Map(lambda d: (d.id, d.utterances)),
        "raw": (p | "Again" >> reader)[0] | beam.Map(lambda d: (d.id, d.turns)),
    }, tmp_path)
    beam_tokens = dict(results["tokenized"])
    raw = dict(results["raw"])
    assert len(beam_tokens) == len(raw) == 13118

    class Tokenizer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, texts):
            return text.tokenize(texts).to_tensor("")

    tf.saved_model.save(Tokenizer(), str(tmp_path / "tokenizer"))
    graph = tf.saved_model.load(str(tmp_path / "tokenizer"))
    ids = sorted(raw)
    turns = [t for i in ids for t in raw[i]]
    graph_tokens = []
    for start in range(0, len(turns), 8192):
        dense = graph(tf.constant(turns[start:start + 8192])).numpy()
        graph_tokens += [[t.decode("utf-8") for t in row if t] for row in dense]
    assert len(turns) == 102979
    position = 0
    for dialogue_id in ids:
        for utterance in beam_tokens[dialogue_id]:
            assert list(utterance) == graph_tokens[position], dialogue_id
            position += 1
