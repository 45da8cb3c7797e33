"""PMTiles archives (layers/pmtiles_export.py, `twin tiles export`): read back with the
independent `pmtiles` reader and decoded with mapbox_vector_tile, an archive holds the same
features as the live /tiles endpoint, tile for tile, and no tile that the endpoint has is
missing from it; the CLI names each bad input and never leaves a half-written archive."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import Compression, TileType, zxy_to_tileid

from api.app import create_app
from api.settings import Settings
from layers import pmtiles_export
from layers.pmtiles_export import covering_tiles, export_pmtiles
from layers.tile_math import tiles_for_bounds
from layers.vector_tiles import tile_layer
from tests.test_vector_tiles import grid_twin
from twin.cli import main
from twin.errors import InvalidArgument

ROOT = Path(__file__).resolve().parents[1]


def _features(mvt: bytes) -> list[tuple]:
    """A tile's features as comparable values: layer, id, type, properties, geometry."""
    out = []
    for layer, content in mapbox_vector_tile.decode(mvt).items():
        for f in content["features"]:
            out.append((layer, f.get("id"), f["geometry"]["type"],
                        json.dumps(f["properties"], sort_keys=True),
                        json.dumps(f["geometry"]["coordinates"])))
    return sorted(out)


def _archive(path: Path) -> tuple[dict, dict, dict[tuple[int, int, int], bytes]]:
    """Header, metadata and every tile (ungzipped) of an archive, by the pmtiles reader."""
    with open(path, "rb") as f:
        get = MmapSource(f)
        reader = Reader(get)
        header, meta = reader.header(), reader.metadata()
        assert header["tile_compression"] == Compression.GZIP
        tiles = {zxy: gzip.decompress(data) for zxy, data in all_tiles(get)}
    return header, meta, tiles


def _live(client, layer: str, z: int, x: int, y: int) -> bytes:
    r = client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt")
    assert r.status_code in (200, 204), r.text
    return r.content if r.status_code == 200 else b""


def _assert_same_as_live(client, layer: str, tiles: dict, zooms, margin: int = 1) -> int:
    """Every tile around the layer's extent, at every zoom: in the archive exactly when the
    live endpoint has it (200), with the same decoded features. Returns tiles compared."""
    b = client.app.state.twin.layer(layer).total_bounds
    compared = 0
    for z in zooms:
        x0, y0, x1, y1 = tiles_for_bounds(tuple(b), z)
        for x in range(max(0, x0 - margin), min(2**z - 1, x1 + margin) + 1):
            for y in range(max(0, y0 - margin), min(2**z - 1, y1 + margin) + 1):
                live = _live(client, layer, z, x, y)
                got = tiles.get((z, x, y))
                assert (got is not None) == bool(live), f"{layer} {z}/{x}/{y}"
                if live:
                    assert _features(got) == _features(live), f"{layer} {z}/{x}/{y}"
                    compared += 1
    return compared


@pytest.fixture(scope="module")
def grid():
    return grid_twin(40, 30)


@pytest.fixture(scope="module")
def grid_client(grid):
    with TestClient(create_app(Settings(gc_freeze=False), twin=grid)) as c:
        yield c


def test_archive_of_parcels_holds_the_live_tiles(grid, grid_client, tmp_path):
    out = tmp_path / "parcels.pmtiles"
    summary = export_pmtiles(grid, "parcels", out, maxzoom=12)
    header, meta, tiles = _archive(out)
    assert header["tile_type"] == TileType.MVT and header["clustered"]
    assert (header["min_zoom"], header["max_zoom"]) == (5, 12) == (summary.minzoom,
                                                                    summary.maxzoom)
    assert len(tiles) == summary.tiles and summary.bytes == out.stat().st_size
    # zooms 13 to 16 are a few hundred tiles each: the ones beyond 12 are sampled below
    assert {z for z, _, _ in tiles} == set(range(5, 13))
    assert _assert_same_as_live(grid_client, "parcels", tiles, range(5, 13)) == len(tiles)


