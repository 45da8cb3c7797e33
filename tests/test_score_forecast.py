"""twin/score/forecast.py: forecasts with intervals, early warning, backtest."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from twin.score import ScoreArgumentError, UnknownIndicator, UnknownUnit
from twin.score import forecast as fc_mod
from twin.score.forecast import mape, seasonal_naive

MONTHS = pd.period_range("2022-01", "2025-08", freq="M")
T = np.arange(len(MONTHS))
SEASON = np.sin(2 * np.pi * (MONTHS.month.to_numpy() - 1) / 12)


def rows(unit, indicator, unit_of_measure, values):
    return pd.DataFrame({"unit_id": unit, "indicator": indicator,
                         "month": MONTHS.strftime("%Y-%m"), "value": values,
                         "unit": unit_of_measure, "source": "test", "synthetic": True})


@pytest.fixture
def series_twin(small_twin):
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 1.5, (2, len(T)))
    small_twin.tables["score_observations"] = pd.concat([
        # west's wage climbs well past the 400 target; east's sinks well below it
        rows("west", "avg_wage", "thousand KZT", 380 + 3.0 * T + 5 * SEASON + noise[0]),
        rows("east", "avg_wage", "thousand KZT", 390 - 2.5 * T + 5 * SEASON + noise[1]),
        # a pure 12-month season, no trend, no noise: seasonal-naive is exact
        rows("west", "agri_output", "bn KZT", 10 + 5 * SEASON),
        rows("east", "agri_output", "bn KZT", 20 + 8 * SEASON),
    ], ignore_index=True)
    return small_twin


def test_seasonal_naive_and_mape_by_hand():
    y = np.r_[np.arange(12.0), np.arange(12.0) + 100]
    assert seasonal_naive(y, 3).tolist() == [100.0, 101.0, 102.0]
    assert seasonal_naive(y, 12)[-1] == 111.0
    assert mape([100, 200, 0], [110, 180, 5]) == (10.0, 2)  # the 0 is undefined: skipped


def test_forecast_has_intervals_and_is_seeded(series_twin):
    sc = series_twin.score
    f = sc.forecast(horizon=6, indicators=["avg_wage"], seed=1)
    t = f.table
    assert len(t) == 2 * 6
    assert t["month"].iloc[:6].tolist() == [str(p) for p in pd.period_range(
        "2025-09", periods=6, freq="M")]
    assert (t["lower"] <= t["mean"]).all() and (t["mean"] <= t["upper"]).all()
    assert (t["upper"] - t["lower"] > 0).all()
    west = t[t.unit_id == "west"]["mean"].to_numpy()
    assert west[-1] > west[0]  # the trend goes on (damped, but up)
    again = sc.forecast(horizon=6, indicators=["avg_wage"], seed=1)
    pd.testing.assert_frame_equal(f.table, again.table)
    other = sc.forecast(horizon=6, indicators=["avg_wage"], seed=2)
    assert not np.allclose(other.table["upper"], f.table["upper"])
    pd.testing.assert_series_equal(other.table["mean"], f.table["mean"])


def test_early_warning_lists_units_heading_below_target(series_twin):
    f = series_twin.score.forecast(horizon=12, indicators=["avg_wage"])
    warn = f.early_warning
    assert warn["unit_id"].tolist() == ["east"]
    east = warn.iloc[0]
    assert east["kpi"] < east["target"] == 400.0
    assert east["p_miss"] > 0.9
    west = f.kpi[f.kpi.unit_id == "west"].iloc[0]
    assert not west["misses"] and west["p_miss"] < 0.1
    risk = f.units_at_risk
    assert risk.index.tolist() == ["east", "west"]
    assert risk.loc["east", ["misses", "of", "indicators"]].tolist() == [1, 1, "avg_wage"]
    assert risk.loc["west", "misses"] == 0 and risk.loc["west", "indicators"] == ""


def test_flow_kpi_is_the_12_month_sum(series_twin):
    sc = series_twin.score
    f = sc.forecast(horizon=6, indicators=["agri_output"], units=["west"])
    k = f.kpi.iloc[0]
    observed = sc.cube.series("west", "agri_output").to_numpy()
    want = observed[-6:].sum() + f.table["mean"].sum()
    assert k["kpi"] == pytest.approx(want)
    # growth target: +5 % on the 12 months before that window
    assert k["target"] == pytest.approx(1.05 * observed[-18:-6].sum())
    assert k["model"].endswith("on log")  # a positive seasonal flow is modelled in logs


def test_statsmodels_warnings_are_recorded_not_raised(series_twin, monkeypatch):
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    real = fc_mod._ets()

    class Warny(real):
        def fit(self, *a, **k):
            warnings.warn("did not converge", ConvergenceWarning, stacklevel=2)
            return super().fit(*a, **k)

    monkeypatch.setattr(fc_mod, "_ets", lambda: Warny)
    f = series_twin.score.forecast(horizon=3, indicators=["avg_wage"], units=["west"])
    assert "ConvergenceWarning: did not converge" in f.kpi["warnings"].iloc[0]


def test_warnings_while_forecasting_are_recorded_too(series_twin, monkeypatch):
    real = fc_mod._ets()

    class WarnyForecast(real):
        def fit(self, *a, **k):
            res = super().fit(*a, **k)
            plain = res.forecast

            def forecast(*fa, **fk):
                warnings.warn("forecast beyond the data", RuntimeWarning, stacklevel=2)
                return plain(*fa, **fk)

            res.forecast = forecast
            return res

    monkeypatch.setattr(fc_mod, "_ets", lambda: WarnyForecast)
    f = series_twin.score.forecast(horizon=3, indicators=["avg_wage"], units=["west"])
    assert "RuntimeWarning: forecast beyond the data" in f.kpi["warnings"].iloc[0]
    b = series_twin.score.backtest(horizon=6, n_origins=1, indicators=["avg_wage"],
                                   units=["west"])
    assert b.errors["warned"].all() and b.summary.loc["ALL", "fits_with_warnings"] == 1


def test_backtest_against_seasonal_naive(series_twin):
    b = series_twin.score.backtest(horizon=6, n_origins=2, step=3,
                                   indicators=["agri_output", "avg_wage"])
    assert b.origins == ("2024-11", "2025-02")
    s = b.summary
    assert list(s.index) == ["agri_output", "avg_wage", "ALL"]
    assert s.loc["agri_output", "mape_seasonal_naive"] == pytest.approx(0.0, abs=1e-9)
    # the pooled row is recomputed from the per-point errors
    e = b.errors
    assert s.loc["ALL", "points"] == len(e) == 2 * 2 * 2 * 6
    want = 100 * np.mean(np.abs(e["actual"] - e["ets"]) / np.abs(e["actual"]))
    assert s.loc["ALL", "mape_ets"] == pytest.approx(want)
    # a trending series is where ETS should beat last year's value
    assert s.loc["avg_wage", "mape_ets"] < s.loc["avg_wage", "mape_seasonal_naive"]


def test_bad_arguments_are_refused(series_twin):
    with pytest.raises(ScoreArgumentError, match="1 to 12"):
        series_twin.score.forecast(horizon=18)
    with pytest.raises(ScoreArgumentError, match="between 0 and 1"):
        series_twin.score.forecast(level=90)
    with pytest.raises(ScoreArgumentError, match="fewer origins"):
        series_twin.score.backtest(n_origins=10, step=3)
    with pytest.raises(UnknownUnit, match="'north'"):
        series_twin.score.forecast(units=["north"])
    with pytest.raises(UnknownIndicator, match="'gdp'"):
        series_twin.score.backtest(indicators=["gdp"])


def test_statsmodels_is_imported_only_by_forecasts():
    import subprocess
    import sys

    code = ("import sys, twin, twin.score; "
            "assert 'statsmodels' not in sys.modules, 'statsmodels imported eagerly'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr


def _year_of_history(tmp_path):
    """A saved twin whose two units have exactly 12 months of one indicator."""
    from tests.common import make_bare_twin

    tw = make_bare_twin()
    tw.save(tmp_path / "year.gpkg")
    tw.score.ingest([{"unit_id": u, "indicator": "avg_wage", "month": f"2024-{m:02d}",
                      "value": 400.0 + m, "unit": "thousand KZT", "synthetic": True}
                     for u in ("west", "east") for m in range(1, 13)])
    return tw


def test_twelve_months_of_history_say_what_a_forecast_needs(tmp_path, capsys):
    from twin.cli import main
    from twin.score import NotEnoughHistory

    tw = _year_of_history(tmp_path)
    with pytest.raises(NotEnoughHistory, match=r"14 months a forecast needs \(the longest "
                       r"has 12\).*ingest 2 more month"):
        tw.score.forecast()
    # the command line answers with the same message, no traceback
    assert main(["score", "forecast", "--twin", str(tw.path)]) == 1
    err = capsys.readouterr().err
    # (after the forecast's progress bar, which stderr shows)
    assert "twin: error: no series asked for has the 14 months" in err
    assert "Traceback" not in err


def test_twelve_months_of_history_answer_404_over_http(tmp_path):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings
    from tests.common import assert_problem

    tw = _year_of_history(tmp_path)
    with TestClient(create_app(Settings(), twin=tw)) as c:
        assert_problem(c.get("/score/forecast?unit=west"), 404, "14 months a forecast needs",
                       "ingest 2 more month")
        # the region's kept set says the same when none of its series can be forecast
        assert_problem(c.get("/score/forecast"), 404, "14 months a forecast needs",
                       "ingest 2 more month")
