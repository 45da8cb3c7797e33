"""The default twin: Akmola region, built from ``geodata``'s committed sources.

``build_default`` builds it as any twin is built from a manifest (``twin.assembly``): the
manifest ``geodata`` hands over (its name, title, CRS, registry and regulations, and the
layers read from committed files), plus the layers ``geodata`` generates; it then adds the
synthetic score history and the raster surfaces and saves the twin atomically.
``load_default`` reuses the cached file when one exists for the current
:data:`BUILD_VERSION`. The version hashes the committed sources, the config and the build
code, so editing any of them makes the old cached twin stale and a new one is built.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from .errors import InvalidArgument, TwinFileError
from .model import Twin
from .store import user_work

__all__ = ["BUILD_VERSION", "default_twin_path", "build_default", "load_default",
           "user_work"]

#: Bump by hand for changes the hash cannot see (e.g. a new dependency's behaviour).
_MANUAL_VERSION = "1"
_DEFAULT_PARCELS = 50_000


#: Modules of ``twin`` whose code shapes the bytes of a built twin file: validation and
#: reprojection on entry, the file format, the metadata written, and the assembly from a
#: manifest.
_CORE_BUILD_MODULES = ("default.py", "model.py", "schema.py", "store/base.py",
                       "store/gpkg.py", "crs.py",
                       "assembly.py", "manifest.py", "conform.py", "derived.py",
                       "importer.py", "region.py")


def _build_inputs() -> list[Path]:
    """Every file of ``twin`` whose content the cached default twin depends on (geodata's
    own files count through its fingerprint)."""
    # Derived layers, tables and rasters (the plan's zones, the raster surfaces) are built
    # by code outside the core, so their files count too; so does the core code that
    # validates, reprojects and writes the file (a fix to how a table is stored must not
    # leave an old cache in use).
    here = Path(__file__).parent
    extra = sorted(
        p for pattern in ("plan/**/*.py", "plan/**/*.yaml", "raster/**/*.py",
                          "score/registry.py")
        for p in here.glob(pattern) if "__pycache__" not in p.parts
    )
    return [here / m for m in _CORE_BUILD_MODULES] + extra


def _build_version() -> str:
    import geodata

    h = hashlib.sha256(geodata.default_twin_fingerprint().encode())
    for f in _build_inputs():
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return f"{_MANUAL_VERSION}.{h.hexdigest()[:10]}"


BUILD_VERSION = _build_version()


def default_twin_path(parcels: int = _DEFAULT_PARCELS) -> Path:
    """Where the default twin is cached: ``$XDG_CACHE_HOME/aqmola-twin/akmola-<v>[-pN].gpkg``.

    Examples
    --------
    >>> default_twin_path().name.startswith("akmola-")
    True
    >>> default_twin_path(1000).stem.endswith("-p1000")
    True
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    suffix = "" if int(parcels) == _DEFAULT_PARCELS else f"-p{int(parcels)}"
    return Path(base) / "aqmola-twin" / f"akmola-{BUILD_VERSION}{suffix}.gpkg"


def build_default(out: str | os.PathLike | None = None, parcels: int = _DEFAULT_PARCELS,
                  progress: bool = False, *, force: bool = False) -> Twin:
    """Build the default Akmola twin, save it to ``out`` atomically and return it.

    An existing file at ``out`` that holds a user's work (see :func:`user_work`), or that
    is not a twin file, is not replaced unless ``force=True``.

    Parameters
    ----------
    out : path, optional
        Twin file to write (default: :func:`default_twin_path` for ``parcels``).
    parcels : int
        Number of synthetic parcels; the layer holds exactly this many.
    progress : bool
        Show tqdm progress bars.
    force : bool
        Replace ``out`` even when it holds a user's work.

    Examples
    --------
    >>> tw = build_default("/tmp/akmola-small.gpkg", parcels=1_000)   # doctest: +SKIP
    >>> len(tw["project_sites"].query("status == 'implementation'"))  # doctest: +SKIP
    226
    """
    import geodata

    if int(parcels) < 100:
        raise InvalidArgument(f"parcels={parcels}: the default twin needs at least 100 "
                              "parcels: ask for 100 or more")
    path = Path(out) if out is not None else default_twin_path(parcels)
    lost = [] if force else user_work(path)
    if lost:
        raise TwinFileError(
            f"{str(path)!r} already holds work a rebuild would replace ({'; '.join(lost)}): "
            "build to another path (--out), or pass force=True (`twin build --force`) to "
            "replace it"
        )
    from .assembly import build_twin
    from .manifest import read_manifest

    tw, _ = build_twin(read_manifest(geodata.MANIFEST), version=BUILD_VERSION,
                       generators=geodata.generators(int(parcels), progress),
                       progress=(lambda line: print(line, file=sys.stderr, flush=True))
                       if progress else None)
    # Derived attribute tables. The region score's monthly history (Jan 2022 - Aug 2025) is
    # SYNTHETIC and flagged so row by row; its investment and jobs over Jan-Aug 2025 are the
    # project sites' totals split by district (geodata/score_history.py).
    from geodata.score_history import generate_history

    tw.tables["score_observations"] = generate_history(
        tw["districts"]["id"].tolist(), tw["project_sites"])
    # Derived raster surfaces (twin/raster): COGs registered in tw.tables and stored inside
    # the twin file by tw.save. They need the 'raster' extra; without it the
    # twin simply has no rasters.
    import importlib.util

    if all(importlib.util.find_spec(m) for m in ("rasterio", "scipy")):
        from .raster import build_rasters

        build_rasters(tw, path)
    if progress:
        print(f"saving {path}", file=sys.stderr, flush=True)  # stdout may be --json
    tw.save(path)
    return tw


def load_default(parcels: int = _DEFAULT_PARCELS, progress: bool = False) -> Twin:
    """Open the cached default twin for this build version, building it first if missing.

    An unreadable cache file (e.g. from an older format) is rebuilt in place.

    Examples
    --------
    >>> tw = load_default()                       # doctest: +SKIP
    >>> len(tw["districts"])                      # doctest: +SKIP
    20
    """
    path = default_twin_path(parcels)
    if path.is_file():
        try:
            return Twin.open(path)
        except TwinFileError as e:
            # a cache file that cannot be read is rebuilt rather than served; say so once
            print(f"rebuilding unreadable cached twin {path}: {e}", file=sys.stderr)
            # the cache file is ours and unreadable: nothing in it can be recovered
            return build_default(path, parcels=parcels, progress=progress, force=True)
    return build_default(path, parcels=parcels, progress=progress)
