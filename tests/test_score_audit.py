"""twin/score/audit.py: the JRC/OECD audit, hand-checked on a small panel, and the Sobol
indices against SALib's Ishigami function and a linear model solved by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twin.score import ScoreConfig, ScorePanel
from twin.score.audit import (
    audit,
    correlation_flags,
    cronbach_alpha,
    score_sensitivity,
    sobol_indices,
    strengths_weaknesses,
    treat_outliers,
    treat_panel,
)
from twin.score.composite import compute
from twin.score.errors import ScoreArgumentError
from twin.score.registry import Registry

UNITS = ("u1", "u2", "u3", "u4", "u5", "u6")


def registry() -> Registry:
    def ind(iid, dim, direction="higher"):
        return {"id": iid, "name": iid.upper(), "dimension": dim, "unit": "x", "kind": "level",
                "direction": direction, "target": {"value": 3.0}, "source": "hand"}

    return Registry.from_dict({
        "dimensions": [{"id": "d1", "name": "D1"}, {"id": "d2", "name": "D2"}],
        "indicators": [ind("a", "d1"), ind("b", "d1"), ind("c", "d1", "lower"),
                       ind("e", "d2"), ind("f", "d2")],
    })


def small_panel(**columns) -> ScorePanel:
    """Six units. a rises 1..6; b = 2a (collinear with a); c = a but lower is better (so
    it opposes a and b inside d1); e is a with neighbours swapped; f = a."""
    a = np.arange(1.0, 7.0)
    raw = {"a": a, "b": 2 * a, "c": a.copy(), "e": np.array([2.0, 1, 4, 3, 6, 5]), "f": a}
    raw.update(columns)
    reg = registry()
    idx = pd.Index(UNITS, name="unit_id")
    frame = pd.DataFrame(raw, index=idx)[list(reg.ids)]
    flags = pd.DataFrame("", index=idx, columns=list(reg.ids))
    flags.loc["u2", "e"] = "carried_forward"
    return ScorePanel(reg, UNITS, UNITS, frame, pd.DataFrame(3.0, index=idx,
                                                             columns=list(reg.ids)),
                      flags, pd.Series("2025-08", index=list(reg.ids)))


# -- correlations and alpha ---------------------------------------------------------------

def test_correlation_flags_by_hand():
    m, flags = correlation_flags(small_panel())
    # e against a: deviations (-1.5,-2.5,.5,-.5,2.5,1.5) and (-2.5,...,2.5): 14.5 / 17.5
    assert m.loc["a", "e"] == pytest.approx(29 / 35)
    assert m.loc["a", "c"] == pytest.approx(-1.0)  # c is a, but lower is better
    got = {(r.a, r.b): r.flag for r in flags.itertuples()}
    assert got == {
        ("a", "b"): "collinear",
        ("a", "c"): "negative_within_dimension",
        ("b", "c"): "negative_within_dimension",
        ("a", "f"): "collinear",  # across dimensions: still double counting
        ("b", "f"): "collinear",
    }
    # c against f is -1 too, but they sit in different dimensions: not a within-dimension flag
    assert ("c", "f") not in got
    assert flags.set_index(["a", "b"]).loc[("a", "f"), "same_dimension"] == False  # noqa: E712


def test_constant_indicators_are_left_out_not_reported_as_nan():
    m, flags = correlation_flags(small_panel(e=np.full(6, 4.0)))
    assert "e" not in m.columns and not flags["r"].isna().any()


def test_cronbach_alpha_by_hand():
    alpha = cronbach_alpha(small_panel())
    # d2 holds e and f with r = 29/35; two items: alpha = 2r / (1 + r) = 58 / 64
    assert alpha.loc["d2", "alpha"] == pytest.approx(58 / 64)
    # d1: z_a = z_b = -z_c, so the sum is z_a: 3/2 * (1 - 3 / 1) = -3
    assert alpha.loc["d1", "alpha"] == pytest.approx(-3.0)
    assert alpha.loc["d1", "k"] == 3


def test_a_dimension_with_one_varying_indicator_has_no_alpha():
    alpha = cronbach_alpha(small_panel(e=np.full(6, 1.0)))
    assert np.isnan(alpha.loc["d2", "alpha"]) and "fewer than 2" in alpha.loc["d2", "note"]


# -- outlier treatment --------------------------------------------------------------------

def g1_g2(x):
    """Excel's SKEW and KURT written out (COINr's definitions), to check scipy's use."""
    x = np.asarray(x, float)
    n = len(x)
    d = x - x.mean()
    m2, m3, m4 = (d**2).mean(), (d**3).mean(), (d**4).mean()
    g1, g2 = m3 / m2**1.5, m4 / m2**2 - 3
    return (g1 * np.sqrt(n * (n - 1)) / (n - 2),
            ((n + 1) * g2 + 6) * (n - 1) / ((n - 2) * (n - 3)))


