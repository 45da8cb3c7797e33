"""Observations: one value of one indicator for one unit in one month.

:func:`validate` checks new observations at the edge; :class:`ObservationCube` holds them in
memory as one (units x months) array per indicator, so that a new value is a single array
write and the score can recompute only the indicator it touches.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import (
    DuplicateObservation,
    InvalidMonth,
    InvalidValue,
    ObservationError,
    UnitMismatch,
    UnknownIndicator,
    UnknownUnit,
)
from .registry import Registry

__all__ = ["Observation", "ObservationCube", "validate", "as_records", "as_frame", "COLUMNS",
           "TABLE"]

TABLE = "score_observations"
COLUMNS = ["unit_id", "indicator", "month", "value", "unit", "source", "synthetic"]
# ASCII digits only (\d also takes other scripts' digits), and a year from 0001: a month
# must be one pandas can hold as a Period.
_MONTH = re.compile(r"^(?!0000)([0-9]{4})-(0[1-9]|1[0-2])$")
#: The first month an observation may carry. Together with "not after the current month"
#: it keeps one stray year (e.g. 0001-01 or 9999-12) from stretching the monthly panel
#: over millennia (each month is a row of the panel).
FIRST_MONTH = "2000-01"


def _current_month() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m")


@dataclass(frozen=True)
class Observation:
    """One reported value.

    ``unit`` is the *measurement* unit (e.g. ``"bn KZT"``); it must be the indicator's, so a
    value in the wrong unit is refused instead of silently mis-scored. ``unit_id`` is the
    district or city.

    Examples
    --------
    >>> Observation("kokshetau", "avg_wage", "2025-09", 455.0, "thousand KZT", "BNS")
    ... # doctest: +ELLIPSIS
    Observation(unit_id='kokshetau', indicator='avg_wage', month='2025-09', ...)
    """

    unit_id: str
    indicator: str
    month: str
    value: float
    unit: str
    source: str = "user"
    synthetic: bool = False


def as_records(observations) -> list[tuple]:
    """Rows as tuples in :data:`COLUMNS` order, from a DataFrame, an :class:`Observation`, a
    mapping or an iterable of either. ``source`` defaults to ``"user"`` and ``synthetic``
    to False."""
    if isinstance(observations, pd.DataFrame):
        df = observations
        cols = list(df.columns)
        missing = [c for c in COLUMNS[:5] if c not in cols]
        if missing:
            _missing(missing)
        n = len(df)
        parts = [df[c].tolist() if c in cols else [default] * n
                 for c, default in zip(COLUMNS, _DEFAULTS, strict=True)]
        return list(zip(*parts, strict=True))
    if isinstance(observations, Observation):
        o = observations
        return [(o.unit_id, o.indicator, o.month, o.value, o.unit, o.source, o.synthetic)]
    if isinstance(observations, Mapping):
        missing = [c for c in COLUMNS[:5] if c not in observations]
        if missing:
            _missing(missing)
        return [tuple(observations.get(c, d) for c, d in zip(COLUMNS, _DEFAULTS, strict=True))]
    if isinstance(observations, Iterable) and not isinstance(observations, (str, bytes)):
        return [r for o in observations for r in as_records(o)]
    raise ObservationError(
        f"cannot read observations from a {type(observations).__name__}: pass a "
        "DataFrame, an Observation, a dict or a list of them"
    )


_DEFAULTS = (None, None, None, None, None, "user", False)


def _missing(missing) -> None:
    raise ObservationError(
        f"observations lack column(s) {missing}: each needs unit_id, indicator, month, "
        "value and unit (the measurement unit, e.g. 'bn KZT'); source and synthetic "
        "are optional"
    )


def as_frame(observations) -> pd.DataFrame:
    """Observations in any accepted form as a DataFrame with :data:`COLUMNS`."""
    return pd.DataFrame(as_records(observations), columns=COLUMNS)


def validate(observations, registry: Registry, units) -> list[tuple]:
    """Check observations; return them as canonical tuples; raise on the first bad row.

    Refuses an unknown unit or indicator, a month that is not ``YYYY-MM``, a NaN, infinite
    or out-of-bounds value, a value in another measurement unit, and a key repeated within
    the batch. (Repeats against stored data are the cube's business.)

    Examples
    --------
    >>> from twin.score.registry import load_registry
    >>> validate({"unit_id": "a", "indicator": "avg_wage", "month": "2025-9",
    ...           "value": 1.0, "unit": "thousand KZT"}, load_registry(), ["a"])
    Traceback (most recent call last):
    ...
    twin.score.errors.InvalidMonth: observation ('a', 'avg_wage', '2025-9'): month \
'2025-9' is not a calendar month: write it as YYYY-MM, e.g. '2025-09'
    """
    units = units if isinstance(units, (set, frozenset, dict)) else set(units)
    out = []
    seen = set()
    for uid, iid, month, value, unit, source, synthetic in as_records(observations):
        uid, iid, month = str(uid), str(iid), str(month)
        where = f"observation ({uid!r}, {iid!r}, {month!r})"
        if uid not in units:
            raise UnknownUnit(
                f"{where}: unknown unit {uid!r}; known units: {', '.join(sorted(units))}: "
                "use a district or city id of the twin's 'districts' layer"
            )
        if iid not in registry:
            raise UnknownIndicator(
                f"{where}: unknown indicator {iid!r}; the registry has "
                f"{', '.join(registry.ids)}: fix the id or add it to geodata/indicators.yaml"
            )
        ind = registry[iid]
        if _MONTH.match(month) is None:
            raise InvalidMonth(f"{where}: month {month!r} is not a calendar month: write "
                               "it as YYYY-MM, e.g. '2025-09'")
        last = _current_month()
        if not FIRST_MONTH <= month <= last:
            raise InvalidMonth(
                f"{where}: month {month!r} is outside {FIRST_MONTH}..{last}: observations "
                "are measured months, not forecasts; check the year"
            )
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise InvalidValue(f"{where}: value {value!r} is not a number") from None
        if not math.isfinite(value):
            raise InvalidValue(
                f"{where}: value is {value}: send a finite number, or leave the month out "
                "if it was not measured (the score flags the gap)"
            )
        # The unit comes before the range: a value in mln instead of bn KZT is a unit
        # error, not an outlier.
        if str(unit) != ind.unit:
            raise UnitMismatch(
                f"{where}: value is in {unit!r} but {iid!r} is measured in "
                f"{ind.unit!r}: convert it to {ind.unit!r} first"
            )
        if (ind.lower_bound is not None and value < ind.lower_bound) or (
            ind.upper_bound is not None and value > ind.upper_bound
        ):
            raise InvalidValue(
                f"{where}: value {value:g} is outside {iid!r}'s valid range "
                f"[{ind.lower_bound}, {ind.upper_bound}] {ind.unit}: check the figure "
                "and its unit"
            )
        key = (uid, iid, month)
        if key in seen:
            raise DuplicateObservation(
                f"{where} appears more than once in one batch: send each unit, indicator "
                "and month once"
            )
        seen.add(key)
        out.append((uid, iid, month, value, ind.unit, str(source), _flag(synthetic, where)))
    return out


_TRUE, _FALSE = {"true", "1", "yes", "y", "t"}, {"false", "0", "no", "n", "f", ""}


def _flag(v, where: str) -> bool:
    """The ``synthetic`` flag: a boolean, 0/1, or its spelling in text (CSV gives
    ``"False"``, which ``bool()`` would read as True)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return False
    if isinstance(v, str):
        s = v.strip().lower()
        if s in _TRUE or s in _FALSE:
            return s in _TRUE
    elif isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer)) and v in (0, 1)):
        return bool(v)
    raise InvalidValue(f"{where}: synthetic is {v!r}: give true or false")


