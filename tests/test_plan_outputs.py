"""Plan outputs (GeoPackage export, Markdown report, CLI), docstring examples, and the
plan on the default Akmola twin."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyogrio
import pytest
import shapely

from tests.common import make_small_twin
from twin import Twin
from twin.cli import main
from twin.plan import Plan, land_balance


@pytest.fixture
def saved_small(tmp_path):
    tw = make_small_twin()
    path = tmp_path / "small.gpkg"
    tw.save(path)
    tw.plan.rezone(parcels=[2], zone_type="industrial")
    tw.plan.save()
    return path


def _no_temp_files(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_cli_plan_export(saved_small, tmp_path, capsys):
    out = tmp_path / "exp" / "plan.gpkg"
    assert main(["plan", "export", "--twin", str(saved_small), "--out", str(out)]) == 0
    assert "v2" in capsys.readouterr().out
    layers = dict(pyogrio.list_layers(out))
    assert layers["zones"] == "MultiPolygon" and layers["findings"] == "Point"
    assert {
        "sanitary_zones",
        "protected_areas",
        "land_balance",
        "compliance_summary",
        "capacity_summary",
        "regulations",
        "plan_history",
    } <= set(layers)
    z = pyogrio.read_dataframe(out, layer="zones")
    assert {"max_far", "max_floors", "min_green_share", "basis", "synthetic"} <= set(z)
    assert "industrial" in set(z.loc[z.district_id == "west", "zone_type"])
    assert _no_temp_files(out.parent) == []
    # an earlier version on request
    assert (
        main(["plan", "export", "--twin", str(saved_small), "--out", str(out), "--version", "1"])
        == 0
    )
    z1 = pyogrio.read_dataframe(out, layer="zones")
    assert "industrial" not in set(z1.loc[z1.district_id == "west", "zone_type"])


def test_cli_plan_report(saved_small, tmp_path):
    out = tmp_path / "report"
    assert main(["plan", "report", "--twin", str(saved_small), "--out", str(out)]) == 0
    md = (out / "report.md").read_text(encoding="utf-8")
    for heading in (
        "## Land balance by district",
        "## Compliance of project sites",
        "## Building capacity",
        "## Regulations",
        "## Versions",
    ):
        assert heading in md
    assert "1 parcel, 100 ha, in West district went from agricultural to industrial" in md
    # the small twin's two sites are test data: the report says its findings are not real
    assert "2 of the 2 sites are synthetic" in md
    assert "![Functional zones and project compliance](map.png)" in md
    assert (out / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "findings.csv").is_file() and (out / "land_balance.csv").is_file()
    assert _no_temp_files(out) == []


def test_cli_plan_unknown_version_is_a_clean_error(saved_small, tmp_path, capsys):
    rc = main(
        [
            "plan",
            "export",
            "--twin",
            str(saved_small),
            "--out",
            str(tmp_path / "x.gpkg"),
            "--version",
            "9",
        ]
    )
    assert rc == 1
    assert "has no version 9" in capsys.readouterr().err
    assert not (tmp_path / "x.gpkg").exists()


def test_importing_the_plan_stays_light():
    code = (
        "import sys, twin, twin.plan; tw = twin.Twin(); "
        "bad = [m for m in ('matplotlib', 'fastapi', 'pydeck', 'rasterio') "
        "if m in sys.modules]; print(bad); sys.exit(bool(bad))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


# -- the default Akmola twin ---------------------------------------------------------------
def test_default_twin_zones_cover_each_district_without_overlap(default_twin):
    z = default_twin.metric("zones")
    assert {
        "residential",
        "public_business",
        "industrial",
        "protected",
        "agricultural",
        "reserve",
        "recreational",
    } <= set(z["zone_type"])
    g = np.asarray(z.geometry.values)
    assert shapely.area(g).sum() == pytest.approx(shapely.area(shapely.union_all(g)), rel=1e-7)
    lb = land_balance(z, default_twin.metric("districts"))
    per = lb.groupby("district_id").agg(
        total=("area_ha", "sum"), area=("district_area_ha", "first")
    )
    assert len(per) == len(default_twin["districts"])
    assert ((per["total"] / per["area"] - 1).abs() < 1e-3).all()  # within 0.1 %
    assert not z.loc[z.zone_type == "protected", "synthetic"].any()  # from the real layer


def test_default_twin_project_inside_burabay_park_is_flagged(default_twin):
    pa = default_twin["protected_areas"]
    burabay = pa[pa["name"].str.contains("Burabay")].geometry.iloc[0]
    found = Plan(default_twin).check_site(burabay.representative_point(), "metallurgy", "II")
    hits = [f for f in found if f.rule == "protected_area"]
    assert len(hits) == 1 and hits[0].severity == "error"
    assert "Burabay State National Nature Park" in hits[0].message


def test_default_twin_compliance_names_real_findings(default_twin):
    plan = Plan(default_twin)
    f = plan.compliance()
    sites = default_twin["project_sites"]
    assert set(f["site_id"]) <= set(sites["id"])
    # Sites the generator placed inside the Burabay park polygon are found by the check.
    m = default_twin.metric("project_sites")
    pa = default_twin.metric("protected_areas")
    inside = {s for s, g in zip(m["id"], m.geometry, strict=True) if pa.geometry.contains(g).any()}
    assert set(f.loc[f.rule == "protected_area", "site_id"]) == inside
    assert (f["severity"] == "error").any()
    summ = plan.compliance_summary(findings=f)
    assert summ["sites"].sum() == len(sites)


def test_default_twin_round_trips_its_zones(default_twin_path):
    tw = Twin.open(default_twin_path)
    assert tw.plan.version == 1
    assert len(tw.plan.zones()) == len(tw["zones"])
