"""The command-line frame every tool uses (on the bottom floor, so preprocessing, pipeline
and serving share it): a base parser with `--verbose`, one runner that turns the project's
errors and file-system errors into one line and exit 2, "did you mean" for misspelled
names, and start-up quiet: TensorFlow's, absl's and Beam's start-up chatter (CUDA
probing, oneDNN and CPU-feature notices, optional-filesystem warnings) kept out of the
output unless `--verbose` is on the command line, and one log format.

Importing a package changes nothing: quiet is the tools' business. A tool module run with
`python -m` calls `quiet_unless_verbose` in its `if __name__ == "__main__"` prelude, before
it imports TensorFlow or Beam; a console script goes through `launcher`, which does the
same before importing the tool; `run_tool` applies it again for a `main` called in-process.
"""
import argparse
import contextlib
import difflib
import errno
import importlib
import logging
import os
import sys
import tempfile
import warnings


class ToolError(Exception):
    """A mistake the user can fix; its message names the option, file or record and the
    fix. Every tool prints it as one line and exits 2."""


def closest(name, choices):
    """' (did you mean X?)' for a misspelled `name`, or ''."""
    match = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def choice(choices, what):
    """An argparse `type` that accepts one of `choices` and refuses any other word with
    the closest one and the list (argparse then exits with status 2)."""
    choices = sorted(choices)

    def parse(text):
        if text not in choices:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {what}{closest(text, choices)}; choose one of "
                f"{', '.join(choices)}")
        return text
    parse.__name__ = what  # argparse names the type in its messages
    return parse


# What to do about a file-system error, by errno.
_OS_FIXES = {
    errno.ENOSPC: "free space on that disk or choose a folder on another one",
    errno.EDQUOT: "free space on that disk or choose a folder on another one",
    errno.EROFS: "choose a folder on a writable filesystem",
    errno.EACCES: "choose a folder you may write to",
    errno.EPERM: "choose a folder you may write to",
    errno.ENOTDIR: "a file stands where a folder is needed: choose another path",
    errno.EEXIST: "a file stands where a folder is needed: choose another path",
    errno.EISDIR: "a folder stands where a file is needed: choose another path",
}


def describe_os_error(error):
    """One line for an OSError: the path, what went wrong and the fix."""
    if error.filename is None or error.strerror is None:
        return str(error)
    fix = _OS_FIXES.get(error.errno)
    return f"{error.filename}: {error.strerror}" + (f"; {fix}" if fix else "")


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def launcher(module):
    """A console-script entry point for the tool `module` (its `main`): start-up quiet
    first, then the tool, and with it TensorFlow or Beam, is imported."""
    def launch():
        quiet_unless_verbose()
        return importlib.import_module(module).main()
    launch.__name__ = f"launch_{module.rpartition('.')[2]}"
    return launch


def run_tool(body, errors=()):
    """Runs a tool's body under the one error policy: the project's errors (ToolError and
    its subclasses, and `errors` a tool names) and file-system errors (a full disk, a
    read-only folder, a file where a folder should be) end the tool with one line naming
    the problem and exit status 2. Returns the body's result."""
    quiet_unless_verbose()
    setup_logging()
    try:
        return body()
    except (ToolError, *errors) as e:
        fail(str(e))
    except OSError as e:
        fail(describe_os_error(e))


def base_parser(prog, description, epilog=None):
    """The parser every tool starts from: its module docstring as the help, and
    --verbose."""
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_verbose_flag(parser)
    return parser

# Warnings Beam logs on import about optional extras this project does not use.
_BEAM_IMPORT_NOISE = ("apitools not found", "Failed to import GCSFileSystem")


def wants_verbose(argv=None):
    return "--verbose" in (sys.argv[1:] if argv is None else argv)


def _not_noise(record):
    return not record.getMessage().startswith(_BEAM_IMPORT_NOISE)


def quiet_unless_verbose(argv=None):
    if wants_verbose(argv):
        return
    # 3: TensorFlow's C++ log keeps only FATAL. Its start-up lines on a CPU machine
    # ("failed call to cuInit", oneDNN fallbacks) are logged at ERROR level; our own
    # errors are Python exceptions and reach the user either way.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # Keras warns on every fit over a tf.data pipeline (which shuffles itself), and each
    # time a finite dataset of unknown length (validation, evaluation: length-bucketed, so
    # tf.data cannot count its batches) ends, which is how such a pass is meant to end.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    for name in ("apache_beam", "absl", "tensorflow", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    root = logging.getLogger()
    if _not_noise not in root.filters:
        root.addFilter(_not_noise)


def setup_logging():
    """INFO lines from our own loggers ("dialogvae"), in one format."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s",
                        force=True)  # absl may already have attached a handler


def add_verbose_flag(parser):
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's, absl's and Beam's start-up messages")


@contextlib.contextmanager
def worker_output_hidden(argv=None, tail_lines=40):
    """Runs the block with the process's stderr file descriptor (which worker processes
    inherit: Beam's SDK harnesses log their start-up at INFO whatever the pipeline
    options say) sent to a temporary file. On an exception its last `tail_lines` lines
    are written to stderr before the exception goes on; with --verbose nothing is
    hidden."""
    if wants_verbose(argv):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        except BaseException:
            sys.stderr.flush()
            os.dup2(saved, 2)
            captured.seek(0)
            lines = captured.read().decode("utf-8", "replace").splitlines()[-tail_lines:]
            if lines:
                print("\n".join(["(last lines of the workers' output)", *lines]),
                      file=sys.stderr)
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
