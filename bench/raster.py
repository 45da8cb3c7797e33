"""Benchmark: raster PNG tiles, ours against rio-tiler reading the same COG directly.

Run: ``.venv/bin/python bench/raster.py [--twin PATH] [--per-zoom 12] [--zooms 6-12]
[--titiler-python PY] [--starts 3] [--start-only]``

Without ``--twin`` it builds the default Akmola twin (with its rasters) into a temporary
folder. rio-tiler reads the same COG we serve, the WebMercatorQuad copy ``NAME.web.tif``;
the last row also times it on the equal-area original, reprojecting per tile, which is what
the copy saves. The same tile list (every tile over the raster up to ``--per-zoom`` per zoom, a
seeded sample beyond) is drawn by:

- **ours, cold**: ``layers.raster_tiles.RasterTileSource`` with no PNG cached and the
  dataset opened afresh for each tile (a server's first request for that tile);
- **rio-tiler, cold**: ``with Reader(cog): tile(); rescale(); render(colormap)`` per tile;
- **ours, miss (open reader)** vs **rio-tiler, open reader**: the read-and-draw work alone,
  datasets kept open, nothing cached: the like-for-like ratio of our overhead;
- **ours, warm**: the same tiles again (the PNG LRU keyed by file version answers), against
  **rio-tiler, warm** (an open reader; rio-tiler keeps no tile cache, so it redraws);
- **HTTP cold/warm**: the full route on a real uvicorn server on loopback (started in a
  thread with the protocol ``twin serve`` uses), fetched with one keep-alive httpx client.

"Cold" here means no dataset handle and no cached tile; the OS page cache is warm after the
first pass, as on a server that has been up for a while. Percentiles are per tile, in ms.

First, **the first tile after a start** (issue 16), ``--starts`` times each, alternating:
``twin serve`` as a deployment starts it with ``TWIN_WARM=none`` (so the first request pays
whatever is not done while the app is built), and TiTiler (``titiler.core``'s
``TilerFactory`` in a FastAPI app under uvicorn, its documented minimal application) run by
``--titiler-python`` (a Python where ``titiler.core`` and ``uvicorn`` are installed; by
default this one). Each server is a fresh process; once it answers (ours: ``/ready``, the
app built; TiTiler: ``/docs``), the same z8 PNG tile of the same tile COG, with the same
colormap and range, is fetched once and timed, then a second tile; in every other start a
request for a path no route answers comes first, so that FastAPI has built its routes
(it does so on the first request that reaches a router). The server's CPU seconds during
the request are read from ``/proc``, steadier than wall time on a shared machine.
``--baseline CHECKOUT`` starts ``twin serve`` from other code too (main before a change).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# affine 3 deprecates `*`, which rasterio and rio-tiler still use inside: not our doing.
warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module="affine")


def tile_list(bounds, zooms, per_zoom: int, seed: int = 0) -> list[tuple[int, int, int]]:
    import mercantile

    rng = np.random.default_rng(seed)
    out = []
    for z in zooms:
        tiles = list(mercantile.tiles(*bounds, zooms=z))
        if len(tiles) > per_zoom:
            tiles = [tiles[i] for i in sorted(rng.choice(len(tiles), per_zoom, replace=False))]
        out += [(t.z, t.x, t.y) for t in tiles]
    return out


def timed(fn, items) -> np.ndarray:
    """Per-item (wall ms, CPU ms): on a shared machine the CPU time is the steadier one."""
    ms = []
    for it in items:
        t0, c0 = time.perf_counter(), time.thread_time()
        fn(*it)
        ms.append(((time.perf_counter() - t0) * 1e3, (time.thread_time() - c0) * 1e3))
    return np.array(ms)


@contextlib.contextmanager
def serve(app):
    """uvicorn on a free loopback port, in a thread, as `twin serve` runs it."""
    import socket
    import threading

    import uvicorn

    from api.head_timeout import http_protocol
    from api.settings import Settings

    proto = http_protocol(Settings().header_timeout)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", **({"http": proto} if proto else {}))
    server = uvicorn.Server(config)
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        t.join(10)
        sock.close()


def bench_raster(tw, info, tiles, client) -> list[tuple[str, np.ndarray, np.ndarray]]:
    from rio_tiler.colormap import cmap
    from rio_tiler.io import Reader

    from layers.raster_tiles import RasterTileSource

    cm = cmap.get(info.colormap)

    def rio_png(r, z, x, y):
        img = r.tile(x, y, z, tilesize=256)
        img.rescale(in_range=((info.vmin, info.vmax),))
        return img.render(img_format="PNG", colormap=cm)

    served = str(info.tiles_path)  # the COG tiles are read from (NAME.web.tif)

    def rio_cold(z, x, y):
        with Reader(served) as r:
            return rio_png(r, z, x, y)

    def rio_cold_analysis(z, x, y):  # the equal-area original, reprojected per tile
        from rio_tiler.errors import TileOutsideBounds

        with Reader(str(info.path)) as r:
            try:
                return rio_png(r, z, x, y)
            except TileOutsideBounds:  # rio-tiler's own footprint test on the LAEA grid
                return b""

    def ours_cold(z, x, y):
        src = RasterTileSource()
        try:
            return src.png(info, z, x, y)
        finally:
            src.close()

    keep = RasterTileSource(cache_bytes=0)  # open reader, nothing cached

    def ours_miss(z, x, y):
        return keep.png(info, z, x, y)

    reader = Reader(served)

    def rio_open(z, x, y):
        return rio_png(reader, z, x, y)

    warm = RasterTileSource()
    for t in tiles:
        warm.png(info, *t)

    def ours_warm(z, x, y):
        return warm.png(info, z, x, y)

    def http(z, x, y):
        r = client.get(f"/raster/{info.name}/{z}/{x}/{y}.png")
        assert r.status_code == 200, r.text
        return r.content

    rows = [
        ("cold (fresh dataset, no cache)", timed(ours_cold, tiles), timed(rio_cold, tiles)),
        ("miss, open reader (like for like)", timed(ours_miss, tiles), timed(rio_open, tiles)),
        ("warm (repeat request)", timed(ours_warm, tiles), timed(rio_open, tiles)),
    ]
    http_cold = timed(http, tiles)  # first request of each tile in this app: a cache miss
    http_warm = timed(http, tiles)
    rows.append(("HTTP cold (uvicorn) vs rio-tiler cold", http_cold, rows[0][2]))
    rows.append(("HTTP warm (uvicorn) vs rio-tiler warm", http_warm, rows[2][2]))
    rows.append(("ours cold vs rio-tiler cold on the original", rows[0][1],
                 timed(rio_cold_analysis, tiles)))
    reader.close()
    keep.close()
    warm.close()
    # Same pixels? ours and rio-tiler's own rendering of one tile, decoded.
    import io

    from PIL import Image

    z, x, y = tiles[len(tiles) // 2]
    with Reader(served) as r:
        a = np.asarray(Image.open(io.BytesIO(rio_png(r, z, x, y))).convert("RGBA"))
    b = np.asarray(Image.open(io.BytesIO(ours_cold(z, x, y))).convert("RGBA"))
    seen = (a[..., 3] > 0) | (b[..., 3] > 0)  # transparent pixels' RGB is not an image
    same = float((a[seen] == b[seen]).all(axis=-1).mean()) if seen.any() else 1.0
    print(f"  tile {z}/{x}/{y}: same alpha as rio-tiler's own render on "
          f"{(a[..., 3] == b[..., 3]).mean():.2%} of pixels, same RGBA on {same:.2%} of "
          f"the {int(seen.sum())} visible ones")
    return rows


def _inside(src, info, t) -> bool:
    from twin.raster import OutsideRaster

    try:
        src.data(info, *t)
    except OutsideRaster:
        return False
    return True


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--twin", help="a twin file with rasters (default: build the default twin)")
    p.add_argument("--zooms", default="6-12", help="zoom range, e.g. 6-12")
    p.add_argument("--per-zoom", type=int, default=12, help="max tiles per zoom")
    p.add_argument("--titiler-python", default=sys.executable,
                   help="a Python with titiler.core and uvicorn (default: this one)")
    p.add_argument("--starts", type=int, default=3,
                   help="server starts each for the first tile after a start (0: skip)")
    p.add_argument("--start-only", action="store_true",
                   help="measure only the first tile after a start")
    p.add_argument("--baseline", metavar="CHECKOUT",
                   help="also start `twin serve` from this checkout (e.g. main before a "
                        "change, `git archive main | tar -x -C DIR`), in the same run")
    args = p.parse_args(argv)

    import twin

    with tempfile.TemporaryDirectory(prefix="bench-raster-") as tmp:
        if args.twin:
            path = Path(args.twin)
        else:
            path = Path(tmp) / "akmola.gpkg"
            t0 = time.perf_counter()
            twin.build_default(out=path)
            print(f"built the default twin with rasters in {time.perf_counter() - t0:.1f} s")
        if args.starts:
            first_after_start(path, args)
        if not args.start_only:
            run(path, args)
    return 0


# -- the first tile after a start -------------------------------------------------------------
_TITILER_APP = """\
from fastapi import FastAPI
from titiler.core.factory import TilerFactory

