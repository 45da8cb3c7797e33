"""Nothing in twin/, layers/ or api/ assumes Akmola: no module names its units, and none
reads geodata/ files by path (the default twin's data reaches twin/ only through geodata's
own functions, in twin/default.py)."""

from __future__ import annotations

import ast
import csv
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = ("twin", "layers", "api")
SOURCES = (".py", ".js", ".html", ".css", ".yaml", ".md")


def _files():
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*")):
            if p.suffix in SOURCES and "__pycache__" not in p.parts:
                yield p


def _unit_names() -> set[str]:
    """Akmola's 20 units as the default twin's committed sources name them, in English,
    Russian and Kazakh, and their ids."""
    names = set()
    with open(ROOT / "geodata" / "sources" / "units.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for key in ("id", "name", "name_ru", "name_kk"):
                v = re.sub(r"\s+(district|ауданы)$|(ский|ий) район$|^район\s+", "",
                           row[key], flags=re.I).strip()
                names.add(v)
    return {n for n in names if len(n) >= 4}


def test_the_unit_list_is_the_default_twins():
    names = _unit_names()
    assert len(names) >= 40 and {"kokshetau", "Kokshetau", "Көкшетау"} <= names


@pytest.mark.parametrize("path", list(_files()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_names_the_default_twins_units(path):
    pattern = re.compile(r"(?<!\w)(" + "|".join(map(re.escape, sorted(_unit_names(),
                         key=len, reverse=True))) + r")(?!\w)", re.I)
    hits = [f"{i}: {line.strip()}" for i, line in
            enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert hits == [], f"{path.relative_to(ROOT)} names a unit of Akmola:\n" + "\n".join(hits)


#: geodata as a folder in a path: "geodata", "geodata/x.yaml", ".../geodata/..."
_GEODATA = re.compile(r"(^|[/\\])geodata($|[/\\])")


def _code_strings(tree: ast.AST) -> list[ast.Constant]:
    """String constants that are not docstrings."""
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(
                    getattr(body[0], "value", None), ast.Constant):
                docs.add(id(body[0].value))
    return [n for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and id(n) not in docs]


@pytest.mark.parametrize("path", [p for p in _files() if p.suffix == ".py"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_reads_geodata_files_by_path(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    by_path = [n.lineno for n in _code_strings(tree) if _GEODATA.search(n.value)]
    assert by_path == [], f"{path.relative_to(ROOT)} names geodata in code at {by_path}"
    imports = [n.lineno for n in ast.walk(tree)
               if (isinstance(n, ast.Import) and any(a.name.split(".")[0] == "geodata"
                                                     for a in n.names))
               or (isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0]
                   == "geodata")]
    if path.relative_to(ROOT).as_posix() == "twin/default.py":
        return  # the default twin's builder takes geodata's layers and documents
    assert imports == [], f"{path.relative_to(ROOT)} imports geodata at {imports}"


def test_the_scanner_would_catch_both():
    # a unit's name and a path into geodata/ are found where they are written
    src = 'REGS = Path(__file__).parents[1] / "geodata" / "regulations.yaml"\n'
    assert sorted(n.value for n in _code_strings(ast.parse(src))) == ["geodata",
                                                                "regulations.yaml"]
    assert _GEODATA.search("geodata") and _GEODATA.search("../geodata/indicators.yaml")
    assert not _GEODATA.search("GeoDataFrame") and not _GEODATA.search("geodata-tilesets")
    assert re.search(r"(?<!\w)kokshetau(?!\w)", "units = ['kokshetau']", re.I)
