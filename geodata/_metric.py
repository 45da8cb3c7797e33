"""The equal-area CRS the build measures in, and cached transformers to and from it.

``geodata`` never imports ``twin``, so it declares its own copy of the analysis CRS. It is
the Lambert azimuthal equal-area projection the default twin analyses in (its manifest,
``twin.yaml``, names it; ``tests/test_geodata.py`` checks that they agree), so areas computed
here are the areas the twin reports.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer

__all__ = ["EQUAL_AREA", "LONLAT", "to_metric", "to_lonlat", "area_m2"]

LONLAT = CRS.from_epsg(4326)
EQUAL_AREA = CRS.from_proj4(
    "+proj=laea +lat_0=51.9 +lon_0=69.8 +x_0=0 +y_0=0 +datum=WGS84 +units=m +no_defs"
)


@lru_cache(maxsize=4)
def _transformer(forward: bool) -> Transformer:
    src, dst = (LONLAT, EQUAL_AREA) if forward else (EQUAL_AREA, LONLAT)
    return Transformer.from_crs(src, dst, always_xy=True)


def _apply(geoms, forward: bool):
    tr = _transformer(forward)

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, fn)


def to_metric(geoms):
    """Lon/lat geometries (one or an array) into the equal-area CRS, in metres."""
    return _apply(geoms, True)


def to_lonlat(geoms):
    """Equal-area geometries (metres) back into lon/lat degrees."""
    return _apply(geoms, False)


def area_m2(geoms_lonlat) -> np.ndarray:
    """Equal-area areas in m² of lon/lat geometries."""
    return shapely.area(to_metric(np.asarray(geoms_lonlat, dtype=object)))
