"""Forecasts of every indicator for every unit, a backtest, and the early-warning list.

Each monthly series gets an exponential-smoothing state-space model, ETS(A,Ad,A) — additive
errors, damped additive trend, additive 12-month season — or ETS(A,Ad,N) when the registry
marks the indicator as not seasonal (statsmodels' ``ETSModel``, maximum likelihood). A
seasonal flow with only positive values is modelled on the log scale (a multiplicative
season).
Prediction intervals and the probability of missing a target come from simulated future
paths (seeded). The baseline is the seasonal-naive forecast (the value 12 months earlier).

statsmodels is the optional ``score`` extra and is imported only here, inside functions.
Its warnings (``ConvergenceWarning`` and the like) are caught and recorded per series in the
``warnings`` column, never swallowed silently and never left to escape.
"""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import (
    ForecastUnavailable,
    NotEnoughHistory,
    ScoreArgumentError,
    UnknownIndicator,
    UnknownUnit,
)
from .registry import Indicator

__all__ = ["ForecastResult", "BacktestResult", "forecast_score", "backtest",
           "seasonal_naive", "mape"]

PERIOD = 12
#: Months of history a series needs to be forecast: a year for the seasonal-naive baseline
#: to compare with, and two more to fit a trend on.
MIN_HISTORY = PERIOD + 2


def seasonal_naive(y, h: int, period: int = PERIOD) -> np.ndarray:
    r"""Seasonal-naive forecast :math:`\hat y_{T+k} = y_{T+k-p\lceil k/p\rceil}`.

    Examples
    --------
    >>> seasonal_naive(np.arange(24.0), 3).tolist()
    [12.0, 13.0, 14.0]
    """
    y = np.asarray(y, dtype=float)
    k = np.arange(h)
    return y[len(y) - period + (k % period)]


def mape(actual, forecast) -> tuple[float, int]:
    r"""Mean absolute percentage error :math:`100\,\overline{|y-\hat y|/|y|}` over the
    points with :math:`y \ne 0` (undefined there), and how many points were used.

    Examples
    --------
    >>> mape([100, 200, 0], [110, 180, 5])
    (10.0, 2)
    """
    a, f = np.asarray(actual, dtype=float), np.asarray(forecast, dtype=float)
    ok = a != 0
    if not ok.any():
        return float("nan"), 0
    return float(100 * np.mean(np.abs(a[ok] - f[ok]) / np.abs(a[ok]))), int(ok.sum())


def _ets():
    try:
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ForecastUnavailable(
            "forecasts need statsmodels: pip install 'aqmola-twin[score]'"
        ) from e
    return ETSModel


def _prepare(y: pd.Series) -> tuple[pd.Series, str]:
    """Drop leading/trailing gaps; interpolate inner ones (and say so)."""
    first, last = y.first_valid_index(), y.last_valid_index()
    if first is None:
        return y.iloc[:0].astype(float), "no observations"
    y = y.loc[first:last]
    note = ""
    if y.isna().any():
        note = f"interpolated {int(y.isna().sum())} missing month(s)"
        y = y.interpolate()
    return y.astype(float), note


def _fit(y: pd.Series, ind: Indicator):
    """Fit ETS; return (results or None, model name, log scale?, recorded warnings).

    A seasonal flow with only positive values is modelled on the log scale: its season is
    multiplicative (a harvest doubles output, it does not add a constant), which additive
    ETS on logs captures. Its forecasts are then medians (exp of the log-scale mean).
    """
    ETSModel = _ets()
    seasonal = ind.seasonal and len(y) >= 2 * PERIOD + 2
    log = seasonal and ind.kind == "flow" and bool((y > 0).all())
    name = ("ETS(A,Ad,A)" if seasonal else "ETS(A,Ad,N)") + (" on log" if log else "")
    with warnings.catch_warnings(record=True) as caught:
        # Record rather than raise: a hard-to-fit series is reported, not fatal.
        warnings.simplefilter("always")
        try:
            # Heuristic initial states (Hyndman et al. 2008, sec. 2.6.1) leave only the
            # smoothing parameters to the optimiser: about 10x faster for seasonal models
            # than estimating 13 initial states too, at a small cost in fit.
            model = ETSModel(np.log(y) if log else y, error="add", trend="add",
                             damped_trend=True, seasonal="add" if seasonal else None,
                             seasonal_periods=PERIOD if seasonal else None,
                             initialization_method="heuristic" if seasonal else "estimated")
            res = model.fit(disp=False)
        except (ValueError, np.linalg.LinAlgError) as e:
            return None, "seasonal_naive (ETS failed)", False, [f"{type(e).__name__}: {e}"]
    return res, name, log, _messages(caught)


