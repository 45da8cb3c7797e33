"""twin/score/forecast_set.py: region-wide forecasts kept per data version, refitted only
where observations changed, in the background after an ingest."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from geodata.score_history import generate_history
from tests.common import make_small_twin
from twin import Twin
from twin.score.forecast import forecast_score

pytestmark = pytest.mark.slow

WAGE = {"unit_id": "east", "indicator": "avg_wage", "month": "2025-08", "value": 120.0,
        "unit": "thousand KZT", "source": "test"}


@pytest.fixture(scope="module")
def base_file(tmp_path_factory):
    tw = make_small_twin()
    tw.tables["score_observations"] = generate_history(["west", "east"], tw["project_sites"])
    path = tmp_path_factory.mktemp("fset") / "scored.gpkg"
    tw.save(path)
    return path


@pytest.fixture
def scored(base_file, tmp_path):
    path = tmp_path / "scored.gpkg"
    path.write_bytes(base_file.read_bytes())
    return Twin.open(path)


def counting(keeper):
    fitted = []
    real = keeper._fit

    def fit(snapshot, **kw):
        fitted.append((kw["units"][0], kw["indicators"][0]))
        return real(snapshot, **kw)

    keeper._fit = fit
    return fitted


def same(a, b):
    pd.testing.assert_frame_equal(a.table.reset_index(drop=True),
                                  b.table.reset_index(drop=True))
    pd.testing.assert_frame_equal(a.kpi.reset_index(drop=True), b.kpi.reset_index(drop=True))


def test_the_set_equals_one_forecast_of_everything(scored):
    sc = scored.score
    keeper = sc.forecasts
    fitted = counting(keeper)
    fs = keeper.current()
    assert len(fitted) == fs.n_series == len(sc.units) * len(sc.registry.ids) == 24
    assert fs.reused == 0 and keeper.latest is fs
    same(fs.result, forecast_score(sc, horizon=6, level=0.9))
    # asking again for the same data fits nothing and gives the same object
    assert keeper.current() is fs and len(fitted) == 24


def test_an_ingest_refits_only_the_series_it_changed(scored):
    sc = scored.score
    keeper = sc.forecasts
    first = keeper.current()
    fitted = counting(keeper)
    sc.ingest(WAGE, upsert=True)
    fs = keeper.current()
    assert fitted == [("east", "avg_wage")]
    assert fs.refitted == (("east", "avg_wage"),) and fs.reused == 23
    assert fs.data_version != first.data_version
    same(fs.result, forecast_score(sc, horizon=6, level=0.9))
    east = fs.result.table.query("unit_id == 'east' and indicator == 'avg_wage'")
    before = first.result.table.query("unit_id == 'east' and indicator == 'avg_wage'")
    assert not east["mean"].reset_index(drop=True).equals(before["mean"].reset_index(drop=True))


def test_a_month_added_for_one_unit_leaves_the_others_alone(scored):
    sc = scored.score
    keeper = sc.forecasts
    keeper.current()
    fitted = counting(keeper)
    # a new month for west only: the month axis grows for every series, but only west's
    # wage series has changed
    sc.ingest({**WAGE, "unit_id": "west", "month": "2025-09", "value": 470.0})
    keeper.current()
    assert fitted == [("west", "avg_wage")]


def test_following_refits_in_the_background_and_serves_the_last_complete_set(scored):
    sc = scored.score
    keeper = sc.forecasts
    first = keeper.current()
    keeper.follow = True
    gate = threading.Event()
    done = []
    keeper.add_listener(done.append)
    real = keeper._fit

    def slow(snapshot, **kw):
        gate.wait(10)  # hold the refit until the test has looked
        return real(snapshot, **kw)

    keeper._fit = slow
    sc.ingest(WAGE, upsert=True)  # returns at once: the refit runs in another thread
    assert keeper.refitting
    assert keeper.latest is first  # the last complete set is still served
    gate.set()
    new = keeper.wait(30)
    assert not keeper.refitting and new is keeper.latest and done == [new]
    assert new.data_version == sc.snapshot().data_version != first.data_version


def test_a_failed_refit_is_reported_not_swallowed(scored):
    keeper = scored.score.forecasts

    def broken(snapshot, **kw):
        raise RuntimeError("statsmodels exploded")

    keeper._fit = broken
    with pytest.raises(RuntimeError, match="exploded"):
        keeper.current()
    assert keeper.latest is None and not keeper.refitting


def test_snapshot_is_not_changed_by_later_ingests(scored):
    sc = scored.score
    snap = sc.snapshot()
    v = snap.series_versions()
    sc.ingest(WAGE, upsert=True)
    assert snap.series_versions() == v
    assert sc.snapshot().series_versions()[("east", "avg_wage")] != v[("east", "avg_wage")]



def test_a_series_too_short_to_forecast_is_left_out_of_the_set(scored):
    from twin.score import Score

    obs = scored.score.observations
    young = (obs["unit_id"] == "west") & (obs["indicator"] == "investment")
    # west's investment reported for its last month only
    scored.tables["score_observations"] = obs[~young | (obs["month"] == obs["month"].max())]
    sc = Score(scored)
    fitted = counting(sc.forecasts)
    fs = sc.forecasts.current()
    assert fs.too_short == (("west", "investment"),)
    got = set(zip(fs.result.kpi["unit_id"], fs.result.kpi["indicator"], strict=True))
    assert ("west", "investment") not in got and ("east", "investment") in got
    assert len(got) == len(sc.units) * len(sc.registry.ids) - 1 == len(fitted) - 1
