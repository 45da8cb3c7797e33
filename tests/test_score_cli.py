"""`twin score` and `twin score forecast` (twin/cli.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from twin.cli import main


def test_score_json(default_twin_path, capsys):
    assert main(["score", "--twin", str(default_twin_path), "--json", "--mc", "50"]) == 0
    out = json.loads(capsys.readouterr().out)
    units = out["units"]
    assert len(units) == 20
    assert sorted(u["rank"] for u in units) == list(range(1, 21))
    assert [u["rank"] for u in units] == list(range(1, 21))  # best first
    assert out["synthetic_data"] is True
    assert set(units[0]["dimensions"]) == {"economy", "agriculture", "housing", "social",
                                           "environment"}
    assert all(u["rank_p05"] <= u["median_rank"] <= u["rank_p95"] for u in units)
    assert 0 <= out["region_score"] <= 100
    assert out["reference_month"]["investment"] == "2025-08"


def test_score_text_says_synthetic(default_twin_path, capsys):
    assert main(["score", "--twin", str(default_twin_path), "--mc", "0",
                 "--normalisation", "target", "--aggregation", "geometric"]) == 0
    out = capsys.readouterr().out
    assert "SYNTHETIC" in out and "target normalisation, geometric aggregation" in out
    assert "Kokshetau" in out


def test_score_forecast_json(default_twin_path, capsys):
    assert main(["score", "forecast", "--twin", str(default_twin_path), "--json",
                 "--unit", "kokshetau", "--indicator", "avg_wage", "--horizon", "6"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["horizon"] == 6 and len(out["forecasts"]) == 6
    assert {f["unit_id"] for f in out["forecasts"]} == {"kokshetau"}
    assert len(out["kpi"]) == 1
    kpi = out["kpi"][0]
    assert (kpi["unit_id"], kpi["indicator"]) == ("kokshetau", "avg_wage")
    assert kpi["kpi_lower"] <= kpi["kpi"] <= kpi["kpi_upper"] and 0 <= kpi["p_miss"] <= 1
    # the early-warning list is exactly the KPIs forecast to miss their target
    assert out["early_warning"] == [k for k in out["kpi"] if k["misses"]]
    assert kpi["misses"] == (kpi["kpi"] < kpi["target"])  # higher is better for wages


def test_score_on_a_missing_file_is_a_clean_error(tmp_path, capsys):
    assert main(["score", "--twin", str(tmp_path / "nope.gpkg")]) == 1
    assert "does not exist" in capsys.readouterr().err


# -- issue 11, defect 7: nested verbs and machine-readable output ---------------------------
def test_options_before_forecast_are_honoured(default_twin_path, tmp_path, capsys):
    # `twin score --twin X forecast` dropped --twin (the nested parser's default reset it)
    # and opened the default twin instead.
    assert main(["score", "--twin", str(tmp_path / "nope.gpkg"), "forecast"]) == 1
    assert "nope.gpkg" in capsys.readouterr().err
    assert main(["score", "--twin", str(default_twin_path), "--json", "--seed", "3",
                 "forecast", "--unit", "kokshetau", "--indicator", "avg_wage",
                 "--horizon", "2"]) == 0
    out = json.loads(capsys.readouterr().out)  # --json before the verb: still JSON
    assert out["seed"] == 3 and {f["unit_id"] for f in out["forecasts"]} == {"kokshetau"}


def test_ranking_options_before_forecast_are_refused(default_twin_path, capsys):
    assert main(["score", "--twin", str(default_twin_path), "--mc", "0", "forecast"]) == 1
    err = capsys.readouterr().err
    assert "--mc" in err and "not to forecasts" in err


@pytest.mark.slow
def test_info_json_on_a_fresh_install_is_only_json(tmp_path):
    # The first run builds the default twin: its "saving ..." went to stdout, before the
    # JSON, so `twin info --json | jq` failed once.
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "twin.cli", "info", "--json"], env=env,
                       capture_output=True, text=True, timeout=300,
                       cwd=Path(__file__).resolve().parents[1])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["name"] == "akmola"
    assert "saving" in r.stderr
