"""Start-up shared by every command-line tool: TensorFlow's, absl's and Beam's start-up
chatter (CUDA probing, oneDNN and CPU-feature notices, optional-filesystem warnings) kept
out of the output unless `--verbose` is on the command line, and one log format.

`quiet_unless_verbose` runs when the `pipeline`, `serving` and `preprocessing` packages
are imported, i.e. before any of them imports TensorFlow or Beam.
"""
import logging
import os
import sys

# Warnings Beam logs on import about optional extras this project does not use.
_BEAM_IMPORT_NOISE = ("apitools not found", "Failed to import GCSFileSystem")


def wants_verbose(argv=None):
    return "--verbose" in (sys.argv[1:] if argv is None else argv)


def _not_noise(record):
    return not record.getMessage().startswith(_BEAM_IMPORT_NOISE)


def quiet_unless_verbose(argv=None):
    if wants_verbose(argv):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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
