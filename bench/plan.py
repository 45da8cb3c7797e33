"""Benchmark: plan compliance, land balance and capacity on 1,000,000 parcels, against the
same answers computed the obvious way with ``geopandas.overlay`` / ``sjoin``.

Usage::

    .venv/bin/python bench/plan.py                   # builds the 1M-parcel twin if missing
    .venv/bin/python bench/plan.py --parcels 200000 --twin /tmp/akmola-200k.gpkg
    .venv/bin/python bench/plan.py --twin 1M.gpkg --no-cli   # the in-process steps only

Both sides start from the twin's layers in lon/lat, so reprojection counts on both sides.
Ours: ``twin.plan`` (STRtree queries with ``dwithin``, zones subdivided for point lookups,
intersections only for the candidate pairs). Baseline: reproject with ``to_crs``, buffer the
sites, ``sjoin`` and ``overlay``. The script checks that both give the same answer before it
prints the times and the ratio (baseline / ours).

Then, as a user meets it (unless ``--no-cli``): ``twin plan export`` in a fresh process on
a copy of the twin with no saved plan results (cold: it reads the parcels and saves what
the plan needs of them), the same command again (it reads no parcels), ``twin info`` and
``twin score``: wall and CPU seconds and peak RSS of each process, beside the anchor (the
baseline's total above: the same answers with geopandas, its layers already in memory).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin import Twin  # noqa: E402
from twin.plan import Plan, sanitary_distance_m, saved  # noqa: E402

#: CPU seconds of each baseline step's best run, by name (the anchor of the commands)
CPU: dict[str, float] = {}


def timed(fn, repeat: int, name: str = ""):
    best, out = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        if time.perf_counter() - t < best:
            best, CPU[name] = time.perf_counter() - t, time.process_time() - c
    return best, out


def fresh(path) -> Twin:
    tw = Twin.open(path)
    return tw


# -- ours --------------------------------------------------------------------------------------
def ours_compliance(tw):
    tw._metric.clear()  # cold: reprojection and indexes count
    plan = Plan(tw, "bench")
    f = plan.compliance()
    return plan, f


def ours_balance(tw, plan):
    return plan.land_balance()


def ours_capacity(tw, plan):
    return plan.capacity_summary()


# -- the obvious way ---------------------------------------------------------------------------
def base_compliance(tw):
    crs = tw.analysis_crs
    regs = Plan(tw, "bench-base").regulations()  # the same regulations, no plan machinery
    sites = tw["project_sites"].to_crs(crs)
    zones = tw["zones"].to_crs(crs)
    pa = tw["protected_areas"].to_crs(crs)
    water = tw.water(metric=True)
    st = tw["settlements"].to_crs(crs)
    parcels = tw["parcels"]
    res = parcels[parcels["land_use"] == "residential"].to_crs(crs)
    rows = []
    z = gpd.sjoin(sites, zones[["zone_type", "geometry"]], how="left", predicate="within")
    z = z[~z.index.duplicated()]
    for r in z.itertuples():
        if pd.isna(r.zone_type):
            rows.append((r.id, "outside_plan"))
        elif r.sector and not regs[r.zone_type].permits(r.sector):
            rows.append((r.id, "zone_use"))
    for r in gpd.sjoin(sites, pa[["geometry"]], predicate="within").itertuples():
        rows.append((r.id, "protected_area"))
    near = gpd.sjoin_nearest(sites, water[["geometry"]], distance_col="d")
    near = near[~near.index.duplicated()]
    for r in near.itertuples():
        if r.d <= regs.water_strip_m:
            rows.append((r.id, "water_strip"))
        elif r.d <= regs.water_zone_m:
            rows.append((r.id, "water_zone"))
    d = sanitary_distance_m(sites["hazard_class"], regs)
    buf = sites[d > 0][["id", "geometry"]].copy()
    buf["geometry"] = buf.buffer(d[d > 0], quad_segs=32)
    hit = gpd.overlay(
        res[["id", "geometry"]].rename(columns={"id": "pid"}),
        buf,
        how="intersection",
        keep_geom_type=True,
    )
    hit = hit[hit.area > 0]
    pop = gpd.sjoin(st[["population", "geometry"]], buf, predicate="within")
    # the plan's residential zones count as housing too, from one square metre per site
    rz = zones[zones["zone_type"] == "residential"][["geometry"]]
    zhit = gpd.overlay(rz, buf, how="intersection", keep_geom_type=True)
    zone_m2 = zhit.assign(m2=zhit.area).groupby("id")["m2"].sum()
    for s in sorted(set(hit["id"]) | set(pop["id"]) | set(zone_m2[zone_m2 >= 1.0].index)):
        rows.append((s, "sanitary_zone"))
    return pd.DataFrame(rows, columns=["site_id", "rule"])


def base_balance(tw):
    crs = tw.analysis_crs
    zones = tw["zones"].to_crs(crs)[["zone_type", "geometry"]]
    d = tw["districts"].to_crs(crs)[["id", "geometry"]].rename(columns={"id": "district_id"})
    ov = gpd.overlay(zones, d, how="intersection", keep_geom_type=True)
    ov["area_ha"] = ov.area / 1e4
    return ov.groupby(["district_id", "zone_type"])["area_ha"].sum()


def base_capacity(tw):
    crs = tw.analysis_crs
    regs = Plan(tw, "bench-base").regulations()
    p = tw["parcels"].to_crs(crs)
    pts = gpd.GeoDataFrame(
        p[["district_id", "area_ha"]], geometry=p.representative_point(), crs=crs
    )
    j = gpd.sjoin(
        pts, tw["zones"].to_crs(crs)[["zone_type", "geometry"]], how="left", predicate="within"
    )
    j = j[~j.index.duplicated()]
    far = j["zone_type"].map({z: regs[z].max_far for z in regs}).fillna(0.0)
    j["max_floor_area_m2"] = j["area_ha"] * 1e4 * far
    return j.groupby(["district_id", "zone_type"])["max_floor_area_m2"].sum()


# -- the commands, each in a fresh process -----------------------------------------------------
def run_cli(args: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB) of one ``twin`` run."""
    twin_cli = Path(sys.executable).with_name("twin")
    t = time.perf_counter()
    proc = subprocess.Popen([str(twin_cli), *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"twin {' '.join(args)} failed ({proc.returncode}): {err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def cli_runs(path: Path) -> list[tuple[str, tuple[float, float, float]]]:
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as d:
        copy = Path(d) / path.name
        shutil.copyfile(path, copy)  # no saved plan results: the first run is cold
        rasters = Path(f"{path}.rasters")
        if rasters.is_dir():
            shutil.copytree(rasters, f"{copy}.rasters")
        out = str(Path(d) / "plan.gpkg")
        export = ["plan", "export", "--twin", str(copy), "--out", out]
        rows = [("twin plan export, cold (reads parcels, saves results)", run_cli(export)),
                ("twin plan export, second run", run_cli(export)),
                ("twin plan report, after them", run_cli(
                    ["plan", "report", "--twin", str(copy), "--out", str(Path(d) / "r")])),
                ("twin info", run_cli(["info", "--twin", str(copy)])),
                ("twin score", run_cli(["score", "--twin", str(copy)]))]
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parcels", type=int, default=1_000_000)
    ap.add_argument("--twin", help="twin file (default: the cached default twin of that size)")
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs (default 1)")
    ap.add_argument("--no-cli", action="store_true",
                    help="skip the `twin plan`, `twin info` and `twin score` processes")
    args = ap.parse_args(argv)

    from twin.default import build_default, default_twin_path

    path = Path(args.twin) if args.twin else default_twin_path(args.parcels)
    if not path.is_file():
        print(f"building the default twin with {args.parcels:,} parcels -> {path}", flush=True)
        t = time.perf_counter()
        build_default(out=path, parcels=args.parcels)
        print(f"  built in {time.perf_counter() - t:.1f} s", flush=True)
    # first, while this process holds nothing: the commands as a user runs them
    cli = [] if args.no_cli else cli_runs(path)
    # The steps in this process measure the computation: they neither use nor write the
    # plan results saved beside a twin (twin/plan/saved.py).
    saved.results_dir = lambda tw: None
    t = time.perf_counter()
    tw = fresh(path)
    print(f"opened {tw!r} in {time.perf_counter() - t:.1f} s (not counted below)", flush=True)
    n = len(tw["parcels"])

    t_oc, (plan, f) = timed(lambda: ours_compliance(tw), args.repeat)
    t_ob, lb = timed(lambda: ours_balance(tw, plan), args.repeat)
    t_op, cap = timed(lambda: ours_capacity(tw, plan), args.repeat)
    # the capacity step above reused nothing from compliance except the plan's zones
    t_bc, bf = timed(lambda: base_compliance(tw), args.repeat, "compliance")
    t_bb, blb = timed(lambda: base_balance(tw), args.repeat, "balance")
    t_bp, bcap = timed(lambda: base_capacity(tw), args.repeat, "capacity")

    # same answers?
    ours_pairs = set(map(tuple, f[["site_id", "rule"]].values))
    base_pairs = set(map(tuple, bf.values))
    assert ours_pairs == base_pairs, (sorted(ours_pairs ^ base_pairs))[:10]
    ob = lb.set_index(["district_id", "zone_type"])["area_ha"]
    ob = ob[ob > 0]
    # overlay slivers along district edges: agree to 0.01 ha per zone
    assert np.allclose(
        ob.sort_index(), blb.reindex(ob.sort_index().index).fillna(0), rtol=1e-6, atol=0.01
    )
    oc = cap.set_index(["district_id", "zone_type"])["max_floor_area_m2"].sort_index()
    assert np.allclose(oc, bcap.reindex(oc.index).fillna(0), rtol=1e-9)

    rows = [
        ("compliance (233 sites vs zones, parks, water, settlements, parcels)", t_oc, t_bc),
        ("land balance (zones x districts)", t_ob, t_bb),
        ("capacity (parcel -> zone -> FAR, by district & zone)", t_op, t_bp),
    ]
    rows.append(("total", sum(r[1] for r in rows), sum(r[2] for r in rows)))
    print(
        f"\nplan on {n:,} parcels, {len(tw['project_sites'])} sites, "
        f"{len(tw['zones'])} zones; best of {args.repeat}; same answers on both sides "
        f"({len(f)} findings)"
    )
    print(f"{'step':<70} {'ours s':>8} {'baseline s':>11} {'ratio':>7}")
    for name, a, b in rows:
        print(f"{name:<70} {a:>8.2f} {b:>11.2f} {b / a:>6.1f}x")
    if cli:
        anchor = sum(CPU[k] for k in ("compliance", "balance", "capacity"))
        print(f"\nthe commands, each a fresh process on a copy of the twin (load average "
              f"{os.getloadavg()[0]:.1f}); anchor: the baseline's total above in CPU seconds, "
              f"{anchor:.2f} s (geopandas, its layers already in memory); "
              "ratio = anchor / the command's CPU s")
        print(f"{'command':<58} {'wall s':>7} {'CPU s':>7} {'peak RSS MB':>12} {'ratio':>7}")
        for name, (wall, cpu, peak) in cli:
            print(f"{name:<58} {wall:>7.2f} {cpu:>7.2f} {peak:>12.0f} {anchor / cpu:>6.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