def test_winsorising_moves_the_outlier_to_the_next_value():
    x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 30, 100]  # COINr's own vignette example
    y, rep = treat_outliers(x)
    s, k = g1_g2(x)
    assert (rep["skew"], rep["kurtosis"]) == pytest.approx((s, k))
    assert rep["skew"] > 2 and rep["kurtosis"] > 3.5 and rep["flagged"]
    assert rep["treatment"] == "winsorised" and rep["points"] == 1 and rep["moved"] == [11]
    assert y.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 30, 30]
    assert rep["skew_after"] == pytest.approx(g1_g2(y)[0]) and rep["skew_after"] < 2


def test_too_many_outliers_for_winsorising_get_the_log_transform():
    x = np.r_[np.zeros(94), np.full(6, 100.0)]  # six equal outliers: more than winmax = 5
    y, rep = treat_outliers(x)
    assert rep["flagged"] and rep["treatment"] == "log"
    # log(x - min + a), a = 0.01 * (max - min) = 1
    assert y == pytest.approx(np.log(x + 1.0))
    # a negative skew is mirrored, so the order of the units is kept
    y2, rep2 = treat_outliers(-x)
    assert rep2["treatment"] == "log" and y2 == pytest.approx(-np.log(x + 1.0))
    assert np.all(np.diff(y2[np.argsort(-x)]) >= 0)


def test_an_unflagged_indicator_is_left_as_it_is():
    y, rep = treat_outliers([1.0, 2, 3, 4, 5])
    assert rep["treatment"] == "none" and not rep["flagged"] and y.tolist() == [1, 2, 3, 4, 5]


def test_treat_panel_reports_per_indicator_and_changes_only_flagged_ones():
    big = np.array([1.0, 1, 1, 1, 1, 50])  # one unit far ahead: |skew| 2.45, kurtosis 6
    panel = small_panel(e=big)
    treated, report = treat_panel(panel)
    assert report.loc["e", "treatment"] == "winsorised"
    assert report.loc["e", "winsorised_units"] == ["u6"]
    assert treated.raw["e"].tolist() == [1, 1, 1, 1, 1, 1]
    assert set(report.index[report["treatment"] == "none"]) == {"a", "b", "c", "f"}
    pd.testing.assert_frame_equal(treated.raw.drop(columns="e"), panel.raw.drop(columns="e"))


# -- Sobol indices ------------------------------------------------------------------------

def test_sobol_indices_match_ishigami_analytic_values():
    from SALib.test_functions import Ishigami

    s = sobol_indices(Ishigami.evaluate, ["x1", "x2", "x3"], [[-np.pi, np.pi]] * 3,
                      n=4096, seed=7)
    # Ishigami (a=7, b=0.1): S1 = 0.3139, 0.4424, 0; ST = 0.5576, 0.4424, 0.2437
    want_s1, want_st = [0.3139, 0.4424, 0.0], [0.5576, 0.4424, 0.2437]
    assert s["S1"].tolist() == pytest.approx(want_s1, abs=0.03)
    assert s["ST"].tolist() == pytest.approx(want_st, abs=0.03)
    # the bootstrap intervals are real intervals, and hold the analytic values
    assert (s["S1_conf"] > 0).all() and (s["ST_conf"] > 0).all()
    assert (abs(s["ST"] - want_st) <= 2 * s["ST_conf"]).all()


def test_sobol_indices_of_a_linear_model_solved_by_hand():
    # Y = X1 + 2 X2 with X ~ U(0, 1): V = (1 + 4) / 12, so S1 = ST = 1/5 and 4/5
    s = sobol_indices(lambda x: x[:, 0] + 2 * x[:, 1], ["x1", "x2"], [[0, 1], [0, 1]],
                      n=2048, seed=3)
    assert s["S1"].tolist() == pytest.approx([0.2, 0.8], abs=0.02)
    assert s["ST"].tolist() == pytest.approx([0.2, 0.8], abs=0.02)


@pytest.mark.parametrize("seed", [0, 5])
def test_sobol_intervals_are_the_same_for_one_seed(seed):
    # The default seed 0 once left SALib's bootstrap unseeded: /score/audit's intervals
    # changed on every fit, and two workers gave different answers under one ETag.
    def model(x):
        return x[:, 0] + 2 * x[:, 1]

    a, b = (sobol_indices(model, ["x1", "x2"], [[0, 1], [0, 1]], n=256, seed=seed,
                          resamples=50) for _ in range(2))
    pd.testing.assert_frame_equal(a, b)


def test_sobol_needs_a_power_of_two():
    with pytest.raises(ScoreArgumentError, match="power of 2"):
        sobol_indices(lambda x: x[:, 0], ["x"], [[0, 1]], n=500)


