"""The region's forecasts, computed once per data version and refitted where data changed.

A :class:`ForecastSet` holds the forecast of every series (unit x indicator) of a score, as
:func:`twin.score.forecast.forecast_score` makes them, for one *data version* of the
observations. Each series has its own version: a digest of its observed stretch (first to
last reported month) and of its indicator's definition. After an ingest only the series
whose version changed are refitted; every other series' forecast is reused as it was. A new
month reported by one unit therefore refits that unit's series, not the region's 240.

:class:`ForecastKeeper` (``tw.score.forecasts``) keeps the last complete set. It refits in
one background thread when asked to (``submit``), or when it follows the score
(``follow = True``, as the server sets it) after each ingest. Readers get the last complete
set at once, and can see which data version it belongs to.

Examples
--------
>>> # keeper = tw.score.forecasts
>>> # fs = keeper.current()            # fits what is stale, then returns the set
>>> # fs.data_version, fs.result.early_warning.head()
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from .errors import NotEnoughHistory
from .forecast import ForecastResult, forecast_score
from .observations import ObservationCube
from .registry import Registry

__all__ = ["ForecastSet", "ForecastKeeper", "ScoreSnapshot", "FIT_LOCK"]

#: One fit at a time in the process. statsmodels' warnings are recorded with
#: ``warnings.catch_warnings``, which swaps process-global state and is not thread-safe;
#: every caller of the forecasts (background refits, per-request fits) takes this lock.
FIT_LOCK = threading.Lock()

_TABLE = ["unit_id", "indicator", "month", "mean", "lower", "upper", "model"]
_KPI = ["unit_id", "indicator", "at", "kpi", "kpi_lower", "kpi_upper", "target",
        "direction", "p_miss", "misses", "model", "warnings"]


@dataclass(frozen=True)
class ScoreSnapshot:
    """What the forecasts read, copied out of a :class:`~twin.score.Score` so that no
    later ingest can change it: the registry, the units and the observation arrays.

    It stands in for the score in :func:`~twin.score.forecast.forecast_score` and
    :func:`~twin.score.forecast.backtest`.
    """

    registry: Registry
    units: tuple[str, ...]
    cube: ObservationCube

    @classmethod
    def of(cls, score) -> ScoreSnapshot:
        src = score.cube
        cube = ObservationCube(score.registry, score.units)
        cube.months = list(src.months)
        cube.month_index = dict(src.month_index)
        cube.arrays = {k: v.copy() for k, v in src.arrays.items()}
        return cls(score.registry, tuple(score.units), cube)

    @cached_property
    def left_out(self) -> tuple[str, ...]:
        """Indicators without any observation: nothing to forecast (as the score leaves
        them out of the composite)."""
        return tuple(i.id for i in self.registry.indicators
                     if not np.isfinite(self.cube.arrays[i.id]).any())

    @cached_property
    def data_version(self) -> str:
        """The observations' data version as the forecasts see it: a digest of every
        series' version (see :meth:`series_versions`)."""
        return _set_version(self.series_versions(), ())

    def series_versions(self) -> dict[tuple[str, str], str]:
        """Per (unit, indicator) a digest of what its forecast depends on.

        Only the observed stretch counts: a month column added for another unit (NaN
        here) leaves the version as it was.
        """
        months = self.cube.months
        out = {}
        for ind in self.registry.indicators:
            arr = self.cube.arrays[ind.id]
            spec = repr(ind).encode()
            for k, u in enumerate(self.units):
                row = arr[k]
                seen = np.flatnonzero(np.isfinite(row))
                h = hashlib.blake2b(spec, digest_size=8)
                if seen.size:
                    a, b = seen[0], seen[-1] + 1
                    h.update(months[a].encode())
                    h.update(np.ascontiguousarray(row[a:b]).tobytes())
                out[(u, ind.id)] = h.hexdigest()
        return out


