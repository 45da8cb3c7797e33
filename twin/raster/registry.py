"""The raster registry: what a raster is, where its file lives, and reading a value.

A raster is registered as one row of the twin's ``rasters`` attribute table (saved with the
twin); its COGs are stored with the twin (inside the twin file, or in its database) and read
from their unpacked copies in the store's cache folder, ``<twin file>.rasters/`` for a file
(:mod:`~twin.raster.storage`). Files are found from the registry row, never from a name a
user typed.
"""

from __future__ import annotations

import hashlib
import json
import re
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import StoreUnavailable, TwinError, TwinFileError
from ..store import retrying
from . import storage

__all__ = [
    "RASTER_TABLE", "NAME_RE", "COLORMAPS", "RasterInfo", "Surface", "RasterError",
    "RasterNotFound", "RasterFormatError", "RasterTooLarge", "OutsideRaster", "InvalidPoint",
    "raster_dir", "list_rasters", "get_raster", "register", "save_registry", "check_name",
    "write_cog", "write_web_cog", "describe", "value_at",
]

RASTER_TABLE = "rasters"
#: Registered names double as file names, so they are kept to a safe alphabet.
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: Colormaps a raster may name: rio-tiler's built-in ones that read well on a basemap.
COLORMAPS = ("ylorrd", "rdylgn", "viridis", "magma", "blues", "greens", "greys", "terrain")


class RasterError(TwinError):
    """A raster problem."""


class RasterNotFound(RasterError, KeyError):
    """A raster name the twin does not register, or whose file is gone."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else "raster not found"


class RasterFormatError(RasterError, ValueError):
    """A file that is not a plain GeoTIFF, or a raster name that cannot be used."""


class RasterTooLarge(RasterError, ValueError):
    """A raster over the size, band or byte limits."""


class OutsideRaster(RasterError, LookupError):
    """A tile or point that falls outside a raster's bounds."""


class InvalidPoint(RasterError, ValueError):
    """A point that is not a usable lon/lat pair."""


@dataclass(frozen=True)
class RasterInfo:
    """One registered raster: what it shows, how it was made, and how to draw it.

    ``bounds`` are lon/lat (west, south, east, north). ``derived`` says the values are
    modelled from other layers rather than observed; ``synthetic`` that an input was made up.
    """

    name: str
    file: str
    title: str
    description: str
    units: str
    method: str
    source: str
    derived: bool
    synthetic: bool
    colormap: str
    vmin: float
    vmax: float
    nodata: float | None
    dtype: str
    width: int
    height: int
    count: int
    crs: str
    bounds: tuple[float, float, float, float]
    version: str
    #: The copy tiles are read from: the same values on WebMercatorQuad's grid (see
    #: :func:`write_web_cog`), so that a tile is a window, not a per-request reprojection.
    tiles_file: str = ""
    path: Path | None = None
    tiles_path: Path | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["bounds"] = list(self.bounds)
        for private in ("path", "file", "tiles_file", "tiles_path"):
            d.pop(private)
        return d


@dataclass(frozen=True)
class Surface:
    """A single-band array on a north-up grid, ready to write: values, grid and metadata."""

    name: str
    data: np.ndarray
    transform: object  # affine.Affine
    crs: str  # WKT
    nodata: float
    meta: dict


# -- registry -----------------------------------------------------------------------------
def raster_dir(location) -> Path:
    """The folder a stored twin's rasters are unpacked into: ``<twin file>.rasters`` for a
    GeoPackage, a folder of the user's cache for a database (a cache: the store holds the
    bytes). ``location`` is a store, a path or a URL."""
    from ..store import open_store

    return open_store(location).cache_dir()


_EMPTY = pd.DataFrame(columns=["name"])


def _rows(tw) -> pd.DataFrame:
    rows = tw.tables.get(RASTER_TABLE)
    return _EMPTY if rows is None else rows


