"""From monthly observations to one value per unit and indicator: the score's panel.

Each indicator has a *reference month*: the latest month in which every unit reported. A late
unit therefore never pulls the whole region back, and a month that only some units have
reported stays pending until it completes. (If no month is complete, the latest month with any
report is used and the gaps are imputed.)

* A ``level`` indicator takes its value at the reference month.
* A ``flow`` indicator takes the sum of the 12 months ending at the reference month.

Missing data is imputed, never silently: every imputed cell carries a flag in
:attr:`ScorePanel.imputed` (``""`` means observed):

``carried_forward``
    level: no value at the reference month; the unit's latest earlier value (within 12 months).
``months_filled``
    flow: some months of the window are missing; each is filled with the unit's mean over
    the window's observed months.
``median``
    nothing usable for the unit; the median of the other units (Handbook: unconditional
    median imputation).
``no_data``
    the indicator has no observation at all; it is left out of the composite (its weight
    counts as 0, :attr:`ScorePanel.left_out` names it), so a made-up value cannot compress
    the ranking.
``target_assumed``
    flow with a growth target but no previous 12 months: the target is the unit's own value
    times (1 + growth).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .registry import Indicator, Registry

__all__ = ["ScorePanel", "indicator_column", "n_imputed", "WINDOW"]

WINDOW = 12  # months summed for a flow indicator; also the carry-forward limit for levels


@dataclass(frozen=True)
class ScorePanel:
    """A snapshot: for each unit and indicator, the value scored and its target.

    ``raw`` and ``targets`` are units x indicators (registry order); ``imputed`` holds the
    imputation flags; ``reference_month`` the month each indicator is scored at.
    """

    registry: Registry
    units: tuple[str, ...]
    names: tuple[str, ...]
    raw: pd.DataFrame
    targets: pd.DataFrame
    imputed: pd.DataFrame
    reference_month: pd.Series

    @property
    def observed(self) -> np.ndarray:
        """Per indicator (registry order): whether it has any observation to score."""
        return self.reference_month.notna().to_numpy()

    @property
    def left_out(self) -> tuple[str, ...]:
        """Indicators left out of the composite because they have no observation."""
        return tuple(i for i, seen in zip(self.registry.ids, self.observed, strict=True)
                     if not seen)

    def scored(self) -> ScorePanel:
        """This panel without the indicators it has no observation of (and without the
        dimensions left empty): what analyses of the scored values read, so that a filled-in
        constant never shows up as a correlation, a weight that matters or a strength."""
        if not self.left_out:
            return self
        keep = [i for i in self.registry.indicators if i.id not in self.left_out]
        dims = {i.dimension for i in keep}
        reg = Registry(indicators=tuple(keep),
                       dimensions=tuple(d for d in self.registry.dimensions if d.id in dims))
        ids = list(reg.ids)
        return ScorePanel(reg, self.units, self.names, self.raw[ids], self.targets[ids],
                          self.imputed[ids], self.reference_month[ids])


def n_imputed(flags) -> np.ndarray:
    """Per unit (row), how many of its scored values were imputed: the flags of an indicator
    without any observation (``no_data``) do not count, as it is not scored."""
    f = np.asarray(flags, dtype=object)
    return ((f != "") & (f != "no_data")).sum(axis=1)


def _median_fill(v: np.ndarray, flags: np.ndarray, flag: str) -> np.ndarray:
    miss = ~np.isfinite(v)
    if miss.any() and (~miss).any():
        v = v.copy()
        v[miss] = np.median(v[~miss])
        flags[miss] = _add(flags[miss], flag)
    return v


def _add(existing: np.ndarray, flag: str) -> np.ndarray:
    return np.array([f"{e}+{flag}" if e else flag for e in existing], dtype=object)


def _window_sum(a: np.ndarray, end: int, flags: np.ndarray | None) -> np.ndarray:
    """Sum of the WINDOW months ending at column ``end``; gaps filled by the unit's mean."""
    start = max(0, end - WINDOW + 1)
    w = a[:, start : end + 1]
    seen = np.isfinite(w)
    n_seen = seen.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n_seen > 0, np.nansum(w, axis=1) / np.maximum(n_seen, 1), np.nan)
    total = mean * WINDOW  # equals the plain sum when every month was seen
    full = n_seen == WINDOW
    total[full] = np.nansum(w[full], axis=1)
    if flags is not None:
        partial = (n_seen > 0) & ~full
        flags[partial] = _add(flags[partial], "months_filled")
    return total


def indicator_column(a: np.ndarray, ind: Indicator):
    """Value, target and flags of one indicator for every unit, and its reference column.

    Parameters
    ----------
    a : ndarray, shape (units, months)
        Observations, NaN where a month was not reported.
    ind : Indicator

    Returns
    -------
    raw, target : ndarray of float
    flags : ndarray of str
    ref : int or None
        Index of the reference month, None when the indicator has no observation.

    Examples
    --------
    >>> from twin.score.registry import load_registry
    >>> ind = load_registry()["avg_wage"]
    >>> a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, np.nan]])
    >>> raw, tgt, flags, ref = indicator_column(a, ind)
    >>> raw.tolist(), flags.tolist(), ref
    ([2.0, 5.0], ['', ''], 1)
    """
    n = a.shape[0]
    flags = np.array([""] * n, dtype=object)
    seen = np.isfinite(a)
    complete = seen.all(axis=0)
    anyseen = seen.any(axis=0)
    if not anyseen.any():
        fill = ind.target_value if ind.target_value is not None else 0.0
        raw = np.full(n, fill)
        return raw, raw.copy(), np.array(["no_data"] * n, dtype=object), None
    ref = int(np.flatnonzero(complete)[-1]) if complete.any() else int(
        np.flatnonzero(anyseen)[-1])

    if ind.kind == "level":
        raw = a[:, ref].copy()
        miss = ~np.isfinite(raw)
        if miss.any():
            lo = max(0, ref - WINDOW)
            past = a[:, lo:ref]
            for u in np.flatnonzero(miss):
                got = np.flatnonzero(np.isfinite(past[u]))
                if got.size:
                    raw[u] = past[u, got[-1]]
                    flags[u] = "carried_forward"
        raw = _median_fill(raw, flags, "median")
    else:
        raw = _window_sum(a, ref, flags)
        raw = _median_fill(raw, flags, "median")

    if ind.target_value is not None:
        target = np.full(n, ind.target_value)
    else:
        prev = _window_sum(a, ref - WINDOW, None) if ref - WINDOW >= 0 else np.full(n, np.nan)
        assumed = ~np.isfinite(prev)
        prev[assumed] = raw[assumed]
        flags[assumed] = _add(flags[assumed], "target_assumed")
        target = (1.0 + ind.growth) * prev
    return raw, target, flags, ref
