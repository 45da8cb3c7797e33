"""Rasters users bring: vet a GeoTIFF, store it as a COG in the twin file, register it."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import MissingCRS
from .registry import (
    COLORMAPS,
    RasterFormatError,
    RasterInfo,
    RasterTooLarge,
    check_name,
    describe,
    list_rasters,
    raster_dir,
    register,
    save_registry,
    write_web_cog,
)
from .storage import install

__all__ = ["MAX_PIXELS", "MAX_BANDS", "MAX_BYTES", "check_user_raster", "add_raster"]

#: Limits on a user's raster: enough for a region at 10 m, small enough to serve.
MAX_PIXELS = 20_000 * 20_000
MAX_BANDS = 4
MAX_BYTES = 2 * 2**30
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF

# -- users' rasters -----------------------------------------------------------------------
def check_user_raster(path, *, max_pixels: int = MAX_PIXELS, max_bands: int = MAX_BANDS,
                      max_bytes: int = MAX_BYTES) -> dict:
    """Vet a user's GeoTIFF before anything else reads it; return its basic properties.

    Refuses, with a :class:`RasterError` naming the fix: a path that is not a regular
    file; anything but a GeoTIFF (checked on the TIFF signature first, so a VRT or any
    other format that points at other files is never handed to GDAL, and then on GDAL's
    driver); a raster over the pixel, band or byte limits; a raster without a CRS.
    """
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    path = Path(path)
    if not path.is_file():
        raise RasterFormatError(f"{str(path)!r} is not a file: give the path of a GeoTIFF")
    size = path.stat().st_size
    if size > max_bytes:
        raise RasterTooLarge(f"{path.name!r} is {size / 2**20:,.0f} MiB, over the "
                             f"{max_bytes / 2**20:,.0f} MiB limit: clip or resample it first")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic not in _TIFF_MAGIC:
        raise RasterFormatError(
            f"{path.name!r} is not a GeoTIFF (it does not start with a TIFF signature): "
            "convert it, e.g. `gdal_translate -of COG in.xyz out.tif`"
        )
    # No directory listing and no .aux.xml: GDAL reads this one file and nothing beside it.
    env = dict(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", GDAL_PAM_ENABLED="NO")
    try:
        with rasterio.Env(**env), warnings.catch_warnings():
            # A TIFF without georeferencing warns on open; it is refused below instead.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path, driver="GTiff") as src:
                props = dict(driver=src.driver, width=src.width, height=src.height,
                             count=src.count, crs=src.crs, dtype=src.dtypes[0],
                             nodata=src.nodata, transform=src.transform)
    except RasterioIOError as e:
        raise RasterFormatError(f"{path.name!r} could not be read as a GeoTIFF ({e}): check "
                                "the file is not truncated") from e
    if props["driver"] != "GTiff":
        raise RasterFormatError(f"{path.name!r} opened with GDAL's {props['driver']} driver: "
                                "only plain GeoTIFF is accepted")
    if props["width"] * props["height"] > max_pixels:
        raise RasterTooLarge(
            f"{path.name!r} is {props['width']}×{props['height']} pixels, over the "
            f"{max_pixels:,}-pixel limit: resample it (gdalwarp -tr) or clip it to the region"
        )
    if props["count"] > max_bands:
        raise RasterTooLarge(f"{path.name!r} has {props['count']} bands, over the limit of "
                             f"{max_bands}: keep the bands you need (gdal_translate -b)")
    if props["crs"] is None or props["transform"].is_identity:
        raise MissingCRS(
            f"{path.name!r} has no CRS or georeferencing: assign one, e.g. "
            "`gdal_edit.py -a_srs EPSG:4326 FILE` (and -a_ullr for the corners)"
        )
    return props


def add_raster(tw, name: str, file, *, title: str | None = None, description: str = "",
               units: str = "", source: str | None = None, synthetic: bool = False,
               colormap: str = "viridis", vmin: float | None = None,
               vmax: float | None = None, replace: bool = False, **limits) -> RasterInfo:
    """Vet a user's GeoTIFF, store it as a COG in the twin file and register it.

    Tiles draw band 1 through ``colormap`` from ``vmin`` to ``vmax`` (default: the 2nd and
    98th percentiles of band 1). The registry and the raster's files are saved into the
    twin file, in one transaction, when the twin has one. A name already registered is
    refused unless ``replace=True``. A running server picks up new and replaced rasters on
    its next request (it watches the twin file's mtime). ``limits`` override
    :func:`check_user_raster`'s limits.

    Examples
    --------
    >>> # info = add_raster(tw, "ndvi_2024", "ndvi.tif", units="NDVI", colormap="greens")
    >>> # info.tiles_file
    >>> # 'ndvi_2024.web.tif'
    """
    import rasterio
    from rasterio.shutil import copy as rio_copy

    from ..store import atomic_path

    check_name(name)
    if not replace and any(r.name == name for r in list_rasters(tw)):
        raise RasterFormatError(f"twin {tw.name!r} already has a raster {name!r}: pick "
                                "another name, or replace it (replace=True, --replace)")
    if colormap not in COLORMAPS:
        raise RasterFormatError(f"colormap {colormap!r} is not offered: use one of "
                                f"{', '.join(COLORMAPS)}")
    if tw.store is None:
        raise RasterFormatError("the twin is not stored yet: save it first, since rasters "
                                "are stored with the twin")
    check_user_raster(file, **limits)
    folder = raster_dir(tw.store)
    target = folder / f"{name}.incoming.tif"
    with rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", GDAL_PAM_ENABLED="NO"):
        with atomic_path(target, suffix=".tif") as tmp:
            rio_copy(str(file), str(tmp), driver="COG", BLOCKSIZE=256, COMPRESS="DEFLATE",
                     OVERVIEWS="AUTO", RESAMPLING="NEAREST")
        if vmin is None or vmax is None:
            with rasterio.open(target) as src:
                ov = max(1, max(src.width, src.height) // 1024)
                a = src.read(1, masked=True, out_shape=(max(1, src.height // ov),
                                                        max(1, src.width // ov)))
            vals = a.compressed().astype("float64")
            vals = vals[np.isfinite(vals)]
            lo, hi = np.percentile(vals, [2, 98]) if vals.size else (0.0, 1.0)
            vmin = float(lo) if vmin is None else vmin
            vmax = float(hi if hi > lo else lo + 1) if vmax is None else vmax
    meta = {"title": title or name, "description": description or
            f"User raster {name!r} added from {Path(file).name}", "units": units,
            "method": "added by a user with `twin add-raster`; values as supplied",
            "source": source or Path(file).name, "derived": False, "synthetic": synthetic,
            "colormap": colormap, "vmin": vmin, "vmax": vmax}
    web = write_web_cog(target, folder / f"{name}.incoming.web.tif")
    info = install(tw, describe(target, name, meta, web), folder)
    register(tw, info)
    if tw.store.exists():
        save_registry(tw)
    return info
