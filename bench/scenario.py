"""Benchmark: scenario evaluation on the default twin with 1,000,000 parcels.

Prints, side by side in one run:

1. the baseline preparation (once per twin: the plan's compliance indexes, the zone type of
   every parcel, the parcel point index);
2. the full evaluation of a six-edit scenario from that baseline (target <= 2 s);
3. one further edit and the evaluation again (target <= 100 ms), for a project edit and for
   a rezone;
4. the naive full recompute of the same scenarios (``evaluate(fresh=True)``: every index
   rebuilt from the layers, every parcel re-typed, every site re-checked), and the ratios.

The incremental and the naive results are compared number by number; the bench fails if
they differ.

Usage::

    .venv/bin/python bench/scenario.py [--parcels 1000000] [--twin PATH] [--repeat 5]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _t(fn, repeat=1):
    out, times = None, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def _same(a: dict, b: dict) -> list[str]:
    bad = []
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, float) and isinstance(y, float):
            if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6):
                bad.append(f"{k}: {x} != {y}")
        elif x != y:
            bad.append(f"{k}: {x} != {y}")
    return bad


def build_scenario(tw, sid="bench"):
    """Six edits: move the aluminium plant, add two plants, rezone a square around one,
    loosen the industrial FAR, reweight the score."""
    import shapely

    from twin.scenario import Scenario

    s = Scenario(tw, sid)
    s.move_project("named-aluminium", 71.30, 51.40)
    s.add_project("alu-east", 71.60, 51.20, "metallurgy", investment_kzt=300_000_000_000,
                  jobs=400, hazard_class="II", area_ha=60)
    s.add_project("groats-2", 69.50, 53.20, "agro-processing", investment_kzt=5_000_000_000,
                  jobs=80, hazard_class="IV", area_ha=5)
    s.rezone(shapely.box(71.55, 51.17, 71.65, 51.23), "industrial", note="site for alu-east")
    s.set_regulation("industrial", "max_far", 1.2)
    s.set_score_weights({"investment": 2.0})
    return s


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parcels", type=int, default=1_000_000)
    ap.add_argument("--twin", type=Path, default=None,
                    help="a twin file to use (default: build the default twin with --parcels)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)

    from twin import Twin
    from twin.scenario import Scenario

    path = args.twin
    if path is None or not path.is_file():
        from twin.default import build_default

        path = path or Path("/tmp/aqmola-bench") / f"akmola-p{args.parcels}.gpkg"
        print(f"building the default twin with {args.parcels:,} parcels into {path} ...",
              flush=True)
        _, t = _t(lambda: build_default(out=path, parcels=args.parcels))
        print(f"  built in {t:.1f} s")
    tw, t_open = _t(lambda: Twin.open(path))
    print(f"twin: {path} ({len(tw['parcels']):,} parcels, "
          f"{len(tw['project_sites'])} project sites); opened in {t_open:.1f} s")

    _, t_base = _t(lambda: Scenario(tw, "warmup").rezone(
        __import__("shapely").box(71.0, 51.0, 71.001, 51.001), "reserve"))
    print(f"baseline preparation (once per twin, incl. parcel point index): {t_base:.2f} s")

    s, t_full = _t(lambda: (lambda s: (s.evaluate(), s)[1])(build_scenario(tw)),
                   args.repeat)
    ev = s.evaluate()

    def one_more_project():
        s.add_project("extra", 70.0, 52.0, "agro-processing", investment_kzt=10**9, jobs=20,
                      hazard_class="IV")
        e = s.evaluate()
        s.undo()
        return e

    def one_more_rezone():
        import shapely

        s.rezone(shapely.box(69.45, 53.18, 69.55, 53.22), "industrial", note="extra")
        e = s.evaluate()
        s.undo()
        return e

    _, t_edit = _t(one_more_project, args.repeat)
    _, t_edit_rz = _t(one_more_rezone, args.repeat)
    fresh, t_naive = _t(lambda: s.evaluate(fresh=True), max(1, args.repeat // 2))

    def naive_plus_one():
        s.add_project("extra", 70.0, 52.0, "agro-processing", investment_kzt=10**9, jobs=20,
                      hazard_class="IV")
        e = s.evaluate(fresh=True)
        s.undo()
        return e

    _, t_naive1 = _t(naive_plus_one, 1)

    bad = _same(ev.summary().to_dict(), fresh.summary().to_dict())
    print()
    print(f"{'measure':<46}{'incremental':>12}{'naive':>10}{'ratio':>9}{'target':>9}")
    for label, a, b, target in (
        ("full evaluation, 6 edits (s)", t_full, t_naive, 2.0),
        ("one further project edit + evaluate (s)", t_edit, t_naive1, 0.1),
        ("one further rezone + evaluate (s)", t_edit_rz, t_naive1, 0.1),
    ):
        ok = "ok" if a <= target else "MISSED"
        print(f"{label:<46}{a:>12.3f}{b:>10.2f}{b / a:>8.0f}x{target:>7.2f} {ok}")
    print()
    print("summary (incremental):", ev.summary())
    if bad:
        print("MISMATCH between incremental and naive:", bad)
        return 1
    print("incremental == naive on every summary figure")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
