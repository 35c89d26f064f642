"""The whole job on the full DailyDialog copy, with the default multi-process runner."""
import collections
import glob
import os

import pytest
import tensorflow as tf

from preprocessing import run, schema, text
from preprocessing.constants import SPECIAL_TOKENS, UNK, load_vocab
from preprocessing.corpora.dailydialog import find_split_files, parse_line
from tests.helpers import corpus_path

pytestmark = [pytest.mark.corpus, pytest.mark.slow]  # the real corpora, whole jobs


def read_examples(output, split):
    files = sorted(glob.glob(os.path.join(output, split, "*.tfrecord")))
    dataset = tf.data.TFRecordDataset(files).map(schema.parse_example)
    return [{"id": ex[schema.DIALOGUE_ID].numpy().decode(),
             "slice": int(ex[schema.SLICE_INDEX]), "first": int(ex[schema.FIRST_TURN]),
             "utterances": ex[schema.UTTERANCES].to_list()} for ex in dataset]


@pytest.fixture(scope="module")
def dailydialog_run(tmp_path_factory):
    root = corpus_path("dailydialog")
    output = str(tmp_path_factory.mktemp("e2e") / "dailydialog")
    stats = run.run(["--corpus", "dailydialog", "--input", root, "--output", output])
    return root, output, stats


def graph_tokens(root, split):
    """Expected tokens per dialogue: the raw files through the tokenizer, truncated at 30."""
    with open(find_split_files(root)[split], encoding="utf-8") as f:
        dialogues = {f"{split}-{n:05d}": parse_line(line) for n, line in enumerate(f, 1)}
    turns = [t for d in dialogues.values() for t in d]
    tokens = iter(text.tokenize_batch(turns, max_words=30))
    return {i: [next(tokens) for _ in d] for i, d in dialogues.items()}


def test_counts_vocabulary_and_accounting(dailydialog_run):
    root, output, stats = dailydialog_run
    assert stats["input_records"] == 13118
    assert stats["written_dialogues"] + stats["rejected_records"] == 13118
    assert stats["rejected_records"] == 0
    assert {s: stats["splits"][s]["dialogues"] for s in stats["splits"]} == {
        "train": 11118, "validation": 1000, "test": 1000}
    assert sum(s["utterances"] for s in stats["splits"].values()) == 102979
    train_types = {t for d in graph_tokens(root, "train").values() for u in d for t in u}
    vocab = load_vocab(os.path.join(output, "vocab.txt"))
    assert 17000 < len(train_types) < 18000
    assert vocab[:4] == list(SPECIAL_TOKENS)
    assert set(vocab[4:]) == train_types and len(vocab) == len(train_types) + 4
    assert stats["splits"]["train"]["oov_tokens"] == 0
    assert os.path.isfile(os.path.join(output, "run.json"))


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_tfrecords_parse_back_to_the_same_tokens(dailydialog_run, split):
    root, output, stats = dailydialog_run
    vocab = load_vocab(os.path.join(output, "vocab.txt"))
    index = {t: i for i, t in enumerate(vocab)}
    expected = graph_tokens(root, split)
    examples = read_examples(output, split)
    assert len(examples) == stats["splits"][split]["slices"]
    rebuilt = collections.defaultdict(dict)
    for ex in examples:
        assert len(ex["utterances"]) >= 2
        assert sum(len(u) for u in ex["utterances"]) <= 80
        for k, ids in enumerate(ex["utterances"]):
            rebuilt[ex["id"]][ex["first"] + k] = ids
    assert set(rebuilt) == set(expected)  # every dialogue written
    for dialogue_id, utterances in expected.items():
        want = [[index.get(t, index[UNK]) for t in u] for u in utterances]
        got = rebuilt[dialogue_id]
        assert [got[k] for k in range(len(want))] == want, dialogue_id  # every utterance


def test_rerun_with_one_worker_gives_the_same_vocabulary_and_examples(dailydialog_run, tmp_path):
    root, output, _ = dailydialog_run
    again = str(tmp_path / "again")
    run.run(["--corpus", "dailydialog", "--input", root, "--output", again,
             "--direct_num_workers=1"])
    assert load_vocab(os.path.join(again, "vocab.txt")) == load_vocab(
        os.path.join(output, "vocab.txt"))
    for split in ("train", "validation", "test"):
        key = lambda ex: (ex["id"], ex["slice"])  # noqa: E731
        assert sorted(read_examples(again, split), key=key) == sorted(
            read_examples(output, split), key=key)


def test_cornell_whole_dialogues_accounts_for_every_conversation_line(tmp_path):
    root = corpus_path("cornell")
    stats = run.run(["--corpus", "cornell", "--input", root, "--output", str(tmp_path / "c"),
                     "--max_slice_words", "0", "--direct_running_mode=in_memory",
                     "--direct_num_workers=1"])
    with open(os.path.join(root, "movie_conversations.txt"), "rb") as f:
        lines = sum(1 for _ in f)
    assert stats["input_records"] == lines  # one record per line of movie_conversations.txt
    assert stats["rejected"] == {"missing_lines": 35688, "blank_turn": 2, "blank_line": 1}
    assert stats["written_dialogues"] == 8065
    # Whole dialogues: one slice per dialogue.
    assert sum(s["slices"] for s in stats["splits"].values()) == 8065
    assert sum(s["dialogues"] for s in stats["splits"].values()) == 8065