# The registry's change counter in the store when each twin last read it from there.
_SYNCED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _sync(tw) -> None:
    """Pick up what `twin add-raster` wrote into the twin's store since the twin last looked.

    One read of the store's change counters per call (a stat for a file); the table is read
    only when it changed since the twin read or wrote it (so a server's first tile does
    not read it again). The first look merges only names the twin has not seen (its own
    unsaved registrations win); later looks also take rows whose file version changed in
    the store (a replaced raster).
    """
    if tw.store is None:
        return
    try:
        counter = tw.store.versions().get(RASTER_TABLE, 0)
    except (OSError, TwinError):
        return
    last = _SYNCED.get(tw)
    if last is not None and last == counter:
        return
    _SYNCED[tw] = counter
    if last is None and counter == tw.table_versions.get(RASTER_TABLE):
        return  # the store holds the table as the twin read or wrote it: nothing to merge
    try:
        on_disk = tw.store.read_table(RASTER_TABLE)
    except TwinError:
        return
    rows = _rows(tw)
    if on_disk is None or not len(on_disk):
        return
    known = dict(zip(rows["name"], rows["version"], strict=True)) if len(rows) else {}
    changed = on_disk["name"].map(lambda n: n not in known)
    if last is not None:
        changed |= on_disk["name"].isin(known) & (
            on_disk["name"].map(known.get) != on_disk["version"])
    if changed.any():
        keep = rows[~rows["name"].isin(on_disk.loc[changed, "name"])] if len(rows) else rows
        parts = [p for p in (keep, on_disk[changed]) if len(p)]
        tw.tables[RASTER_TABLE] = pd.concat(parts, ignore_index=True)
        new = on_disk[~on_disk["name"].isin(rows["name"])] if len(rows) else on_disk
        if len(new):
            rows = pd.concat([rows, new], ignore_index=True) if len(rows) else new
            tw.tables[RASTER_TABLE] = rows.reset_index(drop=True)
    return rows


def _from_row(row, folder: Path | None) -> RasterInfo:
    nodata = row["nodata"]
    tiles_file = row.get("tiles_file")
    tiles_file = tiles_file if isinstance(tiles_file, str) and tiles_file else row["file"]
    return RasterInfo(
        name=row["name"], file=row["file"], title=row["title"],
        description=row["description"], units=row["units"], method=row["method"],
        source=row["source"], derived=bool(row["derived"]), synthetic=bool(row["synthetic"]),
        colormap=row["colormap"], vmin=float(row["vmin"]), vmax=float(row["vmax"]),
        nodata=None if nodata is None or pd.isna(nodata) else float(nodata),
        dtype=row["dtype"], width=int(row["width"]), height=int(row["height"]),
        count=int(row["count"]), crs=row["crs"], bounds=tuple(json.loads(row["bounds"])),
        version=row["version"], tiles_file=tiles_file,
        path=(folder / storage.cache_name(row["file"], row["version"])) if folder else None,
        tiles_path=(folder / storage.cache_name(tiles_file, row["version"]))
        if folder else None,
    )


def list_rasters(tw) -> list[RasterInfo]:
    """The twin's registered rasters, in registration order."""
    _sync(tw)
    return [info for info, _ in _lookup(tw).values()]


# Parsed registry rows per twin, rebuilt whenever the table object or the twin's path
# changes (register() always installs a new table). A tile request then costs a dict
# lookup instead of a pandas filter (~10x slower than the cached PNG it leads to).
_PARSED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _unusable(info: RasterInfo, folder: Path) -> str | None:
    """Why a row's files cannot be served (not directly in the sidecar), or None."""
    for path in (info.path, info.tiles_path):
        if path is None:
            return f"raster {info.name!r} has no file: the twin is not saved"
        real = path.resolve()
        if real.parent != folder or not storage.CACHE_RE.fullmatch(real.name):
            return (f"raster {info.name!r} is registered with an unusable file name "
                    f"{path.name!r}: re-add it with `twin add-raster`")
    return None


def _lookup(tw) -> dict[str, tuple[RasterInfo, str | None]]:
    rows = _rows(tw)
    hit = _PARSED.get(tw)
    where = tw.store.identity() if tw.store is not None else None
    if hit is None or hit[0] is not rows or hit[1] != where:
        folder = tw.store.cache_dir().resolve() if tw.store is not None else None
        parsed = {}
        # Column by column: DataFrame.to_dict walks pandas' per-cell indexing for string
        # columns, ~10x slower, and the first tile of a server would wait for it.
        cols = [rows[c].tolist() for c in rows.columns]
        for values in zip(*cols, strict=True):
            info = _from_row(dict(zip(rows.columns, values, strict=True)), folder)
            parsed[info.name] = (info, _unusable(info, folder) if folder else None)
        hit = (rows, where, parsed)
        _PARSED[tw] = hit
    return hit[2]


