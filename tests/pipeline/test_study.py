"""The study runner (`pipeline.study`) on a tiny budget, and the paper settings it uses."""
import csv
import json
import os

import pytest

from pipeline import configs, study
from pipeline.studies import claims as study_claims
from tests.helpers import TINY_OVERRIDE

# Tiny rows: a few steps, KL annealing within them (the scaled paper ramp does not fit).
TINY_STUDY = (TINY_OVERRIDE.replace("model.kl_annealing_steps=0", "model.kl_annealing_steps=2")
              + ",data.batch_size=8,train.validation_steps=1,train.sample_responses=0,"
              "train.warmup_steps=1")
STATS = {"splits": {"train": {"slices": 21954}}}  # DailyDialog's training slices


def test_presets_take_their_papers_settings_per_dataset():
    kla = configs.make_config("kla", dataset="dailydialog")
    assert (kla.model.kl_annealing_steps, kla.data.batch_size,
            kla.train.learning_rate) == (12000, 128, 2e-4)
    assert configs.make_config("kla", dataset="switchboard").model.kl_annealing_steps == 25000
    co_ss = configs.make_config("co_ss", dataset="switchboard").model
    assert co_ss.scheduled_sampling_steps == 5000
    vhcr = configs.make_config("vhcr_ud", dataset="cornell")
    assert (vhcr.model.kl_annealing_steps, vhcr.data.batch_size, vhcr.train.learning_rate,
            vhcr.train.epochs) == (25000, 80, 1e-4, 30)
    assert configs.make_config("vhred_wd", dataset="ubuntu").model.kl_annealing_steps == 25000
    # HRED is a row of both papers: the dataset picks whose settings it trains with.
    assert configs.make_config("hred", dataset="cornell").data.batch_size == 80
    assert configs.make_config("hred", dataset="dailydialog").data.batch_size == 128
    assert configs.make_config("hred", dataset="dailydialog", paper="vhcr").data.batch_size == 80
    # Every preset keeps the papers' decoder conditioning.
    assert {configs.make_config(p).model.decoder_conditioning
            for p in configs.PRESETS} == {"initial_state"}


def test_every_preset_fits_its_planned_paper_run():
    from pipeline.training.budget import check_budget, planned_steps
    for preset in configs.PRESETS:
        for dataset in ("dailydialog", "cornell"):
            config = configs.make_config(preset, dataset=dataset)
            stats = STATS if dataset == "dailydialog" else {
                "splits": {"train": {"slices": 200000}}}
            check_budget(config, planned_steps(config, stats)[1])
    # VHCR studies read whole conversations: fewer, longer examples than slices.
    whole = {"splits": {"train": {"slices": 11118}}}  # DailyDialog's training dialogues
    for preset in configs.TABLE_ROWS["vhcr"]:
        config = configs.make_config(preset, dataset="dailydialog", paper="vhcr")
        check_budget(config, planned_steps(config, whole)[1])


