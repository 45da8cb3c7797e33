"""The statistical audit of the composite, after the JRC/OECD Handbook (2008, steps 4-7).

The reference implementation of these checks is COINr (R); this module does the same for a
:class:`~twin.score.panel.ScorePanel`:

* :func:`correlation_flags`: the Pearson correlation matrix of the indicators, with flags
  for collinear pairs (double counting) and for negative correlations inside a dimension
  (indicators that cancel each other out in the sub-score);
* :func:`cronbach_alpha`: the internal consistency of each dimension;
* :func:`treat_outliers` / :func:`treat_panel`: COINr's ``Treat``: winsorise while
  \\|skewness\\| >= 2 and kurtosis >= 3.5, up to 5 points, else a log transform. Reported per
  indicator; the score itself never treats (off by default);
* :func:`sobol_indices` / :func:`score_sensitivity`: first- and total-order Sobol indices
  (Saltelli sampling and estimators from SALib, a well-kept library), with bootstrap
  confidence intervals, of the ranks' mean shift on the weights, the normalisation and the
  aggregation;
* :func:`strengths_weaknesses`: per unit, the indicators where it ranks best and worst.

:func:`audit` runs them all. SALib and scipy come with the ``score`` extra and are imported
only here, inside functions.

Every value is correlated and ranked *direction-aligned*: an indicator where lower is
better enters with its sign flipped, so a positive correlation always means "agree".
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .composite import AGGREGATIONS, NORMALISATIONS, ScoreConfig, compute, rank
from .errors import AuditUnavailable, ScoreArgumentError
from .panel import ScorePanel
from .uncertainty import Design

__all__ = ["Audit", "audit", "correlation_flags", "cronbach_alpha", "treat_outliers",
           "treat_panel", "sobol_indices", "score_sensitivity", "strengths_weaknesses",
           "COLLINEAR", "NEGATIVE"]

#: r at or above which two indicators count as collinear (COINr's get_corr_flags default).
COLLINEAR = 0.9
#: r at or below which two indicators of one dimension count as opposed (COINr's example).
NEGATIVE = -0.4


def _need(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:  # pragma: no cover - depends on the install
        raise AuditUnavailable(
            f"the audit needs {module.split('.')[0]}: pip install 'aqmola-twin[score]'"
        ) from e


def aligned(panel: ScorePanel) -> pd.DataFrame:
    """The panel's values with lower-is-better indicators negated (units x indicators)."""
    sign = np.array([1.0 if i.higher_is_better else -1.0 for i in panel.registry.indicators])
    return panel.raw * sign


def _informative(x: pd.DataFrame) -> pd.DataFrame:
    # A constant column (an indicator with no data, imputed alike everywhere) has no
    # correlation and no rank: leave it out rather than report NaN as a finding.
    return x.loc[:, x.std(ddof=0) > 0]


# -- correlations -----------------------------------------------------------------------------

def correlation_flags(panel: ScorePanel, *, collinear: float = COLLINEAR,
                      negative: float = NEGATIVE) -> tuple[pd.DataFrame, pd.DataFrame]:
    r"""Pearson correlations of the direction-aligned indicators, and the pairs to look at.

    Returns ``(matrix, flags)``. ``flags`` has one row per flagged pair (``a`` before ``b``
    in registry order): ``flag`` is ``"collinear"`` when :math:`r \ge` ``collinear``
    (whatever the dimensions: the pair double-counts) and ``"negative_within_dimension"``
    when both share a dimension and :math:`r \le` ``negative`` (they cancel out in the
    sub-score). Constant indicators are left out.

    Examples
    --------
    >>> # m, flags = correlation_flags(tw.score.panel); flags[["a", "b", "r", "flag"]]
    """
    x = _informative(aligned(panel))
    m = x.corr(method="pearson")
    dim = {i.id: i.dimension for i in panel.registry.indicators}
    rows = []
    cols = list(m.columns)
    for p, a in enumerate(cols):
        for b in cols[p + 1:]:
            r = float(m.loc[a, b])
            same = dim[a] == dim[b]
            if r >= collinear:
                rows.append((a, b, r, same, dim[a], dim[b], "collinear"))
            elif same and r <= negative:
                rows.append((a, b, r, same, dim[a], dim[b], "negative_within_dimension"))
    flags = pd.DataFrame(rows, columns=["a", "b", "r", "same_dimension", "dimension_a",
                                        "dimension_b", "flag"])
    return m, flags