def get_raster(tw, name: str) -> RasterInfo:
    """The registered raster ``name``, with its file checked to exist inside the sidecar.

    The path comes from the registry row, never from ``name``, and must resolve to a file
    directly inside the sidecar folder, so neither a request nor an edited table can point
    the server at another file.
    """
    if tw.store is None:
        raise RasterNotFound(f"raster {name!r}: the twin is not saved, so it has no rasters "
                             "folder: save it, then build or add the raster")
    _sync(tw)
    hit = _lookup(tw).get(name)
    if hit is None:
        known = ", ".join(_lookup(tw)) or "none"
        raise RasterNotFound(
            f"twin {tw.name!r} has no raster {name!r} (it has: {known}): list them at "
            "/raster or add one with `twin add-raster NAME FILE`"
        )
    info, problem = hit
    if problem or info.path is None or info.tiles_path is None:
        raise RasterNotFound(problem or f"raster {name!r} has no file: the twin is not saved")
    if not (info.path.is_file() and info.tiles_path.is_file()):
        try:
            found = storage.unpack(tw, info)
        except StoreUnavailable:
            raise  # the database is down: a passing outage, not a missing raster
        except TwinFileError as e:  # the store holds its bytes incomplete: its message says
            raise RasterNotFound(f"raster {name!r}: {e}") from e
        except OSError as e:
            raise RasterNotFound(
                f"raster {name!r} cannot be unpacked into {tw.store.cache_dir()} ({e}): "
                "make that folder writable, or copy the twin file to a writable folder"
            ) from e
        if not found:
            raise RasterNotFound(
                f"raster {name!r} is registered but {tw.store.describe()} does not "
                f"hold its files, nor does {tw.store.cache_dir()}: rebuild with `twin "
                "build` or re-add it with `twin add-raster --replace`"
            )
    return info


def register(tw, info: RasterInfo) -> None:
    rows = _rows(tw)
    row = {**asdict(info), "bounds": json.dumps(list(info.bounds))}
    row.pop("path")
    row.pop("tiles_path")
    rows = rows[rows["name"] != info.name] if len(rows) else pd.DataFrame(columns=list(row))
    tw.tables[RASTER_TABLE] = pd.concat([rows, pd.DataFrame([row])], ignore_index=True)


def save_registry(tw) -> None:
    """Write the twin's raster table and the files it needs into its store, in one
    transaction (no full re-save); files of rasters no longer registered are dropped."""
    rows = tw.tables[RASTER_TABLE]
    # store.write_table types object columns by their values: a table made by register()
    # on a twin with no rasters yet holds booleans in object columns, which typed by dtype
    # would be stored as TEXT '0'/'1' and read back as truthy strings (a user's observed
    # raster reopened as derived and synthetic).
    for attempt in retrying():  # a collision with another writer: again
        with attempt, tw.store.transaction() as tx:
            storage.sync_files(tw, tx, rows)
            tx.replace(RASTER_TABLE, rows)
    tw.noted_write(tx.changes)
    _SYNCED[tw] = tw.table_versions.get(RASTER_TABLE)
    storage.tidy(tw, rows)


def check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise RasterFormatError(
            f"raster name {name!r} is not usable: use 1-63 lower-case letters, digits and "
            "underscores, starting with a letter (e.g. 'ndvi_2024')"
        )


# -- writing ------------------------------------------------------------------------------
def write_cog(surface: Surface, path) -> Path:
    """Write ``surface`` as a Cloud-Optimized GeoTIFF at ``path``, atomically.

    Tiled 256×256, DEFLATE with the floating-point predictor, and averaged internal
    overviews so that low-zoom tiles read a few blocks instead of the whole grid.
    """
    import rasterio

    from ..store import atomic_path

    h, w = surface.data.shape
    m = surface.meta
    with atomic_path(path, suffix=".tif") as tmp:
        with rasterio.open(
            tmp, "w", driver="COG", width=w, height=h, count=1, dtype="float32",
            crs=surface.crs, transform=surface.transform, nodata=surface.nodata,
            BLOCKSIZE=256, COMPRESS="DEFLATE", PREDICTOR="YES", OVERVIEWS="AUTO",
            RESAMPLING="AVERAGE",
        ) as dst:
            dst.write(surface.data.astype("float32"), 1)
            dst.update_tags(TIFFTAG_IMAGEDESCRIPTION=m["description"], **{
                k: (json.dumps(v) if not isinstance(v, str) else v) for k, v in m.items()
            })
            dst.set_band_description(1, m["title"])
            dst.units = (m["units"],)
    return Path(path)


