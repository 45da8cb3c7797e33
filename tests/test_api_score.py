"""api/routers/score.py and api/score_hub.py: the ranking with rank intervals (cached per data
version), a unit's history, forecasts, authenticated and idempotent ingest, and the live
stream of the ranking over server-sent events on a real uvicorn server; on a twin stored in
each backend (tests/conftest.py's ``backend``). Tests of request parsing and of the
forecasting code run on a GeoPackage only (``GPKG_ONLY``): where the twin lives does not
change them."""

from __future__ import annotations

import json
import queue
import threading
import time

import httpx
import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.score_hub import hub_of
from api.settings import Settings
from geodata.score_history import generate_history
from tests.common import GPKG_ONLY, PROBLEM, make_small_twin, stored_rows
from tests.common import assert_problem as _problem
from tests.test_api_server import serve_in_thread
from twin import Twin
from twin.score import Score

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# avg_wage is reported monthly by every unit up to 2025-08 (the reference month), so a new
# value for 2025-08 changes the ranking; one for 2025-09 is stored but not yet scored.
WAGE = {"unit_id": "east", "indicator": "avg_wage", "month": "2025-09", "value": 455.0,
        "unit": "thousand KZT", "source": "test"}


def scored_twin(path):
    """The small twin with the synthetic score history, saved to ``path`` and reopened (an
    ingest commits to the file)."""
    tw = make_small_twin()
    tw.tables["score_observations"] = generate_history(["west", "east"], tw["project_sites"])
    tw.save(path)
    return Twin.open(path)


@pytest.fixture(scope="module")
def base_file(backend):
    """The scored twin, stored in this module's backend (a file, or a PostGIS schema)."""
    location = backend.location()
    scored_twin(location)
    return location


@pytest.fixture
def twin_file(backend, base_file):
    """A fresh copy of the scored twin (a file, or a schema), opened: for tests that
    write."""
    path = backend.copy(base_file)
    return Twin.open(path), path


@pytest.fixture
def client(twin_file):
    tw, _ = twin_file
    with TestClient(create_app(Settings(api_tokens=TOKEN), twin=tw)) as c:
        yield c


@pytest.fixture(scope="module")
def ro_file(backend, base_file):
    """One copy shared by the tests that only read (or must fail to write)."""
    path = backend.copy(base_file)
    return Twin.open(path), path


@pytest.fixture(scope="module")
def ro(ro_file):
    tw, _ = ro_file
    with TestClient(create_app(Settings(api_tokens=TOKEN), twin=tw)) as c:
        yield c


def file_rows(path) -> list[tuple]:
    """The observations the store holds, read through it (either backend)."""
    return stored_rows(path, "score_observations")



# -- GET /score -------------------------------------------------------------------------

def test_ranking_with_subscores_and_rank_intervals(ro, ro_file):
    tw, _ = ro_file
    body = ro.get("/score").json()
    r = tw.score.ranking()
    assert [u["unit_id"] for u in body["units"]] == list(r.index)
    assert [u["rank"] for u in body["units"]] == [1, 2]
    dims = list(tw.score.registry.dimension_ids)
    assert [d["id"] for d in body["dimensions"]] == dims
    wage = next(i for i in body["indicators"] if i["id"] == "avg_wage")
    assert (wage["unit"], wage["dimension"]) == ("thousand KZT", "economy")
    assert [i["id"] for i in body["indicators"]] == list(tw.score.registry.ids)
    for u in body["units"]:
        row = r.loc[u["unit_id"]]
        assert u["score"] == pytest.approx(row["score"])
        assert u["dimensions"] == pytest.approx({d: row[d] for d in dims})
        lo, hi = u["rank_interval"]
        assert 1 <= lo <= u["median_rank"] <= hi <= 2
        assert u["score_interval"][0] <= u["score_interval"][1]
    assert body["region_score"] == pytest.approx(tw.score.region_score)
    mc = tw.score.uncertainty(n=1000, seed=0).ranks
    assert [u["rank_interval"] for u in body["units"]] == [
        [int(mc.loc[u, "rank_p05"]), int(mc.loc[u, "rank_p95"])] for u in r.index]
    assert body["method"]["uncertainty"] == {"draws": 1000, "seed": 0, "weight_spread": 0.5,
                                             "interval": [0.05, 0.95]}
    links = {link["rel"]: link for link in body["links"]}
    assert links["alternate"]["type"] == "text/event-stream"


