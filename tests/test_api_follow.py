"""api/follow.py: a server keeps serving, and serves what is stored, after its twin file
was replaced whole under it (a notebook's ``tw.save(path)``, ``twin build --force``)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

import api.follow
from api.app import create_app
from api.settings import Settings
from tests.common import make_small_twin
from twin import Twin


@pytest.fixture
def now(monkeypatch):
    monkeypatch.setattr(api.follow, "CHECK_EVERY_S", 0.0)  # every request checks


def test_a_server_serves_the_twin_saved_over_its_file(tmp_path, now):
    path = make_small_twin().save(tmp_path / "t.gpkg")
    with TestClient(create_app(Settings(twin_path=path, gc_freeze=False))) as c:
        before = c.get("/collections").json()
        assert "project_sites" in {k["id"] for k in before["collections"]}
        assert c.get("/collections/region/items").status_code == 200
        notebook = Twin.open(path)
        parcels = notebook["parcels"]
        notebook.remove_layer("project_sites")
        notebook.add_layer("parcels", parcels.iloc[:2])
        notebook.save(path)
        # parcels were never read by the server: without following it answered 503
        # (the layer would have come from another save than the region it holds)
        items = c.get("/collections/parcels/items")
        assert items.status_code == 200, items.text
        assert items.json()["numberMatched"] == 2
        assert "project_sites" not in {k["id"] for k in c.get("/collections").json()[
            "collections"]}
        assert c.get("/collections/project_sites/items").status_code == 404
        assert c.get("/tiles/parcels/8/175/89.mvt").status_code in (200, 204)
        queryables = c.get("/openapi.json").json()
        assert "project_sites" not in str(queryables["paths"].keys())


def test_a_server_on_an_in_memory_twin_checks_nothing(now):
    with TestClient(create_app(Settings(gc_freeze=False), twin=make_small_twin())) as c:
        assert c.get("/collections").status_code == 200
