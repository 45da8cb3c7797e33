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

from .. import limits
from ..store import Table
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

__all__ = ["Observation", "ObservationCube", "validate", "load_stored", "as_records",
           "as_frame", "COLUMNS", "TABLE", "OBSERVATIONS", "SET_ASIDE_TABLE", "FIRST_MONTH"]

TABLE = "score_observations"
#: How the store keeps observations: one row per unit, indicator and month.
OBSERVATIONS = Table(TABLE, (("unit_id", "text"), ("indicator", "text"), ("month", "text"),
                             ("value", "real"), ("unit", "text"), ("source", "text"),
                             ("synthetic", "int")), key=("unit_id", "indicator", "month"))
#: Where a whole-twin save keeps the stored rows that could not be read (see load_stored).
SET_ASIDE_TABLE = "score_observations_set_aside"
COLUMNS = ["unit_id", "indicator", "month", "value", "unit", "source", "synthetic"]
# ASCII digits only (\d also takes other scripts' digits). Matched with fullmatch: "$"
# would also match before a trailing newline ("2025-05\n").
_MONTH = re.compile(r"(?!0000)[0-9]{4}-(0[1-9]|1[0-2])")
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
    >>> Observation("unit-1", "avg_wage", "2025-09", 455.0, "thousand KZT", "BNS")
    ... # doctest: +ELLIPSIS
    Observation(unit_id='unit-1', indicator='avg_wage', month='2025-09', ...)
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

    Refuses an unknown unit or indicator, a month that is not exactly ``YYYY-MM`` within
    :data:`FIRST_MONTH` .. the current month, a value that is not a finite number inside
    the indicator's bounds and ±10^12 (:data:`twin.limits.RANGES`), a value in another
    measurement unit, a ``source`` that is not one line of at most 200 characters, and a
    key repeated within the batch. (Repeats against stored data are the cube's business.)
    Stored rows pass the same checks when they are read back (:func:`load_stored`).

    Examples
    --------
    >>> from twin.score.registry import load_registry
    >>> validate({"unit_id": "a", "indicator": "avg_wage", "month": "2025-9",
    ...           "value": 1.0, "unit": "thousand KZT"}, load_registry(), ["a"])
    Traceback (most recent call last):
    ...
    twin.score.errors.InvalidMonth: observation ('a', 'avg_wage', '2025-9'): month \
'2025-9' is not a calendar month: write it as YYYY-MM, e.g. '2025-09'
    >>> validate({"unit_id": "a", "indicator": "avg_wage", "month": "2025-09\\n",
    ...           "value": 1.0, "unit": "thousand KZT"}, load_registry(), ["a"])
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    twin.score.errors.InvalidMonth: observation ('a', 'avg_wage', '2025-09\\n'): month ...
    """
    units = units if isinstance(units, (set, frozenset, dict)) else set(units)
    last = _current_month()
    out = []
    seen = set()
    for rec in as_records(observations):
        r = _check(rec, registry, units, last)
        if r[:3] in seen:
            raise DuplicateObservation(
                f"{_where(r)} appears more than once in one batch: send each unit, "
                "indicator and month once"
            )
        seen.add(r[:3])
        out.append(r)
    return out


def _where(rec) -> str:
    return f"observation ({str(rec[0])[:64]!r}, {str(rec[1])[:64]!r}, {str(rec[2])[:20]!r})"


def _check(rec: tuple, registry: Registry, units, last: str) -> tuple:
    """One observation as a canonical tuple, or the error that refuses it."""
    uid, iid, month, value, unit, source, synthetic = rec
    uid, iid, month = str(uid), str(iid), str(month)
    where = _where((uid, iid, month))
    if uid not in units:
        shown = ", ".join(sorted(units)[:30]) + (", ..." if len(units) > 30 else "")
        raise UnknownUnit(
            f"{where}: unknown unit {uid[:64]!r}; known units: {shown}: use a district or "
            "city id of the twin's 'districts' layer"
        )
    if iid not in registry:
        raise UnknownIndicator(
            f"{where}: unknown indicator {iid[:64]!r}; the registry has "
            f"{', '.join(registry.ids)}: fix the id, or add the indicator to the twin's "
            "registry (Twin.set_registry, or `indicators:` in its manifest)"
        )
    ind = registry[iid]
    if _MONTH.fullmatch(month) is None:
        raise InvalidMonth(f"{where}: month {month[:20]!r} is not a calendar month: write "
                           "it as YYYY-MM, e.g. '2025-09'")
    if not FIRST_MONTH <= month <= last:
        raise InvalidMonth(
            f"{where}: month {month!r} is outside {FIRST_MONTH}..{last}: observations "
            "are measured months, not forecasts; check the year"
        )
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise InvalidValue(
            f"{where}: value is {value}: send a finite number, or leave the month out "
            "if it was not measured (the score flags the gap)"
        )
    value = limits.number(value, "observation_value", where, error=InvalidValue)
    # The unit comes before the range: a value in mln instead of bn KZT is a unit
    # error, not an outlier.
    if str(unit) != ind.unit:
        raise UnitMismatch(
            f"{where}: value is in {str(unit)[:40]!r} but {iid!r} is measured in "
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
    source = limits.text(str(source), f"{where}: source", error=InvalidValue)
    return (uid, iid, month, value, ind.unit, source, _flag(synthetic, where))


def load_stored(table: pd.DataFrame | None, registry: Registry, units
                ) -> tuple[list[tuple], pd.DataFrame]:
    """The stored observations the score can use, and the rows set aside.

    Every stored row passes :func:`validate`'s checks (a row written by an old bug, or
    edited by hand, may not); a row that fails, or repeats the key of an earlier one, is
    set aside instead of breaking every score read after it. Returns the canonical tuples
    and the set-aside rows as stored, with a ``problem`` column saying what is wrong.
    """
    if table is None or not len(table):
        return [], pd.DataFrame(columns=[*COLUMNS, "problem"])
    units = units if isinstance(units, (set, frozenset, dict)) else set(units)
    last = _current_month()
    good, aside, problems = [], [], []
    seen: set = set()
    cols = [c for c in COLUMNS if c in table.columns]
    missing = [c for c in COLUMNS[:5] if c not in cols]
    if missing:
        return [], table.assign(problem=f"the table lacks column(s) {missing}")
    for k, rec in enumerate(as_records(table[cols])):
        try:
            r = _check(rec, registry, units, last)
            if r[:3] in seen:
                raise DuplicateObservation(f"{_where(r)} repeats an earlier row's key")
        except ObservationError as e:
            aside.append(k)
            problems.append(str(e))
            continue
        seen.add(r[:3])
        good.append(r)
    bad = table.iloc[aside].assign(problem=problems)
    return good, bad


def set_aside_note(bad: pd.DataFrame, where: str | None) -> str:
    """The warning for observations set aside: the table, the rows and the fix (``where``
    names the store, e.g. "twin file 'x.gpkg'")."""
    where = where or "the twin"
    lines = [f"{where}: {len(bad)} row(s) of table {TABLE!r} cannot be read and were set "
             "aside (the score runs without them; the file keeps them):"]
    for _, r in bad.head(5).iterrows():
        lines.append(f"  row ({r.get('unit_id')!r}, {r.get('indicator')!r}, "
                     f"{r.get('month')!r}): {r['problem']}")
    if len(bad) > 5:
        lines.append(f"  ... and {len(bad) - 5} more")
    lines.append(f"Fix: correct or delete those rows of {TABLE!r} in the file (e.g. with "
                 "sqlite3), then send the corrected values with POST /score/observations "
                 "or tw.score.ingest(...); a whole tw.save() moves them to table "
                 f"{SET_ASIDE_TABLE!r}")
    return "\n".join(lines)


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
        """Build from canonical observations (those :func:`load_stored` keeps)."""
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

    def months_after(self, records: list[tuple]) -> list[str]:
        """The month axis once ``records`` are written (contiguous, so that a column offset
        is a calendar offset). Pure: an ingest computes it before it commits."""
        new = {r[2] for r in records} - self.month_index.keys()
        return _span(pd.Series(self.months + sorted(new))) if new else self.months

    def duplicates(self, records: list[tuple]) -> list[tuple]:
        """The validated records whose (unit, indicator, month) is already observed."""
        hit = []
        for r in records:
            mi = self.month_index.get(r[2])
            if mi is not None and np.isfinite(self.arrays[r[1]][self.unit_index[r[0]], mi]):
                hit.append(r)
        return hit

    def write(self, records: list[tuple], months: list[str] | None = None) -> None:
        """Write validated records; ``months`` is :meth:`months_after` of them, if known."""
        span = self.months_after(records) if months is None else months
        if span is not self.months:
            old = self.month_index
            self.months = span
            self.month_index = {m: k for k, m in enumerate(span)}
            cols = [self.month_index[m] for m in old]
            for iid, arr in self.arrays.items():
                grown = np.full((len(self.units), len(span)), np.nan)
                grown[:, cols] = arr
                self.arrays[iid] = grown
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