def test_any_number_of_workers_writes_the_same_bytes(grid, tmp_path, monkeypatch):
    # The workers render chunks of the Hilbert order and the parent writes them in that
    # order: the archive must not depend on which worker finished first.
    one, two = tmp_path / "one.pmtiles", tmp_path / "two.pmtiles"
    a = export_pmtiles(grid, "parcels", one, maxzoom=13)
    monkeypatch.setattr(pmtiles_export, "CHUNK", 8)  # many chunks, shared by the workers
    b = export_pmtiles(grid, "parcels", two, maxzoom=13, workers=2)
    assert a.tiles > 10 * pmtiles_export.CHUNK
    assert one.read_bytes() == two.read_bytes() and (a.tiles, a.empty) == (b.tiles, b.empty)
    header, _, tiles = _archive(two)
    assert header["clustered"] and len(tiles) == b.tiles
    assert list(tiles) == sorted(tiles, key=lambda k: zxy_to_tileid(*k))


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_a_bad_worker_count_is_refused(grid, tmp_path, workers):
    with pytest.raises(InvalidArgument, match="--workers"):
        export_pmtiles(grid, "parcels", tmp_path / "p.pmtiles", workers=workers)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_deepest_zoom_unsimplified_and_sampled(tmp_path):
    small = grid_twin(8, 6)
    out = tmp_path / "deep.pmtiles"
    export_pmtiles(small, "parcels", out, minzoom=16)
    _, _, tiles = _archive(out)
    with TestClient(create_app(Settings(gc_freeze=False), twin=small)) as c:
        assert _assert_same_as_live(c, "parcels", tiles, [16]) == len(tiles)


def test_metadata_is_the_live_tilejson_with_the_twin_version(grid, grid_client, tmp_path):
    out = tmp_path / "districts.pmtiles"
    export_pmtiles(grid, "districts", out, maxzoom=9)
    _, meta, tiles = _archive(out)
    live = grid_client.get("/tiles/districts.json").json()
    assert meta["vector_layers"][0]["fields"] == live["vector_layers"][0]["fields"]
    assert meta["attribution"] == live["attribution"] and meta["version"] == live["version"]
    assert (meta["minzoom"], meta["maxzoom"]) == (0, 9) and "tiles" not in meta
    assert meta["twin"]["data_version"] == grid.data_version("districts")
    assert _assert_same_as_live(grid_client, "districts", tiles, range(0, 10)) == len(tiles)


@pytest.mark.slow
def test_over_dense_tiles_keep_what_the_live_tiles_keep(tmp_path):
    # 9,000 parcels in a z5 tile: above the 8,000-feature cap of the over-dense policy.
    dense = grid_twin(100, 90, cell=0.002)
    out = tmp_path / "parcels.pmtiles"
    export_pmtiles(dense, "parcels", out, maxzoom=6, workers=2)
    _, _, tiles = _archive(out)
    assert max(len(_features(t)) for t in tiles.values()) == tile_layer("parcels").max_features
    with TestClient(create_app(Settings(gc_freeze=False), twin=dense)) as c:
        assert _assert_same_as_live(c, "parcels", tiles, [5, 6]) == len(tiles)


def test_covering_tiles_never_misses_a_touched_tile():
    # A feature exactly on a tile edge touches both neighbours' buffered boxes.
    x, y = covering_tiles([[0.0, -1.0, 0.0, 1.0]], 1, buffer=0)
    assert sorted(zip(x.tolist(), y.tolist(), strict=True)) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert covering_tiles([[float("nan")] * 4], 3, buffer=16)[0].size == 0


# -- the command line ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("twin") / "grid.gpkg"
    grid_twin(20, 15).save(path)
    return path


def test_cli_exports_and_reports(saved, tmp_path, capsys):
    out = tmp_path / "p.pmtiles"
    assert main(["tiles", "export", "parcels", "--twin", str(saved), "--out", str(out),
                 "--maxzoom", "10"]) == 0
    said = capsys.readouterr()
    assert "zooms 5 to 10" in said.out and str(out) in said.out
    assert "tile" in said.err  # the progress bar, on stderr
    assert _archive(out)[0]["max_zoom"] == 10