class ObservationCube:
    """In-memory observations: per indicator an array (units x months), NaN = not reported."""

    def __init__(self, registry: Registry, units: Iterable[str], months: Iterable[str] = ()):
        self.registry = registry
        self.units = tuple(units)
        self.unit_index = {u: k for k, u in enumerate(self.units)}
        self.months: list[str] = sorted(set(months))
        self.month_index = {m: k for k, m in enumerate(self.months)}
        self.arrays = {i: np.full((len(self.units), len(self.months)), np.nan)
                       for i in registry.ids}

    @classmethod
    def from_frame(cls, df: pd.DataFrame, registry: Registry, units: Iterable[str]):
        """Build from stored observations (assumed valid: they were validated on ingest)."""
        units = tuple(units)
        known = df["unit_id"].isin(units) & df["indicator"].isin(registry.ids)
        df = df[known]
        cube = cls(registry, units, _span(df["month"]) if len(df) else ())
        if len(df):
            ui = df["unit_id"].map(cube.unit_index).to_numpy()
            mi = df["month"].map(cube.month_index).to_numpy()
            v = df["value"].to_numpy(dtype=float)
            for iid, pos in df.groupby("indicator", sort=False).indices.items():
                cube.arrays[iid][ui[pos], mi[pos]] = v[pos]
        return cube

    def _ensure_months(self, months: Iterable[str]) -> None:
        new = sorted(set(months) - self.month_index.keys())
        if not new:
            return
        # Keep the month axis contiguous so a column offset is a calendar offset.
        span = _span(pd.Series(self.months + new))
        old = self.month_index
        self.months = span
        self.month_index = {m: k for k, m in enumerate(span)}
        cols = [self.month_index[m] for m in old]
        for iid, arr in self.arrays.items():
            grown = np.full((len(self.units), len(span)), np.nan)
            grown[:, cols] = arr
            self.arrays[iid] = grown

    def duplicates(self, records: list[tuple]) -> list[tuple]:
        """The validated records whose (unit, indicator, month) is already observed."""
        hit = []
        for r in records:
            mi = self.month_index.get(r[2])
            if mi is not None and np.isfinite(self.arrays[r[1]][self.unit_index[r[0]], mi]):
                hit.append(r)
        return hit

    def write(self, records: list[tuple]) -> None:
        self._ensure_months(r[2] for r in records)
        for uid, iid, month, value, *_ in records:
            self.arrays[iid][self.unit_index[uid], self.month_index[month]] = value

    def series(self, unit_id: str, indicator: str) -> pd.Series:
        """One unit's monthly series (NaN where not reported), on a monthly PeriodIndex."""
        idx = pd.PeriodIndex(self.months, freq="M")
        return pd.Series(self.arrays[indicator][self.unit_index[unit_id]], index=idx,
                         name=f"{unit_id}/{indicator}")


def _span(months: pd.Series) -> list[str]:
    p = pd.PeriodIndex(pd.unique(months), freq="M")
    return list(pd.period_range(p.min(), p.max(), freq="M").strftime("%Y-%m"))
