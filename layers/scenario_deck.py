"""A pydeck view of a scenario: the baseline twin, with what the scenario changes on top.

Districts are coloured by the scenario's change in jobs; on top sit the sites it adds
(green), moves (blue, with a line from the old place) and removes (grey), the sanitary
protection zones of the added and moved sites (red), and the areas it rezones (orange).

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

import pandas as pd

from . import style
from .deck import _features, _layer, twin_deck

__all__ = ["scenario_deck", "CHANGE_COLOURS"]

#: RGBA of each kind of change.
CHANGE_COLOURS = {"added": [26, 150, 65, 230], "moved": [43, 131, 186, 230],
                  "removed": [120, 120, 120, 200]}


#: What a site the scenario adds is: the user's plan, not a record of any kind.
PLANNED = "planned in this scenario — not a record"


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
    defaults to the change in jobs by district.
    """
    ev = scenario.evaluate()
    base = scenario.twin
    kwargs.setdefault("color_by", ev.districts["d_jobs"].rename("change in jobs"))
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
               width_units="'pixels'", pickable=True),
        _layer("ScatterplotLayer", rows, "scenario_sites", get_position="position",
               get_fill_color="color", get_radius=8, radius_units="'pixels'",
               stroked=True, get_line_color=[255, 255, 255, 255], line_width_min_pixels=1,
               pickable=True),
    ]
    return deck
