"""The plan of a run: its steps from the data's size, and the schedules it can reach.

Checked before anything is written (train, study), so a schedule longer than the run is
refused with its numbers instead of silently never finishing.
"""
from pipeline import configs


def planned_steps(config: configs.ExperimentConfig, stats: dict) -> tuple[int, int]:
    """(steps per epoch, total steps) of the run `config` plans on data with `stats`."""
    steps_per_epoch = config.train.steps_per_epoch or max(
        1, stats["splits"]["train"]["slices"] // config.data.batch_size)
    return steps_per_epoch, config.train.epochs * steps_per_epoch


def check_budget(config: configs.ExperimentConfig, total_steps: int) -> None:
    """Refuses schedules the planned run cannot reach, before anything is written."""
    m = config.model
    problems = []
    if m.kl_annealing_steps > total_steps:
        problems.append(f"model.kl_annealing_steps={m.kl_annealing_steps} is longer than the "
                        f"{total_steps} planned steps (the KL weight would end at "
                        f"{total_steps / m.kl_annealing_steps:.2f}, and the model would "
                        f"never train on the bound it is scored on)")
    if m.architecture == "co" and m.scheduled_sampling_steps:
        ae_steps = total_steps if m.joint_phases else _ae_steps(config, total_steps)
        if m.scheduled_sampling_steps > ae_steps:
            problems.append(f"model.scheduled_sampling_steps={m.scheduled_sampling_steps} is "
                            f"longer than the {ae_steps} AE-phase steps planned (keep-rate "
                            f"would never reach 0)")
    if config.train.warmup_steps > total_steps:
        problems.append(f"train.warmup_steps={config.train.warmup_steps} is longer than the "
                        f"{total_steps} planned steps")
    start = config.train.early_stopping_start_step
    if start >= total_steps:
        problems.append(f"train.early_stopping_start_step={start} is not before the end of "
                        f"the {total_steps} planned steps (no validation would count)")
    if problems:
        raise configs.ConfigError("; ".join(problems) + ". Shorten the schedule or raise "
                         "train.epochs / train.steps_per_epoch.")


def _ae_steps(config, total_steps):
    """AE-phase steps of an alternating CO run (the first period of each pair)."""
    period = (config.model.phase_period_steps or max(1, config.model.phase_period_epochs)
              * (total_steps // config.train.epochs))
    full, rest = divmod(total_steps, 2 * period)
    return full * period + min(rest, period)


def check_against_data(config: configs.ExperimentConfig, stats: dict, vocab_size: int
                       ) -> None:
    """Refuses a config the data cannot serve (ConfigError naming the option, the data's
    figure and the fix), before anything is written: adaptive-softmax cutoffs beyond the
    vocabulary, an empty training or validation split, a batch larger than the training
    split (it would train on repeats of the same slices)."""
    problems = []
    cutoffs = list(config.model.softmax_cutoffs)
    if cutoffs and cutoffs[-1] >= vocab_size:
        fit = [c for c in cutoffs if c < vocab_size // 2]
        problems.append(f"model.softmax_cutoffs={cutoffs} needs a vocabulary larger than "
                        f"{cutoffs[-1]} words; {config.data.data_dir} has {vocab_size}: "
                        f"give cutoffs below it (e.g. model.softmax_cutoffs="
                        f"{fit or [vocab_size // 4]}) or [] for the full softmax")
    splits = stats.get("splits", {})
    for split in ("train", "validation"):
        if not splits.get(split, {}).get("slices"):
            problems.append(f"{config.data.data_dir} has no {split} slices (its stats.json); "
                            "preprocess it again with a --split that gives every split data")
    train = splits.get("train", {}).get("slices") or 0
    if train and config.data.batch_size > train:
        problems.append(f"data.batch_size={config.data.batch_size} is larger than the "
                        f"{train} training slices of {config.data.data_dir}; use at most "
                        f"{train}")
    if problems:
        raise configs.ConfigError("; ".join(problems) + ".")
