"""The harness that runs the VHCR authors' code beside ours (benchmarks/reference_vhcr.py):
our preprocessed conversations to their pickled format and back, without their code."""
import json
import os
import pickle

from benchmarks import reference_vhcr
from preprocessing.constants import EOS_ID
from tests.helpers import REPO_ROOT


def test_conversations_round_trip_through_the_authors_format(small_dialogues, tmp_path):
    out = tmp_path / "authors"
    reference_vhcr.main(["convert", "--study", "vhcr_dailydialog", "--row", "vhcr_ud",
                         "--data", small_dialogues, "--out", str(out)])
    with open(out / "word2id.pkl", "rb") as f:
        word2id = pickle.load(f)
    # Their special tokens at the ids ours have; our words at our ids.
    assert [word2id[w] for w in ("<pad>", "<unk>", "<sos>", "<eos>")] == [0, 1, 2, 3]
    vocab = open(os.path.join(small_dialogues, "vocab.txt"), encoding="utf-8").read().split("\n")
    assert word2id[vocab[10]] == 10
    ours = reference_vhcr.read_conversations(small_dialogues, "validation")
    split = [pickle.load(open(out / "valid" / f"{name}.pkl", "rb"))
             for name in ("sentences", "sentence_length", "conversation_length")]
    sentences, lengths, counts = split
    # Their batch format: every sentence padded to one width, <eos> then <pad>.
    widths = {len(s) for conv in sentences for s in conv}
    assert len(widths) == 1
    first = sentences[0][0]
    assert first[lengths[0][0] - 1] == "<eos>" and set(first[lengths[0][0]:]) <= {"<pad>"}
    assert counts == [len(c) for c in ours]
    assert reference_vhcr.from_authors_split(sentences, lengths, counts, word2id) == ours
    assert all(u[-1] == EOS_ID for c in ours for u in c)
    settings = json.loads((out / "settings.json").read_text())
    assert (settings["model"], settings["sentence_drop"], settings["batch_size"]) == (
        "VHCR", 0.25, 32)
    assert settings["early_stopping_start_step"] == max(settings["kl_annealing_iter"],
                                                        settings["warmup_steps"])


def test_the_edits_to_their_code_are_exact_and_documented():
    doc = reference_vhcr.__doc__
    for name, old, new in reference_vhcr.PATCHES:
        assert f"`{name}`" in doc and old != new
    assert "torch" not in open(os.path.join(REPO_ROOT, "setup.py"), encoding="utf-8").read()