def _messages(caught) -> list[str]:
    """Recorded warnings as one line each (kept with the series, never dropped)."""
    return sorted({f"{w.category.__name__}: {str(w.message).splitlines()[0]}"
                   for w in caught})


def _selection(score, units, indicators) -> tuple[list[str], list[Indicator]]:
    reg = score.registry
    units = list(units or score.units)
    bad = [u for u in units if u not in score.units]
    if bad:
        raise UnknownUnit(f"unknown unit(s) {bad}: use ids of the twin's 'districts' layer "
                          f"({', '.join(score.units)})")
    ids = list(indicators or reg.ids)
    bad = [i for i in ids if i not in reg]
    if bad:
        raise UnknownIndicator(f"unknown indicator(s) {bad}: the registry has "
                               f"{', '.join(reg.ids)}")
    return units, [reg[i] for i in ids]


def _clip(x, ind: Indicator):
    lo = -np.inf if ind.lower_bound is None else ind.lower_bound
    hi = np.inf if ind.upper_bound is None else ind.upper_bound
    return np.clip(x, lo, hi)


@dataclass(frozen=True)
class ForecastResult:
    """Forecasts and KPI projections.

    ``table``: one row per unit, indicator and future month: ``mean``, ``lower``,
    ``upper`` (the ``level`` prediction interval) and ``model``.
    ``kpi``: one row per unit and indicator: the KPI as scored (level at the horizon, or the
    sum of the 12 months ending there for a flow), its interval, the target, the
    probability of missing it (share of simulated paths) and ``misses`` (the point
    forecast misses).
    ``history``: the last 36 observed months of each forecast series (``unit_id``,
    ``indicator``, ``month``, ``value``), which ``plot()`` draws before the fan.
    """

    table: pd.DataFrame
    kpi: pd.DataFrame
    horizon: int
    level: float
    seed: int
    history: pd.DataFrame | None = None

    def plot(self, unit: str | None = None, indicator: str | None = None, **kwargs):
        """A fan chart per series: the history, the forecast and its interval (the
        plotting backend's, see :mod:`twin.plotting`)."""
        from .. import plotting

        return plotting.plot(self, unit=unit, indicator=indicator, **kwargs)

    @property
    def early_warning(self) -> pd.DataFrame:
        """Units and indicators whose forecast misses the target, likeliest miss first."""
        return self.kpi[self.kpi["misses"].astype(bool)].sort_values(
            ["p_miss", "unit_id"], ascending=[False, True])

    @property
    def units_at_risk(self) -> pd.DataFrame:
        """Per unit: how many of its KPIs are forecast to miss, which, and the mean
        probability of a miss over all its KPIs; most misses first."""
        k = self.kpi
        g = k.groupby("unit_id")
        out = pd.DataFrame({
            "misses": g["misses"].sum().astype(int),
            "of": g.size(),
            "indicators": k[k["misses"]].groupby("unit_id")["indicator"].agg(", ".join),
            "mean_p_miss": g["p_miss"].mean(),
        }).fillna({"indicators": ""})
        return out.sort_values(["misses", "mean_p_miss"], ascending=False)


def _kpi(ind: Indicator, hist: np.ndarray, paths: np.ndarray, h: int):
    """The KPI value per simulated path, and its target, at the horizon."""
    if ind.kind == "level":
        return paths[-1], ind.absolute_target
    keep = PERIOD - h  # months of the window that are already observed
    observed = hist[len(hist) - keep:].sum() if keep > 0 else 0.0
    kpi = observed + paths[-min(h, PERIOD):].sum(axis=0)
    if ind.target_value is not None:
        return kpi, float(ind.target_value)
    prev = hist[len(hist) - keep - PERIOD: len(hist) - keep]
    return kpi, float((1 + ind.growth) * prev.sum())


