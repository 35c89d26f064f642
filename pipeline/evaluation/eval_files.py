"""Where evaluation writes a run's results, named by checkpoint (`eval/best/`,
`eval/last/`, ...) so evaluating one checkpoint never overwrites another's results."""
import os


def checkpoint_name(path: str) -> str:
    """best.weights.h5 -> best, backup/latest.weights.h5 -> backup, x/foo.weights.h5 -> foo."""
    base = os.path.basename(path)
    for suffix in (".weights.h5", ".h5"):
        if base.endswith(suffix):
            base = base[:-len(suffix)]
            break
    parent = os.path.basename(os.path.dirname(os.path.abspath(path)))
    return "backup" if (parent, base) == ("backup", "latest") else base


def eval_dir(run_dir: str, checkpoint: str = "best") -> str:
    """Where the evaluation of a run's checkpoint goes: RUN/eval/CHECKPOINT."""
    return os.path.join(run_dir, "eval", checkpoint)


def report_path(run_dir: str, split: str, checkpoint: str = "best") -> str:
    """The evaluation report (SPLIT.json) of a run's checkpoint."""
    return os.path.join(eval_dir(run_dir, checkpoint), f"{split}.json")


def tsv_path(run_dir: str, split: str, mode: str, turns: int, checkpoint: str = "best"
             ) -> str:
    """The decoded responses (SPLIT-MODE-Nturn.tsv) of a run's checkpoint."""
    return os.path.join(eval_dir(run_dir, checkpoint), f"{split}-{mode}-{turns}turn.tsv")
