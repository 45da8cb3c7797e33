"""A PostGIS twin's tile indexes are saved once per data version in its database (and a
local copy of it): a new process, a restart or another host opens them without reading the
layer; an index of another data version is never used; a crash while storing one, or a
damaged one, leaves a twin that serves the right tiles."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from layers import tile_index
from layers.vector_tiles import TileSource
from tests.test_vector_tiles import grid_twin
from twin import Twin
from twin.store.postgis import PostgisStore

pytestmark = pytest.mark.postgis

TILES = [(12, 2838, 1360), (13, 5677, 2720), (14, 11355, 5441), (10, 709, 340), (8, 177, 85)]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def grid():
    tw = grid_twin()
    return tw, {t: _tile(TileSource(tw, index_dir=False), t) for t in TILES}


def _tile(src: TileSource, t) -> bytes:
    return src.tile("parcels", *t).data


def _pushed(postgis_url, grid) -> str:
    url = postgis_url()
    grid[0].save(url)
    return url


def _db(postgis, url: str, statement: str, params=()):
    import psycopg

    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(postgis, autocommit=True) as c:
        c.execute(f'SET search_path = "{schema}", public')
        cur = c.execute(statement, params or None)
        return cur.fetchall() if cur.description else None


def _stored(postgis, url: str) -> list[tuple]:
    return [tuple(r) for r in _db(postgis, url, "SELECT grp, name, count(*) FROM twin_blobs "
                                                "GROUP BY grp, name ORDER BY grp")]


@pytest.fixture
def no_layer_reads(monkeypatch):
    def refuse(self, name):
        raise AssertionError(f"layer {name!r} was read")

    monkeypatch.setattr(PostgisStore, "read_layer", refuse)


def _open(url: str, local: Path) -> TileSource:
    return TileSource(Twin.open(url), index_dir=local)


def test_a_new_host_opens_the_stored_index_without_reading_the_layer(
        grid, postgis, postgis_url, tmp_path, monkeypatch):
    url = _pushed(postgis_url, grid)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = TileSource(Twin.open(url))  # the store's own local cache
    assert {t: _tile(first, t) for t in TILES} == grid[1]
    local = first.twin.store.blob_cache_dir()
    assert str(local).startswith(str(tmp_path / "cache")) and \
        [p.name for p in local.iterdir()] == [f"parcels-{grid[0].data_version('parcels')}-f1"]
    version = grid[0].data_version("parcels")
    assert [r[:2] for r in _stored(postgis, url)] == [("tile index parcels",
                                                       f"parcels-{version}-f1")]

    def refuse(self, name):
        raise AssertionError(f"layer {name!r} was read")

    monkeypatch.setattr(PostgisStore, "read_layer", refuse)
    # Another host: an empty cache dir, the index fetched from the database.
    host = TileSource(Twin.open(url), index_dir=tmp_path / "host2")
    assert {t: _tile(host, t) for t in TILES} == grid[1]
    assert not host.twin.loaded("parcels")
    assert isinstance(host.prepared("parcels").rank.base, np.memmap)
    # A restart on the first host: the local copy, not even the database's blob.
    monkeypatch.setattr(PostgisStore, "blob_parts", lambda *a: (_ for _ in ()).throw(
        AssertionError("the database was asked")))
    again = TileSource(Twin.open(url))
    assert {t: _tile(again, t) for t in TILES} == grid[1]
    for src in (first, host, again):
        src.twin.store.close()


def test_an_index_of_another_data_version_is_never_used(grid, postgis, postgis_url,
                                                        tmp_path):
    url = _pushed(postgis_url, grid)
    first = _open(url, tmp_path / "a")
    old = _tile(first, TILES[2])
    first.prepared("districts")
    districts = _db(postgis, url, "SELECT xmin::text, name FROM twin_blobs WHERE grp = "
                                  "'tile index districts'")
    # Edited in the database by another program (psql here; QGIS edits the same way).
    _db(postgis, url, "UPDATE parcels SET land_use = 'edited-outside'")
    for local in ("a", "b"):  # this host's copy of the old index, and a new host
        src = _open(url, tmp_path / local)
        assert src.twin.known_data_version("parcels") is None
        new = _tile(src, TILES[2])
        assert b"edited-outside" in new and b"edited-outside" not in old
        version = src.twin.data_version("parcels")
        assert version != grid[0].data_version("parcels")
        src.twin.store.close()
    # The stored index is the new version's, alone; the districts' was not touched.
    rows = dict((g, n) for g, n, _ in _stored(postgis, url))
    assert rows["tile index parcels"] == f"parcels-{version}-f1"
    assert _db(postgis, url, "SELECT xmin::text, name FROM twin_blobs WHERE grp = "
                             "'tile index districts'") == districts
    assert [p.name for p in (tmp_path / "a").glob("parcels-*")] == [f"parcels-{version}-f1"]
    first.twin.store.close()


def test_a_crash_while_storing_the_index_leaves_a_twin_that_serves(
        grid, postgis, postgis_url, tmp_path, monkeypatch, caplog):
    url = _pushed(postgis_url, grid)
    monkeypatch.setattr(tile_index, "_PART", 4096)  # many parts: fail between two of them
    real = PostgisStore.put_blob

    def failing(self, group, name, blob):
        def parts():
            for i, part in enumerate(blob):
                if i == 5:
                    raise OSError("disk full (injected)")
                yield part

        return real(self, group, name, parts())

    monkeypatch.setattr(PostgisStore, "put_blob", failing)
    with caplog.at_level(logging.WARNING, logger="layers"):
        src = _open(url, tmp_path / "a")
        assert {t: _tile(src, t) for t in TILES} == grid[1]
    assert "cannot store the tile index of 'parcels'" in caplog.text
    assert _stored(postgis, url) == []  # rolled back: no part of it
    monkeypatch.setattr(PostgisStore, "put_blob", real)
    fresh = _open(url, tmp_path / "b")
    assert {t: _tile(fresh, t) for t in TILES} == grid[1]
    assert [g for g, _, _ in _stored(postgis, url)] == ["tile index parcels"]
    for s in (src, fresh):
        s.twin.store.close()


_SLOW_WRITER = r"""
import sys, time
from pathlib import Path
from layers import tile_index
from layers.vector_tiles import TileSource
from twin import Twin
from twin.store.postgis import PostgisStore

