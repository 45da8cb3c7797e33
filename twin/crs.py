"""Coordinate reference systems: lon/lat storage and a metric analysis CRS.

Storage is EPSG:4326 with lon/lat axis order everywhere (``always_xy``). Areas, buffers and
distances are computed in an equal-area projection centred on the region
(:func:`analysis_crs_of`), so that hectares are exact wherever the region lies; a twin
derives its own from its ``region`` layer and stores it. Transformers are built once and
cached because building one costs far more than using it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer

__all__ = [
    "STORAGE_CRS",
    "analysis_crs_for",
    "analysis_crs_of",
    "transformer",
    "to_metric",
    "to_storage",
    "utm_zones",
]

STORAGE_CRS = CRS.from_epsg(4326)


def analysis_crs_for(lon: float, lat: float) -> CRS:
    """Return an equal-area CRS centred on ``(lon, lat)``.

    Examples
    --------
    >>> analysis_crs_for(69.8, 51.9).is_projected
    True
    """
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        from .errors import CRSError

        raise CRSError(f"centre ({lon}, {lat}) is not a lon/lat pair: give longitude "
                       "(-180..180) first, then latitude (-90..90)")
    return CRS.from_proj4(
        f"+proj=laea +lat_0={lat:.4f} +lon_0={lon:.4f} +x_0=0 +y_0=0 +datum=WGS84 "
        "+units=m +no_defs"
    )


def utm_zones(bounds: tuple[float, float, float, float]) -> list[int]:
    """EPSG codes of the WGS 84 UTM zones that a lon/lat box touches, west to east
    (326xx north of the equator, 327xx south of it).

    Examples
    --------
    >>> utm_zones((65.2, 50.3, 75.4, 54.1))   # Akmola region: zones 41N to 43N
    [32641, 32642, 32643]
    """
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        from .errors import CRSError

        raise CRSError(f"bounds {bounds} are not a lon/lat box: give (min lon, min lat, "
                       "max lon, max lat)")
    first = min(int((minx + 180) // 6) + 1, 60)
    last = min(int((maxx + 180) // 6) + 1, 60)
    hemispheres = ([32600] if maxy >= 0 else []) + ([32700] if miny < 0 else [])
    return [base + z for base in hemispheres for z in range(first, last + 1)]


def analysis_crs_of(data) -> CRS:
    """An equal-area CRS centred on the middle of ``data``'s extent.

    Lambert azimuthal equal-area: areas are exact anywhere; centred on the data, so distances
    and shapes stay good to well under 1 % across a region some 1,000 km wide. ``data`` is a
    GeoDataFrame or GeoSeries with a CRS; the centre is the middle of its lon/lat bounds
    (taken across the antimeridian when the data straddles it).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> crs = analysis_crs_of(gpd.GeoSeries([box(76, 51, 78, 53)], crs=4326))
    >>> [p.value for p in crs.coordinate_operation.params[:2]]   # latitude, longitude
    [52.0, 77.0]
    """
    from .errors import CRSError, MissingCRS

    if data.crs is None:
        raise MissingCRS("cannot centre an analysis CRS on data without a CRS: set one "
                         "with .set_crs(...)")
    geoms = np.asarray((data.geometry if hasattr(data, "geometry") else data).values)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if not len(geoms):
        raise CRSError("cannot centre an analysis CRS on empty data: add the region first")
    if CRS(data.crs) != STORAGE_CRS:
        geoms = _transform_geoms(geoms, transformer(data.crs, STORAGE_CRS))
    b = shapely.bounds(geoms)
    lon, lat = b[:, [0, 2]].ravel(), b[:, [1, 3]].ravel()
    if lon.max() - lon.min() > 180:  # across the antimeridian: measure east of it
        lon = shapely.get_coordinates(geoms)[:, 0]
        lat = shapely.get_coordinates(geoms)[:, 1]
        lon = np.where(lon < 0, lon + 360, lon)
    mid_lon = (lon.min() + lon.max()) / 2
    mid_lon = mid_lon - 360 if mid_lon > 180 else mid_lon
    return analysis_crs_for(round(float(mid_lon), 4), round(float((lat.min() + lat.max()) / 2), 4))


@lru_cache(maxsize=64)
def _cached(src_wkt: str, dst_wkt: str) -> Transformer:
    return Transformer.from_crs(CRS.from_wkt(src_wkt), CRS.from_wkt(dst_wkt), always_xy=True)


def transformer(src: CRS | str | int, dst: CRS | str | int) -> Transformer:
    """A cached lon/lat-ordered transformer from ``src`` to ``dst``."""
    return _cached(CRS.from_user_input(src).to_wkt(), CRS.from_user_input(dst).to_wkt())


def _transform_geoms(geoms: np.ndarray, tr: Transformer) -> np.ndarray:
    def fn(coords: np.ndarray) -> np.ndarray:
        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, fn)


def to_metric(gdf, crs: CRS | str):
    """Reproject a GeoDataFrame or GeoSeries into the metric CRS ``crs``.

    Uses the cached transformer instead of ``to_crs``, which builds a new one per call.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> s = gpd.GeoSeries([Point(77.0, 52.0)], crs=4326)
    >>> float(round(to_metric(s, analysis_crs_for(77.0, 52.0)).x.iloc[0], 3))
    0.0
    """
    return _reproject(gdf, crs)


def to_storage(gdf):
    """Reproject a GeoDataFrame or GeoSeries into EPSG:4326, lon/lat."""
    return _reproject(gdf, STORAGE_CRS)


def _reproject(gdf, crs):
    import geopandas as gpd

    if gdf.crs is None:
        from .errors import MissingCRS

        raise MissingCRS("cannot reproject data without a CRS: set one with .set_crs(...)")
    crs = CRS.from_user_input(crs)
    if CRS(gdf.crs) == crs:
        return gdf.copy()
    tr = transformer(gdf.crs, crs)
    geom = gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf
    moved = gpd.GeoSeries(
        _transform_geoms(np.asarray(geom.values), tr), index=gdf.index, crs=crs, name=geom.name
    )
    if isinstance(gdf, gpd.GeoDataFrame):
        return gdf.set_geometry(moved)
    return moved
