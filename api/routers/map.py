"""The planner's map page at ``/map``, its config and its assets, all served locally.

The page (api/static/map) draws with the deck.gl bundle that ships inside pydeck, fetches
features from ``/collections/{id}/items`` and parcels from ``/tiles/parcels/{z}/{x}/{y}.mvt``
(or from a PMTiles archive, where ``TWIN_MAP_PARCELS_PMTILES`` names one), takes colours and
district figures from ``/map/config.json`` and search suggestions from ``/map/search``.
Nothing else comes from a CDN or a basemap service, so the page works on a closed network.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from layers.map_config import map_config
from layers.offline_html import LABELS_PATH, MVT_LOADER_PATH, bundle_path
from layers.search import PlaceIndex
from layers.style import FONT_PATH
from layers.vector_tiles import tile_layer

from ..deps import get_settings, get_twin
from ..errors import BadRequest, NotFound
from ..settings import Settings

__all__ = ["router"]

router = APIRouter(tags=["map"])

_STATIC = Path(__file__).resolve().parent.parent / "static" / "map"

_JS = "text/javascript; charset=utf-8"
#: The page's own ES modules (api/static/map), each served under its file name.
PAGE_MODULES = ("map.js", "i18n.js", "format.js", "draw.js", "identify.js",
                "legend.js", "scenario.js", "search.js", "controls.js")


def _static(name: str) -> Callable[[], Path]:
    return lambda: _STATIC / name


# An allow-list, not a directory mount: only these files are served, whatever the path says.
_ASSETS: dict[str, tuple[Callable[[], Path], str]] = {
    **{m: (_static(m), _JS) for m in PAGE_MODULES},
    "map.css": (lambda: _STATIC / "map.css", "text/css; charset=utf-8"),
    "deck.gl.js": (bundle_path, "text/javascript; charset=utf-8"),
    "mvt-loader.js": (lambda: MVT_LOADER_PATH, "text/javascript; charset=utf-8"),
    # shared with the single-file maps and notebooks (layers/assets), so one placement rule
    "labels.js": (lambda: LABELS_PATH, "text/javascript; charset=utf-8"),
    # the PMTiles reader, vendored from npm (pmtiles 4.5.0, dist/pmtiles.js), and its licences
    "pmtiles.js": (lambda: _STATIC / "pmtiles.js", "text/javascript; charset=utf-8"),
    "pmtiles-LICENSE.txt": (lambda: _STATIC / "pmtiles-LICENSE.txt",
                            "text/plain; charset=utf-8"),
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
def map_page_config(tw: Annotated[Any, Depends(get_twin)],
                    settings: Annotated[Settings, Depends(get_settings)]):
    zooms = None
    if "parcels" in tw.layer_names:
        t = tile_layer("parcels")
        zooms = (t.minzoom, t.maxzoom)
    cfg = map_config(tw, parcel_zooms=zooms)
    if cfg["parcels"] and settings.map_parcels_pmtiles:
        # the page reads parcels from this archive instead of cfg["parcels"]["tiles"]
        cfg["parcels"]["pmtiles"] = settings.map_parcels_pmtiles
    return JSONResponse(cfg, headers={"Cache-Control": "no-cache"})


_SEARCH_KINDS = ("district", "city", "town", "project")
_search_lock = threading.Lock()


def _place_index(request: Request, tw) -> PlaceIndex:
    """The served twin's search index, rebuilt when a layer it reads changes."""
    key = tuple(tw.data_version(n) for n in PlaceIndex.LAYERS if n in tw.layer_names)
    st = request.app.state
    with _search_lock:
        cached = getattr(st, "place_index", None)
        if cached is None or cached[0] != key:
            st.place_index = cached = (key, PlaceIndex(tw))
    return cached[1]


@router.get("/map/search", summary="Typed place suggestions for a search box")
def map_search(
    request: Request,
    tw: Annotated[Any, Depends(get_twin)],
    q: Annotated[str, Query(min_length=1, max_length=100,
                            description="What was typed: any name in any script, e.g. "
                                        "Баянауыл, Bayanauyl or Baianauyl")],
    limit: Annotated[int, Query(ge=1, le=50)] = 8,
    kind: Annotated[str | None, Query(
        description=f"Kinds, comma-separated: {', '.join(_SEARCH_KINDS)}")] = None,
):
    kinds = None
    if kind is not None:
        kinds = tuple(k.strip() for k in kind.split(",") if k.strip())
        bad = [k for k in kinds if k not in _SEARCH_KINDS]
        if bad or not kinds:
            raise BadRequest(f"kind={kind!r}: use one or more of {', '.join(_SEARCH_KINDS)}, "
                             "comma-separated")
    hits = _place_index(request, tw).suggest(q, limit=limit, kinds=kinds)
    return JSONResponse({"query": q, "suggestions": [h.to_dict() for h in hits]},
                        headers={"Cache-Control": "no-cache"})


@router.get("/map/static/{name}", include_in_schema=False)
def map_asset(name: str):
    if name not in _ASSETS:
        raise NotFound(f"no map asset {name!r}: the page's assets are "
                       f"{', '.join(sorted(_ASSETS))}")
    path, media = _ASSETS[name]
    return FileResponse(path(), media_type=media, headers={"Cache-Control": "max-age=3600"})
