"""The coordinate reference systems a twin's features are offered in (OGC API Features
Part 2), and geometries and boxes moved to and from them.

Every twin offers CRS84 (the storage CRS, lon/lat), EPSG:4326, EPSG:3857, the WGS 84 UTM
zones its region touches (from the region's bounds) and its own analysis CRS. Coordinates
on the wire follow each CRS's axis order as its definition states it: EPSG:4326 is
latitude first, CRS84 longitude first, projected CRSs easting first. Transformers come
from :func:`twin.crs.transformer`, built once and cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS

from twin.crs import STORAGE_CRS, transformer, utm_zones

__all__ = ["OfferedCRS", "offered_crs", "CRS84_URI", "ANALYSIS_PATH", "geometries_to",
           "box_to_storage", "region_bounds"]

CRS84_URI = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{}"
#: Where a twin's analysis CRS is defined when no authority has a code for it.
ANALYSIS_PATH = "/crs/analysis"


@dataclass(frozen=True)
class OfferedCRS:
    """One CRS a collection can be read in.

    ``uri`` is the OGC URI, or ``None`` for a CRS that only this server defines (an
    analysis CRS without an EPSG code), which the API names by :data:`ANALYSIS_PATH`.
    """

    uri: str | None
    crs: CRS
    title: str

    @property
    def north_first(self) -> bool:
        """Whether the first coordinate on the wire is a northing/latitude."""
        axes = self.crs.axis_info
        return bool(axes) and axes[0].direction.lower() in ("north", "south")

    @property
    def is_storage(self) -> bool:
        return self.uri == CRS84_URI


def region_bounds(tw) -> tuple[float, float, float, float]:
    """Lon/lat bounds of the twin's region layer, or of all its layers without one."""
    names = ["region"] if "region" in tw.layer_names else tw.layer_names
    boxes = np.array([tw.layer(n).total_bounds for n in names if len(tw.layer(n))])
    if not len(boxes):
        return (-180.0, -90.0, 180.0, 90.0)
    return (float(boxes[:, 0].min()), float(boxes[:, 1].min()),
            float(boxes[:, 2].max()), float(boxes[:, 3].max()))


def offered_crs(tw) -> list[OfferedCRS]:
    """The CRSs the twin's collections are offered in (CRS84 is the storage CRS).

    Examples
    --------
    >>> import twin  # doctest: +SKIP
    >>> [c.title for c in offered_crs(twin.load_default())]  # doctest: +SKIP
    ['WGS 84 (EPSG:4326, lat/lon)', 'WGS 84 (CRS84, lon/lat)', 'WGS 84 / Pseudo-Mercator', \
'WGS 84 / UTM zone 41N', 'WGS 84 / UTM zone 42N', 'WGS 84 / UTM zone 43N', 'analysis CRS ...']
    """
    bounds = region_bounds(tw)
    analysis = tw.analysis_crs
    return list(_offered(bounds, analysis.to_wkt()))


@lru_cache(maxsize=16)
def _offered(bounds: tuple, analysis_wkt: str) -> tuple[OfferedCRS, ...]:
    # EPSG:4326 before CRS84: a client that takes the first equivalent entry for either
    # (GDAL does) then reads lat/lon and swaps it, the order EPSG:4326 defines.
    out = [OfferedCRS(_EPSG_URI.format(4326), CRS.from_epsg(4326),
                      "WGS 84 (EPSG:4326, lat/lon)"),
           OfferedCRS(CRS84_URI, CRS.from_user_input("OGC:CRS84"), "WGS 84 (CRS84, lon/lat)")]
    for code in [3857, *utm_zones(bounds)]:
        crs = CRS.from_epsg(code)
        out.append(OfferedCRS(_EPSG_URI.format(code), crs, crs.name))
    analysis = CRS.from_wkt(analysis_wkt)
    epsg = analysis.to_epsg()
    uri = _EPSG_URI.format(epsg) if epsg else None
    if uri not in {o.uri for o in out}:
        out.append(OfferedCRS(uri, analysis, f"analysis CRS of the twin ({analysis.name})"))
    return tuple(out)


def _swap(xy: np.ndarray) -> np.ndarray:
    return xy[:, ::-1].copy()


def geometries_to(geoms: np.ndarray, target: OfferedCRS) -> np.ndarray:
    """Lon/lat geometries in ``target``'s coordinates, in its axis order."""
    if target.is_storage:
        return geoms
    tr = None if target.crs.equals(STORAGE_CRS, ignore_axis_order=True) else \
        transformer(STORAGE_CRS, target.crs)
    north_first = target.north_first

    def move(xy: np.ndarray) -> np.ndarray:
        if tr is not None:
            x, y = tr.transform(xy[:, 0], xy[:, 1])
            xy = np.column_stack([x, y])
        return _swap(xy) if north_first else xy

    return shapely.transform(geoms, move)


def box_to_storage(box: tuple[float, float, float, float], source: OfferedCRS):
    """A box given in ``source`` (its axis order) as a lon/lat polygon, edges densified so
    that a box in metres stays the same area after the move."""
    a0, a1, b0, b1 = box
    if source.north_first:
        a0, a1, b0, b1 = a1, a0, b1, b0  # (lat, lon, lat, lon) -> (lon, lat, lon, lat)
    poly = shapely.box(a0, a1, b0, b1)
    step = max(b0 - a0, b1 - a1) / 32
    if step > 0:
        poly = shapely.segmentize(poly, step)
    if source.crs.equals(STORAGE_CRS, ignore_axis_order=True):
        return poly
    tr = transformer(source.crs, STORAGE_CRS)

    def move(xy: np.ndarray) -> np.ndarray:
        lon, lat = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(poly, move)