app = FastAPI()
app.include_router(TilerFactory().router, prefix="/cog")
"""


def _cpu_seconds(pid: int) -> float:
    """CPU seconds the threads of process ``pid`` have run, in nanoseconds' resolution
    (``/proc/PID/task/*/schedstat``; ``/proc/PID/stat`` counts 10 ms clock ticks)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that just ended
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def _start(cmd: list[str], cwd: Path, env: dict, ready_url: str):
    """Start a server process; return it and the seconds until ``ready_url`` answers 200."""
    import httpx

    log = tempfile.TemporaryFile()  # a pipe nobody reads could fill and stall the server
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=log)
    while True:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"{cmd[:4]} exited: {log.read().decode(errors='replace')}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(ready_url, trust_env=False, timeout=30).status_code == 200:
                return proc, time.perf_counter() - t0
        time.sleep(0.02)


def _first_two(proc, base: str, urls: list[str], prime: str | None = None
               ) -> list[tuple[float, float]]:
    """(wall s, server CPU s) of each URL's first fetch, on one keep-alive connection;
    after one request for ``prime`` (a path no route answers) when given."""
    import httpx

    out = []
    with httpx.Client(base_url=base, trust_env=False, timeout=60) as c:
        if prime:
            c.get(prime)
        for url in urls:
            c0, t0 = _cpu_seconds(proc.pid), time.perf_counter()
            r = c.get(url)
            wall, cpu = time.perf_counter() - t0, _cpu_seconds(proc.pid) - c0
            if r.status_code != 200 or r.headers["content-type"] != "image/png":
                raise RuntimeError(f"{base}{url}: {r.status_code} {r.text[:300]}")
            out.append((wall, cpu))
    return out


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def first_after_start(path: Path, args) -> None:
    """Ours against TiTiler: the first PNG tile of a freshly started server, and its second."""
    import mercantile

    from bench.tiles import free_port
    from twin import Twin
    from twin.raster import get_raster, list_rasters

    tw = Twin.open(path)
    info = get_raster(tw, list_rasters(tw)[0].name)
    w, s, e, n = info.bounds
    t1 = mercantile.tile((w + e) / 2, (s + n) / 2, 8)
    t2 = mercantile.tile((w + e) / 2, (s + n) / 2, 9)
    probe = subprocess.run([args.titiler_python, "-c", "import titiler.core, uvicorn; "
                            "print(titiler.core.__version__)"], capture_output=True, text=True)
    if probe.returncode != 0:
        print(f"first tile after a start: skipped, {args.titiler_python} has no titiler.core "
              "(make a venv: python -m venv V && V/bin/pip install titiler.core uvicorn, "
              "then --titiler-python V/bin/python)")
        return
    ours_urls = [f"/raster/{info.name}/{t.z}/{t.x}/{t.y}.png" for t in (t1, t2)]
    query = (f"?url={info.tiles_path}&bidx=1&rescale={info.vmin},{info.vmax}"
             f"&colormap_name={info.colormap}")
    titiler_urls = [f"/cog/tiles/WebMercatorQuad/{t.z}/{t.x}/{t.y}.png{query}"
                    for t in (t1, t2)]
    servers = {"ours": ROOT, **({"baseline": Path(args.baseline)} if args.baseline else {})}
    rows: dict[tuple[str, bool], list] = {}
    with tempfile.TemporaryDirectory(prefix="bench-titiler-") as tmp:
        (Path(tmp) / "titiler_app.py").write_text(_TITILER_APP)
        for _, primed in itertools.product(range(args.starts), (False, True)):
            for who in [*servers, "titiler"]:
                port = free_port()
                base = f"http://127.0.0.1:{port}"
                if who == "titiler":
                    cmd = [args.titiler_python, "-m", "uvicorn", "titiler_app:app", "--host",
                           "127.0.0.1", "--port", str(port), "--log-level", "warning",
                           "--no-access-log"]
                    where, env, ready, urls = Path(tmp), {}, "/docs", titiler_urls
                else:
                    cmd = [sys.executable, "-m", "twin.cli", "serve", "--twin", str(path),
                           "--host", "127.0.0.1", "--port", str(port)]
                    where, ready, urls = servers[who], "/ready", ours_urls
                    env = {"TWIN_WARM": "none", "TWIN_ACCESS_LOG": "false"}
                proc, up = _start(cmd, where, {**env, "NO_PROXY": "127.0.0.1"}, base + ready)
                try:
                    prime = "/cog/no-such-route" if who == "titiler" else "/no-such-route"
                    rows.setdefault((who, primed), []).append(
                        (up, *_first_two(proc, base, urls, prime if primed else None)))
                finally:
                    _stop(proc)
    print(f"\nfirst tile after a start: {info.name} z{t1.z}/{t1.x}/{t1.y}, then "
          f"z{t2.z}/{t2.x}/{t2.y}; titiler.core {probe.stdout.strip()}; {args.starts} "
          f"starts each, median (min-max); load average {os.getloadavg()[0]:.1f}")
    med = {}
    labels = {"ours": "twin serve", "baseline": "twin serve --baseline", "titiler": "TiTiler"}
    for (who, primed), got in rows.items():
        label = labels[who] + (", routes built" if primed else "")
        a = np.array([(up, f[0], f[1], s2[0]) for up, f, s2 in got])
        med[who, primed] = m = np.median(a, axis=0)
        lo, hi = a.min(axis=0) * 1e3, a.max(axis=0) * 1e3
        print(f"  {label:<36} up after {m[0]:5.2f} s; first tile {m[1] * 1e3:6.1f} ms "
              f"({lo[1]:.0f}-{hi[1]:.0f}), server CPU {m[2] * 1e3:5.0f} ms "
              f"({lo[2]:.0f}-{hi[2]:.0f}); second tile {m[3] * 1e3:5.1f} ms")
    for other in ("titiler", "baseline"):
        for primed in (False, True):
            if (other, primed) in med:
                o, r = med["ours", primed], med[other, primed]
                print(f"  ratio ours / {labels[other]}{', routes built' if primed else ''}, "
                      f"first tile: {o[1] / r[1]:.2f} by wall time, "
                      f"{o[2] / max(r[2], 1e-9):.2f} by server CPU")
    print("  (routes built: one request for a path no route answers came first. FastAPI "
          f"{_fastapi_version()} builds an included router's routes on the first request "
          "that reaches it; TiTiler's first tile pays that for its many routes.)")


def _fastapi_version() -> str:
    import fastapi

    return fastapi.__version__

def run(path: Path, args) -> None:
    import httpx

    import twin
    from api.app import create_app
    from api.settings import Settings
    from layers.raster_tiles import RasterTileSource
    from twin.raster import list_rasters

    tw = twin.Twin.open(path)
    lo, hi = (int(v) for v in args.zooms.split("-"))
    import rasterio
    import rio_tiler

    print(f"rasterio {rasterio.__version__} (GDAL {rasterio.__gdal_version__}), "
          f"rio-tiler {rio_tiler.__version__}")
    with serve(create_app(Settings(twin_path=path))) as base, httpx.Client(
            base_url=base, trust_env=False) as client:
        for info in list_rasters(tw):
            info = twin.raster.get_raster(tw, info.name)
            tiles = tile_list(info.bounds, range(lo, hi + 1), args.per_zoom)
            # Edge tiles of the lon/lat box can miss the raster's own footprint: drop them.
            probe = RasterTileSource()
            tiles = [t for t in tiles if _inside(probe, info, t)]
            probe.close()
            print(f"\n{info.name}: {info.width}x{info.height} cells, {len(tiles)} tiles, "
                  f"zooms {lo}-{hi}")
            print(f"  {'wall ms per tile':<42} {'ours p50':>8} {'p95':>7} {'rio p50':>8} "
                  f"{'p95':>7} {'ratio p50':>9} {'p95':>5} | {'CPU p50 ours':>12} "
                  f"{'rio':>6} {'ratio':>5}")
            for label, ours, ref in bench_raster(tw, info, tiles, client):
                o50, o95 = np.percentile(ours[:, 0], [50, 95])
                r50, r95 = np.percentile(ref[:, 0], [50, 95])
                oc, rc = np.percentile(ours[:, 1], 50), np.percentile(ref[:, 1], 50)
                # Over HTTP the work runs in the server's threads: no client-side CPU figure.
                cpu = (f"{'-':>12} {rc:6.2f} {'-':>5}" if label.startswith("HTTP") else
                       f"{oc:12.2f} {rc:6.2f} {oc / rc if rc else float('nan'):5.2f}")
                print(f"  {label:<42} {o50:8.2f} {o95:7.2f} {r50:8.2f} {r95:7.2f} "
                      f"{o50 / r50:9.2f} {o95 / r95:5.2f} | {cpu}")
    print("\nratio = ours / rio-tiler (below 1: ours is faster); CPU = the timing thread's "
          "CPU time, steadier than wall time on a shared machine.")


if __name__ == "__main__":
    sys.exit(main())
