"""A pydeck view of a scenario: the baseline twin, with what the scenario changes on top.

Districts are coloured by the scenario's change in jobs, in classes centred on zero
(:func:`change_classes`: no change is its own pale class, gains orange, losses purple); on
top sit the sites it adds (green), moves (blue, with a line from the old place) and removes
(grey), as dots a few pixels wide, the sanitary protection zones of the added and moved sites
(red), and the areas it rezones (orange). The view is flat by default: a change can be
negative, and a height cannot.

Examples
--------
>>> from twin.sample import make_small_twin, point_lonlat
>>> from twin.scenario import Scenario
>>> p = point_lonlat(5_300, 5_000)
>>> deck = scenario_deck(Scenario(make_small_twin(), "s").move_project("p1", p.x, p.y))
>>> [layer.id for layer in deck.layers][-3:]
['scenario_rezoned', 'scenario_moves', 'scenario_sites']
"""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

from . import style
from .deck import _features, _layer, twin_deck

__all__ = ["scenario_deck", "change_classes", "CHANGE_COLOURS", "SITE_RADIUS_PX"]

#: RGBA of each kind of change.
CHANGE_COLOURS = {"added": [26, 150, 65, 230], "moved": [43, 131, 186, 230],
                  "removed": [120, 120, 120, 200]}


#: What a site the scenario adds is: the user's plan, not a record of any kind.
PLANNED = "planned in this scenario — not a record"

#: Radius of a changed site's dot on screen, whatever the zoom.
SITE_RADIUS_PX = 7

# ColorBrewer PuOr (colour-blind safe): losses purple, gains orange, no change pale.
_LOSS = [[94, 60, 153], [178, 171, 210]]
_GAIN = [[253, 184, 99], [230, 97, 1]]
_NO_CHANGE = [236, 236, 236]
_NO_DATA = [200, 200, 200]


def _signed(x: float) -> str:
    if x == 0:
        return "0"
    for div, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:+.3g}{suffix}".replace("-", "−")
    return f"{x:+.3g}".replace("-", "−")


def change_classes(values: pd.Series) -> tuple[pd.Series, list[dict]]:
    """Colour changes in classes centred on zero; return the colours and legend classes.

    Exactly zero is its own class ("no change"), so an unchanged district never shares a
    colour with a gain. Gains and losses split at half the largest absolute change, the
    same breaks on both sides, so a shade means the same size of change either way.

    Examples
    --------
    >>> cols, legend = change_classes(pd.Series([0, 800, -200, 0]))
    >>> [c["label"] for c in legend]
    ['−800 to −400', '−400 to 0', 'no change', '0 to +400', '+400 to +800']
    >>> cols.iloc[0] == cols.iloc[3] != cols.iloc[1]
    True
    """
    v = pd.to_numeric(values, errors="coerce")
    top = float(v.abs().max()) if v.notna().any() else 0.0
    colors = pd.Series([_NO_DATA + [200]] * len(v), index=v.index, dtype=object)
    legend: list[dict] = []
    if top > 0 and math.isfinite(top):
        half = top / 2
        for (lo, hi), c in zip(((-top, -half), (-half, 0)), _LOSS, strict=True):
            legend.append({"label": f"{_signed(lo)} to {_signed(hi)}",
                           "color": c + [230]})
    legend.append({"label": "no change", "color": _NO_CHANGE + [230]})
    if top > 0 and math.isfinite(top):
        for (lo, hi), c in zip(((0, half), (half, top)), _GAIN, strict=True):
            legend.append({"label": f"{_signed(lo)} to {_signed(hi)}",
                           "color": c + [230]})
    ok = v.notna().to_numpy()
    x = v.to_numpy(dtype=float, na_value=np.nan)
    for i in np.flatnonzero(ok):
        if x[i] == 0:
            c = _NO_CHANGE
        elif x[i] < 0:
            c = _LOSS[0] if x[i] <= -top / 2 else _LOSS[1]
        else:
            c = _GAIN[1] if x[i] > top / 2 else _GAIN[0]
        colors.iloc[i] = c + [230]
    if not ok.all():
        legend.append({"label": "no data", "color": _NO_DATA + [200]})
    return colors, legend


def _tip(title: str, lines: list[str], data: str | None = None) -> str:
    out = [f"<b>{html.escape(title)}</b>", *map(html.escape, lines)]
    if data:
        out.append(f"<i>data: {html.escape(data)}</i>")
    return "<br/>".join(out)