def _set_version(versions: dict, params: tuple) -> str:
    h = hashlib.sha256(repr(params).encode())
    for key in sorted(versions):
        h.update(f"{key[0]}|{key[1]}={versions[key]};".encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class _Series:
    version: str
    table: pd.DataFrame
    kpi: pd.DataFrame


@dataclass(frozen=True)
class ForecastSet:
    """Every series' forecast for one data version of the observations.

    ``result`` is a :class:`~twin.score.forecast.ForecastResult` over every unit and
    indicator (series too short to forecast are absent, as there; an indicator without
    any observation is not fitted at all, ``left_out`` names them). ``refitted`` names the
    series fitted to make this set; the others were reused from the previous set.
    """

    data_version: str
    result: ForecastResult
    refitted: tuple[tuple[str, str], ...]
    reused: int
    seconds: float
    finished_at: float
    series: dict = field(repr=False)
    left_out: tuple[str, ...] = ()
    #: (unit, indicator) series with too short a history to forecast yet
    too_short: tuple[tuple[str, str], ...] = ()

    @property
    def n_series(self) -> int:
        return len(self.series)

    def select(self, units=None, indicators=None) -> ForecastResult:
        """The set's forecasts of these units and indicators only (default: all)."""
        res = self.result

        def pick(df: pd.DataFrame) -> pd.DataFrame:
            keep = np.ones(len(df), dtype=bool)
            if units is not None:
                keep &= df["unit_id"].isin(list(units)).to_numpy()
            if indicators is not None:
                keep &= df["indicator"].isin(list(indicators)).to_numpy()
            return df[keep].reset_index(drop=True)

        return ForecastResult(pick(res.table), pick(res.kpi), res.horizon, res.level,
                              res.seed)


class ForecastKeeper:
    """The last complete :class:`ForecastSet` of one score, and its background refits.

    Parameters
    ----------
    score : Score
        Whose observations are forecast (snapshots are taken of it).
    horizon, level, seed, repetitions
        As in :func:`~twin.score.forecast.forecast_score`.
    """

    def __init__(self, score, *, horizon: int = 6, level: float = 0.9, seed: int = 0,
                 repetitions: int = 500) -> None:
        self._score = score
        # Fixed for the keeper's life: a kept set is only valid for the parameters it
        # was fitted with.
        self._params = (horizon, level, seed, repetitions)
        #: Refit in the background after each ingest of the score.
        self.follow = False
        self._cond = threading.Condition()
        self._latest: ForecastSet | None = None
        self._pending: ScoreSnapshot | None = None
        self._worker: threading.Thread | None = None
        self._error: BaseException | None = None
        self._listeners: list[Callable[[ForecastSet], None]] = []
        self._fit = forecast_score  # seam for tests that count fits

    @property
    def params(self) -> tuple:
        """(horizon, level, seed, repetitions) of every set this keeper makes."""
        return self._params

    @property
    def horizon(self) -> int:
        return self._params[0]

    @property
    def level(self) -> float:
        return self._params[1]

    @property
    def latest(self) -> ForecastSet | None:
        """The last complete set (possibly of older data), or None before the first."""
        with self._cond:
            return self._latest

    @property
    def refitting(self) -> bool:
        with self._cond:
            return self._worker is not None

    def add_listener(self, fn: Callable[[ForecastSet], None]) -> None:
        """Call ``fn(new_set)`` (in the refitting thread) whenever a set completes."""
        with self._cond:
            self._listeners.append(fn)

    # -- computing ------------------------------------------------------------------------
    def build(self, snapshot: ScoreSnapshot, previous: ForecastSet | None = None
              ) -> ForecastSet:
        """The set for ``snapshot``: series unchanged since ``previous`` are reused, the
        rest fitted (one at a time, under :data:`FIT_LOCK`)."""
        t0 = time.perf_counter()
        horizon, level, seed, repetitions = self._params
        versions = snapshot.series_versions()
        old = previous.series if previous is not None else {}
        series, fitted = {}, []
        for ind in snapshot.registry.indicators:
            if ind.id in snapshot.left_out:
                continue
            for u in snapshot.units:
                key = (u, ind.id)
                v = versions[key]
                hit = old.get(key)
                if hit is not None and hit.version == v:
                    series[key] = hit
                    continue
                try:
                    with FIT_LOCK:
                        res = self._fit(snapshot, horizon=horizon, level=level, units=[u],
                                        indicators=[ind.id], seed=seed,
                                        repetitions=repetitions)
                    series[key] = _Series(v, res.table, res.kpi)
                except NotEnoughHistory:  # one short series must not sink the region's set
                    series[key] = _Series(v, pd.DataFrame(columns=_TABLE),
                                          pd.DataFrame(columns=_KPI))
                fitted.append(key)
        tables = [s.table for s in series.values() if len(s.table)]
        kpis = [s.kpi for s in series.values() if len(s.kpi)]
        if series and not kpis:
            # Nothing in the region can be forecast yet: say so, and how much more
            # history it needs (that fit over everything raises NotEnoughHistory at once).
            self._fit(snapshot, horizon=horizon, level=level, seed=seed,
                      repetitions=repetitions, units=list(snapshot.units),
                      indicators=sorted({k[1] for k in series}))
        table = (pd.concat(tables, ignore_index=True) if tables
                 else pd.DataFrame(columns=_TABLE))
        kpi = pd.concat(kpis, ignore_index=True) if kpis else pd.DataFrame(columns=_KPI)
        result = ForecastResult(table, kpi, horizon, level, seed)
        return ForecastSet(snapshot.data_version, result, tuple(fitted),
                           len(series) - len(fitted), time.perf_counter() - t0, time.time(),
                           series, snapshot.left_out,
                           tuple(k for k, s in series.items() if not len(s.kpi)))

    def current(self, snapshot: ScoreSnapshot | None = None) -> ForecastSet:
        """The set for ``snapshot`` (default: the score now), waiting while what is stale
        is refitted. A refit that failed raises its error here."""
        snapshot = snapshot or ScoreSnapshot.of(self._score)
        want = snapshot.data_version
        with self._cond:
            if self._latest is not None and self._latest.data_version == want:
                return self._latest
        self.submit(snapshot)
        return self.wait()  # type: ignore[return-value]  # None only on a timeout

    def submit(self, snapshot: ScoreSnapshot | None = None) -> None:
        """Refit for ``snapshot`` (default: the score now) in the background. Snapshots
        submitted while a refit runs are coalesced: only the newest is fitted next."""
        snapshot = snapshot or ScoreSnapshot.of(self._score)
        with self._cond:
            self._pending = snapshot
            self._error = None
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="forecast-refit",
                                                daemon=True)
                self._worker.start()

    def wait(self, timeout: float | None = None) -> ForecastSet | None:
        """Wait until no refit runs (or ``timeout`` s pass); return the latest set. A
        refit that failed raises its error here."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._worker is not None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            if self._error is not None:
                raise self._error
            return self._latest

    def _run(self) -> None:
        while True:
            with self._cond:
                snap, self._pending = self._pending, None
                if snap is None:
                    self._worker = None
                    self._cond.notify_all()
                    return
                previous = self._latest
            try:
                if previous is None or previous.data_version != snap.data_version:
                    self._publish(self.build(snap, previous))
            except Exception as e:  # kept for wait(); a refit must not die silently
                with self._cond:
                    self._error = e

    def _publish(self, new: ForecastSet) -> None:
        with self._cond:
            self._latest = new
            self._error = None
            listeners = list(self._listeners)
            self._cond.notify_all()
        for fn in listeners:
            fn(new)
