"""Where a raster's bytes live: inside the twin file, and unpacked beside it.

Each registered raster is two Cloud-Optimized GeoTIFFs: the analysis grid (``NAME.tif``) and
the copy on WebMercatorQuad's grid that tiles are read from (``NAME.web.tif``). Both are
stored byte for byte in the twin file (``twin.store.FILES_TABLE``, as ``rasters/<cache
name>``), so saving a twin anywhere, or copying its GeoPackage alone, keeps every raster.

The sidecar folder ``<twin file>.rasters/`` is only a cache of those bytes, unpacked on first
use because GDAL reads a file on disk by byte ranges (a tile is a window read) but cannot
read a value inside SQLite. Cache names carry the raster's version, a hash of both files:
``NAME.<version>.tif`` and ``NAME.web.<version>.tif``. So a cached file is never stale: a
replaced raster gets new names, and a twin file copied over another finds its own. Deleting
the folder loses nothing.

Why not GeoPackage's own raster tables (the tiles and 2D-gridded-coverage extensions)? They
hold one band of Int16/UInt16/Float32, or 1-4 bands of Byte, re-encoded as PNG/JPEG/TIFF
tiles; a user's raster may be any of 4 bands and GDAL's data types. The COG bytes, stored
unchanged, keep every raster exact and its version true, are written in the same atomic save
as the layers, and go to PostGIS as the same table of parts when a twin is pushed there.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import warnings
import weakref
from dataclasses import replace
from pathlib import Path

from .. import store
from ..errors import TwinError

__all__ = ["CACHE_RE", "cache_name", "install", "unpack", "files_to_save", "tidy",
           "RasterFileWarning"]

#: A cached raster file: ``NAME[.web].<16 hex digits>.tif``.
CACHE_RE = re.compile(r"[a-z][a-z0-9_]*(\.web)?\.[0-9a-f]{16}\.tif")
_LEGACY_RE = re.compile(r"[a-z][a-z0-9_]*(\.web)?\.tif")
_PREFIX = "rasters/"


class RasterFileWarning(UserWarning):
    """A registered raster whose bytes could not be found when saving the twin."""


def cache_name(file: str, version: str) -> str:
    """The cache file name of registered file ``file`` at ``version``.

    Examples
    --------
    >>> cache_name("suitability.web.tif", "0123456789abcdef")
    'suitability.web.0123456789abcdef.tif'
    """
    stem = file[:-4] if file.endswith(".tif") else file
    return f"{stem}.{version}.tif"


def _stored(cache: str) -> str:
    return _PREFIX + cache


# Where each twin's registered files lie before they are stored in its file (a raster built
# or added before the twin's first save), by cache name.
_PENDING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def install(tw, info, folder: Path):
    """Move a raster's freshly written files to their cache names in ``folder``; return
    the info pointing there. Until the twin file stores them, they are the only copy, and
    :func:`files_to_save` takes them from here."""
    out = {}
    for attr, logical in (("path", info.file), ("tiles_path", info.tiles_file)):
        src = Path(getattr(info, attr))
        dst = Path(folder) / cache_name(logical, info.version)
        if src != dst:
            os.replace(src, dst)
        out[attr] = dst
    store.fsync_dir(Path(folder))
    info = replace(info, **out)
    _PENDING.setdefault(tw, {}).update({p.name: p for p in out.values()})
    return info


def _pair(row) -> tuple[str, str]:
    tiles = row.get("tiles_file")
    tiles = tiles if isinstance(tiles, str) and tiles else row["file"]
    return row["file"], tiles


def _matches(paths: list[Path], version: str) -> bool:
    """Do these files hash to the registered version (as ``registry.describe`` hashes)?"""
    h = hashlib.sha256()
    for p in dict.fromkeys(paths):  # a row without a tile copy names one file twice
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(2**20), b""):
                h.update(chunk)
    return h.hexdigest()[:16] == version


def _local(tw, row, folders: list[Path]) -> list[Path] | None:
    """Files on disk holding a row's exact bytes, or None: files the twin installed, the
    cache of a folder, or the plain ``NAME.tif`` files of twins saved before rasters were
    stored inside the twin file."""
    logical = _pair(row)
    version = str(row["version"])
    caches = [cache_name(f, version) for f in logical]
    pending = _PENDING.get(tw, {})
    candidates = [[pending[c] for c in caches]] if all(c in pending for c in caches) else []
    for folder in folders:
        candidates.append([folder / c for c in caches])
        if all(_LEGACY_RE.fullmatch(f) for f in logical):
            candidates.append([folder / f for f in logical])
    for paths in candidates:
        if all(p.is_file() for p in paths) and _matches(paths, version):
            return paths
    return None


def unpack(tw, info) -> bool:
    """Make sure ``info.path`` and ``info.tiles_path`` exist, unpacking them from the twin
    file (or, for a twin saved before rasters were stored in it, copying its plain sidecar
    files). False when neither has the bytes."""
    need = [p for p in dict.fromkeys((info.path, info.tiles_path)) if not p.is_file()]
    if not need:
        return True
    if all(tw.store.unpack_file(_stored(p.name), p) for p in need):
        return True
    row = {"file": info.file, "tiles_file": info.tiles_file, "version": info.version}
    found = _local(tw, row, [Path(info.path).parent])
    if found is None:
        return False
    for src, dst in zip(found, dict.fromkeys((info.path, info.tiles_path)), strict=False):
        if src != dst and not dst.is_file():
            with store.atomic_path(dst, suffix=".tif") as tmp:
                shutil.copyfile(src, tmp)
    return True


def _wanted(rows) -> dict[str, dict]:
    """Stored name -> registry row, for every file the registry rows need."""
    out = {}
    for row in rows.to_dict("records"):
        for f in _pair(row):
            out[_stored(cache_name(f, str(row["version"])))] = row
    return out


def files_to_save(tw, target, rows) -> dict:
    """What :meth:`twin.store.Store.write_twin` stores for the registry ``rows`` (into the
    store ``target``): each file from the twin's current store where it is stored there,
    else from disk (verified against the row's version). A raster whose bytes are nowhere
    is left out with a :class:`RasterFileWarning`; its row stays, so the twin says what is
    missing."""
    stored_in_source: set[str] = set()
    if tw.store is not None and tw.store.exists():
        try:
            stored_in_source = stored_in(tw.store)
        except (sqlite3.DatabaseError, TwinError):
            pass  # not a readable twin: take the bytes from disk
    folders = [s.cache_dir() for s in dict.fromkeys(
        x for x in (tw.store, target) if x is not None)]
    out: dict = {}
    lost = []
    for name, row in _wanted(rows).items():
        if name in out:
            continue
        if name in stored_in_source:
            out[name] = store.StoredFile(tw.store)
            continue
        paths = _local(tw, row, folders)
        if paths is None:
            lost.append(row["name"])
            continue
        for f, p in zip(_pair(row), paths, strict=True):
            out[_stored(cache_name(f, str(row["version"])))] = p
    where = tw.store.describe() if tw.store is not None else f"twin {tw.name!r}"
    for name in dict.fromkeys(lost):
        warnings.warn(
            f"raster {name!r} is registered but its files are neither in {where} nor on "
            "disk: it is saved without them; re-add it with `twin add-raster --replace` or "
            "rebuild the twin", RasterFileWarning, stacklevel=3)
    return out


def stored_in(where) -> set[str]:
    """The raster files a store (or an open transaction on it) holds."""
    return {n for n in where.stored_files() if n.startswith(_PREFIX)}


def sync_files(tw, tx, rows) -> None:
    """Inside a transaction on the twin's store: store the files ``rows`` need that the
    store lacks, and drop raster files no row needs any more."""
    have = stored_in(tx)
    want = _wanted(rows)
    folders = [tw.store.cache_dir()]
    for name, row in want.items():
        if name in have:
            continue
        paths = _local(tw, row, folders)
        if paths is None:
            continue  # get_raster reports it; nothing here to store
        for f, p in zip(_pair(row), paths, strict=True):
            stored = _stored(cache_name(f, str(row["version"])))
            if stored not in have:
                tx.put_file(stored, p)
                have.add(stored)
    tx.delete_files(sorted(have - set(want)))


def tidy(tw, rows) -> None:
    """After the twin's store holds ``rows``' files: forget the twin's installed files and
    delete cache files in its cache folder that no row names (always safe: the store holds
    the bytes of every current one)."""
    _PENDING.pop(tw, None)
    if tw.store is None:
        return
    folder = tw.store.cache_dir()
    if not folder.is_dir():
        return
    keep = {n[len(_PREFIX):] for n in _wanted(rows)} if rows is not None and len(rows) else set()
    for p in folder.iterdir():
        if CACHE_RE.fullmatch(p.name) and p.name not in keep:
            p.unlink(missing_ok=True)
