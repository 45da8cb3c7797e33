"""geodata/score_history.py and the default twin's score_observations table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from geodata.score_history import generate_history
from twin.score import load_registry
from twin.score.observations import validate
from twin.score.panel import indicator_column

UNITS = pd.read_csv("geodata/sources/units.csv")["id"].tolist()


def hand_sites():
    rng = np.random.default_rng(7)
    inv = rng.integers(1, 10, 226).astype(float)
    inv = np.floor(inv / inv.sum() * 456e9).astype(np.int64)
    inv[0] += int(456e9) - int(inv.sum())
    jobs = np.full(226, 11)
    jobs[:14] = 10
    jobs[0] += 28  # 212 * 11 + 14 * 10 + 28 = 2,500
    return pd.DataFrame({
        "district_id": rng.choice(UNITS, 226), "status": "implementation",
        "investment_kzt": inv, "jobs": jobs,
    })


def jan_aug(h, indicator, year):
    m = h["month"]
    return h[(h.indicator == indicator) & (m >= f"{year}-01") & (m <= f"{year}-08")]


def test_history_is_deterministic_complete_and_flagged():
    sites = hand_sites()
    a, b = generate_history(UNITS, sites), generate_history(UNITS, sites)
    pd.testing.assert_frame_equal(a, b)
    reg = load_registry()
    assert len(a) == 20 * len(reg.ids) * 44  # Jan 2022 - Aug 2025
    assert a["month"].min() == "2022-01" and a["month"].max() == "2025-08"
    assert a["synthetic"].all() and a["source"].str.startswith("synthetic").all()
    # every generated row passes the same validation as a live ingest (units, bounds)
    assert len(validate(a, reg, UNITS)) == len(a)


def test_investment_and_jobs_add_up_to_the_sites_by_unit():
    sites = hand_sites()
    h = generate_history(UNITS, sites)
    inv = jan_aug(h, "investment", 2025)
    assert math.fsum(inv["value"]) == pytest.approx(456.0, abs=1e-9)
    per_unit = inv.groupby("unit_id")["value"].apply(math.fsum)
    want = sites.groupby("district_id")["investment_kzt"].sum() / 1e9
    for u in UNITS:
        assert per_unit[u] == pytest.approx(want.get(u, 0.0), abs=1e-9), u
    # the source: 456 bn is "1.5x the previous year's level"
    assert math.fsum(jan_aug(h, "investment", 2024)["value"]) == pytest.approx(304.0, abs=1e-9)
    jobs = jan_aug(h, "new_jobs", 2025)
    assert jobs["value"].sum() == sites["jobs"].sum() == 2500
    assert (jobs["value"] == jobs["value"].round()).all()  # whole jobs


def test_pipeline_projects_do_not_count():
    sites = pd.concat([hand_sites(), pd.DataFrame({
        "district_id": ["tselinograd"], "status": ["pipeline"],
        "investment_kzt": [10**12], "jobs": [4600]})])
    h = generate_history(UNITS, sites)
    assert math.fsum(jan_aug(h, "investment", 2025)["value"]) == pytest.approx(456.0)


def test_unknown_district_in_sites_is_named():
    sites = hand_sites()
    sites.loc[3, "district_id"] = "atlantis"
    with pytest.raises(ValueError, match="atlantis"):
        generate_history(UNITS, sites)


def test_default_twin_carries_the_history(default_twin):
    obs = default_twin.tables["score_observations"]
    sites = default_twin["project_sites"]
    live = sites[sites["status"] == "implementation"]
    assert len(live) == 226
    inv = jan_aug(obs, "investment", 2025)
    assert math.fsum(inv["value"]) == pytest.approx(456.0, abs=1e-6)
    assert math.fsum(inv["value"]) == pytest.approx(live["investment_kzt"].sum() / 1e9,
                                                    abs=1e-9)
    assert jan_aug(obs, "new_jobs", 2025)["value"].sum() == live["jobs"].sum()
    assert set(obs["unit_id"]) == set(default_twin["districts"]["id"])
    assert obs["synthetic"].astype(bool).all()
    ranking = default_twin.score.ranking()
    assert sorted(ranking["rank"]) == list(range(1, 21))
    assert (ranking["n_imputed"] == 0).all()  # a complete history needs no imputation


# -- the panel: reference month, windows and flagged imputation, by hand -------------------

def test_panel_rules_by_hand():
    reg = load_registry()
    lvl = reg["avg_wage"]
    a = np.array([[1.0, 2.0, 3.0],
                  [4.0, 5.0, np.nan],
                  [7.0, np.nan, np.nan]])
    raw, tgt, flags, ref = indicator_column(a, lvl)
    assert ref == 0  # month 0 is the only complete one
    assert raw.tolist() == [1.0, 4.0, 7.0] and flags.tolist() == ["", "", ""]
    a[:, 0] = [1.0, 4.0, np.nan]
    a[2] = np.nan
    raw, tgt, flags, ref = indicator_column(a, lvl)
    assert ref == 2  # nothing complete: latest month with any report
    # unit 1 carries its month-1 value forward; unit 2 has nothing: median of (3, 5) = 4
    assert raw.tolist() == [3.0, 5.0, 4.0]
    assert flags.tolist() == ["", "carried_forward", "median"]
    assert tgt.tolist() == [400.0] * 3


def test_flow_window_growth_target_and_filled_months_by_hand():
    ind = load_registry()["investment"]  # flow, target +10 % on the previous 12 months
    a = np.ones((2, 24))
    a[1, 12:] = 2.0
    a[1, 20] = np.nan  # one missing month in unit 1's latest window: filled with mean 2
    a[1, 5] = np.nan
    a[0, 5] = np.nan
    raw, tgt, flags, ref = indicator_column(a, ind)
    assert ref == 23
    assert raw.tolist() == [12.0, 24.0]
    assert flags.tolist() == ["", "months_filled"]
    # previous windows: unit 0 = 11 ones + one filled month (mean 1) = 12 -> target 13.2;
    # unit 1 = 11 ones + filled 1 = 12 -> 13.2
    np.testing.assert_allclose(tgt, [13.2, 13.2])