def forecast_score(score, *, horizon: int = 12, level: float = 0.9, units=None,
                   indicators=None, seed: int = 0, repetitions: int = 500,
                   progress: bool | None = None) -> ForecastResult:
    """Forecast each indicator of each unit ``horizon`` months past its last observation.

    Parameters
    ----------
    score : Score
    horizon : int
        1-12 months.
    level : float
        Coverage of the prediction intervals (0.9 gives the 5 % and 95 % quantiles).
    units, indicators : list of str, optional
        Restrict to these (default: all).
    seed : int
        Seeds the simulated paths (each series gets ``crc32(unit|indicator) + seed``).
    repetitions : int
        Simulated paths per series.
    progress : bool, optional
        A tqdm bar over the series; by default shown from 24 series on (the whole region,
        240 series, takes tens of seconds).
    """
    from tqdm import tqdm

    if not 1 <= horizon <= PERIOD:
        raise ScoreArgumentError(f"horizon={horizon}: forecast 1 to 12 months ahead")
    if not 0 < level < 1:
        raise ScoreArgumentError(f"level={level} must be between 0 and 1 (e.g. 0.9)")
    units, inds = _selection(score, units, indicators)
    a = (1 - level) / 2
    rows, kpis, hist = [], [], []
    n = len(inds) * len(units)
    bar = tqdm(total=n, desc="forecast", unit="series", leave=False,
               disable=not (n >= 24 if progress is None else progress))
    longest = 0
    for ind in inds:
        for u in units:
            bar.update(1)
            y, note = _prepare(score.cube.series(u, ind.id))
            longest = max(longest, len(y))
            if len(y) < MIN_HISTORY:
                continue  # too short to forecast or to have a seasonal-naive baseline
            res, model, log, msgs = _fit(y, ind)
            if note:
                msgs = [note, *msgs]
            months = pd.period_range(y.index[-1] + 1, periods=horizon, freq="M")
            if res is None:
                mean = seasonal_naive(y.to_numpy(), horizon)
                paths = np.repeat(mean[:, None], repetitions, axis=1)
            else:
                rng = np.random.default_rng(zlib.crc32(f"{u}|{ind.id}".encode()) + seed)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    mean = np.asarray(res.forecast(horizon), dtype=float)
                    sim = res.simulate(horizon, anchor="end", repetitions=repetitions,
                                       rng=rng)
                msgs = [*msgs, *(m for m in _messages(caught) if m not in msgs)]
                paths = np.asarray(sim, dtype=float).reshape(horizon, repetitions)
                if log:
                    mean, paths = np.exp(mean), np.exp(paths)
            mean, paths = _clip(mean, ind), _clip(paths, ind)
            lo, hi = np.quantile(paths, [a, 1 - a], axis=1)
            rows.append(pd.DataFrame({
                "unit_id": u, "indicator": ind.id, "month": months.strftime("%Y-%m"),
                "mean": mean, "lower": lo, "upper": hi, "model": model}))
            last = y.iloc[-36:]
            hist.append(pd.DataFrame({"unit_id": u, "indicator": ind.id,
                                      "month": last.index.strftime("%Y-%m"),
                                      "value": last.to_numpy(dtype=float)}))
            kpi_paths, target = _kpi(ind, y.to_numpy(), paths, horizon)
            kpi_mean, _ = _kpi(ind, y.to_numpy(), mean[:, None], horizon)
            kpi_mean = float(np.asarray(kpi_mean).ravel()[0])
            worse = (kpi_paths < target) if ind.higher_is_better else (kpi_paths > target)
            misses = kpi_mean < target if ind.higher_is_better else kpi_mean > target
            kpis.append({
                "unit_id": u, "indicator": ind.id, "at": str(months[-1]),
                "kpi": kpi_mean, "kpi_lower": float(np.quantile(kpi_paths, a)),
                "kpi_upper": float(np.quantile(kpi_paths, 1 - a)), "target": target,
                "direction": ind.direction, "p_miss": float(np.mean(worse)),
                "misses": bool(misses), "model": model, "warnings": "; ".join(msgs)})
    bar.close()
    if not kpis:
        raise NotEnoughHistory(
            f"no series asked for has the {MIN_HISTORY} months a forecast needs (the longest "
            f"has {longest}): a forecast compares with the same month a year before and fits "
            f"a trend on the rest; ingest {MIN_HISTORY - longest} more month(s) of "
            "observations, or ask for a unit and indicator with a longer history")
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["unit_id", "indicator", "month", "mean", "lower", "upper", "model"])
    kpi = pd.DataFrame(kpis, columns=["unit_id", "indicator", "at", "kpi", "kpi_lower",
                                      "kpi_upper", "target", "direction", "p_miss",
                                      "misses", "model", "warnings"])
    history = pd.concat(hist, ignore_index=True) if hist else pd.DataFrame(
        columns=["unit_id", "indicator", "month", "value"])
    return ForecastResult(table, kpi, horizon, level, seed, history)


