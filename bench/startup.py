"""Startup benchmark: how soon a server on a large twin answers, and what it holds.

Run::

    .venv/bin/python bench/startup.py                     # the 1,000,000-parcel twin
    .venv/bin/python bench/startup.py --parcels 200000 --no-postgis
    .venv/bin/python bench/startup.py --twin 1M.gpkg --postgis-twin   # a PostGIS twin

All in one run, each server a fresh process (``twin serve``, one worker,
``TWIN_WARM=none`` so that the first request pays for whatever is not ready):

1. cold: no saved tile index. Time from process start to ``/health`` (answered while the
   app is still built, api/boot.py) and to ``/ready`` (the app built); then the first
   parcels tile (reads the layer, prepares it, saves the index); the first raster tile.
2. restart: the same twin, the index saved by run 1. The same three times, and the peak
   RSS (VmHWM) after 200 parcels tiles over z8-z16.
3. warmed: ``TWIN_WARM=tiles``, as a deployment would run it: the time to ``/ready``, then
   the first tiles. With ``--baseline CHECKOUT``, run 2 again on other code (main before
   this change) for a before/after in the same run. The time a bare process takes to import
   pandas, geopandas, FastAPI and uvicorn is printed as the floor under any /health time.
4. the anchor, on the same parcels in the same run: PostGIS ``ST_AsMVT`` (the setup of
   ``bench/tiles.py``): its first tile on a new connection and the backend's peak RSS.
   TiPg's first tile and RSS are measured too when ``tipg`` is installed.

With ``--postgis-twin`` the same servers run on the twin pushed into the bench's PostGIS
(``twin push``, as ``bench/tiles.py --postgis-twin``): cold (the layer read from the
database, the index prepared and saved there and in this host's cache), restart (the local
copy memory-mapped), and a new host (an empty cache dir: the index fetched from the
database).

Targets (issue 16): /health <= 2 s, first tile <= 0.5 s, peak RSS <= 1 GB.
It is not part of the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.tiles import (  # noqa: E402
    free_port,
    load_postgis,
    machine,
    postgis,
    postgis_tile_sql,
)
from layers.tile_math import ORIGIN  # noqa: E402

LAYER = "parcels"


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def get(client, url: str):
    r = client.get(url)
    r.raise_for_status()
    return r


def import_floor() -> float:
    """Seconds a bare process takes to import what any server of this stack needs (pandas,
    geopandas, FastAPI, uvicorn): the floor under the time to /health on this machine now."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import pandas, geopandas, fastapi, uvicorn"],
                   check=True)
    return time.perf_counter() - t


