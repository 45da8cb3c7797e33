"""The command-line verbs that bring a region's own data into a twin.

* ``twin new MANIFEST.yaml --out FILE.gpkg [--force]`` builds a twin from the files its
  manifest names (``twin.assembly``) and reports what it did, layer by layer;
* ``twin import LAYER FILE --twin T [--map twin_col=src_col ...]`` adds or replaces a layer;
* ``twin score ingest FILE.csv --twin T [--upsert]`` ingests observations through the
  score's own validation, the one ``POST /score/observations`` runs.

:func:`add_commands` registers them on the parser of ``twin.cli``, which owns ``main``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import InvalidArgument

__all__ = ["add_commands"]


def _pairs(items, what: str) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidArgument(f"{what} {item!r} is not KEY=VALUE: write e.g. "
                                  f"{'name=NAME_EN' if what == '--map' else 'accuracy=real'}")
        out[key.strip()] = value.strip()
    return out


def _cmd_new(args) -> int:
    from .assembly import new_twin

    def progress(line):
        print(line, file=sys.stderr, flush=True)

    tw, report = new_twin(args.manifest, args.out, force=args.force, progress=progress)
    print("\n".join(report.lines()))
    print(f"wrote {tw!r} -> {args.out}")
    print(f"next: twin serve --twin {args.out}   (or twin info / twin score --twin ...)")
    return 0


def _cmd_import(args) -> int:
    from .assembly import import_layer
    from .model import Twin

    tw = Twin.open(args.twin)
    had = args.layer in tw
    rep = import_layer(tw, args.layer, args.file, columns=_pairs(args.map, "--map") or None,
                       id=args.id, layer=args.file_layer, lon=args.lon, lat=args.lat,
                       crs=args.crs, source=args.source or Path(args.file).name,
                       synthetic=args.synthetic, set=_pairs(args.set, "--set") or None,
                       repair=args.repair)
    tw.save(args.twin)
    verb = "replaced" if had else "added"
    print(f"{verb} layer {args.layer!r}: {len(tw[args.layer]):,} rows from "
          f"{Path(args.file).name} -> {args.twin}")
    for note in rep.notes:
        print(f"  - {note}")
    for name in tw.derived_layers:
        from .derived import inputs_of

        if args.layer in inputs_of(name):
            print(f"  - {name} derived again from the new layer")
    return 0


def _cmd_score_ingest(args) -> int:
    from .model import Twin
    from .score.files import read_observations

    if not getattr(args, "twin", None):
        raise InvalidArgument("twin score ingest needs --twin FILE: the twin file to ingest "
                              "into (the default twin's cache is no place for your data)")
    tw = Twin.open(args.twin)
    score = tw.score
    report = score.ingest(read_observations(args.file, score.registry), upsert=args.upsert)
    print(f"ingested {report.added:,} new and {report.replaced:,} replaced observation(s) of "
          f"{len(report.indicators)} indicator(s) into {args.twin}")
    ranking = score.ranking()
    print(f"ranked {len(ranking)} units; region score {score.region_score:.1f}/100; best: "
          f"{ranking['name'].iloc[0]}")
    if score.left_out:
        print(f"left out of the composite (no observations): {', '.join(score.left_out)}")
    return 0


def add_commands(sub, score_sub) -> None:
    """Register ``new`` and ``import`` on the top-level subparsers ``sub`` and ``ingest``
    on the ``score`` subparsers ``score_sub``."""
    n = sub.add_parser("new", help="build a twin from a region's own files (a manifest)")
    n.add_argument("manifest", help="the manifest (YAML): see README, 'Your region, your data'")
    n.add_argument("--out", required=True, help="the twin file to write (.gpkg)")
    n.add_argument("--force", action="store_true",
                   help="replace --out even if it holds scenarios, plan changes, observations "
                   "or rasters of a user (or is not a twin file)")
    n.set_defaults(func=_cmd_new)

    i = sub.add_parser("import", help="add or replace a layer of a twin from a file")
    i.add_argument("layer", help="layer name, e.g. settlements, project_sites, wells")
    i.add_argument("file", help="GeoJSON, GeoPackage, zipped Shapefile, GeoParquet or CSV "
                   "with lon/lat columns")
    i.add_argument("--twin", required=True, help="the twin file to change")
    i.add_argument("--map", action="append", metavar="TWIN_COL=SRC_COL",
                   help="take twin column TWIN_COL from the file's SRC_COL (repeatable); with "
                   "any --map only the mapped columns come in")
    i.add_argument("--id", help="the file's column that identifies a row (default: the "
                   "file's id column, else ids made from the names)")
    i.add_argument("--set", action="append", metavar="COL=VALUE",
                   help="a constant column for every row, e.g. accuracy=real (repeatable)")
    i.add_argument("--file-layer", help="the layer inside a GeoPackage or zip")
    i.add_argument("--lon", help="a CSV's longitude column")
    i.add_argument("--lat", help="a CSV's latitude column")
    i.add_argument("--crs", help="the CRS of a CSV's coordinates, or of a file without one")
    i.add_argument("--source", help="where the data came from, with its licence (default: "
                   "the file's name)")
    i.add_argument("--synthetic", action="store_true", help="mark the rows as made up")
    i.add_argument("--repair", action="store_true",
                   help="repair invalid geometries with make_valid (reported)")
    i.set_defaults(func=_cmd_import)

    g = score_sub.add_parser("ingest", help="ingest observations from a CSV (validated as "
                             "POST /score/observations is)")
    g.add_argument("file", help="CSV: unit_id, indicator, month, value[, unit][, source]"
                   "[, synthetic]")
    # SUPPRESS, as for forecast: `twin score --twin T ingest FILE` keeps the --twin given
    # before the verb
    g.add_argument("--twin", default=argparse.SUPPRESS, help="the twin file to ingest into")
    g.add_argument("--upsert", action="store_true",
                   help="replace values already stored for the same unit, indicator, month")
    g.set_defaults(func=_cmd_score_ingest)
