"""What a browser map needs to draw a twin the way :func:`layers.deck.twin_deck` does.

The ``/map`` page fetches features and tiles itself; this config carries the rest: the
colour of each district under each colouring, the heights, the palettes, the camera and the
parcel tile template. Computing it here keeps the classification in one place (Python), so
the page and the ``twin map`` file cannot drift apart.
"""

from __future__ import annotations

import math

import pandas as pd

from . import style
from .deck import (
    COLUMN_MAX_ELEVATION,
    COLUMN_RADIUS,
    DISTRICT_MAX_ELEVATION,
    _view_state,
    extent_m,
)
from .district_figures import (
    COLOR_BY,
    RELATIVE_HEIGHT,
    color_title,
    default_color_by,
    district_values,
    height_fraction,
)
from .names import english_names

__all__ = ["map_config"]

#: The XYZ alias of the parcel vector tiles, relative to the API root.
PARCEL_TILES = "tiles/parcels/{z}/{x}/{y}.mvt"
#: One theme at a time: below this zoom the districts' colouring is the map; from it on,
#: parcels by land use are, and the districts turn into outlines. Zoom 9 is where a town's
#: parcels are a few pixels wide (about 300 m per pixel at 52° N).
PARCEL_THEME_ZOOM = 9
#: The plan's outputs as GeoJSON (api/routers/plan.py), relative to the API root.
PLAN_FEATURES = {"findings": "plan/findings", "sanitary_zones": "plan/sanitary-zones"}
#: What the value of each colouring counts, so the page can state its unit.
UNITS = {"score": "index", "population": "people", "investment_kzt": "kzt", "jobs": "jobs",
         "projects": "count"}


def _num(v):
    v = float(v)
    return v if math.isfinite(v) else None


def map_config(twin, *, parcel_zooms: tuple[int, int] | None = None) -> dict:
    """The ``/map`` page's config for ``twin`` (JSON-ready).

    ``parcel_zooms`` is the tile server's (minzoom, maxzoom) for parcels; ``None`` means the
    twin has no parcels to show.

    Examples
    --------
    >>> from twin.sample import make_small_twin
    >>> cfg = map_config(make_small_twin(), parcel_zooms=(5, 16))
    >>> sorted(cfg["color_by"])[:2], cfg["parcels"]["minzoom"], cfg["default_color_by"]
    (['investment_kzt', 'jobs'], 5, 'population')
    """
    agg = district_values(twin)
    color_by = {}
    for key in COLOR_BY:
        if key not in agg or agg[key].isna().all():
            continue
        title = color_title(key, agg)
        values = agg[key]
        colors, legend = style.sequential_classes(values)
        relative = key in RELATIVE_HEIGHT
        color_by[key] = {
            "title": title,
            "color": {str(k): c for k, c in colors.items()},
            "height": {str(k): float(v) for k, v in height_fraction(values, relative).items()},
            "height_note": "height: lowest to highest" if relative else "height ∝ value",
            "relative_height": relative,
            "unit": UNITS.get(key, "value"),
            "min": _num(values.min()) if values.notna().any() else None,
            "max": _num(values.max()) if values.notna().any() else None,
            "no_data": int(values.isna().sum()),
            "legend": legend,
        }
    sectors = (style.categorical_colors(twin["project_sites"]["sector"], style.SECTOR_COLORS)
               if "project_sites" in twin else {})
    land_uses = (sorted(pd.unique(twin["parcels"]["land_use"].dropna().astype(str)))
                 if "parcels" in twin else [])
    facets, max_investment = _facets(twin)
    view = _view_state(twin, pitch=0).__dict__
    d = twin["districts"]
    idc = twin.schema("districts").id_column
    pts = d.geometry.representative_point()
    district_labels = [
        {"id": str(i), "kind": str(k), "lon": float(p.x), "lat": float(p.y),
         **{lang: t for lang, t in zip(style.LABEL_COLUMNS, texts, strict=True)}}
        for i, k, p, *texts in zip(d[idc], d.get("kind", pd.Series("", index=d.index)), pts,
                                   *(style.label_text(d, lang) for lang in style.LABEL_COLUMNS),
                                   strict=True)
    ]
    return {
        "name": twin.name,
        "title": twin.title,
        "version": twin.version,
        "attribution": style.attributions(twin),
        "accuracy_note": style.accuracy_note(twin),
        "layers": list(twin.layer_names),
        "bounds": [float(b) for b in twin["region"].total_bounds],
        "view": {"longitude": view["longitude"], "latitude": view["latitude"],
                 "zoom": view["zoom"], "minZoom": view["min_zoom"],
                 "maxZoom": view["max_zoom"]},
        "extent_m": extent_m(twin),
        "heights": {"district": DISTRICT_MAX_ELEVATION, "column": COLUMN_MAX_ELEVATION,
                    "column_radius": COLUMN_RADIUS, "column_max_investment": max_investment},
        "district_values": {
            str(k): {c: _num(v) for c, v in row.items()} for k, row in agg.iterrows()
        },
        "color_by": color_by,
        "default_color_by": default_color_by(agg),
        "district_labels": district_labels,
        "sector_colors": sectors,
        "english_names": _english_names(twin),
        "facets": facets,
        "synthetic_share": style.synthetic_shares(twin),
        "parcel_theme_zoom": PARCEL_THEME_ZOOM,
        "plan": dict(PLAN_FEATURES) if "project_sites" in twin else None,
        "search": "map/search",
        "land_uses": land_uses,
        "parcels": ({"tiles": PARCEL_TILES, "minzoom": parcel_zooms[0],
                     "maxzoom": parcel_zooms[1]}
                    if parcel_zooms and "parcels" in twin else None),
        "style": style.style_spec(),
    }


