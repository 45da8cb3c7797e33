"""HEAD on every GET resource: answered as the GET, without the body.

RFC 9110 (9.1): "All general-purpose servers MUST support the methods GET and HEAD", and link
checkers, monitors and caches send HEAD. FastAPI routes a GET path operation for GET only
(a HEAD answered 405), and declaring HEAD on each route would give every operation a second
OpenAPI entry with the same operation id.
"""

from __future__ import annotations

__all__ = ["HeadAsGet", "NO_HEAD"]

#: Paths whose GET never ends (server-sent events): HEAD stays 405 there rather than hold a
#: connection open with nothing to send.
NO_HEAD = frozenset({"/score/stream"})


class HeadAsGet:
    """Pure ASGI middleware: run a HEAD request as its GET and send the headers only.

    The GET's ``content-length`` is kept, as RFC 9110 (9.3.2) allows, so a client learns the
    size without the bytes.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        if path in NO_HEAD:
            return await self.app(scope, receive, send)

        async def headers_only(msg):
            if msg["type"] == "http.response.body":
                if msg.get("more_body", False):
                    return  # nothing of the body goes out; the last message ends it
                msg = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(msg)

        await self.app({**scope, "method": "GET"}, receive, headers_only)
