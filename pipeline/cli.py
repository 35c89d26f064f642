"""Start-up shared by every command-line tool: TensorFlow's, absl's and Beam's start-up
chatter (CUDA probing, oneDNN and CPU-feature notices, optional-filesystem warnings) kept
out of the output unless `--verbose` is on the command line, and one log format.

`quiet_unless_verbose` runs when the `pipeline`, `serving` and `preprocessing` packages
are imported, i.e. before any of them imports TensorFlow or Beam.
"""
import contextlib
import logging
import os
import sys
import tempfile
import warnings

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
    # Keras warns on every fit over a tf.data pipeline (which shuffles itself).
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed")
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