def _facets(twin) -> tuple[dict, float | None]:
    """What the project filters offer (sectors, statuses, hazard classes, the span of
    years), and the largest investment, which sets the tallest 3D column."""
    if "project_sites" not in twin:
        return {}, None
    p = twin["project_sites"]

    def values(col):
        return sorted(pd.unique(p[col].dropna().astype(str))) if col in p else []

    # a project list may hold no years (only names and sectors): then no year slider
    years = pd.concat([pd.to_numeric(p[c], errors="coerce") for c in ("start_year", "end_year")
                       if c in p] or [pd.Series(dtype=float)]).dropna()
    inv = pd.to_numeric(p.get("investment_kzt"), errors="coerce") if "investment_kzt" in p \
        else pd.Series(dtype=float)
    hazard = values("hazard_class")
    facets = {
        "sectors": values("sector"),
        "statuses": [{"id": s, "pipeline": bool(style.is_pipeline(pd.Series([s])).iloc[0])}
                     for s in values("status")],
        # "" is a site with no hazard class: no sanitary zone
        "hazard_classes": [h for h in hazard if h.strip()]
        + ([""] if "hazard_class" in p and (p["hazard_class"].fillna("").astype(str)
                                            .str.strip() == "").any() else []),
        "years": ({"min": int(years.min()), "max": int(years.max())} if len(years) else None),
    }
    return facets, (_num(inv.max()) if inv.notna().any() else None)


def _english_names(twin) -> dict[str, dict[str, str]]:
    """Per layer, the rows whose English label differs from their ``name``: one
    romanisation across layers (:func:`layers.names.english_names`)."""
    out = {}
    for layer in ("districts", "settlements", "protected_areas", "lakes", "rivers", "water"):
        if layer not in twin or "name" not in twin[layer]:
            continue
        g = twin[layer]
        idc = twin.schema(layer).id_column
        en = english_names(g)
        diff = en != g["name"].fillna("").astype(str)
        if diff.any():
            out[layer] = {str(i): str(n) for i, n in zip(g[idc][diff], en[diff], strict=True)}
    return out
