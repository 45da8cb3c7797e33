"""Settlements: real places from GeoNames, assigned to the approximate district cells."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._common import SOURCES, SRC_FACTS, SRC_GEONAMES
from .boundaries import units

__all__ = ["settlements", "locate"]


def locate(points, districts_gdf: gpd.GeoDataFrame) -> np.ndarray:
    """The id of the district cell holding each point ('' where none does).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point, box
    >>> d = gpd.GeoDataFrame({"id": ["a"]}, geometry=[box(0, 0, 1, 1)], crs=4326)
    >>> locate([Point(0.5, 0.5), Point(2, 2)], d).tolist()
    ['a', '']
    """
    pts = np.asarray(points, dtype=object)
    tree = shapely.STRtree(np.asarray(districts_gdf.geometry.values))
    p_idx, d_idx = tree.query(pts, predicate="within")
    ids = np.full(len(pts), "", dtype=object)
    ids[p_idx] = districts_gdf["id"].to_numpy()[d_idx]
    return ids


def settlements(districts_gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Real towns and villages inside the region (GeoNames, CC BY 4.0).

    Read from ``sources/settlements.csv`` (written once by ``geodata/extract.py``). The
    unit centres of ``units.csv`` are flagged ``is_centre``. GeoNames has no population for
    some villages: those rows carry ``population`` 0 and ``population_known`` False.
    """
    df = pd.read_csv(SOURCES / "settlements.csv", dtype={"geonameid": str, "name_ru": str},
                     keep_default_na=False)
    u = units()
    centres = dict(zip(u["centre"], zip(u["lat"], u["lon"], strict=True), strict=True))
    missing = set(centres) - set(df["name"])
    if missing:
        raise ValueError(
            f"unit centres {sorted(missing)} are missing from sources/settlements.csv: "
            "re-run `python -m geodata.extract`"
        )
    is_centre = np.array([
        n in centres and np.allclose(centres[n], (la, lo), atol=1e-4)
        for n, la, lo in zip(df["name"], df["lat"], df["lon"], strict=True)
    ])
    geoms = shapely.points(df[["lon", "lat"]].to_numpy())
    known = df["population"].to_numpy() > 0
    out = gpd.GeoDataFrame(
        {"id": df["geonameid"].astype(str), "name": df["name"], "name_ru": df["name_ru"],
         "population": df["population"].astype(np.int64), "population_known": known,
         "district_id": locate(geoms, districts_gdf), "is_centre": is_centre,
         "accuracy": "real",
         "source": np.where(is_centre, f"{SRC_GEONAMES}; unit centre: {SRC_FACTS}",
                            SRC_GEONAMES),
         "synthetic": False},
        geometry=geoms, crs=4326,
    )
    if (out["district_id"] == "").any():
        raise ValueError(
            f"settlements {out.loc[out['district_id'] == '', 'name'].tolist()} fall in no "
            "district cell: check sources/settlements.csv against the outline"
        )
    return out.sort_values("id", key=lambda s: s.astype(np.int64)).reset_index(drop=True)
