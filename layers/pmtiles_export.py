"""Static PMTiles v3 archives of a layer's vector tiles, for a CDN or any static host.

An archive holds exactly the tiles that the live endpoint (``/tiles/{layer}/{z}/{x}/{y}.mvt``)
serves: each one comes from :meth:`layers.vector_tiles.TileSource.tile`, so the
simplification per zoom, the over-dense policy and the property encoding are the live ones,
byte for byte (stored gzipped, as PMTiles readers expect). The export only decides *which*
tiles to render:

- a tile is a candidate when some feature's bounding box touches its buffered box, which is
  the same test the live endpoint's STRtree query makes, computed for all features at once
  from their bounds (:func:`covering_tiles`);
- a candidate that renders empty (every feature collapsed to nothing at that zoom) is left
  out: a PMTiles reader answers "no tile", which clients draw as empty, as they do the live
  endpoint's 204.

Tiles are written in the archive's Hilbert order, so the archive is *clustered* and a
reader's range requests stay short.

Speed: only candidate tiles are ever visited (an empty ocean or out-of-region tile costs
nothing, and zooms below the layer's ``minzoom`` are refused, not walked), and with
``workers`` > 1 the tiles are rendered by forked processes, in chunks of consecutive tile
ids, while this process writes them in order: the same bytes as with one worker
(docs/tiles.md has the measurements at 1,000,000 parcels).

The metadata is the live endpoint's TileJSON
(:func:`layers.tilejson.tilejson`) for the archive's zooms, plus the twin's name and the
layer's data version (``twin``), so that a map can tell a stale archive from a current one.

The file appears whole or not at all: it is written beside the target and moved over it only
when complete (``twin.store.atomic_path``), so an interrupted export leaves no
half-written archive.

Examples
--------
>>> import tempfile, pathlib
>>> from twin.sample import make_small_twin
>>> out = pathlib.Path(tempfile.mkdtemp()) / "districts.pmtiles"
>>> summary = export_pmtiles(make_small_twin(), "districts", out, maxzoom=8)
>>> summary.minzoom, summary.maxzoom, summary.tiles > 0
(0, 8, True)
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import multiprocessing
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from twin.errors import InvalidArgument, TwinFileError

from .tile_math import MAX_LAT, ORIGIN, lonlat_to_mercator
from .tilejson import tilejson
from .vector_tiles import ENCODER_VERSION, EXTENT, TileSource, tile_layer

__all__ = ["ExportSummary", "export_pmtiles", "covering_tiles", "archive_metadata",
           "default_workers"]

#: How the archive names its maker in ``generator`` (TileJSON-style metadata).
GENERATOR = "aqmola-twin (layers.pmtiles_export)"

#: Tiles per unit of work handed to a worker process: big enough that the pickled result
#: (a few hundred tiles) dwarfs the hand-over cost, small enough that the progress bar
#: moves and two workers finish together.
CHUNK = 256


def default_workers() -> int:
    """Processes an export uses by default: two where the machine has them (the export is
    CPU-bound and usually runs beside a server), one where ``fork`` is unavailable."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(2, os.cpu_count() or 1))


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote: the archive, its zooms and how many tiles it holds."""

    path: Path
    layer: str
    minzoom: int
    maxzoom: int
    #: Tiles in the archive (non-empty ones).
    tiles: int
    #: Candidate tiles that rendered empty and were left out.
    empty: int
    #: Size of the archive in bytes.
    bytes: int


def covering_tiles(bounds: np.ndarray, z: int, buffer: int,
                   extent: int = EXTENT) -> tuple[np.ndarray, np.ndarray]:
    """The tiles at zoom ``z`` whose buffered box touches any of the lon/lat ``bounds``.

    Parameters
    ----------
    bounds : (n, 4) array
        ``(west, south, east, north)`` of each feature, in degrees.
    z : int
        The zoom.
    buffer : int
        Tile units beyond each tile edge, as in :class:`layers.vector_tiles.TileLayer`.

    Returns
    -------
    (x, y) : two int64 arrays
        Distinct tile columns and rows, sorted by column then row. Errs on the side of a
        neighbour too many (rendering decides what is empty), never one too few.

    Examples
    --------
    >>> x, y = covering_tiles(np.array([[69.0, 51.0, 70.0, 52.0]]), 6, buffer=0)
    >>> list(zip(x.tolist(), y.tolist()))
    [(44, 21)]
    """
    b = np.asarray(bounds, dtype=np.float64).reshape(-1, 4)
    b = b[np.isfinite(b).all(axis=1)]
    if not len(b):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    # Web Mercator is monotonic in each axis, so projected bounds are the bounds' projection.
    x0, y0 = lonlat_to_mercator(b[:, 0], np.clip(b[:, 1], -MAX_LAT, MAX_LAT))
    x1, y1 = lonlat_to_mercator(b[:, 2], np.clip(b[:, 3], -MAX_LAT, MAX_LAT))
    n = 1 << z
    size = 2 * ORIGIN / n
    pad = size * buffer / extent
    eps = 1e-9
    # Tile x's buffered box is [-O + x*size - pad, -O + (x+1)*size + pad]; touching counts,
    # as it does for the STRtree query that renders the tile.
    cx0 = np.ceil((x0 - pad + ORIGIN) / size - 1 - eps)
    cx1 = np.floor((x1 + pad + ORIGIN) / size + eps)
    ry0 = np.ceil((ORIGIN - y1 - pad) / size - 1 - eps)
    ry1 = np.floor((ORIGIN - y0 + pad) / size + eps)
    cx0, cx1, ry0, ry1 = (np.clip(v, 0, n - 1).astype(np.int64) for v in (cx0, cx1, ry0, ry1))
    nx, ny = cx1 - cx0 + 1, ry1 - ry0 + 1
    count = nx * ny
    # Every (feature, tile) pair at once: most features touch one or two tiles.
    owner = np.repeat(np.arange(len(count)), count)
    local = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    xs = cx0[owner] + local % nx[owner]
    ys = ry0[owner] + local // nx[owner]
    codes = np.unique(xs * n + ys)
    return codes // n, codes % n


def archive_metadata(twin, name: str, minzoom: int, maxzoom: int,
                     bounds: tuple[float, float, float, float]) -> dict:
    """The metadata of an archive of layer ``name``: the live endpoint's TileJSON for the
    archive's zooms (without ``tiles``), its generator, and the twin and data version it
    was made from (``twin``)."""
    doc = tilejson(twin, name, bounds=bounds, minzoom=minzoom, maxzoom=maxzoom)
    doc.update({
        "type": "overlay", "format": "pbf", "generator": GENERATOR,
        "twin": {"name": twin.name, "version": str(twin.version), "layer": name,
                 "data_version": twin.data_version(name), "encoder_version": ENCODER_VERSION},
    })
    return doc


def zoom_range(name: str, minzoom: int | None, maxzoom: int | None) -> tuple[int, int]:
    """The zooms to export of layer ``name``: the given ones, checked against the layer's
    tile range (which is also the default)."""
    tl = tile_layer(name)
    lo = tl.minzoom if minzoom is None else int(minzoom)
    hi = tl.maxzoom if maxzoom is None else int(maxzoom)
    for flag, z in (("--minzoom", lo), ("--maxzoom", hi)):
        if not tl.minzoom <= z <= tl.maxzoom:
            raise InvalidArgument(
                f"{flag} {z} is outside the zooms layer {name!r} is tiled at "
                f"({tl.minzoom} to {tl.maxzoom}, as the live endpoint serves it; see "
                "docs/tiles.md): choose zooms in that range")
    if lo > hi:
        raise InvalidArgument(f"--minzoom {lo} is above --maxzoom {hi}: the minimum zoom "
                              "must not exceed the maximum")
    return lo, hi


def _check_out(out: Path, force: bool) -> None:
    if out.is_dir():
        raise TwinFileError(f"--out {str(out)!r} is a folder: name the archive file, "
                            f"e.g. {str(out / 'layer.pmtiles')!r}")
    if out.suffix != ".pmtiles":
        # Also keeps a slip like --out twin.gpkg from replacing a twin with an archive.
        raise InvalidArgument(f"--out {str(out)!r} must end in .pmtiles: static hosts and "
                              "PMTiles readers go by the extension")
    if out.exists() and not force:
        raise TwinFileError(f"{str(out)!r} exists: pass --force (force=True) to replace it, "
                            "or choose another --out")
    folder = next((p for p in out.absolute().parents if p.exists()), None)
    if folder is None or not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise TwinFileError(f"cannot write {str(out)!r}: {str(folder)!r} is not a folder "
                            "this user may write to; choose an --out you can write")


def export_pmtiles(twin, name: str, out: str | os.PathLike, *, minzoom: int | None = None,
                   maxzoom: int | None = None, force: bool = False, progress: bool = False,
                   source: TileSource | None = None, workers: int = 1) -> ExportSummary:
    """Write layer ``name`` of ``twin`` as a PMTiles v3 archive at ``out``.

    Parameters
    ----------
    twin : twin.Twin
        The twin to export from.
    name : str
        The layer; ``LayerNotFound`` names the twin's layers when it has no such layer.
    out : path
        The archive to write (``*.pmtiles``). It appears whole or not at all.
    minzoom, maxzoom : int, optional
        Zooms to export, within the layer's tile range (default: all of it).
    force : bool
        Replace ``out`` if it exists (otherwise that is a ``TwinFileError``).
    progress : bool
        A tqdm progress bar on stderr, counting tiles.
    source : TileSource, optional
        Render with this tile source (e.g. a server's, whose cache is warm); by default a
        fresh one without a cache (an export renders each tile once).
    workers : int
        Processes that render tiles (forked from this one, so they share the prepared layer
        without copying it). The archive is the same, byte for byte, for any number.

    Returns
    -------
    ExportSummary
    """
    gdf = twin.layer(name)  # LayerNotFound first: it names the layers there are
    lo, hi = zoom_range(name, minzoom, maxzoom)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidArgument(f"--workers {workers!r} must be a whole number of at least 1 "
                              f"(processes that render tiles; {default_workers()} by default)")
    if workers > 1 and "fork" not in multiprocessing.get_all_start_methods():
        raise InvalidArgument(f"--workers {workers}: this platform cannot fork worker "
                              "processes; use --workers 1")
    out = Path(out)
    _check_out(out, force)
    settings = tile_layer(name)
    src = source if source is not None else TileSource(twin, cache_bytes=0)

    fb = shapely.bounds(np.asarray(gdf.geometry.values))
    fb = fb[np.isfinite(fb).all(axis=1)]
    if not len(fb):
        raise InvalidArgument(f"layer {name!r} has no geometry to tile: nothing to export")
    w, s, e, n = (float(fb[:, 0].min()), float(fb[:, 1].min()), float(fb[:, 2].max()),
                  float(fb[:, 3].max()))
    s, n = max(s, -MAX_LAT), min(n, MAX_LAT)

    plan = [(z, *covering_tiles(fb, z, settings.buffer)) for z in range(lo, hi + 1)]

    try:
        return _write(twin, name, src, plan, out, progress, (w, s, e, n), workers)
    except OSError as err:
        if isinstance(err, TwinFileError):
            raise
        raise TwinFileError(f"cannot write {str(out)!r}: {err.strerror or err}; choose an "
                            "--out in a folder you can write to, with room for the "
                            "archive") from err


def _chunks(plan: list) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """The plan as ``(z, tile ids, xs, ys)`` chunks in Hilbert order: within a zoom by tile
    id, and every tile id of zoom z is below those of z+1, so writing the chunks in order
    makes the archive clustered."""
    from pmtiles.tile import zxy_to_tileid

    out = []
    for z, xs, ys in plan:
        ids = np.fromiter((zxy_to_tileid(z, x, y) for x, y in
                           zip(xs.tolist(), ys.tolist(), strict=True)),
                          dtype=np.uint64, count=len(xs))
        order = np.argsort(ids, kind="stable")
        ids, xs, ys = ids[order], xs[order], ys[order]
        for i in range(0, len(ids), CHUNK):
            out.append((z, ids[i:i + CHUNK], xs[i:i + CHUNK], ys[i:i + CHUNK]))
    return out


#: The tile source and layer a worker renders from, set in the parent just before the
#: pool forks (so the children inherit the prepared layer instead of unpickling it).
_RENDER: tuple[TileSource, str] | None = None
#: linux/prctl.h
_PR_SET_PDEATHSIG = 1


def _render_chunk(chunk) -> tuple[int, list[tuple[int, bytes]]]:
    """Render one chunk: how many tiles it had, and the gzipped non-empty ones as
    (tile id, bytes)."""
    assert _RENDER is not None, "_rendered sets the source before any chunk is rendered"
    src, name = _RENDER
    z, ids, xs, ys = chunk
    got = []
    for tid, x, y in zip(ids.tolist(), xs.tolist(), ys.tolist(), strict=True):
        tile = src.tile(name, z, x, y)
        if tile.data:
            got.append((tid, tile.gzipped))
    return len(ids), got


def _worker_init(parent: int) -> None:
    # Ctrl-C reaches the whole process group: the parent stops the pool, and the workers
    # should not each print a KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A worker of a killed export would find multiprocessing's pipes broken, print a
    # BrokenPipeError traceback and exit; on Linux the kernel ends it with its parent
    # instead (prctl PR_SET_PDEATHSIG; no library offers it, ctypes is enough).
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before that took effect
            os._exit(1)


def _rendered(src: TileSource, name: str, chunks: list, workers: int):
    """Each chunk's rendered tiles, in chunk order, from ``workers`` processes."""
    global _RENDER
    _RENDER = (src, name)
    try:
        if workers == 1 or len(chunks) < 2:
            yield from map(_render_chunk, chunks)
            return
        src.prepared(name)  # once, before the fork, so the workers share it
        import gc

        # The prepared layer is never freed by the children, so the collector should not
        # walk it there (which would copy its copy-on-write pages into every worker). A
        # caller that froze the heap already (a server) keeps its freeze.
        froze = gc.get_freeze_count() == 0
        if froze:
            gc.collect()
            gc.freeze()
        try:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(workers, initializer=_worker_init, initargs=(os.getpid(),)) as pool:
                # imap keeps the order of the chunks whatever worker finishes first, which
                # is what makes the archive the same for any number of workers.
                yield from pool.imap(_render_chunk, chunks)
        finally:
            if froze:
                gc.unfreeze()
    finally:
        _RENDER = None


def _write(twin, name: str, src: TileSource, plan: list, out: Path, progress: bool,
           bounds: tuple[float, float, float, float], workers: int = 1) -> ExportSummary:
    from pmtiles.tile import Compression, TileType
    from pmtiles.writer import Writer
    from tqdm import tqdm

    from twin.store import atomic_path

    w, s, e, n = bounds
    lo, hi = plan[0][0], plan[-1][0]
    chunks = _chunks(plan)
    total = sum(len(xs) for _, xs, _ in plan)
    written, empty, zooms = 0, 0, set()
    with atomic_path(out, suffix=".part") as tmp, open(tmp, "wb") as f, tqdm(
            total=total, unit="tile", desc=f"{name} z{lo}-{hi}", disable=not progress,
            leave=False) as bar:
        # Made at the first tile that has features: the Writer opens its spool file at
        # once, and an export with nothing to write should open nothing.
        writer = None
        # closing(): an error while writing stops the workers at once, not at collection.
        with contextlib.closing(_rendered(src, name, chunks, workers)) as rendered:
            for (z, *_), (count, tiles) in zip(chunks, rendered, strict=True):
                for tid, data in tiles:
                    writer = writer or Writer(f)
                    writer.write_tile(tid, data)
                written += len(tiles)
                empty += count - len(tiles)
                if tiles:
                    zooms.add(z)
                bar.update(count)
        if writer is None:
            raise InvalidArgument(
                f"layer {name!r} has no feature left in any tile at zooms {lo} to {hi} "
                "(all collapse to nothing at this scale): export deeper zooms")
        zlo, zhi = min(zooms), max(zooms)
        header = {
            "tile_type": TileType.MVT, "tile_compression": Compression.GZIP,
            "min_zoom": zlo, "max_zoom": zhi,
            "min_lon_e7": _e7(w), "min_lat_e7": _e7(s), "max_lon_e7": _e7(e),
            "max_lat_e7": _e7(n), "center_zoom": min(max(zlo, 6), zhi),
            "center_lon_e7": _e7((w + e) / 2), "center_lat_e7": _e7((s + n) / 2),
        }
        writer.finalize(header, archive_metadata(twin, name, zlo, zhi, bounds))
    return ExportSummary(out, name, zlo, zhi, written, empty, out.stat().st_size)


def _e7(deg: float) -> int:
    return int(math.floor(deg * 1e7 + 0.5))
