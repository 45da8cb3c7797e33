"""The live score of a twin: observations in, scores and ranks out, updated incrementally.

:class:`Score` is the one stateful object of the score (``tw.score``). It keeps the
observations as arrays, the panel column, target and normalised column of every indicator,
and the aggregates. :meth:`Score.ingest` validates new observations, commits them to the twin
file in one SQLite transaction, and only then recomputes what they touch: each affected
indicator's panel column and normalisation, then the aggregates (a few hundred numbers).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import store
from .composite import (
    ScoreConfig,
    ScoreTable,
    WeightsEvaluation,
    _table,
    aggregate,
    dimension_groups,
    evaluate_weights,
    normalise,
    rank,
    resolve_weights,
)
from .errors import DuplicateObservation, NoObservations, NotPersisted
from .observations import COLUMNS, TABLE, ObservationCube, validate
from .panel import ScorePanel, indicator_column
from .registry import Registry, load_registry

__all__ = ["Score", "IngestReport"]


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did: rows added and replaced, indicators recomputed."""

    added: int
    replaced: int
    indicators: tuple[str, ...]
    persisted: bool


def _canonical(table: pd.DataFrame | None) -> pd.DataFrame:
    if table is None or table.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            COLUMNS, ["str", "str", "str", "float", "str", "str", "bool"], strict=True)})
    t = table[COLUMNS].copy()
    # SQLite has no boolean: the flag comes back as 0/1.
    t["synthetic"] = t["synthetic"].astype(bool)
    t["value"] = t["value"].astype(float)
    # Plain object columns: a live upsert overwrites one cell in place, whereas pandas'
    # Arrow-backed strings are immutable and would copy the whole column per cell.
    for c in ("unit_id", "indicator", "month", "unit", "source"):
        t[c] = t[c].astype(object)
    return t