def test_small_scale_is_the_converged_reduced_scale():
    co = study.STUDIES["co_dailydialog"]
    data_epoch = 21954 // 64  # steps per pass over DailyDialog's slices at batch 64
    config, paper, paper_steps = study.row_config(co, "kla", "d", "small", STATS, 20004)
    assert paper_steps == 100 * (21954 // 128)  # the paper-scale run on this data
    assert paper.model.kl_annealing_steps == 12000
    # The KL ramp in data epochs; early stopping armed when it ends.
    assert config.model.kl_annealing_steps == round(study.SMALL.kl_ramp_epochs * data_epoch)
    assert config.train.early_stopping_start_step == config.model.kl_annealing_steps
    assert config.model.softmax_cutoffs == list(study.SMALL.softmax_cutoffs)
    # One constant rate after a short warm-up; the whole validation split; a step cap.
    t = config.train
    assert (t.learning_rate, t.lr_decay, t.warmup_steps, t.validation_steps) == (
        1e-3, "constant", study.SMALL.warmup_steps, 0)
    # The cap: the VHCR authors' 30 data epochs, in whole validation intervals.
    cap = t.epochs * t.steps_per_epoch
    assert cap - t.steps_per_epoch < study.SMALL.max_epochs * data_epoch <= cap
    assert t.early_stopping_patience == study.SMALL.patience
    # About the same words per batch: 64 slices, or 32 whole conversations.
    vhcr, _, _ = study.row_config(study.STUDIES["vhcr_dailydialog"], "vhcr_ud", "d", "small",
                                  STATS, 20004)
    assert (config.data.batch_size, vhcr.data.batch_size) == (64, 32)
    # CO: many short phases; scheduled sampling over 8 AE phases, armed when it ends
    # (AE step k = 800 is reached at global step 1,500 with 100-step phases from AE).
    ss, _, _ = study.row_config(co, "co_ss", "d", "small", STATS, 20004)
    assert ss.model.phase_period_steps == study.SMALL.co_phase_steps == 100
    assert ss.model.scheduled_sampling_steps == 8 * 100
    assert ss.train.early_stopping_start_step == 1500
    assert t.epochs * t.steps_per_epoch // (2 * 100) >= 20  # AE/CVAE alternations
    joint, _, _ = study.row_config(co, "co_ss_joint", "d", "small", STATS, 20004)
    assert joint.train.early_stopping_start_step == 800
    # An alternating CO row's encoder and decoder train only in AE phases: its cap counts
    # those steps (twice the global steps); a joint row trains them every step.
    ae_epochs = 2 * study.SMALL.max_epochs * data_epoch
    assert ss.train.epochs * 200 - 200 < ae_epochs <= ss.train.epochs * 200
    assert joint.train.epochs * joint.train.steps_per_epoch == cap
    hred, _, _ = study.row_config(co, "hred", "d", "small", STATS, 20004)
    assert hred.train.early_stopping_start_step == study.SMALL.warmup_steps
    # Free bits per dimension scaled to the latent size: FB reserves 5.12 nats as at
    # paper scale (0.01 x 512), FB-all keeps its total of 5.
    fb, fb_paper, _ = study.row_config(co, "fb", "d", "small", STATS, 20004)
    assert fb.model.free_bits_per_dim * fb.model.latent_dim == pytest.approx(
        fb_paper.model.free_bits_per_dim * fb_paper.model.latent_dim) == pytest.approx(5.12)
    fb_all, _, _ = study.row_config(co, "fb_all", "d", "small", STATS, 20004)
    assert fb_all.model.free_bits_total == 5.0
    # A small vocabulary keeps the full softmax (the cutoffs need room).
    small_vocab, _, _ = study.row_config(co, "hred", "d", "small", STATS, 3000)
    assert small_vocab.model.softmax_cutoffs == []


def test_each_paper_rows_use_their_papers_forms():
    vhcr = study.STUDIES["vhcr_dailydialog"]
    bow, _, _ = study.row_config(vhcr, "vhred_bow", "d", "small", STATS, 20004)
    assert (bow.model.bow_loss, bow.model.bow_input) == (True, "latent")
    kla_bow, _, _ = study.row_config(study.STUDIES["co_dailydialog"], "kla_bow", "d", "small",
                                     STATS, 20004)
    assert (kla_bow.model.bow_loss, kla_bow.model.bow_input) == (True, "condition")
    for preset in ("vhcr_ud", "vhred_ud"):
        assert configs.make_config(preset).model.utterance_drop_form == "position"


def test_a_seed_that_reached_an_older_lower_cap_trains_further(tmp_path):
    from preprocessing.files import write_json_atomic

    def kept(reason, step):
        write_json_atomic(str(tmp_path / "finished.json"),
                          {"finished": {"step": step, "reason": reason}})
        return {"train_seconds": 3000.0, "eval_seconds": 100.0, "done": True}

    run_dir = tmp_path / "run"
    seed_state = kept("all planned steps", 6000)
    assert study.reopen_if_capped(seed_state, str(tmp_path), 10600, str(run_dir))
    assert seed_state == {}  # no run to continue (another machine): trained again from 0
    run_dir.mkdir()
    (run_dir / "run_record.json").write_text("{}")
    seed_state = kept("all planned steps", 6000)
    assert study.reopen_if_capped(seed_state, str(tmp_path), 10600, str(run_dir))
    assert seed_state == {}  # stages redone; the run continues from its backup and log
    for reason, step in (("all planned steps", 10600), ("early stopping", 4000)):
        seed_state = kept(reason, step)
        assert not study.reopen_if_capped(seed_state, str(tmp_path), 10600, str(run_dir))
        assert seed_state["done"]


def test_seeds_per_row():
    vhcr = study.STUDIES["vhcr_dailydialog"]
    assert vhcr.seeds_of("vhcr_ud", "auto") == 2 and vhcr.seeds_of("hred", "auto") == 1
    assert vhcr.seeds_of("hred", 3) == 3
    co = study.STUDIES["co_dailydialog"]
    assert {p for p in co.rows if co.seeds_of(p, "auto") == 2} == {"kla", "kla_bow", "co_ss"}
    with pytest.raises(study.StudyError, match="--seeds 'x'"):
        study.run_study("vhcr_dailydialog", seeds="x")


def _run(small_dialogues, tmp_path, rows, scale="small", seeds=1, **kwargs):
    return study.run_study(
        "vhcr_dailydialog", scale, data_dir=small_dialogues, out_dir=str(tmp_path / "results"),
        runs_dir=str(tmp_path / "runs"), rows=rows, params_override=TINY_STUDY, epochs=2,
        steps_per_epoch=2, max_examples=4, seeds=seeds, **kwargs)


@pytest.mark.slow
def test_study_writes_results_resumes_seeds_and_judges_claims(small_dialogues, tmp_path,
                                                              monkeypatch):
    """One study of HRED (1 seed) and VHCR + u.d. (2 seeds, `auto`), crashed and resumed,
    then reported again from the results folder alone."""
    calls = []
    real = study.run_logged

    def crash_on_second_row_eval(command, log_path, what):
        calls.append(what)
        if what == "evaluating vhcr_ud":
            raise study.StudyError("simulated crash")
        return real(command, log_path, what)

    monkeypatch.setattr(study, "run_logged", crash_on_second_row_eval)
    with pytest.raises(study.StudyError, match="simulated crash"):
        _run(small_dialogues, tmp_path, ["hred", "vhcr_ud"], seeds="auto")
    assert calls == ["training hred", "evaluating hred", "training vhcr_ud",
                     "evaluating vhcr_ud"]
    hred_best = tmp_path / "runs" / "hred" / "seed1" / "checkpoints" / "best.weights.h5"
    stamp = os.stat(hred_best).st_mtime_ns

    calls.clear()
    monkeypatch.setattr(study, "run_logged", lambda *a: (calls.append(a[2]), real(*a)))
    readme = _run(small_dialogues, tmp_path, ["hred", "vhcr_ud"], seeds="auto")
    udrop = "evaluating vhcr_ud with utterance drop on"
    assert calls == ["evaluating vhcr_ud", udrop,  # nothing finished is redone
                     "training vhcr_ud", "evaluating vhcr_ud", udrop]  # seed 2
    assert os.stat(hred_best).st_mtime_ns == stamp

    out = tmp_path / "results"
    assert {"README.md", "results.json", "kl_over_training.png",
            "prior_variance_ratio.png"} <= set(os.listdir(out))
    results = json.loads((out / "results.json").read_text())
    rows = results["rows"]
    assert set(rows) == {"hred", "vhcr_ud"}
    assert rows["vhcr_ud"]["curve"]["global_step"] == [2.0, 4.0]
    assert rows["vhcr_ud"]["config"]["model"]["kl_annealing_steps"] == 2
    assert (len(rows["hred"]["seeds"]), len(rows["vhcr_ud"]["seeds"])) == (1, 2)
    assert os.path.isdir(tmp_path / "runs" / "vhcr_ud" / "seed2" / "checkpoints")
    # The seeds differ (initialisation, data order), and the table is their mean.
    bounds = [s["likelihood"]["nll_bound"] for s in rows["vhcr_ud"]["seeds"]]
    assert bounds[0] != bounds[1]
    assert rows["vhcr_ud"]["likelihood"]["nll_bound"] == pytest.approx(sum(bounds) / 2)
    # A seed's training time is its log's epochs, kept beside the results.
    kept = out / "rows" / "vhcr_ud" / "seed2" / "training_log.csv"
    logged = sum(float(r["epoch_seconds"])
                 for r in csv.DictReader(kept.read_text().splitlines()))
    assert rows["vhcr_ud"]["seconds"]["train_seconds"][1] == pytest.approx(logged, abs=0.1)
    # VHCR + u.d. is evaluated with utterance drop off (its bound) and on (the authors').
    assert rows["vhcr_ud"]["likelihood_udrop"]["nll_bound"] > 0

    # The claims are judged from the numbers the study wrote, on the mean and per seed.
    claims = {c["claim"]: c for c in results["claims"]}
    assert len(claims) == 7
    lowest = claims["HRED has the lowest NLL; latent models have higher bounds"]
    nll = {p: r["likelihood"]["nll_bound"] for p, r in rows.items()}
    # A 4-step row does not converge, so no verdict counts; what it measured is kept.
    assert lowest["verdict"] == "not measurable"
    assert lowest["verdict_unconverged"] == ("held" if nll["hred"] < nll["vhcr_ud"]
                                             else "not held")
    for claim in results["claims"]:
        assert len(claim["verdict_per_seed"]) == 2
        if claim["verdict_on_mean"] != "not measurable":
            held = claim["verdict_per_seed"].count("held")
            measured = claim.get("verdict_unconverged", claim["verdict"])
            assert (measured == "held") == (claim["verdict_on_mean"] == "held" and held == 2)
            assert claim["verdict"] == "not measurable"
    text = open(readme, encoding="utf-8").read()
    assert "### VHCR Table 1" in text and "| HRED | " in text and "*constant reply*" in text
    assert "| vhcr_ud | 2 |" in text and "evaluated both ways" in text
    assert "converged reduced scale" in text
    # HRED's bound per seed has no KL beside it; no authors' code, so no dashed lines.
    assert f"| hred | {nll['hred']:.4f} | - | {nll['hred']:.4f} | - |" in text
    assert "dashed" not in text

    # Another budget is another study: refused, nothing rewritten.
    with pytest.raises(study.StudyError, match="epochs: 2 there, 3 now"):
        study.run_study("vhcr_dailydialog", data_dir=small_dialogues, out_dir=str(out),
                        runs_dir=str(tmp_path / "runs"), rows=["hred"],
                        params_override=TINY_STUDY, epochs=3, steps_per_epoch=2, max_examples=4,
                        seeds="auto")
    # The results folder keeps what the report needs: on a machine without the run
    # folders (weights are never committed) the study still resumes and reports.
    import shutil
    shutil.rmtree(tmp_path / "runs")
    calls.clear()
    again = _run(small_dialogues, tmp_path, ["hred", "vhcr_ud"], seeds="auto")
    assert calls == []
    assert json.loads((out / "results.json").read_text())["rows"]["vhcr_ud"][
        "likelihood"] == rows["vhcr_ud"]["likelihood"]
    assert open(again, encoding="utf-8").read() == text


def test_a_runs_training_time_is_its_logged_epochs():
    """Summed from the training log, so a resumed run keeps the time of its logged epochs;
    logs from before `epoch_seconds` give words / tokens_per_sec (the same quantity)."""
    from pipeline.studies import report as study_report

    def rows(text):
        return list(csv.DictReader(text.splitlines()))
    assert study_report.logged_train_seconds([]) is None
    old = rows("epoch,global_step,words,tokens_per_sec\n0,200,1000,10\n1,400,600,20")
    assert study_report.logged_train_seconds(old) == 130.0
    new = rows("epoch,global_step,words,tokens_per_sec,epoch_seconds\n"
               "0,200,1000,10,101.5\n1,400,600,20,30.25")
    assert study_report.logged_train_seconds(new) == pytest.approx(131.75, abs=0.1)


@pytest.mark.slow
def test_paper_scale_is_the_same_code_path(small_dialogues, tmp_path):
    readme = _run(small_dialogues, tmp_path, ["hred"], scale="paper")
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    config = results["rows"]["hred"]["config"]
    assert (config["data"]["batch_size"], config["train"]["learning_rate"]) == (8, 1e-4)
    assert config["model"]["utterance_units"] == 16  # the override, over paper sizes
    assert "paper scale" in open(readme, encoding="utf-8").read()


def test_claims_are_judged_from_numbers():
    def row(nll, kl_curve):
        return {"evaluation": {"likelihood": {"nll_bound": nll, "kl_utt": kl_curve[-1]},
                               "responses": {}},
                "curve": {"global_step": [100.0 * (i + 1) for i in range(len(kl_curve))],
                          "val_kl_utt": kl_curve}, "config": {}}
    vhcr = study.STUDIES["vhcr_dailydialog"]
    papers = {"vhcr_paper": {"qualitative_claims": [
        "HRED has the lowest NLL; latent models have higher bounds",
        "VHRED's KL decreases towards zero during training even with word drop and KL "
        "annealing (Fig. 1)"]}}
    vanishing = {"hred": row(3.0, [0.0, 0.0]), "vhred_wd": row(3.1, [0.4, 0.3, 0.05])}
    verdicts = [c["verdict"] for c in study_claims.judge(vhcr, vanishing, papers)]
    assert verdicts == ["held", "held"]
    kept = {"hred": row(3.2, [0.0, 0.0]), "vhred_wd": row(3.1, [0.4, 0.3, 0.35])}
    verdicts = [c["verdict"] for c in study_claims.judge(vhcr, kept, papers)]
    assert verdicts == ["not held", "not held"]


def test_a_validation_missing_from_a_log_is_named():
    from pipeline.studies import report as study_report
    curve = {"global_step": [200.0, 400.0, 800.0, 1000.0]}
    assert study_report.missing_validations(curve, 200) == [600]
    assert study_report.missing_validations({"global_step": [200.0, 400.0]}, 200) == []


def test_findings_say_whether_cos_kl_floor_acted():
    def row(kl_curve):
        return {"evaluation": {"likelihood": {}, "responses": {}},
                "curve": {"global_step": [200.0 * (i + 1) for i in range(len(kl_curve))],
                          "val_kl_response": kl_curve},
                "config": {"model": {"co_alpha": 5.0}}}
    co = study.STUDIES["co_dailydialog"]
    found = study_claims.findings(co, {"co": row([1.7, 3.9, 2.0]),
                                       "co_ss": row([2.0, 6.5, 4.0, 7.25])})
    assert ("CO: validation KL per response went from 1.70 (step 200) to 2.00 (step 600), "
            "peak 3.90, against alpha = 5: max(alpha, KL) was alpha at every validation"
            ) in found[0]
    assert "was the KL (it acted on the AE) at 2 of 4 validations, first at step 400" in found[1]


def test_unknown_study_rows_and_wrong_data_are_refused(small_data, small_dialogues,
                                                       tmp_path):
    with pytest.raises(study.StudyError, match="--rows kla: not rows of vhcr_dailydialog"):
        study.run_study("vhcr_dailydialog", data_dir=small_dialogues, rows=["kla"],
                        out_dir=str(tmp_path / "r"))
    with pytest.raises(study.StudyError, match="holds 'dailydialog', the study "
                                               "vhcr_cornell needs 'cornell'"):
        study.run_study("vhcr_cornell", data_dir=small_dialogues, out_dir=str(tmp_path / "r"))
    # Each paper's own data: VHCR whole conversations, CO 80-word slices.
    with pytest.raises(study.StudyError, match="max_slice_words 80 .*trains on whole "
                       "conversations.*--max_slice_words 0 --output data/dailydialog_dialogues"):
        study.run_study("vhcr_dailydialog", data_dir=small_data, out_dir=str(tmp_path / "r"))
    with pytest.raises(study.StudyError, match="max_slice_words 0 .*trains on 80-word slices"):
        study.run_study("co_dailydialog", data_dir=small_dialogues, out_dir=str(tmp_path / "r"))
    with pytest.raises(study.StudyError, match="no finished preprocessing run.*--corpus "
                       "dailydialog --max_slice_words 0 --output data/dailydialog_dialogues"):
        study.run_study("vhcr_dailydialog", data_dir=str(tmp_path / "none"),
                        out_dir=str(tmp_path / "r"))
    assert not (tmp_path / "r").exists()


def test_figure_claims_are_judged_on_the_figure_rows():
    def row(curve):
        steps = [100.0 * (i + 1) for i in range(len(next(iter(curve.values()))))]
        return {"evaluation": {"likelihood": {}, "responses": {}},
                "curve": {"global_step": steps, **curve}, "config": {}}
    vhcr = study.STUDIES["vhcr_dailydialog"]
    assert vhcr.figure_rows == ("vhred_ud", "vhred_zonly")
    papers = {"vhcr_paper": {"qualitative_claims": [
        "the prior variance ratio E[sigma^2]/Var(mu) of VHRED's z_utt prior falls to zero as "
        "it degenerates (Fig. 2)",
        "utterance drop on VHRED does not stop its KL from vanishing; VHCR with utterance "
        "drop keeps a high, stable KL (Fig. 4)"]}}
    paper_like = {
        "vhred_zonly": row({"val_prior_variance_ratio_utt": [2.0, 1.0, 0.1]}),
        "vhred_ud": row({"val_kl_utt": [0.4, 0.2, 0.01]}),
        "vhcr_ud": row({"val_kl_utt": [0.3, 0.3, 0.3], "val_kl_conv": [0.2, 0.2, 0.2]})}
    assert [c["verdict"] for c in study_claims.judge(vhcr, paper_like, papers)] == [
        "held", "held"]
    collapsed = dict(paper_like, vhcr_ud=row({"val_kl_utt": [0.3, 0.01, 0.001],
                                              "val_kl_conv": [0.2, 0.001, 0.0]}),
                     vhred_zonly=row({"val_prior_variance_ratio_utt": [1.0, 5.0, 9.0]}))
    verdicts = study_claims.judge(vhcr, collapsed, papers)
    assert [c["verdict"] for c in verdicts] == ["not held", "not held"]
    assert "z_conv >= 0.0000" in verdicts[1]["evidence"]
    # High at first, then falling to a fifth of its peak: above 0.01, but not stable.
    falling = dict(paper_like, vhcr_ud=row({"val_kl_utt": [0.2, 0.05, 0.03],
                                            "val_kl_conv": [0.1, 0.01, 0.03]}))
    verdict = study_claims.judge(vhcr, falling, papers)[1]
    assert verdict["verdict"] == "not held"
    assert "0.0600 at the end (below half its peak)" in verdict["evidence"]
    assert study_claims.judge(vhcr, {"vhcr_ud": paper_like["vhcr_ud"]}, papers)[1][
        "verdict"] == "not measurable"  # VHRED + u.d. not run


def test_a_verdict_resting_on_an_unconverged_row_is_not_measurable():
    from pipeline.studies import seeds as study_seeds
    vhcr = study.STUDIES["vhcr_dailydialog"]
    papers = {"vhcr_paper": {"qualitative_claims": [
        "HRED has the lowest NLL; latent models have higher bounds",
        "VHCR uses both latents (z_conv and z_utt KL both clearly above zero)"]}}

    def row(nll, reason, kl=(0.0, 0.0)):
        return {"evaluation": {"likelihood": {"nll_bound": nll, "kl_conv": kl[0],
                                              "kl_utt": kl[1]}, "responses": {}},
                "curve": {}, "config": {}, "finished": {"reason": reason}}
    loaded = {"hred": [row(3.0, "early stopping")], "vhred": [row(3.1, "early stopping")],
              "vhcr_ud": [row(3.2, "all planned steps", (0.0004, 0.0004))]}
    mean, _ = study_seeds.views(loaded)

    def judged(planned=None):
        claims = study_claims.judge(vhcr, mean, papers)
        for claim in claims:
            claim["verdict_on_mean"] = claim["verdict"]
            claim["evidence_on_mean"] = claim["evidence"]
        return study_seeds.unfinished_verdicts(
            claims, lambda v: study_claims.judge(vhcr, v, papers), mean, loaded, planned)
    claims = judged()
    # Both claims read VHCR + u.d. (the ordering lists it; the KL claim is about it).
    assert [c["verdict"] for c in claims] == ["not measurable", "not measurable"]
    assert claims[1]["verdict_unconverged"] == "not held"
    assert claims[1]["evidence"].startswith("vhcr_ud did not converge")
    loaded["vhcr_ud"][0]["finished"]["reason"] = "early stopping"
    claims = judged()
    assert [c["verdict"] for c in claims] == ["held", "not held"]
    # A row with fewer finished seeds than planned gives no verdict yet either.
    claims = judged({"hred": 1, "vhred": 1, "vhcr_ud": 2})
    assert [c["verdict"] for c in claims] == ["not measurable", "not measurable"]
    assert claims[1]["evidence"].startswith("vhcr_ud has 1 of its 2 seeds so far")
    assert claims[1]["verdict_unconverged"] == "not held"


def test_a_claim_has_the_seeds_of_the_rows_it_uses():
    """A row trained once repeats its seed in every seed view: a claim about one-seed rows
    is one seed's verdict, not several identical ones."""
    from pipeline.studies import seeds as study_seeds
    vhcr = study.STUDIES["vhcr_dailydialog"]
    papers = {"vhcr_paper": {"qualitative_claims": [
        "HRED has the lowest NLL; latent models have higher bounds",
        "VHCR uses both latents (z_conv and z_utt KL both clearly above zero)"]}}

    def row(nll, kl=(0.0, 0.0)):
        return {"evaluation": {"likelihood": {"nll_bound": nll, "kl_conv": kl[0],
                                              "kl_utt": kl[1]}, "responses": {}},
                "curve": {}, "config": {}, "finished": {"reason": "early stopping"}}
    loaded = {"hred": [row(3.0), row(3.3)], "vhred": [row(3.1)],
              "vhcr_ud": [row(3.2, (0.2, 0.3))]}
    claims = study_seeds.judge_on_seeds(lambda v: study_claims.judge(vhcr, v, papers), loaded)
    lowest, both = claims
    # The ordering uses HRED's two seeds: on seed 2 (3.3) HRED is not the lowest.
    assert lowest["verdict_per_seed"] == ["held", "not held"]
    assert lowest["verdict"] == "not held" and "(the seeds disagree)" in lowest["evidence"]
    # VHCR's KLs: VHCR + u.d. was trained once.
    assert both["verdict_per_seed"] == ["held"]
    assert both["verdict"] == "held" and both["evidence"].endswith("[one seed]")


def test_the_settings_name_each_rows_step_cap():
    from pipeline.studies import report as study_report
    def row(epochs):
        return {"config": {"train": {"epochs": epochs, "steps_per_epoch": 200}}}
    state = {"rows": {"hred": row(52), "kla": row(52), "co": row(103), "co_ss": row(103),
                      "co_ss_joint": row(52)}}
    assert study_report.step_caps(state, ["hred", "kla", "co", "co_ss", "co_ss_joint"]) == (
        "10400 steps, 20600 for co, co_ss")
    assert study_report.step_caps(state, ["hred", "kla"]) == "10400 steps"


def test_each_row_has_its_own_colour_and_its_seeds_share_it():
    from pipeline.studies import report as study_report
    rows = {f"row{i}": {"group": f"row{i}", "seed": 1} for i in range(10)}
    rows.update({"row0 s2": {"group": "row0", "seed": 2}, "row10": {}})
    looks = study_report.line_looks(rows)
    colours = {label: colour for label, (colour, _) in looks.items()}
    assert len({colours[f"row{i}"] for i in range(11)}) == 11
    assert colours["row0 s2"] == colours["row0"]
    assert looks["row0"][1] != looks["row0 s2"][1]


def test_the_authors_code_and_every_seed_read_side_by_side_per_step():
    from pipeline.studies import report as study_report
    reference = {"row": "vhcr_ud", "note": "their code",
                 "finished": {"step": 400, "reason": "early stopping"},
                 "settings": {"early_stopping_start_step": 200}, "train_seconds": 1234.5,
                 "seconds_per_step": 3.1, "curve": {
        "global_step": [200, 400], "val_nll_bound": [5.5, 4.8], "val_kl_conv": [0.1, 0.2],
        "val_kl_utt": [0.3, 0.4], "val_nll_bound_udrop_on": [5.6, 4.9],
        "val_kl_conv_udrop_on": [0.5, 0.6], "val_kl_utt_udrop_on": [0.7, 0.8]}}
    ours = [{"seed": 1, "curve": {"global_step": [200.0, 400.0, 600.0],
                                  "val_nll_bound": [5.2, 4.7, 4.5],
                                  "val_kl_conv": [0.01, 0.02, 0.03],
                                  "val_kl_utt": [0.04, 0.05, None]}},
            {"seed": 2, "curve": {"global_step": [200.0], "val_nll_bound": [5.3],
                                  "val_kl_conv": [0.06], "val_kl_utt": [0.07]}}]
    lines = study_report._reference_lines([reference], {"vhcr_ud": ours})
    table = [line for line in lines if line.startswith("| ")]
    assert table[0].startswith("| step | authors' code: NLL bound |")
    assert "| authors' code, u.d. on: NLL bound |" in table[0]
    assert "ours, seed 2: z_utt |" in table[0]
    assert table[1:] == [
        "| 200 | 5.5000 | 0.1000 | 0.3000 | 5.6000 | 0.5000 | 0.7000 | 5.2000 | 0.0100 "
        "| 0.0400 | 5.3000 | 0.0600 | 0.0700 |",
        "| 400 | 4.8000 | 0.2000 | 0.4000 | 4.9000 | 0.6000 | 0.8000 | 4.7000 | 0.0200 "
        "| 0.0500 | - | - | - |",
        "| 600 | - | - | - | - | - | - | 4.5000 | 0.0300 | - | - | - | - |"]
    assert "- vhcr_ud: their code" in lines
    assert ("- vhcr_ud, the authors' code: ended by early stopping at step 400, best "
            "validation bound 4.8000 at step 400; 1234 s of training (3.10 s a step).") in lines
    assert study_report._reference_lines([], {"vhcr_ud": ours}) == []
    vhred = {**reference, "row": "vhred_wd",
             "settings": {"model": "VHRED", "sentence_drop": 0.0}}
    table = [line for line in study_report._reference_lines([vhred], {"vhred_wd": ours[:1]})
             if line.startswith("| ")]
    assert table[0] == ("| step | authors' code: NLL bound | authors' code: z_utt "
                        "| ours, seed 1: NLL bound | ours, seed 1: z_utt |")
    assert table[1] == "| 200 | 5.5000 | 0.3000 | 5.2000 | 0.0400 |"
    running = {**reference, "finished": None}
    assert ("- vhcr_ud, the authors' code: **unfinished** (not ended by early stopping or "
            "its cap; last validation at step 400): not comparable at its optimum yet.") in (
        study_report._reference_lines([running], {"vhcr_ud": ours}))


def test_a_rows_finished_seeds_keep_their_own_numbers_and_states():
    """While seed 1 trains further (reopened at a higher cap) only seed 2 is finished: the
    report names it seed 2 and reads seed 2's study state, not seed 1's."""
    from pipeline.studies import report as study_report
    vhcr = study.STUDIES["vhcr_dailydialog"]
    config = {"model": {"kl_annealing_steps": 900, "scheduled_sampling_steps": 0},
              "train": {"early_stopping_start_step": 900}}
    state = {"rows": {"vhred": {
        "config": config, "paper_config": config,
        "seeds": {"1": {"train_seconds": 111.0}, "2": {"train_seconds": 222.0, "done": True,
                                                       "eval_seconds": 5.0}}}}}
    row = {"seed": 2, "curve": {"global_step": [1000.0, 1200.0],
                                "val_nll_bound": [4.0, 4.1]},
           "finished": {"reason": "early stopping", "step": 1200},
           "evaluation": {"likelihood": {"nll_bound": 3.9, "kl_utt": 0.01}}}
    lines = study_report._row_lines(vhcr, state, {"vhred": [row]})
    table = [line for line in lines if line.startswith("| vhred")]
    assert table[0].split(" | ")[1] == "2" and table[0].endswith(" | 222.0 |")
    assert " | 1000 | 1200 | yes | " in table[0]
    header = next(line for line in lines if line.startswith("| row | seed 2 |"))
    assert "seed 1" not in header
    assert table[1].startswith("| vhred | 3.9000 (KL 0.0100) |")
    assert "Wall time of the rows (training and evaluation): 3.8 minutes" in lines[-1]


def test_two_study_processes_split_the_seeds_and_keep_each_others_progress(
        small_dialogues, tmp_path, monkeypatch):
    """Process A runs the study while process B holds vhcr_ud seed 1 (its claim) and saves
    its progress in between: A skips that seed, and neither save loses the other's seeds."""
    import copy

    from pipeline.studies import report as study_report
    from preprocessing import files
    out, runs = str(tmp_path / "results"), str(tmp_path / "runs")
    trained = []
    b_state = {}

    def fake_run_row(s, preset, config, run_dir, eval_options, seed_state, save):
        trained.append((preset, config.train.seed))
        seed_state.update(train_seconds=1.0, eval_seconds=1.0)
        save()
        if (preset, config.train.seed) == ("vhcr_ud", 2):  # B finishes seed 1 meanwhile
            b_state.update(copy.deepcopy(study.load_state(out)))
            b_state["rows"]["vhcr_ud"]["seeds"]["1"] = {"train_seconds": 7.0, "done": True}
            # and takes hred seed 1, which A finished and released, to train it further
            b_state["rows"]["hred"]["seeds"]["1"] = {"train_seconds": 3.0}
            study.sync_state(out, runs, b_state, {("vhcr_ud", "1"), ("hred", "1")})

    monkeypatch.setattr(study, "run_row", fake_run_row)
    monkeypatch.setattr(study_report, "keep_row", lambda run_dir, kept_dir: None)
    monkeypatch.setattr(study_report, "write", lambda *a: "README.md")
    os.makedirs(os.path.join(runs, "vhcr_ud", "seed1"))
    with files.exclusive_lock(os.path.join(runs, "vhcr_ud", "seed1", study.CLAIM_FILE)):
        _run(small_dialogues, tmp_path, ["hred", "vhcr_ud"], seeds="auto")
    assert trained == [("hred", 1), ("vhcr_ud", 2)]  # seed 1 was B's
    seeds = lambda: {(p, k): v for p, r in study.load_state(out)["rows"].items()  # noqa: E731
                     for k, v in r["seeds"].items()}
    assert seeds() == {("hred", "1"): {"train_seconds": 3.0},  # B's: A had released it
                       ("vhcr_ud", "1"): {"train_seconds": 7.0, "done": True},
                       ("vhcr_ud", "2"): {"train_seconds": 1.0, "eval_seconds": 1.0,
                                          "done": True}}
    # B saves again from its older view (A's seed 2 unfinished there): A's seed 2 stays.
    assert not b_state["rows"]["vhcr_ud"]["seeds"]["2"].get("done")
    study.sync_state(out, runs, b_state, {("vhcr_ud", "1")})
    assert seeds()[("vhcr_ud", "2")]["done"] and b_state["rows"]["vhcr_ud"]["seeds"]["2"][
        "done"]
    # A rerun (nothing claimed elsewhere now) trains only the seed B left unfinished.
    trained.clear()
    _run(small_dialogues, tmp_path, ["hred", "vhcr_ud"], seeds="auto")
    assert trained == [("hred", 1)]
    assert all(v.get("done") for v in seeds().values())
