"""The first raster tile after a server starts: what a raster's first tile needs is done
once per file version and kept (the unpacked files, beside the twin file or in the
database's cache folder), once per process while the app is built (the imports), or once
per source (opened readers, shared by every thread); never from another version."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.common import make_small_twin
from tests.test_raster import write_tif
from tests.test_raster_tiles import TILE, decode
from twin import Twin
from twin.raster import add_raster, get_raster, raster_dir

rasterio = pytest.importorskip("rasterio")
mercantile = pytest.importorskip("mercantile")
pytestmark = pytest.mark.filterwarnings(
    "ignore:Use `@` matmul instead of `\\*` mul operator:PendingDeprecationWarning")

from layers import raster_tiles  # noqa: E402  (after the importorskip guards)
from layers.raster_tiles import RasterTileSource  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _tif(path, value: float):
    """A one-tile EPSG:3857 raster over TILE, every cell ``value``."""
    from affine import Affine

    b = mercantile.xy_bounds(TILE)
    px = (b.right - b.left) / 256
    return write_tif(path, np.full((256, 256), value, "float32"),
                     transform=Affine(px, 0, b.left, 0, -px, b.top))


class CountingReader(raster_tiles.Reader):
    """rio-tiler's Reader, counting opens and closes."""

    opened: list = []
    closed: list = []

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        CountingReader.opened.append(self.input)

    def close(self):
        CountingReader.closed.append(self.input)
        super().close()


@pytest.fixture
def counting(monkeypatch):
    CountingReader.opened, CountingReader.closed = [], []
    monkeypatch.setattr(raster_tiles, "Reader", CountingReader)
    return CountingReader


@pytest.fixture
def stored(twin_location, tmp_path):
    """A twin with one user raster, stored in each backend (file, then PostGIS)."""
    make_small_twin().save(twin_location)
    tw = Twin.open(twin_location)
    add_raster(tw, "level", _tif(tmp_path / "level.tif", 2), vmin=0, vmax=10)
    return twin_location


def _png(tw, name="level") -> np.ndarray:
    src = RasterTileSource()
    try:
        return decode(src.png(get_raster(tw, name), TILE.z, TILE.x, TILE.y))
    finally:
        src.close()


def test_the_app_imports_the_tile_readers_while_it_is_built():
    # Importing rio-tiler in a request would cost its first tile ~0.3 s of CPU, and from
    # two threads at once (a request beside the warm-up) it fails: its package imports
    # itself circularly. `twin serve` imports the app in its build thread.
    code = ("import sys, api.app; print([m for m in ('rasterio', 'rio_tiler.io', "
            "'rio_tiler.colormap', 'rio_tiler.utils') if m not in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_restart_neither_unpacks_nor_rereads_the_registry(stored, monkeypatch):
    first = Twin.open(stored)  # the first process unpacks the raster's files
    before = _png(first)
    info = get_raster(first, "level")
    assert info.path.is_file() and info.tiles_path.is_file()
    assert info.tiles_path.parent == Twin.open(stored).store.cache_dir()

    store_type = type(first.store)

    def refuse(*_a, **_k):
        raise AssertionError("a restart redid what the cache folder holds")

    again = Twin.open(stored)  # a restart: a new twin, a new tile source
    monkeypatch.setattr(store_type, "unpack_file", refuse)
    monkeypatch.setattr(store_type, "read_table", refuse)  # the registry as read at open
    assert (_png(again) == before).all()


def test_a_replaced_raster_is_served_anew_after_a_restart_and_while_serving(
        stored, tmp_path, counting):
    tw = Twin.open(stored)
    src = RasterTileSource()  # a running server's source, its reader open on version 1
    old = get_raster(tw, "level")
    first = decode(src.png(old, TILE.z, TILE.x, TILE.y))
    assert counting.opened == [str(old.tiles_path)]

    new = add_raster(Twin.open(stored), "level", _tif(tmp_path / "v2.tif", 8), vmin=0,
                     vmax=10, replace=True)  # as `twin add-raster --replace`, elsewhere
    assert new.version != old.version and new.tiles_path != old.tiles_path
    assert not old.tiles_path.exists()  # the old version's cache files are gone

    served = get_raster(tw, "level")  # the server's twin picks the new version up
    assert served.version == new.version
    now = decode(src.png(served, TILE.z, TILE.x, TILE.y))
    assert not (now == first).all()
    assert counting.opened[-1] == str(new.tiles_path)
    assert counting.closed == [str(old.tiles_path)]  # never lent again
    assert (_png(Twin.open(stored)) == now).all()  # and after a restart
    src.close()


def test_a_crash_while_unpacking_leaves_no_file_to_trust(stored, monkeypatch):
    tw = Twin.open(stored)
    info = get_raster(tw, "level")
    folder = raster_dir(stored)
    for p in (info.path, info.tiles_path):
        p.unlink()
    store_type = type(tw.store)
    real = store_type.file_parts

    def dies_after_one_part(self, name):
        parts = real(self, name)
        yield next(parts)[:100]
        raise OSError("killed while unpacking")

    monkeypatch.setattr(store_type, "file_parts", dies_after_one_part)
    with pytest.raises(Exception, match="killed while unpacking"):
        get_raster(Twin.open(stored), "level")
    assert not info.path.exists() and not info.tiles_path.exists()
    assert [p for p in folder.iterdir() if p.name.startswith(".")] == []
    # A process killed outright leaves its temporary file: never taken for the raster.
    (folder / f".{info.tiles_path.name}.x1y2z3.tif").write_bytes(b"half a COG")
    monkeypatch.undo()
    tile = _png(Twin.open(stored))
    assert tile[..., 3].any()
    assert get_raster(Twin.open(stored), "level").tiles_path.stat().st_size > 100


def test_one_open_reader_serves_every_thread(stored, counting):
    info = get_raster(Twin.open(stored), "level")
    src = RasterTileSource(cache_bytes=0)  # nothing cached: every tile is read
    src.prepare(info)  # the warm-up's step, in its own thread

    def tile():
        src.png(info, TILE.z, TILE.x, TILE.y)

    for _ in range(3):  # the server's pool threads, one request after another
        t = threading.Thread(target=tile)
        t.start()
        t.join()
    assert counting.opened == [str(info.tiles_path)]
    barrier = threading.Barrier(4)

    def at_once():
        # Reads only: rio-tiler's PNG encoder sets warning filters with catch_warnings,
        # which is not thread-safe, so encodes at once may emit a warning (an error here).
        barrier.wait()
        for _ in range(5):
            src.data(info, TILE.z, TILE.x, TILE.y)

    threads = [threading.Thread(target=at_once) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert 1 <= len(counting.opened) <= 4  # one reader per thread at a time, at most
    src.close()
    assert sorted(counting.closed) == sorted(counting.opened)


def test_the_warm_up_opens_the_readers_the_first_request_uses(tmp_path, counting):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    path = make_small_twin().save(tmp_path / "warm.gpkg")
    add_raster(Twin.open(path), "level", _tif(tmp_path / "level.tif", 2), vmin=0, vmax=10)
    app = create_app(Settings(twin_path=str(path), warm="tiles", gc_freeze=False))
    with TestClient(app) as c:
        assert app.state.warmup.done.wait(120) and app.state.warmup.error is None
        assert len(counting.opened) == 1
        r = c.get(f"/raster/level/{TILE.z}/{TILE.x}/{TILE.y}.png")
        assert r.status_code == 200 and decode(r.content)[..., 3].any()
        assert len(counting.opened) == 1  # the warm-up's reader, not a new one
