"""twin/raster/storage.py: a saved twin carries its rasters inside the GeoPackage."""

from __future__ import annotations

import shutil
import sqlite3

import numpy as np
import pytest

from tests.test_raster import build_small, write_tif
from twin import Twin
from twin.raster import RasterNotFound, add_raster, get_raster, list_rasters, raster_dir, value_at
from twin.raster.storage import RasterFileWarning

rasterio = pytest.importorskip("rasterio")
pytestmark = pytest.mark.filterwarnings(
    "ignore:Use `@` matmul instead of `\\*` mul operator:PendingDeprecationWarning")


@pytest.fixture(scope="module")
def _built_once(tmp_path_factory):
    """The small twin with its two surfaces and a user's 3-band Byte raster (a kind
    GeoPackage's own raster tables could not hold with a float surface)."""
    tw = build_small(tmp_path_factory.mktemp("storage"), resolution=100.0)
    src = write_tif(tmp_path_factory.mktemp("src") / "rgb.tif",
                    np.arange(3 * 40 * 50, dtype="uint8").reshape(3, 40, 50))
    add_raster(tw, "photo", src, units="DN")
    return tw.path


@pytest.fixture
def built(_built_once, tmp_path):
    shutil.copy(_built_once, tmp_path / "small.gpkg")
    return Twin.open(tmp_path / "small.gpkg")


def _arrays(tw) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for info in list_rasters(tw):
        info = get_raster(tw, info.name)
        with rasterio.open(info.path) as a, rasterio.open(info.tiles_path) as b:
            out[info.name] = (a.read(), b.read())
    return out


def _copy(src, dst):
    shutil.copy(src, dst)
    return dst


def _stored(path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT DISTINCT name FROM twin_files")}
    finally:
        conn.close()


def test_a_saved_twin_opened_elsewhere_has_all_its_rasters(built, tmp_path):
    want = _arrays(built)
    saved = built.save(tmp_path / "mine" / "my.gpkg")
    # Only the GeoPackage travels: a fresh folder, no sidecar beside it.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    copy = _copy(saved, elsewhere / "copy.gpkg")
    assert not raster_dir(copy).exists()
    tw = Twin.open(copy)
    assert [r.name for r in list_rasters(tw)] == ["population_density", "suitability",
                                                  "photo"]
    got = _arrays(tw)
    assert set(got) == set(want)
    for name, (a, b) in want.items():
        np.testing.assert_array_equal(got[name][0], a)
        np.testing.assert_array_equal(got[name][1], b)
        assert get_raster(tw, name).version == get_raster(built, name).version
    town = tw["settlements"].geometry.iloc[0]
    assert value_at(tw, "population_density", town.x, town.y) == value_at(
        built, "population_density", town.x, town.y)


def test_the_default_twin_file_alone_carries_its_surfaces(default_twin_path, tmp_path):
    copy = _copy(default_twin_path, tmp_path / "akmola.gpkg")
    tw = Twin.open(copy)
    for info in list_rasters(tw):
        info = get_raster(tw, info.name)
        with rasterio.open(info.tiles_path) as src:
            assert src.read(1, masked=True).count() > 0


def test_saving_over_itself_keeps_every_raster(built):
    want = _arrays(built)
    names = _stored(built.path)
    shutil.rmtree(raster_dir(built.path))  # only the twin file holds the bytes now
    built.save(built.path)
    assert _stored(built.path) == names
    again = Twin.open(built.path)
    for name, (a, _) in _arrays(again).items():
        np.testing.assert_array_equal(a, want[name][0])


def test_replacing_a_raster_drops_the_old_bytes(built, tmp_path):
    old = get_raster(built, "photo")
    src = write_tif(tmp_path / "new.tif", np.full((3, 20, 20), 7, dtype="uint8"))
    new = add_raster(built, "photo", src, replace=True)
    assert new.version != old.version
    stored = _stored(built.path)
    assert f"rasters/{new.path.name}" in stored and f"rasters/{old.path.name}" not in stored
    assert not old.path.exists()  # the stale cache file is gone too
    with rasterio.open(get_raster(Twin.open(built.path), "photo").path) as r:
        assert int(r.read(1).max()) == 7


def test_a_crash_while_saving_leaves_the_old_file_whole(built, tmp_path, monkeypatch):
    from twin.store import gpkg

    target = tmp_path / "keep.gpkg"
    built.save(target)
    want = _arrays(Twin.open(target))

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(gpkg, "_copy_files", crash)  # while copying the rasters' bytes
    with pytest.raises(OSError, match="disk full"):
        Twin.open(built.path).save(target)
    monkeypatch.undo()
    shutil.rmtree(raster_dir(target))
    got = _arrays(Twin.open(target))
    assert {k: v[0].tobytes() for k, v in got.items()} == {
        k: v[0].tobytes() for k, v in want.items()}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".keep.gpkg")]


def test_a_twin_saved_before_rasters_were_stored_inside_is_carried_over(built, tmp_path):
    # What older versions wrote: no bytes in the file, plain NAME.tif files beside it.
    infos = [get_raster(built, r.name) for r in list_rasters(built)]
    conn = sqlite3.connect(built.path)
    with conn:
        conn.execute("DELETE FROM twin_files")
    conn.close()
    for info in infos:
        info.path.rename(info.path.parent / info.file)
        info.tiles_path.rename(info.tiles_path.parent / info.tiles_file)
    old = Twin.open(built.path)
    assert get_raster(old, "suitability").path.is_file()  # served from the plain files
    moved = old.save(tmp_path / "moved" / "moved.gpkg")
    tw = Twin.open(_copy(moved, tmp_path / "alone.gpkg"))
    assert {r.name for r in list_rasters(tw)} == {i.name for i in infos}
    assert all(get_raster(tw, i.name).version == i.version for i in infos)


def test_a_raster_whose_bytes_are_lost_is_named_when_saving(built, tmp_path):
    info = get_raster(built, "photo")
    conn = sqlite3.connect(built.path)
    with conn:
        conn.execute("DELETE FROM twin_files WHERE name LIKE 'rasters/photo.%'")
    conn.close()
    info.path.unlink()
    with pytest.warns(RasterFileWarning, match="'photo'.*add-raster --replace"):
        out = built.save(tmp_path / "partial.gpkg")
    tw = Twin.open(out)
    assert get_raster(tw, "suitability").path.is_file()  # the others are whole
    with pytest.raises(RasterNotFound, match="add-raster --replace"):
        get_raster(tw, "photo")


def test_a_large_raster_is_stored_in_parts(built, tmp_path, monkeypatch):
    from twin.store import base

    monkeypatch.setattr(base, "FILE_PART_BYTES", 4096)
    out = build_small(tmp_path / "p", resolution=100.0).path  # stored from disk, in parts
    conn = sqlite3.connect(out)
    parts = dict(conn.execute("SELECT name, COUNT(*) FROM twin_files GROUP BY name"))
    conn.close()
    assert max(parts.values()) > 1 and max(len(b) for b in _blob_sizes(out)) <= 4096
    want = _arrays(built)
    got = _arrays(Twin.open(_copy(out, tmp_path / "parts-copy.gpkg")))
    assert all(np.array_equal(got[k][0], want[k][0]) for k in got)


def _blob_sizes(path):
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute("SELECT data FROM twin_files")]
    finally:
        conn.close()