def _data(row) -> str:
    """How real a site's figures are, as the baseline tooltips say it (layers.deck)."""
    if row.get("change") == "added":
        return PLANNED
    label = style.accuracy_label(row.get("accuracy"), row.get("synthetic"))
    return style.ACCURACY_TEXT.get(label, "accuracy unknown: this row does not say")


def scenario_deck(scenario, **kwargs):
    """A :func:`layers.deck.twin_deck` of the baseline plus the scenario's changes.

    ``kwargs`` go to ``twin_deck`` (``extruded``, ``pitch``, ``lang``...); ``color_by``
    defaults to the change in jobs by district, coloured by :func:`change_classes`, and
    ``extruded`` to False.
    """
    ev = scenario.evaluate()
    base = scenario.twin
    kwargs.setdefault("color_by", ev.districts["d_jobs"].rename("change in jobs"))
    kwargs.setdefault("classes", change_classes)
    kwargs.setdefault("extruded", False)
    kwargs.setdefault("title", f"{base.name} — scenario {scenario.name}")
    deck = twin_deck(base, **kwargs)
    lay = scenario.layers()
    sites = lay["project_sites"]
    changed = sites[sites["change"] != ""]
    base_sites = base["project_sites"].set_index(base["project_sites"]["id"].astype(str))
    removed = [k for k, v in scenario.changes.items() if v == "removed"]
    rows = []
    for _, r in changed.iterrows():
        rows.append({"position": [r.geometry.x, r.geometry.y], "change": r["change"],
                     "tw_tip": _tip(f"{r['name']} ({r['change']})", [
                         f"sector: {r['sector']}", f"jobs: {int(r['jobs']):,}",
                         f"investment: {int(r['investment_kzt']) / 1e9:,.1f} bn KZT",
                         f"hazard class: {r['hazard_class'] or '–'}"], _data(r))})
    for sid in removed:
        g = base_sites.geometry[sid]
        rows.append({"position": [g.x, g.y], "change": "removed",
                     "tw_tip": _tip(f"{base_sites.loc[sid, 'name']} (removed)", [],
                                    _data(base_sites.loc[sid]))})
    for r in rows:
        r["color"] = CHANGE_COLOURS[r["change"]]
    moves = []
    for _, r in changed[changed["change"] == "moved"].iterrows():
        g = base_sites.geometry[r["id"]]
        moves.append({"from": [g.x, g.y], "to": [r.geometry.x, r.geometry.y],
                      "tw_tip": _tip(f"{r['name']} moved", [])})
    szz = lay["sanitary_zones"]
    szz_props = pd.DataFrame({"tw_tip": [
        _tip(f"sanitary protection zone of {s}", [f"class {h}, {m:,.0f} m"])
        for s, h, m in zip(szz["site_id"], szz["hazard_class"], szz["radius_m"], strict=True)]})
    zones = lay["zones"]
    rezoned = zones[zones["id"].astype(str).str.contains(":scenario")]
    ha = rezoned["area_ha"].to_numpy(dtype=float)  # measured in the equal-area CRS
    rz_props = pd.DataFrame({"tw_tip": [_tip(f"rezoned to {z}", [f"{a:,.1f} ha"])
                                        for z, a in zip(rezoned["zone_type"], ha,
                                                        strict=True)]})
    deck.layers += [
        _layer("GeoJsonLayer", _features(szz, szz_props), "scenario_sanitary_zones",
               stroked=True, filled=True, get_fill_color=[215, 25, 28, 60],
               get_line_color=[215, 25, 28, 220], line_width_min_pixels=1, pickable=True),
        _layer("GeoJsonLayer", _features(rezoned.reset_index(drop=True), rz_props),
               "scenario_rezoned", stroked=True, filled=True,
               get_fill_color=[253, 174, 97, 110], get_line_color=[230, 120, 20, 255],
               line_width_min_pixels=2, pickable=True),
        _layer("LineLayer", moves, "scenario_moves", get_source_position="from",
               get_target_position="to", get_color=CHANGE_COLOURS["moved"], get_width=3,
               width_units="pixels", pickable=True),
        # Units are plain strings ("pixels"): deck.gl reads any other unit, such as the
        # quoted "'pixels'" these once had, as common units, and 8 of those at the region's
        # zoom drew a disc hundreds of kilometres wide.
        _layer("ScatterplotLayer", rows, "scenario_sites", get_position="position",
               get_fill_color="color", get_radius=SITE_RADIUS_PX, radius_units="pixels",
               stroked=True, get_line_color=[255, 255, 255, 255], line_width_min_pixels=1,
               pickable=True),
    ]
    return deck
