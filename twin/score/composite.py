"""The composite index: normalisation, weighting, aggregation and ranking.

After the OECD/JRC *Handbook on Constructing Composite Indicators* (2008): each indicator is
normalised to 0-100 with its direction taken into account, indicators are averaged into
dimension sub-scores, and dimension sub-scores into the composite, with explicit weights.
Everything here is a pure function of a :class:`~twin.score.panel.ScorePanel`, so a scenario
can evaluate other weights without touching the twin.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import InvalidValue, ScoreArgumentError, WeightError
from .panel import ScorePanel, n_imputed
from .registry import Registry

__all__ = [
    "NORMALISATIONS",
    "AGGREGATIONS",
    "ScoreConfig",
    "ScoreTable",
    "WeightsEvaluation",
    "normalise",
    "aggregate",
    "rank",
    "resolve_weights",
    "panel_weights",
    "compute",
    "evaluate_weights",
]

NORMALISATIONS = ("minmax", "zscore", "target")

# The standard normal CDF, Phi(z) = erfc(-z / sqrt 2) / 2, from the standard library: the
# score is core (tw.score), and scipy is only in the 'raster' extra.
_erfc = np.vectorize(math.erfc, otypes=[float])


def _ndtr(z) -> np.ndarray:
    return 0.5 * _erfc(-np.asarray(z, dtype=float) / math.sqrt(2.0))
AGGREGATIONS = ("arithmetic", "geometric")


@dataclass(frozen=True)
class ScoreConfig:
    """How to turn a panel into scores.

    ``weights`` and ``dimension_weights`` override the registry's (equal by default) for the
    ids they name; the others keep their registry weight.
    """

    normalisation: str = "minmax"
    aggregation: str = "arithmetic"
    weights: tuple[tuple[str, float], ...] = ()
    dimension_weights: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.normalisation not in NORMALISATIONS:
            raise ScoreArgumentError(
                f"normalisation {self.normalisation!r} is not one of {NORMALISATIONS}"
            )
        if self.aggregation not in AGGREGATIONS:
            raise ScoreArgumentError(
                f"aggregation {self.aggregation!r} is not one of {AGGREGATIONS}")
        # Accept mappings for convenience but store hashable tuples (frozen dataclass).
        for name in ("weights", "dimension_weights"):
            v = getattr(self, name)
            if isinstance(v, Mapping):
                object.__setattr__(self, name, tuple(sorted(v.items())))

    def with_weights(self, weights=None, dimension_weights=None) -> ScoreConfig:
        return ScoreConfig(self.normalisation, self.aggregation,
                           tuple(sorted(dict(weights or {}).items())),
                           tuple(sorted(dict(dimension_weights or {}).items())))


def normalise(x, *, method: str = "minmax", higher_is_better: bool = True, target=None):
    r"""Normalise one indicator across units to a 0-100 scale, better = higher.

    With :math:`x_u` the value of unit :math:`u`:

    * ``minmax``: :math:`y_u = 100\,\frac{x_u - \min x}{\max x - \min x}`, or
      :math:`100\,\frac{\max x - x_u}{\max x - \min x}` when lower is better;
      :math:`y_u = 50` for every unit when :math:`\max x = \min x` (no information).
    * ``zscore``: :math:`z_u = \pm\frac{x_u - \bar x}{s}` (population :math:`s`, sign
      flipped when lower is better), mapped to :math:`y_u = 100\,\Phi(z_u)`, the standard
      normal CDF, so the scale is bounded and strictly monotone; :math:`y_u = 50` when
      :math:`s = 0`.
    * ``target`` (distance to target, ratio form): :math:`y_u = 100\min(x_u / T_u, 1)` when
      higher is better and :math:`y_u = 100\min(T_u / x_u, 1)` when lower is better; a unit
      that meets its target scores 100.

    Examples
    --------
    >>> normalise([10, 20, 30]).tolist()
    [0.0, 50.0, 100.0]
    >>> normalise([10, 20, 30], higher_is_better=False).tolist()
    [100.0, 50.0, 0.0]
    >>> normalise([1, 2, 3], method="zscore").round(2).tolist()
    [11.03, 50.0, 88.97]
    >>> normalise([40, 80, 120], method="target", target=[80, 80, 80]).tolist()
    [50.0, 100.0, 100.0]
    >>> normalise([40, 80, 160], method="target", higher_is_better=False, target=80).tolist()
    [100.0, 100.0, 50.0]
    """
    x = np.asarray(x, dtype=float)
    if not np.isfinite(x).all():
        raise InvalidValue(
            "normalise got NaN or infinite values: impute missing values first (the score "
            "does, and flags each imputation)"
        )
    if method == "minmax":
        lo, hi = x.min(axis=-1, keepdims=True), x.max(axis=-1, keepdims=True)
        span = hi - lo
        safe = np.where(span > 0, span, 1.0)
        y = (x - lo) / safe if higher_is_better else (hi - x) / safe
        return np.where(span > 0, 100.0 * y, 50.0)
    if method == "zscore":
        sd = x.std(axis=-1, keepdims=True)
        z = (x - x.mean(axis=-1, keepdims=True)) / np.where(sd > 0, sd, 1.0)
        z = np.where(sd > 0, z if higher_is_better else -z, 0.0)
        return 100.0 * _ndtr(z)
    if method == "target":
        if target is None:
            raise ScoreArgumentError("normalise(method='target') needs target=: the "
                                     "target of each unit (or one for all)")
        t = np.broadcast_to(np.asarray(target, dtype=float), x.shape)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if higher_is_better:
                y = np.where(x >= t, 1.0, np.where(t > 0, np.clip(x / t, 0, 1), 0.0))
            else:
                y = np.where(x <= t, 1.0, np.where(x > 0, np.clip(t / x, 0, 1), 0.0))
        return 100.0 * y
    raise ScoreArgumentError(f"normalisation {method!r} is not one of {NORMALISATIONS}")


def aggregate(norm, weights, groups, dimension_weights, *, method: str = "arithmetic"):
    r"""Aggregate normalised indicators into dimension sub-scores and the composite.

    With indicator weights :math:`w_i`, dimension weights :math:`W_d` and normalised values
    :math:`y_{ui} \in [0, 100]`:

    * ``arithmetic``: :math:`D_{ud} = \sum_{i \in d} w_i y_{ui} / \sum_{i \in d} w_i` and
      :math:`S_u = \sum_d W_d D_{ud} / \sum_d W_d`.
    * ``geometric`` (less compensatory): :math:`D_{ud} = \prod_{i\in d}(y_{ui}+1)^{w_i/\sum
      w} - 1` and likewise for :math:`S_u`. The shift by 1 keeps a zero from wiping out a
      unit's every other strength, and keeps the scale at 0-100.

    A dimension whose indicators all weigh 0 gets no sub-score (NaN) and drops out.
    Leading batch axes are allowed (Monte Carlo draws).

    Examples
    --------
    Two dimensions; the first holds indicators 0 and 1, the second indicator 2:

    >>> y = np.array([[0.0, 100.0, 50.0]])
    >>> d, s = aggregate(y, [1, 1, 1], [0, 0, 1], [1, 1])
    >>> d.tolist(), s.tolist()
    ([[50.0, 50.0]], [50.0])
    >>> d, s = aggregate(np.array([[24.0, 99.0, 71.0]]), [1, 1, 1], [0, 0, 1], [1, 1],
    ...                  method="geometric")
    >>> np.round(d, 9).tolist(), np.round(s, 9).tolist()   # sqrt(25*100)-1, sqrt(50*72)-1
    ([[49.0, 71.0]], [59.0])
    """
    y = np.asarray(norm, dtype=float)
    w = np.asarray(weights, dtype=float)
    groups = np.asarray(groups)
    n_dims = len(dimension_weights)
    member = (groups[:, None] == np.arange(n_dims)[None, :]).astype(float)  # (ind, dim)
    wm = w[..., :, None] * member  # (..., ind, dim)
    wsum = wm.sum(axis=-2)  # (..., dim)
    active = wsum > 0
    wmn = wm / np.where(active, wsum, 1.0)[..., None, :]
    W = np.broadcast_to(np.asarray(dimension_weights, dtype=float), wsum.shape) * active
    if (W.sum(axis=-1) <= 0).any():
        raise WeightError("every dimension weighs 0 (or holds only 0-weight indicators): "
                          "give at least one indicator and its dimension a positive weight")
    Wn = W / W.sum(axis=-1, keepdims=True)
    if method == "arithmetic":
        dims = y @ wmn if wmn.ndim == 2 else np.einsum("...ui,...id->...ud", y, wmn)
        dims_for_s = np.where(active[..., None, :], dims, 0.0)
        s = np.einsum("...ud,...d->...u", dims_for_s, Wn)
    elif method == "geometric":
        ly = np.log1p(y)
        ld = ly @ wmn if wmn.ndim == 2 else np.einsum("...ui,...id->...ud", ly, wmn)
        dims = np.expm1(ld)
        ld = np.where(active[..., None, :], ld, 0.0)
        s = np.expm1(np.einsum("...ud,...d->...u", ld, Wn))
    else:
        raise ScoreArgumentError(f"aggregation {method!r} is not one of {AGGREGATIONS}")
    dims = np.where(active[..., None, :], dims, np.nan)
    return dims, s


def rank(scores) -> np.ndarray:
    """Ranks 1..n, best (highest score) first; ties go to the unit listed first.

    Ordinal ranks, so the ranks are always a permutation of 1..n. The last axis is units.

    Examples
    --------
    >>> rank([50.0, 80.0, 50.0, 10.0]).tolist()
    [2, 1, 3, 4]
    """
    s = np.asarray(scores, dtype=float)
    order = np.argsort(-s, axis=-1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, s.shape[-1] + 1) +
                      np.zeros_like(order), axis=-1)
    return ranks


def resolve_weights(registry: Registry, weights=None, dimension_weights=None):
    """Indicator and dimension weight vectors in registry order, validated.

    Examples
    --------
    >>> from twin.score.registry import load_registry
    >>> w, W = resolve_weights(load_registry(), {"investment": 2})
    >>> w[:3].tolist(), W.tolist()
    ([2.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0, 1.0])
    """
    w = np.array([i.weight for i in registry.indicators], dtype=float)
    W = np.array([d.weight for d in registry.dimensions], dtype=float)
    for given, ids, vec, what in (
        (dict(weights or {}), registry.ids, w, "indicator"),
        (dict(dimension_weights or {}), registry.dimension_ids, W, "dimension"),
    ):
        for k, v in given.items():
            if k not in ids:
                raise WeightError(
                    f"weight given for unknown {what} {k!r}: use one of {', '.join(ids)}"
                )
            v = float(v)
            if not np.isfinite(v) or v < 0:
                raise WeightError(f"weight of {what} {k!r} is {v!r}: use a finite number >= 0")
            vec[ids.index(k)] = v
    if w.sum() <= 0 or W.sum() <= 0:
        raise WeightError("all weights are 0: give at least one indicator a positive weight")
    return w, W


def panel_weights(panel: ScorePanel, config: ScoreConfig) -> tuple[np.ndarray, np.ndarray]:
    """:func:`resolve_weights` for ``config``, with the indicators the panel has no
    observation of weighing 0 (left out of the composite rather than scored alike)."""
    w, W = resolve_weights(panel.registry, dict(config.weights),
                           dict(config.dimension_weights))
    return w * panel.observed, W


def dimension_groups(registry: Registry) -> np.ndarray:
    dims = registry.dimension_ids
    return np.array([dims.index(i.dimension) for i in registry.indicators])


def normalise_panel(panel: ScorePanel, method: str) -> np.ndarray:
    """All indicators of ``panel`` normalised with ``method`` (units x indicators)."""
    reg = panel.registry
    raw = panel.raw.to_numpy()
    tgt = panel.targets.to_numpy()
    out = np.empty_like(raw)
    for j, ind in enumerate(reg.indicators):
        out[:, j] = normalise(raw[:, j], method=method, higher_is_better=ind.higher_is_better,
                              target=tgt[:, j])
    return out


@dataclass(frozen=True)
class ScoreTable:
    """Scores of every unit under one :class:`ScoreConfig`.

    ``normalised`` (units x indicators), ``dimensions`` (units x dimensions) and
    ``composite`` are on 0-100; ``rank`` 1 is best. ``imputed`` repeats the panel's flags so a
    reader sees which values were not observed; ``left_out`` names the indicators with no
    observation, which the composite leaves out.
    """

    config: ScoreConfig
    normalised: pd.DataFrame
    dimensions: pd.DataFrame
    composite: pd.Series
    rank: pd.Series
    imputed: pd.DataFrame
    unit_names: pd.Series = field(repr=False)
    left_out: tuple[str, ...] = ()

    @property
    def region_score(self) -> float:
        """The region's score: the unweighted mean of the units' composites."""
        return float(self.composite.mean())

    def ranking(self) -> pd.DataFrame:
        """One row per unit, best first: rank, score, dimension sub-scores, imputations."""
        df = pd.DataFrame({"rank": self.rank, "name": self.unit_names,
                           "score": self.composite})
        df = df.join(self.dimensions)
        df["n_imputed"] = n_imputed(self.imputed)
        df.index.name = "unit_id"
        return df.sort_values("rank")


def _table(panel: ScorePanel, config: ScoreConfig, norm: np.ndarray, w, W) -> ScoreTable:
    reg = panel.registry
    dims, s = aggregate(norm, w, dimension_groups(reg), W, method=config.aggregation)
    idx = pd.Index(panel.units, name="unit_id")
    return ScoreTable(
        config=config,
        normalised=pd.DataFrame(norm, index=idx, columns=list(reg.ids)),
        dimensions=pd.DataFrame(dims, index=idx, columns=list(reg.dimension_ids)),
        composite=pd.Series(s, index=idx, name="score"),
        rank=pd.Series(rank(s), index=idx, name="rank"),
        imputed=panel.imputed,
        unit_names=pd.Series(panel.names, index=idx, name="name"),
        left_out=panel.left_out,
    )


def compute(panel: ScorePanel, config: ScoreConfig | None = None) -> ScoreTable:
    """Score every unit of ``panel`` under ``config`` (minmax, arithmetic, equal weights)."""
    config = config or ScoreConfig()
    w, W = panel_weights(panel, config)
    return _table(panel, config, normalise_panel(panel, config.normalisation), w, W)


@dataclass(frozen=True)
class WeightsEvaluation:
    """Scores and ranks under new weights, against a baseline."""

    table: pd.DataFrame
    region_score: float
    baseline_region_score: float

    @property
    def region_score_change(self) -> float:
        return self.region_score - self.baseline_region_score


def evaluate_weights(
    panel: ScorePanel,
    weights: Mapping[str, float] | None = None,
    dimension_weights: Mapping[str, float] | None = None,
    *,
    baseline: ScoreConfig | None = None,
) -> WeightsEvaluation:
    """Rank the units under other weights, without changing anything (for scenarios).

    The normalisation and aggregation are the baseline's; ``weights`` and
    ``dimension_weights`` replace the baseline's weights for the ids they name.
    ``rank_change`` is positive when a unit moves up (e.g. from 5th to 3rd is +2).

    Examples
    --------
    >>> # ev = evaluate_weights(tw.score.panel, {"investment": 3.0})
    >>> # ev.table[["score", "rank", "rank_change"]], ev.region_score_change
    """
    baseline = baseline or ScoreConfig()
    base = compute(panel, baseline)
    new_w = {**dict(baseline.weights), **dict(weights or {})}
    new_W = {**dict(baseline.dimension_weights), **dict(dimension_weights or {})}
    new = compute(panel, baseline.with_weights(new_w, new_W))
    t = pd.DataFrame({
        "name": base.unit_names,
        "score": new.composite,
        "rank": new.rank,
        "baseline_score": base.composite,
        "baseline_rank": base.rank,
    })
    t["score_change"] = t["score"] - t["baseline_score"]
    t["rank_change"] = t["baseline_rank"] - t["rank"]
    return WeightsEvaluation(t.sort_values("rank"), new.region_score, base.region_score)
