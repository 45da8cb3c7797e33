"""OGC API Features: /collections, /collections/{id}, items and single features.

The router parses and checks the request (bbox, limit, offset, equality filters, CQL2
``filter``, ``crs``/``bbox-crs``, ``sortby``), asks ``twin.query`` and ``layers.features``
for the rows and the GeoJSON, and builds the links. Parts 2 (CRS) and 3 (filtering) of
OGC API Features are implemented here; the query machinery itself lives in
``twin/query`` and the offered CRSs in ``layers/output_crs.py``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from layers import features as lf
from layers import output_crs as lo
from layers.vector_tiles import tile_layer
from twin.query import FILTER_LANGS, parse_filter, parse_sortby, sort_rows

from ..deps import TwinDep
from ..errors import BadRequest, NotFound
from ..urls import url_for

__all__ = ["router", "collection_doc", "MAX_LIMIT", "describe_for_clients"]

router = APIRouter(tags=["features"])

GEOJSON = "application/geo+json"
CRS84 = lo.CRS84_URI
#: The default of ``Settings.max_page_size``: the largest page and the default one.
MAX_LIMIT = 10_000
_RESERVED = {"bbox", "bbox-crs", "datetime", "limit", "offset", "f", "filter", "filter-lang",
             "filter-crs", "crs", "sortby"}

# The OGC name of the path parameter: GDAL looks the items operation up under it.
CollectionId = Path(alias="collectionId",
                    description="A collection (layer) id, as listed at /collections")


def _layer(tw, collection_id: str):
    # Only names the twin holds resolve: no file path or query is built from user input.
    if collection_id not in tw.layer_names:
        raise NotFound(f"no collection {collection_id!r}: the collections are "
                       f"{', '.join(tw.layer_names)} (see /collections)")
    return tw.layer(collection_id), tw.schema(collection_id)


def _extent(request: Request, tw, name: str):
    if not tw.loaded(name):
        return tw.layer_bounds(name)  # from the twin file: no need to read the layer
    cache = request.app.state.extent_cache
    key = (name, tw.data_version(name))
    if key not in cache:
        cache[key] = lf.extent(tw.layer(name))
    return cache[key]


def collection_doc(request: Request, tw, name: str) -> dict:
    schema = tw.schema(name)
    bbox = _extent(request, tw, name)
    base = f"/collections/{name}"
    tl = tile_layer(name)
    doc = {
        "id": name,
        "title": name.replace("_", " ").capitalize(),
        "description": schema.description or f"Layer {name}",
        "itemType": "feature",
        "crs": [_crs_uri(request, o) for o in lo.offered_crs(tw)],
        "storageCrs": CRS84,
        "links": [
            {"href": url_for(request, base), "rel": "self", "type": "application/json",
             "title": "This collection"},
            {"href": url_for(request, base + "/items"), "rel": "items", "type": GEOJSON,
             "title": "The features"},
            {"href": url_for(request, base + "/queryables"),
             "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
             "type": "application/schema+json", "title": "Properties to filter on"},
            {"href": url_for(request, base + "/sortables"),
             "rel": "http://www.opengis.net/def/rel/ogc/1.0/sortables",
             "type": "application/schema+json", "title": "Properties to sort by"},
            {"href": url_for(request, base + "/tiles"),
             "rel": "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector",
             "type": "application/json", "title": "Vector tilesets"},
            {"href": url_for(request, f"/tiles/{name}.json"), "rel": "describedby",
             "type": "application/json", "title": "TileJSON 3.0.0"},
        ],
        "minZoom": tl.minzoom,
        "maxZoom": tl.maxzoom,
        "numberOfFeatures": tw.layer_count(name),
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


@router.get("/collections/{collectionId}", summary="One collection")
def collection(request: Request, tw: TwinDep, collection_id: str = CollectionId) -> dict:
    _layer(tw, collection_id)
    return collection_doc(request, tw, collection_id)


_JSON_KIND = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}


def _geometry_format(schema) -> str:
    types = schema.geometry_types
    return f"geometry-{types[0].lower()}" if len(types) == 1 else "geometry-any"


def _property_schema(request: Request, collection_id: str, what: str, props: dict) -> Response:
    body = {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": url_for(request, f"/collections/{collection_id}/{what}"),
            "type": "object", "title": collection_id, "properties": props,
            "additionalProperties": False}
    return Response(orjson.dumps(body), media_type="application/schema+json")


@router.get("/collections/{collectionId}/queryables",
            summary="Properties that items can be filtered on: with ?name=value (equality) "
                    "or in a CQL2 filter (these names and the geometry, as 'geometry')")
def queryables(request: Request, tw: TwinDep, collection_id: str = CollectionId) -> Response:
    gdf, schema = _layer(tw, collection_id)
    props = {c: {"type": _JSON_KIND[k], "title": c}
             for c, k in lf.queryables(gdf, schema).items()}
    props["geometry"] = {"title": "The feature's geometry (CRS84 unless filter-crs says "
                         "otherwise)", "format": _geometry_format(schema),
                         "x-ogc-role": "primary-geometry"}
    return _property_schema(request, collection_id, "queryables", props)


@router.get("/collections/{collectionId}/sortables",
            summary="Properties that items can be sorted by with sortby")
def sortables(request: Request, tw: TwinDep, collection_id: str = CollectionId) -> Response:
    gdf, schema = _layer(tw, collection_id)
    props = {c: {"type": _JSON_KIND[k], "title": c}
             for c, k in lf.queryables(gdf, schema).items()}
    return _property_schema(request, collection_id, "sortables", props)


@router.get(lo.ANALYSIS_PATH, summary="The twin's analysis CRS (PROJJSON), the one CRS "
            "of the collections' crs lists that no authority names")
def analysis_crs(tw: TwinDep) -> Response:
    return Response(tw.analysis_crs.to_json().encode(), media_type="application/json")


def _crs_uri(request: Request, offered) -> str:
    return offered.uri or url_for(request, lo.ANALYSIS_PATH)


def _resolve_crs(request: Request, tw, value: str, param: str):
    """The offered CRS a ``crs``/``bbox-crs``/``filter-crs`` value names: its URI, or the
    short forms EPSG:n, [EPSG:n] and OGC:CRS84."""
    offered = lo.offered_crs(tw)
    text = value.strip().strip("[]")
    for o in offered:
        if o.uri is None:
            if text.split("?")[0].rstrip("/").endswith(lo.ANALYSIS_PATH):
                return o
            continue
        code = o.uri.rsplit("/", 1)[1]
        short = "OGC:CRS84" if o.is_storage else f"EPSG:{code}"
        if text == o.uri or text.upper() in (short, code.upper()):
            return o
    listed = ", ".join(_crs_uri(request, o) for o in offered)
    raise BadRequest(f"{param} {value!r} is not offered: use one of {listed} (each "
                     "collection lists them under 'crs')")


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


def parse_box(text: str, param: str = "bbox") -> tuple[float, float, float, float]:
    """Four finite numbers with min <= max on the second axis; the first axis is checked
    by the caller (a lon/lat box may cross the antimeridian)."""
    parts = text.split(",")
    try:
        v = [float(p) for p in parts]
    except ValueError:
        v = []
    if len(v) != 4 or not all(math.isfinite(x) for x in v):
        raise BadRequest(f"{param} {text!r} must be 4 comma-separated finite numbers: "
                         "min, min, max, max in the axis order of bbox-crs")
    if v[0] > v[2] or v[1] > v[3]:
        raise BadRequest(f"{param} {text!r} has a minimum above its maximum: give the "
                         "lower corner first")
    return v[0], v[1], v[2], v[3]


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
                f"unknown query parameter {key!r}: use {', '.join(sorted(_RESERVED))} or "
                f"an equality filter on one of {', '.join(q)} (see the collection's "
                "/queryables)")
        if key in out:
            raise BadRequest(f"filter {key!r} is given twice: give it once")
        try:
            out[key] = lf.coerce_value(q[key], value)
        except ValueError as e:
            raise BadRequest(f"filter {key}={value!r} is not a {q[key]} value ({e})") from None
    return out


def _where(request: Request, tw, gdf, schema, text: str | None, lang: str | None,
           filter_crs: str | None):
    if text is None:
        if lang is not None or filter_crs is not None:
            raise BadRequest("filter-lang and filter-crs describe a filter: give filter too")
        return None
    # cql-text: the draft name of CQL2 text, which GDAL's OAPIF driver sends.
    lang = "cql2-text" if lang in (None, "cql-text") else lang
    if lang not in FILTER_LANGS:
        raise BadRequest(f"filter-lang {lang!r} is not offered: use cql2-text or cql2-json")
    literal = None
    if filter_crs is not None:
        o = _resolve_crs(request, tw, filter_crs, "filter-crs")
        literal = None if o.is_storage else o.crs
    # twin.query errors (FilterError: unknown property, bad literal, unsupported operator,
    # too large) are TwinErrors: api/errors.py answers them 400 with their message.
    return parse_filter(text, lang, lf.filter_queryables(gdf, schema), literal_crs=literal,
                        max_bytes=request.app.state.settings.max_filter_bytes)


def _area(request: Request, tw, bbox: str | None, bbox_crs: str | None):
    """(lon/lat bbox tuple, lon/lat polygon): one of them, or neither."""
    if bbox is None:
        if bbox_crs is not None:
            raise BadRequest("bbox-crs describes a bbox: give bbox too")
        return None, None
    src = _resolve_crs(request, tw, bbox_crs, "bbox-crs") if bbox_crs else None
    if src is None or src.is_storage:
        return parse_bbox(bbox), None
    if src.crs.is_geographic:  # EPSG:4326 is lat,lon; as lon,lat it may cross 180°
        parts = bbox.split(",")
        if len(parts) != 4:
            raise BadRequest(f"bbox {bbox!r} must be 4 comma-separated numbers: "
                             "minLat,minLon,maxLat,maxLon in this bbox-crs")
        lat0, lon0, lat1, lon1 = parts
        return parse_bbox(",".join((lon0, lat0, lon1, lat1))), None
    return None, lo.box_to_storage(parse_box(bbox), src)


def _output_crs(request: Request, tw, crs: str | None):
    target = (_resolve_crs(request, tw, crs, "crs") if crs
              else next(o for o in lo.offered_crs(tw) if o.is_storage))
    transform = None if target.is_storage else (lambda g: lo.geometries_to(g, target))
    return transform, {"Content-Crs": f"<{_crs_uri(request, target)}>"}


_CRS_DOC = ("The CRS of the answer's coordinates, one of the collection's 'crs' list (a URI; "
            "EPSG:n and OGC:CRS84 also work). Axis order follows the CRS: EPSG:4326 is "
            "lat,lon; CRS84 (the default) lon,lat")


@router.get(
    "/collections/{collectionId}/items",
    summary="Features of a collection, filtered, sorted and paged",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}}, "description": "A GeoJSON FeatureCollection"}},
)
def items(
    request: Request,
    tw: TwinDep,
    collection_id: str = CollectionId,
    bbox: str | None = Query(None, description="minx,miny,maxx,maxy in bbox-crs (default "
                             "CRS84: minLon,minLat,maxLon,maxLat; minLon > maxLon crosses "
                             "the antimeridian)", max_length=400),
    bbox_crs: str | None = Query(None, alias="bbox-crs", max_length=400,
                                 description="The CRS of bbox (see crs)"),
    limit: int | None = Query(None, ge=1, description="Page size (see "
                              "components.parameters.limit for the default and maximum; "
                              "larger values are clamped)"),
    offset: int = Query(0, ge=0, description="Features to skip"),
    f: str | None = Query(None, description="Output format: json (the only one)"),
    datetime_: str | None = Query(
        None, alias="datetime", description="An RFC 3339 instant or interval (start/end, "
        "'..' for an open end). The twin's features carry no time, so every one matches "
        "(OGC API Features /req/core/fc-time-response C)", max_length=200),
    filter_: str | None = Query(
        None, alias="filter", description="A CQL2 filter on the collection's queryables, "
        "e.g. investment_kzt > 10000000000 AND district_id IN ('a', 'b') AND "
        "start_year > 2024, or S_INTERSECTS(geometry, POLYGON((...)))"),
    filter_lang: Literal["cql2-text", "cql2-json", "cql-text"] | None = Query(
        None, alias="filter-lang", description="cql2-text (default) or cql2-json; "
        "cql-text is read as cql2-text"),
    filter_crs: str | None = Query(None, alias="filter-crs", max_length=400,
                                   description="The CRS of the filter's geometry "
                                   "literals (default CRS84; see crs)"),
    crs: str | None = Query(None, max_length=400, description=_CRS_DOC),
    sortby: str | None = Query(None, max_length=1000, description="[+|-]property[,...] "
                               "from the collection's /sortables; ties keep id order, so "
                               "pages are stable"),
) -> Response:
    gdf, schema = _layer(tw, collection_id)
    if f is not None and f not in ("json", "geojson"):
        raise BadRequest(f"format f={f!r} is not offered: use f=json or leave it out")
    box, area = _area(request, tw, bbox, bbox_crs)
    if datetime_ is not None:
        parse_datetime(datetime_)  # checked (400 if malformed); no feature has a time
    equals = _filters(request, gdf, schema)
    where = _where(request, tw, gdf, schema, filter_, filter_lang, filter_crs)
    keys = parse_sortby(sortby, lf.queryables(gdf, schema)) if sortby is not None else ()
    transform, headers = _output_crs(request, tw, crs)
    page_size = request.app.state.settings.max_page_size
    limit = page_size if limit is None else min(limit, page_size)
    rows = sort_rows(gdf, lf.select(gdf, bbox=box, area=area, equals=equals, where=where),
                     keys, schema.id_column)
    matched = len(rows)
    offset = min(offset, matched)
    page = gdf.iloc[rows[offset:offset + limit]]

    path = f"/collections/{collection_id}/items"
    common = {"bbox": bbox, "bbox-crs": bbox_crs, "datetime": datetime_, "filter": filter_,
              "filter-lang": filter_lang, "filter-crs": filter_crs, "crs": crs,
              "sortby": sortby, **{k: request.query_params[k] for k in equals}}
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
                                       timestamp=stamp, transform=transform)
    return Response(body, media_type=GEOJSON, headers=headers)


@router.get(
    "/collections/{collectionId}/items/{featureId}",
    summary="One feature",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {}}, "description": "A GeoJSON Feature"}},
)
def item(request: Request, tw: TwinDep, collection_id: str = CollectionId,
         feature_id: str = Path(alias="featureId", description="A feature id"),
         crs: str | None = Query(None, max_length=400, description=_CRS_DOC)) -> Response:
    gdf, schema = _layer(tw, collection_id)
    transform, headers = _output_crs(request, tw, crs)
    kind = schema.required.get(schema.id_column, "str")
    row = lf.find_feature(gdf, schema.id_column, kind, feature_id)
    if row is None:
        raise NotFound(f"collection {collection_id!r} has no feature {feature_id!r}: list "
                       f"ids at /collections/{collection_id}/items")
    base = f"/collections/{collection_id}"
    links = [
        {"href": url_for(request, f"{base}/items/{quote(feature_id, safe='')}", crs=crs),
         "rel": "self", "type": GEOJSON, "title": "This feature"},
        {"href": url_for(request, base), "rel": "collection", "type": "application/json",
         "title": "The collection"},
    ]
    return Response(lf.feature_bytes(gdf, row, schema.id_column, links, transform=transform),
                    media_type=GEOJSON, headers=headers)


def describe_for_clients(openapi: dict, tw, max_page_size: int = MAX_LIMIT) -> dict:
    """Shape FastAPI's OpenAPI document the way GIS clients read it.

    - ``limit`` is declared once, in ``components.parameters``, with its default and
      maximum: QGIS and GDAL take their page size from there (without it QGIS asks for
      100 at a time).
    - ``filter-lang`` is a plain enum that also names ``cql-text``, the draft name GDAL's
      OAPIF driver looks for before it sends a filter to the server at all.
    - Each collection gets its own items path listing its ``?name=value`` queryables
      (Part 3, /req/queryables-query-parameters): GDAL reads the page size and the
      properties it may filter on from the collection's own path.
    """
    template = "/collections/{collectionId}/items"
    params = openapi.setdefault("components", {}).setdefault("parameters", {})
    params["limit"] = {
        "name": "limit", "in": "query", "required": False,
        "description": f"Page size: at most {max_page_size} (larger values are clamped), "
                       "and that many when not given",
        "schema": {"type": "integer", "minimum": 1, "maximum": max_page_size,
                   "default": max_page_size},
        "style": "form", "explode": False,
    }
    paths = openapi.get("paths", {})
    op = paths.get(template, {}).get("get")
    if op is None:
        return openapi
    shared = []
    for p in op.get("parameters", []):
        if p.get("name") == "limit":
            p = {"$ref": "#/components/parameters/limit"}
        elif p.get("name") == "filter-lang":
            p = {**p, "schema": {"type": "string", "default": "cql2-text",
                                 "enum": [*FILTER_LANGS, "cql-text"]}}
        shared.append(p)
    op["parameters"] = shared
    for name in tw.layer_names:
        gdf, schema = tw.layer(name), tw.schema(name)
        equality = [{"name": c, "in": "query", "required": False,
                     "description": f"Features whose {c} equals this value",
                     "schema": {"type": _JSON_KIND[k]}}
                    for c, k in lf.queryables(gdf, schema).items() if c not in _RESERVED]
        paths[f"/collections/{name}/items"] = {"get": {
            **op, "operationId": f"{op.get('operationId', 'items')}_{name}",
            "summary": f"Features of {name}, filtered, sorted and paged",
            "parameters": [p for p in shared if p.get("name") != "collectionId"] + equality,
        }}
    return openapi
