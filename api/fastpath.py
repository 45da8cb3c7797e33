"""Serving cached tiles: the HTTP shape of a tile, and a raw-ASGI fast path for cache hits.

A warm tile is a dictionary lookup and a copy of bytes, but FastAPI's routing, dependency
injection and response classes cost far more than that (the bench measured about 10x
against nginx). :class:`TileFastPath` is a pure ASGI middleware in front of the router: for
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
    """Answer cache hits of the XYZ tile route without entering FastAPI."""

    def __init__(self, app, state):
        self.app = app
        self.state = state  # the FastAPI app's state: .tiles, .twin, .settings

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            hit = self._lookup(scope)
            if hit is not None:
                status, headers, body = hit
                await send({"type": "http.response.start", "status": status,
                            "headers": headers})
                await send({"type": "http.response.body",
                            "body": b"" if scope["method"] == "HEAD" else body})
                return
        await self.app(scope, receive, send)

    def _lookup(self, scope):
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        if not path.startswith("/tiles/") or not path.endswith(".mvt"):
            return None
        parts = path[7:-4].split("/")
        if len(parts) != 4 or not all(p.isdigit() and len(p) < 9 for p in parts[1:]):
            return None
        name = parts[0]
        tw = self.state.twin
        if name not in tw.layer_names:
            return None
        z, x, y = int(parts[1]), int(parts[2]), int(parts[3])
        tile = self.state.tiles.cached(self.state.tiles.key(name, z, x, y))
        if tile is None:
            return None
        inm = ae = ""
        for k, v in scope["headers"]:
            if k == b"if-none-match":
                inm = v.decode("latin-1")
            elif k == b"accept-encoding":
                ae = v.decode("latin-1")
        gz = bool(tile.data) and wants_gzip(ae)
        if gz and tile._gz is None:
            return None  # let the full path compress it once, off the event loop
        status, headers, body = tile_headers(tile, gz, self.state.settings.tile_max_age)
        if etag_matches(inm, headers[0][1].decode()):
            return 304, headers[:3], b""
        return status, headers, body
