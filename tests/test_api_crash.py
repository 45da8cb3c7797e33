"""A server killed with SIGKILL in the middle of a burst of writes loses no write it
acknowledged (issue 11): `twin serve` on loopback, several writers, ``kill -9``, reopen.

Each run adds scenarios and observations from four threads, kills the process at a random
moment (a fixed seed), then opens the file: every write answered 2xx must be there, and
the file must open without a row set aside. The runs share one file, so it also survives
being killed again and again.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.test_api_score import scored_twin
from tests.test_api_server import _NO_PROXY_ENV
from twin import Twin
from twin.score.registry import load_registry

pytestmark = [pytest.mark.slow, pytest.mark.server]

ROOT = Path(__file__).resolve().parents[1]
AUTH = {"Authorization": "Bearer t"}
RUNS = 4
WRITERS = 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(path: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**_NO_PROXY_ENV, "TWIN_API_TOKENS": "t", "TWIN_ACCESS_LOG": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "serve", "--twin", str(path), "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            # /ready, not /health: `twin serve` answers /health while it still builds the
            # app (api/boot.py), and a write sent then would wait for the build.
            if httpx.get(url + "/ready", trust_env=False, timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(proc.stderr.read().decode())
        time.sleep(0.1)


def _observation_keys():
    """Keys no stored row has: the history starts in 2022."""
    reg = load_registry()
    months = [f"{y}-{m:02d}" for y in range(2000, 2022) for m in range(1, 13)]
    for month, unit, ind in itertools.product(months, ("west", "east"), reg.indicators):
        yield {"unit_id": unit, "indicator": ind.id, "month": month, "value": 1.0,
               "unit": ind.unit, "source": "crash test"}


def test_sigkill_during_a_burst_loses_no_acknowledged_write(tmp_path):
    path = tmp_path / "crash.gpkg"
    scored_twin(path)
    keys = _observation_keys()
    key_lock = threading.Lock()
    rng = random.Random(11)
    acked_scenarios: set[str] = set()
    acked_obs: set[tuple] = set()
    total = 0
    for run in range(RUNS):
        proc, url = _serve(path)
        stop = threading.Event()
        acked_here = [0]

        def writer(w: int, run=run, url=url, stop=stop, acked_here=acked_here) -> None:
            with httpx.Client(base_url=url, trust_env=False, timeout=10) as c:
                for k in itertools.count():
                    if stop.is_set():
                        return
                    try:
                        if k % 2:
                            sid = f"r{run}-w{w}-{k}"
                            r = c.post("/scenarios", json={"id": sid}, headers=AUTH)
                            if r.status_code == 201:
                                acked_scenarios.add(sid)
                        else:
                            with key_lock:
                                obs = next(keys)
                            r = c.post("/score/observations", json={"observations": [obs]},
                                       headers=AUTH)
                            if r.status_code == 200:
                                acked_obs.add((obs["unit_id"], obs["indicator"], obs["month"]))
                        assert r.status_code < 500, r.text
                        if r.status_code < 300:
                            acked_here[0] += 1
                    except httpx.TransportError:
                        return  # the server is gone: whatever was not answered is not owed

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
        for t in threads:
            t.start()
        # Kill at a random moment *into* the burst: on a loaded machine the first answer
        # can take longer than any fixed delay, and a kill before it tests nothing.
        deadline = time.monotonic() + 60
        while acked_here[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.1, 1.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        stop.set()
        for t in threads:
            t.join(30)
        proc.stderr.close()
        total += acked_here[0]
        print(f"run {run}: {acked_here[0]} writes acknowledged before the kill")
        assert acked_here[0] > 0, f"run {run}: no write was answered before the kill"

        tw = Twin.open(path)  # a SetAsideWarning here would fail the test
        stored = {tuple(r) for r in
                  tw.score.observations[["unit_id", "indicator", "month"]].to_numpy()}
        assert acked_obs <= stored, f"run {run}: lost {sorted(acked_obs - stored)[:5]}"
        from twin.scenario import list_scenarios

        listed = set(list_scenarios(tw)["id"])
        assert acked_scenarios <= listed, f"run {run}: lost {sorted(acked_scenarios - listed)}"
    assert total >= RUNS * 4
