"""Absolute URLs that stay right behind a reverse proxy.

Links in OGC responses and TileJSON must be absolute (GDAL follows ``next`` links, MapLibre
fetches TileJSON's ``tiles``). Behind a proxy, the request's own host and scheme are the
proxy's back end, so the public base is taken, in order, from the ``public_url`` setting,
from ``X-Forwarded-Proto/-Host/-Prefix`` (when trusted) and from the ASGI ``root_path``.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request

__all__ = ["base_url", "url_for"]


def _first(value: str | None) -> str | None:
    # A chain of proxies sends "a, b": the first is the one the client spoke to.
    if not value:
        return None
    return value.split(",")[0].strip() or None


def base_url(request: Request) -> str:
    """The public base URL of the API, with no trailing slash."""
    settings = request.app.state.settings
    if settings.public_url:
        return settings.public_url.rstrip("/")
    h = request.headers
    scheme = request.url.scheme
    host = h.get("host") or request.url.netloc
    prefix = ""
    if settings.trust_forwarded_headers:
        fwd_proto = _first(h.get("x-forwarded-proto"))
        if fwd_proto in ("http", "https"):
            scheme = fwd_proto
        host = _first(h.get("x-forwarded-host")) or host
        prefix = (_first(h.get("x-forwarded-prefix")) or "").rstrip("/")
        if prefix and not prefix.startswith("/"):
            prefix = "/" + prefix
    root = (request.scope.get("root_path") or "").rstrip("/")
    return f"{scheme}://{host}{prefix}{root}"


def url_for(request: Request, path: str, **query) -> str:
    """Absolute URL of ``path`` (starting with /), with optional query parameters."""
    q = {k: v for k, v in query.items() if v is not None}
    return base_url(request) + path + (("?" + urlencode(q)) if q else "")
