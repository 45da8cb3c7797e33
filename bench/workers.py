"""Workers benchmark: items and warm tiles of a PostGIS twin, 2 workers against 1.

Run::

    .venv/bin/python bench/workers.py --twin FILE [--duration 5] [--rounds 3]

All in one run, so the ratios compare like with like. The twin (default: the cached default
twin, built if missing) is pushed into a private PostgreSQL/PostGIS cluster (Debian's
postgresql-15-postgis-3 on a Unix socket in a temp dir), then served three ways, each
loaded by ``wrk`` on loopback with the same connections and paths, round-robin:

* ``twin serve`` with one worker: uvicorn with the tile shortcut inside its HTTP protocol
  (api/fastpath.py, which subclasses uvicorn's private ``HttpToolsProtocol``);
* uvicorn's own protocol with one worker (``--workers 1`` of uvicorn's factory mode, what
  ``twin serve --workers N`` runs): only supported mechanisms, cached tiles answered by
  the ASGI-level fast path. Its ratio to the first is what dropping the protocol shortcut
  costs;
* ``twin serve --workers 2``: the same, two processes.

Paths: items pages of the parcels (``limit=100``, 50 offsets) and the parcels' tiles at
z12-z14 (filled once before the load: warm). Not part of the test suite. Needs psycopg,
postgresql-15-postgis-3 and wrk.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from tiles import free_port, machine, postgis, tile_list, wait_http, wrk  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _serve(kind: str, url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "TWIN_TWIN_PATH": url, "TWIN_ACCESS_LOG": "false",
           "TWIN_GC_FREEZE": "true"}
    if kind == "protocol":
        cmd = ["-m", "twin.cli", "serve", "--twin", url, "--port", str(port)]
    elif kind == "plain":
        cmd = ["-m", "uvicorn", "api.app:create_app", "--factory", "--workers", "1",
               "--port", str(port), "--no-access-log", "--log-level", "warning",
               "--no-proxy-headers"]
    else:
        cmd = ["-m", "twin.cli", "serve", "--twin", url, "--port", str(port), "--workers", "2"]
    return subprocess.Popen([sys.executable, *cmd], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--twin", type=Path, help="twin file (default: the cached default twin)")
    ap.add_argument("--duration", type=int, default=5, help="seconds of wrk per run")
    ap.add_argument("--rounds", type=int, default=3, help="round-robin wrk rounds")
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args(argv)

    from twin import Twin
    from twin.default import default_twin_path, load_default

    path = args.twin or default_twin_path()
    tw = Twin.open(path) if path.exists() else load_default(progress=True)
    print(machine())
    tiles = tile_list(tw, 20, zooms=range(12, 15))
    n = len(tw.layer("parcels"))
    items = [f"/collections/parcels/items?limit=100&offset={o}"
             for o in np.linspace(0, max(n - 100, 0), 50).astype(int)]
    tile_paths = [f"/tiles/parcels/{z}/{x}/{y}.mvt" for z, x, y in tiles]
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        work = Path(tmp)
        with postgis(work) as sock:
            url = f"postgresql://postgres@/postgres?host={sock}&schema=bench"
            subprocess.run([sys.executable, "-m", "twin.cli", "push", str(tw.path), url],
                           check=True, cwd=ROOT)
            print(f"twin: {tw!r} pushed to PostGIS")
            procs, urls = [], {}
            try:
                for kind in ("protocol", "plain", "workers2"):
                    port = free_port()
                    p = _serve(kind, url, port)
                    procs.append(p)
                    base = f"http://127.0.0.1:{port}"
                    wait_http(base + "/health", p, timeout=600)
                    with httpx.Client(base_url=base, trust_env=False, timeout=120) as c:
                        for _ in range(4):  # each worker's cache: requests spread over them
                            for t in tile_paths:
                                c.get(t, headers={"Accept-Encoding": "identity",
                                                  "Connection": "close"})
                    urls[kind] = base
                for what, paths in (("items", items), ("warm tiles", tile_paths)):
                    runs: dict[str, list[float]] = {k: [] for k in urls}
                    for _ in range(args.rounds):
                        for k, u in urls.items():
                            runs[k].append(wrk(u, paths, work, args.duration,
                                               args.connections))
                    rate = {k: float(np.median(v)) for k, v in runs.items()}
                    for k, v in runs.items():
                        print(f"  {what}, {k}: " + ", ".join(f"{r:.0f}" for r in v)
                              + " requests/s")
                    print(f"{what}: 2 workers / 1 worker (same protocol) = "
                          f"{rate['workers2'] / rate['plain']:.2f}; uvicorn's protocol / the "
                          f"protocol shortcut (1 worker) = {rate['plain'] / rate['protocol']:.2f}")
            finally:
                for p in procs:
                    p.terminate()
                    try:
                        p.wait(20)
                    except subprocess.TimeoutExpired:
                        p.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
