"""The worked notebooks run, top to bottom, in the test suite; and git holds them stripped.

Each notebook is executed with nbclient in a kernel of this interpreter (a kernelspec made
on the fly, so a system-wide ``python3`` kernel can never be picked up instead). The
notebooks read ``AQMOLA_TWIN``: here it points at the default twin built once per session,
so no notebook builds its own.

A reader's cells hold no test code. What each notebook shows is checked here instead: after
the notebook has run, the checks of :data:`CHECKS` run in the same kernel, on the very
variables the cells made, so a wrong number fails the test. ``TWIN_EXECUTED_NOTEBOOKS=DIR``
keeps the executed notebooks (without the checks) for a look.
"""

from __future__ import annotations

import ast
import gc
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: An executed notebook, pictures and maps included, stays under this size.
MAX_EXECUTED_BYTES = 2_000_000

#: What each notebook shows, checked in its kernel after it ran (names are its variables).
CHECKS = {
    "01_explore_the_twin": """
assert {"region", "districts", "settlements", "parcels", "project_sites", "zones", "lakes",
        "rivers"} <= set(counts.index)
assert counts["districts"] == 20   # 17 districts and 3 cities of regional significance
assert (tw["settlements"]["accuracy"] == "real").all()
assert (tw["districts"]["accuracy"] == "approximate").all()
assert tw["parcels"]["synthetic"].all()
assert abs(area / 146_219 - 1) < 0.005
assert len(unknown) == 6 and "Koshi" in set(unknown["name"])
assert (unknown["population"] == 0).all()
assert len(impl) == 226 and abs(impl["investment_kzt"].sum() / 1e9 - 456) < 0.1
assert impl["jobs"].sum() == 2_500
assert len(pipe) == 7 and pipe["jobs"].sum() > 4_500
assert totals.loc["implementation", "jobs"] == 2_500
assert len(named) == 3 and not named["synthetic"].any()
assert named["synthetic_fields"].str.contains("investment_kzt").all()   # figures assumed
assert pipe["synthetic_fields"].str.contains("investment_kzt").all()     # none in the report
assert by_district["jobs"].sum() == 2_500
assert districts["jobs"].sum() == 2_500  # the map shows the whole total
assert parcels["synthetic"].all() and parcels["id"].is_unique
assert zones.loc[~zones["synthetic"], "zone_type"].isin({"protected", "industrial"}).all()
assert lb["closure"].abs().max() < 1e-3
assert set(findings["severity"]) <= {"error", "warning", "info"}
assert set(findings["rule"]) <= {"zone_use", "protected_area", "water_strip", "sanitary_zone"}
assert "districts" in [layer.id for layer in deck.layers]
""",
    "02_aluminium_plant_siting": """
assert (plant["district_id"], plant["sector"], plant["hazard_class"]) == (
    "tselinograd", "metallurgy", "II")
assert not plant["synthetic"]   # the project exists ...
assert {"investment_kzt", "jobs", "hazard_class", "geometry"} <= set(
    plant["synthetic_fields"].split(","))   # ... but these values are assumed
# metallurgy is not a permitted use of the agricultural zone the assumed site lies in
assert base_plant[["rule", "zone_type"]].values.tolist() == [["zone_use", "agricultural"]]
szz = ev_koshi.sanitary
assert szz.loc["parcels", "change"] > 0 and szz.loc["hectares", "change"] > 0
assert ev_koshi.findings_new[["rule", "severity"]].values.tolist() == [
    ["sanitary_zone", "error"]]
# the zone-use warning goes with the plant: Koshi's site is agricultural land too
assert ev_koshi.findings_moved[["rule", "zone_type"]].values.tolist() == [
    ["zone_use", "agricultural"]]
assert not st.loc[["Koshi", "Aqmol"], "population_known"].any()   # GeoNames has no figure
assert szz.loc["population", "change"] == 0 and ev_koshi.population_30km_new_jobs == 0
assert sc.loc["kosshy", "rank_change"] > 0 and sc.loc["tselinograd", "score_change"] < 0
assert abs(lt.loc["industrial", "d_zone_ha"] - 100) < 0.5
assert abs(lt["d_zone_ha"].sum()) < 1e-6          # land only changes zone
assert ev_field.findings_resolved[["site_id", "rule"]].values.tolist() == [
    ["named-aluminium", "zone_use"]]
assert "zone_use" in set(ev_zone.findings_resolved["rule"])
assert ev_zone.summary()["new_errors"] == 0
assert table["d_szz_parcels"].idxmax() == "alu-koshi"
assert (table.loc[["alu-field", "alu-zone"], "new_errors"] == 0).all()
assert (table["resolved_findings"] == [0, 1, 1]).all()
assert table.loc["alu-koshi", "moved_findings"] == 1
assert {"scenario_sites", "scenario_moves", "scenario_sanitary_zones"} <= {
    layer.id for layer in koshi.map().layers}
assert again.version == version == 1 and again.edits == zone.edits
assert again.evaluate().summary().equals(ev_zone.summary())
assert "alu-zone" in set(list_scenarios(tw)["id"])
""",
    "03_region_score": """
import numpy as np

assert obs["synthetic"].all()                       # every observation is made up, and says so
months = obs.loc[obs["unit_id"] == "tselinograd", "month"]
assert (months.min(), months.max()) == ("2022-01", "2025-08")
assert round(totals["investment"], 1) == 456.0 and round(totals["new_jobs"]) == 2_500
dims = list(sc.registry.dimension_ids)
assert sorted(ranking["rank"]) == list(range(1, 21))
assert ranking["score"].between(0, 100).all()
assert np.allclose(ranking[dims].mean(axis=1), ranking["score"])
assert np.isclose(ranking["score"].mean(), sc.region_score)
for w in (1, 2, 3, 5):
    t = sc.evaluate_weights({"investment": w}).table
    assert (t["rank_change"] == t["baseline_rank"] - t["rank"]).all()
assert sens.loc[1, "units moving"] == 0            # weight 1 is the baseline
assert (sens["Tselinograd rank"] == 1).all() and sens["units moving"].max() <= 20 / 3
assert gap < 1e-9
assert ((r["rank_p05"] <= r["median_rank"]) & (r["median_rank"] <= r["rank_p95"])).all()
width = r["rank_p95"] - r["rank_p05"]
assert r.loc["tselinograd", "nominal_rank"] == 1 and width["tselinograd"] >= 10
assert top.index[0] == "normalisation"
t = f.table
assert len(t) == 2 * 6
assert ((t["lower"] <= t["mean"]) & (t["mean"] <= t["upper"])).all()
assert f.kpi["p_miss"].between(0, 1).all()
assert (f.kpi["kpi_lower"] <= f.kpi["kpi"]).all() and (f.kpi["kpi"] <= f.kpi["kpi_upper"]).all()
assert set(warn["indicator"]) <= {"investment", "avg_wage"}
""",
}


