"""A tiny hand-made twin and the geometry helpers it is built with, for examples.

Docstring examples across the packages (and the tests, through ``tests/common.py``) use
:func:`make_small_twin`: two 10 km x 10 km districts near Astana, every number in it
checkable by hand. Everything in it is ``synthetic``.

The squares are built in the twin's metric analysis CRS (:data:`SMALL_CRS`, given to the
twin explicitly), where they are exact, and returned in lon/lat: ``square_lonlat`` builds a
square in metres, ``point_lonlat`` a point.

Examples
--------
>>> tw = make_small_twin()
>>> round(float(tw.area_km2("districts").sum()))
200
"""

from __future__ import annotations

import geopandas as gpd
import shapely
from pyproj import CRS
from shapely.geometry import Point, box

from .crs import to_storage
from .model import Twin

__all__ = ["make_small_twin", "make_bare_twin", "square_lonlat", "point_lonlat", "lonlat",
           "metric", "SMALL_CRS"]

#: The small twin's analysis CRS: metres east and north of 69.8E 51.9N, equal-area.
SMALL_CRS = CRS.from_proj4(
    "+proj=laea +lat_0=51.9 +lon_0=69.8 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs")
# Origin of the small twin, in the analysis CRS.
X0, Y0 = 0.0, 0.0


def metric(geom):
    """A GeoSeries holding one metric geometry, converted to lon/lat."""
    return to_storage(gpd.GeoSeries([geom], crs=SMALL_CRS)).iloc[0]


def square_lonlat(x: float, y: float, size: float):
    """A square of ``size`` metres with its lower-left corner at (x, y) metres."""
    return metric(box(x, y, x + size, y + size))


def point_lonlat(x: float, y: float):
    return metric(Point(x, y))


def lonlat(x: float, y: float) -> tuple[float, float]:
    """(lon, lat) of the point (x, y) metres in the analysis CRS."""
    p = point_lonlat(x, y)
    return p.x, p.y


def make_small_twin() -> Twin:
    """A 20 km x 10 km region split into two 10 km x 10 km districts, with a town,
    an industrial zone, a protected area, 4 parcels and 2 project sites.

    Hand-checked: each district is 100 km², the region 200 km²; parcel p1 is 1 km² = 100 ha.
    """
    region = gpd.GeoDataFrame(
        {"id": ["R"], "name": ["Small"], "name_ru": ["Малый"], "name_kk": ["Кіші"],
         "official_area_km2": [200.0], "accuracy": ["synthetic"], "source": ["sample"],
         "synthetic": [True]},
        geometry=[square_lonlat(0, 0, 10_000).union(square_lonlat(10_000, 0, 10_000))],
        crs=4326,
    )
    region["geometry"] = shapely.make_valid(region.geometry.values)
    districts = gpd.GeoDataFrame(
        {"id": ["west", "east"], "name": ["West district", "East district"],
         "name_ru": ["Западный", "Восточный"], "name_kk": ["Батыс", "Шығыс"],
         "kind": ["district", "district"], "centre": ["Westtown", "Easttown"],
         "centre_lon": [0.0, 0.0], "centre_lat": [0.0, 0.0], "area_km2": [100.0, 100.0],
         "accuracy": ["synthetic"] * 2, "source": ["sample"] * 2, "synthetic": [True] * 2},
        geometry=[square_lonlat(0, 0, 10_000), square_lonlat(10_000, 0, 10_000)],
        crs=4326,
    )
    for i, g in enumerate(districts.geometry):
        c = g.representative_point()
        districts.loc[i, ["centre_lon", "centre_lat"]] = [c.x, c.y]
    settlements = gpd.GeoDataFrame(
        {"id": ["s1", "s2"], "name": ["Westtown", "Easttown"], "population": [5000, 1200],
         "district_id": ["west", "east"], "accuracy": ["synthetic"] * 2,
         "source": ["sample"] * 2, "synthetic": [True] * 2},
        geometry=[point_lonlat(5_000, 5_000), point_lonlat(15_000, 5_000)],
        crs=4326,
    )
    industrial = gpd.GeoDataFrame(
        {"id": ["iz"], "name": ["Test IZ"], "district_id": ["east"], "area_ha": [100.0],
         "accuracy": ["synthetic"], "source": ["sample"], "synthetic": [True]},
        geometry=[square_lonlat(17_000, 7_000, 1_000)],
        crs=4326,
    )
    protected = gpd.GeoDataFrame(
        {"id": ["pa"], "name": ["Test park"], "kind": ["national park"],
         "official_area_ha": [400.0], "area_ha": [400.0], "accuracy": ["synthetic"],
         "source": ["sample"], "synthetic": [True]},
        geometry=[square_lonlat(1_000, 1_000, 2_000)],
        crs=4326,
    )
    parcels = gpd.GeoDataFrame(
        {"id": [1, 2, 3, 4], "district_id": ["west", "west", "east", "east"],
         "land_use": ["residential", "agricultural", "agricultural", "industrial"],
         "area_ha": [100.0, 100.0, 100.0, 100.0], "source": ["sample"] * 4,
         "synthetic": [True] * 4},
        geometry=[square_lonlat(4_000, 4_000, 1_000), square_lonlat(6_000, 1_000, 1_000),
                  square_lonlat(12_000, 2_000, 1_000), square_lonlat(17_000, 7_000, 1_000)],
        crs=4326,
    )
    sites = gpd.GeoDataFrame(
        {"id": ["p1", "p2"], "name": ["Plant", "Farm"], "sector": ["metallurgy", "agro"],
         "district_id": ["east", "west"], "investment_kzt": [1_000_000_000, 500_000_000],
         "jobs": [200, 50], "status": ["implementation", "implementation"],
         "start_year": [2024, 2025], "end_year": [2026, 2026], "hazard_class": ["II", ""],
         "accuracy": ["synthetic"] * 2, "source": ["sample"] * 2, "synthetic": [True] * 2},
        geometry=[point_lonlat(17_500, 7_500), point_lonlat(6_500, 1_500)],
        crs=4326,
    )
    return Twin(
        {"region": region, "districts": districts, "settlements": settlements,
         "industrial_zones": industrial, "protected_areas": protected, "parcels": parcels,
         "project_sites": sites},
        name="small", version="test",
        provenance={"region": "hand-made test geometry"}, analysis_crs=SMALL_CRS,
    )


def make_bare_twin() -> Twin:
    """The small twin's region and districts, and nothing else: each with only the columns
    a layer must have (id, name, source, synthetic). Its analysis CRS is derived from its
    region, as a twin built from a region's own two files would be.

    >>> make_bare_twin().layer_names
    ['region', 'districts']
    """
    full = make_small_twin()
    keep = ["id", "name", "source", "synthetic", "geometry"]
    return Twin({"region": full["region"][keep], "districts": full["districts"][keep]},
                name="bare", version="test", title="Bare test region",
                provenance={"region": "hand-made test geometry; synthetic",
                            "districts": "hand-made test geometry; synthetic"})