def start_server(twin_path: Path | str, port: int, root: Path = ROOT, warm: str = "none",
                 env: dict | None = None) -> tuple[subprocess.Popen, float, float]:
    """Start a server (on a twin file or a PostGIS twin's URL); returns it, the seconds to
    /health and the process start time."""
    import httpx

    env = {**os.environ, "TWIN_WARM": warm, "TWIN_ACCESS_LOG": "false",
           "NO_PROXY": "127.0.0.1", **(env or {})}
    log = tempfile.TemporaryFile()  # a pipe nobody reads could fill and stall the server
    t0 = time.perf_counter()
    # `twin serve`, as a deployment starts it (-m from the checkout: --baseline runs its
    # own code).
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "serve", "--twin", str(twin_path), "--host",
         "127.0.0.1", "--port", str(port)],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}/health"
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"server exited: {log.read().decode(errors='replace')}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, trust_env=False, timeout=5).status_code == 200:
                return proc, time.perf_counter() - t0, t0
        time.sleep(0.02)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used (the machine is shared: wall
    times stretch under load, CPU seconds much less)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(client, url: str) -> float:
    t = time.perf_counter()
    get(client, url)
    return time.perf_counter() - t


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    from layers.tile_math import lonlat_to_mercator

    mx, my = lonlat_to_mercator(np.array([lon]), np.array([lat]))
    size = 2 * ORIGIN / (1 << z)
    return z, int((mx[0] + ORIGIN) // size), int((ORIGIN - my[0]) // size)


def saved_index_dir(twin_path: Path | str) -> Path:
    """Where the servers saved the twin's tile indexes: beside a file, or a PostGIS twin's
    local copy (under $XDG_CACHE_HOME, as the servers see it)."""
    from layers import tile_index
    from twin.store import open_store

    if isinstance(twin_path, Path):
        return tile_index.index_dir(twin_path)
    st = open_store(twin_path)
    try:
        return st.blob_cache_dir()
    finally:
        st.close()


def tiles_at_parcels(twin_path: Path | str, n: int, seed: int = 16
                     ) -> list[tuple[int, int, int]]:
    """``n`` tiles over z8-z16 at random parcels, from the saved index's boxes."""
    from layers import tile_index
    from twin import Twin

    tw = Twin.open(twin_path)
    prep = tile_index.open_saved(saved_index_dir(twin_path), LAYER, tw.data_version(LAYER))
    boxes = prep.bounds
    rng = random.Random(seed)
    out = []
    for k in range(n):
        z = 8 + k % 9
        i = rng.randrange(len(boxes))
        cx, cy = (boxes[i, 0] + boxes[i, 2]) / 2, (boxes[i, 1] + boxes[i, 3]) / 2
        size = 2 * ORIGIN / (1 << z)
        out.append((z, int((cx + ORIGIN) // size), int((ORIGIN - cy) // size)))
    return out


def run_server(twin_path: Path | str, label: str, first: tuple, raster: str | None,
               tiles: list | None = None, root: Path = ROOT, warm: str = "none",
               env: dict | None = None) -> dict:
    import httpx

    port = free_port()
    proc, health, t0 = start_server(twin_path, port, root, warm, env)
    out = {"health": health, "health_cpu": cpu_seconds(proc.pid)}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False,
                          timeout=600) as c:
            # A deployment routes traffic here once /ready says so: the app is built (twin
            # serve answers /health before, api/boot.py) and the warm-up asked for is
            # done. Code without /ready (404) is built once /health answers.
            while c.get("/ready").status_code not in (200, 404):
                time.sleep(0.02)
            out["ready"] = time.perf_counter() - t0
            z, x, y = first
            c0 = cpu_seconds(proc.pid)
            out["first_tile"] = timed(c, f"/tiles/{LAYER}/{z}/{x}/{y}.mvt")
            out["first_tile_cpu"] = cpu_seconds(proc.pid) - c0
            if raster:
                rz, rx, ry = tile_of(*out_center(twin_path), 8)
                out["first_raster"] = timed(c, f"/raster/{raster}/{rz}/{rx}/{ry}.png")
            if tiles:
                t = time.perf_counter()
                for (tz, tx, ty) in tiles:
                    c.get(f"/tiles/{LAYER}/{tz}/{tx}/{ty}.mvt")
                out["tiles_s"] = time.perf_counter() - t
            out["rss"] = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    parts = [f"/health {out['health']:.2f} s ({out['health_cpu']:.2f} s CPU)",
             f"first tile {out['first_tile']:.3f} s ({out['first_tile_cpu']:.2f} s CPU)"]
    parts.insert(1, f"/ready {out['ready']:.2f} s")
    if "first_raster" in out:
        parts.append(f"first raster tile {out['first_raster']:.3f} s")
    if tiles:
        parts.append(f"{len(tiles)} tiles in {out['tiles_s']:.1f} s")
    parts.append(f"peak RSS {out['rss']:.0f} MB")
    print(f"{label:>9}: " + ", ".join(parts))
    return out


_CENTER: dict = {}


def out_center(twin_path: Path | str) -> tuple[float, float]:
    if twin_path not in _CENTER:
        from twin import Twin

        b = Twin.open(twin_path).layer_bounds(LAYER)
        _CENTER[twin_path] = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    return _CENTER[twin_path]


def postgis_first_tile(sock: str, tile: tuple) -> tuple[float, float]:
    """PostGIS's first tile on a new connection, and that backend's peak RSS."""
    import psycopg

    z, x, y = tile
    t = time.perf_counter()
    with psycopg.connect(host=sock, dbname="postgres", user="postgres") as conn:
        conn.execute(postgis_tile_sql(), {"z": z, "x": x, "y": y}).fetchone()
        dt = time.perf_counter() - t
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        rss = peak_rss_mb(pid)
    return dt, rss


def tipg_first_tile(python: str, sock: str, tile: tuple) -> tuple[float, float, float]:
    """TiPg (its own virtualenv: ``--tipg-python``) on the same PostGIS parcels: seconds
    from process start to its first answer, its first parcels tile, its peak RSS."""
    import httpx

    port = free_port()
    from urllib.parse import quote

    # TiPg's settings want a host in the URL: a socket directory, percent-encoded, is one.
    env = {**os.environ, "DATABASE_URL": f"postgresql://postgres@{quote(sock, safe='')}/postgres",
           "TIPG_DB_SCHEMAS": '["public"]', "TIPG_DB_TABLES": '["public.parcels"]',
           "NO_PROXY": "127.0.0.1"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([python, "-m", "uvicorn", "tipg.main:app", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False,
                          timeout=600) as c:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"TiPg exited: {proc.stdout.read()}")
                with contextlib.suppress(httpx.TransportError):
                    if c.get("/healthz").status_code == 200:
                        break
                time.sleep(0.05)
            up = time.perf_counter() - t0
            z, x, y = tile
            first = timed(c, f"/collections/public.parcels/tiles/WebMercatorQuad/{z}/{x}/{y}")
            return up, first, peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)


_STRUCTURES = r"""
import json, sys
import numpy as np, shapely
from pathlib import Path
from layers import tile_index
from layers.mvt import encode_values
from layers.tile_math import to_mercator
from layers.vector_tiles import tile_layer
from twin import Twin

def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

out, path, layer = {}, sys.argv[1], sys.argv[2]
tw = Twin.open(path)
base = rss()
gdf = tw.layer(layer)
out["GeoDataFrame (read and validated)"] = rss() - base
m0 = rss(); tw.metric(layer); out["metric copy (analysis CRS)"] = rss() - m0
m0 = rss(); merc = to_mercator(np.asarray(gdf.geometry.values))
out["before: Mercator copy (shapely objects)"] = rss() - m0
m0 = rss(); tree = shapely.STRtree(merc); out["before: STRtree"] = rss() - m0
m0 = rss()
cols = [encode_values(c, gdf[c]) for c in tile_layer(layer).properties if c in gdf.columns]
out["encoded columns"] = rss() - m0
saved = tile_index.open_saved(tile_index.index_dir(path), layer, tw.data_version(layer))
sizes = {}
for f in (tile_index.index_dir(path)).glob(f"{layer}-*/*"):
    group = ("geometries (Mercator coordinates)" if f.name.startswith(("coords", "offsets", "wkb"))
             else "tree (boxes, order, nodes)" if f.name.split(".")[0] in
             ("boxes", "order", "nodes", "level_starts")
             else "encoded columns + ids" if f.name.startswith(("col", "ids")) else "rank")
    sizes[group] = sizes.get(group, 0) + f.stat().st_size / 2**20
out["after: saved index on disk, memory-mapped (MB by part)"] = sizes
print(json.dumps(out))
"""


def structure_costs(twin_path: Path, root: Path = ROOT) -> dict:
    """What each structure of tile serving costs in resident memory (MB), measured one
    after another in a fresh process: the layer's GeoDataFrame, its metric copy, main's
    Mercator copy and STRtree, the encoded columns; and the saved index's parts, which a
    server memory-maps instead (shared between processes, paged in as tiles touch them)."""
    import json

    r = subprocess.run([sys.executable, "-c", _STRUCTURES, str(twin_path), LAYER], cwd=root,
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--twin", type=Path, help="twin file (default: the default twin with "
                    "--parcels parcels, built once)")
    ap.add_argument("--parcels", type=int, default=1_000_000)
    ap.add_argument("--tiles", type=int, default=200)
    ap.add_argument("--no-postgis", action="store_true")
    ap.add_argument("--postgis-twin", action="store_true",
                    help="serve the twin from PostGIS instead (`twin push` into the bench's "
                         "cluster, `twin serve --twin postgresql://...`): its tile index is "
                         "kept in the database and a local copy; adds a restart on a fresh "
                         "cache dir (a new host)")
    ap.add_argument("--baseline", type=Path, help="a checkout of other code (e.g. a worktree "
                    "of main before this change) to run the same restart measurement on")
    ap.add_argument("--tipg-python", help="the python of a virtualenv with tipg and uvicorn "
                    "installed (TiPg's pins differ from ours, so it lives apart)")
    args = ap.parse_args(argv)

    print("machine:", machine())
    path = args.twin
    if path is None:
        from twin.default import build_default, default_twin_path

        path = default_twin_path(parcels=args.parcels)
        if not path.exists():
            print(f"building the default twin with {args.parcels:,} parcels -> {path}")
            build_default(out=path, parcels=args.parcels)
    from layers import tile_index
    from twin import Twin

    tw = Twin.open(path)
    print(f"twin: {path} ({tw.layer_count(LAYER):,} parcels)")
    rasters = tw.tables.get("rasters")
    raster = str(rasters["name"].iloc[0]) if rasters is not None and len(rasters) else None
    first = tile_of(*out_center(path), 10)

    with tempfile.TemporaryDirectory(prefix="startbench-") as tmp, \
            contextlib.ExitStack() as stack:
        work = Path(tmp)
        sock = None
        target: Path | str = path
        if args.postgis_twin:
            from bench.tiles import push_twin

            sock = stack.enter_context(postgis(work))
            target = push_twin(sock, path)
            # This host's cache (the rasters' unpacked files, the tile indexes' local
            # copies), fresh: the servers and this script see the same one.
            os.environ["XDG_CACHE_HOME"] = str(work / "cache-host1")
            print(f"serving {target} (one host's cache in {work / 'cache-host1'})")
        else:
            shutil.rmtree(tile_index.index_dir(path), ignore_errors=True)

        floor = import_floor()
        print(f"import floor (pandas, geopandas, FastAPI, uvicorn in a bare process): "
              f"{floor:.2f} s")
        cold = run_server(target, "cold", first, raster)
        tiles = tiles_at_parcels(target, args.tiles)
        warm = run_server(target, "restart", first, raster, tiles)
        host = run_server(target, "new host", first, raster, tiles,
                          env={"XDG_CACHE_HOME": str(work / "cache-host2")}) \
            if args.postgis_twin else None
        ready = run_server(target, "warmed", first, raster, warm="tiles")
        base = run_server(target, "baseline", first, raster, tiles, args.baseline) \
            if args.baseline else None

        anchor = tipg = None
        if not args.no_postgis:
            if sock is None:
                sock = stack.enter_context(postgis(work))
            print(f"PostGIS load + index: {load_postgis(sock, path):.1f} s")
            anchor = postgis_first_tile(sock, first)
            print(f"  PostGIS: first tile {anchor[0]:.3f} s on a new connection, backend "
                  f"peak RSS {anchor[1]:.0f} MB (plus shared buffers)")
            if args.tipg_python:
                tipg = tipg_first_tile(args.tipg_python, sock, first)
                print(f"  TiPg: up in {tipg[0]:.2f} s, first tile {tipg[1]:.3f} s, peak RSS "
                      f"{tipg[2]:.0f} MB (plus PostgreSQL's)")
    if not tipg:
        print("  TiPg: not run (give --tipg-python)")
    if not args.postgis_twin:  # what the file's structures cost: the same for both stores
        print("\nmemory by structure (MB, RSS growth, one after another in a fresh process):")
        for what, mb in structure_costs(path).items():
            if isinstance(mb, dict):
                print(f"  {what}: " + ", ".join(f"{k} {v:.0f}" for k, v in mb.items()))
            else:
                print(f"  {what}: {mb:.0f}")

    print("\ntargets: /health <= 2 s, first tile <= 0.5 s, peak RSS <= 1 GB"
          + (" (a PostGIS twin)" if args.postgis_twin else ""))
    print(f"  /health: cold {cold['health']:.2f} s, restart {warm['health']:.2f} s"
          + (f", new host {host['health']:.2f} s" if host else "")
          + f"; the import floor {floor:.2f} s"
          + (f"; baseline {base['health']:.2f} s" if base else ""))
    print(f"  app built (/ready, TWIN_WARM=none): cold {cold['ready']:.2f} s, restart "
          f"{warm['ready']:.2f} s" + (f", new host {host['ready']:.2f} s" if host else "")
          + (f"; baseline {base['ready']:.2f} s" if base else ""))
    saved = "saves the index beside the file" if not host else \
        "reads the layer from PostGIS, saves the index locally and in the database"
    print(f"  first parcels tile once built: cold {cold['first_tile']:.3f} s "
          f"({cold['first_tile_cpu']:.2f} s CPU; prepares and {saved}), restart "
          f"{warm['first_tile']:.3f} s ({warm['first_tile_cpu']:.2f} s CPU; the saved index "
          "memory-mapped)")
    if host:
        print(f"  first parcels tile on a new host (empty cache dir): {host['first_tile']:.3f} s "
              f"({host['first_tile_cpu']:.2f} s CPU; the index fetched from the database, "
              "checked and memory-mapped)")
    print(f"  with TWIN_WARM=tiles: /ready {ready['ready']:.2f} s after start, then first "
          f"tile {ready['first_tile']:.3f} s")
    if raster:
        print(f"  first raster tile: cold {cold['first_raster']:.3f} s, restart "
              f"{warm['first_raster']:.3f} s, after /ready {ready['first_raster']:.3f} s")
    print(f"  peak RSS after {len(tiles)} tiles (restart): {warm['rss']:.0f} MB"
          + (f"; new host {host['rss']:.0f} MB" if host else "")
          + (f"; baseline {base['rss']:.0f} MB" if base else ""))
    if base:
        print(f"  baseline first tile {base['first_tile']:.3f} s, first raster tile "
              f"{base.get('first_raster', float('nan')):.3f} s")
    if anchor:
        print(f"  first tile ratio PostGIS/ours (restart): {anchor[0] / warm['first_tile']:.2f}"
              + (f", new host {anchor[0] / host['first_tile']:.2f}" if host else ""))
    if tipg:
        print(f"  first tile ratio TiPg/ours (restart): {tipg[1] / warm['first_tile']:.2f}; "
              f"peak RSS ours/TiPg: {warm['rss'] / tipg[2]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
