"""Static pictures of the model with matplotlib: changes, rank intervals, forecast fans.

This module is the toolkit's plotting backend (:mod:`twin.plotting`, registered as
``"matplotlib"``): ``ev.plot()``, ``sc.uncertainty().plot()`` and ``sc.forecast().plot()``
land in :func:`plot`. Each function draws on the ``ax`` it is given or on a new figure, and
returns the Axes, as pandas' and geopandas' ``plot`` do, so a notebook shows the figure
once.

Changes are drawn on a diverging scale centred on zero (purple losses, orange gains,
ColorBrewer PuOr, colour-blind safe; no change is the pale middle), so a district that does
not change never looks like one that gains.

Examples
--------
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import geopandas as gpd, pandas as pd
>>> from shapely import box
>>> shapes = gpd.GeoSeries([box(0, 0, 1, 1), box(1, 0, 2, 1)], index=["a", "b"], crs=4326)
>>> ax = change_map(shapes, pd.Series({"a": -3.0, "b": 0.0}), label="change in jobs")
>>> ax.get_title()
'change in jobs'
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["plot", "change_map", "evaluation", "rank_intervals", "forecast_fan",
           "CHANGE_CMAP"]

#: The diverging colormap of changes: low (losses) purple, high (gains) orange.
CHANGE_CMAP = "PuOr_r"


def _axes(ax, figsize=(7, 5)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize, layout="constrained")[1]


def change_map(shapes, values: pd.Series, *, ax=None, label: str | None = None,
               cmap: str = CHANGE_CMAP):
    """Polygons ``shapes`` (a GeoSeries) coloured by ``values`` (aligned on the index) on a
    diverging scale centred on zero; missing values are hatched grey, "no data"."""
    import geopandas as gpd
    from matplotlib.colors import CenteredNorm

    ax = _axes(ax)
    v = pd.to_numeric(values.reindex(shapes.index), errors="coerce")
    top = float(np.nanmax(np.abs(v.to_numpy(dtype=float)))) if v.notna().any() else 0.0
    gdf = gpd.GeoDataFrame({"value": v.to_numpy()}, geometry=shapes.to_numpy(),
                           crs=shapes.crs)
    title = label or str(values.name or "change")
    # Nothing changes: no colour bar (a -1..1 scale would invent a range), say so instead.
    gdf.plot(column="value", ax=ax, cmap=cmap, norm=CenteredNorm(0, top or 1.0),
             edgecolor="#555555", linewidth=0.5, legend=top > 0,
             legend_kwds={"label": title, "shrink": 0.7} if top > 0 else None,
             missing_kwds={"color": "#dddddd", "hatch": "///", "label": "no data"})
    ax.set_title(title if top > 0 else f"{title}: none")
    ax.set_axis_off()
    return ax


def evaluation(ev, column: str = "d_jobs", *, axes=None):
    """A scenario's evaluation: ``column`` of ``ev.districts`` on a change map, and beside
    it the units whose region-score rank changes (or ``column`` by district, as bars, when
    the twin has no score). Returns the two Axes."""
    if column not in ev.districts:
        raise ValueError(f"column {column!r} is not in the evaluation's districts: use one of "
                         f"{', '.join(c for c in ev.districts if c.startswith('d_'))}")
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained",
                               gridspec_kw={"width_ratios": [3, 2]})
    label = {"d_jobs": "change in jobs", "d_investment_kzt": "change in investment, KZT",
             "d_capacity_m2": "change in floor-area capacity, m²"}.get(column, column)
    if ev.district_shapes is not None:
        change_map(ev.district_shapes, ev.districts[column], ax=axes[0], label=label)
    right = axes[1]
    sc = ev.score
    if sc is not None and (sc["rank_change"] != 0).any():
        moved = sc[sc["rank_change"] != 0].sort_values("rank_change")
        _bars(right, moved["rank_change"], moved["name"], "rank change (> 0: moved up)")
        right.set_title(f"{len(moved)} units change rank in the region score")
    else:
        d = ev.districts[ev.districts[column] != 0].sort_values(column)
        _bars(right, d[column], d["district"], label)
        right.set_title(f"{len(d)} districts change" if len(d) else "no district changes")
    return axes


def _bars(ax, values: pd.Series, labels, xlabel: str) -> None:
    from matplotlib import colormaps

    cmap = colormaps[CHANGE_CMAP]
    colors = [cmap(0.85) if v > 0 else cmap(0.15) for v in values]
    y = np.arange(len(values))
    ax.barh(y, values.to_numpy(dtype=float), color=colors)
    ax.set_yticks(y, list(labels))
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_xlabel(xlabel)


def rank_intervals(u, *, ax=None):
    """Each unit's rank under the Monte Carlo of the score's choices: the 5-95 % interval
    (bar), the median (dot) and the nominal rank (diamond), best unit on top."""
    r = u.ranks.sort_values("nominal_rank")
    ax = _axes(ax, figsize=(7, 0.3 * len(r) + 1.2))
    y = np.arange(len(r))
    ax.hlines(y, r["rank_p05"], r["rank_p95"], color="#b2abd2", linewidth=6,
              label="5–95 % of draws")
    ax.plot(r["median_rank"], y, "o", color="#5e3c99", label="median")
    ax.plot(r["nominal_rank"], y, "D", color="#e66101", markersize=5, label="nominal")
    names = r["name"] if "name" in r else r.index
    ax.set_yticks(y, list(names))
    ax.invert_yaxis()
    ax.set_xlabel("rank (1 = best)")
    ax.xaxis.set_label_position("top")
    ax.xaxis.tick_top()
    ax.set_title(f"Rank intervals over {u.n} draws (weights ±{u.weight_spread:.0%}, "
                 "normalisation, aggregation)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=3, fontsize="small",
              frameon=False)
    return ax


def forecast_fan(f, *, unit: str | None = None, indicator: str | None = None, axes=None):
    """Fan charts of a forecast: the observed months, the forecast mean and its
    prediction interval, one panel per (unit, indicator). ``unit`` and ``indicator`` pick
    among the forecast's series. Returns the Axes (an array when there are several)."""
    t = f.table
    pairs = t[["unit_id", "indicator"]].drop_duplicates()
    if unit is not None:
        pairs = pairs[pairs["unit_id"] == unit]
    if indicator is not None:
        pairs = pairs[pairs["indicator"] == indicator]
    if pairs.empty:
        raise ValueError(f"the forecast has no series for unit={unit!r}, "
                         f"indicator={indicator!r}: it has units "
                         f"{', '.join(t['unit_id'].unique())}")
    if len(pairs) > 12:
        raise ValueError(f"{len(pairs)} series are too many for one figure: pick a unit or "
                         "an indicator (plot(unit=..., indicator=...))")
    if axes is None:
        import matplotlib.pyplot as plt

        n = len(pairs)
        cols = min(n, 2)
        _, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(6 * cols, 3.4 *
                               ((n + cols - 1) // cols)), layout="constrained", squeeze=False)
        axes = axes.ravel()
    axes = np.atleast_1d(axes)
    hist = f.history if f.history is not None else pd.DataFrame(
        columns=["unit_id", "indicator", "month", "value"])
    for ax, (u, ind) in zip(axes, pairs.itertuples(index=False), strict=False):
        fc = t[(t["unit_id"] == u) & (t["indicator"] == ind)]
        h = hist[(hist["unit_id"] == u) & (hist["indicator"] == ind)]
        hx = pd.PeriodIndex(h["month"], freq="M").to_timestamp()
        fx = pd.PeriodIndex(fc["month"], freq="M").to_timestamp()
        ax.plot(hx, h["value"], color="#333333", linewidth=1.2, label="observed")
        if len(h):  # the forecast starts from the last observation
            fx = fx.insert(0, hx[-1])
            mean = np.r_[h["value"].iloc[-1], fc["mean"]]
            lo = np.r_[h["value"].iloc[-1], fc["lower"]]
            hi = np.r_[h["value"].iloc[-1], fc["upper"]]
        else:
            mean, lo, hi = fc["mean"], fc["lower"], fc["upper"]
        ax.fill_between(fx, lo, hi, color="#fdb863", alpha=0.6,
                        label=f"{f.level:.0%} prediction interval")
        ax.plot(fx, mean, color="#e66101", linewidth=1.6, label="forecast")
        k = f.kpi[(f.kpi["unit_id"] == u) & (f.kpi["indicator"] == ind)]
        miss = f", P(miss target) {k['p_miss'].iloc[0]:.0%}" if len(k) else ""
        ax.set_title(f"{u} · {ind}{miss}", fontsize="medium")
        ax.legend(fontsize="small", loc="upper left")
    for ax in axes[len(pairs):]:
        ax.set_visible(False)
    return axes if len(pairs) > 1 else axes[0]


def plot(obj, **kwargs):
    """The plotting backend's entry point (:mod:`twin.plotting`): draw a scenario's
    Evaluation, a score's rank uncertainty or forecast."""
    from twin.scenario import Evaluation
    from twin.score.forecast import ForecastResult
    from twin.score.uncertainty import RankUncertainty

    if isinstance(obj, Evaluation):
        return evaluation(obj, **kwargs)
    if isinstance(obj, RankUncertainty):
        return rank_intervals(obj, **kwargs)
    if isinstance(obj, ForecastResult):
        return forecast_fan(obj, **kwargs)
    raise TypeError(f"layers.plots cannot draw a {type(obj).__name__}: it draws an "
                    "Evaluation, a RankUncertainty or a ForecastResult")
