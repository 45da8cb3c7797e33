"""The situation centre at ``/dashboard``: the ranking, each unit's trends and forecasts,
the map and the audit, following ``/score/stream`` live. All of it is served here.

The page (api/static/dashboard) draws its charts with plotly.js, the bundle that ships
inside the ``plotly`` wheel (the ``dashboard`` extra), and its map with the deck.gl bundle
that /map serves from pydeck. It reads only this API: ``/score``, ``/score/stream``,
``/score/forecast``, ``/score/audit``, ``/score/units/{id}/history``, ``/map/config.json``
and ``/collections/districts/items``. Nothing comes from a CDN.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse, Response

from ..errors import NotFound, ServiceUnavailable

__all__ = ["router"]

router = APIRouter(tags=["dashboard"])

_STATIC = Path(__file__).resolve().parent.parent / "static" / "dashboard"

# An allow-list, not a directory mount: only these files are served.
_FILES = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}


@lru_cache(maxsize=1)
def _plotly_js() -> bytes:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError as e:
        raise ServiceUnavailable(
            "the dashboard's charts need plotly.js from the plotly package: pip install "
            "'aqmola-twin[dashboard]'") from e
    return get_plotlyjs().encode("utf-8")


@router.get("/dashboard", summary="The situation centre: ranking, trends, forecasts, map "
            "and audit, live (HTML)", response_class=FileResponse)
def dashboard_page():
    return FileResponse(_STATIC / "index.html", media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})


@router.get("/dashboard/", include_in_schema=False)
def dashboard_slash():
    # The page builds its URLs relative to ".../dashboard"; a trailing slash would break them.
    return RedirectResponse("../dashboard", status_code=308)


@router.get("/dashboard/static/{name}", include_in_schema=False)
def dashboard_asset(name: str):
    if name == "plotly.min.js":
        return Response(_plotly_js(), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "max-age=86400"})
    if name not in _FILES:
        raise NotFound(f"no dashboard asset {name!r}: the page's assets are "
                       f"{', '.join(sorted([*_FILES, 'plotly.min.js']))}")
    return FileResponse(_STATIC / name, media_type=_FILES[name],
                        headers={"Cache-Control": "no-cache"})
