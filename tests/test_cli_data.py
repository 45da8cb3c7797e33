"""``twin score ingest``: observations from a CSV, through the same validation as
``POST /score/observations`` (the score's own), all or nothing."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.common import make_bare_twin
from twin import Twin
from twin.cli import main


@pytest.fixture
def saved(tmp_path):
    tw = make_bare_twin()
    tw.save(tmp_path / "bare.gpkg")
    return tmp_path / "bare.gpkg"


def _csv(path, rows, header="unit_id,indicator,month,value,synthetic"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_ingest_ranks_the_units_and_says_what_is_left_out(saved, tmp_path, capsys):
    f = _csv(tmp_path / "obs.csv", ["west,avg_wage,2025-01,410.5,true",
                                    "east,avg_wage,2025-01,395,true"])
    assert main(["score", "ingest", str(f), "--twin", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "ingested 2 new and 0 replaced observation(s) of 1 indicator(s)" in out
    assert "ranked 2 units" in out and "best: West district" in out
    assert "left out of the composite (no observations): investment, new_jobs" in out
    obs = Twin.open(saved).tables["score_observations"]
    assert obs["synthetic"].astype(bool).all() and set(obs["unit"]) == {"thousand KZT"}
    assert set(obs["source"]) == {"obs.csv"}
    # again: already stored, so refused without --upsert, replaced with it
    assert main(["score", "ingest", str(f), "--twin", str(saved)]) == 1
    assert "already stored" in capsys.readouterr().err
    assert main(["score", "ingest", str(f), "--twin", str(saved), "--upsert"]) == 0
    assert "0 new and 2 replaced" in capsys.readouterr().out


@pytest.mark.parametrize("row", [
    "north,avg_wage,2025-01,400,false",          # unknown unit
    "west,gdp,2025-01,400,false",                # unknown indicator
    "west,avg_wage,2025-13,400,false",           # not a month
    "west,avg_wage,2025-01,lots,false",          # not a number
    "west,avg_wage,2025-01,-5,false",            # outside the bounds
])
def test_a_bad_row_is_refused_as_the_api_refuses_it_and_nothing_is_written(
        saved, tmp_path, capsys, row):
    f = _csv(tmp_path / "bad.csv", ["east,avg_wage,2025-01,400,false", row])
    assert main(["score", "ingest", str(f), "--twin", str(saved)]) == 1
    cli = capsys.readouterr().err.removeprefix("twin: error: ").strip()
    assert "observation (" in cli
    assert "score_observations" not in Twin.open(saved).tables or \
        len(Twin.open(saved).tables["score_observations"]) == 0
    # the HTTP write says the very same of the same row: one validation
    u, i, m, v, s = row.split(",")
    body = {"observations": [{"unit_id": "east", "indicator": "avg_wage", "month": "2025-01",
                              "value": 400, "unit": "thousand KZT"},
                             {"unit_id": u, "indicator": i, "month": m,
                              "value": float(v) if v.lstrip("-").isdigit() else 0.0,
                              "unit": "thousand KZT" if i == "avg_wage" else "x",
                              "synthetic": False}]}
    if v == "lots":  # JSON carries no such number; the schema refuses it first
        return
    with TestClient(create_app(Settings(api_tokens="t"), twin=Twin.open(saved))) as c:
        r = c.post("/score/observations", json=body, headers={"Authorization": "Bearer t"})
    assert r.status_code == 422, r.text
    assert r.json()["detail"].split(":")[0] == cli.split(":")[0]


def test_a_csv_without_the_needed_columns_names_them(saved, tmp_path, capsys):
    f = _csv(tmp_path / "x.csv", ["west,400"], header="unit,value")
    assert main(["score", "ingest", str(f), "--twin", str(saved)]) == 1
    err = capsys.readouterr().err
    assert "lacks column(s) unit_id, indicator, month" in err and "it has unit, value" in err
