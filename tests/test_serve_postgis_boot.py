"""`twin serve` on a PostGIS twin starts as on a file: it binds before the data stack is
imported, and answers /health from the twin's metadata while the app is built."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.common import NO_PROXY_ENV, make_small_twin

pytestmark = [pytest.mark.postgis, pytest.mark.server]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def url(postgis_url):
    location = postgis_url()
    make_small_twin().save(location)
    return location


def test_opening_a_database_store_imports_no_pandas_or_geopandas(url):
    code = ("import sys; from twin.store import open_store; st = open_store(sys.argv[1]); "
            "assert st.exists() and st.read_meta()['layer_order']; st.close(); "
            "print([m for m in ('pandas', 'geopandas', 'numpy', 'shapely', 'pyogrio') "
            "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code, url], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


def test_twin_serve_on_a_postgis_twin_answers_health_as_the_full_app(url, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**NO_PROXY_ENV, "XDG_CACHE_HOME": str(tmp_path), "TWIN_WARM": "none"}
    proc = subprocess.Popen([sys.executable, "-m", "twin.cli", "serve", "--twin", url,
                             "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    small = make_small_twin()
    want = {"status": "ok", "twin": small.name, "version": small.version,
            "layers": len(small.layer_names)}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False,
                          timeout=60) as c:
            deadline = time.monotonic() + 240
            while True:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline
                try:
                    early = c.get("/health")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            assert early.status_code == 200 and early.json() == want
            assert c.get("/ready").status_code == 200  # waits for the app
            assert c.get("/health").json() == want
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_a_server_serves_the_twin_pushed_over_its_schema(postgis_url, tmp_path, monkeypatch):
    # The schema's generation (twin/store/pg_edits.py) tells a push apart from the twin
    # the server opened, as a file's inode does (api/follow.py).
    from fastapi.testclient import TestClient

    import api.follow
    from api.app import create_app
    from api.settings import Settings
    from twin import Twin

    monkeypatch.setattr(api.follow, "CHECK_EVERY_S", 0.0)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    location = postgis_url()
    make_small_twin().save(location)
    with TestClient(create_app(Settings(twin_path=location, gc_freeze=False))) as c:
        before = c.get("/collections/parcels/items").json()["numberMatched"]  # read now
        assert before > 2
        other = Twin.open(location)
        other.add_layer("parcels", other["parcels"].iloc[:2])
        other.save(location)  # what `twin push` does
        items = c.get("/collections/parcels/items")
        assert items.status_code == 200, items.text
        assert items.json()["numberMatched"] == 2
        other.store.close()
