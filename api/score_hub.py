"""The served twin's score, shared by concurrent requests, and its live stream.

One :class:`ScoreHub` per app holds:

* a lock around ``tw.score``: an ingest rewrites the score's arrays in place, so reads and
  writes take turns (each is milliseconds; forecasts run on a snapshot, outside the lock);
* the Monte Carlo rank intervals and the audit, cached per *data version*: a digest of
  exactly what they read (the scored panel and the score's configuration), so a GET is a
  dict lookup until an ingest changes a scored value;
* the region's forecasts: the score keeps them per data version of its observations
  (``tw.score.forecasts``, :mod:`twin.score.forecast_set`); the hub turns on its background
  refits after each ingest and serves the last complete set, saying which data version it
  belongs to, from bytes encoded once per set;
* the subscribers of ``GET /score/stream``: after each ingest the new ranking is handed to
  every connected client (server-sent events), and a ``forecast`` event when a refit
  completes. A slow client gets the latest of each, never a backlog: each subscriber holds
  one slot per event, overwritten by newer ones.

Several workers may serve one twin from a shared store (PostGIS). Each read first catches
up with the store (``Twin.refresh``: one read of its change counters), so every worker
answers with the same data version after an ingest on any of them; and :meth:`follow`
listens to the store's own notifications (PostgreSQL ``LISTEN``) to hand an ingest made on
another worker to this worker's streams.

A stream ends when its client disconnects (Starlette cancels the response) or when the
server shuts down. ASGI tells an app about a shutdown only once every response has ended,
so an open stream would hold a server up forever. So the app ends its streams at the
signal that stops the server (:func:`end_streams_on_exit_signal`: SIGTERM or SIGINT, on
top of uvicorn's own handler), and every other request running then has uvicorn's public
``timeout_graceful_shutdown`` (:data:`SHUTDOWN_GRACE_S`) to finish before uvicorn cancels
it (a cancelled stream ends like a disconnected one).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

log = logging.getLogger("api")

if TYPE_CHECKING:
    from twin.score.audit import Audit
    from twin.score.forecast_set import ForecastSet
    from twin.score.uncertainty import RankUncertainty

__all__ = ["ScoreHub", "hub_of", "DRAWS", "SEED", "SHUTDOWN_GRACE_S",
           "end_streams_on_exit_signal"]

#: Monte Carlo draws and seed of the rank intervals served (a seed gives reproducible ranks).
DRAWS = 1000
SEED = 0
#: Seconds a shutting-down server gives the requests still running (the streams end at
#: once) before cancelling them: an ingest or a scenario evaluation finishes and answers.
SHUTDOWN_GRACE_S = 5.0
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


def end_streams_on_exit_signal(app) -> Callable[[], None]:
    """Make the signals that stop the server (SIGTERM, SIGINT) end the app's open score
    streams first, then do what they did (uvicorn's handler: a graceful shutdown).
    Returns what puts the handlers back. Chained through :func:`signal.signal`, where the
    server installed its own; nothing is chained in a thread other than the main one (a
    server run in a thread handles no signals)."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    chained = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        before = signal.getsignal(sig)
        if not callable(before):  # the default or ignored: not a server's handler
            continue

        def ending(signum, frame, before=before):
            hub = getattr(app.state, "score_hub", None)
            if hub is not None:
                hub.close()
            before(signum, frame)

        signal.signal(sig, ending)
        chained[sig] = (ending, before)

    def restore() -> None:
        for sig, (ending, before) in chained.items():
            if signal.getsignal(sig) is ending:
                signal.signal(sig, before)

    return restore


def _digest(score) -> str:
    """The score's data version (the score owns it); NoObservations when there is none."""
    from twin.score.errors import NoObservations

    version = score.data_version
    if not version:
        raise NoObservations(f"twin {score.twin.name!r} holds no score observations yet: "
                             "POST some to /score/observations")
    return version


def _month_before(month: str | None) -> str | None:
    if month is None:
        return None
    y, m = int(month[:4]), int(month[5:7])
    return f"{y - (m == 1)}-{12 if m == 1 else m - 1:02d}"


def _f(x) -> float | None:
    x = float(x)
    return x if x == x and abs(x) != float("inf") else None


class _Subscriber:
    """One stream's slots, per event name the latest event not yet sent, and an event to
    wake it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.wake = asyncio.Event()
        self.pending: dict[str, bytes] = {}
        self.ranking: bytes | None = None  # the data version of the last ranking handed


class ScoreHub:
    """The score of one served twin: locked access, cached uncertainty, live subscribers."""

    #: Seconds between keep-alive comments on an idle stream (proxies drop silent ones).
    keepalive_s = 15.0

    def __init__(self, tw) -> None:
        self.twin = tw
        self.lock = threading.RLock()
        self._mc: OrderedDict[str, RankUncertainty] = OrderedDict()
        self._audits: OrderedDict[tuple, Audit] = OrderedDict()
        self._forecasts: OrderedDict[tuple, Any] = OrderedDict()
        self._region_body: tuple[str, bytes] | None = None
        self._subs: set[_Subscriber] = set()
        self._closed = False
        self._published: str | None = None

    def serve(self, tw) -> None:
        """Score ``tw`` from now on (the served twin, opened again: ``api/follow.py``);
        the connected streams are handed its ranking."""
        with self.lock:
            self.twin = tw
            ranking = self._ranking_or_none()
        if ranking is not None:
            self.publish(ranking)

    def _catch_up(self) -> None:
        # Another process or worker may have ingested since: one read of the counters.
        with self.lock:
            self.twin.refresh()

    @property
    def score(self):
        with self.lock:
            self._catch_up()
            return self.twin.score

    def data_version(self) -> str | None:
        """The score's data version (as in ``GET /score``), or None when the twin holds no
        observations (or no units) to score."""
        with self.lock:
            self._catch_up()
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
            self._catch_up()
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
            as_of = s.as_of
            prev_month = _month_before(as_of)
            prev = (s.ranking_as_of(prev_month) if prev_month in s.cube.month_index
                    else None)
            refs = s.panel.reference_month
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
                # since the previous month's data (None when there is none)
                "score_change": (_f(row["score"] - prev.loc[uid, "score"])
                                 if prev is not None else None),
                "rank_change": (int(prev.loc[uid, "rank"] - row["rank"])
                                if prev is not None else None),
            })
        return {
            "twin": self.twin.name, "data_version": version,
            "as_of": as_of, "previous_month": prev_month if prev is not None else None,
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
                            "unit": i.unit, "direction": i.direction, "kind": i.kind,
                            "target": i.target_text(),
                            "bounds": [i.lower_bound, i.upper_bound],
                            "reference_month": refs[i.id]}
                           for i in reg.indicators],
            "units": units,
        }

    def audit(self, treat: bool) -> tuple[str, Audit]:
        """The audit of the scored panel (see :mod:`twin.score.audit`), cached per data
        version; with its data version."""
        with self.lock:
            self._catch_up()
            s = self.twin.score
            version = _digest(s)
            key = (version, treat)
            hit = self._audits.get(key)
            if hit is None:
                hit = self._audits[key] = s.audit(treat=treat)
                while len(self._audits) > 4:
                    self._audits.popitem(last=False)
        return version, hit

    def forecast(self, key: tuple, compute) -> tuple[str, Any]:
        """``compute(snapshot)`` for a request the kept set cannot answer (another horizon
        or level, a backtest), cached per observations version and ``key``; with that
        version."""
        from twin.score.forecast_set import FIT_LOCK

        with self.lock:
            snap = self.twin.score.snapshot()
        full = (snap.data_version, *key)
        hit = self._forecasts.get(full)  # a cached answer never waits behind a fit
        if hit is None:
            # One fit at a time in the process (see FIT_LOCK); a second identical request
            # then finds the first one's result.
            with FIT_LOCK:
                hit = self._forecasts.get(full)
                if hit is None:
                    hit = self._forecasts[full] = compute(snap)
                    while len(self._forecasts) > 32:
                        self._forecasts.popitem(last=False)
        return snap.data_version, hit

    def region_forecast(self) -> tuple[ForecastSet, str, bool]:
        """The last complete set of the region's forecasts, the observations' data version
        now, and whether a refit is running. The first call fits every series (and waits
        for it); from then on each ingest refits its series in the background."""
        with self.lock:
            s = self.twin.score
            s.require_observations()
            snap = s.snapshot()
            keeper = self._follow(s)
        latest = keeper.latest
        if latest is None:
            latest = keeper.current(snap)
        elif latest.data_version != snap.data_version and not keeper.refitting:
            keeper.submit(snap)  # e.g. observations that came before the hub followed
        return latest, snap.data_version, keeper.refitting

    def warm_forecasts(self) -> bool:
        """Start fitting the region's forecasts in the background (``twin serve`` does at
        startup, so the first visitor does not wait); False when there is nothing to fit."""
        from twin.errors import TwinError

        with self.lock:
            try:
                s = self.twin.score
                s.require_observations()
            except (TwinError, LookupError):  # no units or no observations: nothing to fit
                return False
            self._follow(s).submit(s.snapshot())
        return True

    def _follow(self, score):
        # From the first use on, every ingest refits its series in the background, and
        # each completed set is announced on the stream.
        # Per keeper, not per hub: a Score rebuilt after another worker's ingest (or a change
        # of districts) brings a new keeper, which must follow and announce as well.
        keeper = score.forecasts
        if not keeper.follow:
            keeper.follow = True
            keeper.add_listener(self._on_forecast)
        return keeper

    def region_body(self, fs: ForecastSet, fragment) -> bytes:
        """``fragment(fs)`` (the answer's heavy part) encoded once per set."""
        cached = self._region_body
        if cached is None or cached[0] != fs.data_version:
            cached = self._region_body = (fs.data_version, orjson.dumps(
                fragment(fs), option=orjson.OPT_SERIALIZE_NUMPY))
        return cached[1]

    def _on_forecast(self, fs: ForecastSet) -> None:
        # In the refitting thread: tell every stream that a new set is complete.
        self.publish_event("forecast", fs.data_version, {
            "data_version": fs.data_version, "series": fs.n_series,
            "refitted": len(fs.refitted), "reused": fs.reused,
            "seconds": round(fs.seconds, 3)})

    # -- writing --------------------------------------------------------------------------
    def ingest(self, records: list[dict], upsert: bool):
        """Ingest (all or nothing, durable before acknowledged); return the report and the
        new ranking (None when there is still nothing to rank)."""
        with self.lock:
            self._catch_up()
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
        self._published = ranking["data_version"]
        return self._hand("ranking", self.event(ranking), ranking["data_version"].encode())

    def publish_event(self, name: str, event_id: str, body: dict) -> int:
        """Hand another kind of event (e.g. ``forecast``) to every subscriber."""
        return self._hand(name, b"event: " + name.encode() + b"\nid: " + event_id.encode()
                          + b"\ndata: " + orjson.dumps(body) + b"\n\n")

    def _hand(self, name: str, data: bytes, ranking: bytes | None = None) -> int:
        subs = list(self._subs)
        for sub in subs:
            if ranking is not None:
                if sub.ranking == ranking:  # it has this one already
                    continue
                sub.ranking = ranking
            sub.pending[name] = data
            try:
                sub.loop.call_soon_threadsafe(sub.wake.set)
            except RuntimeError:  # its loop has closed: the stream is gone
                self._subs.discard(sub)
        return len(subs)

    async def follow(self, changes) -> None:
        """Publish the rankings that other workers' ingests make: ``changes`` is the
        store's async iterator of committed writes (``PostgisStore.changes``, fed by
        ``LISTEN``). Runs until cancelled; a lost connection is opened again."""
        from twin.errors import StoreUnavailable
        from twin.score.observations import TABLE
        from twin.store.postgis import LISTENING

        while not self._closed:
            try:
                async for table, _ in changes():
                    # LISTENING: (re)connected; an ingest while the connection was down
                    # sent its notice to nobody, so look once whether one came.
                    if table not in (TABLE, LISTENING) or not self._subs:
                        continue
                    ranking = await asyncio.to_thread(self._ranking_or_none)
                    # The version decides, not whether this worker had already caught up:
                    # a GET may have read the new observations before the notice came.
                    if ranking is not None and (table == LISTENING or
                                                ranking["data_version"] != self._published):
                        self.publish(ranking)
            except asyncio.CancelledError:
                raise
            except StoreUnavailable as e:  # the database went away: listen again shortly
                log.warning("store change notifications interrupted (%s); listening "
                            "again in 1 s", e)
                await asyncio.sleep(1.0)
            except Exception:
                log.warning("lost the store's change notifications; listening again",
                            exc_info=True)
                await asyncio.sleep(1.0)

    def _ranking_or_none(self) -> dict | None:
        try:
            return self.ranking()
        except LookupError:  # NoObservations
            return None

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

    async def stream(self, current):
        """The event stream of one client: the current ranking (``await current()``, bytes
        or None), then each new ranking, with keep-alive comments while idle; ends at
        disconnect or shutdown."""
        sub = _Subscriber(asyncio.get_running_loop())
        # Subscribe before reading the current ranking, so an ingest in between is not lost
        # (at worst the client gets the same ranking twice).
        self._subs.add(sub)
        try:
            first = await current()
            if first and sub.ranking is None:
                sub.ranking = first.partition(b"\nid: ")[2].partition(b"\n")[0] or None
            # retry: how long a browser's EventSource waits before reconnecting.
            yield b"retry: 3000\n\n" + (first or b"")
            while not self._closed:
                try:
                    await asyncio.wait_for(sub.wake.wait(), self.keepalive_s)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                sub.wake.clear()
                data = b"".join(sub.pending.pop(k) for k in list(sub.pending))
                if data and not self._closed:
                    yield data
        finally:
            self._subs.discard(sub)
