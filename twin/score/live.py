"""The live score of a twin: observations in, scores and ranks out, updated incrementally.

:class:`Score` is the one stateful object of the score (``tw.score``). It keeps the
observations as arrays, the panel column, target and normalised column of every indicator,
and the aggregates. :meth:`Score.ingest` validates new observations, commits them to the
twin's store in one transaction, and only then recomputes what they touch: each affected
indicator's panel column and normalisation, then the aggregates (a few hundred numbers).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import AnalysisUnavailable, SetAsideWarning
from ..store import DuplicateKey, retrying
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
from .errors import DuplicateObservation, NoObservations, NotPersisted, ScoreArgumentError
from .observations import (
    COLUMNS,
    OBSERVATIONS,
    SET_ASIDE_TABLE,
    TABLE,
    ObservationCube,
    load_stored,
    set_aside_note,
    validate,
)
from .panel import ScorePanel, indicator_column, n_imputed
from .registry import Registry

__all__ = ["Score", "IngestReport"]


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did: rows added and replaced, indicators recomputed."""

    added: int
    replaced: int
    indicators: tuple[str, ...]
    persisted: bool


_DTYPES = {"unit_id": object, "indicator": object, "month": object, "value": float,
           "unit": object, "source": object, "synthetic": bool}


def _canonical(records: list[tuple]) -> pd.DataFrame:
    """The observations table of canonical records (:func:`load_stored`'s)."""
    # Plain object columns: a live upsert overwrites one cell in place, whereas pandas'
    # Arrow-backed strings are immutable and would copy the whole column per cell.
    return pd.DataFrame(records, columns=COLUMNS).astype(_DTYPES)