def cronbach_alpha(panel: ScorePanel) -> pd.DataFrame:
    r"""Cronbach's alpha of each dimension, on standardised direction-aligned indicators.

    With :math:`k` indicators :math:`z_i` standardised across units,

    .. math:: \alpha = \frac{k}{k-1}\left(1 - \frac{\sum_i V(z_i)}{V(\sum_i z_i)}\right)

    (the standardised alpha: indicators in bn KZT and in % weigh alike). A dimension with
    fewer than two informative indicators has no alpha (NaN, and a ``note``). Values above
    about 0.7 are read as a consistent dimension.
    """
    x = _informative(aligned(panel))
    z = (x - x.mean()) / x.std(ddof=0)
    rows = []
    for d in panel.registry.dimensions:
        ids = [i.id for i in panel.registry.in_dimension(d.id) if i.id in z.columns]
        k = len(ids)
        if k < 2:
            rows.append((d.id, np.nan, k, "fewer than 2 indicators that vary"))
            continue
        total = z[ids].sum(axis=1).var(ddof=0)
        item = z[ids].var(ddof=0).sum()
        a = k / (k - 1) * (1 - item / total) if total > 0 else np.nan
        rows.append((d.id, float(a), k, ""))
    return pd.DataFrame(rows, columns=["dimension", "alpha", "k", "note"]).set_index(
        "dimension")


# -- outlier treatment ------------------------------------------------------------------------

def _skew_kurt(x: np.ndarray) -> tuple[float, float]:
    """Sample skewness and excess kurtosis as COINr (e1071 type 2, Excel) defines them."""
    stats = _need("scipy.stats")
    if len(x) < 4 or np.ptp(x) == 0:
        return float("nan"), float("nan")
    return (float(stats.skew(x, bias=False)),
            float(stats.kurtosis(x, fisher=True, bias=False)))


def _fails(s: float, k: float, skew_thresh: float, kurt_thresh: float) -> bool:
    # COINr's check_SkewKurt passes when |skew| < thresh OR kurtosis < thresh.
    return bool(np.isfinite(s) and abs(s) >= skew_thresh and k >= kurt_thresh)


def treat_outliers(x, *, winmax: int = 5, skew_thresh: float = 2.0,
                   kurt_thresh: float = 3.5) -> tuple[np.ndarray, dict]:
    r"""COINr's ``Treat`` for one indicator across units.

    If :math:`|\text{skew}| \ge 2` and kurtosis :math:`\ge 3.5`, winsorise: move the most
    extreme value on the skewed side to the next one in, and again, until the check passes
    or ``winmax`` points have moved. If that is not enough, the original values are
    log-transformed instead, :math:`\ln(x - \min x + a)` with :math:`a = 0.01(\max x -
    \min x)`, mirrored to :math:`-\ln(\max x + a - x)` for a negative skew (COINr's
    ``log_CT_plus``: its default ``log_CT`` would deepen a negative skew). Both keep the
    units' order.

    Returns the values and a report: ``skew``, ``kurtosis``, ``flagged``, ``treatment``
    (``"none"``, ``"winsorised"`` or ``"log"``), ``points`` (how many moved), ``moved``
    (their positions) and ``skew_after`` / ``kurtosis_after``.

    Examples
    --------
    >>> x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 30, 100]
    >>> y, rep = treat_outliers(x)
    >>> rep["treatment"], rep["points"], float(y[-1])     # 100 became the next value in
    ('winsorised', 1, 30.0)
    """
    x = np.asarray(x, dtype=float)
    s, k = _skew_kurt(x)
    rep = {"skew": s, "kurtosis": k, "flagged": _fails(s, k, skew_thresh, kurt_thresh),
           "treatment": "none", "points": 0, "moved": [], "skew_after": s,
           "kurtosis_after": k}
    if not rep["flagged"]:
        return x, rep
    y = x.copy()
    moved: set[int] = set()
    while len(moved) < winmax:
        ss, _ = _skew_kurt(y)
        ext = y.max() if ss > 0 else y.min()
        hit = np.flatnonzero(y == ext)
        rest = y[y != ext]
        if not rest.size or len(moved | set(hit.tolist())) > winmax:
            break
        y[hit] = rest.max() if ss > 0 else rest.min()
        moved |= set(hit.tolist())
        s2, k2 = _skew_kurt(y)
        if not _fails(s2, k2, skew_thresh, kurt_thresh):
            rep.update(treatment="winsorised", points=len(moved), moved=sorted(moved),
                       skew_after=s2, kurtosis_after=k2)
            return y, rep
    y = _log_ct(x, s)
    s2, k2 = _skew_kurt(y)
    rep.update(treatment="log", points=len(x), moved=list(range(len(x))), skew_after=s2,
               kurtosis_after=k2)
    return y, rep


