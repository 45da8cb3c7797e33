"""Serving cached tiles: the HTTP shape of a tile, and a raw-ASGI fast path for cache hits.

A warm tile is a dictionary lookup and a copy of bytes, but FastAPI's routing, dependency
injection and response classes cost far more than that (the bench measured about 10x
against nginx). :class:`TileFastPath` runs in front of the whole app (``TwinAPI.__call__``): for
``GET /tiles/{id}/{z}/{x}/{y}.mvt`` whose tile is already in the cache it answers directly;
everything else (a miss, a bad path, any other route) falls through to FastAPI, which renders
the tile and fills the cache. Both paths build their headers with :func:`tile_headers`, so
the answers are identical byte for byte (tests/test_api_tiles.py checks).
"""

from __future__ import annotations

import asyncio

__all__ = ["TileFastPath", "tile_headers", "wants_gzip", "etag_matches", "MVT", "http_protocol"]

MVT = "application/vnd.mapbox-vector-tile"


def wants_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding value accepts gzip (``q=0`` refuses it).

    Examples
    --------
    >>> wants_gzip("gzip, deflate, br"), wants_gzip("gzip;q=0"), wants_gzip("")
    (True, False, False)
    """
    for part in accept_encoding.lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            q = params.strip()
            if q.startswith("q="):
                try:
                    return float(q[2:]) > 0
                except ValueError:
                    return False
            return True
    return False


def etag_matches(if_none_match: str, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return etag in tags


def tile_headers(tile, gz: bool, max_age: int) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, raw headers and body for a tile. An empty tile is ``204 No Content``."""
    etag = tile.etag if not gz else tile.etag[:-1] + '-gz"'
    headers = [
        (b"etag", etag.encode()),
        (b"cache-control", f"public, max-age={max_age}".encode()),
        (b"vary", b"accept-encoding"),
    ]
    if not tile.data:
        return 204, headers, b""
    body = tile.gzipped if gz else tile.data
    headers += [(b"content-type", MVT.encode()), (b"content-length", str(len(body)).encode())]
    if gz:
        headers.append((b"content-encoding", b"gzip"))
    return 200, headers, body


class TileFastPath:
    """Answer cache hits of the XYZ tile route without entering FastAPI.

    Used by :class:`api.app.TwinAPI` *before* Starlette's middleware stack: the bench
    measured each ASGI layer on a hit (see docs/tiles.md). Requests carrying an ``Origin``
    while CORS is configured fall through, so that CORS headers come from one place.
    """

    def __init__(self, state, cors: bool = False):
        self.state = state  # the FastAPI app's state: .tiles, .twin, .settings
        self.cors = cors

    async def __call__(self, scope, send) -> bool:
        """Send the answer and return True on a hit; return False to fall through."""
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return False
        hit = self._lookup(scope)
        if hit is None:
            return False
        status, headers, body = hit
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body",
                    "body": b"" if scope["method"] == "HEAD" else body})
        return True

    def _lookup(self, scope):
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        if not path.startswith("/tiles/") or not path.endswith(".mvt"):
            return None
        parts = path[7:-4].split("/")
        # isascii: str.isdigit() also accepts "²", which int() refuses.
        if len(parts) != 4 or not all(p.isascii() and p.isdigit() and len(p) < 9
                                      for p in parts[1:]):
            return None
        name = parts[0]
        tw = self.state.twin
        if name not in tw:
            return None
        tiles = self.state.tiles
        tile = tiles.cached(tiles.key(name, int(parts[1]), int(parts[2]), int(parts[3])))
        if tile is None:
            return None
        inm = ae = ""
        for k, v in scope["headers"]:
            if k == b"if-none-match":
                inm = v.decode("latin-1")
            elif k == b"accept-encoding":
                ae = v.decode("latin-1")
            elif k == b"origin" and self.cors:
                return None
        gz = bool(tile.data) and wants_gzip(ae)
        if gz and tile._gz is None:
            return None  # let the full path compress it once, off the event loop
        answer = tile.memo.get(gz)
        if answer is None:
            answer = tile.memo[gz] = tile_headers(tile, gz, self.state.settings.tile_max_age)
        if inm and etag_matches(inm, answer[1][0][1].decode()):
            return 304, answer[1][:3], b""
        return answer


