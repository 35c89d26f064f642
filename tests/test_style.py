"""The code stays clean under the repository's ruff configuration (ruff.toml)."""
import shutil
import subprocess

from tests.helpers import REPO_ROOT


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff") or shutil.which("ruff", path=__import__("os").path.dirname(
        __import__("sys").executable))
    assert ruff, "ruff is part of the dev extra: pip install -e '.[dev]'"
    result = subprocess.run([ruff, "check", "--output-format", "concise", "."], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
