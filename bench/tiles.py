"""Vector-tile benchmark: our tiles against PostGIS ST_AsMVT (cold) and nginx (warm).

Run::

    .venv/bin/python bench/tiles.py                 # builds the 1,000,000-parcel twin once
    .venv/bin/python bench/tiles.py --twin FILE --duration 10

What it does, all in one run so that the ratios compare like with like:

1. data: the default twin with 1,000,000 parcels (``build_default(parcels=1_000_000)``)
   and a list of tiles over z8–z16, drawn at random parcels (so weighted to where the
   parcels are), the same number per zoom.
2. encoders: our NumPy encoder, ``mapbox_vector_tile.encode`` and ``vtzero`` (if
   installed) on the same clipped, tile-space features of a sample of the tiles.
3. cold: every tile rendered once, no cache, one thread, by :func:`render_tile`; and by
   PostGIS ``ST_AsMVT``/``ST_AsMVTGeom`` (Debian's postgresql-15-postgis-3, started here
   on a Unix socket in a temp dir, as the ``postgres`` user when run as root) on the same
   parcels with a GiST index, the same extent, buffer, properties and over-dense policy
   (``ORDER BY area DESC LIMIT max_features``), one connection.
4. warm: our server (uvicorn + uvloop + httptools, one worker, cache pre-filled) and nginx
   (one worker) serving the same tile bytes as static files, each loaded by ``wrk`` on
   loopback for a bounded time with the same connections and path list.

It is not part of the test suite. Needs: psycopg (pip), postgresql-15-postgis-3, gdal-bin
(ogr2ogr loads the parcels into PostGIS), nginx, wrk.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._proc import stop  # noqa: E402
from layers.tile_math import ORIGIN, lonlat_to_mercator, tile_bounds  # noqa: E402
from layers.vector_tiles import EXTENT, render_tile, tile_layer  # noqa: E402

PG_BIN = Path("/usr/lib/postgresql/15/bin")
LAYER = "parcels"


def machine() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()
    return (f"{cpu}; {os.cpu_count()} cores; {mem:.0f} GiB; {platform.platform()}; "
            f"Python {platform.python_version()}; GEOS {shapely.geos_version_string}; "
            f"load average at start {load[0]:.1f}")


# -- data ----------------------------------------------------------------------------------
def tile_list(tw, n_per_zoom: int, zooms=range(8, 17), seed: int = 8) -> list[tuple]:
    """Tiles at random parcels' centroids: weighted to where the parcels are."""
    rng = random.Random(seed)
    g = np.asarray(tw.layer(LAYER).geometry.values)
    c = shapely.get_coordinates(shapely.centroid(g))
    mx, my = lonlat_to_mercator(c[:, 0], c[:, 1])
    out = []
    for z in zooms:
        size = 2 * ORIGIN / (1 << z)
        seen = set()
        tries = 0
        while len(seen) < n_per_zoom and tries < n_per_zoom * 50:
            i = rng.randrange(len(c))
            seen.add((z, int((mx[i] + ORIGIN) // size), int((ORIGIN - my[i]) // size)))
            tries += 1
        out += sorted(seen)
    return out


# -- encoders ------------------------------------------------------------------------------
def clipped(prep, z, x, y):
    """The tile-space features our pipeline hands to an encoder (steps 1-3)."""
    settings = tile_layer(LAYER)
    minx, miny, maxx, maxy = tile_bounds(z, x, y)
    size = maxx - minx
    pad = size * settings.buffer / EXTENT
    box = (minx - pad, miny - pad, maxx + pad, maxy + pad)
    idx = prep.query(box)
    cap = settings.max_features
    if len(idx) > cap:
        idx = idx[np.argpartition(-prep.rank[idx], cap - 1)[:cap]]
    idx.sort()
    g = shapely.clip_by_rect(prep.geometries(idx), *box)
    s = EXTENT / size
    g = shapely.transform(g, lambda c: np.column_stack([(c[:, 0] - minx) * s,
                                                       (maxy - c[:, 1]) * s]))
    keep = ~shapely.is_empty(g)
    return idx[keep], g[keep]


def bench_encoders(tw, prep, tiles, sample: int) -> None:
    import mapbox_vector_tile

    from layers.mvt import encode_layer

    gdf = tw.layer(LAYER)
    props = [c for c in tile_layer(LAYER).properties if c in gdf.columns]
    cols = {c: gdf[c].to_numpy() for c in props}
    work = [clipped(prep, *t) for t in tiles[:sample]]
    work = [(i, g) for i, g in work if len(i)]
    nfeat = sum(len(i) for i, _ in work)
    print(f"\nencoders on {len(work)} tiles, {nfeat:,} features (geometry already clipped):")

    def ours():
        for idx, g in work:
            encode_layer(LAYER, g, rows=idx, columns=prep.columns, ids=prep.ids[idx])

    def mvt():
        for idx, g in work:
            feats = [{"geometry": gg, "id": int(prep.ids[i]),
                      "properties": {c: cols[c][i].item() if hasattr(cols[c][i], "item")
                                     else cols[c][i] for c in props}}
                     for i, gg in zip(idx, g, strict=True)]
            mapbox_vector_tile.encode([{"name": LAYER, "features": feats}],
                                      default_options={"y_coord_down": True,
                                                       "quantize_bounds": None})

    def vtz():
        from vtzero.tile import Layer, Polygon, Tile

        for idx, g in work:
            tile = Tile()
            layer = Layer(tile, LAYER.encode())
            for i, gg in zip(idx, g, strict=True):
                f = Polygon(layer)
                rings = 0
                for poly in getattr(gg, "geoms", [gg]):
                    for ring in [poly.exterior, *poly.interiors]:
                        pts = np.rint(np.asarray(ring.coords)).astype(int)
                        # vtzero aborts the process on a zero-length segment: drop repeats.
                        pts = pts[np.r_[True, np.any(pts[1:] != pts[:-1], axis=1)]]
                        if len(pts) < 4:
                            continue
                        f.add_ring(len(pts))
                        for px, py in pts:
                            f.set_point(int(px), int(py))
                        rings += 1
                if not rings:
                    f.rollback()
                    continue
                f.set_id(int(prep.ids[i]))
                for c in props:  # vtzero's Python API takes only byte strings
                    f.add_property(c.encode(), str(cols[c][i]).encode())
                f.commit()
            tile.serialize()

    runs = [("numpy (ours)", ours), ("mapbox-vector-tile", mvt)]
    try:
        import vtzero.tile  # noqa: F401

        runs.append(("vtzero (string props only)", vtz))
    except ImportError:
        print("  vtzero: not installed (pip install vtzero) - skipped")
    base = None
    for name, fn in runs:
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        base = base or dt
        print(f"  {name:<28} {len(work) / dt:9.1f} tiles/s  {nfeat / dt:12,.0f} features/s"
              f"  ({dt / base:5.1f}x ours' time)")


# -- cold: ours and PostGIS ----------------------------------------------------------------
def bench_ours_cold(prep, tiles) -> tuple[float, dict]:
    settings = tile_layer(LAYER)
    out = {}
    for t in tiles[:5]:  # warm the code paths, not a cache (there is none here)
        render_tile(prep, LAYER, settings, *t)
    t0, c0 = time.perf_counter(), time.process_time()
    for t in tiles:
        out[t] = render_tile(prep, LAYER, settings, *t)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"cold, ours: {cpu:.1f} CPU s for {len(tiles)} tiles "
          f"({len(tiles) / max(cpu, 1e-3):.1f} tiles per CPU second)")
    return len(tiles) / dt, out


def _as_postgres(cmd: list[str], **kw):
    # PostgreSQL refuses to run as root; run its tools as the postgres user instead.
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


@contextlib.contextmanager
def postgis(workdir: Path):
    data, sock = workdir / "pgdata", workdir / "pgsock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        shutil.chown(sock, "postgres")
    _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8"])
    _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(workdir / "pg.log"),
                  "-o", f"-k {sock} -c listen_addresses='' -c fsync=off "
                        "-c shared_buffers=1GB -c jit=off -c max_parallel_workers_per_gather=0",
                  "start"])
    try:
        yield str(sock)
    finally:
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"])


