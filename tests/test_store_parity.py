"""twin/store: the GeoPackage and the PostGIS backend give the same answers.

Each test takes ``twin_location`` (tests/conftest.py), so it runs once on a GeoPackage file
and once on a schema of the private PostGIS cluster, and checks the same expected answers:
layers, metadata, attribute tables (scenarios, plan versions, observations, the raster
registry and files), change counters seen by a second process, and ``twin push`` both ways.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from geodata.score_history import generate_history
from tests.common import make_small_twin
from twin import Twin
from twin.errors import TwinError
from twin.scenario import ScenarioConflict
from twin.scenario.persist import read_row, write_row
from twin.store import open_store, user_work


def _scored():
    tw = make_small_twin()
    tw.tables["score_observations"] = generate_history(["west", "east"], tw["project_sites"])
    return tw


def _same_layers(a: Twin, b: Twin) -> None:
    assert a.layer_names == b.layer_names
    for n in a.layer_names:
        pd.testing.assert_frame_equal(a.layer(n), b.layer(n), check_like=False)
        assert a.schema(n) == b.schema(n)


def test_a_twin_reads_back_as_saved(twin_location):
    tw = _scored()
    tw.save(twin_location)
    back = Twin.open(twin_location)
    _same_layers(tw, back)
    assert (back.name, back.version, back.metadata.provenance) == \
        (tw.name, tw.version, tw.metadata.provenance)
    assert back.analysis_crs == tw.analysis_crs
    pd.testing.assert_frame_equal(
        back.tables["score_observations"].reset_index(drop=True),
        tw.tables["score_observations"].reset_index(drop=True), check_dtype=False)
    assert back.score.data_version == tw.score.data_version
    assert back.location == str(twin_location)


def test_scenario_writes_are_compare_and_set(twin_location):
    make_small_twin().save(twin_location)
    a, b = Twin.open(twin_location), Twin.open(twin_location)  # two sessions
    assert write_row(a, "alu", "Aluminium", "[]", 0) == 1
    assert read_row(b, "alu")["version"] == 1  # read from the store, not memory
    assert write_row(b, "alu", "Aluminium 2", "[]", 1) == 2
    with pytest.raises(ScenarioConflict, match="version 1"):
        write_row(a, "alu", "stale", "[]", 1)  # a's change was based on version 1
    with pytest.raises(ScenarioConflict):
        write_row(a, "alu", "again", "[]", 0)  # a new one with a taken id
    assert read_row(Twin.open(twin_location), "alu")["name"] == "Aluminium 2"


def test_an_ingest_is_durable_and_seen_by_another_session(twin_location):
    _scored().save(twin_location)
    a, b = Twin.open(twin_location), Twin.open(twin_location)
    before = b.score.data_version
    obs = {"unit_id": "east", "indicator": "avg_wage", "month": "2025-08", "value": 999.0,
           "unit": "thousand KZT", "source": "test"}
    a.score.ingest([obs], upsert=True)
    assert b.changed_tables() == {"score_observations"}
    assert b.refresh() == {"score_observations"}
    assert b.score.data_version == a.score.data_version != before
    assert b.refresh() == set()  # nothing new: one read of the counters
    with pytest.raises(TwinError, match="already stored"):
        b.score.ingest([obs])  # without upsert a stored key is refused
    assert user_work(twin_location) == ["1 observation(s) not flagged synthetic"]


def test_plan_versions_are_stored_and_a_stale_session_is_refused(twin_location):
    make_small_twin().save(twin_location)
    a, b = Twin.open(twin_location), Twin.open(twin_location)
    pa, pb = a.plan, b.plan
    pa.rezone(parcels=[2], zone_type="industrial", note="plant")
    saved = pa.save()
    assert saved >= 1
    pb.rezone(parcels=[3], zone_type="industrial", note="other")
    with pytest.raises(TwinError, match="has not seen"):
        pb.save()
    stored = open_store(twin_location).read_table("plan_versions")
    assert len(stored) == saved and "plant" in " ".join(stored["change"].astype(str))
    assert Twin.open(twin_location).plan.version == pa.version


def test_a_yes_no_nobody_knows_reads_back_unknown(twin_location):
    # Opening a twin restored a declared yes/no column with astype(bool): every missing
    # value read back as False, a "no" nobody said (found by tests/test_api_parity.py).
    from twin.schema import LayerSchema

    tw = make_small_twin()
    sites = tw.layer("project_sites")
    sites["fenced"] = pd.array([True] + [None] * (len(sites) - 1), dtype="boolean")
    tw.add_layer("works", sites, schema=LayerSchema("works", ("Point",),
                                                     optional={"fenced": "bool"}))
    tw.save(twin_location)
    back = Twin.open(twin_location).layer("works")["fenced"]
    assert pd.api.types.is_bool_dtype(back)
    assert back.tolist()[:1] == [True] and back.iloc[1:].isna().all()
    sites["fenced"] = [True] + [False] * (len(sites) - 1)  # known throughout: plain bool
    tw.add_layer("works", sites, schema=LayerSchema("works", ("Point",),
                                                     optional={"fenced": "bool"}))
    tw.save(twin_location)
    assert Twin.open(twin_location).layer("works")["fenced"].dtype == bool


def _file_digests(location) -> dict[str, str]:
    st = open_store(location)
    return {n: hashlib.sha256(b"".join(st.file_parts(n))).hexdigest()
            for n in sorted(st.stored_files())}


@pytest.mark.slow
def test_push_copies_a_whole_twin_with_its_rasters_both_ways(twin_location, tmp_path,
                                                             postgis_url, capsys):
    from twin.cli import main
    from twin.raster.surfaces import build_rasters

    tw = _scored()
    src = tmp_path / "src.gpkg"
    tw.save(src)
    build_rasters(tw, src, resolution=2000.0)
    tw.save(src)
    files = _file_digests(src)
    assert files  # the rasters' COGs, stored in the twin
    assert main(["push", str(src), twin_location]) == 0
    assert _file_digests(twin_location) == files
    pushed = Twin.open(twin_location)
    _same_layers(tw, pushed)
    assert list(pushed.tables["rasters"]["name"]) == list(tw.tables["rasters"]["name"])
    # and back, through the other backend
    other = postgis_url() if twin_location.endswith(".gpkg") else str(tmp_path / "back.gpkg")
    assert main(["push", twin_location, other]) == 0
    assert _file_digests(other) == files
    _same_layers(tw, Twin.open(other))
    assert "pushed" in capsys.readouterr().out


def test_push_keeps_a_users_work_unless_forced(twin_location, tmp_path):
    from twin.cli import main

    src = tmp_path / "src.gpkg"
    make_small_twin().save(src)
    make_small_twin().save(twin_location)
    write_row(Twin.open(twin_location), "alu", "Aluminium", "[]", 0)
    assert main(["push", str(src), twin_location]) == 1
    assert read_row(Twin.open(twin_location), "alu")["version"] == 1  # untouched
    assert main(["push", str(src), twin_location, "--force"]) == 0
    assert user_work(twin_location) == []


def test_a_missing_twin_says_how_to_make_one(twin_location):
    with pytest.raises(TwinError, match="twin build|twin push"):
        Twin.open(twin_location)


def test_every_write_moves_its_tables_counter_by_one(twin_location):
    make_small_twin().save(twin_location)
    tw = Twin.open(twin_location)
    counters = []
    for v in range(3):
        write_row(tw, "alu", "Aluminium", "[]", v)
        counters.append(open_store(twin_location).versions()["scenarios"])
    assert [b - a for a, b in zip(counters, counters[1:], strict=False)] == [1, 1]


@pytest.mark.postgis
def test_push_never_drops_a_schema_that_is_not_a_twin(postgis, postgis_url, tmp_path, capsys):
    # Replacing a twin drops its schema: a user's own schema, or their view over the twin's
    # tables in another schema, must stop the push instead of going with it.
    import psycopg

    from twin.cli import main

    src = tmp_path / "src.gpkg"
    make_small_twin().save(src)
    theirs = postgis_url()
    schema = theirs.rsplit("schema=", 1)[1]
    with psycopg.connect(postgis, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
        c.execute(f"CREATE TABLE {schema}.sales (x int)")
        c.execute(f"INSERT INTO {schema}.sales VALUES (42)")
    assert main(["push", str(src), theirs, "--force"]) == 1
    assert "holds 1 tables or other objects but no twin" in capsys.readouterr().err
    with psycopg.connect(postgis) as c:
        assert c.execute(f"SELECT x FROM {schema}.sales").fetchone() == (42,)

    twin_url = postgis_url()
    assert main(["push", str(src), twin_url]) == 0
    twin_schema = twin_url.rsplit("schema=", 1)[1]
    with psycopg.connect(postgis, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {twin_schema}_views")
        c.execute(f"CREATE VIEW {twin_schema}_views.d AS SELECT * FROM {twin_schema}.districts")
    assert main(["push", str(src), twin_url, "--force"]) == 1
    assert f"{twin_schema}_views.d depend on" in capsys.readouterr().err
    with psycopg.connect(postgis) as c:
        assert c.execute(f"SELECT count(*) FROM {twin_schema}_views.d").fetchone()[0] > 0
    Twin.open(twin_url)  # the twin itself is untouched


def test_a_location_never_shows_its_password():
    st = open_store("postgresql://me:pw1@db.example/twins?password=pw2&schema=a")
    assert "pw1" not in st.location and "pw2" not in st.location
    assert "password=***" in st.location and ":***@" in st.location
    with pytest.raises(TwinError, match="not usable"):
        open_store("postgresql://me@db.example/twins?schema=pg_toast")


@pytest.mark.postgis
def test_a_whole_save_never_overwrites_another_sessions_ingest(postgis_url):
    # A whole save (twin import, tw.save) into a served PostGIS twin: an ingest another
    # worker acknowledged after this session opened the twin is kept, and the save refused.
    url = postgis_url()
    _scored().save(url)
    a, b = Twin.open(url), Twin.open(url)
    obs = {"unit_id": "east", "indicator": "avg_wage", "month": "2025-08", "value": 999.0,
           "unit": "thousand KZT", "source": "test"}
    b.score.ingest([obs], upsert=True)
    with pytest.raises(TwinError, match="score_observations changed since this session"):
        a.save(url)
    kept = Twin.open(url).score.observations
    assert 999.0 in set(kept["value"])
    a = Twin.open(url)  # read again, the same save goes through
    a.save(url)
    assert 999.0 in set(Twin.open(url).score.observations["value"])