def http_protocol(header_timeout: float | None = None):
    """uvicorn's httptools protocol with cache hits answered at the protocol level, and a
    header-read timeout.

    Behind :class:`TileFastPath` a hit still pays uvicorn's ASGI machinery: a scope, a
    request cycle, an asyncio task and two ``send`` awaits. This protocol answers a hit as
    soon as the request's headers are parsed, with one ``writelines`` of memoised bytes,
    and hands everything else to uvicorn unchanged (a miss, HEAD, a query string, an
    escaped path, HTTP/1.0 or ``Connection: close``, a request pipelined behind another).

    ``header_timeout`` (seconds; None or 0: none) bounds how long a connection may take to
    send a complete request head: from its opening, and from the first byte of each later
    request. uvicorn closes idle keep-alive connections, but not one that sends nothing or
    only part of a head, so a few such clients could hold every connection open for ever.
    A connection over the limit gets ``408 Request Timeout`` (when it had begun a request)
    and is closed. The timer hooks only the asyncio protocol and httptools parser callbacks
    (``connection_made``, ``on_message_begin``, ``on_headers_complete``).
    Returns None when httptools is not installed (uvicorn then picks its default).
    """
    try:
        import httptools
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - uvicorn without the [standard] extra
        return None

    class _Answered:
        # Stands in for uvicorn's RequestResponseCycle of a request answered here, so
        # that the protocol's later callbacks see a finished response.
        response_complete = True
        keep_alive = True
        disconnected = False

        class message_event:  # noqa: N801 - mimics asyncio.Event's one used method
            @staticmethod
            def set() -> None:
                pass

    answered = _Answered()
    _disabled: list[bool] = []  # non-empty once uvicorn's internals turned out different

    class TileHttpToolsProtocol(HttpToolsProtocol):
        _fast: TileFastPath | None = None
        _head_timer: asyncio.TimerHandle | None = None
        _head_begun = False

        # -- the header-read timeout --------------------------------------------------
        def connection_made(self, transport) -> None:  # type: ignore[override]
            self._transport = transport
            super().connection_made(transport)
            self._arm_head_timer()

        def connection_lost(self, exc) -> None:
            self._disarm_head_timer()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            self._head_begun = True
            if self._head_timer is None:
                self._arm_head_timer()
            super().on_message_begin()

        def _arm_head_timer(self) -> None:
            if header_timeout:
                self._head_timer = asyncio.get_running_loop().call_later(
                    header_timeout, self._head_timed_out)

        def _disarm_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            t = self._transport
            if t.is_closing():
                return
            if self._head_begun:
                t.write(_TIMEOUT_408)
            t.close()

        def _fast_path(self) -> TileFastPath | None:
            app = self.app
            for _ in range(8):  # unwrap uvicorn's own middlewares to find our app
                fp = getattr(app, "fast_path", None)
                if fp is not None:
                    return fp
                app = getattr(app, "app", None)
                if app is None:
                    return None
            return None

        def on_headers_complete(self) -> None:
            self._disarm_head_timer()
            self._head_begun = False
            if (self.parser.get_method() == b"GET" and not self.pipeline
                    and (self.cycle is None or self.cycle.response_complete)
                    and self.parser.should_keep_alive()
                    and self.parser.get_http_version() == "1.1"):
                fp = self._fast or self._fast_path()
                self._fast = fp
                if fp is not None and not _disabled and self._safe_answer(fp):
                    return
            super().on_headers_complete()

        def _safe_answer(self, fp: TileFastPath) -> bool:
            # This protocol leans on uvicorn internals (parser, pipeline, cycle,
            # server_state). If a uvicorn release renames one, stop using the fast path
            # for good and let uvicorn serve every request, rather than fail requests.
            try:
                return self._answer(fp)
            except AttributeError:
                _disabled.append(True)
                return False

        def _answer(self, fp: TileFastPath) -> bool:
            url = httptools.parse_url(self.url)
            if url.query or b"%" in url.path:
                return False
            path = self.root_path + url.path.decode("ascii")
            scope = {"type": "http", "method": "GET", "path": path,
                     "root_path": self.root_path, "headers": self.headers}
            hit = fp._lookup(scope)
            if hit is None:
                return False
            status, headers, body = hit
            head = b"".join([b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
                             *(b"%s: %s\r\n" % kv for kv in headers),
                             *(b"%s: %s\r\n" % kv for kv in
                               self.server_state.default_headers), b"\r\n"])
            self.transport.writelines([head, body] if body else [head])
            # a stand-in with the few attributes uvicorn reads of a finished cycle
            self.cycle = answered  # type: ignore[assignment]
            self.on_response_complete()
            return True

    return TileHttpToolsProtocol


_REASONS = {200: b"OK", 204: b"No Content", 304: b"Not Modified"}
_TIMEOUT_DETAIL = (b'{"type":"about:blank","title":"Request timeout","status":408,"detail":'
                   b'"the request head was not complete in time: send it whole, at once"}')
_TIMEOUT_408 = (b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\n"
                b"content-type: application/problem+json\r\ncontent-length: %d\r\n\r\n"
                % len(_TIMEOUT_DETAIL)) + _TIMEOUT_DETAIL
