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


# The floors, bottom first: a package may import its own floor and those below it.
FLOORS = ("preprocessing", "keras_models", "pipeline", "serving")


def test_imports_only_go_down():
    """Every import in every module (inside functions too) of a package names its own
    floor or one below it (BUILD.md, Code layout)."""
    import ast
    import glob
    import os

    from tests.helpers import REPO_ROOT
    upward = []
    for level, package in enumerate(FLOORS):
        above = FLOORS[level + 1:]
        for path in glob.glob(os.path.join(REPO_ROOT, package, "**", "*.py"), recursive=True):
            tree = ast.parse(open(path, encoding="utf-8").read(), path)
            for node in ast.walk(tree):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                upward += [f"{os.path.relpath(path, REPO_ROOT)}:{node.lineno} imports {name}"
                           for name in names if name.split(".")[0] in above]
    assert upward == []
