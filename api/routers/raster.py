"""Raster surfaces over HTTP: the list, TileJSON 3.0.0, PNG tiles and point values.

Names are looked up in the twin's raster registry (``twin.raster``), which also finds the
file; no path is ever built from the request. Tiles are drawn by
:class:`layers.raster_tiles.RasterTileSource` with the colormap contract documented there.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from layers.raster_tiles import RasterTileSource, check_tile, tilejson
from twin.raster import get_raster, list_rasters, value_at

from ..deps import get_twin
from ..errors import BadRequest
from ..fastpath import etag_matches
from ..urls import url_for

__all__ = ["router"]

router = APIRouter(tags=["raster"])
PNG = "image/png"


def get_raster_tiles(request: Request) -> RasterTileSource:
    """The app's raster tile source (its readers and PNG cache; the warm-up fills it)."""
    return request.app.state.raster_tiles


TwinDep = Annotated[object, Depends(get_twin)]
SourceDep = Annotated[RasterTileSource, Depends(get_raster_tiles)]


def _links(request: Request, name: str) -> list[dict]:
    base = url_for(request, f"/raster/{name}")
    return [
        {"href": base + ".json", "rel": "tilejson", "type": "application/json",
         "title": "TileJSON 3.0.0"},
        {"href": base + "/{z}/{x}/{y}.png", "rel": "item", "type": PNG, "templated": True,
         "title": "PNG tiles (XYZ)"},
        {"href": base + "/point/{lon},{lat}", "rel": "describedby", "templated": True,
         "type": "application/json", "title": "The value at a lon/lat point"},
    ]


@router.get("/raster", summary="The twin's raster surfaces")
def rasters(request: Request, tw: TwinDep) -> dict:
    out = []
    for info in list_rasters(tw):
        d = info.to_dict()
        d["links"] = _links(request, info.name)
        out.append(d)
    return {"rasters": out,
            "links": [{"href": url_for(request, "/raster"), "rel": "self",
                       "type": "application/json"}]}


@router.get("/raster/{name}.json", summary="TileJSON 3.0.0 for a raster")
def raster_tilejson(request: Request, name: str, tw: TwinDep,
                    src: SourceDep) -> dict:
    info = get_raster(tw, name)
    tiles = url_for(request, f"/raster/{info.name}") + "/{z}/{x}/{y}.png"
    return tilejson(info, tiles, src.zooms(info))


@router.get(
    "/raster/{name}/{z}/{x}/{y}.png", summary="A PNG tile of a raster (XYZ order)",
    response_class=Response,
    responses={200: {"content": {PNG: {}},
                     "description": "256×256 RGBA PNG: the raster's colormap, nodata "
                                    "transparent (see the TileJSON's colormap)"},
               304: {"description": "Not modified (If-None-Match matched the ETag)"},
               404: {"description": "Unknown raster, or a tile outside its bounds"}},
)
async def raster_tile(request: Request, name: str, z: int, x: int, y: int, tw: TwinDep,
                      src: SourceDep) -> Response:
    info = get_raster(tw, name)
    check_tile(info, z, x, y)  # before the ETag: a tile that does not exist is a 404
    etag = f'"{info.version}-{z}-{x}-{y}"'
    headers = {"etag": etag,
               "cache-control": f"public, max-age={request.app.state.settings.tile_max_age}"}
    if etag_matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    # A cached tile is answered on the event loop; a miss reads and draws in the thread
    # pool, since that is blocking I/O and CPU work.
    body = src.cached(info, z, x, y)
    if body is None:
        body = await run_in_threadpool(src.png, info, z, x, y)
    return Response(body, media_type=PNG, headers=headers)


def _lonlat(text: str) -> tuple[float, float]:
    # One path segment parsed here rather than "{lon},{lat}" in the route, so that a
    # missing half ("71.4,") is a 400 naming the problem, not a routing 404.
    parts = text.split(",")
    values = []
    for part in parts if len(parts) == 2 else ():
        try:
            values.append(float(part))
        except ValueError:
            break
    if len(values) != 2 or not all(math.isfinite(v) for v in values):
        raise BadRequest(f"point {text!r} is not two numbers: give it as /point/{{lon}},{{lat}} "
                         "in decimal degrees, e.g. /point/71.43,51.13")
    return values[0], values[1]


@router.get("/raster/{name}/point/{lonlat}", summary="A raster's value at a lon/lat point")
def raster_point(name: str, tw: TwinDep, lonlat: Annotated[str, Path(
        description="lon,lat in decimal degrees (EPSG:4326), e.g. 71.43,51.13")]) -> dict:
    """Band values at ``lon,lat`` (EPSG:4326); ``null`` where the raster has nodata."""
    lon, lat = _lonlat(lonlat)
    return value_at(tw, name, lon, lat)
