"""`twin serve` answers /health while the full app is still being built (api/boot.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.boot import BootApp, file_health
from api.settings import Settings
from tests.test_api_server import serve_in_thread

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[1]


def test_what_binding_needs_imports_no_pandas_geopandas_or_fastapi():
    # What `twin serve` imports before the socket is bound: the /health answer must not
    # wait for the data stack (the full app is imported while /health already answers).
    code = ("import sys, twin.cli, twin.store, api.boot, api.settings, api.fastpath, "
            "api.score_hub, uvicorn; "
            "print([m for m in ('pandas', 'geopandas', 'fastapi', 'pyproj', 'pyogrio') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


def test_health_answers_while_the_app_builds_and_other_requests_wait(small_twin, tmp_path):
    path = small_twin.save(tmp_path / "boot.gpkg")
    release, failures = threading.Event(), []

    def build():
        release.wait(30)
        return create_app(Settings(twin_path=str(path), gc_freeze=False))

    boot = BootApp(build, file_health(path), failures.append)
    with serve_in_thread(boot) as url, httpx.Client(base_url=url, trust_env=False,
                                                    timeout=30) as c:
        early = c.get("/health")
        assert early.status_code == 200 and boot.app is None
        with ThreadPoolExecutor(1) as ex:
            held = ex.submit(c.get, "/collections")
            with pytest.raises(TimeoutError):
                held.result(timeout=0.5)  # waits for the full app, no early answer
            release.set()
            assert held.result(timeout=30).status_code == 200
        late = c.get("/health")
        # The same answer the full app gives.
        assert early.json() == late.json() == {
            "status": "ok", "twin": small_twin.name, "version": small_twin.version,
            "layers": len(small_twin.layer_names)}
        assert c.get("/ready").json()["status"] == "ready"
    assert failures == []


def test_a_failed_build_is_reported_and_stops_the_server(small_twin, tmp_path):
    path = small_twin.save(tmp_path / "boot.gpkg")
    failures = []

    def build():
        raise RuntimeError("the twin file is damaged")

    boot = BootApp(build, file_health(path), failures.append)
    with serve_in_thread(boot) as url, httpx.Client(base_url=url, trust_env=False,
                                                    timeout=30) as c:
        for _ in range(200):
            if failures:
                break
            threading.Event().wait(0.02)
        with pytest.raises(httpx.HTTPError):
            c.get("/collections").raise_for_status()
    assert [str(e) for e in failures] == ["the twin file is damaged"]


def test_file_health_of_something_not_a_twin_is_none(tmp_path):
    junk = tmp_path / "junk.gpkg"
    junk.write_bytes(b"not a database")
    assert file_health(junk) is None
    assert file_health(tmp_path / "missing.gpkg") is None


def test_twin_serve_on_a_file_that_is_no_twin_stops_and_says_so(tmp_path):
    from tests.common import NO_PROXY_ENV

    junk = tmp_path / "junk.gpkg"
    junk.write_text("junk")
    r = subprocess.run([sys.executable, "-m", "twin.cli", "serve", "--twin", str(junk),
                        "--port", "0"], cwd=ROOT, env=NO_PROXY_ENV, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 1
    assert "is not a twin file" in r.stderr and "twin build" in r.stderr
