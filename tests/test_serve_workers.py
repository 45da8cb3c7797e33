"""`twin serve --workers 2` on a PostGIS twin: the workers agree.

A real ``twin serve`` process (uvicorn's supervisor and two worker processes) serves a twin
in the private PostGIS cluster (tests/conftest.py). Every request goes on a fresh
connection, so the kernel spreads them over both workers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest

from tests.common import make_small_twin
from tests.test_api_score import WAGE, SSEReader, scored_twin
from twin import Twin
from twin.scenario.persist import read_rows

pytestmark = [pytest.mark.server, pytest.mark.postgis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workers(pid: int) -> list[int]:
    # uvicorn's supervisor starts its workers as its own children
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children
            if "multiprocessing.resource_tracker" not in
            Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")]


def _get(url: str, **kw) -> httpx.Response:
    """One request on its own connection (a new client each time)."""
    with httpx.Client(trust_env=False, timeout=30) as c:
        return c.request(kw.pop("method", "GET"), url, **kw)


@pytest.fixture
def served(postgis_url, tmp_path):
    location = postgis_url()
    scored_twin(tmp_path / "scored.gpkg").save(location)
    port = _free_port()
    env = {**os.environ, "TWIN_API_TOKENS": TOKEN, "NO_PROXY": "*",
           "TWIN_HEADER_TIMEOUT": "1"}
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:  # a file, not a pipe: nobody reads the log as it grows
        proc = subprocess.Popen(
            [sys.executable, "-m", "twin.cli", "serve", "--twin", location, "--workers", "2",
             "--port", str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            try:
                if _get(url + "/collections").status_code == 200 and \
                        len(_workers(proc.pid)) >= 2:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"twin serve did not start: {log.read_text()}")
            time.sleep(0.3)
        time.sleep(2)  # the second worker may still be loading the twin
        yield url, location, proc
        assert "Traceback" not in log.read_text(), log.read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def test_the_workers_agree(served):
    url, location, proc = served
    # 16 concurrent PATCHes with one If-Match: one wins, on whichever worker
    r = _get(url + "/scenarios", method="POST", headers=AUTH,
             json={"id": "alu", "name": "Aluminium", "edits": []})
    assert r.status_code == 201, r.text

    def patch(i):
        return _get(url + "/scenarios/alu", method="PATCH", json={"name": f"edit {i}"},
                    headers={**AUTH, "If-Match": '"1"'}).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = sorted(pool.map(patch, range(16)))
    assert codes == [200] + [412] * 15
    assert _get(url + "/scenarios/alu").json()["version"] == 2

    # six stream clients, on both workers, all hear an ingest made on one of them
    before = _get(url + "/score").json()["data_version"]
    readers = [SSEReader(url) for _ in range(6)]
    try:
        for sse in readers:
            assert sse.next(timeout=30)["id"] == before
        r = _get(url + "/score/observations", method="POST", headers=AUTH,
                 json={"observations": [{**WAGE, "month": "2025-08", "value": 100.0}],
                       "upsert": True})
        assert r.status_code == 200, r.text
        new = r.json()["data_version"]
        assert new != before
        heard = [sse.next(timeout=10) for sse in readers]
        assert {h["id"] for h in heard} == {new}
        assert {orjson.loads(h["data"])["data_version"] for h in heard} == {new}
    finally:
        for sse in readers:  # leave at once: the server's keep-alives come every 15 s
            sse.stop.set()
            sse._client.close()
    # after the ingest, 12 requests on fresh connections all carry its data version
    with ThreadPoolExecutor(6) as pool:
        versions = list(pool.map(lambda _: _get(url + "/score").json()["data_version"],
                                 range(12)))
    assert versions == [new] * 12

    # the workers bound the request head too (TWIN_HEADER_TIMEOUT=1 above): partial heads
    # on fresh connections, which the kernel spreads over both, get 408 and are closed
    port = int(url.rsplit(":", 1)[1])
    partial = [socket.create_connection(("127.0.0.1", port)) for _ in range(6)]
    try:
        for s in partial:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        for s in partial:
            s.settimeout(10)
            got = b""
            while chunk := s.recv(65536):
                got += chunk
            assert got.startswith(b"HTTP/1.1 408 "), got
    finally:
        for s in partial:
            s.close()


def test_streams_keep_hearing_ingests_after_the_listener_connections_drop(served, postgis):
    import psycopg

    url, location, proc = served
    with psycopg.connect(postgis, autocommit=True) as c:
        # the supervisor serves nothing: it holds no connection of its own
        holders = {r[0] for r in c.execute("SELECT application_name FROM pg_stat_activity")}
        assert f"aqmola-twin {proc.pid}" not in holders
        assert {f"aqmola-twin {w}" for w in _workers(proc.pid)} <= holders
    readers = [SSEReader(url) for _ in range(6)]
    try:
        for sse in readers:
            sse.next(timeout=30)
        with psycopg.connect(postgis, autocommit=True) as c:  # a failover, an idle timeout
            dropped = c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"
                                ).fetchall()
        assert len(dropped) >= 2  # one listener per worker
        time.sleep(3)  # each worker listens again within a second or two
        r = _get(url + "/score/observations", method="POST", headers=AUTH,
                 json={"observations": [{**WAGE, "month": "2025-08", "value": 77.0}],
                       "upsert": True})
        assert r.status_code == 200, r.text
        new = r.json()["data_version"]
        heard = [sse.next(timeout=15) for sse in readers]
        assert {h["id"] for h in heard} == {new}
    finally:
        for sse in readers:
            sse.stop.set()
            sse._client.close()


def test_a_killed_worker_loses_no_acknowledged_write(served):
    url, location, proc = served
    acknowledged, stop = [], time.monotonic() + 4

    def writer(k):
        i = 0
        while time.monotonic() < stop:
            sid = f"s{k}_{i}"
            i += 1
            try:
                r = _get(url + "/scenarios", method="POST", headers=AUTH,
                         json={"id": sid, "name": sid, "edits": []})
            except httpx.HTTPError:
                continue  # the worker died under this request: it was not acknowledged
            if r.status_code == 201:
                acknowledged.append(sid)

    with ThreadPoolExecutor(4) as pool:
        jobs = [pool.submit(writer, k) for k in range(4)]
        time.sleep(1.5)
        victim = _workers(proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        for j in jobs:
            j.result()
    assert acknowledged
    stored = set(read_rows(Twin.open(location))["id"].astype(str))
    assert set(acknowledged) <= stored


def test_workers_with_a_geopackage_twin_are_refused_naming_postgis(tmp_path, capsys):
    from twin.cli import main

    path = tmp_path / "small.gpkg"
    make_small_twin().save(path)
    assert main(["serve", "--twin", str(path), "--workers", "2"]) == 1
    err = capsys.readouterr().err
    assert "--workers 2" in err and "PostGIS" in err and "twin push" in err
