"""Absolute URLs that stay right behind a reverse proxy, and the headers that say so.

Links in OGC responses and TileJSON must be absolute (GDAL follows ``next`` links, MapLibre
fetches TileJSON's ``tiles``). The public base is, in order: the ``public_url`` setting
(nothing from the request counts then, not even ``Host``); else the scheme, host and prefix
a trusted proxy forwarded (``api/proxy.py`` decides whom to trust), the request's ``Host``
and the ASGI ``root_path``.

A document whose links come from the request depends on its headers, so a cache must know:
:class:`LinkHeaders` adds ``Vary`` on the forwarded headers and a short, stated
``Cache-Control`` to every answer that built a link with :func:`url_for`.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request
from starlette.datastructures import MutableHeaders

from .proxy import SCOPE_KEY, Forwarded, valid_host

__all__ = ["base_url", "url_for", "note_links", "LinkHeaders", "VARY"]

#: Every request header a link can be built from. Which of them counts depends on the
#: peer's address and on TWIN_FORWARDED_HEADERS, neither of which a cache sees, so all are
#: named: for a peer whose headers are ignored this only splits a cache's entries for
#: clients that send them.
VARY = "Forwarded, X-Forwarded-Host, X-Forwarded-Proto, X-Forwarded-Prefix"
_MARK = "twin.links"
_NONE = Forwarded()


class _Mark:
    used = False


def note_links(request: Request) -> None:
    """Say that this answer's links come from the request (``url_for`` does it); a 304 that
    stands for a document with links calls it too, since it must carry the same ``Vary``."""
    mark = request.scope.get(_MARK)
    if mark is not None:
        mark.used = True


def _server(scope) -> str:
    host, port = scope.get("server") or ("localhost", None)
    host = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}.get(scope.get("scheme", "http"))
    return host if port in (None, default) else f"{host}:{port}"


def base_url(request: Request) -> str:
    """The public base URL of the API, with no trailing slash."""
    note_links(request)
    public = request.app.state.settings.public_url
    if public:
        return public.rstrip("/")
    scope = request.scope
    fwd = scope.get(SCOPE_KEY, _NONE)
    host = fwd.host or valid_host(request.headers.get("host")) or _server(scope)
    root = (scope.get("root_path") or "").rstrip("/")
    return f"{scope.get('scheme', 'http')}://{host}{fwd.prefix}{root}"


def url_for(request: Request, path: str, **query) -> str:
    """Absolute URL of ``path`` (starting with /), with optional query parameters."""
    q = {k: v for k, v in query.items() if v is not None}
    return base_url(request) + path + (("?" + urlencode(q)) if q else "")


class LinkHeaders:
    """Pure ASGI middleware: ``Vary`` and ``Cache-Control`` on answers that hold links.

    ``vary`` is False when ``public_url`` fixes every link. A read with no Cache-Control of
    its own gets ``public, max-age=<max_age>`` (a link document changes with the data, so
    caches keep it briefly); a write's answer (201 + ``Location``, a PATCH) gets
    ``no-store``. Errors are left alone: they are not to be cached for a minute.
    """

    def __init__(self, app, *, vary: bool, max_age: int):
        self.app = app
        self.vary = vary
        self.read_cache = f"public, max-age={max_age}" if max_age > 0 else "no-cache"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        mark = _Mark()
        read = scope["method"] in ("GET", "HEAD")

        async def send_with_headers(message):
            if message["type"] == "http.response.start" and mark.used:
                headers = MutableHeaders(scope=message)
                if self.vary:
                    headers.add_vary_header(VARY)
                status = message["status"]
                if "cache-control" not in headers and 200 <= status < 300:
                    headers["cache-control"] = self.read_cache if read else "no-store"
            await send(message)

        await self.app({**scope, _MARK: mark}, receive, send_with_headers)
