"""twin/score/composite.py: hand-computed normalisations and aggregations, and properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.stats import norm as normal

from twin.score import (
    Registry,
    ScoreConfig,
    ScorePanel,
    WeightError,
    aggregate,
    compute,
    evaluate_weights,
    normalise,
    rank,
)

# Three indicators in two dimensions: i1 (higher) and i2 (lower) in "a", i3 (higher) in "b".
REG = Registry.from_dict({
    "dimensions": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}],
    "indicators": [
        {"id": "i1", "name": "I1", "dimension": "a", "unit": "%", "kind": "level",
         "direction": "higher", "target": {"value": 50}, "source": "test"},
        {"id": "i2", "name": "I2", "dimension": "a", "unit": "%", "kind": "level",
         "direction": "lower", "target": {"value": 30}, "source": "test"},
        {"id": "i3", "name": "I3", "dimension": "b", "unit": "t", "kind": "level",
         "direction": "higher", "target": {"value": 10}, "source": "test"},
    ],
})


def panel_of(raw: np.ndarray, registry: Registry = REG) -> ScorePanel:
    units = tuple(f"u{k}" for k in range(raw.shape[0]))
    cols = list(registry.ids)
    idx = pd.Index(units, name="unit_id")
    targets = np.broadcast_to([i.target_value for i in registry.indicators], raw.shape)
    return ScorePanel(
        registry=registry, units=units, names=units,
        raw=pd.DataFrame(raw, index=idx, columns=cols),
        targets=pd.DataFrame(targets, index=idx, columns=cols),
        imputed=pd.DataFrame("", index=idx, columns=cols),
        reference_month=pd.Series("2025-08", index=cols),
    )


# -- hand-computed examples -----------------------------------------------------------------

def test_minmax_by_hand():
    assert normalise([2.0, 4.0, 10.0]).tolist() == [0.0, 25.0, 100.0]
    assert normalise([2.0, 4.0, 10.0], higher_is_better=False).tolist() == [100.0, 75.0, 0.0]
    assert normalise([7.0, 7.0]).tolist() == [50.0, 50.0]  # no spread: no information


def test_zscore_by_hand():
    # mean 4, population sd 2: z = -1, -1, 2 ... for [2, 2, 8]: mean 4, sd sqrt(8) = 2.828
    y = normalise([2.0, 2.0, 8.0], method="zscore")
    z = np.array([-2.0, -2.0, 4.0]) / np.sqrt(8.0)
    np.testing.assert_allclose(y, 100 * normal.cdf(z))
    np.testing.assert_allclose(normalise([2.0, 2.0, 8.0], method="zscore",
                                         higher_is_better=False), 100 * normal.cdf(-z))
    assert normalise([3.0, 3.0], method="zscore").tolist() == [50.0, 50.0]


def test_distance_to_target_by_hand():
    # higher is better, target 50: 25 is half way -> 50; 50 and 75 meet it -> 100
    assert normalise([25.0, 50.0, 75.0], method="target", target=50).tolist() == [
        50.0, 100.0, 100.0]
    # lower is better, target 30: 60 is twice the target -> 50; 10 meets it -> 100
    assert normalise([10.0, 60.0, 120.0], method="target", higher_is_better=False,
                     target=30).tolist() == [100.0, 50.0, 25.0]
    # per-unit targets (growth targets differ by unit)
    assert normalise([5.0, 5.0], method="target", target=[10.0, 4.0]).tolist() == [50.0, 100.0]


def test_the_score_needs_no_optional_dependency():
    # tw.score is core: scipy ships only with the 'raster' extra, statsmodels with 'score'.
    import subprocess
    import sys

    code = ("import sys; import twin.score; "
            "from twin.score import normalise; normalise([1.0, 2.0], method='zscore'); "
            "bad = [m for m in ('scipy', 'statsmodels') if m in sys.modules]; "
            "assert not bad, bad")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr


def test_unknown_options_are_score_errors():
    from twin import TwinError
    from twin.score import ScoreArgumentError

    for bad in (lambda: ScoreConfig("rank"), lambda: ScoreConfig("minmax", "median"),
                lambda: normalise([1.0, 2.0], method="target"),
                lambda: normalise([1.0, 2.0], method="log")):
        with pytest.raises(ScoreArgumentError) as e:
            bad()
        assert isinstance(e.value, TwinError) and isinstance(e.value, ValueError)


def test_normalise_refuses_missing_values():
    with pytest.raises(ValueError, match="impute"):
        normalise([1.0, np.nan])


def test_arithmetic_aggregation_by_hand():
    y = np.array([[0.0, 100.0, 50.0],
                  [80.0, 40.0, 10.0]])
    d, s = aggregate(y, [3, 1, 1], [0, 0, 1], [1, 1])
    # unit 0: D_a = (3*0 + 1*100)/4 = 25, D_b = 50, S = 37.5
    # unit 1: D_a = (3*80 + 40)/4 = 70, D_b = 10, S = 40
    np.testing.assert_allclose(d, [[25.0, 50.0], [70.0, 10.0]])
    np.testing.assert_allclose(s, [37.5, 40.0])
    _, s2 = aggregate(y, [3, 1, 1], [0, 0, 1], [3, 1])  # dimension a weighs 3
    np.testing.assert_allclose(s2, [(3 * 25 + 50) / 4, (3 * 70 + 10) / 4])


def test_geometric_aggregation_by_hand():
    y = np.array([[24.0, 99.0, 71.0], [0.0, 0.0, 100.0]])
    d, s = aggregate(y, [1, 1, 1], [0, 0, 1], [1, 1], method="geometric")
    # D_a = sqrt(25 * 100) - 1 = 49; D_b = 71; S = sqrt(50 * 72) - 1 = 59
    np.testing.assert_allclose(d[0], [49.0, 71.0])
    np.testing.assert_allclose(s[0], 59.0)
    # zeros cannot be compensated: D_a = 0, S = sqrt(1 * 101) - 1
    np.testing.assert_allclose(s[1], np.sqrt(101.0) - 1)
    _, s_ar = aggregate(y, [1, 1, 1], [0, 0, 1], [1, 1])
    assert s[1] < s_ar[1]  # less compensatory than the arithmetic mean (50)


def test_zero_weight_dimension_drops_out():
    y = np.array([[10.0, 20.0, 90.0]])
    d, s = aggregate(y, [1, 1, 0], [0, 0, 1], [1, 1])
    assert np.isnan(d[0, 1])
    np.testing.assert_allclose(s, [15.0])
    with pytest.raises(WeightError):
        aggregate(y, [0, 0, 0], [0, 0, 1], [1, 1])


def test_rank_by_hand():
    assert rank([50.0, 80.0, 50.0, 10.0]).tolist() == [2, 1, 3, 4]


def test_compute_whole_pipeline_by_hand():
    raw = np.array([[10.0, 50.0, 1.0],
                    [30.0, 10.0, 3.0],
                    [20.0, 30.0, 2.0]])
    t = compute(panel_of(raw))
    # min-max: i1 -> 0, 100, 50; i2 (lower) -> 0, 100, 50; i3 -> 0, 100, 50
    np.testing.assert_allclose(t.composite.to_numpy(), [0.0, 100.0, 50.0])
    assert t.rank.tolist() == [3, 1, 2]
    assert t.ranking().index.tolist() == ["u1", "u2", "u0"]
    tt = compute(panel_of(raw), ScoreConfig("target"))
    # i1/50: 20, 60, 40; i2 lower, 30/x capped: 60, 100, 100; i3/10: 10, 30, 20
    np.testing.assert_allclose(tt.dimensions["a"].to_numpy(), [40.0, 80.0, 70.0])
    np.testing.assert_allclose(tt.composite.to_numpy(), [25.0, 55.0, 45.0])


def test_weights_are_validated_and_named():
    p = panel_of(np.ones((2, 3)))
    with pytest.raises(WeightError, match="unknown indicator 'nope'"):
        compute(p, ScoreConfig(weights={"nope": 1.0}))
    with pytest.raises(WeightError, match="'i1'"):
        compute(p, ScoreConfig(weights={"i1": -1.0}))
    with pytest.raises(WeightError):
        compute(p, ScoreConfig(weights={"i1": 0, "i2": 0, "i3": 0}))


def test_evaluate_weights_is_pure_and_reports_rank_changes():
    raw = np.array([[100.0, 50.0, 1.0],
                    [0.0, 50.0, 3.0]])
    p = panel_of(raw)
    before = p.raw.copy()
    ev = evaluate_weights(p, dimension_weights={"b": 0.0})
    # min-max: i1 -> (100, 0), i2 constant -> (50, 50), i3 -> (0, 100)
    # baseline: u0 = (D_a 75 + D_b 0)/2 = 37.5, u1 = (25 + 100)/2 = 62.5
    # without dimension b: u0 = 75, u1 = 25
    t = ev.table.loc[["u0", "u1"]]
    assert t["baseline_rank"].tolist() == [2, 1]
    assert t["rank"].tolist() == [1, 2]
    assert t["rank_change"].tolist() == [1, -1]
    np.testing.assert_allclose(t["score_change"], [37.5, -37.5])
    assert ev.region_score == pytest.approx(50.0)
    assert ev.region_score_change == pytest.approx(0.0)
    pd.testing.assert_frame_equal(p.raw, before)


# -- properties -----------------------------------------------------------------------------

finite = st.floats(0, 1e6, allow_nan=False, allow_infinity=False)
configs = st.builds(ScoreConfig, st.sampled_from(["minmax", "zscore", "target"]),
                    st.sampled_from(["arithmetic", "geometric"]),
                    st.fixed_dictionaries({"i1": st.floats(0.01, 10), "i2": st.floats(0, 10),
                                           "i3": st.floats(0.01, 10)}))


@st.composite
def raws(draw, min_units=2, max_units=9):
    n = draw(st.integers(min_units, max_units))
    return np.array(draw(st.lists(st.lists(finite, min_size=3, max_size=3),
                                  min_size=n, max_size=n)))


@settings(max_examples=150, deadline=None)
@given(raws(), configs)
def test_scores_stay_in_0_100(raw, config):
    t = compute(panel_of(raw), config)
    assert ((t.composite >= -1e-9) & (t.composite <= 100 + 1e-9)).all()
    dims = t.dimensions.to_numpy()
    assert ((dims >= -1e-9) & (dims <= 100 + 1e-9)).all()


@settings(max_examples=150, deadline=None)
@given(raws(), configs)
def test_ranks_are_a_permutation(raw, config):
    r = compute(panel_of(raw), config).rank.to_numpy()
    assert sorted(r.tolist()) == list(range(1, len(r) + 1))


@settings(max_examples=200, deadline=None)
@given(raws(), configs, st.data())
def test_score_rises_when_a_higher_is_better_indicator_rises(raw, config, data):
    u = data.draw(st.integers(0, raw.shape[0] - 1))
    j = data.draw(st.sampled_from([0, 2]))  # i1 and i3 are higher-is-better
    bump = data.draw(st.floats(1e-3, 1e6))
    up = raw.copy()
    up[u, j] += bump
    before = compute(panel_of(raw), config).composite.iloc[u]
    after = compute(panel_of(up), config).composite.iloc[u]
    assert after >= before - 1e-9


@settings(max_examples=150, deadline=None)
@given(raws(min_units=3), st.data())
def test_score_rises_strictly_under_zscore(raw, data):
    # z_u = (x_u - mean)/sd is strictly increasing in x_u when the other units differ among
    # themselves, and 100*Phi is strictly increasing, so the score must rise strictly.
    # (Far out in the tail the rise is real but below float resolution, so the unit starts
    # within a few spreads of the others.)
    u = data.draw(st.integers(0, raw.shape[0] - 1))
    others = np.delete(raw[:, 0], u)
    spread = np.ptp(others)
    assume(spread > 1e-3 * max(1.0, np.abs(others).max()))
    assume(abs(raw[u, 0] - others.mean()) <= 3 * spread)
    up = raw.copy()
    up[u, 0] += data.draw(st.floats(0.1, 3.0)) * spread
    cfg = ScoreConfig("zscore")
    assert compute(panel_of(up), cfg).composite.iloc[u] > \
        compute(panel_of(raw), cfg).composite.iloc[u]


@settings(max_examples=100, deadline=None)
@given(raws(), configs, st.data())
def test_score_falls_when_a_lower_is_better_indicator_rises(raw, config, data):
    u = data.draw(st.integers(0, raw.shape[0] - 1))
    up = raw.copy()
    up[u, 1] += data.draw(st.floats(1e-3, 1e6))
    assert compute(panel_of(up), config).composite.iloc[u] <= \
        compute(panel_of(raw), config).composite.iloc[u] + 1e-9