@dataclass(frozen=True)
class BacktestResult:
    """Rolling-origin backtest: MAPE of ETS against seasonal-naive, per indicator.

    ``summary`` has one row per indicator and an ``ALL`` row (pooled over every forecast
    point); ``errors`` one row per series, origin and step.
    """

    summary: pd.DataFrame
    errors: pd.DataFrame
    origins: tuple[str, ...]
    horizon: int


def backtest(score, *, horizon: int = 6, n_origins: int = 4, step: int = 3, units=None,
             indicators=None) -> BacktestResult:
    r"""Rolling-origin evaluation (Tashman 2000): for each origin, fit on the months up to
    it, forecast ``horizon`` months, compare with what was observed.

    Origins are the last ``n_origins`` months that leave ``horizon`` months to compare,
    ``step`` months apart. MAPE (over non-zero actuals) is reported for ETS and for the
    seasonal-naive baseline, their ratio, the share of series (unit x indicator) on which
    ETS has the lower MAPE, and how many fits raised (recorded) warnings.
    """
    units, inds = _selection(score, units, indicators)
    months = pd.PeriodIndex(score.cube.months, freq="M")
    last = len(months) - 1 - horizon
    origin_idx = [last - k * step for k in range(n_origins)][::-1]
    if origin_idx[0] < 2 * PERIOD:
        raise ScoreArgumentError(
            f"not enough history for {n_origins} origins {step} months apart with horizon "
            f"{horizon}: ask for fewer origins or a shorter horizon"
        )
    recs = []
    for ind in inds:
        for u in units:
            full = score.cube.series(u, ind.id)
            for o in origin_idx:
                if np.isnan(full.iloc[o]):
                    continue  # the forecast would start before the origin
                y, _ = _prepare(full.iloc[: o + 1])
                actual = full.iloc[o + 1: o + 1 + horizon].to_numpy()
                if len(y) < 2 * PERIOD or np.isnan(actual).any():
                    continue
                res, model, log, msgs = _fit(y, ind)
                naive = seasonal_naive(y.to_numpy(), horizon)
                if res is None:
                    fc = naive
                else:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        fc = np.asarray(res.forecast(horizon), dtype=float)
                    msgs = [*msgs, *_messages(caught)]
                    fc = np.exp(fc) if log else fc
                fc = _clip(fc, ind)
                for k in range(horizon):
                    recs.append((ind.id, u, str(months[o]), k + 1, actual[k], fc[k],
                                 naive[k], model, bool(msgs)))
    errors = pd.DataFrame(recs, columns=["indicator", "unit_id", "origin", "step", "actual",
                                         "ets", "seasonal_naive", "model", "warned"])
    rows = []
    for iid, g in list(errors.groupby("indicator", sort=False)) + [("ALL", errors)]:
        m_ets, n = mape(g["actual"], g["ets"])
        m_sn, _ = mape(g["actual"], g["seasonal_naive"])
        per = g[g["actual"] != 0].assign(
            e=lambda d: (d["actual"] - d["ets"]).abs() / d["actual"].abs(),
            s=lambda d: (d["actual"] - d["seasonal_naive"]).abs() / d["actual"].abs(),
        ).groupby(["indicator", "unit_id"])[["e", "s"]].mean()  # one row per series
        rows.append({"indicator": iid, "mape_ets": m_ets, "mape_seasonal_naive": m_sn,
                     "ratio": m_ets / m_sn if m_sn else np.nan,
                     "ets_wins_share": float((per["e"] < per["s"]).mean()) if len(per)
                     else np.nan,
                     "points": n, "zero_actuals_excluded": int((g["actual"] == 0).sum()),
                     "fits_with_warnings": int(g.drop_duplicates(
                         ["indicator", "unit_id", "origin"])["warned"].sum())})
    summary = pd.DataFrame(rows).set_index("indicator")
    return BacktestResult(summary, errors, tuple(str(months[o]) for o in origin_idx), horizon)
