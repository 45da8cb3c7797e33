"""layers/style.py: categorical palettes that survive colour-vision deficiency, badges that
agree with all of a row's flags, and the "no data" class."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from layers import style

coloraide = pytest.importorskip("coloraide")

# CIEDE2000 distance under which two map colours are easily confused at swatch size;
# 10 is about where a legend stops being read at a glance (the old rainbow sectors fell
# to 2-5 under deuteranopia).
MIN_DE = 10
DEFICIENCIES = ("protan", "deutan", "tritan")


def _distinct(palette: dict[str, list[int]]) -> list[list[int]]:
    seen = []
    for c in palette.values():
        if c[:3] not in seen:
            seen.append(c[:3])
    return seen


def _closest(colours, deficiency=None):
    Color = coloraide.Color
    cs = [Color("srgb", [v / 255 for v in c]) for c in colours]
    if deficiency:
        cs = [c.filter(deficiency, method="machado") for c in cs]
    return min((a.delta_e(b, method="2000"), i, j)
               for (i, a), (j, b) in itertools.combinations(enumerate(cs), 2))


@pytest.mark.parametrize("deficiency", [None, *DEFICIENCIES])
@pytest.mark.parametrize("name", ["SECTOR_COLORS", "LAND_USE_COLORS"])
def test_categorical_palettes_stay_apart_for_colour_blind_readers(name, deficiency):
    colours = _distinct(getattr(style, name))
    de, i, j = _closest(colours, deficiency)
    assert de >= MIN_DE, (name, deficiency, colours[i], colours[j], round(de, 1))


def test_map_marks_stay_apart_from_each_other():
    m = style.MARKS
    marks = [c[:3] for c in (m["severity"]["error"], m["severity"]["warning"],
                             m["scenario"]["added"], m["scenario"]["moved"])]
    for deficiency in (None, *DEFICIENCIES):
        assert _closest(marks, deficiency)[0] >= MIN_DE, deficiency


def test_unknown_categories_never_reuse_a_colour():
    values = [f"sector {i}" for i in range(12)]
    colours = style.categorical_colors(values, {})
    first = [tuple(colours[v]) for v in sorted(values)[:9]]
    assert len(set(first)) == 9  # Tol's nine, then grey
    assert {tuple(colours[v]) for v in sorted(values)[9:]} == {(221, 221, 221, 255)}


@pytest.mark.parametrize("accuracy, synthetic, fields, badge", [
    ("real", False, None, "real"),
    ("approximate", False, "", "approximate"),
    (None, False, None, "real"),
    (None, None, None, "unknown"),
    (None, float("nan"), None, "unknown"),
    (None, True, None, "synthetic"),
    ("approximate", True, None, "synthetic"),  # a made-up row is made up, whatever else
    ("approximate", False, "investment_kzt,jobs,geometry", "partly synthetic"),
    ("approximate", False, ["name"], "partly synthetic"),
])
def test_badges_agree_with_every_flag(accuracy, synthetic, fields, badge):
    assert style.accuracy_label(accuracy, synthetic, fields) == badge
    assert badge in style.ACCURACY_TEXT or badge == "unknown"


def test_default_twin_badges(default_twin):
    p = default_twin["project_sites"]
    badges = {i: style.accuracy_label(a, s, f) for i, a, s, f in
              zip(p["id"], p["accuracy"], p["synthetic"], p["synthetic_fields"], strict=True)}
    # The plant whose every figure is made up, and the pipeline rows named "synthetic",
    # were badged "approximate".
    assert badges["named-aluminium"] == "partly synthetic"
    assert {badges[i] for i in p["id"] if str(i).startswith("pipeline-")} == {"partly synthetic"}
    assert {badges[i] for i in p.loc[p["synthetic"], "id"]} == {"synthetic"}


def test_no_data_is_a_class_of_its_own():
    colours, legend = style.sequential_classes(pd.Series([1.0, 2.0, np.nan, 4.0, 8.0]))
    assert legend[-1] == {"label": "no data", "no_data": True, "color": style.NO_DATA + [200]}
    assert colours.iloc[2] == style.NO_DATA + [200]
    assert all(c != style.NO_DATA + [200] for k, c in colours.items() if k != 2)
    assert [round(x["lo"], 2) for x in legend[:-1]] == sorted(round(x["lo"], 2)
                                                              for x in legend[:-1])
