"""The served twin's score, shared by concurrent requests, and its live stream.

One :class:`ScoreHub` per app holds:

* a lock around ``tw.score``: an ingest rewrites the score's arrays in place, so reads and
  writes take turns (each is milliseconds; forecasts run on a snapshot, outside the lock);
* the Monte Carlo rank intervals, cached per *data version*: a digest of exactly what the
  simulation reads (the scored panel and the score's configuration), so a GET is a dict
  lookup until an ingest changes a scored value;
* the subscribers of ``GET /score/stream``: after each ingest the new ranking is handed to
  every connected client (server-sent events). A slow client gets the latest ranking, never
  a backlog: each subscriber holds one slot, overwritten by newer rankings.

A stream ends when its client disconnects (Starlette cancels the response) or when the
server shuts down. uvicorn does not tell an app about a shutdown until every response has
ended (it only marks connections not-keep-alive, then waits for them), so a stream left
waiting would hold the server up forever. Each stream therefore checks, a few times a
second, the ``should_exit`` flag of the uvicorn server running its event loop.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import threading
import time
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from twin.score.uncertainty import RankUncertainty

__all__ = ["ScoreHub", "hub_of", "DRAWS", "SEED"]

#: Monte Carlo draws and seed of the rank intervals served (a seed gives reproducible ranks).
DRAWS = 1000
SEED = 0
_create = threading.Lock()


def hub_of(app) -> ScoreHub:
    """The app's hub, made on first use."""
    hub = getattr(app.state, "score_hub", None)
    if hub is None:
        with _create:
            hub = getattr(app.state, "score_hub", None)
            if hub is None:
                hub = app.state.score_hub = ScoreHub(app.state.twin)
    return hub


def _digest(score) -> str:
    """The score's data version (the score owns it); NoObservations when there is none."""
    from twin.score.errors import NoObservations

    version = score.data_version
    if not version:
        raise NoObservations(f"twin {score.twin.name!r} holds no score observations yet: "
                             "POST some to /score/observations")
    return version


def _f(x) -> float | None:
    x = float(x)
    return x if x == x and abs(x) != float("inf") else None


