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

__all__ = ["map_config"]

#: The XYZ alias of the parcel vector tiles, relative to the API root.
PARCEL_TILES = "tiles/parcels/{z}/{x}/{y}.mvt"


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
            "legend": legend,
        }
    sectors = (style.categorical_colors(twin["project_sites"]["sector"], style.SECTOR_COLORS)
               if "project_sites" in twin else {})
    land_uses = (sorted(pd.unique(twin["parcels"]["land_use"].dropna().astype(str)))
                 if "parcels" in twin else [])
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
                    "column_radius": COLUMN_RADIUS},
        "district_values": {
            str(k): {c: _num(v) for c, v in row.items()} for k, row in agg.iterrows()
        },
        "color_by": color_by,
        "default_color_by": default_color_by(agg),
        "district_labels": district_labels,
        "sector_colors": sectors,
        "synthetic_share": style.synthetic_shares(twin),
        "land_uses": land_uses,
        "parcels": ({"tiles": PARCEL_TILES, "minzoom": parcel_zooms[0],
                     "maxzoom": parcel_zooms[1]}
                    if parcel_zooms and "parcels" in twin else None),
        "style": style.style_spec(),
    }
