"""The one command-line frame (preprocessing/cli.py) every tool uses: --verbose everywhere,
one-line errors with exit 2, "did you mean", and the shared decoding rules."""
import contextlib
import errno
import io
import os

import pytest

from preprocessing import cli
from preprocessing.limits import MAX_BEAM, MAX_SAMPLES, decoding_problems

# Every console script of setup.py, as (module, arguments that reach its --help).
TOOLS = [("preprocessing.run", []), ("pipeline.train", []), ("pipeline.evaluate", []),
         ("pipeline.report", []), ("pipeline.study", []), ("pipeline.latent", []),
         ("pipeline.human_eval", ["export"]), ("pipeline.human_eval", ["import"]),
         ("serving.export", []), ("serving.chat", [])]


def test_every_console_script_is_listed_here_and_launches_its_tool():
    import importlib
    import os

    from tests.helpers import REPO_ROOT
    setup = open(os.path.join(REPO_ROOT, "setup.py"), encoding="utf-8").read()
    targets = [line.split("=")[1].split('"')[0] for line in setup.splitlines()
               if line.strip().startswith('"dialogvae-')]
    launched = set()
    for target in targets:
        module, _, name = target.partition(":")
        launch = getattr(importlib.import_module(module), name)
        launched.add(launch.__closure__[0].cell_contents)  # the tool module it imports
    assert launched == {module for module, _ in TOOLS}


def test_importing_the_packages_leaves_logging_alone():
    """Quiet is each tool's business: a library user importing dialogvae keeps their
    logging, warnings filters and TensorFlow's log level as they were."""
    import subprocess
    import sys

    from tests.helpers import REPO_ROOT
    probe = ("import logging, os, warnings\n"
             "def state():\n"
             "    return (os.environ.get('TF_CPP_MIN_LOG_LEVEL'), len(warnings.filters),\n"
             "            [logging.getLogger(n).level for n in ('absl', 'tensorflow', "
             "'apache_beam', 'h5py')], list(logging.getLogger().filters))\n"
             "import keras, tensorflow\n"  # what they set up themselves is theirs
             "before = state()\n"
             "import preprocessing, keras_models, pipeline, serving, pipeline.tools, "
             "serving.tools, preprocessing.tools\n"
             "assert state() == before, (before, state())\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_tool_run_as_a_module_starts_quietly():
    """`python -m TOOL` quiets TensorFlow before it loads: no CUDA or CPU-feature lines;
    --verbose lets them through."""
    import subprocess
    import sys

    from tests.helpers import REPO_ROOT
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-m", "pipeline.latent", "--help"],
                           cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr[-2000:]


@pytest.mark.parametrize("module, before", TOOLS)
def test_every_tool_accepts_verbose(module, before):
    import importlib
    main = importlib.import_module(module).main
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as e:
        main(before + ["--help"])
    assert e.value.code == 0 and "--verbose" in out.getvalue()


def test_errors_are_one_line_and_exit_2(capsys):
    def disk_full():
        raise OSError(errno.ENOSPC, "No space left on device", "runs/x/checkpoints")
    with pytest.raises(SystemExit) as e:
        cli.run_tool(disk_full)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and "\n" not in err
    assert err == ("error: runs/x/checkpoints: No space left on device; free space on that "
                   "disk or choose a folder on another one")
    for number, fix in ((errno.EROFS, "writable filesystem"),
                        (errno.EEXIST, "a file stands where a folder is needed")):
        assert fix in cli.describe_os_error(OSError(number, "x", "/some/path"))

    def refused():
        raise cli.ToolError("--model_dir m holds another run")
    with pytest.raises(SystemExit) as e:
        cli.run_tool(refused)
    assert e.value.code == 2
    assert capsys.readouterr().err == "error: --model_dir m holds another run\n"


def test_misspelled_names_get_the_closest():
    from pipeline import configs
    with pytest.raises(configs.ConfigError, match=r"'vhcrud' is not a preset \(did you mean "
                                                  r"vhcr_ud\?\)"):
        configs.make_config("vhcrud")
    parse = cli.choice(["dailydialog", "cornell"], "a corpus")
    with pytest.raises(Exception, match=r"did you mean dailydialog\?"):
        parse("daillydialog")
    assert parse("cornell") == "cornell"


def test_decoding_options_follow_the_exports_rules(tmp_path, capsys):
    assert decoding_problems("--", MAX_BEAM, 0.7, MAX_SAMPLES, 0.6) == []
    problems = decoding_problems("--", MAX_BEAM + 1, -1.0, 0, float("nan"))
    assert [p.split()[0] for p in problems] == ["--beam_size", "--temperature",
                                                 "--num_samples", "--length_alpha"]
    assert decoding_problems("--", temperature=float("nan"))
    from pipeline import configs, evaluate
    with pytest.raises(configs.ConfigError, match="decoding.temperature -0.5 must be"):
        configs.make_config("hred", params_override="decoding.temperature=-0.5")
    # Refused before any model is loaded.
    with pytest.raises(ValueError, match="--temperature -1.0 must be a number > 0"):
        evaluate.evaluate(str(tmp_path / "no_run"), temperature=-1.0)
    from serving import chat
    with pytest.raises(SystemExit) as e:
        chat.main(["--model", str(tmp_path), "--temperature", "nan"])
    assert e.value.code == 2 and "--temperature nan" in capsys.readouterr().err

