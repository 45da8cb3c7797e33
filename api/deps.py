"""Dependencies routers use: the served twin, the tile source, settings, write auth."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, Request

from .errors import Forbidden, Unauthorized
from .settings import Settings

__all__ = ["get_settings", "get_twin", "get_tiles", "require_token", "TwinDep", "TilesDep"]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_twin(request: Request):
    """The Twin this app serves (loaded once, in :func:`api.app.create_app`)."""
    return request.app.state.twin


def get_tiles(request: Request):
    """The app's :class:`layers.vector_tiles.TileSource` (with its tile cache)."""
    return request.app.state.tiles


def require_token(request: Request) -> str:
    """Write auth: ``Authorization: Bearer <token>`` with a token from the settings.

    With no tokens configured, writes are off and answer 403; a missing or wrong token
    answers 401. Add it to a write route with ``dependencies=[Depends(require_token)]``.
    """
    tokens: frozenset[str] = request.app.state.tokens
    if not tokens:
        raise Forbidden(
            "writes are disabled on this server: no API tokens are configured (set "
            "TWIN_API_TOKENS or TWIN_API_TOKEN_FILE and restart)"
        )
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized("this endpoint needs 'Authorization: Bearer <token>'")
    given_b = given.strip().encode()
    # compare_digest against every token, so timing does not tell which prefix matched.
    ok = False
    for t in tokens:
        ok |= hmac.compare_digest(given_b, t.encode())
    if not ok:
        raise Unauthorized("the Bearer token is not valid here: check the token you were given")
    return given.strip()


#: Route parameter types: ``def route(tw: TwinDep)``.
TwinDep = Annotated[Any, Depends(get_twin)]
TilesDep = Annotated[Any, Depends(get_tiles)]
