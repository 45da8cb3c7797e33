"""GeoJSON feature pages of a twin's layers: bbox, equality and CQL2 filters, encoding.

This is the model side of OGC API Features: ``api/routers/features.py`` parses a request
and shapes links around what these functions return. GeoJSON is assembled from
``shapely.to_geojson`` (vectorised) and orjson, so a page of 10,000 parcels costs
milliseconds, not a ``__geo_interface__`` walk per feature.
"""

from __future__ import annotations

import math

import numpy as np
import orjson
import pandas as pd
import shapely

from twin.query import GEOMETRY_KIND, Filter, filter_mask

__all__ = ["extent", "queryables", "filter_queryables", "coerce_value", "select",
           "feature_collection_bytes", "feature_bytes", "find_feature"]


def extent(gdf) -> list[float] | None:
    """The lon/lat bounding box of a layer, or None when it is empty."""
    if gdf.empty:
        return None
    return [float(v) for v in gdf.total_bounds]


def queryables(gdf, schema) -> dict[str, str]:
    """Properties a client may filter on with ``?name=value``: the schema's own columns
    (id, declared columns, provenance), each with its kind. Everything else is refused,
    so a filter is never a way to reach arbitrary columns."""
    return {c: k for c, k in schema.kinds.items() if c in gdf.columns}


def filter_queryables(gdf, schema) -> dict[str, str]:
    """What a CQL2 filter may name: the :func:`queryables` and the layer's geometry
    (as ``geometry``, the name CQL2's examples use)."""
    return {**queryables(gdf, schema), "geometry": GEOMETRY_KIND}


def coerce_value(kind: str, text: str):
    """Parse a filter value for a column of ``kind``; raises ValueError naming the fix.

    Examples
    --------
    >>> coerce_value("int", "12"), coerce_value("bool", "true")
    (12, True)
    """
    if kind == "int":
        return int(text)
    if kind == "float":
        v = float(text)
        if not math.isfinite(v):
            raise ValueError("not a finite number")
        return v
    if kind == "bool":
        low = text.lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0"):
            return False
        raise ValueError("use true or false")
    return text


def _bbox_mask(gdf, bbox: tuple[float, float, float, float]) -> np.ndarray:
    minx, miny, maxx, maxy = bbox
    # minx > maxx means the box crosses the antimeridian: it is two boxes, east and west.
    boxes = ([shapely.box(minx, miny, 180.0, maxy), shapely.box(-180.0, miny, maxx, maxy)]
             if minx > maxx else [shapely.box(minx, miny, maxx, maxy)])
    mask = np.zeros(len(gdf), dtype=bool)
    for b in boxes:
        mask[gdf.sindex.query(b, predicate="intersects")] = True
    return mask


def select(gdf, *, bbox=None, area=None, equals: dict | None = None,
           where: Filter | None = None) -> np.ndarray:
    """Row positions of ``gdf`` inside the lon/lat ``bbox``, intersecting the lon/lat
    polygon ``area``, matching every ``column == value`` and the CQL2 filter ``where``."""
    mask = np.ones(len(gdf), dtype=bool) if bbox is None else _bbox_mask(gdf, bbox)
    if area is not None:
        hit = np.zeros(len(gdf), dtype=bool)
        hit[gdf.sindex.query(area, predicate="intersects")] = True
        mask &= hit
    for col, val in (equals or {}).items():
        mask &= (gdf[col] == val).to_numpy()
    if where is not None:
        mask &= filter_mask(gdf, where)
    return np.flatnonzero(mask)


def find_feature(gdf, id_column: str, kind: str, fid: str) -> int | None:
    """Row position of the feature whose id reads ``fid``, or None."""
    try:
        value = coerce_value(kind, fid)
    except ValueError:
        return None
    hits = np.flatnonzero((gdf[id_column] == value).to_numpy())
    return int(hits[0]) if len(hits) else None


def _json_default(o):
    # Values orjson does not know: pandas' missing markers become null, NumPy scalars their
    # Python value, anything else its text, so that no stored value can fail a response.
    if o is pd.NA or o is pd.NaT:
        return None
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


def _records(page, id_column: str, geometries=None) -> list[bytes]:
    props = pd.DataFrame(page.drop(columns=page.geometry.name))
    geo = shapely.to_geojson(np.asarray(page.geometry.values) if geometries is None
                             else geometries)
    ids = props[id_column].tolist()
    rows = props.to_dict("records")
    opt = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    return [
        b'{"type":"Feature","id":' + orjson.dumps(i, option=opt, default=_json_default)
        + b',"geometry":' + g.encode() + b',"properties":'
        + orjson.dumps(r, option=opt, default=_json_default) + b"}"
        for i, g, r in zip(ids, geo, rows, strict=True)
    ]


def feature_bytes(gdf, row: int, id_column: str, links: list[dict], *,
                  transform=None) -> bytes:
    """One feature as GeoJSON bytes, with ``links``; ``transform`` maps its lon/lat
    geometry (an array of one) to the output CRS."""
    page = gdf.iloc[[row]]
    geoms = None if transform is None else transform(np.asarray(page.geometry.values))
    rec = _records(page, id_column, geoms)[0]
    return rec[:-1] + b',"links":' + orjson.dumps(links) + b"}"


def feature_collection_bytes(page, id_column: str, *, matched: int, links: list[dict],
                             timestamp: str, transform=None) -> bytes:
    """A GeoJSON FeatureCollection with OGC's paging members, as bytes; ``transform`` maps
    the page's lon/lat geometries (an array) to the output CRS."""
    geoms = None if transform is None else transform(np.asarray(page.geometry.values))
    head = orjson.dumps({"type": "FeatureCollection", "numberMatched": matched,
                         "numberReturned": len(page), "timeStamp": timestamp,
                         "links": links})
    return (head[:-1] + b',"features":[' + b",".join(_records(page, id_column, geoms))
            + b"]}")
