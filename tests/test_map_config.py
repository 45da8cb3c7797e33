"""layers/map_config.py and layers/district_figures.py on the default twin: what /map's
filters, legends and labels are built from."""

from __future__ import annotations

import json
import math

import pandas as pd

from layers.district_figures import district_values
from layers.map_config import PARCEL_THEME_ZOOM, map_config


def test_unknown_populations_are_no_data_not_zero(default_twin):
    agg = district_values(default_twin)
    s = default_twin["settlements"]
    # Kosshy's only settlement has no GeoNames figure: no data, where it once read 0.
    assert math.isnan(agg.loc["kosshy", "population"])
    assert agg.loc["kosshy", "population_unknown"] == 1
    known = s[s["population_known"]]
    assert agg["population"].sum() == known["population"].sum()
    assert agg["population_unknown"].sum() == (~s["population_known"]).sum() == 6
    cfg = map_config(default_twin)
    pop = cfg["color_by"]["population"]
    assert pop["no_data"] == int(agg["population"].isna().sum()) > 0
    assert pop["legend"][-1]["no_data"] is True
    assert pop["color"]["kosshy"] == pop["legend"][-1]["color"]
    assert "6 settlements without a figure" in pop["title"]
    assert cfg["district_values"]["kosshy"]["population"] is None


def test_filters_heights_and_plan_links(default_twin):
    cfg = map_config(default_twin, parcel_zooms=(5, 16))
    json.dumps(cfg)
    p = default_twin["project_sites"]
    f = cfg["facets"]
    assert f["sectors"] == sorted(p["sector"].unique())
    assert {s["id"]: s["pipeline"] for s in f["statuses"]} == {"implementation": False,
                                                               "pipeline": True}
    assert f["hazard_classes"][-1] == ""  # sites with no class: no sanitary zone
    assert set(f["hazard_classes"][:-1]) == set(p["hazard_class"][p["hazard_class"] != ""])
    assert f["years"] == {"min": int(p["start_year"].min()), "max": int(p["end_year"].max())}
    assert cfg["heights"]["column_max_investment"] == float(p["investment_kzt"].max())
    for cb in cfg["color_by"].values():
        assert cb["unit"] in {"index", "people", "kzt", "jobs", "count"}
        assert cb["min"] <= cb["max"]
        assert all("lo" in c for c in cb["legend"] if not c.get("no_data"))
    assert cfg["plan"] == {"findings": "plan/findings", "sanitary_zones": "plan/sanitary-zones"}
    assert cfg["parcel_theme_zoom"] == PARCEL_THEME_ZOOM and cfg["search"] == "map/search"


def test_english_names_are_one_romanisation(default_twin):
    en = map_config(default_twin)["english_names"]
    s = default_twin["settlements"].set_index("id")
    fixed = {s.loc[i, "name"]: n for i, n in en["settlements"].items()}
    assert fixed["Būrabay"] == "Burabay" and fixed["Qorghalzhyn"] == "Korgalzhyn"
    assert "districts" not in en  # the districts' own names are that romanisation
    assert pd.Series(list(fixed.values())).str.isascii().all()
