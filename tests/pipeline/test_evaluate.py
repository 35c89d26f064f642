"""Evaluation, the report across runs, and the latent-space tools, on tiny trained runs."""
import csv
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from pipeline import evaluate, latent, report
from pipeline.restore import load_run
from tests.helpers import REPO_ROOT

pytestmark = pytest.mark.slow  # trains and evaluates tiny runs

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
        folder = runs / preset / "eval" / "best"
        assert json.loads((folder / "test.json").read_text()) == out
        markdown = (folder / "test.md").read_text()
        assert "| greedy | 3 |" in markdown and "| *retrieval* | 3 |" in markdown
        for turns in ("1", "3"):  # reference responders on the very same contexts
            refs = out["references"][turns]
            assert set(refs) == {"constant", "random_gold", "retrieval"}
            assert {r["contexts_id"] for r in refs.values()} == {
                out["responses"][f"greedy/{turns}"]["contexts_id"]}
            assert refs["constant"]["distinct_2"] <= refs["retrieval"]["distinct_2"]
        assert likelihood["nll_bound_per_slice"] == pytest.approx(
            likelihood["nll_bound"] * likelihood["words"] / likelihood["slices"])
        with open(folder / "test-beam-3turn.tsv", encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        assert len(rows) == out["responses"]["beam/3"]["contexts"]
        assert all(len(r["response"].split(evaluate.EOU)) == 3 for r in rows)
        assert all(":" in r["id"] and r["context"] for r in rows)
    hred = evaluated["hred"]["likelihood"]
    assert hred["nll_bound"] == pytest.approx(hred["nll"])  # exact for HRED: no KL
    assert "kl_utt" not in hred and "kl_conv" not in hred  # no latent, no 0.0 printed
    vhcr = evaluated["vhcr_ud"]["likelihood"]
    assert vhcr["kl_conv"] > 0 and vhcr["kl_utt"] > 0
    assert vhcr["nll_bound"] == pytest.approx(vhcr["nll"] + vhcr["kl_utt"] + vhcr["kl_conv"],
                                              rel=1e-5)
    co = evaluated["co_ss"]["likelihood"]
    assert co["nll_bound"] == pytest.approx(co["nll"] + co["kl_utt"], rel=1e-5)
    assert co["kl_response"] > 0 and "kl_conv" not in co
    assert co["kl_per_response"] == pytest.approx(co["kl_response"], rel=1e-4)
    events = os.listdir(runs / "co_ss" / "logs" / "eval_test_best")
    assert any(e.startswith("events.out.tfevents") for e in events)


def test_three_turn_generation_feeds_its_own_responses_back(runs):
    from keras_models.decoding import append_utterance
    from tests.helpers import decode_greedy
    run = load_run(str(runs / "hred"))  # no latent: greedy decoding is deterministic
    options = run.decode_options()
    responder = evaluate.Responder(run.model, options)
    context = tf.constant([[[4, 5, 3], [6, 3, 0]], [[7, 3, 0], [0, 0, 0]]], tf.int32)
    first, second, third = responder.conversation(context, "greedy", 3)
    expected_second = decode_greedy(run.model, append_utterance(context, first),
                                    options.max_length)
    np.testing.assert_array_equal(second.numpy(), expected_second.numpy())
    fed = append_utterance(append_utterance(context, first), second)
    np.testing.assert_array_equal(third.numpy(),
                                  decode_greedy(run.model, fed, options.max_length).numpy())


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


def test_evaluating_last_keeps_the_results_of_best(runs, evaluated):
    best = runs / "hred" / "eval" / "best" / "test.json"
    before = best.read_bytes()
    out = evaluate.evaluate(str(runs / "hred"), checkpoint="last", max_examples=4,
                            modes=("greedy",), batch_size=8)
    assert out["checkpoint_name"] == "last" and out["checkpoint"].endswith("last.weights.h5")
    assert (runs / "hred" / "eval" / "last" / "test.json").is_file()
    assert best.read_bytes() == before


def stored_run(root, name, corpus, likelihood, average=0.5):
    folder = root / name / "eval" / "best"
    folder.mkdir(parents=True)
    metrics = {"average": average, "greedy": 0.5, "extrema": 0.25, "bleu": 1.5,
               "distinct_1": 0.1, "distinct_2": 0.2, "contexts_id": "abc"}
    refs = {name: dict(metrics, average=a) for name, a in
            (("constant", 0.125), ("random_gold", 0.25), ("retrieval", 0.375))}
    (folder / "test.json").write_text(json.dumps({
        "corpus": corpus, "likelihood": likelihood,
        "responses": {key: metrics for key in ("greedy/1", "greedy/3", "beam/1")},
        "references": {"1": refs, "3": refs}}))
    return str(root / name)


def test_report_prints_every_paper_table_with_the_papers_numbers(tmp_path):
    cornell = [
        stored_run(tmp_path, "vhcr_ud", "cornell", {"nll": 3.5, "nll_bound": 4.25,
                                                    "kl_utt": 0.25, "kl_conv": 0.5}, 0.75),
        "hred=" + stored_run(tmp_path, "baseline", "cornell", {"nll": 3.75,
                                                               "nll_bound": 3.75}, 0.625)]
    text = report.render(report.load_runs(cornell, "test"), report.load_paper_numbers())

    def table(title):
        return text.split(f"### {title}")[1].split("###")[0]

    vhcr1 = table("VHCR Table 1")
    assert "| VHCR + u.d | 4.250 | 3.500 | 0.750 | 4.026 | 3.523 | 0.503 | - |" in vhcr1
    assert "| HRED | 3.750 | 3.750 | - | 3.873 | - | - | - |" in vhcr1  # no KL, not 0.0
    assert "| VHRED + bow | - | - | - | 4.149 | 2.982 | 1.167 | - |" in vhcr1  # not run
    vhcr2 = table("VHCR Table 2")
    assert "| VHCR | 0.750 | 0.500 | 0.250 | 0.503 | 0.189 | 0.314 |" in vhcr2
    three_turn = table("VHCR Table 3: embedding metrics of greedy responses, 3-turn")
    assert "| VHCR + u.d | 0.750 | 0.250 | 0.500 | 0.588 | 0.378 | 0.429 |" in three_turn
    assert "| *retrieval reply* | 0.375 | 0.250 | 0.500 | - | - | - |" in three_turn
    assert "| HRED | 28.5 ± 1.9 | 28.2 ± 1.9 | 43.3 ± 2.1 |" in table("VHCR Table 4")
    # The CO tables print the paper's DailyDialog figures beside our Cornell runs.
    co1 = table("CO Table 1")
    assert "PPL (paper, dailydialog)" in co1
    assert "| CO+SS | - | - | - | 23.80 | 4.920 | 213.20 | - | - |" in co1
    assert co1.count("\n| ") == 11  # header + the paper's ten rows
    assert "| CO+SS | 89 | 44 | 51 |" in table("CO Table 4")
    with pytest.raises(ValueError, match="PRESET=RUN_DIR"):
        report.load_runs([str(tmp_path / "baseline")], "test")
    with pytest.raises(FileNotFoundError, match="--checkpoint last"):
        report.load_runs([str(tmp_path / "vhcr_ud")], "test", checkpoint="last")


def test_shipped_paper_numbers_equal_the_shared_tables():
    shared = os.path.join(REPO_ROOT, "..", "shared", "papers",
                          "tables.yaml")
    if not os.path.isfile(shared):
        pytest.skip(f"{shared} not found (the ../shared checkout)")
    import yaml
    with open(shared, encoding="utf-8") as f:
        assert report.load_paper_numbers() == yaml.safe_load(f)


def test_report_cli_over_evaluated_runs(runs, evaluated, capsys):
    report.main([str(runs / p) for p in PRESETS])
    text = capsys.readouterr().out
    assert "## dailydialog: hred, vhcr_ud, co_ss" in text
    co = evaluated["co_ss"]["likelihood"]
    row = (f"| CO+SS | {report._format(co['ppl'])} | "
           f"{report._format(co['kl_per_response'])} | ")
    assert row in text


def test_importance_weighted_bound_k1_is_the_elbo_and_tightens_with_k(runs):
    from pipeline.evaluation import likelihood
    batch = {"utterances": tf.constant(
        [[[4, 5, 6, 3], [7, 8, 3, 0], [9, 3, 0, 0], [10, 11, 3, 0]],
         [[12, 3, 0, 0], [13, 14, 15, 3], [0, 0, 0, 0], [0, 0, 0, 0]]], tf.int32)}
    dataset = tf.data.Dataset.from_tensors(batch)
    for preset in ("vhcr_ud", "co_ss", "hred"):
        model = load_run(str(runs / preset)).model
        # Three training steps leave q close to p (CO's KL is ~0.002 nats per word), which
        # would hide the bound's gap in noise; both properties hold for any proposal, so
        # the posteriors are moved away from the priors.
        for layer in model._flatten_layers():
            if "posterior" in layer.name and hasattr(layer, "mean"):
                layer.mean.bias.assign(layer.mean.bias + 0.5)
        draw = tf.function(model.importance_log_weights)

        def estimate(k):
            log_w = tf.stack([draw(batch)[0] for _ in range(k)])
            return float(tf.reduce_sum(tf.reduce_logsumexp(log_w, 0) - np.log(k)))

        ones = np.array([estimate(1) for _ in range(200)])
        elbos = []
        for _ in range(30):
            lik = likelihood.elbo(model, dataset)
            elbos.append(-lik["nll_bound"] * lik["words"])
        gap = abs(ones.mean() - np.mean(elbos))
        noise = 4 * np.sqrt(ones.var() / len(ones) + np.var(elbos) / len(elbos)) + 1e-3
        assert gap < noise, (preset, ones.mean(), np.mean(elbos))
        means = [ones.mean()] + [np.mean([estimate(k) for _ in range(100)]) for k in (4, 16)]
        if preset == "hred":  # exact: every K gives log p(x | c)
            np.testing.assert_allclose(means, means[0], rtol=1e-5)
        else:
            assert means[0] < means[1] < means[2], (preset, means)


def test_importance_weighted_estimate_is_finite_on_long_inputs(runs):
    from pipeline.evaluation import likelihood
    rng = np.random.default_rng(0)
    utterances = rng.integers(4, 200, size=(3, 12, 31)).astype(np.int32)
    utterances[:, :, -1] = 3  # 30 words + </s>, 12 turns
    dataset = tf.data.Dataset.from_tensors({"utterances": tf.constant(utterances)})
    for preset in PRESETS:
        model = load_run(str(runs / preset)).model
        out = likelihood.importance_weighted(model, dataset, 8, words=3 * 11 * 31, slices=3)
        assert np.isfinite(out["iw_nll"]) and out["iw_nll"] > 0


def test_vhcr_three_turn_generation_holds_z_conv(runs):
    from keras_models.decoding import DecodeOptions, converse, respond
    model = load_run(str(runs / "vhcr_ud")).model
    context = tf.constant([[[4, 5, 3], [6, 3, 0]]], tf.int32)
    greedy = DecodeOptions(31)

    seen = []

    def recording(c, z):
        ids, z_used = respond(model, c, greedy, z)
        seen.append((z, z_used.numpy()))
        return ids, z_used

    converse(recording, context, 3)
    assert seen[0][0] is None
    for z_given, z_used in seen[1:]:
        np.testing.assert_array_equal(z_given, seen[0][1])
        np.testing.assert_array_equal(z_used, seen[0][1])
    # Left to itself, each call draws a new z_conv: holding it is what the loop adds.
    first, second = (respond(model, context, greedy)[1].numpy() for _ in range(2))
    assert not np.allclose(first, second)


def test_latent_cloud_writes_a_loadable_projector_and_png(runs, tmp_path):
    run = load_run(str(runs / "co_ss"))
    query = latent.opening(run, "where do you live ?")
    vectors, metadata = latent.latent_cloud(run, query, neighbours=3, posterior_samples=4,
                                            prior_samples=20, pool=40)
    assert vectors.shape == (20 + 3 * 4, run.config.model.latent_dim)
    latent.write_projector(str(tmp_path / "logs" / "projector"), vectors, metadata)
    # TensorBoard pointed at the run folder lists the projector's folder as a run, which
    # is where its projector plugin looks for projector_config.pbtxt.
    from tensorboard.backend.event_processing import plugin_event_multiplexer
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(tmp_path))
    assert os.path.join("logs", "projector") in multiplexer.RunPaths()
    os.rename(tmp_path / "logs" / "projector", tmp_path / "projector")
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