def test_an_input_the_score_ignores_has_total_order_zero():
    panel = small_panel()
    cfg = ScoreConfig(weights={"e": 0.0})  # e weighs nothing: its weight draw is inert
    s = score_sensitivity(panel, config=cfg, n=256, seed=1)
    assert s.loc["weight:e", "ST"] == 0.0 and s.loc["weight:e", "S1"] == pytest.approx(0)
    assert list(s.index[-2:]) == ["normalisation", "aggregation"]
    assert (s["ST"] >= s["S1"] - s["ST_conf"] - s["S1_conf"] - 1e-9).all()


# -- strengths and weaknesses -------------------------------------------------------------

def test_strengths_and_weaknesses_by_hand():
    sw = strengths_weaknesses(small_panel(), top=2)
    u6 = sw[sw["unit_id"] == "u6"]
    # u6 has the most of a, b and f (rank 1), the second most of e (5 after u5's 6), and
    # the most of c, where lower is better: rank 6 of 6
    assert u6[u6["kind"] == "strength"][["indicator", "rank"]].values.tolist() == [
        ["a", 1], ["b", 1]]
    assert u6[u6["kind"] == "weakness"][["indicator", "rank"]].values.tolist() == [
        ["c", 6], ["e", 2]]
    u2 = sw[(sw["unit_id"] == "u2") & (sw["indicator"] == "e")]
    assert u2["imputed"].tolist() == ["carried_forward"] * len(u2)  # marked where shown


def test_strengths_and_weaknesses_never_name_one_indicator_twice():
    sw = strengths_weaknesses(small_panel(), top=3)  # of 5 indicators
    for _, g in sw.groupby("unit_id"):
        assert len(g) == 4 and g["indicator"].is_unique  # two of each, not three


def test_the_audit_leaves_treatment_off_by_default():
    panel = small_panel(e=np.array([1.0, 1, 1, 1, 1, 50]))
    a = audit(panel, n=64, seed=0)
    assert a.treated is False and a.params["treat"] is False
    assert a.treatment.loc["e", "treatment"] == "winsorised"  # reported all the same
    # untreated: e still varies and is correlated as it is
    assert "e" in a.correlations.columns
    t = audit(panel, n=64, seed=0, treat=True)
    assert "e" not in t.correlations.columns  # winsorised flat: no information left
    assert set(a.rank_change_if_treated.index) == set(UNITS)

def test_a_treated_audit_reports_values_as_observed():
    panel = small_panel(e=np.array([60.0, 2, 3, 4, 5, 1]))  # 60 is winsorised, e still varies
    t = audit(panel, n=64, seed=0, treat=True)
    assert t.treatment.loc["e", "treatment"] == "winsorised"
    listed = t.strengths[t.strengths["indicator"] == "e"]
    assert "u1" in set(listed["unit_id"])  # the unit whose 60 was treated is listed on e
    for _, row in t.strengths.iterrows():  # in the indicator's unit, not the treated number
        assert row["value"] == panel.raw.loc[row["unit_id"], row["indicator"]]



def unobserved(panel: ScorePanel, *ids: str) -> ScorePanel:
    """``panel`` as the score makes it when ``ids`` have no observation at all: a filled-in
    constant, flagged ``no_data``, and no reference month."""
    raw, flags = panel.raw.copy(), panel.imputed.copy()
    ref = panel.reference_month.copy().astype(object)
    for i in ids:
        raw[i], flags[i], ref[i] = 3.0, "no_data", None
    return ScorePanel(panel.registry, panel.units, panel.names, raw, panel.targets, flags, ref)


def test_the_audit_leaves_out_indicators_without_observations():
    panel = unobserved(small_panel(), "e", "f")  # d2 has no observation at all
    a = audit(panel, config=ScoreConfig(weights={"a": 2, "e": 3},
                                        dimension_weights={"d2": 2}), n=64, seed=0)
    assert a.params["left_out"] == ["e", "f"]
    assert list(a.correlations.columns) == ["a", "b", "c"]
    assert a.alpha.index.tolist() == ["d1"]  # no empty dimension reported
    assert a.treatment.index.tolist() == ["a", "b", "c"]
    assert a.sensitivity["indicator"].dropna().tolist() == ["a", "b", "c"]
    assert a.sensitivity.index.tolist()[-2:] == ["normalisation", "aggregation"]
    assert not a.strengths["indicator"].isin(["e", "f"]).any()
    # the scored panel ranks the units as the composite does with e and f weighing 0
    assert (compute(panel.scored(), ScoreConfig()).rank ==
            compute(panel, ScoreConfig()).rank).all()


def test_no_data_cells_are_not_counted_as_imputed():
    panel = unobserved(small_panel(), "e", "f")
    r = compute(panel, ScoreConfig()).ranking()
    assert r.loc["u2", "n_imputed"] == 0  # its carried-forward e is not scored any more
    assert compute(small_panel(), ScoreConfig()).ranking().loc["u2", "n_imputed"] == 1