class _Subscriber:
    """One stream's slot: the latest ranking not yet sent, and an event to wake it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.wake = asyncio.Event()
        self.latest: bytes | None = None


class ScoreHub:
    """The score of one served twin: locked access, cached uncertainty, live subscribers."""

    #: Seconds between keep-alive comments on an idle stream (proxies drop silent ones).
    keepalive_s = 15.0
    #: Seconds between a stream's checks for a server shutdown.
    poll_s = 0.25

    def __init__(self, tw) -> None:
        self.twin = tw
        self.lock = threading.RLock()
        self._forecasting = threading.Lock()
        self._mc: OrderedDict[str, RankUncertainty] = OrderedDict()
        self._forecasts: OrderedDict[tuple, Any] = OrderedDict()
        self._subs: set[_Subscriber] = set()
        self._closed = False
        self._servers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @property
    def score(self):
        with self.lock:
            return self.twin.score

    def data_version(self) -> str | None:
        """The score's data version (as in ``GET /score``), or None when the twin holds no
        observations (or no units) to score."""
        with self.lock:
            if "districts" not in self.twin:
                return None
            try:
                return _digest(self.twin.score)
            except LookupError:  # NoObservations
                return None

    # -- reading --------------------------------------------------------------------------
    def ranking(self) -> dict:
        """The current ranking with dimension sub-scores and Monte Carlo rank intervals."""
        with self.lock:
            s = self.twin.score
            version = _digest(s)
            mc = self._mc.get(version)
            if mc is None:
                mc = s.uncertainty(n=DRAWS, seed=SEED)
                self._mc[version] = mc
                while len(self._mc) > 4:
                    self._mc.popitem(last=False)
            r = s.ranking()
            region = s.region_score
            reg, cfg, left_out = s.registry, s.config, s.left_out
        ranks = mc.ranks
        dims = list(reg.dimension_ids)
        units = []
        for uid, row in r.iterrows():
            m = ranks.loc[uid]
            units.append({
                "unit_id": str(uid), "name": str(row["name"]), "rank": int(row["rank"]),
                "score": _f(row["score"]),
                "dimensions": {d: _f(row[d]) for d in dims},
                "n_imputed": int(row["n_imputed"]),
                "median_rank": int(m["median_rank"]),
                "rank_interval": [int(m["rank_p05"]), int(m["rank_p95"])],
                "score_interval": [_f(m["score_p05"]), _f(m["score_p95"])],
            })
        return {
            "twin": self.twin.name, "data_version": version,
            "region_score": _f(region),
            "method": {
                "normalisation": cfg.normalisation, "aggregation": cfg.aggregation,
                "weights": dict(cfg.weights), "dimension_weights": dict(cfg.dimension_weights),
                "uncertainty": {"draws": mc.n, "seed": mc.seed,
                                "weight_spread": mc.weight_spread,
                                "interval": [0.05, 0.95]},
            },
            "dimensions": [{"id": d.id, "name": d.name} for d in reg.dimensions],
            # indicators with no observation weigh 0 in the composite: say which
            "left_out": list(left_out),
            # what a client needs to post an observation: ids, units, valid ranges
            "indicators": [{"id": i.id, "name": i.name, "dimension": i.dimension,
                            "unit": i.unit, "direction": i.direction,
                            "bounds": [i.lower_bound, i.upper_bound]}
                           for i in reg.indicators],
            "units": units,
        }

    def snapshot(self):
        """A copy of the score whose observations no later ingest can change, for work too
        long to hold the lock through (forecasts). Only the observation arrays are copied:
        the forecast reads nothing else that an ingest rewrites."""
        with self.lock:
            s = self.twin.score
            snap = copy.copy(s)
            cube = copy.copy(s.cube)
            cube.arrays = {k: v.copy() for k, v in s.cube.arrays.items()}
            cube.months = list(s.cube.months)
            cube.month_index = dict(s.cube.month_index)
            snap.cube = cube
        h = hashlib.sha256(repr(cube.months).encode())
        for k in sorted(cube.arrays):
            h.update(k.encode())
            h.update(cube.arrays[k].tobytes())
        return snap, h.hexdigest()[:16]

    def forecast(self, key: tuple, compute):
        """``compute(snapshot)``, cached per observations version and ``key``."""
        snap, version = self.snapshot()
        full = (version, *key)
        # One forecast at a time: the fits are CPU-bound, statsmodels' warnings are caught
        # with warnings.catch_warnings (process-global, not thread-safe), and a second
        # identical request then finds the first one's result.
        with self._forecasting:
            hit = self._forecasts.get(full)
            if hit is None:
                hit = self._forecasts[full] = compute(snap)
                while len(self._forecasts) > 32:
                    self._forecasts.popitem(last=False)
        return hit

    # -- writing --------------------------------------------------------------------------
    def ingest(self, records: list[dict], upsert: bool):
        """Ingest (all or nothing, durable before acknowledged); return the report and the
        new ranking (None when there is still nothing to rank)."""
        with self.lock:
            report = self.twin.score.ingest(records, upsert=upsert)
            try:
                ranking = self.ranking()
            except LookupError:  # NoObservations: nothing scored yet
                ranking = None
        return report, ranking

    # -- streaming ------------------------------------------------------------------------
    @staticmethod
    def event(ranking: dict) -> bytes:
        """A ranking as one server-sent event (``id`` is its data version)."""
        return (b"event: ranking\nid: " + ranking["data_version"].encode() + b"\ndata: "
                + orjson.dumps(ranking) + b"\n\n")

    def publish(self, ranking: dict) -> int:
        """Hand a new ranking to every subscriber (callable from any thread); returns how
        many were woken."""
        data = self.event(ranking)
        subs = list(self._subs)
        for sub in subs:
            sub.latest = data
            try:
                sub.loop.call_soon_threadsafe(sub.wake.set)
            except RuntimeError:  # its loop has closed: the stream is gone
                self._subs.discard(sub)
        return len(subs)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def close(self) -> None:
        """End every stream (and refuse to keep new ones open)."""
        self._closed = True
        for sub in list(self._subs):
            try:
                sub.loop.call_soon_threadsafe(sub.wake.set)
            except RuntimeError:
                pass

    def _server(self):
        # The uvicorn Server whose serve() drives this loop: its main task's coroutine.
        loop = asyncio.get_running_loop()
        if loop in self._servers:
            return self._servers[loop]()
        server = None
        try:
            import uvicorn

            for task in asyncio.all_tasks(loop):
                frame = getattr(task.get_coro(), "cr_frame", None)
                cand = frame.f_locals.get("self") if frame is not None else None
                if isinstance(cand, uvicorn.Server):
                    server = cand
                    break
        except ImportError:  # pragma: no cover - served by another ASGI server
            pass
        self._servers[loop] = (weakref.ref(server) if server is not None
                               else (lambda: None))
        return server

    def _stopping(self, server) -> bool:
        return self._closed or (server is not None and bool(server.should_exit))

    async def stream(self, current):
        """The event stream of one client: the current ranking (``await current()``, bytes
        or None), then each new ranking, with keep-alive comments while idle; ends at
        disconnect or shutdown."""
        sub = _Subscriber(asyncio.get_running_loop())
        # Subscribe before reading the current ranking, so an ingest in between is not lost
        # (at worst the client gets the same ranking twice).
        self._subs.add(sub)
        try:
            server = self._server()
            first = await current()
            # retry: how long a browser's EventSource waits before reconnecting.
            yield b"retry: 3000\n\n" + (first or b"")
            last = time.monotonic()
            while not self._stopping(server):
                try:
                    await asyncio.wait_for(sub.wake.wait(), self.poll_s)
                except TimeoutError:
                    if time.monotonic() - last >= self.keepalive_s:
                        last = time.monotonic()
                        yield b": keep-alive\n\n"
                    continue
                sub.wake.clear()
                data, sub.latest = sub.latest, None
                if data is not None and not self._stopping(server):
                    last = time.monotonic()
                    yield data
        finally:
            self._subs.discard(sub)