def test_monte_carlo_is_cached_per_data_version(client, monkeypatch):
    calls = []
    real = Score.uncertainty

    def counting(self, **kw):
        calls.append(kw)
        return real(self, **kw)

    monkeypatch.setattr(Score, "uncertainty", counting)
    first = client.get("/score")
    t0 = time.perf_counter()
    second = client.get("/score")
    warm = time.perf_counter() - t0
    assert len(calls) == 1 and first.json() == second.json()
    assert warm < 0.5, warm
    # ETag is the data version: a poller revalidates for free
    etag = first.headers["etag"]
    assert etag == f'"{first.json()["data_version"]}"'
    assert client.get("/score", headers={"If-None-Match": etag}).status_code == 304
    # a new value of the reference month changes the data version: simulated afresh
    obs = {**WAGE, "month": "2025-08", "value": 999.0}
    r = client.post("/score/observations", json={"observations": [obs], "upsert": True},
                    headers=AUTH)
    assert r.status_code == 200, r.text
    third = client.get("/score", headers={"If-None-Match": etag})
    assert third.status_code == 200 and len(calls) == 2
    assert third.json()["data_version"] == r.json()["data_version"] != first.json()[
        "data_version"]


def test_no_observations_is_404(small_twin):
    with TestClient(create_app(Settings(), twin=small_twin)) as c:
        _problem(c.get("/score"), 404, "no score observations")
        for params in ({}, {"horizon": 1}, {"unit": "west", "backtest": "true"}):
            _problem(c.get("/score/forecast", params=params), 404, "no score observations")
        _problem(c.get("/score/audit"), 404, "no score observations")


# -- history ----------------------------------------------------------------------------

def test_unit_history(ro, ro_file):
    tw, _ = ro_file
    body = ro.get("/score/units/west/history").json()
    obs = tw.score.observations
    mine = obs[obs["unit_id"] == "west"]
    assert body["name"] == "West district" and body["current"]["rank"] == 1
    assert [i["id"] for i in body["indicators"]] == list(tw.score.registry.ids)
    assert sum(len(i["observations"]) for i in body["indicators"]) == len(mine)
    wage = ro.get("/score/units/west/history", params={"indicator": "avg_wage"}).json()
    [ind] = wage["indicators"]
    w = mine[mine["indicator"] == "avg_wage"].sort_values("month")
    assert [o["month"] for o in ind["observations"]] == list(w["month"])
    assert [o["value"] for o in ind["observations"]] == pytest.approx(list(w["value"]))
    assert ind["unit"] == "thousand KZT" and ind["observations"][0]["synthetic"] is True


def test_unit_history_scores_no_value_of_an_unobserved_indicator(tmp_path):
    # An indicator left out of the composite (no observations) has no "scored" value: the
    # panel's filled-in number is not data.
    tw = make_small_twin()
    obs = generate_history(["west", "east"], tw["project_sites"])
    tw.tables["score_observations"] = obs[obs["indicator"] == "avg_wage"]
    tw = Twin.open(tw.save(tmp_path / "one.gpkg"))
    assert "avg_wage" not in tw.score.left_out and len(tw.score.left_out) > 0
    with TestClient(create_app(Settings(), twin=tw)) as c:
        body = c.get("/score/units/west/history").json()
    for i in body["indicators"]:
        if i["id"] in tw.score.left_out:
            assert i["scored"] is None and i["observations"] == [], i
        else:
            assert i["scored"]["value"] is not None, i


def test_a_rebuilt_score_keeps_following_ingests(tmp_path):
    # Another worker's ingest makes Twin.refresh() rebuild the Score, with a new forecast
    # keeper: the hub must follow that one too, or this worker's forecasts go stale.
    from api.score_hub import ScoreHub

    tw = make_small_twin()
    obs = generate_history(["west", "east"], tw["project_sites"])
    tw.tables["score_observations"] = obs[obs["indicator"] == "avg_wage"]
    tw = Twin.open(tw.save(tmp_path / "one.gpkg"))
    hub = ScoreHub(tw)
    hub.region_forecast()
    first = tw.score
    assert first.forecasts.follow
    tw.__dict__.pop("_score")  # what refresh() does when the observations changed
    hub.region_forecast()
    assert tw.score is not first and tw.score.forecasts.follow


def test_history_errors(ro):
    _problem(ro.get("/score/units/north/history"), 404, "'north'", "west, east")
    _problem(ro.get("/score/units/west/history", params={"indicator": "gdp"}), 400,
             "'gdp'", "avg_wage")


