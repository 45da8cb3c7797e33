"""OGC API Features: /collections, /collections/{id}, items and single features.

The router parses and checks the request (bbox, limit, offset, equality filters), asks
``layers.features`` for the rows and the GeoJSON, and builds the links.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from layers import features as lf
from layers.vector_tiles import tile_layer

from ..deps import TwinDep
from ..errors import BadRequest, NotFound
from ..urls import url_for

__all__ = ["router", "collection_doc", "MAX_LIMIT"]

router = APIRouter(tags=["features"])

GEOJSON = "application/geo+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
MAX_LIMIT = 10_000
_RESERVED = {"bbox", "datetime", "limit", "offset", "f"}

CollectionId = Path(description="A collection (layer) id, as listed at /collections")


def _layer(tw, collection_id: str):
    # Only names the twin holds resolve: no file path or query is built from user input.
    if collection_id not in tw.layer_names:
        raise NotFound(f"no collection {collection_id!r}: the collections are "
                       f"{', '.join(tw.layer_names)} (see /collections)")
    return tw.layer(collection_id), tw.schema(collection_id)


def _extent(request: Request, tw, name: str):
    cache = request.app.state.extent_cache
    key = (name, tw.data_version(name))
    if key not in cache:
        cache[key] = lf.extent(tw.layer(name))
    return cache[key]


def collection_doc(request: Request, tw, name: str) -> dict:
    gdf, schema = tw.layer(name), tw.schema(name)
    bbox = _extent(request, tw, name)
    base = f"/collections/{name}"
    tl = tile_layer(name)
    doc = {
        "id": name,
        "title": name.replace("_", " ").capitalize(),
        "description": schema.description or f"Layer {name}",
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "links": [
            {"href": url_for(request, base), "rel": "self", "type": "application/json",
             "title": "This collection"},
            {"href": url_for(request, base + "/items"), "rel": "items", "type": GEOJSON,
             "title": "The features"},
            {"href": url_for(request, base + "/queryables"),
             "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
             "type": "application/schema+json", "title": "Properties to filter on"},
            {"href": url_for(request, base + "/tiles"),
             "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
             "type": "application/json", "title": "Vector tilesets"},
            {"href": url_for(request, f"/tiles/{name}.json"), "rel": "describedby",
             "type": "application/json", "title": "TileJSON 3.0.0"},
        ],
        "minZoom": tl.minzoom,
        "maxZoom": tl.maxzoom,
        "numberOfFeatures": int(len(gdf)),
    }
    if bbox is not None:
        doc["extent"] = {"spatial": {"bbox": [bbox], "crs": CRS84}}
    return doc


@router.get("/collections", summary="The twin's layers, one collection each")
def collections(request: Request, tw: TwinDep) -> dict:
    return {
        "links": [{"href": url_for(request, "/collections"), "rel": "self",
                   "type": "application/json", "title": "This document"}],
        "collections": [collection_doc(request, tw, n) for n in tw.layer_names],
    }


@router.get("/collections/{collection_id}", summary="One collection")
def collection(request: Request, tw: TwinDep, collection_id: str = CollectionId) -> dict:
    _layer(tw, collection_id)
    return collection_doc(request, tw, collection_id)


_JSON_KIND = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}


@router.get("/collections/{collection_id}/queryables",
            summary="Properties that items can be filtered on with ?name=value")
def queryables(request: Request, tw: TwinDep, collection_id: str = CollectionId) -> Response:
    gdf, schema = _layer(tw, collection_id)
    props = {c: {"type": _JSON_KIND[k], "title": c}
             for c, k in lf.queryables(gdf, schema).items()}
    body = {"$schema": "https://json-schema.org/draft/2019-09/schema",
            "$id": url_for(request, f"/collections/{collection_id}/queryables"),
            "type": "object", "title": collection_id, "properties": props}
    return Response(orjson.dumps(body), media_type="application/schema+json")


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """Four finite numbers in lon/lat range; minx > maxx crosses the antimeridian."""
    parts = text.split(",")
    if len(parts) != 4:
        raise BadRequest(f"bbox {text!r} must be 4 comma-separated numbers: "
                         "minLon,minLat,maxLon,maxLat (e.g. 69,51,71,52)")
    try:
        v = [float(p) for p in parts]
    except ValueError:
        raise BadRequest(f"bbox {text!r} holds something that is not a number: "
                         "give minLon,minLat,maxLon,maxLat") from None
    if not all(math.isfinite(x) for x in v):
        raise BadRequest(f"bbox {text!r} must hold finite numbers")
    minx, miny, maxx, maxy = v
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90
            and -90 <= maxy <= 90):
        raise BadRequest(f"bbox {text!r} is out of range: longitudes lie in [-180, 180], "
                         "latitudes in [-90, 90] (CRS84 order: lon,lat)")
    if miny > maxy:
        raise BadRequest(f"bbox {text!r} has minLat > maxLat: swap them")
    return minx, miny, maxx, maxy


def _instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)  # RFC 3339 date-time or full-date (Python 3.11+)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_datetime(text: str) -> tuple[datetime | None, datetime | None]:
    """An OGC ``datetime``: an instant, or an interval ``start/end`` whose open ends are
    ``..`` or empty. Returns (start, end); an instant is (t, t)."""
    try:
        if "/" not in text:
            t = _instant(text)
            return t, t
        a, b = text.split("/")
        start = None if a in ("", "..") else _instant(a)
        end = None if b in ("", "..") else _instant(b)
    except ValueError:
        raise BadRequest(f"datetime {text!r} is not an RFC 3339 date-time or interval: give "
                         "e.g. 2025-01-01T00:00:00Z, 2025-01-01/2025-06-30 or "
                         "2025-01-01/..") from None
    if start is None and end is None:
        raise BadRequest(f"datetime {text!r} is open at both ends: give a start or an end")
    if start is not None and end is not None and start > end:
        raise BadRequest(f"datetime {text!r} ends before it starts: swap them")
    return start, end


def _filters(request: Request, gdf, schema) -> dict:
    q = lf.queryables(gdf, schema)
    out = {}
    for key, value in request.query_params.multi_items():
        if key in _RESERVED:
            continue
        if key not in q:
            raise BadRequest(
                f"unknown query parameter {key!r}: use bbox, limit, offset or an equality "
                f"filter on one of {', '.join(q)} (see the collection's /queryables)")
        if key in out:
            raise BadRequest(f"filter {key!r} is given twice: give it once")
        try:
            out[key] = lf.coerce_value(q[key], value)
        except ValueError as e:
            raise BadRequest(f"filter {key}={value!r} is not a {q[key]} value ({e})") from None
    return out


@router.get(
    "/collections/{collection_id}/items",
    summary="Features of a collection, filtered and paged",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}}, "description": "A GeoJSON FeatureCollection"}},
)
def items(
    request: Request,
    tw: TwinDep,
    collection_id: str = CollectionId,
    bbox: str | None = Query(None, description="minLon,minLat,maxLon,maxLat in CRS84; "
                             "minLon > maxLon crosses the antimeridian", max_length=400),
    limit: int = Query(100, ge=1, description=f"Page size; values over {MAX_LIMIT} are "
                       f"clamped to {MAX_LIMIT}"),
    offset: int = Query(0, ge=0, description="Features to skip"),
    f: str | None = Query(None, description="Output format: json (the only one)"),
    datetime_: str | None = Query(
        None, alias="datetime", description="An RFC 3339 instant or interval (start/end, "
        "'..' for an open end). The twin's features carry no time, so every one matches "
        "(OGC API Features /req/core/fc-time-response C)", max_length=200),
) -> Response:
    gdf, schema = _layer(tw, collection_id)
    if f is not None and f not in ("json", "geojson"):
        raise BadRequest(f"format f={f!r} is not offered: use f=json or leave it out")
    box = parse_bbox(bbox) if bbox is not None else None
    if datetime_ is not None:
        parse_datetime(datetime_)  # checked (400 if malformed); no feature has a time
    equals = _filters(request, gdf, schema)
    limit = min(limit, MAX_LIMIT)
    rows = lf.select(gdf, bbox=box, equals=equals)
    matched = len(rows)
    offset = min(offset, matched)
    page = gdf.iloc[rows[offset:offset + limit]]

    path = f"/collections/{collection_id}/items"
    common = {"bbox": bbox, "datetime": datetime_,
              **{k: request.query_params[k] for k in equals}}
    links = [
        {"href": url_for(request, path, **common, limit=limit, offset=offset or None),
         "rel": "self", "type": GEOJSON, "title": "This page"},
        {"href": url_for(request, f"/collections/{collection_id}"), "rel": "collection",
         "type": "application/json", "title": "The collection"},
    ]
    if offset + len(page) < matched:
        links.append({"href": url_for(request, path, **common, limit=limit,
                                      offset=offset + limit),
                      "rel": "next", "type": GEOJSON, "title": "Next page"})
    if offset > 0:
        links.append({"href": url_for(request, path, **common, limit=limit,
                                      offset=max(offset - limit, 0) or None),
                      "rel": "prev", "type": GEOJSON, "title": "Previous page"})
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = lf.feature_collection_bytes(page, schema.id_column, matched=matched, links=links,
                                       timestamp=stamp)
    return Response(body, media_type=GEOJSON)


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    summary="One feature",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}}, "description": "A GeoJSON Feature"}},
)
def item(request: Request, tw: TwinDep, collection_id: str = CollectionId,
         feature_id: str = Path(description="A feature id")) -> Response:
    gdf, schema = _layer(tw, collection_id)
    kind = schema.required.get(schema.id_column, "str")
    row = lf.find_feature(gdf, schema.id_column, kind, feature_id)
    if row is None:
        raise NotFound(f"collection {collection_id!r} has no feature {feature_id!r}: list "
                       f"ids at /collections/{collection_id}/items")
    base = f"/collections/{collection_id}"
    links = [
        {"href": url_for(request, f"{base}/items/{quote(feature_id, safe='')}"), "rel": "self",
         "type": GEOJSON, "title": "This feature"},
        {"href": url_for(request, base), "rel": "collection", "type": "application/json",
         "title": "The collection"},
    ]
    return Response(lf.feature_bytes(gdf, row, schema.id_column, links), media_type=GEOJSON)
