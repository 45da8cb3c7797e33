"""Every docstring example in the packages runs (``make test`` runs them all), and no
library docstring leans on the test suite: examples use :mod:`twin.sample` instead."""

from __future__ import annotations

import ast
import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("twin", "layers", "api", "geodata")
#: Modules whose import needs what only `pip install -e '.[dev]'` brings.
_DEV_ONLY = {"geodata.extract"}


def _modules() -> list[str]:
    names = []
    for pkg in PACKAGES:
        names.append(pkg)
        path = [str(ROOT / pkg)]
        names += [m.name for m in pkgutil.walk_packages(path, prefix=f"{pkg}.")]
    return sorted(n for n in names if n not in _DEV_ONLY)


MODULES = _modules()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    # testmod skips names a module imports from elsewhere: their own module runs them.
    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert res.failed == 0, f"{res.failed} docstring example(s) of {name} failed (above)"


def test_every_module_is_collected():
    # A module that walk_packages cannot see (a folder without __init__.py) would go
    # untested without a sound.
    files = {p.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
             for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    files = {f.removesuffix(".__init__") for f in files}
    assert files - set(MODULES) == _DEV_ONLY


def test_library_docstrings_do_not_import_tests():
    found = []
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                doc = (ast.get_docstring(node, clean=False)
                       if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                            ast.AsyncFunctionDef)) else None)
                if doc and ("from tests" in doc or "import tests" in doc):
                    found.append(str(path.relative_to(ROOT)))
    assert not found, f"docstrings import the test suite in {sorted(set(found))}: use " \
                      "twin.sample"
