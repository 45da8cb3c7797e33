"""The app factory: ``create_app(settings)`` builds the FastAPI app serving one twin.

One router per resource lives in ``api/routers``; exceptions map to statuses in
``api/errors.py``. In front of everything, :class:`TwinAPI` applies a trusted proxy's
forwarded headers (``api/proxy.py``) and answers cached tiles (``api/fastpath.py``); then
pure ASGI middlewares, from outside in: CORS (when configured) → Vary and Cache-Control of
link documents (``api/urls.py``) → body limit → HEAD as GET (``api/head.py``) → FastAPI's
routing.

Examples
--------
>>> # from api.app import create_app; from api.settings import Settings
>>> # app = create_app(Settings(twin_path="akmola.gpkg"))
"""

from __future__ import annotations

import asyncio
import contextlib
import gc

from fastapi import FastAPI

from layers.raster_tiles import RasterTileSource

from . import errors
from .fastpath import TileFastPath
from .follow import Follower, serve_twin
from .head import HeadAsGet
from .limits import BodyLimit
from .proxy import TrustedProxies, resolve
from .routers import dashboard, features, landing, map, plan, raster, scenarios, score, tiles
from .score_hub import end_streams_on_exit_signal, hub_of
from .settings import Settings
from .urls import LinkHeaders
from .warmup import Warmup

__all__ = ["create_app", "TwinAPI"]


def _load_twin(settings: Settings):
    import twin

    if settings.twin_path is None:
        return twin.load_default()
    return twin.Twin.open(settings.twin_path)


class TwinAPI(FastAPI):
    """FastAPI with the tile fast path in front of Starlette's middleware stack.

    A warm tile is a dict lookup; every ASGI layer it passes costs more than that, so cache
    hits are answered here, before any of them (docs/tiles.md has the numbers). A trusted
    proxy's headers are applied before that, on the server's own scope, so that the
    server's access log names the client for every request, tiles included.
    """

    fast_path: TileFastPath | None = None
    proxies: TrustedProxies | None = None
    forwarded_family: str = "x-forwarded"
    follower: Follower | None = None

    async def __call__(self, scope, receive, send) -> None:
        if self.proxies:
            resolve(scope, self.proxies, self.forwarded_family)
        if self.follower is not None and scope["type"] == "http":
            await self.follower.check()
        fp = self.fast_path
        if fp is not None and await fp(scope, send):
            return
        await super().__call__(scope, receive, send)


async def _route_once(app) -> None:
    """Route one request for a path no route answers through the app, before serving.
    FastAPI builds an included router's routes on the first request that reaches it:
    ~30 ms of CPU that a server's first raster tile paid (bench/raster.py), up to ~60 ms
    for a request to the last router."""
    path = "/.well-known/twin-startup"
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": [],
             "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 80), "state": {}}

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message) -> None:
        pass

    await app(scope, receive, send)


def _lifespan(settings: Settings):
    @contextlib.asynccontextmanager
    async def lifespan(app):
        # Nothing is read or hashed here: /health answers at once, layers load when first
        # needed, and the warm-up (TWIN_WARM) runs beside serving until /ready says done.
        if settings.gc_freeze:
            gc.collect()  # once, before serving; the warm-up freezes what it made
            gc.freeze()
        await _route_once(app)
        app.state.warmup.start()
        if settings.forecast_on_start:
            hub_of(app).warm_forecasts()
        tw = app.state.twin
        follow = None
        changes = getattr(tw.store, "changes", None)
        if changes is not None:  # a shared store: hear the other workers' ingests
            follow = asyncio.create_task(hub_of(app).follow(changes))
        restore_signals = end_streams_on_exit_signal(app)
        try:
            yield
        finally:
            restore_signals()
            if follow is not None:
                follow.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follow

    return lifespan


def create_app(settings: Settings | None = None, *, twin=None) -> FastAPI:
    """Build the API for one twin.

    Parameters
    ----------
    settings : Settings, optional
        Defaults to ``Settings()``, i.e. the ``TWIN_*`` environment.
    twin : twin.Twin, optional
        Serve this in-memory twin instead of opening ``settings.twin_path`` (for tests and
        notebooks).
    """
    settings = settings or Settings()
    tw = twin if twin is not None else _load_twin(settings)
    app = TwinAPI(
        lifespan=_lifespan(settings),
        title=f"{tw.name} digital twin API",
        version=str(tw.version),
        description="OGC API Features and Tiles, TileJSON 3.0.0 and MVT vector tiles of "
                    "the twin's layers. Errors are application/problem+json.",
    )
    app.state.settings = settings
    app.state.tokens = settings.tokens()
    serve_twin(app, tw)
    app.follower = Follower(app)
    # Not rebuilt when the twin is served anew: its readers and tiles are keyed by each
    # raster's file version, which names its files.
    app.state.raster_tiles = RasterTileSource()
    app.state.warmup = Warmup(tw, app.state.tiles, settings.warm, gc_freeze=settings.gc_freeze,
                              rasters=app.state.raster_tiles)

    errors.install(app)
    for r in (landing.router, features.router, tiles.router):
        app.include_router(r)
    app.include_router(raster.router)
    app.include_router(map.router)
    app.include_router(dashboard.router)
    app.include_router(plan.router)
    app.include_router(score.router)
    app.include_router(scenarios.router)

    app.proxies = TrustedProxies(settings.trusted_proxies)
    app.forwarded_family = settings.forwarded_headers

    plain_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = features.describe_for_clients(
                plain_openapi(), app.state.twin, settings.max_page_size)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way

    if settings.tile_fast_path:
        app.fast_path = TileFastPath(app.state, cors=bool(settings.cors_origins))
    app.add_middleware(HeadAsGet)  # innermost: HEAD reaches every GET route
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(LinkHeaders, vary=not settings.public_url,
                       max_age=settings.doc_max_age)
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"],
            # If-Match: a scenario PATCH needs it (428 without), so a browser must be
            # allowed to send it; Location names what a POST created.
            allow_headers=["Authorization", "Content-Type", "If-None-Match", "If-Match"],
            expose_headers=["ETag", "Content-Encoding", "Location"], max_age=600,
        )
    return app
