"""Approximate real features: the "Aqmola" industrial zone, protected areas, lakes, rivers.

These things exist, but their shapes here are approximations around assumed anchors
(``config.yaml``); every row says ``accuracy="approximate"``. Protected areas are sized to
their official areas (facts.md); lake sizes are assumed.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from ._common import (
    SRC_FACTS,
    SRC_REPORT,
    ellipse_m,
    grow_to_area,
    load_config,
    lonlat_to_m,
    metric_shape_lonlat,
)
from ._metric import area_m2
from .places import locate

__all__ = ["industrial_zones", "protected_areas", "lakes", "rivers"]


def industrial_zones(districts_gdf: gpd.GeoDataFrame,
                     context_gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The "Aqmola" industrial zone: a rectangle of assumed size at an assumed place.

    The source report names the zone and its 7-project portfolio but gives neither place nor
    size. The rectangle sits in Tselinograd district, outside Astana; the build refuses a
    placement that leaves the district or touches Astana.
    """
    cfg = load_config()["industrial_zone"]
    x, y = lonlat_to_m(*cfg["centre_lonlat"])
    w, h = cfg["width_km"] * 500, cfg["height_km"] * 500
    geom = metric_shape_lonlat(shapely.box(x - w, y - h, x + w, y + h), 200.0)
    dist = locate([geom.centroid], districts_gdf)[0]
    if dist != "tselinograd" or shapely.intersects(geom, context_gdf.geometry.iloc[0]):
        raise ValueError(
            f"industrial_zone.centre_lonlat {cfg['centre_lonlat']} puts the zone in "
            f"{dist or 'no district'} or over Astana: move it inside Tselinograd district"
        )
    return gpd.GeoDataFrame(
        {"id": ["aqmola"], "name": [f'Industrial zone "{cfg["name"]}"'],
         "district_id": [dist], "area_ha": area_m2([geom]) / 1e4,
         "note": ["location and size are assumed; the source names the zone only"],
         "accuracy": ["approximate"], "source": [SRC_REPORT], "synthetic": [False]},
        geometry=[geom], crs=4326,
    )


def protected_areas(region_gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The four specially protected natural territories at their official areas.

    Each is an ellipse grown around an assumed anchor (``config.yaml``), clipped to the
    region, until its equal-area area matches the official area from facts.md (to 0.01 %).
    Placement and shape are approximate. Buiratau really extends into Karaganda region; here
    the whole official area is placed inside Akmola region (see SOURCES.md).
    """
    outline = region_gdf.geometry.iloc[0]
    rows, geoms = [], []
    placed = None
    for pa in load_config()["protected_areas"]:
        target = float(pa["official_area_ha"]) * 1e4
        clip = outline if placed is None else shapely.difference(outline, placed)
        g = grow_to_area(lonlat_to_m(*pa["anchor_lonlat"]), float(pa["aspect"]), target, clip)
        placed = g if placed is None else shapely.union(placed, g)
        geoms.append(g)
        note = ("placed wholly inside Akmola region at the official area; the real park "
                "extends into Karaganda region" if pa["id"] == "buiratau" else
                "official area; placement and shape approximate")
        rows.append({"id": pa["id"], "name": pa["name"], "name_ru": pa["name_ru"],
                     "kind": pa["kind"], "official_area_ha": float(pa["official_area_ha"]),
                     "note": note})
    gdf = gpd.GeoDataFrame(rows, geometry=geoms, crs=4326)
    gdf["area_ha"] = area_m2(gdf.geometry.values) / 1e4
    gdf["accuracy"] = "approximate"
    gdf["source"] = f"official area: {SRC_FACTS}; shape: approximate ellipse (assumed anchor)"
    gdf["synthetic"] = False
    return gdf


def _water_rows(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    gdf["accuracy"] = "approximate"
    gdf["source"] = "approximate placement (assumed, see geodata/SOURCES.md)"
    gdf["synthetic"] = False
    return gdf


def lakes(region_gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A few major lakes, approximately placed, as ellipses clipped to the region.

    Sizes and centres are assumed (order of magnitude only). Enough to draw and to buffer,
    not to measure.
    """
    outline = region_gdf.geometry.iloc[0]
    rows, geoms = [], []
    for lake in load_config()["water"]["lakes"]:
        cx, cy = lonlat_to_m(*lake["centre_lonlat"])
        s = np.sqrt(float(lake["area_km2"]) * 1e6 / np.pi)
        asp = np.sqrt(float(lake["aspect"]))
        g = shapely.intersection(metric_shape_lonlat(ellipse_m(cx, cy, s * asp, s / asp), 500),
                                 outline)
        rows.append({"id": lake["id"], "name": lake["name"], "name_ru": lake["name_ru"],
                     "kind": "lake", "size_note": f"area assumed ~{lake['area_km2']} km²"})
        geoms.append(g)
    return _water_rows(gpd.GeoDataFrame(rows, geometry=geoms, crs=4326))


def rivers(region_gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The Ishim as a polyline through towns on its banks, clipped to the region.

    A layer of its own, apart from the lakes: a GeoPackage layer holds one geometry type,
    and QGIS asks which sub-layer to load when polygons and lines share one.
    """
    outline = region_gdf.geometry.iloc[0]
    rows, geoms = [], []
    for river in load_config()["water"]["rivers"]:
        line = shapely.segmentize(shapely.LineString(river["via_lonlat"]), 0.02)
        rows.append({"id": river["id"], "name": river["name"], "name_ru": river["name_ru"],
                     "kind": "river", "size_note": "course approximate (polyline via towns)"})
        geoms.append(shapely.intersection(line, outline))
    return _water_rows(gpd.GeoDataFrame(rows, geometry=geoms, crs=4326))
