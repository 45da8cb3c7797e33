"""The default twin: Akmola region, built from ``geodata``'s committed sources.

``build_default`` assembles the layers that ``geodata.build_layers`` returns into a
validated :class:`~twin.model.Twin` and saves it atomically; ``load_default`` reuses the
cached file when one exists for the current :data:`BUILD_VERSION`. The version hashes the
committed sources, the config and the build code, so editing any of them makes the old cached
twin stale and a new one is built.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd

from . import store
from .errors import InvalidArgument, TwinFileError
from .model import Twin

__all__ = ["BUILD_VERSION", "DERIVED_LAYERS", "default_twin_path", "build_default",
           "load_default", "user_work"]

#: Bump by hand for changes the hash cannot see (e.g. a new dependency's behaviour).
_MANUAL_VERSION = "1"
_DEFAULT_PARCELS = 50_000


#: Modules of ``twin`` whose code shapes the bytes of a built twin file: validation and
#: reprojection on entry, the file format, and the metadata written.
_CORE_BUILD_MODULES = ("default.py", "model.py", "schema.py", "store.py", "crs.py")


def _build_inputs() -> list[Path]:
    """Every file whose content the cached default twin depends on, besides geodata's
    fingerprint."""
    import geodata

    # Derived layers, tables and rasters (the plan's zones, the score history, the raster
    # surfaces) are built by code outside geodata's layer inputs, so their files count too;
    # so does the core code that validates, reprojects and writes the file (a fix to how a
    # table is stored must not leave an old cache in use).
    here = Path(__file__).parent
    extra = sorted(
        p for pattern in ("plan/**/*.py", "plan/**/*.yaml", "raster/**/*.py")
        for p in here.glob(pattern) if "__pycache__" not in p.parts
    ) + sorted(p for pattern in ("*.py", "*.yaml") for p in Path(geodata.__file__).parent
               .glob(pattern) if p.name != "extract.py")
    return [here / m for m in _CORE_BUILD_MODULES] + extra


def _build_version() -> str:
    import geodata

    h = hashlib.sha256(geodata.fingerprint().encode())
    for f in _build_inputs():
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return f"{_MANUAL_VERSION}.{h.hexdigest()[:10]}"


BUILD_VERSION = _build_version()


def _plan_zones(layers: dict[str, gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    from .plan.zones import zones_from_layers  # lazy: the plan package loads when building

    return zones_from_layers(layers)


#: Layers derived from the built ones (e.g. the general plan's ``zones``). Each entry maps
#: a layer name to a function ``f(layers: dict[str, GeoDataFrame]) -> GeoDataFrame``; they
#: run in order after the geodata layers and before validation. This is the one place to
#: add them.
DERIVED_LAYERS: dict[str, Callable[[dict[str, gpd.GeoDataFrame]], gpd.GeoDataFrame]] = {
    "zones": _plan_zones,
}


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


def user_work(path: str | os.PathLike) -> list[str]:
    """What a user saved in the file at ``path`` that a rebuild would replace: stored
    scenarios, plan versions, observations that are not synthetic, rasters users added.
    A file that is not a twin file is reported as such (it is someone's data too).

    Examples
    --------
    >>> user_work("/nonexistent.gpkg")
    []
    """
    import sqlite3

    path = Path(path)
    if not path.exists():
        return []
    checks = {
        "scenarios": 'SELECT COUNT(*) FROM "scenarios"',
        "plan_versions": 'SELECT COUNT(*) FROM "plan_versions" WHERE kind != \'base\'',
        "score_observations": 'SELECT COUNT(*) FROM "score_observations" '
                              "WHERE synthetic IN (0, '0', 'False', 'false')",
        "rasters": "SELECT COUNT(*) FROM \"rasters\" WHERE derived IN (0, '0', 'False', "
                   "'false')",
    }
    what = {"scenarios": "stored scenario(s)", "plan_versions": "plan change(s)",
            "score_observations": "observation(s) not flagged synthetic",
            "rasters": "raster(s) added by a user"}
    try:
        conn = store.connect_readonly(path)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "twin_meta" not in tables:
                return [f"{str(path)!r} is not a twin file"]
            found = []
            for table, sql in checks.items():
                if table in tables:
                    n = int(conn.execute(sql).fetchone()[0])
                    if n:
                        found.append(f"{n:,} {what[table]}")
            return found
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return [f"{str(path)!r} is not a twin file"]


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
    from tqdm import tqdm

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
    layers = geodata.build_layers(parcels=int(parcels), progress=progress)
    for name, derive in DERIVED_LAYERS.items():
        # tidy: a GeoPackage layer holds one geometry type, so mixed Polygon/MultiPolygon
        # would come back all-Multi and the saved twin's hash would differ from the built one
        layers[name] = geodata.tidy_layer(derive(layers))
    provenance = dict(geodata.PROVENANCE)
    provenance.setdefault("zones", "derived from the layers above by the general plan "
                          "(twin/plan): industrial and protected zones follow those layers, "
                          "settlement zones and the agricultural remainder are assumed rules "
                          "(rows flagged synthetic); licences of its inputs; approximate and "
                          "synthetic rows")
    tw = Twin(name="akmola", version=BUILD_VERSION,
              provenance={k: v for k, v in provenance.items() if k in layers})
    for name, gdf in tqdm(layers.items(), desc="validate", unit="layer",
                          disable=not progress, leave=False):
        tw.add_layer(name, gdf)
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
    >>> tw["districts"]["id"].tolist()[:3]        # doctest: +SKIP
    ['kokshetau', 'stepnogorsk', 'kosshy']
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
