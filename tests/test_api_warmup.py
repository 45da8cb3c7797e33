"""api/warmup.py and /ready: /health, the landing page and /collections answer without
reading the parcels; /ready answers 503 until the TWIN_WARM warm-up is done."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from layers.vector_tiles import TileSource


def test_health_and_collections_do_not_wait_for_the_parcels(small_twin, tmp_path,
                                                            monkeypatch):
    path = small_twin.save(tmp_path / "t.gpkg")
    gate = threading.Event()
    real = TileSource.prepared

    def slow(self, name):  # a warm-up that cannot finish until the test says so
        gate.wait(30)
        return real(self, name)

    monkeypatch.setattr(TileSource, "prepared", slow)
    app = create_app(Settings(twin_path=str(path), warm="tiles", gc_freeze=False))
    with TestClient(app) as c:
        tw = app.state.twin
        assert c.get("/health").json()["status"] == "ok"
        assert c.get("/").status_code == 200
        cols = {d["id"]: d for d in c.get("/collections").json()["collections"]}
        assert cols["parcels"]["numberOfFeatures"] == len(small_twin.layer("parcels"))
        assert cols["parcels"]["extent"]["spatial"]["bbox"][0] == \
            [float(v) for v in small_twin.layer("parcels").total_bounds]
        assert not tw.loaded("parcels")
        r = c.get("/ready")
        assert r.status_code == 503 and "warming up (tiles)" in r.json()["detail"]
        gate.set()
        assert app.state.warmup.done.wait(30)
        r = c.get("/ready")
        assert r.status_code == 200 and r.json()["warmed"] == ["tiles"]


def test_warm_layers_reads_every_layer_before_ready(small_twin, tmp_path):
    path = small_twin.save(tmp_path / "t.gpkg")
    app = create_app(Settings(twin_path=str(path), warm="layers", gc_freeze=False))
    with TestClient(app) as c:
        assert app.state.warmup.done.wait(30)
        assert c.get("/ready").status_code == 200
        assert all(app.state.twin.loaded(n) for n in app.state.twin.layer_names)


def test_a_failed_warm_up_says_so_and_the_server_still_serves(small_twin, monkeypatch):
    def broken(self, name):
        raise OSError("disk gone")

    monkeypatch.setattr(TileSource, "prepared", broken)
    app = create_app(Settings(warm="tiles", gc_freeze=False), twin=small_twin)
    with TestClient(app) as c:
        assert app.state.warmup.done.wait(30)
        r = c.get("/ready")
        assert r.status_code == 503 and "OSError: disk gone" in r.json()["detail"]
        assert c.get("/health").status_code == 200


def test_warm_none_is_ready_at_once(small_twin):
    app = create_app(Settings(warm="none", gc_freeze=False), twin=small_twin)
    assert app.state.warmup.done.is_set()
    with TestClient(app) as c:
        assert c.get("/ready").json() == {"status": "ready", "warmed": [], "seconds": 0.0}


def test_warm_tiles_prepares_every_layer_and_raster(default_twin_path, tmp_path):
    import shutil
    import sys

    from layers import tile_index

    path = tmp_path / "default.gpkg"
    shutil.copy(default_twin_path, path)
    app = create_app(Settings(twin_path=str(path), warm="tiles", gc_freeze=False))
    with TestClient(app) as c:
        assert app.state.warmup.done.wait(300)
        assert c.get("/ready").status_code == 200
        tw = app.state.twin
        saved = {p.name.split("-")[0] for p in tile_index.index_dir(path).iterdir()}
        assert saved == set(tw.layer_names)
        assert "rio_tiler.io" in sys.modules
        names = [r["name"] for r in c.get("/raster").json()["rasters"]]
        assert names and c.get(f"/raster/{names[0]}.json").status_code == 200
