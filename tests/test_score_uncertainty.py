"""twin/score/uncertainty.py: Monte Carlo rank intervals and sensitivity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.test_score_composite import panel_of
from twin.score import ScoreArgumentError, ScoreConfig, compute
from twin.score.uncertainty import _first_order, rank_uncertainty

RAW = np.array([[10.0, 50.0, 1.0],
                [30.0, 10.0, 3.0],
                [20.0, 30.0, 2.0],
                [25.0, 35.0, 2.5],
                [12.0, 20.0, 2.9]])


def test_seeded_and_reproducible():
    p = panel_of(RAW)
    a = rank_uncertainty(p, n=300, seed=4)
    b = rank_uncertainty(p, n=300, seed=4)
    pd.testing.assert_frame_equal(a.ranks, b.ranks)
    pd.testing.assert_frame_equal(a.sensitivity, b.sensitivity)
    c = rank_uncertainty(p, n=300, seed=5)
    assert not a.ranks[["score_median"]].equals(c.ranks[["score_median"]])


def test_intervals_are_ordered_and_nominal_matches_compute():
    p = panel_of(RAW)
    u = rank_uncertainty(p, n=500, seed=0).ranks
    assert (u["rank_p05"] <= u["median_rank"]).all()
    assert (u["median_rank"] <= u["rank_p95"]).all()
    t = compute(p)
    assert u["nominal_rank"].sort_index().tolist() == t.rank.sort_index().tolist()


def test_no_uncertainty_gives_degenerate_intervals():
    p = panel_of(RAW)
    u = rank_uncertainty(p, n=50, weight_spread=0.0, normalisations=("minmax",),
                         aggregations=("arithmetic",)).ranks
    assert (u["rank_p05"] == u["nominal_rank"]).all()
    assert (u["rank_p95"] == u["nominal_rank"]).all()
    np.testing.assert_allclose(u["score_p95"], u["nominal_score"])


def test_leave_one_out_shift_by_hand():
    # i3 alone in dimension b and constant across units: dropping it only rescales every
    # score the same way, so no rank moves.
    raw = RAW.copy()
    raw[:, 2] = 5.0
    s = rank_uncertainty(panel_of(raw), n=20, seed=0).sensitivity
    assert s.loc["weight:i3", "loo_mean_abs_rank_shift"] == 0.0
    # the shift from dropping i1 is the rank difference between two plain computes
    p = panel_of(raw)
    nominal = compute(p).rank.to_numpy()
    alone = compute(p, ScoreConfig(weights={"i1": 0.0})).rank.to_numpy()
    want = np.abs(alone - nominal)
    assert s.loc["weight:i1", "loo_mean_abs_rank_shift"] == pytest.approx(want.mean())
    assert s.loc["weight:i1", "loo_max_abs_rank_shift"] == want.max()


def test_first_order_index():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=4000)
    noise = rng.uniform(size=4000)
    assert _first_order(x + 0.0 * noise, x) > 0.95  # y is a function of x alone
    assert _first_order(noise, x) < 0.02  # y does not depend on x
    assert _first_order(np.where(x > 0.5, 1.0, 0.0), (x > 0.5).astype(int)) == \
        pytest.approx(1.0)


def test_default_twin_rank_intervals(default_twin):
    u = default_twin.score.uncertainty(n=200, seed=1)
    assert len(u.ranks) == 20
    assert set(u.sensitivity.index) >= {"normalisation", "aggregation", "weight:investment"}
    assert u.ranks["rank_p05"].min() == 1 and u.ranks["rank_p95"].max() == 20


def test_bad_arguments_are_refused():
    with pytest.raises(ScoreArgumentError, match="at least one"):
        rank_uncertainty(panel_of(RAW), n=0)
    with pytest.raises(ScoreArgumentError, match="weight_spread"):
        rank_uncertainty(panel_of(RAW), weight_spread=1.5)