def load_postgis(sock: str, twin_path: Path) -> float:
    import psycopg

    t0 = time.perf_counter()
    with psycopg.connect(host=sock, dbname="postgres", user="postgres", autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    subprocess.run(
        ["ogr2ogr", "-f", "PostgreSQL", f"PG:host={sock} dbname=postgres user=postgres",
         str(twin_path), LAYER, "-nln", "parcels_src", "-lco", "GEOMETRY_NAME=geom",
         "-lco", "SPATIAL_INDEX=NONE", "-lco", "FID=fid", "--config", "PG_USE_COPY", "YES"],
        check=True, capture_output=True)
    with psycopg.connect(host=sock, dbname="postgres", user="postgres", autocommit=True) as c:
        c.execute("""
            CREATE TABLE parcels AS
            SELECT id, district_id, land_use, area_ha, synthetic,
                   ST_Transform(geom, 3857) AS geom
            FROM parcels_src""")
        c.execute("ALTER TABLE parcels ADD COLUMN rank double precision")
        c.execute("UPDATE parcels SET rank = ST_Area(geom)")
        c.execute("CREATE INDEX ON parcels USING gist (geom)")
        c.execute("VACUUM ANALYZE parcels")
    return time.perf_counter() - t0


def postgis_tile_sql() -> str:
    """PostGIS's tile of the parcels (psycopg parameters z, x, y), by our tile settings."""
    s = tile_layer(LAYER)
    # The id is both the MVT feature id and a property in our tiles: select it twice.
    cols = ", ".join(c for c in s.properties if c != "source")
    props, mprops = f"id AS mvt_fid, {cols}", f"mvt_fid, {cols}"
    sql = f"""
        WITH b AS (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env,
                          ST_TileEnvelope(%(z)s, %(x)s, %(y)s,
                                          margin => {s.buffer / EXTENT}) AS benv),
        cand AS (SELECT {props}, geom FROM parcels, b WHERE geom && b.benv
                 ORDER BY rank DESC LIMIT {s.max_features}),
        m AS (SELECT {mprops}, ST_AsMVTGeom(cand.geom, b.env, {EXTENT}, {s.buffer}, true)
                     AS geom FROM cand, b)
        SELECT ST_AsMVT(m.*, '{LAYER}', {EXTENT}, 'geom', 'mvt_fid') FROM m"""
    return sql


def bench_postgis_cold(sock: str, tiles) -> tuple[float, float, dict]:
    import psycopg

    sql = postgis_tile_sql()
    out = {}
    with psycopg.connect(host=sock, dbname="postgres", user="postgres") as c:
        c.execute("SET jit = off")
        for z, x, y in tiles[:5]:
            c.execute(sql, {"z": z, "x": x, "y": y}).fetchone()
        backend = c.execute("SELECT pg_backend_pid()").fetchone()[0]
        t0, c0 = time.perf_counter(), cpu_seconds(backend)
        for z, x, y in tiles:
            out[(z, x, y)] = bytes(c.execute(sql, {"z": z, "x": x, "y": y}).fetchone()[0] or b"")
        dt, cpu = time.perf_counter() - t0, cpu_seconds(backend) - c0
        print(f"cold, PostGIS: {cpu:.1f} CPU s of its backend for {len(tiles)} tiles "
              f"({len(tiles) / max(cpu, 1e-3):.1f} tiles per CPU second)")
        return len(tiles) / dt, cpu, out


def push_twin(sock: str, twin_path: Path) -> str:
    """``twin push`` the twin file into the cluster at ``sock``; returns the twin's URL."""
    url = f"postgresql://postgres@/postgres?host={sock}&schema=twin"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "twin.cli", "push", str(twin_path), url],
                   check=True, cwd=ROOT, capture_output=True)
    print(f"twin push into PostGIS: {time.perf_counter() - t0:.1f} s")
    return url


