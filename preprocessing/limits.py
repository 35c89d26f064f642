"""Decoding defaults and limits shared by the config, every tool and the export's
signatures, without TensorFlow (so a config can be read without it), and the one check of
decoding options: a tool refuses what the exported model would clamp."""
import math

DEFAULT_LENGTH_ALPHA = 0.6  # beam length normalisation of the tools (GNMT, Model Garden)
MAX_BEAM = 8  # the export's beam signature holds one beam search per size 1..8
MAX_SAMPLES = 16  # the export's sample signature draws at most this many


def decoding_problems(prefix="--", beam_size=None, temperature=None, num_samples=None,
                      length_alpha=None):
    """What is wrong with decoding options, as phrases naming each option as `prefix` +
    its name ("--beam_size" on a command line, "decoding.beam_size" in a config); [] when
    every given option is fine."""
    problems = []

    def number(value):
        return isinstance(value, (int, float)) and not isinstance(value, bool) and \
            math.isfinite(value)
    if beam_size is not None and not (isinstance(beam_size, int)
                                      and 1 <= beam_size <= MAX_BEAM):
        problems.append(f"{prefix}beam_size {beam_size!r} must be an integer in 1..{MAX_BEAM}")
    if temperature is not None and not (number(temperature) and temperature > 0):
        problems.append(f"{prefix}temperature {temperature!r} must be a number > 0")
    if num_samples is not None and not (isinstance(num_samples, int)
                                        and 1 <= num_samples <= MAX_SAMPLES):
        problems.append(f"{prefix}num_samples {num_samples!r} must be an integer in "
                        f"1..{MAX_SAMPLES}")
    if length_alpha is not None and not (number(length_alpha) and length_alpha >= 0):
        problems.append(f"{prefix}length_alpha {length_alpha!r} must be a number >= 0")
    return problems