class Score:
    """The region score of one twin: its units ranked by a composite of its indicators.

    Indicators with no observation are left out of the composite (:attr:`left_out` names
    them) instead of being scored the same for every unit.

    Parameters
    ----------
    tw : Twin
        Needs a ``districts`` layer (the units). Observations come from
        ``tw.tables["score_observations"]``.
    registry : Registry, optional
        Default: the twin's own (:attr:`Twin.registry`).
    config : ScoreConfig, optional
        Normalisation, aggregation and weights (default: min-max, arithmetic, equal).

    Examples
    --------
    >>> # tw = twin.load_default()
    >>> # tw.score.ranking().head()                       # rank, score, sub-scores
    >>> # tw.score.ingest(Observation("unit-1", "avg_wage", "2025-09", 455.0,
    >>> #                             "thousand KZT", "BNS"))
    """

    def __init__(self, tw, *, registry: Registry | None = None,
                 config: ScoreConfig | None = None) -> None:
        self.twin = tw
        self.registry = registry or tw.registry
        if "districts" not in tw:
            raise AnalysisUnavailable(
                f"twin {tw.name!r} has no districts: the score has no units to rank; add "
                "the districts layer (the units that are scored and planned)")
        self._units_dv = tw.data_version("districts")
        districts = tw["districts"]
        self.units = tuple(districts["id"].astype(str))
        self.names = tuple(districts["name"].astype(str)) if "name" in districts else self.units
        records, aside = load_stored(tw.tables.get(TABLE), self.registry, self.units)
        if len(aside):
            # Opening must work whatever a stored row holds: the score runs without the
            # rows it cannot read, and a whole-twin save keeps them in their own table.
            warnings.warn(set_aside_note(aside, tw.store.describe() if tw.store else None),
                          SetAsideWarning, stacklevel=3)
            kept = tw.tables.get(SET_ASIDE_TABLE)
            tw.tables[SET_ASIDE_TABLE] = (pd.concat([kept, aside], ignore_index=True)
                                          if kept is not None and len(kept) else
                                          aside.reset_index(drop=True))
        table = _canonical(records)
        tw.tables[TABLE] = table
        self._changes = 0  # bumped by every change of what is scored (see data_version)
        self._version: tuple[int, str] | None = None
        self._unit_set = frozenset(self.units)
        self._unit_index = pd.Index(self.units, name="unit_id")
        self._names_arr = np.array(self.names, dtype=object)
        self._row_of: dict | None = None  # (unit, indicator, month) -> table row, on demand
        self.cube = ObservationCube.from_frame(table, self.registry, self.units)
        self.config = config or ScoreConfig()
        self._groups = dimension_groups(self.registry)
        self._forecasts = None
        self.recompute()

    def matches_twin(self) -> bool:
        """Whether the twin still holds the units this score was made for."""
        return "districts" in self.twin and \
            self.twin.data_version("districts") == self._units_dv

    @property
    def left_out(self) -> tuple[str, ...]:
        """Indicators left out of the composite: the registry's with no observation."""
        return tuple(i for i, r in zip(self.registry.ids, self._ref, strict=True) if r is None)

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
        observed = np.array([r is not None for r in self._ref])
        if not observed.any():  # nothing to score yet; readers say so (NoObservations)
            n = len(self.units)
            self._dims = np.full((n, len(self.registry.dimensions)), np.nan)
            self._s, self._rank = np.full(n, np.nan), np.arange(1, n + 1)
            return
        self._dims, self._s = aggregate(self._norm, self._w * observed, self._groups,
                                        self._W, method=self.config.aggregation)
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
        self._changes += 1
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

    def require_observations(self) -> None:
        """Raise :class:`~twin.score.errors.NoObservations`, naming the fix, when there is
        nothing to score."""
        self._need_data()

    def _need_data(self) -> None:
        if all(r is None for r in self._ref):
            raise NoObservations(
                f"twin {self.twin.name!r} holds no score observations: ingest some with "
                "`twin score ingest FILE.csv --twin TWIN.gpkg`, POST /score/observations or "
                "tw.score.ingest(...)"
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
        panel = self.panel
        return _table(panel, self.config, self._norm.copy(), self._w * panel.observed,
                      self._W)

    def ranking(self) -> pd.DataFrame:
        """One row per unit, best first: rank, name, score (0-100) and the sub-scores."""
        self._need_data()
        return self._ranking_frame(self._rank, self._s, self._dims, self._flags)

    def _ranking_frame(self, r, s, dims, flags) -> pd.DataFrame:
        o = np.argsort(r)
        cols = {"rank": r[o], "name": self._names_arr[o], "score": s[o]}
        cols.update(zip(self.registry.dimension_ids, dims[o].T, strict=True))
        cols["n_imputed"] = n_imputed(flags[o])
        return pd.DataFrame(cols, index=self._unit_index[o])

    @property
    def as_of(self) -> str | None:
        """The latest reference month of any indicator: what "data as of" means."""
        refs = [r for r in self._ref if r is not None]
        return self.cube.months[max(refs)] if refs else None

    def ranking_as_of(self, month: str) -> pd.DataFrame:
        """The ranking as it stood with the observations up to ``month`` only (same
        columns as :meth:`ranking`), under the current configuration. Compare it with
        :meth:`ranking` for the change since then.

        Examples
        --------
        >>> # prev = tw.score.ranking_as_of("2025-07")
        >>> # (tw.score.ranking()["score"] - prev["score"]).sort_values()
        """
        self._need_data()
        if month not in self.cube.month_index:
            raise ScoreArgumentError(
                f"month {month!r} holds no observations: use one of {self.cube.months[0]}"
                f"..{self.cube.months[-1]}")
        cut = self.cube.month_index[month] + 1
        n_u, n_i = len(self.units), len(self.registry.ids)
        norm, flags = np.empty((n_u, n_i)), np.empty((n_u, n_i), dtype=object)
        observed = np.zeros(n_i, dtype=bool)
        for j, ind in enumerate(self.registry.indicators):
            raw, tgt, flags[:, j], ref = indicator_column(self.cube.arrays[ind.id][:, :cut],
                                                          ind)
            observed[j] = ref is not None
            norm[:, j] = normalise(raw, method=self.config.normalisation,
                                   higher_is_better=ind.higher_is_better, target=tgt)
        # as then: indicators without an observation up to that month weigh 0
        dims, s = aggregate(norm, self._w * observed, self._groups, self._W,
                            method=self.config.aggregation)
        return self._ranking_frame(rank(s), s, dims, flags)

    @property
    def region_score(self) -> float:
        """The region's score: the unweighted mean of the units' composites."""
        self._need_data()
        return float(np.mean(self._s))

    @property
    def data_version(self) -> str:
        """A digest of exactly what is scored: the panel (raw values, targets, imputation
        flags, reference months), the configuration and the observations' provenance
        (synthetic flags and sources). Equal values give an equal
        version, so an ingest that changes no scored value keeps it (and every cache keyed
        on it); "" when there is nothing to score yet."""
        if self._version is None or self._version[0] != self._changes:
            try:
                panel = self.panel
            except NoObservations:
                digest = ""
            else:
                h = hashlib.sha256()
                for frame in (panel.raw, panel.targets):
                    h.update(frame.to_numpy(dtype=float).tobytes())
                h.update("|".join(panel.imputed.to_numpy().astype(str).ravel()).encode())
                h.update(repr(tuple(panel.reference_month)).encode())
                h.update(repr(self.config).encode())
                # provenance is part of the answer (synthetic shares, cited sources), in
                # key order: a GeoPackage moves an upserted row to the end, PostGIS keeps
                # its place, and a reader must get the writer's version from either
                table = self.twin.tables[TABLE].sort_values(["unit_id", "indicator", "month"],
                                                            kind="stable")
                h.update(table["synthetic"].to_numpy(dtype=bool).tobytes())
                h.update("\x1f".join(table["source"].astype(str)).encode())
                digest = h.hexdigest()[:16]
            self._version = (self._changes, digest)
        return self._version[1]

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

    def audit(self, **kwargs):
        """The JRC/OECD statistical audit of the scored panel; see
        :func:`twin.score.audit.audit`. Strengths and weaknesses carry the share of
        synthetic observations behind each value."""
        from .audit import audit

        obs = self.observations
        synthetic = (obs.groupby(["unit_id", "indicator"])["synthetic"].mean().astype(float)
                     .unstack().reindex(index=list(self.units), columns=list(self.registry.ids)))
        return audit(self.panel, config=self.config, synthetic=synthetic, **kwargs)

    @property
    def forecasts(self):
        """The kept region-wide forecasts (:class:`~twin.score.forecast_set.ForecastKeeper`):
        computed once per data version, refitted only where observations changed.
        ``tw.score.forecasts.current()`` gives the set for the data now; with
        ``forecasts.follow = True`` every ingest starts a background refit."""
        if self._forecasts is None:
            from .forecast_set import ForecastKeeper

            self._forecasts = ForecastKeeper(self)
        return self._forecasts

    def snapshot(self):
        """A copy of what the forecasts read (registry, units, observation arrays) that no
        later ingest can change (:class:`~twin.score.forecast_set.ScoreSnapshot`)."""
        from .forecast_set import ScoreSnapshot

        return ScoreSnapshot.of(self)

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
            Commit to the twin's store (``tw.store``) in one transaction before the
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
        if persist and self.twin.store is None:
            raise NotPersisted(
                f"twin {self.twin.name!r} has no file, so the observation could not be "
                "made durable: save it first (tw.save(path)), or pass persist=False for "
                "a throw-away twin"
            )
        # Everything that could fail is computed before the commit; after it, memory
        # only takes the prepared values.
        months = self.cube.months_after(records)
        table, row_of = self._next_table(records, dup)
        if persist:
            self._persist(records, upsert=upsert)
        self.twin.tables[TABLE], self._row_of = table, row_of
        self.cube.write(records, months)
        ids = {r[1] for r in records}
        touched = tuple(i for i in self.registry.ids if i in ids)
        for iid in touched:
            self._update_column(self.registry.ids.index(iid))
        self._aggregate()
        self._changes += 1
        if self._forecasts is not None and self._forecasts.follow:
            self._forecasts.submit(self.snapshot())
        return IngestReport(len(records) - len(dup), len(dup), touched, persist)

    def _next_table(self, records: list[tuple], replaced: list[tuple]
                    ) -> tuple[pd.DataFrame, dict]:
        """``tw.tables['score_observations']`` and its key index after ``records``, made
        cheaply and without changing the current ones: replaced rows are overwritten in a
        copy (positions found through the key index), new rows are appended."""
        table = self.twin.tables[TABLE]
        row_of = self._row_of
        if row_of is None:
            row_of = self._row_of = {k: n for n, k in enumerate(zip(
                table["unit_id"], table["indicator"], table["month"], strict=True))}
        row_of = dict(row_of)
        rep = {r[:3] for r in replaced}
        if rep:
            table = table.copy()
        cols = [table.columns.get_loc(c) for c in ("value", "source", "synthetic")]
        new = []
        for r in records:
            if r[:3] in rep:
                pos = row_of[r[:3]]
                for c, v in zip(cols, r[3:4] + r[5:7], strict=True):
                    table.iat[pos, c] = v
            else:
                new.append(r)
        if new:
            n0 = len(table)
            add = _canonical(new)
            table = pd.concat([table, add], ignore_index=True) if n0 else add
            for k, r in enumerate(new):
                row_of[r[:3]] = n0 + k
        return table, row_of

    def _persist(self, records: list[tuple], *, upsert: bool) -> None:
        rows = [r[:6] + (int(r[6]),) for r in records]
        try:
            for attempt in retrying():  # a collision with another writer: again
                with attempt, self.twin.store.transaction() as tx:
                    tx.ensure(OBSERVATIONS)
                    # The unique key (where the stored rows allow one) makes a duplicate
                    # impossible even if another process wrote since this twin read it.
                    if upsert:
                        tx.upsert(OBSERVATIONS, rows)
                    else:
                        tx.insert(TABLE, COLUMNS, rows)
        except DuplicateKey as e:
            raise DuplicateObservation(
                f"{self.twin.store.describe()} already holds one of these observations "
                f"({e}); it was written by another process: send it again with upsert, or "
                "another month") from e
        # Another writer in between: the store has rows this score lacks; the twin reads
        # the table again at its next refresh.
        self.twin.noted_write(tx.changes)