# -- forecast ---------------------------------------------------------------------------

@GPKG_ONLY
@pytest.mark.slow
def test_forecast_one_series_equals_the_domain(ro, ro_file):
    tw, _ = ro_file
    params = {"unit": "west", "indicator": "avg_wage", "horizon": 3, "level": 0.8}
    body = ro.get("/score/forecast", params=params).json()
    ref = tw.score.forecast(horizon=3, level=0.8, units=["west"], indicators=["avg_wage"])
    assert [s["month"] for s in body["series"]] == ["2025-09", "2025-10", "2025-11"]
    assert [s["mean"] for s in body["series"]] == pytest.approx(list(ref.table["mean"]))
    assert [s["lower"] for s in body["series"]] == pytest.approx(list(ref.table["lower"]))
    [kpi] = body["kpi"]
    assert kpi["p_miss"] == pytest.approx(float(ref.kpi["p_miss"].iloc[0]))
    t0 = time.perf_counter()
    again = ro.get("/score/forecast", params=params)
    assert again.json() == body and time.perf_counter() - t0 < 0.5  # cached


@pytest.mark.parametrize("params, status, words", [
    ({"horizon": 13}, 400, ["horizon"]),
    ({"horizon": 0}, 400, ["horizon"]),
    ({"level": 1.5}, 400, ["level"]),
    ({"level": "high"}, 400, ["level"]),
    ({"unit": "north"}, 400, ["'north'", "west, east"]),
    ({"indicator": "gdp,avg_wage"}, 400, ["'gdp'"]),
])
@GPKG_ONLY
def test_forecast_bad_parameters(ro, params, status, words):
    _problem(ro.get("/score/forecast", params=params), status, *words)


@GPKG_ONLY
def test_forecast_too_many_series_is_400(ro, monkeypatch):
    import api.routers.score as rs

    monkeypatch.setattr(rs, "MAX_FORECAST_SERIES", 3)
    # only horizons and levels other than the kept set's are fitted per request
    _problem(ro.get("/score/forecast", params={"unit": "west", "horizon": 3}), 400,
             "narrow it", "?unit=", "horizon 6 and level 0.9")
    _problem(ro.get("/score/forecast", params={"horizon": 3}), 400, "24 series")
    _problem(ro.get("/score/forecast", params={"unit": "west,east", "backtest": "true",
                                               "indicator": "avg_wage,investment,new_jobs,"
                                               "agri_output,roads_good,network_wear"}),
             400, "12 series with a backtest", "at most 10")


# -- POST /score/observations -----------------------------------------------------------

def test_post_without_a_token_is_refused_and_writes_nothing(ro, ro_file):
    tw, path = ro_file
    before = file_rows(path)
    r = ro.post("/score/observations", json={"observations": [WAGE]})
    _problem(r, 401, "Bearer")
    assert r.headers["www-authenticate"] == "Bearer"
    _problem(ro.post("/score/observations", json={"observations": [WAGE]},
                         headers={"Authorization": "Bearer wrong"}), 401)
    # the token is checked before the body is read: junk without a token is still a 401
    _problem(ro.post("/score/observations", content=b"{junk"), 401)
    assert file_rows(path) == before


def test_writes_are_off_without_configured_tokens(twin_file):
    tw, path = twin_file
    before = file_rows(path)
    with TestClient(create_app(Settings(), twin=tw)) as c:
        r = c.post("/score/observations", json={"observations": [WAGE]}, headers=AUTH)
    _problem(r, 403, "TWIN_API_TOKENS")
    assert file_rows(path) == before


