"""OGC API Tiles (vector tilesets of each collection), the XYZ alias and TileJSON 3.0.0.

Every check on a tile request (collection, tile matrix set, zoom/row/column ranges, the
layer's zoom range) happens before any geometry is touched, and answers 404 or 400. Cache
hits of the XYZ route are normally answered before FastAPI by ``api.fastpath``; this
router renders misses (in the thread pool: rendering is CPU work) and answers the OGC route.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from layers.tile_math import MAX_ZOOM, tiles_for_bounds, valid_tile
from layers.tilejson import tile_fields
from layers.tilejson import tilejson as tilejson_doc
from layers.vector_tiles import tile_layer

from ..deps import TilesDep, TwinDep
from ..errors import NotFound
from ..fastpath import MVT, etag_matches, tile_headers, wants_gzip
from ..urls import url_for
from .features import collection_doc

__all__ = ["router"]

router = APIRouter(tags=["tiles"])

TMS = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
EPSG3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
_TILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {MVT: {}}, "description": "A Mapbox Vector Tile"},
    204: {"description": "An empty tile: no feature of the layer is in it"},
    304: {"description": "Not modified (If-None-Match matched the ETag)"}}


def _check_collection(tw, cid: str) -> None:
    if cid not in tw.layer_names:
        raise NotFound(f"no collection {cid!r}: the collections are "
                       f"{', '.join(tw.layer_names)} (see /collections)")


def _check_tile(cid: str, z: int, x: int, y: int) -> None:
    if not valid_tile(z, x, y):
        if not 0 <= z <= MAX_ZOOM:
            raise NotFound(f"zoom {z} is outside WebMercatorQuad (0..{MAX_ZOOM})")
        last = (1 << z) - 1
        raise NotFound(f"tile {z}/{x}/{y} does not exist: at zoom {z} columns and rows run "
                       f"from 0 to {last}")
    tl = tile_layer(cid)
    if not tl.minzoom <= z <= tl.maxzoom:
        raise NotFound(f"collection {cid!r} is tiled from zoom {tl.minzoom} to {tl.maxzoom}; "
                       f"zoom {z} is outside (clients overzoom past {tl.maxzoom})")


async def _tile_response(request: Request, tiles, cid: str, z: int, x: int, y: int):
    _check_collection(tiles.twin, cid)
    _check_tile(cid, z, x, y)
    tile = await run_in_threadpool(tiles.tile, cid, z, x, y)
    gz = bool(tile.data) and wants_gzip(request.headers.get("accept-encoding", ""))
    if gz:
        await run_in_threadpool(lambda: tile.gzipped)
    status, headers, body = tile_headers(tile, gz, request.app.state.settings.tile_max_age)
    hdrs = {k.decode(): v.decode() for k, v in headers}
    if etag_matches(request.headers.get("if-none-match", ""), hdrs["etag"]):
        return Response(status_code=304, headers={k: hdrs[k] for k in
                                                  ("etag", "cache-control", "vary")})
    return Response(body, status_code=status, headers=hdrs)


@router.get("/collections/{collection_id}/tiles", summary="The collection's vector tilesets")
def tilesets(request: Request, tw: TwinDep, collection_id: str) -> dict:
    _check_collection(tw, collection_id)
    base = f"/collections/{collection_id}/tiles"
    return {
        "links": [{"href": url_for(request, base), "rel": "self", "type": "application/json"}],
        "tilesets": [{
            "title": f"{collection_id} ({TMS})",
            "dataType": "vector",
            "crs": EPSG3857,
            "tileMatrixSetURI": TMS_URI,
            "links": [
                {"href": url_for(request, f"{base}/{TMS}"), "rel": "self",
                 "type": "application/json", "title": "The tileset"},
                {"href": TMS_URI, "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
                 "type": "application/json", "title": TMS},
            ],
        }],
    }


def _dimension(geometry_type: str) -> int:
    return 0 if geometry_type.endswith("Point") else 1 if "Line" in geometry_type else 2


@router.get("/collections/{collection_id}/tiles/{tms}", summary="A tileset's metadata")
def tileset(request: Request, tw: TwinDep, collection_id: str, tms: str) -> dict:
    _check_collection(tw, collection_id)
    if tms != TMS:
        raise NotFound(f"tile matrix set {tms!r} is not offered: use {TMS}")
    tl = tile_layer(collection_id)
    doc = collection_doc(request, tw, collection_id)
    bbox = doc.get("extent", {}).get("spatial", {}).get("bbox", [None])[0]
    limits = []
    if bbox is not None:
        for z in range(tl.minzoom, tl.maxzoom + 1):
            x0, y0, x1, y1 = tiles_for_bounds(tuple(bbox), z)
            limits.append({"tileMatrix": str(z), "minTileRow": y0, "maxTileRow": y1,
                           "minTileCol": x0, "maxTileCol": x1})
    base = f"/collections/{collection_id}/tiles/{TMS}"
    layer: dict[str, Any] = {"id": collection_id, "dataType": "vector"}
    dims = {_dimension(g) for g in tw.schema(collection_id).geometry_types}
    if len(dims) == 1:  # OGC: leave geometryDimension out for a mixed (or unknown) layer
        layer["geometryDimension"] = dims.pop()
    return {
        "title": f"{collection_id} vector tiles",
        "dataType": "vector",
        "crs": EPSG3857,
        "tileMatrixSetURI": TMS_URI,
        "tileMatrixSetLimits": limits,
        "layers": [{**layer,
                    "minTileMatrix": str(tl.minzoom), "maxTileMatrix": str(tl.maxzoom),
                    "propertiesSchema": {"type": "object", "properties": {
                        k: {"type": v.lower()}
                        for k, v in tile_fields(tw, collection_id).items()}}}],
        "links": [
            {"href": url_for(request, base), "rel": "self", "type": "application/json"},
            {"href": TMS_URI, "rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme",
             "type": "application/json"},
            {"href": url_for(request, base) + "/{tileMatrix}/{tileRow}/{tileCol}",
             "rel": "item", "type": MVT, "templated": True, "title": "Tiles (z/row/col)"},
        ],
    }


@router.get(
    "/collections/{collection_id}/tiles/{tms}/{tile_matrix}/{tile_row}/{tile_col}",
    summary="A vector tile (OGC order: zoom/row/column)", response_class=Response,
    responses=_TILE_RESPONSES)
async def ogc_tile(request: Request, tiles: TilesDep, collection_id: str, tms: str,
                   tile_matrix: int, tile_row: int, tile_col: int) -> Response:
    _check_collection(tiles.twin, collection_id)
    if tms != TMS:
        raise NotFound(f"tile matrix set {tms!r} is not offered: use {TMS}")
    return await _tile_response(request, tiles, collection_id, tile_matrix, tile_col, tile_row)


@router.get("/tiles/{collection_id}/{z}/{x}/{y}.mvt",
            summary="A vector tile (XYZ order: zoom/column/row)", response_class=Response,
            responses=_TILE_RESPONSES)
async def xyz_tile(request: Request, tiles: TilesDep, collection_id: str, z: int, x: int,
                   y: int = Path(description="Tile row")) -> Response:
    return await _tile_response(request, tiles, collection_id, z, x, y)


@router.get("/tiles/{collection_id}.json", summary="TileJSON 3.0.0 for a collection")
def tilejson(request: Request, tw: TwinDep, collection_id: str) -> dict:
    _check_collection(tw, collection_id)
    doc = collection_doc(request, tw, collection_id)
    bbox = doc.get("extent", {}).get("spatial", {}).get("bbox", [[-180, -85.0511, 180,
                                                                   85.0511]])[0]
    return tilejson_doc(tw, collection_id, bounds=bbox,
                        tiles=[url_for(request, f"/tiles/{collection_id}") + "/{z}/{x}/{y}.mvt"])
