"""The planner's map page at ``/map``, its config and its assets, all served locally.

The page (api/static/map) draws with the deck.gl bundle that ships inside pydeck, fetches
features from ``/collections/{id}/items`` and parcels from ``/tiles/parcels/{z}/{x}/{y}.mvt``,
and takes colours and district figures from ``/map/config.json``. Nothing comes from a CDN
or a basemap service, so the page works on a closed network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from layers.map_config import map_config
from layers.offline_html import MVT_LOADER_PATH, bundle_path
from layers.style import FONT_PATH
from layers.vector_tiles import tile_layer

from ..deps import get_twin
from ..errors import NotFound

__all__ = ["router"]

router = APIRouter(tags=["map"])

_STATIC = Path(__file__).resolve().parent.parent / "static" / "map"

# An allow-list, not a directory mount: only these files are served, whatever the path says.
_ASSETS = {
    "map.js": (lambda: _STATIC / "map.js", "text/javascript; charset=utf-8"),
    "map.css": (lambda: _STATIC / "map.css", "text/css; charset=utf-8"),
    "deck.gl.js": (bundle_path, "text/javascript; charset=utf-8"),
    "mvt-loader.js": (lambda: MVT_LOADER_PATH, "text/javascript; charset=utf-8"),
    "twin-sans.ttf": (lambda: FONT_PATH, "font/ttf"),
    "twin-sans-OFL.txt": (lambda: FONT_PATH.parent / "OFL.txt", "text/plain; charset=utf-8"),
}


@router.get("/map", include_in_schema=True, summary="The planner's map page (HTML)",
            response_class=FileResponse)
def map_page():
    return FileResponse(_STATIC / "index.html", media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})


@router.get("/map/", include_in_schema=False)
def map_page_slash():
    # The page builds its URLs relative to ".../map"; a trailing slash would break them.
    return RedirectResponse("../map", status_code=308)


@router.get("/map/config.json", summary="Colours, district figures and camera for /map")
def map_page_config(tw: Annotated[Any, Depends(get_twin)]):
    zooms = None
    if "parcels" in tw.layer_names:
        t = tile_layer("parcels")
        zooms = (t.minzoom, t.maxzoom)
    return JSONResponse(map_config(tw, parcel_zooms=zooms),
                        headers={"Cache-Control": "no-cache"})


@router.get("/map/static/{name}", include_in_schema=False)
def map_asset(name: str):
    if name not in _ASSETS:
        raise NotFound(f"no map asset {name!r}: the page's assets are "
                       f"{', '.join(sorted(_ASSETS))}")
    path, media = _ASSETS[name]
    return FileResponse(path(), media_type=media, headers={"Cache-Control": "max-age=3600"})
