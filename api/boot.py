"""Answering /health while the server is still starting (``twin serve``).

Importing the full app takes most of a server's start: pandas, geopandas, pyproj, FastAPI
and every router come to ~2 s of CPU before the first request could be answered. A
process manager or load balancer that polls /health for liveness need not wait for that.
:class:`BootApp` is the ASGI app uvicorn binds at once: it builds the full app in a
thread, answers ``GET /health`` from the twin file's metadata meanwhile (the same answer
the full app gives), and holds every other request until the full app is ready, then
passes it on. Once built, it is a pass-through (and the full app runs its own lifespan).

This module imports nothing heavy: only the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["BootApp", "file_health", "meta_health"]

log = logging.getLogger("api")


def file_health(path: str | os.PathLike) -> dict | None:
    """What /health says of the twin file at ``path`` (its name, version and number of
    layers), read from its metadata table alone; None when that cannot be read (the full
    app then answers, or says what is wrong)."""
    path = Path(path)
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = dict(conn.execute(
                "SELECT key, value FROM twin_meta WHERE key IN "
                "('name', 'version', 'layer_order')").fetchall())
        finally:
            conn.close()
        meta = {k: json.loads(v) for k, v in rows.items()}
    except (sqlite3.Error, ValueError, TypeError):
        return None
    return meta_health(meta, path.stem)


def meta_health(meta: dict, name: str) -> dict | None:
    """What /health says of a twin whose metadata is ``meta`` (``name`` when it names none),
    as the full app says it; None when the metadata lists no layers."""
    if not isinstance(meta.get("layer_order"), list):
        return None
    return {"status": "ok", "twin": meta.get("name", name),
            "version": meta.get("version", "0"), "layers": len(meta["layer_order"])}


class BootApp:
    """An ASGI app that answers /health while ``build()`` makes the full app in a thread.

    ``health`` is the /health answer until then (None: /health waits too). When the build
    fails, ``on_failure(error)`` is called (``twin serve`` stops the server and reports
    it) and held requests are dropped.
    """

    def __init__(self, build: Callable[[], Any], health: dict | None,
                 on_failure: Callable[[BaseException], None]) -> None:
        self.build, self.on_failure = build, on_failure
        self._health = None if health is None else \
            json.dumps(health, separators=(",", ":")).encode()
        #: The full app once built (api/fastpath.py finds its fast path through ``.app``).
        self.app: Any = None
        self.error: BaseException | None = None
        self._ready: asyncio.Event | None = None
        self._inner: tuple[asyncio.Queue, asyncio.Queue, asyncio.Task] | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if self.app is None:
            if (self._health is not None and scope["type"] == "http"
                    and scope["path"] == "/health" and scope["method"] == "GET"):
                await self._answer_health(send)
                return
            if self._ready is not None:
                await self._ready.wait()
            if self.app is None:  # the build failed: the server is stopping
                return
        await self.app(scope, receive, send)

    async def _answer_health(self, send) -> None:
        body = self._health or b""
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})

    # -- lifespan: ours starts at once; the full app's once it is built -------------------
    async def _lifespan(self, scope, receive, send) -> None:
        self._ready = asyncio.Event()
        starting = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                starting = asyncio.create_task(self._start(scope))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if starting is not None and not starting.done():
                    starting.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await starting
                await self._stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _start(self, scope) -> None:
        assert self._ready is not None
        try:
            app = await asyncio.get_running_loop().run_in_executor(None, self.build)
            await self._start_inner(app, scope)
        except asyncio.CancelledError:
            self._ready.set()
            raise
        except Exception as e:  # the server cannot serve: say why, and stop it
            self.error = e
            self._ready.set()
            self.on_failure(e)
            return
        self.app = app
        self._ready.set()

    async def _start_inner(self, app, scope) -> None:
        to_app: asyncio.Queue = asyncio.Queue()
        from_app: asyncio.Queue = asyncio.Queue()
        # The same lifespan state uvicorn gave this app: it copies it into every request.
        inner_scope = {"type": "lifespan", "asgi": scope.get("asgi", {"version": "3.0"}),
                       "state": scope.get("state", {})}
        task = asyncio.create_task(app(inner_scope, to_app.get, from_app.put))
        self._inner = (to_app, from_app, task)
        await to_app.put({"type": "lifespan.startup"})
        message = await from_app.get()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(message.get("message") or "the app's startup failed")

    async def _stop(self) -> None:
        if self._inner is None:
            return
        to_app, from_app, task = self._inner
        await to_app.put({"type": "lifespan.shutdown"})
        await from_app.get()
        with contextlib.suppress(asyncio.CancelledError):
            await task
