"""The ``twin tiles`` verbs: static tile archives of a twin's layers.

* ``twin tiles export LAYER --twin T --out FILE.pmtiles [--minzoom Z] [--maxzoom Z]
  [--workers N]``
  writes the layer's vector tiles, as the live ``/tiles`` endpoint serves them, into one
  PMTiles v3 archive for a CDN or any static host (``layers.pmtiles_export``).

:func:`add_commands` registers them on the parser of ``twin.cli``, which owns ``main``.
"""

from __future__ import annotations

import sys

from .errors import TwinError

__all__ = ["add_commands"]


def _cmd_tiles_export(args) -> int:
    try:
        from layers.pmtiles_export import export_pmtiles
    except ImportError as e:  # pragma: no cover - depends on the install
        raise TwinError(f"tile archives need the 'api' extra ({e.name} is missing): pip "
                        "install 'aqmola-twin[api]'") from e
    from layers.pmtiles_export import default_workers

    from .cli import _open

    tw = _open(args)
    workers = default_workers() if args.workers is None else args.workers
    summary = export_pmtiles(tw, args.layer, args.out, minzoom=args.minzoom,
                             maxzoom=args.maxzoom, force=args.force, progress=not args.quiet,
                             workers=workers)
    left = f"; {summary.empty:,} candidate tiles were empty" if summary.empty else ""
    print(f"wrote {summary.tiles:,} tiles of {summary.layer!r}, zooms {summary.minzoom} to "
          f"{summary.maxzoom} ({summary.bytes / 1e6:.1f} MB){left} -> {summary.path}",
          file=sys.stdout)
    return 0


def add_commands(sub) -> None:
    """Register ``tiles export`` on the top-level subparsers ``sub``."""
    t = sub.add_parser("tiles", help="static tile archives of a twin's layers")
    tsub = t.add_subparsers(dest="tiles_command", required=True)
    e = tsub.add_parser("export", help="write a layer's vector tiles as one PMTiles archive")
    e.add_argument("layer", help="the layer to export, e.g. parcels or districts")
    e.add_argument("--twin", help="twin file (default: the default twin)")
    e.add_argument("--out", required=True, help="the archive to write (FILE.pmtiles)")
    e.add_argument("--minzoom", type=int,
                   help="lowest zoom to export (default: the layer's lowest tiled zoom)")
    e.add_argument("--maxzoom", type=int,
                   help="highest zoom to export (default: the layer's highest tiled zoom)")
    e.add_argument("--workers", type=int,
                   help="processes that render tiles (default: 2, or 1 where the machine "
                   "has one core); the archive is the same for any number")
    e.add_argument("--force", action="store_true", help="replace --out if it exists")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=_cmd_tiles_export)
