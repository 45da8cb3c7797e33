"""The warm-up a deployment asks for (``TWIN_WARM``), run beside serving, and /ready.

The server answers /health, the landing page and /collections from the start: the twin's
layers are read when first needed (twin/lazy.py). A deployment that wants the first users
not to pay for that says what to prepare, and routes traffic once /ready answers 200.
The work runs in one background thread, so that it never holds up the event loop.
"""

from __future__ import annotations

import gc
import logging
import threading
import time

__all__ = ["Warmup"]

log = logging.getLogger("api")


class Warmup:
    """Prepare what ``steps`` name for every layer of ``tw``: "tiles" (each raster unpacked,
    opened in ``rasters`` and its zoom-0 tile drawn, first, as that takes milliseconds;
    then the vector-tile indexes), "layers" (read into memory)."""

    def __init__(self, tw, tiles, steps, *, gc_freeze: bool, rasters) -> None:
        self.tw, self.tiles, self.rasters, self.gc_freeze = tw, tiles, rasters, gc_freeze
        self.steps = tuple(s for s in dict.fromkeys(steps) if s != "none")
        self.done = threading.Event()
        self.error: str | None = None
        self.progress = "not started"
        self.seconds: float | None = None
        if not self.steps and not gc_freeze:
            self.seconds, self.progress = 0.0, "done"
            self.done.set()

    def start(self) -> None:
        if self.done.is_set():
            return
        threading.Thread(target=self._run, name="twin-warmup", daemon=True).start()

    def _rasters(self) -> None:
        from twin.raster import get_raster, list_rasters

        for info in list_rasters(self.tw):
            self.progress = f"tiles: raster {info.name!r}"
            # Unpacked from the twin's store once per raster version (twin/raster/storage.py),
            # opened and kept open for the requests' threads.
            self.rasters.prepare(get_raster(self.tw, info.name))

    def _run(self) -> None:
        t0 = time.perf_counter()
        try:
            for step in self.steps:
                if step == "tiles":
                    self._rasters()
                for name in self.tw.layer_names:
                    self.progress = f"{step}: layer {name!r}"
                    if step == "tiles":
                        self.tiles.prepared(name)
                    else:
                        self.tw.layer(name)
            if self.gc_freeze:
                # What the warm-up made lives as long as the server: millions of objects
                # for a large twin. Each full collection would walk them all and stall
                # every request (bench/tiles.py measured it, docs/tiles.md); frozen, they
                # are out of its reach. No gc.collect() here: the lifespan collected
                # before serving, and a full collection forced from this thread while
                # requests build their pydantic models is a risk not worth taking.
                gc.freeze()
        except Exception as e:  # a warm-up failure must not stop a live server
            log.exception("warm-up failed")
            self.error = f"{type(e).__name__}: {e}"
        self.seconds = round(time.perf_counter() - t0, 3)
        self.progress = "done"
        self.done.set()
