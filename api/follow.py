"""Serving what is stored now after the twin was replaced whole under the server.

A planner keeps ``twin serve`` running while a notebook saves the whole twin over the same
file (``tw.save(path)``), ``twin build --force`` rebuilds it, or ``twin push`` copies
another twin in. The served :class:`twin.Twin` opened the old one: the layers it had read
are the old save's, and the ones it had not read refuse to be read from the new save
(:meth:`twin.Twin.replaced`), since mixed they would make a map no save ever held.

So before a request, at most once every :data:`CHECK_EVERY_S` seconds, the server asks its
twin whether its store was replaced (one ``stat`` of a file) and, if so, opens the twin
again and serves that: a new tile source, extents and OpenAPI document, and the score
hub's twin swapped in place so that the streams connected keep streaming. Everything else
it serves is keyed on data versions, which the new twin's layers and tables carry. A
request already running finishes on the twin it started with.
"""

from __future__ import annotations

import asyncio
import logging
import time

from layers.vector_tiles import TileSource

__all__ = ["Follower", "serve_twin", "CHECK_EVERY_S"]

log = logging.getLogger("api")

#: How often, at most, a request checks whether the served twin's store was replaced.
CHECK_EVERY_S = 1.0


def serve_twin(app, tw) -> None:
    """Make ``tw`` the twin that ``app`` serves, with the state built from it."""
    state = app.state
    state.twin = tw
    state.tiles = TileSource(tw, cache_bytes=state.settings.tile_cache_bytes)
    state.extent_cache = {}
    app.openapi_schema = None  # its queryables are the twin's columns
    hub = getattr(state, "score_hub", None)
    if hub is not None:
        hub.serve(tw)


class Follower:
    """The check made before requests (see the module notes)."""

    def __init__(self, app) -> None:
        self.app = app
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def check(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + CHECK_EVERY_S
        tw = self.app.state.twin
        try:
            # Off the event loop: for a PostGIS twin it is a query (one stat for a file),
            # which waits for a connection while the database restarts.
            if not await asyncio.to_thread(tw.replaced):
                return
        except Exception:  # noqa: BLE001 - a store away (a database restarting) is no answer
            log.debug("cannot tell whether %s was replaced", tw.store.describe(),
                      exc_info=True)
            return
        async with self._lock:  # one reopening, however many requests noticed
            if self.app.state.twin is not tw:
                return
            from twin import Twin

            # Off the event loop: opening reads the metadata and the attribute tables,
            # and the streams are handed the new twin's ranking.
            try:
                await asyncio.to_thread(lambda: serve_twin(self.app, Twin.open(tw.store)))
            except Exception:  # noqa: BLE001 - kept serving what it had; tried again later
                log.warning("%s was replaced whole, but opening it again failed: still "
                            "serving what was read before", tw.store.describe(),
                            exc_info=True)
                return
            log.warning("%s was replaced whole since the server opened it: serving what "
                        "is stored now", tw.store.describe())