def _code_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


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
    import importlib

    code = "\n".join(_code_cells(path))
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_reader_cells_hold_no_test_code(path):
    """No cell a reader sees asserts: the checks live in :data:`CHECKS`."""
    for i, code in enumerate(_code_cells(path)):
        asserts = [n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Assert)]
        assert not asserts, f"{path.name} code cell {i} asserts (line {asserts[0].lineno})"
    assert path.stem in CHECKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_cell_states_the_extras(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    first = "".join(nb["cells"][0]["source"])
    assert "**Needs**" in first and "pip install -e '.[" in first
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    extras = first[first.index("pip install -e '.[") + 18:].split("]", 1)[0]
    assert f"`{path.stem}` (extras: {extras})" in readme


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("kernels") / "aqmola-test"
    d.mkdir()
    (d / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "aqmola-twin tests", "language": "python"}))
    return d.parent


def _outputs(nb, kind: str) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if kind in o.get("data", {})]


# jupyter_client leaves ZMQ sockets to the garbage collector: not this project's warning
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_shows_what_it_says_and_stays_small(path, default_twin_path,
                                                          kernel_dir, monkeypatch):
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
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            client.execute_cell(cell, i)   # raises CellExecutionError, naming the cell
        executed = nbformat.writes(nb)
        # the checks, in the same kernel, on what the cells made
        nb.cells.append(nbformat.v4.new_code_cell(CHECKS[path.stem]))
        client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
    keep = os.environ.get("TWIN_EXECUTED_NOTEBOOKS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / path.name).write_text(executed, encoding="utf-8")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.get("output_type") == "error"]
    assert not errors
    size = len(executed.encode("utf-8"))
    assert size < MAX_EXECUTED_BYTES, f"{path.name} executed is {size / 1e6:.2f} MB"
    # pictures: every notebook shows static figures, and a map cell carries deck.gl once
    assert _outputs(nb, "image/png"), f"{path.name} shows no static picture"
    maps = [o["data"]["text/html"] for o in _outputs(nb, "text/html")
            if "<iframe srcdoc=" in o["data"]["text/html"]]
    assert sum("window.twinDeckAssets =" in m for m in maps) == min(len(maps), 1)
    del client, km
    gc.collect()  # collect the sockets here, under this test's warning filter
