"""Buffers of the plan: sanitary protection zones, water protection zones and strips.

All distances are in metres in the twin's metric analysis CRS. The checks in
:mod:`twin.plan.compliance` do not need these polygons (they test exact distances with
``dwithin``); the polygons are for maps, exports and overlays.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ._geom import in_crs, metric_crs
from .errors import PlanError
from .regulations import HAZARD_CLASSES, Regulations

__all__ = ["sanitary_distance_m", "sanitary_zones", "water_protection"]

_QUAD_SEGS = 32  # 128-gon: its area is within 0.04 % of the true circle


def sanitary_distance_m(hazard_class, regulations: Regulations) -> np.ndarray:
    """Sanitary protection distance for each hazard class (0 where there is none).

    Blank or missing classes mean "not a hazardous production": distance 0. A value that is
    not a class raises, naming it.

    Examples
    --------
    >>> from twin.plan import load_regulations
    >>> sanitary_distance_m(["I", "V", "", None], load_regulations()).tolist()
    [1000.0, 50.0, 0.0, 0.0]
    """
    cls = pd.Series(hazard_class, dtype=object).fillna("").astype(str).str.strip().str.upper()
    bad = sorted(set(cls[(cls != "") & ~cls.isin(HAZARD_CLASSES)]))
    if bad:
        raise PlanError(
            f"unknown hazard class(es) {', '.join(map(repr, bad))}: use one of "
            f"{', '.join(HAZARD_CLASSES)}, or leave it blank for no sanitary zone"
        )
    table = {c: float(regulations.sanitary_m[c]) for c in HAZARD_CLASSES}
    return cls.map(table).fillna(0.0).to_numpy(dtype=float)


def sanitary_zones(
    sites: gpd.GeoDataFrame, regulations: Regulations, *, crs: CRS | None = None
) -> gpd.GeoDataFrame:
    """Sanitary protection zones (СЗЗ) around project sites, by hazard class.

    Sites without a hazard class get no zone. Returned in the metric ``crs``.

    Examples
    --------
    >>> from twin.sample import make_small_twin
    >>> from twin.plan import load_regulations
    >>> tw = make_small_twin()
    >>> szz = sanitary_zones(tw["project_sites"], load_regulations())
    >>> szz[["site_id", "hazard_class", "radius_m"]].values.tolist()
    [['p1', 'II', 500.0]]
    >>> round(float(szz.area.iloc[0] / (np.pi * 500 ** 2)), 3)
    1.0
    """
    crs = metric_crs(crs, sites)
    s = in_crs(sites, crs, "project_sites")
    if "hazard_class" not in s:  # a project list without classes: no site has a zone
        s = s.assign(hazard_class=pd.Series(None, index=s.index, dtype=object))
    d = sanitary_distance_m(s["hazard_class"], regulations)
    keep = d > 0
    s = s[keep]
    return gpd.GeoDataFrame(
        {
            "site_id": s["id"].to_numpy(),
            "hazard_class": s["hazard_class"].to_numpy(),
            "radius_m": d[keep],
            "source": "sanitary protection distance by hazard class (the twin's regulations)",
            "synthetic": s["synthetic"].to_numpy(),
        },
        geometry=shapely.buffer(np.asarray(s.geometry.values), d[keep], quad_segs=_QUAD_SEGS),
        crs=crs,
    )


def water_protection(
    water: gpd.GeoDataFrame, regulations: Regulations, *, crs: CRS | None = None
) -> gpd.GeoDataFrame:
    """Water protection zones and strips around each water feature.

    Two rows per feature: ``kind`` ``"zone"`` (``water_zone_m``) and ``"strip"``
    (``water_strip_m``), both measured from the water's edge (a river line or a lake shore).

    Examples
    --------
    >>> from shapely import LineString
    >>> from twin.plan import load_regulations
    >>> w = gpd.GeoDataFrame({"id": ["r"], "name": ["R"], "synthetic": [True]},
    ...                      geometry=[LineString([(0, 0), (1000, 0)])], crs=32643)
    >>> wp = water_protection(w, load_regulations())
    >>> wp["kind"].tolist(), wp["width_m"].tolist()
    (['zone', 'strip'], [500.0, 100.0])
    """
    crs = metric_crs(crs, water)
    w = in_crs(water, crs, "water")
    g = np.asarray(w.geometry.values)
    n = len(w)
    widths = np.concatenate(
        [np.full(n, regulations.water_zone_m), np.full(n, regulations.water_strip_m)]
    )
    return gpd.GeoDataFrame(
        {
            "water_id": np.tile(w["id"].to_numpy(), 2),
            "name": np.tile(w["name"].to_numpy() if "name" in w else w["id"].to_numpy(), 2),
            "kind": ["zone"] * n + ["strip"] * n,
            "width_m": widths,
            "source": "water protection zone/strip widths (the twin's regulations)",
            "synthetic": np.tile(w["synthetic"].to_numpy(), 2),
        },
        geometry=shapely.buffer(np.tile(g, 2), widths, quad_segs=_QUAD_SEGS),
        crs=crs,
    )
