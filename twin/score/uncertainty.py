"""How far the ranks can be trusted: Monte Carlo uncertainty and sensitivity analysis.

After the JRC's practice (Handbook, step 7; Saisana et al. 2005): the choices an index maker
could defensibly have made differently are sampled, the ranks recomputed for each draw, and
each unit's median rank and 5-95 % rank interval reported. A unit whose interval spans ten
places should not be praised or blamed for a one-place move.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .composite import (
    AGGREGATIONS,
    NORMALISATIONS,
    ScoreConfig,
    aggregate,
    dimension_groups,
    normalise_panel,
    panel_weights,
    rank,
)
from .errors import ScoreArgumentError, WeightError
from .panel import ScorePanel

__all__ = ["RankUncertainty", "rank_uncertainty"]


@dataclass(frozen=True)
class RankUncertainty:
    """Monte Carlo result.

    ``ranks``: per unit the nominal rank, the median rank and the 5 % and 95 % rank
    quantiles over the draws, plus the score's median and 5-95 % interval.
    ``sensitivity``: per uncertain input (each indicator's weight, the normalisation, the
    aggregation) its first-order sensitivity index on the mean absolute rank shift, and for
    each indicator the mean and largest rank shift when it is left out.
    """

    ranks: pd.DataFrame
    sensitivity: pd.DataFrame
    n: int
    seed: int
    weight_spread: float

    def plot(self, **kwargs):
        """Each unit's 5-95 % rank interval, median and nominal rank (the plotting
        backend's, see :mod:`twin.plotting`)."""
        from .. import plotting

        return plotting.plot(self, **kwargs)


@dataclass(frozen=True)
class Design:
    """What the uncertainty and sensitivity analyses vary around: the nominal weights,
    every normalisation of the panel, and the nominal scores and ranks."""

    groups: np.ndarray
    w0: np.ndarray
    W0: np.ndarray
    normed: dict
    s_nom: np.ndarray
    r_nom: np.ndarray

    @classmethod
    def of(cls, panel: ScorePanel, nominal: ScoreConfig, normalisations) -> Design:
        reg = panel.registry
        groups = dimension_groups(reg)
        w0, W0 = panel_weights(panel, nominal)  # indicators without observations weigh 0
        normed = {m: normalise_panel(panel, m) for m in set(normalisations) |
                  {nominal.normalisation}}
        _, s_nom = aggregate(normed[nominal.normalisation], w0, groups, W0,
                             method=nominal.aggregation)
        return cls(groups, w0, W0, normed, s_nom, rank(s_nom))

    def scores(self, w, m_idx, a_idx, normalisations, aggregations) -> np.ndarray:
        """Composite scores (draws x units) for per-draw indicator weights ``w`` and the
        indices of each draw's normalisation and aggregation."""
        out = np.empty((len(w), len(self.r_nom)))
        for mi, m in enumerate(normalisations):
            for ai, a in enumerate(aggregations):
                sel = (m_idx == mi) & (a_idx == ai)
                if sel.any():
                    out[sel] = aggregate(self.normed[m][None, :, :], w[sel], self.groups,
                                         self.W0, method=a)[1]
        return out


def _first_order(y: np.ndarray, x: np.ndarray, bins: int = 10) -> float:
    r"""First-order sensitivity index :math:`S = V[E(Y \mid X)] / V(Y)`, estimated by
    binning a continuous :math:`X` into quantile bins (a categorical one by its values)."""
    vy = y.var()
    if vy <= 0:
        return 0.0
    if x.dtype.kind in "if" and len(np.unique(x)) > bins:
        edges = np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1])
        x = np.searchsorted(edges, x)
    cats, inv = np.unique(x, return_inverse=True)
    means = np.bincount(inv, weights=y) / np.bincount(inv)
    counts = np.bincount(inv)
    return float(np.sum(counts * (means - y.mean()) ** 2) / len(y) / vy)