def _log_ct(v, skew: float, lo=None, hi=None) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    lo = v.min() if lo is None else lo
    hi = v.max() if hi is None else hi
    a = 0.01 * (hi - lo)
    # Values outside the treated range (a target beyond every unit) are clipped to it.
    with np.errstate(divide="ignore", invalid="ignore"):
        if skew > 0:
            return np.log(np.clip(v - lo + a, a, None))
        return -np.log(np.clip(hi + a - v, a, None))


def treat_panel(panel: ScorePanel, **kwargs) -> tuple[ScorePanel, pd.DataFrame]:
    """:func:`treat_outliers` on every indicator of ``panel``; the treated panel and one
    report row per indicator. Targets of a log-treated indicator are mapped by the same
    transform, so distance-to-target stays comparable."""
    raw = panel.raw.copy()
    tgt = panel.targets.copy()
    rows = []
    for ind in panel.registry.indicators:
        x = raw[ind.id].to_numpy()
        y, rep = treat_outliers(x, **kwargs)
        raw[ind.id] = y
        if rep["treatment"] == "log":
            tgt[ind.id] = _log_ct(tgt[ind.id].to_numpy(), rep["skew"], x.min(), x.max())
        units = [panel.units[p] for p in rep["moved"]] if rep["treatment"] == "winsorised" \
            else []
        rows.append({"indicator": ind.id, **{k: v for k, v in rep.items() if k != "moved"},
                     "winsorised_units": units})
    report = pd.DataFrame(rows).set_index("indicator")
    return replace(panel, raw=raw, targets=tgt), report


# -- sensitivity ------------------------------------------------------------------------------

