r"""Raster tiles of the twin's surfaces: WebMercatorQuad PNGs through a documented colormap.

rio-tiler reads the tile from the raster's tile copy (``NAME.web.tif``,
:func:`twin.raster.write_web_cog`): the values resampled once, nearest-neighbour, onto
WebMercatorQuad's grid, so that a tile is a window of the copy or of one of its overviews
(averaged for the derived surfaces, so a low-zoom pixel is an area mean, which is what a
density means at that scale). Point values come from the original grid instead. Each
256×256 tile is then drawn in three steps, the **colormap contract**:

1. value *v* → index :math:`i = \lfloor 255\,(\mathrm{clip}(v, v_{min}, v_{max}) -
   v_{min}) / (v_{max} - v_{min}) \rfloor`, with the raster's registered ``vmin``/``vmax``;
2. index → RGBA from the registered rio-tiler colormap (``ylorrd`` for population density,
   ``rdylgn`` for suitability; see :data:`twin.raster.COLORMAPS`);
3. nodata (and everything outside the grid) → alpha 0, fully transparent.

:class:`RasterTileSource` keeps the readers it opened, per raster and file version, for any
thread to take (a rasterio dataset is used by one thread at a time, never by two at once),
and an LRU of PNG bytes keyed by ``(name, file version, z, x, y)``, so a re-added raster
never serves a stale tile and an opened raster is never opened again for another thread.

rio-tiler and rasterio are imported with this module, not on the first tile: a server
imports it while it builds the app, in the thread that does so while /health already
answers (api/boot.py), and two threads can never import rio-tiler at once (its package
imports itself circularly, which fails when a second thread sees it half-imported).

Examples
--------
>>> # src = RasterTileSource(); png = src.png(twin.raster.get_raster(tw, "suitability"), 8, 181, 83)
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import rasterio
from rio_tiler.colormap import cmap
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.utils import render

from twin.raster import OutsideRaster, RasterInfo

from .tile_math import tile_bounds_lonlat, valid_tile

__all__ = ["TILE_SIZE", "RasterTileSource", "check_tile", "colormap_lut", "colorize",
           "tilejson"]

TILE_SIZE = 256


@lru_cache(maxsize=32)
def colormap_lut(name: str) -> np.ndarray:
    """The colormap ``name`` as a (256, 4) uint8 RGBA table (rio-tiler's built-in maps)."""
    table = cmap.get(name)
    if not isinstance(table, dict):  # interval maps are not offered (twin.raster.COLORMAPS)
        raise ValueError(f"colormap {name!r} is not a 256-entry table")
    lut = np.zeros((256, 4), dtype="uint8")
    for i, rgba in table.items():
        lut[int(i)] = rgba
    lut.setflags(write=False)
    return lut


def _index(values: np.ndarray, vmin: float, vmax: float) -> np.ndarray:
    span = (vmax - vmin) or 1.0
    # In place, in float64, in the documented order: (clip(v) - vmin) / span * 255.
    scaled = np.clip(values, vmin, vmax, dtype="float64")
    scaled -= vmin
    scaled /= span
    scaled *= 255
    np.nan_to_num(scaled, copy=False)
    return scaled.astype("uint8")  # truncation is floor: scaled is never negative


def colorize(values: np.ndarray, mask: np.ndarray, info: RasterInfo) -> np.ndarray:
    """Apply the colormap contract: values (H, W) and a nodata mask → RGBA (H, W, 4)."""
    rgba = np.take(colormap_lut(info.colormap), _index(values, info.vmin, info.vmax), axis=0)
    rgba[mask] = 0
    return rgba


def _encode_png(rgba: np.ndarray) -> bytes:
    # render() encodes with GDAL's PNG driver; the fourth band becomes the alpha channel.
    return render(np.ascontiguousarray(rgba[..., :3].transpose(2, 0, 1)),
                  mask=np.ascontiguousarray(rgba[..., 3]), img_format="PNG", ZLEVEL=6)


def check_tile(info: RasterInfo, z: int, x: int, y: int) -> None:
    """Raise :class:`~twin.raster.OutsideRaster` unless (z, x, y) is a WebMercatorQuad tile
    touching the raster's bounds. No I/O: a server can check before anything else (an ETag
    match included), so a tile that does not exist is never "not modified"."""
    if not valid_tile(z, x, y):
        raise OutsideRaster(f"({z}/{x}/{y}) is not a WebMercatorQuad tile: zoom 0-24 "
                            "and 0 <= x, y < 2**zoom")
    # Outside is judged on the registered (TileJSON) bounds, not on the tile copy's
    # extent, which GDAL rounds out to whole tiles of its zoom.
    w, s, e, n = info.bounds
    tw_, ts, te, tn = tile_bounds_lonlat(z, x, y)
    if not (tw_ < e and te > w and ts < n and tn > s):
        raise OutsideRaster(
            f"tile {z}/{x}/{y} lies outside raster {info.name!r} (lon {w:.3f}..{e:.3f}, "
            f"lat {s:.3f}..{n:.3f}): its TileJSON gives the bounds"
        )


class RasterTileSource:
    """Reads, draws and caches raster tiles of registered rasters.

    Parameters
    ----------
    cache_bytes : int
        Upper bound on the PNG bytes the LRU keeps.
    """

    def __init__(self, cache_bytes: int = 64 * 2**20) -> None:
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[tuple, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str], list[Reader]] = {}
        self._current: dict[str, str] = {}

    # -- readers --------------------------------------------------------------------------
    # Opened readers wait here between tiles, by (name, file version), for any thread to
    # borrow: the first open in a process costs ~15 ms of CPU and the first in each new
    # thread ~10 ms (GDAL's per-thread setup), while a reader opened in another thread
    # reads at full speed. One thread at a time uses a reader; another is opened only
    # while all are busy. (Per-thread readers made every pool thread pay its own open.)
    @contextlib.contextmanager
    def _reader(self, info: RasterInfo) -> Iterator[Reader]:
        key = (info.name, info.version)
        with self._lock:
            # The latest request's version of a name is the one kept: a replaced file's
            # readers are closed, never lent again.
            self._current[info.name] = info.version
            stale = [r for k in [k for k in self._idle if k[0] == info.name and k != key]
                     for r in self._idle.pop(k)]
            idle = self._idle.get(key)
            reader = idle.pop() if idle else None
        for r in stale:
            r.close()
        if reader is None:
            # Opened inside an Env of its own, so that the dataset does not hold the
            # opening thread's default Env, which only that thread could exit: another
            # thread may be the one that closes it.
            with rasterio.Env():
                reader = Reader(str(info.tiles_path or info.path))
        try:
            yield reader
        finally:
            with self._lock:
                keep = self._current.get(info.name) == info.version
                if keep:
                    self._idle.setdefault(key, []).append(reader)
            if not keep:
                reader.close()

    def prepare(self, info: RasterInfo) -> None:
        """Open raster ``info``'s tile copy and draw its zoom-0 tile, so that the first
        request pays for neither (the warm-up's step, api/warmup.py)."""
        self.png(info, 0, 0, 0)

    def close(self) -> None:
        """Close the idle readers and drop the PNG cache (lent readers close when their
        tile is done)."""
        with self._lock:
            idle, self._idle = self._idle, {}
            self._cache.clear()
            self._size = 0
        for readers in idle.values():
            for r in readers:
                r.close()

    # -- tiles ----------------------------------------------------------------------------
    def data(self, info: RasterInfo, z: int, x: int, y: int,
             indexes: tuple[int, ...] | None = None) -> np.ma.MaskedArray:
        """Raw band values of tile (z, x, y): a masked (bands, 256, 256) array.

        ``indexes`` picks bands (1-based; default all). An alpha band, which the tile copy
        gains when the source has no nodata value, is the mask, never a band.

        Raises :class:`~twin.raster.OutsideRaster` for a tile that is not in
        WebMercatorQuad or does not touch the raster's bounds.
        """
        check_tile(info, z, x, y)
        try:
            with self._reader(info) as reader:
                img = reader.tile(x, y, z, tilesize=TILE_SIZE, indexes=indexes)
        except TileOutsideBounds:  # pragma: no cover - the copy covers the bounds
            raise OutsideRaster(f"tile {z}/{x}/{y} lies outside raster {info.name!r}") from None
        return img.array

    def cached(self, info: RasterInfo, z: int, x: int, y: int) -> bytes | None:
        """The PNG of tile (z, x, y) if it is cached, else None (no I/O: safe in a loop)."""
        key = (info.name, info.version, z, x, y)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
            return hit

    def png(self, info: RasterInfo, z: int, x: int, y: int) -> bytes:
        """The PNG of tile (z, x, y): band 1 through the colormap, nodata transparent."""
        key = (info.name, info.version, z, x, y)
        hit = self.cached(info, z, x, y)
        if hit is not None:
            return hit
        arr = self.data(info, z, x, y, indexes=(1,))  # tiles draw band 1
        mask = np.ma.getmaskarray(arr[0]) | ~np.isfinite(arr.data[0])
        body = _encode_png(colorize(arr.data[0], mask, info))
        with self._lock:
            if key not in self._cache and len(body) <= self.cache_bytes:
                self._cache[key] = body
                self._size += len(body)
                while self._size > self.cache_bytes:
                    _, old = self._cache.popitem(last=False)
                    self._size -= len(old)
        return body

    def zooms(self, info: RasterInfo) -> tuple[int, int]:
        """(minzoom, maxzoom): 0 up to the zoom whose pixels match the raster's cells.

        rio-tiler's own minzoom is the zoom where the raster fills one tile; a region-sized
        raster is still worth drawing below it (the overviews make those tiles cheap), so
        every zoom from 0 is served. Past ``maxzoom`` clients overzoom.
        """
        with self._reader(info) as reader:
            return 0, max(0, int(reader.maxzoom))


def tilejson(info: RasterInfo, tiles_url: str, zooms: tuple[int, int]) -> dict:
    """A TileJSON 3.0.0 document for raster ``info``; ``tiles_url`` is absolute.

    Besides the standard keys it carries ``colormap`` (name, range, units, nodata), the
    legend a client needs to read the colours back as values.
    """
    w, s, e, n = info.bounds
    minzoom, maxzoom = zooms
    return {
        "tilejson": "3.0.0",
        "name": info.title,
        "description": f"{info.description} Method: {info.method}.",
        "version": info.version,
        "attribution": info.source + (" (synthetic inputs)" if info.synthetic else ""),
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": [w, s, e, n],
        "center": [round((w + e) / 2, 6), round((s + n) / 2, 6), minzoom],
        "colormap": {"name": info.colormap, "vmin": info.vmin, "vmax": info.vmax,
                     "units": info.units, "scale": "linear", "nodata": "transparent"},
        "derived": info.derived,
        "synthetic": info.synthetic,
    }