def rank_uncertainty(
    panel: ScorePanel,
    *,
    nominal: ScoreConfig | None = None,
    n: int = 1000,
    seed: int = 0,
    weight_spread: float = 0.5,
    normalisations: tuple[str, ...] = NORMALISATIONS,
    aggregations: tuple[str, ...] = AGGREGATIONS,
) -> RankUncertainty:
    r"""Median rank and 5-95 % rank interval of every unit, by Monte Carlo.

    Each of the ``n`` draws picks, independently and uniformly:

    * every indicator weight :math:`w_i' = w_i\,u_i`, :math:`u_i \sim U(1-s, 1+s)` with
      :math:`s` = ``weight_spread`` (default ±50 %);
    * a normalisation from ``normalisations`` and an aggregation from ``aggregations``.

    Draws come from ``numpy.random.default_rng(seed)``, so a seed gives the same result.
    The sensitivity table gives, for each input, the first-order index
    :math:`S_X = V[E(Y\mid X)]/V(Y)` of :math:`Y`, the mean over units of
    :math:`|r_u - r_u^{\mathrm{nominal}}|`, and for each indicator the mean and largest
    :math:`|\Delta r_u|` when that indicator alone is dropped under the nominal config.

    Examples
    --------
    >>> # u = rank_uncertainty(tw.score.panel, n=500, seed=1)
    >>> # u.ranks[["nominal_rank", "median_rank", "rank_p05", "rank_p95"]]
    """
    if n < 1:
        raise ScoreArgumentError(f"n={n}: ask for at least one Monte Carlo draw")
    if not 0 <= weight_spread < 1:
        raise ScoreArgumentError(f"weight_spread={weight_spread} must be in [0, 1)")
    nominal = nominal or ScoreConfig()
    reg = panel.registry
    d = Design.of(panel, nominal, normalisations)
    groups, w0, W0, normed, s_nom, r_nom = d.groups, d.w0, d.W0, d.normed, d.s_nom, d.r_nom

    rng = np.random.default_rng(seed)
    mult = rng.uniform(1 - weight_spread, 1 + weight_spread, size=(n, len(w0)))
    w = w0 * mult
    m_idx = rng.integers(len(normalisations), size=n)
    a_idx = rng.integers(len(aggregations), size=n)
    scores = d.scores(w, m_idx, a_idx, normalisations, aggregations)
    ranks = rank(scores)

    # "inverted_cdf": quantiles that are ranks actually seen
    idx = pd.Index(panel.units, name="unit_id")
    rank_table = pd.DataFrame({
        "name": panel.names,
        "nominal_rank": r_nom,
        "median_rank": np.quantile(ranks, 0.5, axis=0, method="inverted_cdf").astype(int),
        "rank_p05": np.quantile(ranks, 0.05, axis=0, method="inverted_cdf").astype(int),
        "rank_p95": np.quantile(ranks, 0.95, axis=0, method="inverted_cdf").astype(int),
        "nominal_score": s_nom,
        "score_median": np.median(scores, axis=0),
        "score_p05": np.quantile(scores, 0.05, axis=0),
        "score_p95": np.quantile(scores, 0.95, axis=0),
    }, index=idx).sort_values(["median_rank", "nominal_rank"])

    y = np.abs(ranks - r_nom).mean(axis=1)
    rows = []
    for j, ind in enumerate(reg.indicators):
        wj = w0.copy()
        wj[j] = 0.0
        try:
            _, s_j = aggregate(normed[nominal.normalisation], wj, groups, W0,
                               method=nominal.aggregation)
            shift = np.abs(rank(s_j) - r_nom)
            loo_mean, loo_max = float(shift.mean()), int(shift.max())
        except WeightError:  # dropping it leaves nothing to aggregate
            loo_mean, loo_max = float("nan"), -1
        rows.append({"input": f"weight:{ind.id}", "indicator": ind.id,
                     "first_order": _first_order(y, mult[:, j]),
                     "loo_mean_abs_rank_shift": loo_mean, "loo_max_abs_rank_shift": loo_max})
    for name, choice in (("normalisation", m_idx), ("aggregation", a_idx)):
        rows.append({"input": name, "indicator": None,
                     "first_order": _first_order(y, choice),
                     "loo_mean_abs_rank_shift": np.nan, "loo_max_abs_rank_shift": -1})
    sens = pd.DataFrame(rows).set_index("input")
    return RankUncertainty(rank_table, sens, n, seed, weight_spread)