def write_web_cog(src, dst, *, overview_resampling: str = "nearest") -> Path:
    """Copy COG ``src`` onto WebMercatorQuad's grid as COG ``dst``, atomically.

    GDAL's COG driver with ``TILING_SCHEME=GoogleMapsCompatible`` warps once, at build
    time, with nearest-neighbour resampling (every pixel stays a real cell value) at the
    first zoom at least as fine as the source (``ZOOM_LEVEL_STRATEGY=UPPER``); its blocks
    and overviews are then exactly the tiles of successive zooms. Reading a tile becomes a
    window read instead of a per-request reprojection (about 7x less CPU per tile, see
    ``bench/raster.py``). Overviews use ``overview_resampling``: ``average`` for the
    derived surfaces, ``nearest`` for users' rasters, which may be categorical. Without a
    nodata value, the driver adds an alpha band, so the area outside the source stays
    transparent.
    """
    import rasterio
    from rasterio.shutil import copy as rio_copy

    from ..store import atomic_path

    with atomic_path(dst, suffix=".tif") as tmp, rasterio.Env(
            GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", GDAL_PAM_ENABLED="NO"):
        rio_copy(str(src), str(tmp), driver="COG", TILING_SCHEME="GoogleMapsCompatible",
                 ZOOM_LEVEL_STRATEGY="UPPER", RESAMPLING="NEAREST",
                 OVERVIEW_RESAMPLING=overview_resampling.upper(), COMPRESS="DEFLATE",
                 PREDICTOR="YES", BLOCKSIZE=256)
    return Path(dst)


def describe(path: Path, name: str, meta: dict, web_path: Path | None = None) -> RasterInfo:
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as src:
        bounds = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
        info = dict(dtype=src.dtypes[0], width=src.width, height=src.height,
                    count=src.count, crs=src.crs.to_string(), nodata=src.nodata)
    h = hashlib.sha256(path.read_bytes())
    if web_path is not None:  # tiles come from this copy: it is part of the version
        h.update(Path(web_path).read_bytes())
    digest = h.hexdigest()[:16]
    tiles_file = f"{name}.web.tif" if web_path is not None else f"{name}.tif"
    web_path = Path(web_path) if web_path is not None else path
    return RasterInfo(
        name=name, file=f"{name}.tif", title=meta["title"], description=meta["description"],
        units=meta.get("units", ""), method=meta.get("method", ""),
        source=meta.get("source", ""), derived=bool(meta.get("derived", False)),
        synthetic=bool(meta.get("synthetic", False)), colormap=meta["colormap"],
        vmin=float(meta["vmin"]), vmax=float(meta["vmax"]),
        bounds=(round(float(bounds[0]), 7), round(float(bounds[1]), 7),
                round(float(bounds[2]), 7), round(float(bounds[3]), 7)), version=digest,
        tiles_file=tiles_file, path=path, tiles_path=web_path, **info,
    )


# -- reading ------------------------------------------------------------------------------
def value_at(tw, name: str, lon: float, lat: float) -> dict:
    """The raster's band values at a lon/lat point (``None`` for nodata).

    Raises :class:`InvalidPoint` for a pair that is not lon/lat and :class:`OutsideRaster`
    for a point outside the raster's grid.

    Examples
    --------
    >>> # value_at(tw, "population_density", 71.43, 51.13)["values"]
    """
    import rasterio
    from rasterio.windows import Window

    from ..crs import transformer

    if not (np.isfinite(lon) and np.isfinite(lat) and -180 <= lon <= 180
            and -90 <= lat <= 90):
        raise InvalidPoint(f"({lon}, {lat}) is not a lon/lat point: give longitude first, "
                           "-180..180, then latitude, -90..90")
    info = get_raster(tw, name)
    with rasterio.open(info.path) as src:
        x, y = transformer("EPSG:4326", src.crs).transform(lon, lat)
        col, row = ~src.transform @ (x, y)
        if not (np.isfinite(col) and 0 <= col < src.width and 0 <= row < src.height):
            raise OutsideRaster(
                f"({lon}, {lat}) lies outside raster {name!r}, which covers lon "
                f"{info.bounds[0]:.3f}..{info.bounds[2]:.3f}, lat {info.bounds[1]:.3f}.."
                f"{info.bounds[3]:.3f}"
            )
        a = src.read(window=Window(int(col), int(row), 1, 1), masked=True)[:, 0, 0]
    values = [None if np.ma.is_masked(v) else float(v) for v in a]
    return {"name": name, "lon": lon, "lat": lat, "values": values, "units": info.units}
