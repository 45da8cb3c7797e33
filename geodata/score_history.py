"""Deterministic SYNTHETIC monthly history of the score's indicators, January 2022 to
August 2025, for every district and city.

Nothing here is an official figure, and every row says ``synthetic = True``. Two series are
anchored to the source document (``../shared/seed/facts.md``):

* ``investment``: January-August 2025 is the project sites' ``investment_kzt`` (status
  ``implementation``) summed by district and split over the eight months in whole tenge, so
  the region's total is exactly the sites' total (456 bn KZT in the default twin). January-
  August 2024 sums to that total / 1.5 ("1.5x the previous year's level").
* ``new_jobs``: January-August 2025 is the sites' ``jobs`` by district, split in whole jobs.

The other indicators follow a level, a spread between units, a yearly trend, a season and
AR(1) noise, with parameters from the ``synthetic`` block of ``indicators.yaml``. Every random
draw is seeded by ``crc32(indicator, unit)``, so the same inputs give the same bytes.

This module hands plain DataFrames to ``twin``; it never imports ``twin``.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

__all__ = ["generate_history", "HISTORY_START", "HISTORY_END", "OBSERVATION_COLUMNS"]

HISTORY_START = "2022-01"
HISTORY_END = "2025-08"
OBSERVATION_COLUMNS = ["unit_id", "indicator", "month", "value", "unit", "source", "synthetic"]
INDICATORS_YAML = Path(__file__).with_name("indicators.yaml")

#: Source document: investment Jan-Aug 2025 is "1.5x the previous year's level".
PREVIOUS_YEAR_RATIO = {"investment": 1.5, "new_jobs": 1.3}  # jobs ratio: made up
#: Made-up growth of the derived series from one year to the next before 2024.
EARLIER_GROWTH = 1.25
ANCHOR_YEAR = 2025
ANCHOR_MONTHS = 8  # January-August
_SCALE = {"investment": 1e9, "new_jobs": 1.0}  # KZT -> bn KZT; jobs stay jobs
_VERSION = "geodata/score_history.py v1"


def _rng(*keys: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("|".join(keys).encode()))


def _split_int(total: int, weights: np.ndarray) -> np.ndarray:
    """Split a whole number into whole parts proportional to ``weights`` (largest remainder)."""
    weights = np.asarray(weights, dtype=float)
    if total == 0 or weights.sum() == 0:
        return np.zeros(len(weights), dtype=np.int64)
    raw = weights / weights.sum() * total
    parts = np.floor(raw).astype(np.int64)
    short = int(total - parts.sum())
    order = np.argsort(-(raw - parts), kind="stable")
    parts[order[:short]] += 1
    return parts


def _derived(ind: dict, units: Sequence[str], sites: pd.DataFrame, months: pd.PeriodIndex):
    """Investment or jobs per unit and month, in whole KZT / jobs, anchored to the sites."""
    iid = ind["id"]
    column = ind["synthetic"]["derive"].split(".", 1)[1]
    live = sites[sites["status"] == "implementation"]
    unknown = sorted(set(live["district_id"]) - set(units))
    if unknown:
        raise ValueError(
            f"project_sites name district_id(s) {unknown} that are not among the units "
            f"{list(units)}: fix the sites' district_id"
        )
    by_unit = live.groupby("district_id")[column].sum()
    tot25 = np.array([int(by_unit.get(u, 0)) for u in units], dtype=np.int64)
    region25 = int(tot25.sum())
    region24 = int(round(region25 / PREVIOUS_YEAR_RATIO[iid]))
    # 2024 shares: this year's shares blended with equal shares, so units with no project
    # this year still had some activity the year before.
    rng = _rng(iid, "shares")
    share25 = tot25 / region25 if region25 else np.full(len(units), 1 / len(units))
    share24 = (0.7 * share25 + 0.3 / len(units)) * rng.uniform(0.8, 1.2, len(units))
    tot24 = _split_int(region24, share24)

    out = np.zeros((len(units), len(months)), dtype=np.int64)
    years = np.asarray(months.year)
    mnums = np.asarray(months.month)
    for k, u in enumerate(units):
        r = _rng(iid, u)
        a25 = (years == ANCHOR_YEAR) & (mnums <= ANCHOR_MONTHS)
        out[k, a25] = _split_int(int(tot25[k]), r.uniform(0.6, 1.4, int(a25.sum())))
        a24 = (years == ANCHOR_YEAR - 1) & (mnums <= ANCHOR_MONTHS)
        out[k, a24] = _split_int(int(tot24[k]), r.uniform(0.6, 1.4, int(a24.sum())))
        mean24 = tot24[k] / ANCHOR_MONTHS
        rest = ~(a25 | a24)
        back = np.where(years < ANCHOR_YEAR - 1, (ANCHOR_YEAR - 1 - years), 0)
        level = mean24 / EARLIER_GROWTH ** back * r.uniform(0.6, 1.4, len(months))
        out[k, rest] = np.round(level[rest]).astype(np.int64)
    return out.astype(float) / _SCALE[iid]


def _modelled(ind: dict, units: Sequence[str], months: pd.PeriodIndex) -> np.ndarray:
    p = ind["synthetic"]
    t = np.arange(len(months)) / 12.0  # years since the start
    mnums = np.asarray(months.month)
    out = np.empty((len(units), len(months)))
    for k, u in enumerate(units):
        r = _rng(ind["id"], u)
        base = p["base"] * np.exp(p["spread"] * r.standard_normal())
        growth = (1 + p["trend"] * r.uniform(0.5, 1.5)) ** t
        if ind["kind"] == "flow":
            season = 1 + p["season"] * np.cos(2 * np.pi * (mnums - p.get("peak", 1)) / 12)
        else:
            season = 1 + p["season"] * np.sin(2 * np.pi * (mnums - 1) / 12)
        # AR(1) noise: real monthly statistics drift rather than jump.
        e = r.standard_normal(len(months))
        ar = np.empty(len(months))
        ar[0] = e[0]
        for j in range(1, len(months)):
            ar[j] = 0.6 * ar[j - 1] + 0.8 * e[j]
        v = base * growth * season * np.exp(p["noise"] * ar)
        if "cap" in p:
            v = np.minimum(v, p["cap"] - 0.5)
        out[k] = np.round(v, 3)
    return out


def generate_history(
    unit_ids: Sequence[str],
    project_sites: pd.DataFrame,
    *,
    indicators_yaml: str | Path | None = None,
    end: str = HISTORY_END,
) -> pd.DataFrame:
    """Synthetic observations ``(unit_id, indicator, month, value, unit, source, synthetic)``.

    Parameters
    ----------
    unit_ids : sequence of str
        District and city ids (``units.csv`` ids in the default twin).
    project_sites : DataFrame
        Needs ``district_id``, ``status``, ``investment_kzt`` and ``jobs``.
    end : str
        Last month (inclusive); must be on or after 2025-08, the month the anchors cover.

    Examples
    --------
    >>> sites = pd.DataFrame({"district_id": ["a"], "status": ["implementation"],
    ...                       "investment_kzt": [8_000_000_000], "jobs": [8]})
    >>> h = generate_history(["a", "b"], sites)
    >>> jan_aug = h[(h.indicator == "investment") & (h.month >= "2025-01")]
    >>> float(jan_aug.value.sum())
    8.0
    >>> bool(h.synthetic.all())
    True
    """
    if pd.Period(end, "M") < pd.Period(f"{ANCHOR_YEAR}-{ANCHOR_MONTHS:02d}", "M"):
        raise ValueError(f"end={end!r} must be 2025-08 or later: the anchors cover Jan-Aug 2025")
    units = list(unit_ids)
    if len(set(units)) != len(units) or not units:
        raise ValueError(f"unit ids must be unique and non-empty, got {units}")
    with open(indicators_yaml or INDICATORS_YAML, encoding="utf-8") as f:
        registry = yaml.safe_load(f)
    months = pd.period_range(HISTORY_START, end, freq="M")
    month_str = np.asarray(months.strftime("%Y-%m"))
    frames = []
    for ind in registry["indicators"]:
        if "derive" in ind["synthetic"]:
            values = _derived(ind, units, project_sites, months)
            src = f"synthetic: {ind['synthetic']['derive']} split by month ({_VERSION})"
        else:
            values = _modelled(ind, units, months)
            src = f"synthetic: modelled series ({_VERSION})"
        frames.append(pd.DataFrame({
            "unit_id": np.repeat(units, len(months)),
            "indicator": ind["id"],
            "month": np.tile(month_str, len(units)),
            "value": values.ravel(),
            "unit": ind["unit"],
            "source": src,
            "synthetic": True,
        }))
    out = pd.concat(frames, ignore_index=True)[OBSERVATION_COLUMNS]
    return out.astype({"unit_id": str, "indicator": str, "month": str, "unit": str,
                       "source": str, "synthetic": bool})
