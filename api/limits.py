"""Request-body limit: bodies over ``max_body_bytes`` answer 413, checked before reading."""

from __future__ import annotations

from .errors import problem

__all__ = ["BodyLimit"]


class BodyLimit:
    """Pure ASGI middleware: refuse a too-large Content-Length at once, and stop a chunked
    body as soon as it passes the limit (so a client cannot stream gigabytes into memory)."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for k, v in scope["headers"]:
            if k == b"content-length":
                try:
                    n = int(v)
                except ValueError:
                    return await problem(400, "Content-Length is not a number")(
                        scope, receive, send)
                if n > self.max_bytes:
                    return await self._too_large(scope, receive, send)
        seen = 0
        started = False
        over = False

        async def guarded_receive():
            nonlocal seen, over
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    # Hand the app an empty, final body; the 413 below replaces its answer.
                    return {"type": "http.request", "body": b"", "more_body": False}
            return msg

        async def guarded_send(msg):
            nonlocal started
            if over and not started:
                return  # swallow the app's answer; ours is sent after it returns
            if msg["type"] == "http.response.start":
                started = True
            await send(msg)

        await self.app(scope, guarded_receive, guarded_send)
        if over and not started:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope, receive, send):
        await problem(413, f"the request body is over the limit of {self.max_bytes} bytes: "
                      "send less (the limit is TWIN_MAX_BODY_BYTES)")(scope, receive, send)
