"""The app factory: ``create_app(settings)`` builds the FastAPI app serving one twin.

One router per resource lives in ``api/routers``; exceptions map to statuses in
``api/errors.py``. Middlewares are pure ASGI and wrap the app from outside in:
CORS (when configured) → body limit → tile fast path → FastAPI's routing.

Examples
--------
>>> # from api.app import create_app; from api.settings import Settings
>>> # app = create_app(Settings(twin_path="akmola.gpkg"))
"""

from __future__ import annotations

from fastapi import FastAPI

from layers.vector_tiles import TileSource

from . import errors
from .fastpath import TileFastPath
from .limits import BodyLimit
from .routers import features, landing, map, plan, raster, scenarios, score, tiles
from .settings import Settings

__all__ = ["create_app"]


def _load_twin(settings: Settings):
    import twin

    if settings.twin_path is None:
        return twin.load_default()
    return twin.Twin.open(settings.twin_path)


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
    app = FastAPI(
        title=f"{tw.name} digital twin API",
        version=str(tw.version),
        description="OGC API Features and Tiles, TileJSON 3.0.0 and MVT vector tiles of "
                    "the twin's layers. Errors are application/problem+json.",
    )
    app.state.settings = settings
    app.state.twin = tw
    app.state.tokens = settings.tokens()
    app.state.tiles = TileSource(tw, cache_bytes=settings.tile_cache_bytes)
    app.state.extent_cache = {}

    errors.install(app)
    for r in (landing.router, features.router, tiles.router):
        app.include_router(r)
    app.include_router(raster.router)
    app.include_router(map.router)
    app.include_router(plan.router)
    app.include_router(score.router)
    app.include_router(scenarios.router)

    # add_middleware puts each new one outside the previous: the fast path runs last.
    if settings.tile_fast_path:
        app.add_middleware(TileFastPath, state=app.state)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match"],
            expose_headers=["ETag", "Content-Encoding"], max_age=600,
        )
    return app