def sobol_indices(model, names, bounds, *, n: int = 512, seed: int = 0,
                  resamples: int = 200, conf_level: float = 0.95) -> pd.DataFrame:
    """First- and total-order Sobol indices of ``model`` by Saltelli's scheme (SALib).

    ``model(X) -> Y`` takes an array of shape (draws, len(names)) of inputs uniform on
    ``bounds``. ``n`` (a power of 2) base samples give ``n * (len(names) + 2)`` model runs.
    The ``*_conf`` columns are the half-widths of the bootstrap confidence intervals
    (``resamples`` resamples, ``conf_level``). A model whose output never varies has every
    index 0.

    Examples
    --------
    >>> from SALib.test_functions import Ishigami
    >>> s = sobol_indices(Ishigami.evaluate, ["x1", "x2", "x3"], [[-np.pi, np.pi]] * 3,
    ...                   n=1024, seed=1)
    >>> s["ST"].round(1).tolist()      # analytic: 0.558, 0.442, 0.244
    [0.6, 0.4, 0.2]
    """
    if n < 2 or n & (n - 1):
        raise ScoreArgumentError(f"n={n}: Sobol sampling needs a power of 2 (e.g. 512)")
    sample = _need("SALib.sample.sobol")
    analyze = _need("SALib.analyze.sobol")
    problem = {"num_vars": len(names), "names": list(names), "bounds": [list(b) for b in
                                                                          bounds]}
    x = sample.sample(problem, n, calc_second_order=False, seed=seed)
    y = np.asarray(model(x), dtype=float)
    cols = ["S1", "S1_conf", "ST", "ST_conf"]
    if not np.isfinite(y).all() or y.var() == 0:
        return pd.DataFrame(0.0, index=pd.Index(names, name="input"), columns=cols)
    with warnings.catch_warnings():
        # SALib divides by the output's variance per bootstrap resample; a resample that
        # happens to be constant gives a NaN half-width, reported as such.
        warnings.simplefilter("ignore", RuntimeWarning)
        # SALib ignores a seed of 0 (`if seed:`) and bootstraps from NumPy's global state,
        # so the default audit's intervals changed from call to call (and from worker to
        # worker under one ETag): its bootstrap takes a seed that is never 0.
        si = analyze.analyze(problem, y, calc_second_order=False, num_resamples=resamples,
                             conf_level=conf_level, seed=seed + 1)
    return pd.DataFrame({c: np.asarray(si[c], dtype=float) for c in cols},
                        index=pd.Index(names, name="input"))


def score_sensitivity(panel: ScorePanel, *, config: ScoreConfig | None = None,
                      weight_spread: float = 0.5, n: int = 512, seed: int = 0,
                      resamples: int = 200, conf_level: float = 0.95) -> pd.DataFrame:
    r"""Sobol indices of :math:`Y`, the units' mean :math:`|r_u - r_u^{\mathrm{nominal}}|`,
    on each indicator weight (:math:`w_i u_i`, :math:`u_i \sim U(1-s, 1+s)`), the
    normalisation and the aggregation (each a uniform choice among
    :data:`~twin.score.composite.NORMALISATIONS` and
    :data:`~twin.score.composite.AGGREGATIONS`), as in
    :func:`~twin.score.uncertainty.rank_uncertainty`. A total-order index well above the
    first-order one marks an input that matters through interactions."""
    if not 0 <= weight_spread < 1:
        raise ScoreArgumentError(f"weight_spread={weight_spread} must be in [0, 1)")
    config = config or ScoreConfig()
    reg = panel.registry
    d = Design.of(panel, config, NORMALISATIONS)
    k = len(d.w0)

    def model(x: np.ndarray) -> np.ndarray:
        # Saltelli's samples are uniform on [0, 1) for the two choices: equal slices pick
        # the normalisation and the aggregation (as COINr samples discrete inputs).
        m_idx = np.minimum((x[:, k] * len(NORMALISATIONS)).astype(int), len(NORMALISATIONS) - 1)
        a_idx = np.minimum((x[:, k + 1] * len(AGGREGATIONS)).astype(int), len(AGGREGATIONS) - 1)
        scores = d.scores(d.w0 * x[:, :k], m_idx, a_idx, NORMALISATIONS, AGGREGATIONS)
        return np.abs(rank(scores) - d.r_nom).mean(axis=1)

    names = [f"weight:{i}" for i in reg.ids] + ["normalisation", "aggregation"]
    bounds = [[1 - weight_spread, 1 + weight_spread]] * k + [[0.0, 1.0], [0.0, 1.0]]
    out = sobol_indices(model, names, bounds, n=n, seed=seed, resamples=resamples,
                        conf_level=conf_level)
    out.insert(0, "indicator", list(reg.ids) + [None, None])
    return out


# -- strengths and weaknesses ------------------------------------------------------------------

