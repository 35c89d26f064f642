"""The model card written into every export (`assets.extra/model_card.json` and `.md`):
what the model is, what it was trained on, how it scored, what it accepts, and the
commands that made it, so a SavedModel found on a server explains itself."""
import datetime
import json
import os
import sys
from collections.abc import Sequence

import tensorflow as tf

from pipeline.evaluation import eval_files
from pipeline.restore import TrainedRun
from pipeline.training import run_record

CARD_JSON, CARD_MD = "model_card.json", "model_card.md"


def _last_evaluation(model_dir, checkpoint_name):
    """The newest `pipeline.evaluate` report of this checkpoint (test split first)."""
    for split in ("test", "validation"):
        path = eval_files.report_path(model_dir, split, checkpoint_name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                report = json.load(f)
            lik = report.get("likelihood", {})
            keep = ("nll_bound", "nll", "ppl", "kl_utt", "kl_conv", "context_gain",
                    "nll_bound_per_slice", "kl_per_response", "iw_nll")
            responses = {key: {m: v for m, v in metrics.items()
                               if m in ("average", "greedy", "extrema", "bleu", "distinct_2")}
                         for key, metrics in report.get("responses", {}).items()}
            return {"split": split, "step": report.get("step"),
                    "likelihood": {k: lik[k] for k in keep if k in lik},
                    "responses": responses}
    return None


def make(run: TrainedRun, module: tf.Module, model_name: str, signatures: list[str],
         argv: Sequence[str] | None = None) -> dict:
    """The card's content as a dict."""
    record = run_record.load(run.model_dir) or {}
    checkpoint = eval_files.checkpoint_name(run.checkpoint)
    return {
        "model_name": model_name,
        "preset": record.get("preset"),
        "architecture": run.config.model.architecture,
        "config": run.config.as_dict(),
        "checkpoint": checkpoint,
        "data": {"corpus": (record.get("data") or {}).get("corpus"),
                 "preprocessing": run.data_options,
                 "vocab_size": len(run.vocab),
                 "vocab_sha256": (record.get("data") or {}).get("vocab_sha256")},
        "evaluation": _last_evaluation(run.model_dir, checkpoint),
        "limits": {"max_turns": module.max_turns, "max_words_per_utterance": module.max_words,
                   "max_response_tokens": module.max_response_tokens,
                   "beam_length_alpha": module.length_alpha},
        "signatures": signatures,
        "commands": {"train": " ".join(record["command"]) if record.get("command") else None,
                     "export": " ".join(["python", "-m", "serving.export",
                                         *(sys.argv[1:] if argv is None else argv)])},
        "packages": record.get("packages"),
        "git_commit": record.get("git_commit"),
        "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def markdown(card: dict) -> str:
    """A short human-readable page of the card."""
    ev = card["evaluation"]
    lines = [f"# {card['model_name']}: {card['preset'] or card['architecture']}", "",
             f"- Architecture: {card['architecture']}; checkpoint `{card['checkpoint']}`",
             f"- Data: {card['data']['corpus']}, vocabulary {card['data']['vocab_size']}, "
             f"preprocessing {json.dumps(card['data']['preprocessing'], sort_keys=True)}",
             f"- Limits: the last {card['limits']['max_turns']} turns, "
             f"{card['limits']['max_words_per_utterance']} words per utterance, responses up to "
             f"{card['limits']['max_response_tokens']} tokens",
             f"- Signatures: {', '.join(card['signatures'])}",
             f"- Trained by: `{card['commands']['train']}`",
             f"- Exported by: `{card['commands']['export']}`"]
    if ev:
        lik = ev["likelihood"]
        lines.append(f"- Evaluation ({ev['split']} split, step {ev['step']}): "
                     + ", ".join(f"{k} {v:.4g}" for k, v in lik.items()))
    else:
        lines.append("- Evaluation: none yet (python -m pipeline.evaluate --model_dir ...)")
    return "\n".join(lines) + "\n"


def write(folder: str, run: TrainedRun, module: tf.Module, model_name: str,
          signatures: list[str], argv: Sequence[str] | None = None) -> dict:
    """Writes model_card.json and model_card.md into `folder` (assets.extra/)."""
    card = make(run, module, model_name, signatures, argv)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, CARD_JSON), "w", encoding="utf-8") as f:
        json.dump(card, f, indent=1)
    with open(os.path.join(folder, CARD_MD), "w", encoding="utf-8") as f:
        f.write(markdown(card))
    return card
