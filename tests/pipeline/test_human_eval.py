"""pipeline.human_eval: blind export of rating sheets, validated import, Wilson intervals."""
import csv
import json
import math

import pytest

from pipeline import human_eval as he

Z90 = 1.6448536  # the two-sided 90% normal quantile

# Distinct words per run, so a response shows which run wrote it without naming the run.
MARKERS = {"alpha": "red", "beta": "green", "gamma": "blue"}


def write_run(root, name, ids, split="test", mode="greedy", turns=1, marker=None):
    """A fake run directory with one eval TSV, as the evaluation tool writes it."""
    marker = marker or MARKERS[name]
    eval_dir = root / name / "eval" / "best"
    eval_dir.mkdir(parents=True)
    with open(eval_dir / f"{split}-{mode}-{turns}turn.tsv", "w", encoding="utf-8",
              newline="") as f:
        writer = csv.writer(f, delimiter="\t")
        writer.writerow(["id", "context", "gold", "response"])
        for i in ids:
            writer.writerow([i, f"hello {i} __eou__ how are you {i} ?", f"fine {i}",
                             f"{marker} reply {i}"])
    return str(root / name)


def example_ids(n):
    return [f"dlg{k}:{k % 3}" for k in range(n)]


def read_items(path):
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def fill_ratings(items_path, out_path, answer_for_item):
    """A rater's copy of items.csv with the answer columns set by answer_for_item(item)."""
    rows = read_items(items_path)
    with open(items_path, encoding="utf-8", newline="") as f:
        header = next(csv.reader(f))
    with open(out_path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        for row in rows:
            row.update(answer_for_item(row["item"]))
            writer.writerow(row)
    return str(out_path)


def letter_of(key, item, system):
    return next(letter for letter, s in key["items"][item].items() if s == system)


@pytest.fixture
def three_runs(tmp_path):
    ids = example_ids(6)
    return [write_run(tmp_path / "runs", name, ids) for name in ("alpha", "beta", "gamma")]


@pytest.fixture
def two_runs(tmp_path):
    ids = example_ids(4)
    return [write_run(tmp_path / "runs", name, ids) for name in ("alpha", "beta")]


# ---------------------------------------------------------------------------- Wilson

def test_wilson_interval_matches_closed_form():
    low, high = he.wilson_interval(5, 10, confidence=0.90)
    p, n, z = 0.5, 10, Z90
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert low == pytest.approx(centre - half, abs=1e-4)
    assert high == pytest.approx(centre + half, abs=1e-4)
    assert (low, high) == pytest.approx((0.269272, 0.730728), abs=1e-4)  # by hand


def test_wilson_interval_edges():
    low, high = he.wilson_interval(0, 4)
    assert low == 0.0 and 0 < high < 1
    low, high = he.wilson_interval(4, 4)
    assert high == 1.0 and 0 < low < 1
    with pytest.raises(ValueError):
        he.wilson_interval(1, 0)


# ---------------------------------------------------------------------------- export

def test_export_is_blind_complete_and_keyed(tmp_path, three_runs):
    out = tmp_path / "sheet"
    key = he.export_items(three_runs, out, items=100, seed=0)

    text = (out / "items.csv").read_text(encoding="utf-8")
    for name in ("alpha", "beta", "gamma"):
        assert name not in text
    rows = read_items(out / "items.csv")
    assert list(rows[0]) == ["item", "context", "A", "B", "C",
                             "fluency", "coherence", "diversity"]
    assert all(row[q] == "" for row in rows for q in ("fluency", "coherence", "diversity"))
    # All 6 examples, each once, and the context shown turn by turn.
    assert sorted(key["examples"].values()) == sorted(example_ids(6))
    assert len(rows) == 6
    for row in rows:
        example = key["examples"][row["item"]]
        assert row["context"] == f"hello {example}\nhow are you {example} ?"
        for letter, system in key["items"][row["item"]].items():
            assert row[letter] == f"{MARKERS[system]} reply {example}"
    # Letters are shuffled per item, not a fixed system order.
    orders = {tuple(key["items"][row["item"]].values()) for row in rows}
    assert len(orders) > 1

    saved = json.loads((out / "key.json").read_text(encoding="utf-8"))
    assert saved["items"] == key["items"]
    assert {k: saved[k] for k in ("design", "split", "mode", "turns", "seed")} == {
        "design": "co", "split": "test", "mode": "greedy", "turns": 1, "seed": 0}


def test_export_is_deterministic_per_seed(tmp_path, three_runs):
    he.export_items(three_runs, tmp_path / "a", seed=7)
    he.export_items(three_runs, tmp_path / "b", seed=7)
    he.export_items(three_runs, tmp_path / "c", seed=8)
    sheet = {d: (tmp_path / d / "items.csv").read_bytes() for d in "abc"}
    assert sheet["a"] == sheet["b"]
    assert sheet["a"] != sheet["c"]


def test_export_samples_items_and_keeps_only_common_ids(tmp_path):
    ids = example_ids(6)
    runs = [write_run(tmp_path, "alpha", ids), write_run(tmp_path, "beta", ids[1:])]
    key = he.export_items(runs, tmp_path / "all", items=100)
    assert sorted(key["examples"].values()) == sorted(ids[1:])
    assert key["common_examples"] == 5
    key = he.export_items(runs, tmp_path / "three", items=3)
    assert len(key["items"]) == 3 == len(read_items(tmp_path / "three" / "items.csv"))


def test_export_refuses_to_overwrite(tmp_path, two_runs):
    out = tmp_path / "sheet"
    he.export_items(two_runs, out)
    with pytest.raises(he.HumanEvalError, match="--force"):
        he.export_items(two_runs, out)
    he.export_items(two_runs, out, seed=3, force=True)
    assert json.loads((out / "key.json").read_text())["seed"] == 3


def test_export_missing_tsv_names_the_run(tmp_path, two_runs):
    (tmp_path / "runs" / "empty_run").mkdir()
    with pytest.raises(he.HumanEvalError, match="run 'empty_run'.*test-greedy-1turn.tsv"):
        he.export_items(two_runs + [str(tmp_path / "runs" / "empty_run")], tmp_path / "o")
    with pytest.raises(he.HumanEvalError, match="run 'alpha'.*test-sample-1turn.tsv"):
        he.export_items(two_runs, tmp_path / "o", mode="sample")


def test_export_without_common_ids_names_the_run(tmp_path, two_runs):
    other = write_run(tmp_path / "runs", "gamma", ["other:1", "other:2"])
    with pytest.raises(he.HumanEvalError, match="run 'gamma' shares no example ids"):
        he.export_items(two_runs + [other], tmp_path / "o")


def test_export_reads_quote_tokens_and_rejects_unquoted_tsv(tmp_path, two_runs):
    # csv.writer quotes a response made of '"' tokens; it must come back exactly.
    quoted = write_run(tmp_path / "runs", "gamma", example_ids(4), marker='" hi "')
    key = he.export_items([two_runs[0], quoted], tmp_path / "o")
    row = read_items(tmp_path / "o" / "items.csv")[0]
    assert row[letter_of(key, row["item"], "gamma")] == f'" hi " reply {key["examples"]["1"]}'
    # The same text written without quoting is ambiguous: an error, not silent damage.
    raw = tmp_path / "raw" / "eval" / "best"
    raw.mkdir(parents=True)
    (raw / "test-greedy-1turn.tsv").write_text(
        'id\tcontext\tgold\tresponse\ndlg0:0\thi\tyes\t" yes " he said\n', encoding="utf-8")
    with pytest.raises(he.HumanEvalError, match="run 'raw'.*line 2"):
        he.export_items([two_runs[0], str(tmp_path / "raw")], tmp_path / "r")


def test_export_name_override_and_design_checks(tmp_path, three_runs):
    key = he.export_items([f"mine={three_runs[0]}", three_runs[1]], tmp_path / "o")
    assert key["systems"] == ["mine", "beta"]
    with pytest.raises(he.HumanEvalError, match="exactly 2"):
        he.export_items(three_runs, tmp_path / "v", design="vhcr")
    with pytest.raises(he.HumanEvalError, match="must differ"):
        he.export_items([three_runs[0], three_runs[0]], tmp_path / "d")


# ---------------------------------------------------------------------------- import

def co_answers(key):
    """Fluency: alpha on items 1-3, tie on 4. Coherence: beta on all. Diversity: a, b, tie, tie."""
    def answer(item):
        a, b = letter_of(key, item, "alpha"), letter_of(key, item, "beta")
        return {"fluency": a if item in "123" else "tie",
                "coherence": b,
                "diversity": {"1": a, "2": b}.get(item, " TIE ")}
    return answer


def test_import_co_percentages_and_intervals(tmp_path, two_runs):
    out = tmp_path / "sheet"
    key = he.export_items(two_runs, out)
    ratings = fill_ratings(out / "items.csv", tmp_path / "r1.csv", co_answers(key))

    result = he.import_ratings(str(out / "key.json"), [ratings])
    assert result["n"] == 4 and result["raters"] == 1
    fluency = result["questions"]["fluency"]["choices"]
    assert fluency["alpha"]["count"] == 3 and fluency["alpha"]["percent"] == 75.0
    assert fluency["beta"]["percent"] == 0.0
    assert fluency["tie"]["count"] == 1 and fluency["tie"]["percent"] == 25.0
    assert result["questions"]["coherence"]["choices"]["beta"]["percent"] == 100.0
    diversity = result["questions"]["diversity"]["choices"]
    assert [diversity[c]["count"] for c in ("alpha", "beta", "tie")] == [1, 1, 2]
    # 3 of 4 at 90%, by the closed form.
    p, n, z = 0.75, 4, Z90
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert fluency["alpha"]["ci"] == pytest.approx([100 * (centre - half),
                                                    100 * (centre + half)], abs=1e-4)


def test_import_pools_raters(tmp_path, two_runs):
    out = tmp_path / "sheet"
    key = he.export_items(two_runs, out)
    r1 = fill_ratings(out / "items.csv", tmp_path / "r1.csv", co_answers(key))
    r2 = fill_ratings(out / "items.csv", tmp_path / "r2.csv", lambda item: {
        "fluency": letter_of(key, item, "beta").lower(), "coherence": "tie",
        "diversity": "tie"})
    result = he.import_ratings(str(out / "key.json"), [r1, r2])
    fluency = result["questions"]["fluency"]["choices"]
    assert result["n"] == 8 and result["raters"] == 2 and result["items_rated"] == 4
    assert [fluency[c]["percent"] for c in ("alpha", "beta", "tie")] == [37.5, 50.0, 12.5]


@pytest.mark.parametrize("bad", ["Z", "", "C", "both"])
def test_import_bad_answer_names_file_item_and_column(tmp_path, two_runs, bad):
    out = tmp_path / "sheet"
    key = he.export_items(two_runs, out)
    good = co_answers(key)

    def answer(item):
        answers = good(item)
        if item == "2":
            answers["coherence"] = bad
        return answers
    ratings = fill_ratings(out / "items.csv", tmp_path / "rater7.csv", answer)
    with pytest.raises(he.HumanEvalError) as error:
        he.import_ratings(str(out / "key.json"), [ratings])
    message = str(error.value)
    assert "rater7.csv" in message and "item '2'" in message and "'coherence'" in message


def test_import_unknown_item_is_an_error(tmp_path, two_runs):
    out = tmp_path / "sheet"
    key = he.export_items(two_runs, out)
    ratings = fill_ratings(out / "items.csv", tmp_path / "r.csv", co_answers(key))
    text = open(ratings, encoding="utf-8").read().replace("\n4,", "\n999,")
    open(ratings, "w", encoding="utf-8").write(text)
    with pytest.raises(he.HumanEvalError, match="item '999'.*unknown item"):
        he.import_ratings(str(out / "key.json"), [ratings])


def test_vhcr_design_wins_losses_ties(tmp_path, two_runs):
    out = tmp_path / "sheet"
    key = he.export_items(two_runs, out, design="vhcr")
    rows = read_items(out / "items.csv")
    assert list(rows[0]) == ["item", "context", "A", "B", "preference"]
    choice = {"1": "alpha", "2": "alpha", "3": "beta", "4": "tie"}
    ratings = fill_ratings(out / "items.csv", tmp_path / "r.csv", lambda item: {
        "preference": "tie" if choice[item] == "tie" else letter_of(key, item, choice[item])})

    result = he.import_ratings(str(out / "key.json"), [ratings])
    comparison = result["comparison"]
    assert (comparison["system"], comparison["opponent"], comparison["n"]) == (
        "alpha", "beta", 4)
    assert [comparison[k]["percent"] for k in ("wins", "losses", "ties")] == [50.0, 25.0, 25.0]
    table = he.format_markdown(result)
    assert "| comparison | wins | losses | ties | n |" in table
    low, high = (100 * x for x in he.wilson_interval(2, 4))
    assert f"| alpha vs beta | 50.0% [{low:.1f}, {high:.1f}] |" in table


# ---------------------------------------------------------------------------- CLI

def test_cli_end_to_end(tmp_path, two_runs, capsys):
    out = tmp_path / "sheet"
    assert he.main(["export", "--runs"] + two_runs + [
        "--out", str(out), "--items", "4", "--seed", "1"]) == 0
    assert "wrote 4 items" in capsys.readouterr().out
    assert he.main(["export", "--runs"] + two_runs + ["--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err

    key = json.loads((out / "key.json").read_text(encoding="utf-8"))
    ratings = fill_ratings(out / "items.csv", tmp_path / "r.csv", co_answers(key))
    assert he.main(["import", "--key", str(out / "key.json"), "--ratings", ratings]) == 0
    table = capsys.readouterr().out
    assert "| system | fluency | coherence | diversity |" in table
    low, high = (100 * x for x in he.wilson_interval(3, 4))
    assert f"| alpha | 75.0% [{low:.1f}, {high:.1f}] |" in table
    assert "| tie | 25.0% [" in table and "| n | 4 | 4 | 4 |" in table

    assert he.main(["import", "--key", str(out / "key.json"), "--ratings", ratings,
                    "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["questions"]["coherence"]["choices"]["beta"]["count"] == 4