def strengths_weaknesses(panel: ScorePanel, *, top: int = 3,
                         synthetic: pd.DataFrame | None = None,
                         values: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per unit, its ``top`` best-ranked indicators (strengths) and ``top`` worst
    (weaknesses), ranking the units on each direction-aligned indicator (1 = best; ties
    share the better rank). Constant indicators are left out, and with fewer than ``2 *
    top`` indicators each list takes half of them, so no indicator is both a strength and a
    weakness. ``imputed`` repeats the
    panel's flag; ``synthetic`` (units x indicators, the share of synthetic observations)
    is carried along when given; ``values`` (units x indicators) are the values reported,
    by default the panel's own."""
    values = panel.raw if values is None else values
    x = _informative(aligned(panel))
    ranks = x.rank(ascending=False, method="min").astype(int)
    order = {iid: j for j, iid in enumerate(panel.registry.ids)}
    rows = []
    top = min(top, len(ranks.columns) // 2)
    for u in panel.units:
        # best first; equal ranks in registry order
        r = pd.DataFrame({"rank": ranks.loc[u], "order": [order[i] for i in ranks.columns]}
                         ).sort_values(["rank", "order"])["rank"]
        picks = [("strength", iid) for iid in r.index[:top]]
        picks += [("weakness", iid) for iid in r.index[::-1][:top]]
        for kind, iid in picks:
            ind = panel.registry[iid]
            rows.append({
                "unit_id": u, "kind": kind, "indicator": iid, "rank": int(r[iid]),
                "of": len(panel.units), "value": float(values.loc[u, iid]),
                "unit": ind.unit, "imputed": str(panel.imputed.loc[u, iid]),
                "synthetic_share": (float(synthetic.loc[u, iid]) if synthetic is not None
                                    and iid in synthetic.columns else np.nan)})
    return pd.DataFrame(rows)


# -- all of it --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Audit:
    """The audit of one panel (see the module docstring for each part).

    ``rank_change_if_treated`` is, per unit, how many places it would move up if outlier
    treatment were applied before scoring (0 everywhere when nothing is flagged).
    """

    correlations: pd.DataFrame
    flags: pd.DataFrame
    alpha: pd.DataFrame
    treatment: pd.DataFrame
    treated: bool
    rank_change_if_treated: pd.Series
    sensitivity: pd.DataFrame
    strengths: pd.DataFrame
    params: dict


def audit(panel: ScorePanel, *, config: ScoreConfig | None = None, treat: bool = False,
          n: int = 512, seed: int = 0, resamples: int = 200, conf_level: float = 0.95,
          weight_spread: float = 0.5, collinear: float = COLLINEAR,
          negative: float = NEGATIVE, top: int = 3,
          synthetic: pd.DataFrame | None = None) -> Audit:
    """Run the whole audit. With ``treat=True`` the correlations, alpha, sensitivity and
    strengths are computed on the outlier-treated panel; the treatment report is there
    either way. Indicators without any observation are left out of every part (they are
    not scored); ``params["left_out"]`` names them."""
    config = config or ScoreConfig()
    left_out = panel.left_out
    panel = panel.scored()
    ids, dims = set(panel.registry.ids), set(panel.registry.dimension_ids)
    config = config.with_weights({k: v for k, v in config.weights if k in ids},
                                 {k: v for k, v in config.dimension_weights if k in dims})
    treated_panel, report = treat_panel(panel)
    base = compute(panel, config).rank
    change = (base - compute(treated_panel, config).rank).rename("rank_change")
    used = treated_panel if treat else panel
    matrix, flags = correlation_flags(used, collinear=collinear, negative=negative)
    return Audit(
        correlations=matrix, flags=flags, alpha=cronbach_alpha(used), treatment=report,
        treated=treat, rank_change_if_treated=change,
        sensitivity=score_sensitivity(used, config=config, weight_spread=weight_spread,
                                      n=n, seed=seed, resamples=resamples,
                                      conf_level=conf_level),
        # Ranked as audited, but each value as observed, in the indicator's unit (a
        # treated value is a log or a winsorised number).
        strengths=strengths_weaknesses(used, top=top, synthetic=synthetic, values=panel.raw),
        params={"treat": treat, "n": n, "seed": seed, "resamples": resamples,
                "conf_level": conf_level, "weight_spread": weight_spread,
                "collinear": collinear, "negative": negative, "top": top,
                "left_out": list(left_out)},
    )
