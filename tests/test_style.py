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


TYPED = ("keras_models", "pipeline", "serving")


def untyped_public_functions(path):
    """'file:line name (what is missing)' for each public function or method of a public
    class in `path` whose parameters (bar self/cls) or return lack a type hint. Functions
    nested in functions are implementation detail and not checked."""
    import ast

    def public(name):
        return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))

    missing = []

    def check(function, owner):
        if not public(function.name):
            return
        a = function.args
        params = a.posonlyargs + a.args + a.kwonlyargs
        if owner is not None and params and params[0].arg in ("self", "cls") and not any(
                isinstance(d, ast.Name) and d.id == "staticmethod"
                for d in function.decorator_list):
            params = params[1:]
        lacking = [p.arg for p in params if p.annotation is None]
        if function.returns is None:
            lacking.append("return")
        if lacking:
            missing.append(f"{path}:{function.lineno} {owner + '.' if owner else ''}"
                           f"{function.name} ({', '.join(lacking)})")

    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            check(node, None)
        elif isinstance(node, ast.ClassDef) and public(node.name):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    check(item, node.name)
    return missing


def test_public_functions_have_type_hints():
    import glob
    import os

    from tests.helpers import REPO_ROOT
    missing = []
    for package in TYPED:
        for path in sorted(glob.glob(os.path.join(REPO_ROOT, package, "**", "*.py"),
                                     recursive=True)):
            missing += untyped_public_functions(os.path.relpath(path, REPO_ROOT))
    assert missing == [], f"{len(missing)} without type hints:\n" + "\n".join(missing)
