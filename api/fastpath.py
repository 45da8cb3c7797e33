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

__all__ = ["TileFastPath", "tile_headers", "wants_gzip", "etag_matches", "MVT"]

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