def bench_postgis_twin_cold(sock: str, twin_path: Path, tiles, workdir: Path
                            ) -> tuple[float, float, dict]:
    """Cold tiles of a PostGIS twin as a client gets them: ``twin push`` the twin into
    the cluster, serve it with ``twin serve --twin postgresql://...``, and ask for each
    tile once (every answer a cache miss), one keep-alive connection, gzip off.

    Returns (tiles/s, the server's CPU seconds over those requests, the tiles)."""
    import httpx

    url = push_twin(sock, twin_path)
    port = free_port()
    env = {**os.environ, "TWIN_ACCESS_LOG": "false", "NO_PROXY": "*",
           "TWIN_TILE_CACHE_BYTES": str(4 * 2**30)}
    log = open(workdir / "serve-postgis.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "serve", "--twin", url, "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        t0 = time.perf_counter()
        wait_http(f"http://127.0.0.1:{port}/health", proc, timeout=1800)
        print(f"twin serve of the PostGIS twin, up: {time.perf_counter() - t0:.1f} s")
        out = {}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False,
                          timeout=600, headers={"Accept-Encoding": "identity"}) as c:
            # Warm the code paths and the layer's preparation (Web Mercator, STRtree),
            # as the other two cold runs do, on tiles not in the list: the list's own
            # tiles must all be misses.
            prime = [(z - 1, x // 2, y // 2) for z, x, y in tiles[:5]]
            for z, x, y in (t for t in prime if t not in set(tiles)):
                c.get(f"/tiles/{LAYER}/{z}/{x}/{y}.mvt").raise_for_status()
            c0, t0 = cpu_seconds(proc.pid), time.perf_counter()
            for z, x, y in tiles:
                r = c.get(f"/tiles/{LAYER}/{z}/{x}/{y}.mvt")
                r.raise_for_status()
                out[(z, x, y)] = r.content
            dt, cpu = time.perf_counter() - t0, cpu_seconds(proc.pid) - c0
        return len(tiles) / dt, cpu, out
    finally:
        stop(proc, 20)
        log.close()


def compare_contents(ours: dict, theirs: dict, n: int = 40) -> None:
    import mapbox_vector_tile

    same = differ = 0
    for t in list(ours)[:: max(1, len(ours) // n)]:
        a = mapbox_vector_tile.decode(ours[t]) if ours[t] else {}
        b = mapbox_vector_tile.decode(theirs[t]) if theirs[t] else {}
        ia = {f["id"] for f in a.get(LAYER, {}).get("features", [])}
        ib = {f["id"] for f in b.get(LAYER, {}).get("features", [])}
        if ia == ib:
            same += 1
        else:
            differ += 1
            print(f"  tile {t}: ours {len(ia)} features, PostGIS {len(ib)}, "
                  f"{len(ia ^ ib)} differ")
    print(f"  same feature ids as PostGIS in {same} of {same + differ} sampled tiles")


def twin_to_measure(path, parcels: int):
    """``path``, or the default twin with ``parcels`` parcels (built on first use)."""
    if path is not None:
        return path
    from twin.default import build_default, default_twin_path

    path = default_twin_path(parcels=parcels)
    if not path.exists():
        print(f"building the default twin with {parcels:,} parcels -> {path}")
        build_default(out=path, parcels=parcels)
    return path


# -- warm: our server and nginx under wrk -------------------------------------------------
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants (from /proc)."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except (OSError, IndexError):
        pass  # the process ended meanwhile
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
        with contextlib.suppress(httpx.TransportError):
            httpx.get(url, trust_env=False, timeout=5)
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def wrk(url: str, paths: list[str], workdir: Path, duration: int, conns: int) -> float:
    script = workdir / "paths.lua"
    lines = ",\n".join(f'"{p}"' for p in paths)
    script.write_text(
        f"local paths = {{\n{lines}\n}}\nlocal i = 0\n"
        "request = function()\n  i = i % #paths + 1\n"
        "  return wrk.format('GET', paths[i])\nend\n")
    out = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    non2xx = [ln for ln in out.splitlines() if "Non-2xx" in ln or "errors" in ln.lower()]
    if non2xx:
        print("  wrk:", "; ".join(non2xx))
    return float(next(ln for ln in out.splitlines() if ln.startswith("Requests/sec")
                      ).split()[1])


_BARE: dict[str, bytes] = {}


async def bare_app(scope, receive, send):
    """The ceiling for any Python tile server on uvicorn: a bare ASGI app answering from a
    dict of the same tile bytes (``--bare``). Not a design, a yardstick."""
    if not _BARE:
        root = Path(os.environ["BARE_ROOT"])
        _BARE.update({"/" + str(p.relative_to(root)): p.read_bytes()
                      for p in root.rglob("*.mvt")})
    body = _BARE.get(scope["path"], b"")
    await send({"type": "http.response.start", "status": 200 if body else 404,
                "headers": [(b"content-type", b"application/vnd.mapbox-vector-tile"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _uvicorn(target: list[str], port: int, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *target, "--host", "127.0.0.1", "--port", str(port),
         "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level",
         "warning", "--workers", "1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def bench_warm(twin_path: Path, tiles, data: dict, workdir: Path, duration: int, conns: int,
               fast_path: bool, bare: bool, rounds: int) -> dict[str, float]:
    import httpx

    paths = [f"/tiles/{LAYER}/{z}/{x}/{y}.mvt" for (z, x, y) in tiles if data[(z, x, y)]]
    # nginx: the same bytes as static files.
    root = workdir / "www"
    for (z, x, y) in tiles:
        if data[(z, x, y)]:
            p = root / "tiles" / LAYER / str(z) / str(x) / f"{y}.mvt"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data[(z, x, y)])
    nport = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    types {{ application/vnd.mapbox-vector-tile mvt; }}
    client_body_temp_path {workdir}/nginx-tmp;
    server {{
        listen 127.0.0.1:{nport};
        root {root};
        location /tiles/ {{ add_header Cache-Control "public, max-age=300"; }}
    }}
}}
""")
    if os.geteuid() == 0:
        for p in [workdir, *workdir.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
    nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(workdir)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    port = free_port()
    env = {**os.environ, "TWIN_TWIN_PATH": str(twin_path),
           "TWIN_TILE_FAST_PATH": "true" if fast_path else "false",
           "TWIN_GC_FREEZE": os.environ.get("TWIN_GC_FREEZE", "true"),
           "TWIN_TILE_CACHE_BYTES": str(4 * 2**30)}
    # The real serve path: `twin serve` (uvicorn with the protocol-level fast path).
    ours = subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "serve", "--twin", str(twin_path), "--port",
         str(port)], cwd=ROOT, env={**env, "TWIN_ACCESS_LOG": "false"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    procs = [nginx, ours]
    rates = {}
    try:
        wait_http(f"http://127.0.0.1:{nport}/", nginx)
        wait_http(f"http://127.0.0.1:{port}/health", ours)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False,
                          timeout=120) as c:
            for p in paths:  # fill the cache: warm means every tile is cached
                r = c.get(p, headers={"Accept-Encoding": "identity"})
                r.raise_for_status()
        urls = {"nginx": f"http://127.0.0.1:{nport}", "ours": f"http://127.0.0.1:{port}"}
        if bare:
            bport = free_port()
            b = _uvicorn(["--app-dir", str(ROOT / "bench"), "tiles:bare_app"], bport,
                         {**os.environ, "BARE_ROOT": str(root)})
            procs.append(b)
            wait_http(f"http://127.0.0.1:{bport}/", b)
            urls["bare ASGI"] = f"http://127.0.0.1:{bport}"
        # Round-robin rounds, median per server: the machine is shared, and a noisy
        # neighbour during one server's only run would decide the ratio.
        runs: dict[str, list[float]] = {k: [] for k in urls}
        for _ in range(rounds):
            for k, u in urls.items():
                runs[k].append(wrk(u, paths, workdir, duration, conns))
        for k, v in runs.items():
            rates[k] = float(np.median(v))
            print(f"  {k}: " + ", ".join(f"{r:.0f}" for r in v) + " requests/s")
        return rates
    finally:
        for p in procs:
            stop(p)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--twin", type=Path, help="twin file (default: build the 1M-parcel twin)")
    ap.add_argument("--parcels", type=int, default=1_000_000)
    ap.add_argument("--per-zoom", type=int, default=25, help="tiles per zoom, z8-z16")
    ap.add_argument("--encoder-sample", type=int, default=40)
    ap.add_argument("--duration", type=int, default=5, help="seconds of wrk per server run")
    ap.add_argument("--rounds", type=int, default=3, help="round-robin wrk rounds")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--no-postgis", action="store_true")
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--postgis-twin", action="store_true",
                    help="also serve the twin from PostGIS (`twin push`, `twin serve --twin "
                         "postgresql://...`) and time its cold tiles over HTTP")
    ap.add_argument("--bare", action="store_true",
                    help="also measure a bare ASGI app on the same bytes (the ceiling)")
    ap.add_argument("--no-gc-freeze", action="store_true",
                    help="serve without gc.freeze() at startup (to measure what it saves)")
    ap.add_argument("--no-fast-path", action="store_true",
                    help="serve warm tiles through FastAPI's router (to measure the fast path)")
    args = ap.parse_args(argv)
    if args.no_gc_freeze:
        os.environ["TWIN_GC_FREEZE"] = "false"

    from twin import Twin

    print("machine:", machine())
    path = twin_to_measure(args.twin, args.parcels)
    tw = Twin.open(path)
    print(f"twin: {path} ({len(tw.layer(LAYER)):,} parcels)")
    tiles = tile_list(tw, args.per_zoom)
    print(f"tiles: {len(tiles)} over z8-z16, at random parcels")

    from layers.tile_index import PreparedLayer

    t0 = time.perf_counter()
    prep = PreparedLayer.build(tw.layer(LAYER), "id", tile_layer(LAYER).properties)
    print(f"prepare (Web Mercator arrays, packed R-tree, encoded columns): "
          f"{time.perf_counter() - t0:.2f} s")

    if args.encoder_sample > 0:
        bench_encoders(tw, prep, tiles, args.encoder_sample)

    ours_rate, ours_tiles = bench_ours_cold(prep, tiles)
    sizes = [len(b) for b in ours_tiles.values()]
    print(f"\ncold, ours:    {ours_rate:8.1f} tiles/s  (mean {np.mean(sizes) / 1024:.0f} KiB, "
          f"max {max(sizes) / 1024:.0f} KiB, {sum(1 for s in sizes if not s)} empty)")
    with tempfile.TemporaryDirectory(prefix="tilebench-") as tmp:
        work = Path(tmp)
        if not args.no_postgis:
            with postgis(work) as sock:
                dt = load_postgis(sock, path)
                print(f"PostGIS load + transform + GiST index: {dt:.1f} s")
                pg_rate, pg_cpu, pg_tiles = bench_postgis_cold(sock, tiles)
                if args.postgis_twin:
                    tw_rate, tw_cpu, tw_tiles = bench_postgis_twin_cold(sock, path, tiles,
                                                                        work)
            pg_sizes = [len(b) for b in pg_tiles.values()]
            print(f"cold, PostGIS: {pg_rate:8.1f} tiles/s  (mean "
                  f"{np.mean(pg_sizes) / 1024:.0f} KiB)")
            print(f"cold ratio ours/PostGIS: {ours_rate / pg_rate:.2f}  (target >= 1.0)")
            compare_contents(ours_tiles, pg_tiles)
            if args.postgis_twin:
                print(f"cold, a PostGIS twin served by `twin serve`, over HTTP: "
                      f"{tw_rate:8.1f} tiles/s  (server CPU {tw_cpu:.1f} s for "
                      f"{len(tiles)} tiles: {len(tiles) / max(tw_cpu, 1e-3):.1f} tiles per "
                      "CPU second)")
                print(f"cold ratio PostGIS twin over HTTP / ST_AsMVT: {tw_rate / pg_rate:.2f}"
                      f" by wall time, {pg_cpu / max(tw_cpu, 1e-3):.2f} by CPU seconds"
                      "  (target >= 1.0)")
                same = sum(tw_tiles[t] == ours_tiles[t] for t in tiles)
                print(f"  the same bytes as render_tile of the file in {same} of "
                      f"{len(tiles)} tiles")
        if not args.no_http:
            print("\nwarm:")
            rates = bench_warm(path, tiles, ours_tiles, work, args.duration,
                               args.connections, not args.no_fast_path, args.bare,
                               args.rounds)
            mode = "FastAPI router" if args.no_fast_path else "fast path"
            mode += ", no gc.freeze" if args.no_gc_freeze else ", gc.freeze"
            print(f"warm ({len([t for t in ours_tiles.values() if t])} non-empty tiles, "
                  f"wrk -t1 -c{args.connections} -d{args.duration}s, keep-alive, median of "
                  f"{args.rounds} round-robin rounds):")
            print(f"  ours ({mode}): {rates['ours']:10.0f} requests/s")
            print(f"  nginx:{'':{len(mode) + 2}} {rates['nginx']:10.0f} requests/s")
            if "bare ASGI" in rates:
                print(f"  bare ASGI app (ceiling): {rates['bare ASGI']:10.0f} requests/s "
                      f"(ratio to nginx {rates['bare ASGI'] / rates['nginx']:.2f})")
            print(f"warm ratio ours/nginx: {rates['ours'] / rates['nginx']:.2f}  "
                  "(target >= 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
