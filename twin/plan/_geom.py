"""Private geometry helpers shared by the plan's modules: CRS coercion, polygon cleanup,
subdivision for fast point lookups."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from ..crs import STORAGE_CRS, analysis_crs_of, to_metric, transformer
from ..errors import GeometryTypeError, MissingCRS

_POLY_IDS = (shapely.GeometryType.POLYGON.value, shapely.GeometryType.MULTIPOLYGON.value)


def in_crs(gdf, crs: CRS, what: str):
    """``gdf`` (GeoDataFrame/GeoSeries) in ``crs``; raise a named error without a CRS."""
    if gdf.crs is None:
        raise MissingCRS(f"{what} has no CRS: set one (e.g. .set_crs('EPSG:4326'))")
    return gdf if CRS(gdf.crs) == CRS(crs) else to_metric(gdf, CRS(crs))


def metric_crs(crs, data) -> CRS:
    """The CRS to measure ``data`` in: ``crs`` if given, ``data``'s own if projected, else an
    equal-area CRS centred on ``data`` (what a twin would derive for it)."""
    if crs is not None:
        return CRS(crs)
    if data.crs is None:
        raise MissingCRS("the data has no CRS: set one (e.g. .set_crs('EPSG:4326'))")
    own = CRS(data.crs)
    return own if own.is_projected else analysis_crs_of(data)


def geometry_in(geom, crs: CRS, what: str = "geometry"):
    """One shapely geometry in ``crs``.

    A bare shapely geometry is taken to be lon/lat (EPSG:4326), the storage CRS; a
    GeoSeries/GeoDataFrame is converted from its own CRS and its geometries unioned.
    """
    if isinstance(geom, (gpd.GeoSeries, gpd.GeoDataFrame)):
        g = in_crs(geom, crs, what)
        gs = g.geometry if isinstance(g, gpd.GeoDataFrame) else g
        return shapely.union_all(np.asarray(gs.values))
    if not isinstance(geom, shapely.Geometry):
        raise GeometryTypeError(
            f"{what} must be a shapely geometry (lon/lat) or a GeoSeries with a CRS, got "
            f"{type(geom).__name__}"
        )
    tr = transformer(STORAGE_CRS, crs)

    def fn(c):
        x, y = tr.transform(c[:, 0], c[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, fn)


def polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygonal part of each geometry (overlay results can carry stray
    lines and points along shared edges); empty where nothing polygonal is left."""
    geoms = np.asarray(geoms, dtype=object)
    out = geoms.copy()
    tid = shapely.get_type_id(geoms)
    mixed = ~np.isin(tid, _POLY_IDS) & ~shapely.is_empty(geoms)
    for i in np.flatnonzero(mixed):
        parts = shapely.get_parts(geoms[i])
        polys = [p for p in parts if p.geom_type in ("Polygon", "MultiPolygon")]
        out[i] = shapely.union_all(polys) if polys else shapely.Polygon()
    return out


def polygonal1(geom):
    """:func:`polygonal` for one geometry."""
    return polygonal(np.array([geom], dtype=object))[0]


def subdivide(geoms: np.ndarray, max_vertices: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Cut polygons into pieces of at most ``max_vertices`` vertices (as PostGIS
    ``ST_Subdivide`` does), returning ``(pieces, parent_index)``.

    Point lookups against a few huge polygons are slow because every bounding box covers
    everything; small pieces give the tree tight boxes and cheap point-in-polygon tests.
    """
    geoms = np.asarray(geoms, dtype=object)
    pieces, parents = [], []
    todo, owner = geoms, np.arange(len(geoms))
    for _ in range(24):  # 24 halvings bound the depth even for pathological inputs
        if not len(todo):
            break
        nv = shapely.get_num_coordinates(todo)
        small = nv <= max_vertices
        pieces.append(todo[small])
        parents.append(owner[small])
        big, bowner = todo[~small], owner[~small]
        if not len(big):
            todo = big
            break
        b = shapely.bounds(big)
        wide = (b[:, 2] - b[:, 0]) >= (b[:, 3] - b[:, 1])
        midx = (b[:, 0] + b[:, 2]) / 2
        midy = (b[:, 1] + b[:, 3]) / 2
        x1 = np.where(wide, midx, b[:, 2])
        y1 = np.where(wide, b[:, 3], midy)
        x0 = np.where(wide, midx, b[:, 0])
        y0 = np.where(wide, b[:, 1], midy)
        lo = shapely.intersection(big, shapely.box(b[:, 0], b[:, 1], x1, y1))
        hi = shapely.intersection(big, shapely.box(x0, y0, b[:, 2], b[:, 3]))
        todo = np.concatenate([lo, hi])
        owner = np.concatenate([bowner, bowner])
        keep = ~shapely.is_empty(todo)
        todo, owner = todo[keep], owner[keep]
    if len(todo):
        pieces.append(todo)
        parents.append(owner)
    return np.concatenate(pieces), np.concatenate(parents)


def points_in_polygons(
    points: np.ndarray, polygons: np.ndarray, tree: shapely.STRtree | None = None
) -> np.ndarray:
    """Index of the polygon containing each point (-1 where none), vectorised.

    Polygons are assumed not to overlap (a partition such as the plan's zones); on a
    shared edge the lowest polygon index wins, deterministically. ``tree`` is an STRtree of
    ``points`` when the caller already has one.

    The polygons (cut into pieces of at most 64 vertices) are the query side, so shapely
    prepares each once and tests its candidate points in O(log n); querying with the
    points instead tests each against unprepared polygons and is an order of magnitude
    slower on a million parcels.
    """
    pieces, parent = subdivide(polygons, max_vertices=64)
    tree = tree if tree is not None else shapely.STRtree(points)
    piece_idx, pt_idx = tree.query(pieces, predicate="intersects")
    none = np.iinfo(np.int64).max
    out = np.full(len(points), none, dtype=np.int64)
    np.minimum.at(out, pt_idx, parent[piece_idx].astype(np.int64))
    out[out == none] = -1
    return out


def xy_in_polygons(x: np.ndarray, y: np.ndarray, polygons: np.ndarray,
                   chunk: int = 131_072) -> np.ndarray:
    """:func:`points_in_polygons` for points given as coordinate arrays, a chunk at a
    time: each point's answer depends on that point alone, so the answer is the same,
    while a million parcels never exist as point objects and one tree at once (250 MB)."""
    pieces, parent = subdivide(polygons, max_vertices=64)
    parent = parent.astype(np.int64)
    none = np.iinfo(np.int64).max
    out = np.full(len(x), none, dtype=np.int64)
    for start in range(0, len(x), chunk):
        pts = shapely.points(x[start:start + chunk], y[start:start + chunk])
        piece_idx, pt_idx = shapely.STRtree(pts).query(pieces, predicate="intersects")
        np.minimum.at(out, start + pt_idx, parent[piece_idx])
    out[out == none] = -1
    return out