url, local, marker = sys.argv[1:4]
tile_index._PART = 4096
real = PostgisStore.put_blob

def slow(self, group, name, blob):
    def parts():
        for i, part in enumerate(blob):
            if i == 3:
                Path(marker).write_text("writing")
                time.sleep(600)  # killed here, mid-write
            yield part
    return real(self, group, name, parts())

PostgisStore.put_blob = slow
TileSource(Twin.open(url), index_dir=local).prepared("parcels")
"""


def test_a_process_killed_while_storing_the_index_leaves_no_half_of_it(
        grid, postgis, postgis_url, tmp_path):
    url = _pushed(postgis_url, grid)
    marker = tmp_path / "marker"
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, url, str(tmp_path / "a"),
                             str(marker)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        assert _db(postgis, url, "SELECT count(*) FROM twin_blobs")[0][0] == 0
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    assert _stored(postgis, url) == []
    src = _open(url, tmp_path / "b")
    assert {t: _tile(src, t) for t in TILES} == grid[1]
    src.twin.store.close()


def test_a_damaged_stored_index_is_prepared_again(grid, postgis, postgis_url, tmp_path,
                                                  caplog):
    url = _pushed(postgis_url, grid)
    src = _open(url, tmp_path / "a")
    _tile(src, TILES[0])
    _db(postgis, url, "UPDATE twin_blobs SET data = overlay(data placing '\\xff'::bytea "
                      "from 10) WHERE label = 'coords' AND seq = (SELECT min(seq) FROM "
                      "twin_blobs WHERE label = 'coords')")
    with caplog.at_level(logging.WARNING, logger="layers"):
        host = _open(url, tmp_path / "b")
        assert {t: _tile(host, t) for t in TILES} == grid[1]
    assert "part 'coords' holds" in caplog.text and "do not check out" in caplog.text
    assert host.twin.loaded("parcels")  # read and prepared again, not the damaged bytes
    for s in (src, host):
        s.twin.store.close()


def test_a_read_only_role_serves_from_memory_and_says_so_once(grid, postgis, postgis_url,
                                                              tmp_path, caplog):
    import psycopg

    url = _pushed(postgis_url, grid)
    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(postgis, autocommit=True) as c:
        c.execute("DROP ROLE IF EXISTS twin_reader")
        c.execute("CREATE ROLE twin_reader LOGIN")
        c.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO twin_reader')
        c.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO twin_reader')
    reader = url.replace("postgres@", "twin_reader@")
    try:
        with caplog.at_level(logging.WARNING, logger="layers"):
            src = _open(reader, tmp_path / "a")
            assert {t: _tile(src, t) for t in TILES} == grid[1]
            src.prepared("districts")
        said = [r for r in caplog.records if "cannot store the tile index" in r.message]
        assert len(said) == 1 and "may not store" in said[0].message
        assert _stored(postgis, url) == []
        src.twin.store.close()
    finally:
        with psycopg.connect(postgis, autocommit=True) as c:
            c.execute("DROP OWNED BY twin_reader; DROP ROLE twin_reader")


def test_a_whole_push_starts_with_no_stored_indexes(grid, postgis, postgis_url, tmp_path):
    url = _pushed(postgis_url, grid)
    src = _open(url, tmp_path / "a")
    _tile(src, TILES[0])
    assert _stored(postgis, url)
    grid[0].save(url)
    assert _stored(postgis, url) == []
    src.twin.store.close()


def test_workers_starting_together_prepare_a_layer_once(grid, postgis_url, tmp_path,
                                                        monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    url = _pushed(postgis_url, grid)
    real, reads = PostgisStore.read_layer, []

    def counted(self, name):
        reads.append(name)
        time.sleep(0.5)  # the others arrive while this one prepares
        return real(self, name)

    monkeypatch.setattr(PostgisStore, "read_layer", counted)
    # Three workers, two on this host and one on another, each with its own twin.
    sources = [_open(url, tmp_path / d) for d in ("a", "a", "b")]
    with ThreadPoolExecutor(3) as ex:
        tiles = list(ex.map(lambda s: {t: _tile(s, t) for t in TILES}, sources))
    assert all(t == grid[1] for t in tiles)
    assert reads.count("parcels") == 1
    for s in sources:
        s.twin.store.close()
