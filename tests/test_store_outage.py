"""A PostGIS twin when the database misbehaves: it restarts, it kills connections, two
writers deadlock, a push meets a refusing server, a reader races a table being replaced,
a stored raster is incomplete.

Each answer is a clear error that names the problem and the fix (a 503 with Retry-After
while the database is away, never a 500), nothing is half-written, and the served twin
recovers without a restart. Against the private cluster of tests/conftest.py.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from tests.common import make_small_twin
from tests.test_api_score import scored_twin
from twin import Twin
from twin.errors import StoreUnavailable, TwinError
from twin.store import open_store, retrying

pytestmark = [pytest.mark.postgis]

psycopg = pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]'")
PG_CTL = "/usr/lib/postgresql/15/bin/pg_ctl"
AUTH = {"Authorization": "Bearer s3cret"}


def _pg_ctl(dsn: str, *args: str) -> None:
    # The cluster of tests/conftest.py: its data folder sits beside its socket folder,
    # and it starts again with the options it was started with.
    sock = dict(kv.split("=", 1) for kv in dsn.split())["host"]
    data = Path(sock).parent / "data"
    if args[0] == "start":
        args = (*args, "-l", str(Path(sock).parent / "pg.log"),
                "-o", f"-k {sock} -c listen_addresses='' -c fsync=off -c jit=off")
    cmd = [PG_CTL, "-D", str(data), "-w", *args]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def _terminate(dsn: str, where: str = "true") -> int:
    """End the server side of other sessions' connections (as a restart or an idle
    timeout would); returns how many."""
    with psycopg.connect(dsn, autocommit=True) as c:
        return len(c.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> "
            f"pg_backend_pid() AND backend_type = 'client backend' AND {where}").fetchall())


@pytest.fixture
def client(postgis_url, tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings
    from twin.store.postgis import PostgisStore

    monkeypatch.setattr(PostgisStore, "wait_s", 3.0)  # a request waits this long, then 503
    url = postgis_url()
    scored_twin(tmp_path / "scored.gpkg").save(url)
    app = create_app(Settings(api_tokens="s3cret", twin_path=url))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c, url


@pytest.mark.slow
def test_a_database_restart_answers_503_then_recovers_without_a_server_restart(
        client, postgis):
    c, url = client
    assert c.get("/score").status_code == 200
    assert c.post("/scenarios", json={"id": "alu", "name": "A", "edits": []},
                  headers=AUTH).status_code == 201
    _pg_ctl(postgis, "-m", "fast", "stop")
    try:
        for path in ("/score", "/scenarios/alu"):
            r = c.get(path)
            assert r.status_code == 503, (path, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert int(r.headers["retry-after"]) > 0
            assert "try again" in r.json()["detail"] and "Traceback" not in r.text
        r = c.patch("/scenarios/alu", json={"name": "B"}, headers={**AUTH, "If-Match": '"1"'})
        assert r.status_code == 503, r.text
        assert c.get("/collections/parcels/items?limit=1").status_code == 200  # in memory
    finally:
        _pg_ctl(postgis, "start")
    deadline = time.monotonic() + 30
    while (r := c.get("/scenarios/alu")).status_code != 200:
        assert r.status_code == 503, r.text
        assert time.monotonic() < deadline, f"the served twin did not recover: {r.text}"
        time.sleep(0.3)
    assert r.json()["version"] == 1  # the PATCH during the outage wrote nothing
    r = c.patch("/scenarios/alu", json={"name": "B"}, headers={**AUTH, "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert c.get("/score").status_code == 200


def test_connections_the_server_dropped_are_replaced_before_a_request_gets_one(
        client, postgis):
    c, url = client
    assert c.get("/scenarios").status_code == 200
    assert _terminate(postgis) >= 1
    time.sleep(0.2)
    for _ in range(3):  # every pooled connection was dropped: none reaches a request
        r = c.get("/scenarios")
        assert r.status_code == 200, r.text


def test_a_deadlocked_write_is_retried_not_answered_500(client, postgis):
    # A session holds the scenarios' change counter and then asks for the row a PATCH has
    # just updated: the two wait on each other, and PostgreSQL ends the PATCH's
    # transaction (it waits longer only on the session's side). The PATCH re-reads,
    # compare-and-sets again, and wins.
    c, url = client
    schema = url.rsplit("schema=", 1)[1]
    assert c.post("/scenarios", json={"id": "alu", "name": "A", "edits": []},
                  headers=AUTH).status_code == 201
    with psycopg.connect(postgis) as other:
        other.execute("SET deadlock_timeout = '20s'")
        other.execute(f"SELECT version FROM {schema}.twin_changes WHERE name = 'scenarios' "
                      "FOR UPDATE")
        with ThreadPoolExecutor(1) as pool:
            patch = pool.submit(c.patch, "/scenarios/alu", json={"name": "B"},
                                headers={**AUTH, "If-Match": '"1"'})
            deadline = time.monotonic() + 20
            with psycopg.connect(postgis, autocommit=True) as watch:
                while not watch.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                        "'Lock' AND application_name LIKE 'aqmola-twin %'").fetchone()[0]:
                    assert time.monotonic() < deadline and not patch.done(), \
                        patch.result().text
                    time.sleep(0.05)
            # the PATCH holds the row and waits for the counter: now the cycle closes
            with pytest.raises(psycopg.errors.DeadlockDetected):
                with other.transaction():  # a savepoint: the deadlock may end ours instead
                    other.execute("SET LOCAL lock_timeout = '15s'")
                    other.execute(f"UPDATE {schema}.scenarios SET name = name WHERE id = "
                                  "'alu'")
                    raise psycopg.errors.DeadlockDetected("the PATCH's was ended instead")
            other.rollback()
            r = patch.result(timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and c.get("/scenarios/alu").json()["name"] == "B"


def test_retrying_gives_up_with_a_clear_busy_error():
    from twin.errors import StoreBusy

    runs = []
    with pytest.raises(StoreBusy, match="repeat"):
        for attempt in retrying(3, pause_s=0):
            with attempt:
                runs.append(1)
                raise StoreBusy("this write collided with concurrent ones: repeat it")
    assert len(runs) == 3


# -- twin push against a server that refuses ---------------------------------------------
def _push_error(src, dest, capsys) -> str:
    from twin.cli import main

    assert main(["push", str(src), dest]) == 1
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.fixture
def small_file(tmp_path):
    path = tmp_path / "small.gpkg"
    make_small_twin().save(path)
    return path


def test_push_to_a_database_that_does_not_exist_says_so(small_file, postgis_url, capsys):
    dest = postgis_url().replace("/postgres?", "/nosuchdb?")
    err = _push_error(small_file, dest, capsys)
    assert "no database 'nosuchdb'" in err and "createdb nosuchdb" in err


def test_push_as_a_user_that_does_not_exist_says_so(small_file, postgis_url, capsys):
    dest = postgis_url().replace("postgres@", "nobody@")
    err = _push_error(small_file, dest, capsys)
    assert "no user 'nobody'" in err and "createuser nobody" in err


def test_push_without_create_privilege_names_the_grant(small_file, postgis, postgis_url,
                                                       capsys):
    with psycopg.connect(postgis, autocommit=True) as c:
        c.execute("DROP ROLE IF EXISTS planner")
        c.execute("CREATE ROLE planner LOGIN")
    dest = postgis_url().replace("postgres@", "planner@")
    err = _push_error(small_file, dest, capsys)
    assert "may not create schemas in database 'postgres'" in err
    assert "GRANT CREATE ON DATABASE postgres TO planner" in err


def test_push_with_a_wrong_password_says_so(small_file, postgis, postgis_url, capsys):
    # The cluster trusts every local user; one user is made to give a password.
    with psycopg.connect(postgis, autocommit=True) as c:
        hba = c.execute("SHOW hba_file").fetchone()[0]
        c.execute("DROP ROLE IF EXISTS keyholder")
        c.execute("CREATE ROLE keyholder LOGIN PASSWORD 'right'")
    text = Path(hba).read_text()
    Path(hba).write_text("local all keyholder scram-sha-256\n" + text)
    try:
        _pg_ctl(postgis, "reload")
        time.sleep(0.5)
        dest = postgis_url().replace("postgres@", "keyholder:wrong@")
        err = _push_error(small_file, dest, capsys)
        assert "refused the password of user 'keyholder'" in err and "wrong" not in err
        assert "~/.pgpass" in err
    finally:
        Path(hba).write_text(text)
        _pg_ctl(postgis, "reload")


def test_a_push_while_another_writes_the_schema_refuses_and_writes_nothing(
        small_file, postgis_url, capsys):
    from twin.store.postgis import PostgisStore

    dest = postgis_url()
    make_small_twin().save(dest)
    before = open_store(dest).read_meta()
    st = PostgisStore(dest)
    conn = st.connect()
    try:
        with conn.transaction():
            st._lock_for_writing(conn)  # what a push holds while it copies
            err = _push_error(small_file, dest, capsys)
    finally:
        conn.close()
    assert "being written by another push or save right now" in err
    assert open_store(dest).read_meta() == before


def test_concurrent_pushes_to_one_schema_leave_one_whole_twin(small_file, postgis_url):
    from twin.cli import main

    dest = postgis_url()
    barrier = threading.Barrier(4)

    def push(_):
        barrier.wait()
        return main(["push", str(small_file), dest, "--force"])

    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(push, range(4)))
    assert 0 in codes and set(codes) <= {0, 1}
    back = Twin.open(dest)  # whole: every layer
    tw = make_small_twin()
    assert back.layer_names == tw.layer_names
    assert len(back["parcels"]) == len(tw["parcels"])


# -- a table replaced while other workers read it ----------------------------------------
def test_a_replaced_table_is_never_read_empty_or_missing(postgis_url):
    url = postgis_url()
    make_small_twin().save(url)
    rows = pd.DataFrame({"name": [f"r{i}" for i in range(50)], "value": range(50)})
    with open_store(url).transaction() as tx:
        tx.replace("registry", rows)
    stop = time.monotonic() + 3
    seen: list[int] = []
    problems: list[BaseException] = []

    def writer():
        st = open_store(url)
        i = 0
        while time.monotonic() < stop:
            i += 1
            with st.transaction() as tx:
                tx.replace("registry", rows.assign(value=rows["value"] + i))

    def reader():
        st = open_store(url)
        while time.monotonic() < stop:
            try:
                t = st.read_table("registry")
                seen.append(0 if t is None else len(t))
            except TwinError as e:
                problems.append(e)

    with ThreadPoolExecutor(3) as pool:
        jobs = [pool.submit(f) for f in (writer, reader, reader)]
        for j in jobs:
            j.result()
    assert not problems
    assert len(seen) > 50 and set(seen) == {50}


# -- a stored raster with a part missing -------------------------------------------------
@pytest.mark.slow
def test_a_raster_missing_a_stored_part_is_a_404_naming_it(postgis, postgis_url, tmp_path,
                                                          monkeypatch):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings
    from twin.raster.surfaces import build_rasters
    from twin.store import base

    monkeypatch.setattr(base, "FILE_PART_BYTES", 256)  # files of several parts
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tw = make_small_twin()
    src = tmp_path / "src.gpkg"
    tw.save(src)
    build_rasters(tw, src, resolution=2000.0)
    tw.save(src)
    url = postgis_url()
    Twin.open(src).save(url)
    name = str(Twin.open(url).tables["rasters"]["name"].iloc[0])
    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(postgis, autocommit=True) as c:
        gone = c.execute(f"DELETE FROM {schema}.twin_files WHERE part = 1 RETURNING name"
                         ).fetchall()
    assert gone  # every stored file lost its second part
    with pytest.raises(TwinError, match="incomplete"):
        b"".join(open_store(url).file_parts(gone[0][0]))
    app = create_app(Settings(twin_path=url))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get(f"/raster/{name}.json")
    assert r.status_code == 404, r.text
    detail = r.json()["detail"]
    assert repr(name) in detail and "incomplete" in detail and "add-raster" in detail


def test_a_url_with_an_unknown_parameter_says_to_fix_the_url(postgis_url):
    with pytest.raises(TwinError, match="fix the URL") as e:
        open_store(postgis_url() + "&colour=red").exists()
    assert not isinstance(e.value, StoreUnavailable)  # no point retrying it


def test_an_unreachable_server_is_a_clear_store_unavailable(tmp_path):
    st = open_store(f"postgresql://postgres@/postgres?host={tmp_path}&schema=t")
    with pytest.raises(StoreUnavailable, match="does not answer") as e:
        st.exists()
    assert "\n" not in str(e.value) and "check that the server runs" in str(e.value)

