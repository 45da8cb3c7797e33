"""WebMercatorQuad tile math: tile bounds, lon/lat to Web Mercator, range checks.

Only the one tile matrix set that map clients use everywhere (OGC's ``WebMercatorQuad``,
the XYZ scheme of OSM/MapLibre) is supported. Everything is plain NumPy on arrays, so that a
whole layer moves to Web Mercator in one call. ``tests/test_vector_tiles.py`` cross-checks
these functions against mercantile and morecantile.
"""

from __future__ import annotations

import math

import numpy as np
import shapely

__all__ = [
    "ORIGIN",
    "MAX_ZOOM",
    "MAX_LAT",
    "tile_bounds",
    "tile_bounds_lonlat",
    "lonlat_to_mercator",
    "to_mercator",
    "valid_tile",
    "tiles_for_bounds",
]

#: Half the width of the Web Mercator world, in metres (EPSG:3857).
ORIGIN = 20037508.342789244
#: The deepest zoom served. WebMercatorQuad defines 0..24; beyond that a tile is < 3 cm.
MAX_ZOOM = 24
#: The latitude at which Web Mercator becomes a square: tiles stop there.
MAX_LAT = 85.0511287798066
_R = 6378137.0


def valid_tile(z: int, x: int, y: int) -> bool:
    """Whether (z, x, y) names a tile of WebMercatorQuad.

    Examples
    --------
    >>> valid_tile(0, 0, 0), valid_tile(1, 2, 0), valid_tile(25, 0, 0)
    (True, False, False)
    """
    if not (0 <= z <= MAX_ZOOM):
        return False
    n = 1 << z
    return 0 <= x < n and 0 <= y < n


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Bounds ``(minx, miny, maxx, maxy)`` of tile (z, x, y) in EPSG:3857 metres.

    Examples
    --------
    >>> [round(v) for v in tile_bounds(1, 1, 0)]
    [0, 0, 20037508, 20037508]
    """
    size = 2 * ORIGIN / (1 << z)
    minx = -ORIGIN + x * size
    maxy = ORIGIN - y * size
    return (minx, maxy - size, minx + size, maxy)


def tile_bounds_lonlat(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Bounds of tile (z, x, y) in lon/lat degrees (west, south, east, north).

    Examples
    --------
    >>> [round(v, 4) for v in tile_bounds_lonlat(1, 1, 0)]
    [0.0, 0.0, 180.0, 85.0511]
    """
    n = 1 << z

    def lat(row: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return (x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y))


def lonlat_to_mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spherical Web Mercator forward projection, vectorised; latitudes are clamped to
    ±85.0511° so that a pole does not become infinity.

    Examples
    --------
    >>> x, y = lonlat_to_mercator(np.array([180.0]), np.array([0.0]))
    >>> round(float(x[0])), round(float(y[0]))
    (20037508, 0)
    """
    lat = np.clip(lat, -MAX_LAT, MAX_LAT)
    x = np.radians(lon) * _R
    y = np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * _R
    return x, y


def to_mercator(geoms: np.ndarray) -> np.ndarray:
    """Move an array of lon/lat shapely geometries to EPSG:3857 in one vectorised call.

    The closed-form formula gives the same numbers as PROJ's EPSG:4326→3857 (to well under a
    millimetre) at a fraction of the cost, which matters for 1,000,000 parcels.
    """

    def fn(coords: np.ndarray) -> np.ndarray:
        x, y = lonlat_to_mercator(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms), fn)


def tiles_for_bounds(
    bounds: tuple[float, float, float, float], z: int
) -> tuple[int, int, int, int]:
    """Tile range ``(xmin, ymin, xmax, ymax)`` (inclusive) covering lon/lat ``bounds`` at z.

    Examples
    --------
    >>> tiles_for_bounds((69.0, 51.0, 70.0, 52.0), 6)
    (44, 21, 44, 21)
    """
    w, s, e, n = bounds
    (x0, x1), (y0, y1) = lonlat_to_mercator(np.array([w, e]), np.array([n, s]))
    size = 2 * ORIGIN / (1 << z)
    last = (1 << z) - 1

    def col(v: float) -> int:
        return int(min(max(math.floor((v + ORIGIN) / size), 0), last))

    def row(v: float) -> int:
        return int(min(max(math.floor((ORIGIN - v) / size), 0), last))

    return col(x0), row(y0), col(x1), row(y1)
