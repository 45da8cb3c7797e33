"""Workers benchmark: items and warm tiles of a PostGIS twin, 2 workers against 1.

Run::

    .venv/bin/python bench/workers.py [--twin FILE] [--duration 5] [--rounds 3]
    .venv/bin/python bench/workers.py --baseline 239d87d   # also an older `twin serve`

All in one run, so the ratios compare like with like. The twin (default: the cached default
twin, built if missing) is pushed into a private PostgreSQL/PostGIS cluster (Debian's
postgresql-15-postgis-3 on a Unix socket in a temp dir), then served several ways, each
loaded by ``wrk`` on loopback with the same connections and paths, round-robin:

* ``1 worker``: ``twin serve``: uvicorn's own HTTP protocol (wrapped by
  api/head_timeout.py), cached tiles answered in plain ASGI in front of the app
  (api/fastpath.py);
* ``2 workers``: ``twin serve --workers 2``, the same in two processes;
* ``1 worker, no head timeout``: ``TWIN_HEADER_TIMEOUT=0``, uvicorn's protocol unwrapped
  (what the request-head timeout costs);
* with ``--baseline REV``: ``twin serve`` of that git revision (``git archive`` into a temp
  dir, run with this venv), one worker. Revisions up to 239d87d answered cached tiles
  inside a subclass of uvicorn's private ``HttpToolsProtocol``; ``1 worker / baseline`` is
  what replacing it with plain ASGI costs.

Paths: items pages of the parcels (``limit=100``, 50 offsets) and the parcels' tiles at
z12-z14 (filled once before the load: warm). Besides requests/s the bench prints the CPU
seconds the server's processes used during each run: on a shared 2-core machine ``wrk``
itself takes most of a core, so 2 workers can only show their gain where a core is free, and
requests per CPU second compare the paths' cost independently of the neighbours' load.
Not part of the test suite. Needs psycopg, postgresql-15-postgis-3 and wrk.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from tiles import cpu_seconds, free_port, machine, postgis, tile_list, wait_http, wrk  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def head_timeout_cost(n: int = 200_000) -> float:
    """Microseconds api/head_timeout.py adds to a request whose head arrives in one read
    (in process, around a protocol that does nothing)."""
    import asyncio

    from api.head_timeout import HeadTimeout

    class Nothing(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            pass

    class Transport:
        def is_closing(self) -> bool:
            return False

    head = (b"GET /tiles/parcels/13/5607/2707.mvt HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
            b"User-Agent: wrk\r\nAccept: */*\r\n\r\n")

    async def run() -> float:
        guard, bare = HeadTimeout(header_timeout=10, inner=Nothing), Nothing()
        guard.connection_made(Transport())  # type: ignore[arg-type]
        took = []
        for proto in (bare, guard):
            t0 = time.process_time()
            for _ in range(n):
                proto.data_received(head)
            took.append(time.process_time() - t0)
        return (took[1] - took[0]) / n * 1e6

    return asyncio.run(run())


def _serve(cmd: list[str], cwd: Path, env: dict, url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "TWIN_TWIN_PATH": url, "TWIN_ACCESS_LOG": "false",
           "TWIN_GC_FREEZE": "true", "NO_PROXY": "*", **env}
    return subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "serve", "--twin", url, "--port", str(port), *cmd],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _baseline_tree(rev: str, work: Path) -> Path:
    """The project at ``rev``, unpacked (read-only for the repository: no worktree)."""
    tree = work / f"baseline-{rev}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--twin", type=Path, help="twin file (default: the cached default twin)")
    ap.add_argument("--duration", type=int, default=5, help="seconds of wrk per run")
    ap.add_argument("--rounds", type=int, default=3, help="round-robin wrk rounds")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--baseline", metavar="REV",
                    help="also serve this git revision's `twin serve`, one worker")
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
        kinds = {"1 worker": ([], ROOT, {}), "2 workers": (["--workers", "2"], ROOT, {}),
                 "1 worker, no head timeout": ([], ROOT, {"TWIN_HEADER_TIMEOUT": "0"})}
        if args.baseline:
            kinds[f"baseline {args.baseline}"] = ([], _baseline_tree(args.baseline, work), {})
        with postgis(work) as sock:
            url = f"postgresql://postgres@/postgres?host={sock}&schema=bench"
            subprocess.run([sys.executable, "-m", "twin.cli", "push", str(tw.path), url],
                           check=True, cwd=ROOT)
            print(f"twin: {tw!r} ({n:,} parcels) pushed to PostGIS; {len(items)} items "
                  f"pages, {len(tile_paths)} tiles at z12-z14; wrk -t1 -c{args.connections} "
                  f"-d{args.duration}s, keep-alive, {args.rounds} round-robin rounds")
            procs, urls = {}, {}
            try:
                for kind, (cmd, cwd, env) in kinds.items():
                    port = free_port()
                    p = procs[kind] = _serve(cmd, cwd, env, url, port)
                    base = f"http://127.0.0.1:{port}"
                    wait_http(base + "/health", p, timeout=600)
                    with httpx.Client(base_url=base, trust_env=False, timeout=120) as c:
                        for _ in range(4):  # each worker's cache: requests spread over them
                            for t in tile_paths:
                                c.get(t, headers={"Accept-Encoding": "identity",
                                                  "Connection": "close"})
                    urls[kind] = base
                for what, paths in (("items", items), ("warm tiles", tile_paths)):
                    runs: dict[str, list[tuple[float, float]]] = {k: [] for k in urls}
                    for _ in range(args.rounds):
                        for k, u in urls.items():
                            c0 = cpu_seconds(procs[k].pid)
                            rate = wrk(u, paths, work, args.duration, args.connections)
                            runs[k].append((rate, cpu_seconds(procs[k].pid) - c0))
                    rate, per_cpu = {}, {}
                    for k, v in runs.items():
                        rate[k] = float(np.median([r for r, _ in v]))
                        per_cpu[k] = float(np.median([r * args.duration / max(c, 1e-3)
                                                      for r, c in v]))
                        print(f"  {what}, {k}: " + ", ".join(
                            f"{r:.0f} req/s ({c:.1f} CPU s)" for r, c in v)
                            + f"; median {rate[k]:.0f} req/s, {per_cpu[k]:.0f} req/CPU s")
                    print(f"{what}: 2 workers / 1 worker = "
                          f"{rate['2 workers'] / rate['1 worker']:.2f} (requests/s)")
                    print(f"{what}: the server's CPU per request, 1 worker: "
                          f"{1e6 / per_cpu['1 worker']:.0f} µs")
                    t = "1 worker, no head timeout"
                    print(f"{what}: 1 worker / {t} = {rate['1 worker'] / rate[t]:.2f} "
                          f"(requests/s), {per_cpu['1 worker'] / per_cpu[t]:.2f} "
                          "(requests per CPU second): what api/head_timeout.py costs")
                    if args.baseline:
                        b = f"baseline {args.baseline}"
                        print(f"{what}: 1 worker / {b} = {rate['1 worker'] / rate[b]:.2f} "
                              f"(requests/s), {per_cpu['1 worker'] / per_cpu[b]:.2f} "
                              "(requests per CPU second)")
                print(f"api/head_timeout.py, in process: {head_timeout_cost():.2f} µs per "
                      "request head (CPU)")
            finally:
                for p in procs.values():
                    p.terminate()
                    try:
                        p.wait(20)
                    except subprocess.TimeoutExpired:
                        p.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