def test_duplicate_is_409_and_upsert_replaces_one_row(client, twin_file):
    tw, path = twin_file
    n0 = len(file_rows(path))
    r = client.post("/score/observations", json={"observations": [WAGE]}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["added"] == 1 and r.json()["replaced"] == 0
    assert len(file_rows(path)) == n0 + 1
    again = client.post("/score/observations", json={"observations": [WAGE]}, headers=AUTH)
    _problem(again, 409, "already stored", "upsert")
    assert len(file_rows(path)) == n0 + 1
    new = {**WAGE, "value": 460.5}
    up = client.post("/score/observations", json={"observations": [new], "upsert": True},
                     headers=AUTH)
    assert up.status_code == 200, up.text
    assert (up.json()["added"], up.json()["replaced"]) == (0, 1)
    rows = [row for row in file_rows(path) if row[:3] == ("east", "avg_wage", "2025-09")]
    assert len(rows) == 1 and rows[0][3] == 460.5
    assert len(file_rows(path)) == n0 + 1
    mem = tw.score.observations
    hit = mem[(mem["unit_id"] == "east") & (mem["indicator"] == "avg_wage")
              & (mem["month"] == "2025-09")]
    assert list(hit["value"]) == [460.5]


@pytest.mark.parametrize("change, status, word", [
    ({"unit_id": "north"}, 422, "unknown unit"),
    ({"indicator": "gdp"}, 422, "unknown indicator"),
    ({"month": "2025-13"}, 422, "YYYY-MM"),
    ({"month": "Sept 2025"}, 422, "YYYY-MM"),
    ({"unit": "mln KZT"}, 422, "thousand KZT"),
    ({"value": -5.0}, 422, "range"),
    ({"value": "a lot"}, 400, "value"),
    ({"value": None}, 400, "value"),
    ({"unit_id": ""}, 400, "unit_id"),
    ({"colour": "red"}, 400, "colour"),
])
@GPKG_ONLY
def test_bad_observation_is_4xx_and_changes_nothing(client, twin_file, change, status, word):
    tw, path = twin_file
    before, mem_before = file_rows(path), tw.score.observations.copy()
    ranking = client.get("/score").json()
    good = {**WAGE, "month": "2025-10"}
    # all or nothing: a good observation in the same batch is not written either
    batch = {"observations": [good, {**WAGE, **change}]}
    _problem(client.post("/score/observations", json=batch, headers=AUTH), status, word)
    assert file_rows(path) == before
    assert tw.score.observations.equals(mem_before)
    assert client.get("/score").json() == ranking


@GPKG_ONLY
@pytest.mark.parametrize("month", ["0000-01", "\uff12\uff10\uff12\uff15-10"])
def test_a_month_pandas_cannot_hold_is_422(twin_file, month):
    with TestClient(create_app(Settings(api_tokens=TOKEN), twin=twin_file[0]),
                    raise_server_exceptions=False) as c:
        wage = {**WAGE, "unit_id": "west", "month": month}
        r = c.post("/score/observations", json={"observations": [wage]}, headers=AUTH)
    _problem(r, 422, "month")


@GPKG_ONLY
@pytest.mark.parametrize("body", [b"", b"{junk", b"[]", b'{"observations": []}',
                                  b'{"observations": [1]}', b'"text"', b"null",
                                  b'{"observations": {"a": 1}}'])
def test_malformed_bodies_are_400(ro, ro_file, body):
    _, path = ro_file
    before = file_rows(path)
    r = ro.post("/score/observations", content=body,
                    headers={**AUTH, "Content-Type": "application/json"})
    _problem(r, 400, "observation")
    assert file_rows(path) == before


@GPKG_ONLY
def test_nan_in_json_is_refused(ro, ro_file):
    _, path = ro_file
    before = file_rows(path)
    body = orjson.dumps({"observations": [WAGE]}).replace(b"455.0", b"NaN")
    r = ro.post("/score/observations", content=body,
                    headers={**AUTH, "Content-Type": "application/json"})
    assert 400 <= r.status_code < 500 and r.headers["content-type"] == PROBLEM
    assert file_rows(path) == before


_IDS = ["investment", "avg_wage", "network_wear"]
_obs = st.fixed_dictionaries(
    {"unit_id": st.sampled_from(["west", "east"]) | st.text(max_size=8),
     "indicator": st.sampled_from(_IDS) | st.text(max_size=8),
     "month": st.sampled_from(["2025-09", "2025-10", "2026-01", "2025-08"])
     | st.text(max_size=10),
     "value": st.floats() | st.integers(-10**30, 10**30) | st.text(max_size=5) | st.none(),
     "unit": st.sampled_from(["thousand KZT", "bn KZT", "%"]) | st.text(max_size=6)},
    optional={"source": st.text(max_size=5), "synthetic": st.booleans() | st.text(max_size=3),
              "extra": st.integers()})
_bodies = st.fixed_dictionaries({"observations": st.lists(_obs, max_size=3)},
                                optional={"upsert": st.booleans() | st.text(max_size=3)})


@pytest.fixture(scope="module")
def fuzzed(backend, base_file):
    path = backend.copy(base_file)
    tw = Twin.open(path)
    with TestClient(create_app(Settings(api_tokens=TOKEN), twin=tw)) as c:
        yield c, tw, path


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=_bodies)
def test_any_observation_body_is_never_5xx_and_file_equals_memory(fuzzed, body):
    c, tw, path = fuzzed
    raw = json.dumps(body, allow_nan=True).encode()  # NaN and Infinity tokens included
    r = c.post("/score/observations", content=raw,
               headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code in (200, 400, 409, 422), r.text
    if r.status_code != 200:
        assert r.headers["content-type"] == PROBLEM
    assert len(file_rows(path)) == len(tw.score.observations)


# -- GET /score/stream on a real server -------------------------------------------------

class SSEReader:
    """Reads a server-sent event stream in a thread; events and comments land in a queue."""

    def __init__(self, url: str):
        self.q: queue.Queue = queue.Queue()
        self.opened = threading.Event()
        self.status = None
        self.ended = threading.Event()
        self.stop = threading.Event()
        self._client = httpx.Client(trust_env=False, timeout=httpx.Timeout(10, read=30))
        self._t = threading.Thread(target=self._run, args=(url,), daemon=True)
        self._t.start()
        assert self.opened.wait(10), "the stream did not open"

    def _run(self, url):
        try:
            with self._client.stream("GET", url + "/score/stream") as r:
                self.status, self.headers = r.status_code, r.headers
                self.opened.set()
                event = {}
                for line in r.iter_lines():
                    if self.stop.is_set():  # leave: closing the response disconnects
                        break
                    if line.startswith(":"):
                        self.q.put(("comment", line))
                    elif not line:
                        if "data" in event:  # a block without data is no event (SSE)
                            self.q.put(("event", event))
                        event = {}
                    else:
                        k, _, v = line.partition(":")
                        event[k] = v.removeprefix(" ")
        except (httpx.HTTPError, RuntimeError):  # closed from the test side
            pass
        finally:
            self.opened.set()
            self.ended.set()

    def next(self, kind="event", timeout=5.0):
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                k, v = self.q.get(timeout=left)
            except queue.Empty:
                break
            if k == kind:
                return v
        raise AssertionError(f"no {kind} within {timeout} s")

    def close(self):
        """Disconnect (at the next line: the server's keep-alives bring one soon)."""
        self.stop.set()
        self._t.join(5)
        self._client.close()
        assert not self._t.is_alive(), "the reader did not stop"


@pytest.fixture
def served(twin_file):
    tw, path = twin_file
    app = create_app(Settings(api_tokens=TOKEN), twin=tw)
    hub_of(app).keepalive_s = 0.2  # frequent keep-alives let a test's reader leave soon
    with serve_in_thread(app) as url:
        yield url, app, path


@pytest.mark.server
def test_stream_pushes_the_new_ranking_within_a_second_of_a_post(served):
    url, app, path = served

    def east(doc):
        return next(u for u in doc["units"] if u["unit_id"] == "east")

    with httpx.Client(base_url=url, trust_env=False) as c:
        current = c.get("/score").json()
        readers = [SSEReader(url), SSEReader(url)]  # two dashboards
        try:
            for sse in readers:
                assert sse.status == 200
                assert sse.headers["content-type"].startswith("text/event-stream")
                first = sse.next()
                assert first["event"] == "ranking"
                # the same document as GET /score, less its request-relative links
                assert orjson.loads(first["data"]) == {k: v for k, v in current.items()
                                                       if k != "links"}
                assert first["id"] == current["data_version"]
            # east's wage for the reference month falls below west's: so does its economy
            # sub-score
            obs = {**WAGE, "month": "2025-08", "value": 100.0}
            t0 = time.monotonic()
            r = c.post("/score/observations", json={"observations": [obs], "upsert": True},
                       headers=AUTH)
            assert r.status_code == 200, r.text
            pushed = [sse.next(timeout=1.0) for sse in readers]
            took = time.monotonic() - t0
            assert took < 1.0, f"the new ranking took {took:.2f} s from the POST"
            assert r.json()["streams_notified"] == 2
            new = orjson.loads(pushed[0]["data"])
            assert pushed[1] == pushed[0]
            assert pushed[0]["id"] == new["data_version"] == r.json()["data_version"]
            assert new["data_version"] != current["data_version"]
            assert new == {k: v for k, v in c.get("/score").json().items() if k != "links"}
            assert east(new)["dimensions"]["economy"] < east(current)["dimensions"]["economy"]
        finally:
            for sse in readers:
                sse.close()


@GPKG_ONLY
@pytest.mark.server
def test_stream_keeps_alive_and_forgets_a_client_that_leaves(served):
    url, app, _ = served
    sse = SSEReader(url)
    sse.next()  # the current ranking; the hub now exists
    hub = hub_of(app)
    assert sse.next("comment", timeout=2.0) == ": keep-alive"
    assert hub.subscribers == 1
    sse.close()
    deadline = time.monotonic() + 3
    while hub.subscribers and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hub.subscribers == 0


@GPKG_ONLY
@pytest.mark.server
@pytest.mark.slow
def test_twin_serve_ends_open_streams_at_sigterm_and_exits_well_within_the_grace(
        twin_file, tmp_path):
    # Streams never end by themselves, and ASGI says nothing of a shutdown until every
    # response has ended: without the signal ending them, `twin serve` would wait the
    # whole grace (SHUTDOWN_GRACE_S) for them, then cut them.
    import os
    import signal
    import socket
    import subprocess
    import sys
    from pathlib import Path

    from api.score_hub import SHUTDOWN_GRACE_S
    from tests.common import NO_PROXY_ENV

    _, path = twin_file
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "serve", "--twin", str(path), "--port", str(port)],
        cwd=Path(__file__).resolve().parents[1], env={**NO_PROXY_ENV, "TWIN_WARM": "none"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    readers = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/ready", trust_env=False, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.2)
        readers = [SSEReader(url), SSEReader(url)]
        for sse in readers:
            assert sse.next(timeout=30)["event"] == "ranking"
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(SHUTDOWN_GRACE_S + 10)
        took = time.monotonic() - t0
        assert took < SHUTDOWN_GRACE_S - 2, f"shutdown waited {took:.1f} s for the streams"
        for sse in readers:
            assert sse.ended.wait(3), "the client's stream did not end"
        said = proc.stderr.read()
        # uvicorn, having shut down, raises the signal again: the exit a supervisor expects
        assert proc.returncode in (0, -signal.SIGTERM), said
        assert "Traceback" not in said and "Cancel" not in said, said
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stderr.close()
        for sse in readers:
            sse.close()


def test_stream_without_observations_waits_for_the_first_ingest(small_twin, tmp_path):
    small_twin.save(tmp_path / "empty.gpkg")
    tw = Twin.open(tmp_path / "empty.gpkg")
    with TestClient(create_app(Settings(api_tokens=TOKEN), twin=tw)) as c:
        with c.stream("GET", "/score/stream") as r:
            assert r.status_code == 200
            first = next(r.iter_bytes())
            assert first == b"retry: 3000\n\n"  # no ranking yet, and no error


def test_stream_of_a_twin_without_units_is_404():
    tw = make_small_twin()
    tw.remove_layer("districts")
    with TestClient(create_app(Settings(), twin=tw)) as c:
        _problem(c.get("/score/stream"), 404, "districts")
        _problem(c.get("/score"), 404, "districts")


# -- the region's forecasts, kept per data version ----------------------------------------

@GPKG_ONLY
@pytest.mark.slow
def test_bare_forecast_answers_for_the_whole_region(ro, ro_file):
    from twin.score.forecast import forecast_score

    tw, _ = ro_file
    r = ro.get("/score/forecast")
    assert r.status_code == 200, r.text
    body = r.json()
    sc = tw.score
    ref = forecast_score(sc, horizon=6, level=0.9)
    assert body["complete"] is True and body["refitting"] is False
    assert body["data_version"] == body["current_data_version"] == sc.snapshot().data_version
    assert body["units"] == list(sc.units) and body["indicators"] == list(sc.registry.ids)
    assert len(body["series"]) == len(ref.table) == 24 * 6
    assert [s["mean"] for s in body["series"]] == pytest.approx(list(ref.table["mean"]))
    assert [s["upper"] for s in body["series"]] == pytest.approx(list(ref.table["upper"]))
    assert [(w["unit_id"], w["indicator"]) for w in body["early_warning"]] == list(
        zip(ref.early_warning["unit_id"], ref.early_warning["indicator"], strict=True))
    # one series from the same set, without a fit
    one = ro.get("/score/forecast", params={"unit": "west", "indicator": "avg_wage"}).json()
    mine = [s for s in body["series"] if (s["unit_id"], s["indicator"]) == ("west",
                                                                           "avg_wage")]
    assert one["series"] == mine and one["data_version"] == body["data_version"]


@GPKG_ONLY
@pytest.mark.slow
def test_an_ingest_refits_in_the_background_and_the_old_set_is_served_meanwhile(client):
    first = client.get("/score/forecast").json()
    obs = {**WAGE, "month": "2025-08", "value": 150.0}
    r = client.post("/score/observations", json={"observations": [obs], "upsert": True},
                    headers=AUTH)
    assert r.status_code == 200
    deadline = time.monotonic() + 30
    seen_old = False
    while True:
        body = client.get("/score/forecast").json()
        if body["data_version"] == first["data_version"]:
            seen_old = True  # the last complete set, saying it is not the current data
            assert body["complete"] is False
            assert body["current_data_version"] != first["data_version"]
        else:
            break
        assert time.monotonic() < deadline, "the refit did not finish"
        time.sleep(0.02)
    assert body["complete"] is True and body["refitted"] == 1 and body["reused"] == 23
    wage = [s for s in body["series"] if (s["unit_id"], s["indicator"]) == ("east",
                                                                           "avg_wage")]
    old = [s for s in first["series"] if (s["unit_id"], s["indicator"]) == ("east",
                                                                           "avg_wage")]
    assert wage[0]["mean"] < old[0]["mean"]  # the new low wage pulls the forecast down
    others = [s for s in body["series"] if s["indicator"] != "avg_wage" or
              s["unit_id"] != "east"]
    assert others == [s for s in first["series"] if s["indicator"] != "avg_wage" or
                      s["unit_id"] != "east"]
    assert seen_old or body["fit_seconds"] < 0.5  # a refit too quick to catch is fine


@GPKG_ONLY
@pytest.mark.slow
def test_backtest_by_query_equals_the_domain(ro, ro_file):
    from twin.score.forecast import backtest

    tw, _ = ro_file
    body = ro.get("/score/forecast", params={"unit": "west", "indicator": "avg_wage",
                                             "backtest": "true"}).json()
    ref = backtest(tw.score, horizon=6, units=["west"], indicators=["avg_wage"])
    bt = body["backtest"]
    assert bt["origins"] == list(ref.origins) and bt["horizon"] == 6
    assert [row["indicator"] for row in bt["summary"]] == ["avg_wage", "ALL"]
    assert bt["summary"][0]["mape_ets"] == pytest.approx(ref.summary.loc["avg_wage",
                                                                        "mape_ets"])
    assert len(body["series"]) == 6


# -- the audit -----------------------------------------------------------------------------

def test_audit_over_http_equals_the_domain(ro, ro_file):
    tw, _ = ro_file
    r = ro.get("/score/audit")
    assert r.status_code == 200, r.text
    body = r.json()
    ref = tw.score.audit()
    assert body["treated"] is False
    assert body["correlations"]["indicators"] == list(ref.correlations.columns)
    assert [(f["a"], f["b"], f["flag"]) for f in body["flags"]] == list(
        zip(ref.flags["a"], ref.flags["b"], ref.flags["flag"], strict=True))
    alpha = {a["dimension"]: a["alpha"] for a in body["alpha"]}
    for d, v in ref.alpha["alpha"].items():
        assert alpha[d] == (None if np.isnan(v) else pytest.approx(v))
    sens = {s["input"]: s for s in body["sensitivity"]}
    assert sens["normalisation"]["ST"] == pytest.approx(ref.sensitivity.loc["normalisation",
                                                                            "ST"])
    assert {"S1", "S1_conf", "ST", "ST_conf"} <= set(sens["aggregation"])
    assert {t["indicator"] for t in body["treatment"]} == set(tw.score.registry.ids)
    kinds = {(s["unit_id"], s["kind"]) for s in body["strengths"]}
    assert kinds == {(u, k) for u in ("west", "east") for k in ("strength", "weakness")}
    assert all(s["synthetic_share"] == 1.0 for s in body["strengths"])  # all synthetic here
    again = ro.get("/score/audit")
    assert again.headers["etag"] == r.headers["etag"] and again.json() == body
    treated = ro.get("/score/audit", params={"treat": "true"}).json()
    assert treated["treated"] is True and treated["params"]["treat"] is True
    _problem(ro.get("/score/audit", params={"treat": "maybe"}), 400, "treat")


@pytest.mark.slow
def test_forecasts_and_audit_leave_out_indicators_without_observations(tmp_path):
    """A twin that reports only some of its registry's indicators: nothing is fitted or
    audited for the others, and every answer names them."""
    tw = make_small_twin()
    hist = generate_history(["west", "east"], tw["project_sites"])
    tw.tables["score_observations"] = hist[hist["indicator"].isin(["avg_wage", "new_jobs"])]
    tw.save(tmp_path / "partial.gpkg")
    tw = Twin.open(tmp_path / "partial.gpkg")
    others = [i for i in tw.registry.ids if i not in ("avg_wage", "new_jobs")]
    with TestClient(create_app(Settings(), twin=tw)) as c:
        ranking = c.get("/score").json()
        assert ranking["left_out"] == others
        fc = c.get("/score/forecast").json()
        assert fc["left_out"] == others
        assert fc["indicators"] == [i for i in tw.registry.ids if i not in others]
        assert {s["indicator"] for s in fc["series"]} == {"avg_wage", "new_jobs"}
        assert {k["indicator"] for k in fc["kpi"]} <= {"avg_wage", "new_jobs"}
        assert tw.score.forecasts.latest.n_series == 4  # 2 units x 2 indicators
        one = c.get("/score/forecast", params={"indicator": others[0]}).json()  # kept set
        assert one["series"] == [] and one["left_out"] == [others[0]]
        _problem(c.get("/score/forecast", params={"indicator": others[0], "horizon": 3}),
                 404, "the longest has 0")  # fitted per request: nothing to fit
        audit = c.get("/score/audit").json()
        assert audit["params"]["left_out"] == others
        assert set(audit["correlations"]["indicators"]) <= {"avg_wage", "new_jobs"}
        assert {s["indicator"] for s in audit["sensitivity"]} == {"avg_wage", "new_jobs",
                                                                 None}
        assert {s["indicator"] for s in audit["strengths"]} <= {"avg_wage", "new_jobs"}
        # cells of an indicator nobody reported are not "imputed" values of a unit
        assert all(u["n_imputed"] == 0 for u in ranking["units"])


@pytest.mark.server
@pytest.mark.slow
def test_stream_says_when_a_refit_completes(served):
    url, app, _ = served
    with httpx.Client(base_url=url, trust_env=False, timeout=60) as c:
        first = c.get("/score/forecast").json()  # the server now keeps and follows them
        sse = SSEReader(url)
        try:
            assert sse.next()["event"] == "ranking"
            obs = {**WAGE, "month": "2025-08", "value": 150.0}
            r = c.post("/score/observations", json={"observations": [obs], "upsert": True},
                       headers=AUTH)
            assert r.status_code == 200
            events = {}
            while set(events) != {"ranking", "forecast"}:
                ev = sse.next(timeout=30)
                events[ev["event"]] = ev
            # either may come first: a one-series refit can beat the new ranking
            ev = events["forecast"]
            done = orjson.loads(ev["data"])
            assert done["refitted"] == 1 and done["reused"] == 23
            assert ev["id"] == done["data_version"] != first["data_version"]
            assert c.get("/score/forecast").json()["data_version"] == done["data_version"]
        finally:
            sse.close()


def test_ranking_says_data_as_of_and_the_change_since_the_previous_month(ro, ro_file):
    tw, _ = ro_file
    body = ro.get("/score").json()
    assert body["as_of"] == "2025-08" and body["previous_month"] == "2025-07"
    prev = tw.score.ranking_as_of("2025-07")
    for u in body["units"]:
        assert u["score_change"] == pytest.approx(u["score"] - prev.loc[u["unit_id"], "score"])
        assert u["rank_change"] == prev.loc[u["unit_id"], "rank"] - u["rank"]
    wage = next(i for i in body["indicators"] if i["id"] == "avg_wage")
    assert wage["reference_month"] == "2025-08" and wage["target"] == ">= 400 thousand KZT"


@GPKG_ONLY
@pytest.mark.slow
def test_forecasts_are_fitted_at_startup_when_asked(twin_file):
    tw, _ = twin_file
    with TestClient(create_app(Settings(forecast_on_start=True, gc_freeze=False),
                               twin=tw)) as c:
        keeper = tw.score.forecasts
        fs = keeper.wait(60)  # fitting started with the app, before any request
        assert fs is not None and keeper.follow
        assert c.get("/score/forecast").json()["data_version"] == fs.data_version


def test_startup_warming_skips_a_twin_without_observations(small_twin):
    with TestClient(create_app(Settings(forecast_on_start=True, gc_freeze=False),
                               twin=small_twin)) as c:
        assert hub_of(c.app).warm_forecasts() is False
        _problem(c.get("/score/forecast"), 404, "no score observations")