def test_data_of_another_vocabulary_is_refused_and_other_data_has_its_own_folder(
        runs, evaluated, small_data, tmp_path):
    from pipeline.data import DataError
    from preprocessing import run as preprocess
    from tests.helpers import IN_MEMORY_ARGS
    raw = os.path.join(os.path.dirname(small_data), "raw")
    other = str(tmp_path / "other_vocab")
    preprocess.run(["--corpus", "dailydialog", "--input", raw, "--output", other,
                    "--vocab_size", "40", *IN_MEMORY_ARGS])
    best = os.path.join(str(runs / "hred"), "eval", "best", "test.json")
    before = open(best, encoding="utf-8").read()
    with pytest.raises(DataError, match="its vocabulary .* differs from the run's"):
        evaluate.evaluate(str(runs / "hred"), data_dir=other, modes=())
    assert open(best, encoding="utf-8").read() == before
    # The same data under another name is evaluated, into a folder of its own.
    import shutil
    copy = str(tmp_path / "copy_of_data")
    shutil.copytree(small_data, copy)
    report_ = evaluate.evaluate(str(runs / "hred"), data_dir=copy, modes=())
    assert report_["checkpoint_name"] == "best-on-copy_of_data"
    assert os.path.isfile(os.path.join(str(runs / "hred"), "eval", "best-on-copy_of_data",
                                       "test.json"))
    assert open(best, encoding="utf-8").read() == before