class Score:
    """Aqmola Region Score of one twin.

    Parameters
    ----------
    tw : Twin
        Needs a ``districts`` layer (the units). Observations come from
        ``tw.tables["score_observations"]``.
    registry : Registry, optional
        Default: ``geodata/indicators.yaml``.
    config : ScoreConfig, optional
        Normalisation, aggregation and weights (default: min-max, arithmetic, equal).

    Examples
    --------
    >>> # tw = twin.load_default()
    >>> # tw.score.ranking().head()                       # rank, score, sub-scores
    >>> # tw.score.ingest(Observation("kokshetau", "avg_wage", "2025-09", 455.0,
    >>> #                             "thousand KZT", "BNS"))
    """

    def __init__(self, tw, *, registry: Registry | None = None,
                 config: ScoreConfig | None = None) -> None:
        self.twin = tw
        self.registry = registry or load_registry()
        districts = tw["districts"]
        self.units = tuple(districts["id"].astype(str))
        self.names = tuple(districts["name"].astype(str)) if "name" in districts else self.units
        table = _canonical(tw.tables.get(TABLE))
        tw.tables[TABLE] = table
        self._unit_set = frozenset(self.units)
        self._unit_index = pd.Index(self.units, name="unit_id")
        self._names_arr = np.array(self.names, dtype=object)
        self._row_of: dict | None = None  # (unit, indicator, month) -> table row, on demand
        self.cube = ObservationCube.from_frame(table, self.registry, self.units)
        self.config = config or ScoreConfig()
        self._groups = dimension_groups(self.registry)
        self.recompute()

    # -- computing --------------------------------------------------------------------------
    def recompute(self) -> None:
        """Recompute everything from the observation arrays (the full path)."""
        n_u, n_i = len(self.units), len(self.registry.ids)
        self._raw = np.empty((n_u, n_i))
        self._tgt = np.empty((n_u, n_i))
        self._norm = np.empty((n_u, n_i))
        self._flags = np.empty((n_u, n_i), dtype=object)
        self._ref: list[int | None] = [None] * n_i
        self._w, self._W = resolve_weights(self.registry, dict(self.config.weights),
                                           dict(self.config.dimension_weights))
        for j in range(n_i):
            self._update_column(j)
        self._aggregate()

    def _update_column(self, j: int) -> None:
        ind = self.registry.indicators[j]
        raw, tgt, flags, ref = indicator_column(self.cube.arrays[ind.id], ind)
        self._raw[:, j], self._tgt[:, j], self._flags[:, j], self._ref[j] = raw, tgt, flags, ref
        self._norm[:, j] = normalise(raw, method=self.config.normalisation,
                                     higher_is_better=ind.higher_is_better, target=tgt)

    def _aggregate(self) -> None:
        self._dims, self._s = aggregate(self._norm, self._w, self._groups, self._W,
                                        method=self.config.aggregation)
        self._rank = rank(self._s)

    def configure(self, *, normalisation: str | None = None, aggregation: str | None = None,
                  weights=None, dimension_weights=None) -> Score:
        """Change how the score is computed; recomputes what the change touches."""
        old = self.config
        new = ScoreConfig(normalisation or old.normalisation, aggregation or old.aggregation,
                          tuple(sorted(dict(weights if weights is not None
                                            else old.weights).items())),
                          tuple(sorted(dict(dimension_weights if dimension_weights is not None
                                            else old.dimension_weights).items())))
        self._w, self._W = resolve_weights(self.registry, dict(new.weights),
                                           dict(new.dimension_weights))
        self.config = new
        if new.normalisation != old.normalisation:
            for j in range(len(self.registry.ids)):
                self._update_column(j)
        self._aggregate()
        return self

    # -- reading ----------------------------------------------------------------------------
    @property
    def observations(self) -> pd.DataFrame:
        """Every stored observation (the twin's ``score_observations`` table)."""
        return self.twin.tables[TABLE]

    def _need_data(self) -> None:
        if all(r is None for r in self._ref):
            raise NoObservations(
                f"twin {self.twin.name!r} holds no score observations: ingest some with "
                "tw.score.ingest(...), or build the default twin, which carries a synthetic "
                "history"
            )

    @property
    def panel(self) -> ScorePanel:
        """A frozen snapshot of the values scored (for :func:`evaluate_weights`)."""
        self._need_data()
        reg = self.registry
        idx = pd.Index(self.units, name="unit_id")
        cols = list(reg.ids)
        months = self.cube.months
        return ScorePanel(
            registry=reg, units=self.units, names=self.names,
            raw=pd.DataFrame(self._raw.copy(), index=idx, columns=cols),
            targets=pd.DataFrame(self._tgt.copy(), index=idx, columns=cols),
            imputed=pd.DataFrame(self._flags.copy(), index=idx, columns=cols),
            reference_month=pd.Series(
                [months[r] if r is not None else None for r in self._ref], index=cols,
                name="reference_month"),
        )

    def table(self) -> ScoreTable:
        """Scores, sub-scores, normalised values and ranks under the current config."""
        self._need_data()
        return _table(self.panel, self.config, self._norm.copy(), self._w, self._W)

    def ranking(self) -> pd.DataFrame:
        """One row per unit, best first: rank, name, score (0-100) and the sub-scores."""
        self._need_data()
        o = np.argsort(self._rank)
        cols = {"rank": self._rank[o], "name": self._names_arr[o], "score": self._s[o]}
        cols.update(zip(self.registry.dimension_ids, self._dims[o].T, strict=True))
        cols["n_imputed"] = (self._flags[o] != "").sum(axis=1)
        return pd.DataFrame(cols, index=self._unit_index[o])

    @property
    def region_score(self) -> float:
        """The region's score: the unweighted mean of the units' composites."""
        self._need_data()
        return float(np.mean(self._s))

    def evaluate_weights(self, weights=None, dimension_weights=None) -> WeightsEvaluation:
        """Scores and rank changes under other weights; the score itself is not changed."""
        return evaluate_weights(self.panel, weights, dimension_weights, baseline=self.config)

    def uncertainty(self, **kwargs):
        """Monte Carlo rank intervals; see :func:`twin.score.uncertainty.rank_uncertainty`."""
        from .uncertainty import rank_uncertainty

        return rank_uncertainty(self.panel, nominal=self.config, **kwargs)

    def forecast(self, **kwargs):
        """Forecasts with intervals; see :func:`twin.score.forecast.forecast_score`."""
        from .forecast import forecast_score

        self._need_data()
        return forecast_score(self, **kwargs)

    def backtest(self, **kwargs):
        """Rolling-origin backtest; see :func:`twin.score.forecast.backtest`."""
        from .forecast import backtest

        self._need_data()
        return backtest(self, **kwargs)

    # -- live updates -----------------------------------------------------------------------
    def ingest(self, observations, *, upsert: bool = False, persist: bool = True
               ) -> IngestReport:
        """Validate, store durably, then update the score incrementally.

        Parameters
        ----------
        observations : DataFrame, Observation, dict or list of them
            Columns ``unit_id, indicator, month, value, unit`` (+ ``source``, ``synthetic``).
        upsert : bool
            Replace values already stored for the same unit, indicator and month. Without
            it such a row raises :class:`~twin.score.errors.DuplicateObservation`.
        persist : bool
            Commit to the twin file (``tw.path``) in one SQLite transaction before the
            in-memory score changes, so anything acknowledged survives a crash. Only an
            unsaved, throw-away twin should pass False.

        Returns
        -------
        IngestReport
        """
        records = validate(observations, self.registry, self._unit_set)
        dup = self.cube.duplicates(records)
        if dup and not upsert:
            r = dup[0]
            raise DuplicateObservation(
                f"observation ({r[0]!r}, {r[1]!r}, {r[2]!r}) is already stored "
                f"({len(dup)} such row(s) in this batch): pass upsert=True to replace it, "
                "or send a month not yet reported"
            )
        if persist:
            if self.twin.path is None:
                raise NotPersisted(
                    f"twin {self.twin.name!r} has no file, so the observation could not be "
                    "made durable: save it first (tw.save(path)), or pass persist=False for "
                    "a throw-away twin"
                )
            self._persist(records, upsert=upsert)
        # Memory changes only after the commit: a failed write leaves the score as it was.
        self._update_table(records, dup)
        self.cube.write(records)
        ids = {r[1] for r in records}
        touched = tuple(i for i in self.registry.ids if i in ids)
        for iid in touched:
            self._update_column(self.registry.ids.index(iid))
        self._aggregate()
        return IngestReport(len(records) - len(dup), len(dup), touched, persist)

    def _update_table(self, records: list[tuple], replaced: list[tuple]) -> None:
        """Keep ``tw.tables['score_observations']`` equal to the file, cheaply: replaced
        rows are overwritten in place (positions found through a key index), new rows are
        appended."""
        table = self.twin.tables[TABLE]
        if self._row_of is None:
            self._row_of = {k: n for n, k in enumerate(zip(
                table["unit_id"], table["indicator"], table["month"], strict=True))}
        rep = {r[:3] for r in replaced}
        if rep:
            # A new object, not an edit in place: readers such as scenarios detect a
            # changed baseline by the table's identity.
            table = table.copy()
        cols = [table.columns.get_loc(c) for c in ("value", "source", "synthetic")]
        new = []
        for r in records:
            if r[:3] in rep:
                pos = self._row_of[r[:3]]
                for c, v in zip(cols, r[3:4] + r[5:7], strict=True):
                    table.iat[pos, c] = v
            else:
                new.append(r)
        if new:
            n0 = len(table)
            add = pd.DataFrame(new, columns=COLUMNS).astype(
                {"value": float, "synthetic": bool, "unit_id": object, "indicator": object,
                 "month": object, "unit": object, "source": object})
            table = pd.concat([table, add], ignore_index=True) if n0 else add
            for k, r in enumerate(new):
                self._row_of[r[:3]] = n0 + k
        self.twin.tables[TABLE] = table

    def _persist(self, records: list[tuple], *, upsert: bool) -> None:
        rows = [r[:6] + (int(r[6]),) for r in records]
        try:
            with store.transaction(self.twin.path) as conn:
                conn.execute(
                    f'CREATE TABLE IF NOT EXISTS "{TABLE}" (unit_id TEXT, indicator TEXT, '
                    "month TEXT, value REAL, unit TEXT, source TEXT, synthetic INTEGER)"
                )
                conn.execute(
                    "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier) "
                    "VALUES (?, 'attributes', ?)", (TABLE, TABLE))
                # The unique key makes a duplicate impossible even if another process
                # wrote to the file since this twin was opened.
                conn.execute(
                    f'CREATE UNIQUE INDEX IF NOT EXISTS "{TABLE}_key" ON "{TABLE}" '
                    "(unit_id, indicator, month)")
                if upsert:
                    conn.executemany(
                        f'DELETE FROM "{TABLE}" WHERE unit_id = ? AND indicator = ? AND '
                        "month = ?", [r[:3] for r in rows])
                conn.executemany(f'INSERT INTO "{TABLE}" VALUES (?, ?, ?, ?, ?, ?, ?)', rows)
        except sqlite3.IntegrityError as e:
            raise DuplicateObservation(
                f"the twin file {str(self.twin.path)!r} already holds one of these "
                f"observations ({e}); it was written by another process: reopen the twin, "
                "or pass upsert=True"
            ) from e
