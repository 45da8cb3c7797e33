"""Benchmark: a CQL2-filtered items query against the same query as ``?column=value``.

Both select the same parcels of the default twin (50,000 by default) and return the same
page, on one real uvicorn server (uvloop + httptools, no access log), under ``wrk``:

* **equality** (the anchor): ``/collections/parcels/items?land_use=industrial&limit=100``;
* **CQL2 text**: ``...?filter=land_use = 'industrial'&limit=100``;
* **CQL2 JSON**: the same filter as ``{"op": "=", ...}`` with ``filter-lang=cql2-json``.

The same pairs are run for a selective value (``district_id``) and, for reference, a
richer filter that ``?column=value`` cannot express (a range, a list and a spatial test).
Rounds alternate the queries so that drift on a shared machine hits both sides alike; the
ratio is the median of the per-round ratios. The target is that the filter costs no more
than 1.5x the equality query (a ratio of 0.67 or more).

Usage: ``.venv/bin/python bench/filter.py [--twin PATH] [--duration 5] [--rounds 3]``
(needs Debian's ``wrk``; falls back to a sequential httpx loop without it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._proc import stop  # noqa: E402
from bench.tiles import free_port, wait_http  # noqa: E402  (one copy of each)

ITEMS = "/collections/parcels/items"


def wrk_rate(url: str, duration: int, conns: int) -> float:
    out = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{duration}s", url],
                         capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"non-2xx answers for {url}:\n{out}")
    return float(next(ln for ln in out.splitlines() if ln.startswith("Requests/sec")
                      ).split()[1])


def loop_rate(url: str, duration: int) -> float:
    import httpx

    n, t0 = 0, time.perf_counter()
    with httpx.Client(trust_env=False) as c:
        while time.perf_counter() - t0 < duration:
            assert c.get(url).status_code == 200
            n += 1
    return n / (time.perf_counter() - t0)


def cql2_json(column: str, value: str) -> str:
    return orjson.dumps({"op": "=", "args": [{"property": column}, value]}).decode()


def queries(tw) -> list[tuple[str, str, str]]:
    """(name, equality path, filtered path) pairs with identical answers."""
    out = []
    for column, value in (("land_use", "industrial"), ("district_id", "akkol")):
        eq = f"{ITEMS}?{column}={quote(value)}&limit=100"
        text = f"{ITEMS}?filter={quote(f'{column} = {value!r}')}&limit=100"
        js = f"{ITEMS}?filter={quote(cql2_json(column, value))}&filter-lang=cql2-json&limit=100"
        out += [(f"{column}: CQL2 text", eq, text), (f"{column}: CQL2 JSON", eq, js)]
    minx, miny, maxx, maxy = tw.layer("parcels").total_bounds
    rich = (f"land_use IN ('residential', 'industrial') AND area_ha BETWEEN 0.5 AND 2 AND "
            f"S_INTERSECTS(geometry, BBOX({minx}, {miny}, {(minx + maxx) / 2}, {maxy}))")
    out.append(("richer filter (no ?column=value form)", f"{ITEMS}?land_use=residential"
                "&limit=100", f"{ITEMS}?filter={quote(rich)}&limit=100"))
    return out


def check_same(base: str, pairs) -> None:
    import httpx

    with httpx.Client(trust_env=False) as c:
        for name, eq, flt in pairs[:-1]:
            a, b = c.get(base + eq).json(), c.get(base + flt).json()
            ids = ([f["id"] for f in a["features"]], [f["id"] for f in b["features"]])
            assert a["numberMatched"] == b["numberMatched"] and ids[0] == ids[1], name


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--twin", type=Path, help="twin file (default: the cached default twin)")
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=8)
    args = ap.parse_args(argv)

    import twin
    from twin.default import default_twin_path

    path = args.twin or default_twin_path()
    if not Path(path).exists():
        twin.load_default()
    tw = twin.Twin.open(path)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(TWIN_TWIN_PATH=str(path), TWIN_ACCESS_LOG="false")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host",
         "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
         "--no-access-log", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/health", proc, timeout=180)
        pairs = queries(tw)
        check_same(base, pairs)
        use_wrk = shutil.which("wrk") is not None

        def rate(p: str) -> float:
            return (wrk_rate(base + p, args.duration, args.connections) if use_wrk
                    else loop_rate(base + p, args.duration))

        for _, eq, flt in pairs:  # warm every path once
            rate(eq), rate(flt)
        print(f"filter bench: {len(tw.layer('parcels'))} parcels, pages of 100, "
              f"{'wrk -c' + str(args.connections) if use_wrk else 'httpx loop'}, "
              f"{args.rounds} rounds of {args.duration}s")
        print(f"{'query':42} {'?column=value':>14} {'filter':>10} {'ratio':>7}")
        worst = float("inf")
        for name, eq, flt in pairs:
            eqs, flts, ratios = [], [], []
            for _ in range(args.rounds):
                a, b = rate(eq), rate(flt)
                eqs.append(a), flts.append(b), ratios.append(b / a)
            r = statistics.median(ratios)
            print(f"{name:42} {statistics.median(eqs):10.0f}/s {statistics.median(flts):8.0f}/s"
                  f" {r:7.2f}")
            if not name.startswith("richer"):
                worst = min(worst, r)
        verdict = "meets" if worst >= 1 / 1.5 else "MISSES"
        print(f"worst filter/equality throughput ratio {worst:.2f} ({verdict} the target: "
              f"filter no slower than 1.5x, i.e. ratio >= 0.67)")
        return 0 if worst >= 1 / 1.5 else 1
    finally:
        stop(proc)


if __name__ == "__main__":
    raise SystemExit(main())
