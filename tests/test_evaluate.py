"""Evaluation, the report across runs, and the latent-space tools, on tiny trained runs."""
import csv
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from pipeline import evaluate, latent, report
from pipeline.restore import load_run

PRESETS = ("hred", "vhcr_ud", "co_ss")


@pytest.fixture(scope="module")
def runs(trained_runs):
    return trained_runs


@pytest.fixture(scope="module")
def evaluated(runs):
    return {preset: evaluate.evaluate(str(runs / preset), max_examples=12,
                                      modes=("greedy", "beam"), batch_size=8)
            for preset in PRESETS}


def test_evaluation_writes_the_papers_measures(runs, evaluated):
    for preset, out in evaluated.items():
        likelihood = out["likelihood"]
        assert likelihood["ppl"] == pytest.approx(np.exp(likelihood["nll_bound"]), rel=1e-3)
        assert set(out["responses"]) == {"greedy/1", "greedy/3", "beam/1", "beam/3"}
        for key, m in out["responses"].items():
            assert 0 < m["contexts"] <= 12 and m["responses"] == m["contexts"] * int(key[-1])
            assert -1 <= m["average"] <= 1 and 0 <= m["distinct_1"] <= 1
        folder = runs / preset / "eval"
        assert json.loads((folder / "test.json").read_text()) == out
        assert "| greedy | 3 |" in (folder / "test.md").read_text()
        with open(folder / "test-beam-3turn.tsv", encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        assert len(rows) == out["responses"]["beam/3"]["contexts"]
        assert all(len(r["response"].split(evaluate.EOU)) == 3 for r in rows)
        assert all(":" in r["id"] and r["context"] for r in rows)
    assert evaluated["hred"]["likelihood"]["nll_bound"] == pytest.approx(
        evaluated["hred"]["likelihood"]["nll"])  # exact for HRED: no KL
    vhcr = evaluated["vhcr_ud"]["likelihood"]
    assert vhcr["kl_conv"] > 0 and vhcr["kl_utt"] > 0
    assert vhcr["nll_bound"] == pytest.approx(vhcr["nll"] + vhcr["kl_utt"] + vhcr["kl_conv"],
                                              rel=1e-5)
    co = evaluated["co_ss"]["likelihood"]
    assert co["nll_bound"] == pytest.approx(co["nll"] + co["kl_utt"], rel=1e-5)
    assert co["kl_response"] > 0
    events = os.listdir(runs / "co_ss" / "logs" / "eval_test")
    assert any(e.startswith("events.out.tfevents") for e in events)


def test_three_turn_generation_feeds_its_own_responses_back(runs):
    from keras_models.decoding import append_utterance, greedy_decode
    run = load_run(str(runs / "hred"))  # no latent: greedy decoding is deterministic
    responder = evaluate.Responder(run.model)
    context = tf.constant([[[4, 5, 3], [6, 3, 0]], [[7, 3, 0], [0, 0, 0]]], tf.int32)
    first, second, third = responder.conversation(context, "greedy", 3)
    expected_second = greedy_decode(run.model, append_utterance(context, first))
    np.testing.assert_array_equal(second.numpy(), expected_second.numpy())
    fed = append_utterance(append_utterance(context, first), second)
    np.testing.assert_array_equal(third.numpy(), greedy_decode(run.model, fed).numpy())


def test_split_context_takes_the_last_turns_as_references():
    utterances = tf.constant([[[4, 3], [5, 3], [6, 3], [7, 3], [8, 3]],
                              [[4, 3], [5, 3], [0, 0], [0, 0], [0, 0]]])
    rows, context, golds = evaluate.split_context(utterances, 3)
    assert rows.numpy().tolist() == [0]  # the second slice is too short for 3 turns
    assert context.numpy()[0, :, 0].tolist() == [4, 5, 0, 0, 0]
    assert golds.numpy()[0, :, 0].tolist() == [6, 7, 8]
    rows, context, golds = evaluate.split_context(utterances, 1)
    assert rows.numpy().tolist() == [0, 1]
    assert golds.numpy()[:, 0, 0].tolist() == [8, 5]


def test_report_reproduces_the_tables_from_stored_json(tmp_path):
    def stored(name, nll, kl_utt, kl_conv, average):
        folder = tmp_path / name / "eval"
        folder.mkdir(parents=True)
        metrics = {"average": average, "greedy": 0.5, "extrema": 0.25, "bleu": 1.5,
                   "distinct_1": 0.1, "distinct_2": 0.2}
        (folder / "test.json").write_text(json.dumps({
            "corpus": "cornell", "likelihood": {"nll": nll, "nll_bound": nll + kl_utt + kl_conv,
                                                "kl_utt": kl_utt, "kl_conv": kl_conv},
            "responses": {"greedy/1": metrics, "greedy/3": metrics}}))
        return str(tmp_path / name)

    runs = report.load_runs([stored("vhcr_ud", 3.5, 0.25, 0.5, 0.75),
                             "hred=" + stored("baseline", 3.75, 0.0, 0.0, 0.625)], "test")
    paper = {"vhcr_table1": {"cornell": {"VHCR + u.d.": {"nll": 4.0, "kl_utt": None}}}}
    text = report.render(runs, paper)
    table1 = text.split("## VHCR Table 1")[1].split("##")[0].strip().splitlines()
    assert table1[-2:] == [
        "| HRED | cornell | 3.7500 | 0.0000 | 0.0000 | - | - | - |",
        "| VHCR + u.d. | cornell | 4.2500 | 0.2500 | 0.5000 | 4.0000 | - | - |"]
    assert "| HRED | cornell | 3.7500 | 0.0000 | 1.5000 | 0.6250 |" in text  # CO table
    assert "VHCR + u.d. | cornell" not in text.split("## CO Tables")[1]  # not a CO row
    with pytest.raises(ValueError, match="PRESET=RUN_DIR"):
        report.load_runs([str(tmp_path / "baseline")], "test")


def test_report_cli_over_evaluated_runs(runs, evaluated, capsys):
    report.main([str(runs / p) for p in PRESETS])
    text = capsys.readouterr().out
    assert "| CO+SS | dailydialog |" in text and "| VHCR + u.d. | dailydialog |" in text
    co = evaluated["co_ss"]
    assert f"{co['likelihood']['nll_bound']:.4f}" in text


def test_latent_cloud_writes_a_loadable_projector_and_png(runs, tmp_path):
    run = load_run(str(runs / "co_ss"))
    query = latent.opening(run, "where do you live ?")
    vectors, metadata = latent.latent_cloud(run, query, neighbours=3, posterior_samples=4,
                                            prior_samples=20, pool=40)
    assert vectors.shape == (20 + 3 * 4, run.config.model.latent_dim)
    latent.write_projector(str(tmp_path / "projector"), vectors, metadata)
    checkpoint = tf.train.latest_checkpoint(str(tmp_path / "projector"))
    loaded = tf.train.load_variable(checkpoint, "embedding/.ATTRIBUTES/VARIABLE_VALUE")
    np.testing.assert_allclose(loaded, vectors)
    lines = (tmp_path / "projector" / "metadata.tsv").read_text().splitlines()
    assert len(lines) == len(vectors) + 1 and lines[1].startswith("prior")
    config = (tmp_path / "projector" / "projector_config.pbtxt").read_text()
    assert "metadata.tsv" in config
    latent.write_tsne_png(str(tmp_path / "tsne.png"), vectors, metadata)
    assert (tmp_path / "tsne.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_z_conv_tools_need_vhcr_and_vary_along_the_line(runs):
    run = load_run(str(runs / "vhcr_ud"))
    context = latent.opening(run, "hello . __eou__ hi , how are you ?")
    assert context.shape[:2] == (1, 2)
    rows = latent.interpolate(run, context, points=3, turns=2)
    assert [r["alpha"] for r in rows] == [0.0, 0.5, 1.0]
    assert all(len(r["responses"]) == 2 for r in rows)
    conversations = latent.fixed_zconv(run, context, conversations=3, turns=2)
    assert len(conversations) == 3 and all(len(c) == 2 for c in conversations)
    with pytest.raises(ValueError, match="VHCR"):
        latent.interpolate(load_run(str(runs / "co_ss")), context)