@pytest.mark.parametrize("argv, words", [
    (["nope"], ["no layer 'nope'", "parcels"]),
    (["parcels", "--minzoom", "9", "--maxzoom", "7"], ["--minzoom 9 is above --maxzoom 7"]),
    (["parcels", "--maxzoom", "17"], ["--maxzoom 17", "5 to 16"]),
    (["districts", "--minzoom", "-1"], ["--minzoom -1", "0 to 14"]),
    (["parcels", "--out", "{tmp}/p.gpkg"], ["must end in .pmtiles"]),
    (["parcels", "--out", "{tmp}/a-file/p.pmtiles"], ["cannot write", "not a folder"]),
    (["parcels", "--out", "{tmp}"], ["is a folder"]),
    (["parcels", "--workers", "0"], ["--workers 0", "at least 1"]),
])
def test_cli_names_each_bad_input(saved, tmp_path, capsys, argv, words):
    (tmp_path / "a-file").write_text("not a folder")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "p.pmtiles")]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["tiles", "export", *argv, "--twin", str(saved), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("twin: error: ")
    for w in words:
        assert w in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_cli_refuses_to_replace_without_force(saved, tmp_path, capsys):
    out = tmp_path / "p.pmtiles"
    out.write_bytes(b"an older archive")
    args = ["tiles", "export", "districts", "--twin", str(saved), "--out", str(out), "--quiet"]
    assert main(args) == 1
    assert "--force" in capsys.readouterr().err and out.read_bytes() == b"an older archive"
    assert main([*args, "--force", "--maxzoom", "6"]) == 0
    assert _archive(out)[0]["max_zoom"] == 6


def _stat(pid: int) -> list[str] | None:
    """State, parent and the rest of /proc/PID/stat after the command; None once gone."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    return [int(p.name) for p in Path("/proc").iterdir()
            if p.name.isdigit() and (st := _stat(int(p.name))) and int(st[1]) == pid]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_export_leaves_the_old_archive_and_no_worker(saved, tmp_path):
    out = tmp_path / "p.pmtiles"
    out.write_bytes(b"the archive a CDN serves now")
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "tiles", "export", "parcels", "--twin", str(saved),
         "--out", str(out), "--force", "--quiet", "--workers", "2"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        # Kill while the archive is being written by two workers (its temporary file has
        # appeared, and so have they).
        while not (list(tmp_path.glob(".p.pmtiles.*.part"))
                   and len(workers := _children(proc.pid)) >= 2):
            assert proc.poll() is None, "the export ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert out.read_bytes() == b"the archive a CDN serves now"
    deadline = time.monotonic() + 30
    # Gone, or a zombie waiting for its new parent to reap it: either way, not running.
    while alive := [w for w in workers if (st := _stat(w)) and st[0] != "Z"]:
        assert time.monotonic() < deadline, f"workers {alive} outlived the killed export"
        time.sleep(0.05)
    said = proc.stderr.read()  # the workers' too: they inherited it
    proc.stderr.close()
    assert "Traceback" not in said, said


# -- /map reads parcels from an archive where the server names one ------------------------


def test_map_config_names_the_archive_only_when_set(grid):
    url = "https://cdn.example.org/twin/parcels.pmtiles"
    with TestClient(create_app(Settings(gc_freeze=False, map_parcels_pmtiles=url),
                               twin=grid)) as c:
        assert c.get("/map/config.json").json()["parcels"]["pmtiles"] == url
        js = c.get("/map/static/pmtiles.js")
        assert js.status_code == 200 and "getZxy" in js.text
        assert "BSD" in c.get("/map/static/pmtiles-LICENSE.txt").text
    with TestClient(create_app(Settings(gc_freeze=False), twin=grid)) as c:
        assert "pmtiles" not in c.get("/map/config.json").json()["parcels"]


@pytest.mark.parametrize("url", ["/cdn/parcels.pmtiles", "parcels.pmtiles",
                                 "https://cdn.example.org/p.pmtiles?sig=1"])
def test_archive_url_may_be_relative_or_absolute(url):
    assert Settings(map_parcels_pmtiles=url).map_parcels_pmtiles == url


@pytest.mark.parametrize("url", ["ftp://cdn.example.org/p.pmtiles", "https:///p.pmtiles",
                                 "https://cdn.example.org/p.mbtiles", "a b.pmtiles"])
def test_a_bad_archive_url_is_refused_naming_the_setting(url):
    from pydantic import ValidationError

    from api.settings import settings_problem

    with pytest.raises(ValidationError) as e:
        Settings(map_parcels_pmtiles=url)
    assert settings_problem(e.value).startswith("TWIN_MAP_PARCELS_PMTILES")
