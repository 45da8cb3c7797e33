"""The worked notebooks run, top to bottom, in the test suite; and git holds them stripped.

Each notebook is executed with nbclient in a kernel of this interpreter (a kernelspec made
on the fly, so a system-wide ``python3`` kernel can never be picked up instead). The
notebooks read ``AQMOLA_TWIN``: here it points at the default twin built once per session,
so no notebook builds its own. Their cells assert what they show, so a wrong number fails
the test.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_the_three_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == ["01_explore_the_twin.ipynb",
                                           "02_aluminium_plant_siting.ipynb",
                                           "03_region_score.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {i} has outputs"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has a count"
    assert "widgets" not in nb.get("metadata", {})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_uses_only_the_public_api(path):
    """Imports from the project name only ``__all__`` members of ``twin`` and its packages,
    and no cell reaches for a private (underscored) attribute."""
    import ast
    import importlib

    nb = json.loads(path.read_text(encoding="utf-8"))
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    project = {"twin", "layers", "api", "geodata"}
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in project:
                    assert alias.name == "twin", f"{path.name}: import {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.module.split(".")[0] in project:
            module = importlib.import_module(node.module)
            public = getattr(module, "__all__", ())
            for alias in node.names:
                assert alias.name in public, f"{path.name}: {node.module}.{alias.name} is private"
        elif isinstance(node, ast.Attribute):
            assert not node.attr.startswith("_"), f"{path.name}: .{node.attr} is private"


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("kernels") / "aqmola-test"
    d.mkdir()
    (d / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "aqmola-twin tests", "language": "python"}))
    return d.parent


# jupyter_client leaves ZMQ sockets to the garbage collector: not this project's warning
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, default_twin_path, kernel_dir, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    monkeypatch.setenv("AQMOLA_TWIN", str(default_twin_path))
    # the kernel imports the repository's packages from the source tree
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    nb = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name="aqmola-test",
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)]))
    client = nbclient.NotebookClient(nb, km=km, timeout=300,
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()   # raises CellExecutionError, naming the cell, when an assert fails
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.get("output_type") == "error"]
    assert not errors
    del client, km
    gc.collect()  # collect the sockets here, under this test's warning filter
