"""Benchmark: ingest one observation into the default twin and get the new ranking.

Measured side by side in the same run, on a copy of the default twin's file (the cached twin
is never modified):

* **incremental**: ``tw.score.ingest(one observation)`` then ``tw.score.ranking()``; the
  score recomputes only the touched indicator's panel column and normalisation, then the
  aggregates.
* **full recompute** (the anchor): what a non-incremental score does for the same
  observation: rebuild the score from the observation table (``Score(tw)``), then rank.
* **full from arrays**: recompute every indicator from the already-pivoted arrays
  (``Score.recompute()``), a stricter anchor that isolates the cost of the maths alone.

Each is timed both in memory (``persist=False``) and end to end, with the durable SQLite
commit (``synchronous=FULL``) that a real ingest makes; the commit alone is timed too, since
on a slow or shared disk its fsyncs dominate both durable paths. Medians over ``--repeat``
runs.

Then the region's forecasts (``tw.score.forecasts``, kept per data version):

* a bare ``GET /score/forecast`` answered from the kept set, over HTTP from a ``twin serve``
  subprocess on loopback (target: <= 50 ms p50);
* a **full refit** of every series after an ingest (what a cache keyed on the whole data
  would do: the anchor), against
* a **refit of the affected series** only (what the keeper does: one series per
  observation); the ratio of the two is printed.

Usage: ``.venv/bin/python bench/score.py [--twin PATH] [--repeat 50] [--refits 3]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin import Twin  # noqa: E402
from twin.score import Score  # noqa: E402
from twin.score.observations import validate  # noqa: E402


def _obs(sc: Score, k: int) -> dict:
    # Revise the latest month of one unit's wage: a typical live correction, and one that
    # really moves the ranking. A different unit and value every time.
    unit = sc.units[k % len(sc.units)]
    return {"unit_id": unit, "indicator": "avg_wage", "month": "2025-08",
            "value": 300.0 + (k * 37) % 250, "unit": "thousand KZT", "source": "bench"}


def _median_ms(f, repeat: int) -> float:
    times = []
    for k in range(repeat):
        t0 = time.perf_counter()
        f(k)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_forecast_http(path: Path, repeat: int) -> tuple[float, float, float, int]:
    """p50 and p95 of a bare GET /score/forecast from the kept set over HTTP, the first
    (fitting) request's time, and the answer's size."""
    import httpx

    port = _free_port()
    env = {**os.environ, "TWIN_ACCESS_LOG": "false"}
    twin_cli = Path(sys.executable).with_name("twin")
    proc = subprocess.Popen([str(twin_cli), "serve", "--twin", str(path), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, trust_env=False, timeout=300) as c:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if c.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("twin serve did not start")
                time.sleep(0.2)
            t0 = time.perf_counter()
            first = c.get("/score/forecast")
            cold = time.perf_counter() - t0
            assert first.status_code == 200 and first.json()["complete"], first.text[:200]
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                r = c.get("/score/forecast")
                times.append(time.perf_counter() - t0)
                assert r.status_code == 200
        q = statistics.quantiles(times, n=20)
        return 1000 * statistics.median(times), 1000 * q[-1], cold, len(first.content)
    finally:
        proc.terminate()
        proc.wait(10)


def bench_refits(path: Path, refits: int) -> tuple[float, float, int, int]:
    """Median seconds of a full refit of every series after an ingest, and of a refit of
    the affected series only; series counts of each."""
    tw = Twin.open(path)
    sc = tw.score
    keeper = sc.forecasts
    latest = keeper.current()
    full, part, n_part = [], [], 0
    for k in range(refits):
        obs = _obs(sc, 1000 + k)
        sc.ingest(obs, upsert=True, persist=False)
        snap = sc.snapshot()
        t0 = time.perf_counter()
        everything = keeper.build(snap, None)  # the anchor: nothing reused
        full.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        affected = keeper.build(snap, latest)
        part.append(time.perf_counter() - t0)
        n_part = len(affected.refitted)
        assert everything.result.kpi.equals(affected.result.kpi), "reuse changed a forecast"
        latest = affected
    return statistics.median(full), statistics.median(part), latest.n_series, n_part


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--twin", help="twin file (default: the default twin)")
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--refits", type=int, default=3,
                    help="full refits to time (each fits every series; seconds apiece)")
    args = ap.parse_args(argv)

    if args.twin:
        src = Path(args.twin)
    else:
        from twin.default import load_default

        default = load_default()
        if default.path is None:  # pragma: no cover - load_default always saves
            raise SystemExit("the default twin has no file")
        src = default.path
    work = Path(tempfile.mkdtemp(prefix="bench-score-"))
    path = work / "twin.gpkg"
    shutil.copy(src, path)
    tw = Twin.open(path)
    sc = tw.score
    sc.ranking()
    n_obs = len(sc.observations)
    r = args.repeat

    def incremental_mem(k):
        sc.ingest(_obs(sc, k), upsert=True, persist=False)
        sc.ranking()

    def incremental_durable(k):
        sc.ingest(_obs(sc, k), upsert=True)
        sc.ranking()

    def full_mem(k):
        sc.cube.write(validate(_obs(sc, k), sc.registry, sc.units))
        Score(tw).ranking()

    def full_durable(k):
        rec = validate(_obs(sc, k), sc.registry, sc.units)
        sc._persist(rec, upsert=True)
        sc.cube.write(rec)
        Score(tw).ranking()

    def arrays_mem(k):
        sc.cube.write(validate(_obs(sc, k), sc.registry, sc.units))
        sc.recompute()
        sc.ranking()

    def commit_only(k):
        sc._persist(validate(_obs(sc, k), sc.registry, sc.units), upsert=True)

    # Warm every path once (imports, caches), then measure.
    for f in (incremental_mem, full_mem, arrays_mem, incremental_durable, full_durable,
              commit_only):
        f(0)
    inc_m = _median_ms(incremental_mem, r)
    full_m = _median_ms(full_mem, r)
    arr_m = _median_ms(arrays_mem, r)
    inc_d = _median_ms(incremental_durable, r)
    full_d = _median_ms(full_durable, r)
    commit = _median_ms(commit_only, r)

    # The incremental result must equal a full recompute of the same data.
    fresh = Score(Twin.open(path))
    same = bool((fresh.ranking()["rank"] == sc.ranking()["rank"]).all())

    print(f"score bench: {len(sc.units)} units x {len(sc.registry.ids)} indicators, "
          f"{n_obs:,} observations, median of {r} runs ({path})")
    print(f"{'':38} {'in memory':>11} {'durable':>11}")
    print(f"{'incremental ingest + ranking':38} {inc_m:9.3f}ms {inc_d:9.3f}ms")
    print(f"{'full recompute from observations':38} {full_m:9.3f}ms {full_d:9.3f}ms")
    print(f"{'full recompute from arrays (maths only)':38} {arr_m:9.3f}ms")
    print(f"speed-up vs full recompute: {full_m / inc_m:.1f}x in memory, "
          f"{full_d / inc_d:.1f}x durable (target >= 10x)")
    print(f"speed-up vs full-from-arrays: {arr_m / inc_m:.1f}x")
    print(f"of the durable times, the fsync'd SQLite commit alone takes {commit:.3f}ms "
          "(the same on both paths)")
    print(f"incremental ranking equals a fresh full recompute of the saved file: {same}")

    p50, p95, cold, size = bench_forecast_http(path, max(args.repeat, 100))
    print(f"bare GET /score/forecast over HTTP from the kept set: p50 {p50:.2f} ms, "
          f"p95 {p95:.2f} ms ({size / 1e3:.0f} kB; target p50 <= 50 ms); the first request, "
          f"which fits every series, took {cold:.1f} s")
    full, part, n_all, n_part = bench_refits(path, args.refits)
    print(f"refit after an ingest of one observation, median of {args.refits}: "
          f"every series ({n_all}) {full:.2f} s, the affected series ({n_part}) only "
          f"{1000 * part:.1f} ms")
    print(f"speed-up of refitting only the affected series: {full / part:.0f}x")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if same and p50 <= 50 else 1


if __name__ == "__main__":
    sys.exit(main())
