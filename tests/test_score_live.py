"""twin/score/live.py and observations.py: validated, durable, incremental ingest."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata.score_history import generate_history
from tests.common import make_small_twin
from twin import Twin
from twin.score import (
    DuplicateObservation,
    InvalidMonth,
    InvalidValue,
    NoObservations,
    NotPersisted,
    Observation,
    Score,
    UnitMismatch,
    UnknownIndicator,
    UnknownUnit,
)
from twin.score.errors import ScoreArgumentError

ROOT = Path(__file__).resolve().parents[1]


def wage(unit="west", month="2025-09", value=400.0, unit_of_measure="thousand KZT"):
    return {"unit_id": unit, "indicator": "avg_wage", "month": month, "value": value,
            "unit": unit_of_measure, "source": "test"}


@pytest.fixture
def scored_twin(small_twin, tmp_path):
    """The small two-district twin with a synthetic history, saved to a file."""
    small_twin.tables["score_observations"] = generate_history(
        small_twin["districts"]["id"].tolist(), small_twin["project_sites"])
    small_twin.save(tmp_path / "small.gpkg")
    return small_twin


def file_rows(path, where="1=1", args=()):
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT unit_id, indicator, month, value, source, synthetic "
                            f"FROM score_observations WHERE {where}", args).fetchall()


# -- validation -----------------------------------------------------------------------------

@pytest.mark.parametrize("row, error, words", [
    (wage(unit="nowhere"), UnknownUnit, ["'nowhere'", "west", "districts"]),
    ({**wage(), "indicator": "happiness"}, UnknownIndicator, ["'happiness'", "avg_wage"]),
    (wage(value=float("nan")), InvalidValue, ["nan", "finite"]),
    (wage(value=float("inf")), InvalidValue, ["inf", "finite"]),
    (wage(value="lots"), InvalidValue, ["'lots'"]),
    (wage(unit_of_measure="KZT"), UnitMismatch, ["'KZT'", "'thousand KZT'", "convert"]),
    (wage(month="2025-13"), InvalidMonth, ["'2025-13'", "YYYY-MM"]),
    (wage(month="0000-01"), InvalidMonth, ["'0000-01'", "YYYY-MM"]),
    (wage(month="\uff12\uff10\uff12\uff15-10"), InvalidMonth, ["YYYY-MM"]),  # not ASCII
    (wage(month="0001-01"), InvalidMonth, ["'0001-01'", "outside 2000-01.."]),
    (wage(month="9999-12"), InvalidMonth, ["'9999-12'", "not forecasts"]),
    ({**wage(), "indicator": "roads_good", "unit": "%", "value": 130.0}, InvalidValue,
     ["130", "range"]),
])
def test_bad_observations_are_refused_with_a_clear_message(scored_twin, row, error, words):
    sc = scored_twin.score
    n = len(sc.observations)
    with pytest.raises(error) as e:
        sc.ingest(row)
    for w in words:
        assert w in str(e.value)
    assert "observation ('" in str(e.value)  # names unit, indicator and month
    assert len(sc.observations) == n
    assert len(file_rows(scored_twin.path)) == n


def test_synthetic_flag_spelled_in_text_is_read_as_meant(scored_twin):
    # A CSV gives the flag as text; bool("False") would mark real figures as made up.
    sc = scored_twin.score
    sc.ingest([{**wage(unit="west"), "synthetic": "False"},
               {**wage(unit="east"), "synthetic": "true"}])
    assert file_rows(scored_twin.path, "month='2025-09'") == [
        ("west", "avg_wage", "2025-09", 400.0, "test", 0),
        ("east", "avg_wage", "2025-09", 400.0, "test", 1)]
    with pytest.raises(InvalidValue, match="synthetic is 'maybe'"):
        sc.ingest({**wage(month="2025-10"), "synthetic": "maybe"})


def test_duplicate_month_needs_upsert(scored_twin):
    sc = scored_twin.score
    with pytest.raises(DuplicateObservation, match="upsert=True") as e:
        sc.ingest(wage(month="2025-08"))
    assert "'west', 'avg_wage', '2025-08'" in str(e.value)
    rep = sc.ingest(wage(month="2025-08", value=999.0), upsert=True)
    assert (rep.added, rep.replaced) == (0, 1)
    assert file_rows(scored_twin.path, "unit_id='west' AND indicator='avg_wage' AND "
                     "month='2025-08'") == [("west", "avg_wage", "2025-08", 999.0, "test", 0)]
    obs = sc.observations
    hit = obs[(obs.unit_id == "west") & (obs.indicator == "avg_wage") & (obs.month == "2025-08")]
    assert hit["value"].tolist() == [999.0] and not hit["synthetic"].any()


def test_duplicate_inside_one_batch_is_refused(scored_twin):
    with pytest.raises(DuplicateObservation, match="more than once"):
        scored_twin.score.ingest([wage(), wage(value=1.0)], upsert=True)


def test_a_bad_row_rejects_the_whole_batch(scored_twin):
    sc = scored_twin.score
    n = len(file_rows(scored_twin.path))
    with pytest.raises(UnknownUnit):
        sc.ingest([wage(), wage(unit="atlantis")])
    assert len(file_rows(scored_twin.path)) == n
    assert np.isnan(sc.cube.series("west", "avg_wage").get("2025-09", np.nan))


def test_observation_objects_and_frames_are_accepted(scored_twin):
    sc = scored_twin.score
    sc.ingest(Observation("east", "avg_wage", "2025-09", 410.0, "thousand KZT", "BNS"))
    sc.ingest(sc.observations.iloc[:0])  # an empty frame is a no-op, not an error
    assert file_rows(scored_twin.path, "month='2025-09'") == [
        ("east", "avg_wage", "2025-09", 410.0, "BNS", 0)]


# -- durability -----------------------------------------------------------------------------

def test_ingest_into_an_unsaved_twin_says_save_first(small_twin):
    small_twin.tables["score_observations"] = generate_history(
        ["west", "east"], small_twin["project_sites"])
    with pytest.raises(NotPersisted, match="save it first"):
        small_twin.score.ingest(wage())
    assert small_twin.score.ingest(wage(), persist=False).persisted is False


def test_failed_write_leaves_the_score_unchanged(scored_twin, monkeypatch):
    sc = scored_twin.score
    before = sc.ranking()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(Score, "_persist", boom)
    with pytest.raises(OSError):
        sc.ingest(wage(month="2025-08", value=1.0), upsert=True)
    assert sc.ranking().equals(before)
    assert sc.cube.series("west", "avg_wage")["2025-08"] != 1.0


def test_acknowledged_observation_survives_a_crash(scored_twin):
    # A child process ingests, then dies at once (no save, no cleanup). What ingest
    # acknowledged must be in the file.
    code = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from twin import Twin
        tw = Twin.open({str(scored_twin.path)!r})
        tw.score.ingest({{"unit_id": "east", "indicator": "avg_wage", "month": "2025-09",
                         "value": 432.1, "unit": "thousand KZT", "source": "crash-test"}})
        print("acknowledged", flush=True)
        os._exit(9)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONWARNINGS": "error"})
    assert out.returncode == 9, out.stderr
    assert "acknowledged" in out.stdout
    reopened = Twin.open(scored_twin.path)
    s = reopened.score.cube.series("east", "avg_wage")
    assert s["2025-09"] == 432.1


def test_saving_the_twin_again_keeps_ingested_rows(scored_twin, tmp_path):
    scored_twin.score.ingest(wage(value=401.0))
    scored_twin.save(tmp_path / "again.gpkg")
    again = Twin.open(tmp_path / "again.gpkg")
    assert again.score.cube.series("west", "avg_wage")["2025-09"] == 401.0
    again.score.ingest(wage(unit="east", value=402.0))  # the unique key is rebuilt
    with pytest.raises(DuplicateObservation):
        again.score.ingest(wage(value=1.0))


# -- incremental updates --------------------------------------------------------------------

def test_only_the_touched_indicator_is_recomputed(scored_twin, monkeypatch):
    sc = scored_twin.score
    calls = []
    original = Score._update_column
    monkeypatch.setattr(Score, "_update_column",
                        lambda self, j: (calls.append(j), original(self, j))[1])
    sc.ingest(wage(month="2025-08", value=250.0), upsert=True)
    assert calls == [sc.registry.ids.index("avg_wage")]


def test_incremental_equals_full_recompute_on_the_default_twin(default_twin_path, tmp_path):
    path = tmp_path / "akmola.gpkg"
    shutil.copy(default_twin_path, path)
    tw = Twin.open(path)
    sc = tw.score
    sc.ingest([
        {"unit_id": "kokshetau", "indicator": "network_wear", "month": "2025-08",
         "value": 80.0, "unit": "%"},
        {"unit_id": "esil", "indicator": "investment", "month": "2025-08", "value": 50.0,
         "unit": "bn KZT"},
    ], upsert=True)
    fresh = Twin.open(path).score
    np.testing.assert_allclose(sc._s, fresh._s, rtol=0, atol=1e-12)
    assert sc.ranking()["rank"].equals(fresh.ranking()["rank"])
    # and the change moved Esil (huge investment) up and Kokshetau (worn networks) down
    base = Twin.open(default_twin_path).score.ranking()["rank"]
    assert sc.ranking()["rank"]["esil"] < base["esil"]
    assert sc.ranking()["rank"]["kokshetau"] >= base["kokshetau"]


def test_a_month_reported_by_one_unit_waits_until_complete(scored_twin):
    sc = scored_twin.score
    before = sc.ranking()
    sc.ingest(wage(unit="west", month="2025-09", value=9999.0))
    assert sc.panel.reference_month["avg_wage"] == "2025-08"
    assert sc.ranking().equals(before)
    sc.ingest(wage(unit="east", month="2025-09", value=1.0))
    assert sc.panel.reference_month["avg_wage"] == "2025-09"
    assert sc.ranking().loc["west", "rank"] == 1


months = st.sampled_from(["2025-06", "2025-07", "2025-08", "2025-09", "2025-11"])


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["west", "east"]),
                          st.sampled_from(["avg_wage", "agri_output", "network_wear"]),
                          months, st.floats(0, 100)), min_size=1, max_size=8))
def test_incremental_matches_full_recompute(small_twin, batch):
    small_twin.tables["score_observations"] = generate_history(
        ["west", "east"], small_twin["project_sites"])
    small_twin.__dict__.pop("_score", None)
    sc = small_twin.score
    units = {"avg_wage": "thousand KZT", "agri_output": "bn KZT", "network_wear": "%"}
    for u, i, m, v in batch:
        sc.ingest({"unit_id": u, "indicator": i, "month": m, "value": v, "unit": units[i]},
                  upsert=True, persist=False)
    full = Score(small_twin)  # rebuilt from the table the ingests kept up to date
    np.testing.assert_allclose(sc._s, full._s, rtol=0, atol=1e-9)
    np.testing.assert_allclose(sc._norm, full._norm, rtol=0, atol=1e-9)
    assert (sc._flags == full._flags).all()


def test_a_twin_without_observations_says_how_to_get_some(small_twin):
    with pytest.raises(NoObservations, match="ingest"):
        small_twin.score.ranking()


def test_gaps_are_imputed_visibly_not_silently(small_twin):
    h = generate_history(["west", "east"], small_twin["project_sites"])
    gap = (h.unit_id == "east") & (h.indicator == "agri_output") & (h.month == "2025-03")
    small_twin.tables["score_observations"] = h[~gap]
    sc = small_twin.score
    flags = sc.panel.imputed
    assert flags.loc["east", "agri_output"] == "months_filled"
    assert (flags.drop(columns="agri_output") == "").all().all()
    assert sc.ranking().loc["east", "n_imputed"] == 1
    assert sc.table().imputed.loc["east", "agri_output"] == "months_filled"


def test_a_correction_of_provenance_alone_gives_a_new_data_version(scored_twin):
    """Re-stating a value as synthetic (or citing another source) changes what the score
    tells its readers, so caches keyed on the version must not keep the old answer; the
    same value, flag and source again keeps the version."""
    sc = scored_twin.score
    row = sc.observations.iloc[-1]
    same = {"unit_id": row.unit_id, "indicator": row.indicator, "month": row.month,
            "value": float(row.value), "unit": row.unit, "source": row.source,
            "synthetic": bool(row.synthetic)}
    v0 = sc.data_version
    sc.ingest(same, upsert=True)
    assert sc.data_version == v0
    sc.ingest({**same, "synthetic": not same["synthetic"]}, upsert=True)
    v1 = sc.data_version
    assert v1 != v0
    sc.ingest({**same, "synthetic": not same["synthetic"], "source": "a corrected citation"},
              upsert=True)
    assert sc.data_version not in (v0, v1)


def test_a_correction_gives_readers_a_new_table(scored_twin):
    # Scenarios notice a changed baseline by the observation table's identity, so an
    # upsert must not edit the table in place.
    sc = scored_twin.score
    before = scored_twin.tables["score_observations"]
    sc.ingest(wage(month="2025-08", value=999.0), upsert=True)
    assert scored_twin.tables["score_observations"] is not before


def test_ranking_as_of_a_month_uses_only_what_was_known_then(scored_twin):
    sc = scored_twin.score
    last = sc.cube.months[-1]
    pd.testing.assert_frame_equal(sc.ranking_as_of(last), sc.ranking())
    before = sc.ranking_as_of("2025-07")
    # the same as a score of a twin that never saw August
    obs = sc.observations
    early = make_small_twin()
    early.tables["score_observations"] = obs[obs["month"] <= "2025-07"].copy()
    pd.testing.assert_frame_equal(before, early.score.ranking(), check_dtype=False)
    with pytest.raises(ScoreArgumentError, match="holds no observations"):
        sc.ranking_as_of("1999-01")


def test_ranking_as_of_leaves_out_what_had_no_observation_then(scored_twin):
    # new_jobs reported only from August on: July's ranking is of the other indicators,
    # as a twin that never had new_jobs would rank them (not with a filled-in constant)
    obs = scored_twin.score.observations
    late = (obs["indicator"] == "new_jobs") & (obs["month"] < "2025-08")
    part = make_small_twin()
    part.tables["score_observations"] = obs[~late].copy()
    early = make_small_twin()
    early.tables["score_observations"] = obs[(obs["month"] <= "2025-07")
                                             & (obs["indicator"] != "new_jobs")].copy()
    assert "new_jobs" in early.score.left_out
    pd.testing.assert_frame_equal(part.score.ranking_as_of("2025-07"), early.score.ranking(),
                                  check_dtype=False)
