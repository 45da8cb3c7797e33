"""Raster surfaces of the twin: build them, register them, and vet the rasters users bring.

Every raster is a Cloud-Optimized GeoTIFF (tiled, DEFLATE, internal overviews) in a sidecar
folder beside the twin file, ``<twin file>.rasters/NAME.tif``, written atomically. The twin
lists them in its ``rasters`` attribute table (:data:`RASTER_TABLE`), saved with the twin,
so a raster is always looked up by a registered name and never by a path a user typed.

Two surfaces are derived from the layers when the twin is built (:func:`build_rasters`):

- ``population_density``: people per km², a Gaussian kernel around each settlement scaled
  to its population (:func:`population_density`);
- ``suitability``: development suitability 0..1, zero on the constraints (protected areas
  and water by default; the plan's sanitary zones can be passed in), higher near
  settlements, industrial zones and roads where a ``roads`` layer exists (:func:`suitability`).

Both are computed on one grid in the twin's equal-area analysis CRS, so every cell has the
same area and a density integrates to people. rasterio is imported inside the functions
that need it, so ``import twin`` stays light.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import MissingCRS, TwinError

__all__ = [
    "RASTER_TABLE", "RasterInfo", "Surface", "RasterError", "RasterNotFound",
    "RasterFormatError", "RasterTooLarge", "OutsideRaster", "InvalidPoint",
    "raster_dir", "list_rasters", "get_raster", "build_rasters", "population_density",
    "suitability", "default_constraints", "write_cog", "check_user_raster", "add_raster",
    "save_registry", "value_at",
]

RASTER_TABLE = "rasters"
#: Registered names double as file names, so they are kept to a safe alphabet.
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: Limits on a user's raster: enough for a region at 10 m, small enough to serve.
MAX_PIXELS = 20_000 * 20_000
MAX_BANDS = 4
MAX_BYTES = 2 * 2**30
#: Colormaps a raster may name: rio-tiler's built-in ones that read well on a basemap.
COLORMAPS = ("ylorrd", "rdylgn", "viridis", "magma", "blues", "greens", "greys", "terrain")
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF


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
    path: Path | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["bounds"] = list(self.bounds)
        d.pop("path")
        d.pop("file")
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
def raster_dir(twin_path) -> Path:
    """The sidecar folder holding a twin file's rasters: ``<twin file>.rasters``."""
    return Path(str(twin_path) + ".rasters")


def _rows(tw) -> pd.DataFrame:
    return tw.tables.get(RASTER_TABLE, pd.DataFrame(columns=["name"]))


def _from_row(row, folder: Path | None) -> RasterInfo:
    nodata = row["nodata"]
    return RasterInfo(
        name=row["name"], file=row["file"], title=row["title"],
        description=row["description"], units=row["units"], method=row["method"],
        source=row["source"], derived=bool(row["derived"]), synthetic=bool(row["synthetic"]),
        colormap=row["colormap"], vmin=float(row["vmin"]), vmax=float(row["vmax"]),
        nodata=None if nodata is None or pd.isna(nodata) else float(nodata),
        dtype=row["dtype"], width=int(row["width"]), height=int(row["height"]),
        count=int(row["count"]), crs=row["crs"], bounds=tuple(json.loads(row["bounds"])),
        version=row["version"], path=(folder / row["file"]) if folder else None,
    )


def list_rasters(tw) -> list[RasterInfo]:
    """The twin's registered rasters, in registration order."""
    folder = raster_dir(tw.path) if tw.path else None
    return [_from_row(r, folder) for _, r in _rows(tw).iterrows()]


def get_raster(tw, name: str) -> RasterInfo:
    """The registered raster ``name``, with its file checked to exist inside the sidecar.

    The path comes from the registry row, never from ``name``, and must resolve to a file
    directly inside the sidecar folder, so neither a request nor an edited table can point
    the server at another file.
    """
    rows = _rows(tw)
    hit = rows[rows["name"] == name] if len(rows) else rows
    if not len(hit):
        known = ", ".join(rows["name"]) if len(rows) else "none"
        raise RasterNotFound(
            f"twin {tw.name!r} has no raster {name!r} (it has: {known}): list them at "
            "/raster or add one with `twin add-raster NAME FILE`"
        )
    if tw.path is None:
        raise RasterNotFound(f"raster {name!r}: the twin is not saved, so it has no rasters "
                             "folder: save it, then build or add the raster")
    folder = raster_dir(tw.path).resolve()
    info = _from_row(hit.iloc[0], folder)
    path = info.path.resolve()
    if path.parent != folder or not re.fullmatch(r"[a-z][a-z0-9_]*\.tif", path.name):
        raise RasterNotFound(f"raster {name!r} is registered with an unusable file name "
                             f"{info.file!r}: re-add it with `twin add-raster`")
    if not path.is_file():
        raise RasterNotFound(
            f"raster {name!r} is registered but {path.name} is missing from {folder}: "
            "rebuild with `twin build` or re-add it with `twin add-raster`"
        )
    return info


def _register(tw, info: RasterInfo) -> None:
    rows = _rows(tw)
    row = {**asdict(info), "bounds": json.dumps(list(info.bounds))}
    row.pop("path")
    rows = rows[rows["name"] != info.name] if len(rows) else pd.DataFrame(columns=list(row))
    tw.tables[RASTER_TABLE] = pd.concat([rows, pd.DataFrame([row])], ignore_index=True)


def save_registry(tw) -> None:
    """Write the twin's raster table into its file, in one transaction (no full re-save)."""
    from .store import transaction, write_table

    with transaction(tw.path) as conn:
        write_table(conn, RASTER_TABLE, tw.tables[RASTER_TABLE])


def _check_name(name: str) -> None:
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

    from .store import atomic_path

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


def _describe(path: Path, name: str, meta: dict) -> RasterInfo:
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as src:
        bounds = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
        info = dict(dtype=src.dtypes[0], width=src.width, height=src.height,
                    count=src.count, crs=src.crs.to_string(), nodata=src.nodata)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return RasterInfo(
        name=name, file=f"{name}.tif", title=meta["title"], description=meta["description"],
        units=meta.get("units", ""), method=meta.get("method", ""),
        source=meta.get("source", ""), derived=bool(meta.get("derived", False)),
        synthetic=bool(meta.get("synthetic", False)), colormap=meta["colormap"],
        vmin=float(meta["vmin"]), vmax=float(meta["vmax"]),
        bounds=tuple(round(float(b), 7) for b in bounds), version=digest, path=path, **info,
    )


# -- the grid and the surfaces ------------------------------------------------------------
def _grid(tw, resolution: float):
    """A north-up grid in the analysis CRS covering the region, and the in-region mask."""
    from affine import Affine
    from rasterio.features import geometry_mask

    if "region" in tw:
        shapes = list(tw.metric("region").geometry)
    elif "settlements" in tw:  # no outline: cover the settlements with a margin
        shapes = list(tw.metric("settlements").geometry.buffer(20 * resolution))
    else:
        raise RasterError(f"twin {tw.name!r} has neither a region nor settlements to grid: "
                          "add a 'region' layer first")
    x0, y0, x1, y1 = np.array([s.bounds for s in shapes]).T
    west = np.floor(x0.min() / resolution) * resolution - resolution
    north = np.ceil(y1.max() / resolution) * resolution + resolution
    w = int(np.ceil((x1.max() + resolution - west) / resolution))
    h = int(np.ceil((north - (y0.min() - resolution)) / resolution))
    # Affine built directly: rasterio.transform.from_origin uses the `*` that affine 3
    # deprecates, and warnings are errors in the tests.
    transform = Affine(resolution, 0.0, west, 0.0, -resolution, north)
    inside = geometry_mask(shapes, (h, w), transform, invert=True)
    return transform, (h, w), inside


def _synthetic(tw, *names: str) -> bool:
    return any(n in tw and bool(tw[n]["synthetic"].any()) for n in names)


def population_density(tw, *, resolution: float = 500.0, k: float = 15.0,
                       sigma_max: float = 5_000.0) -> Surface:
    r"""People per km², spread from each settlement with a Gaussian kernel.

    Settlement *i* with population :math:`P_i` spreads over a Gaussian of width
    :math:`\sigma_i = \mathrm{clip}(k\sqrt{P_i},\ r,\ \sigma_{max})` metres (*r* the cell
    size), cut at :math:`3\sigma_i` and normalised on the grid, so each settlement's cells
    add up to exactly its population; :math:`D = \sum_i P_i K_i / a` with *a* the cell area
    in km². Cells outside the region are nodata, so people within :math:`3\sigma` of the
    border but outside it are dropped.

    Examples
    --------
    >>> # s = population_density(tw); s.data[s.data >= 0].sum() * 0.25  # ≈ population
    """
    from .crs import to_metric

    transform, (h, w), inside = _grid(tw, resolution)
    dens = np.zeros((h, w), dtype="float64")
    pts = to_metric(tw["settlements"], tw.analysis_crs) if "settlements" in tw else None
    cell_km2 = resolution * resolution / 1e6
    if pts is not None:
        pop = pts["population"].fillna(0).to_numpy(dtype="float64")
        for x, y, p in zip(pts.geometry.x, pts.geometry.y, pop, strict=True):
            if p <= 0:
                continue
            sigma = float(np.clip(k * np.sqrt(p), resolution, sigma_max))
            c0, c1 = ((np.array([x - 3 * sigma, x + 3 * sigma]) - transform.c) / resolution)
            r0, r1 = ((transform.f - np.array([y + 3 * sigma, y - 3 * sigma])) / resolution)
            c0, r0 = max(int(c0), 0), max(int(r0), 0)
            c1, r1 = min(int(np.ceil(c1)) + 1, w), min(int(np.ceil(r1)) + 1, h)
            if c0 >= c1 or r0 >= r1:
                continue
            cx = transform.c + (np.arange(c0, c1) + 0.5) * resolution - x
            cy = transform.f - (np.arange(r0, r1) + 0.5) * resolution - y
            kern = np.exp(-(cy[:, None] ** 2 + cx[None, :] ** 2) / (2 * sigma * sigma))
            if kern.sum() > 0:
                dens[r0:r1, c0:c1] += p * kern / kern.sum() / cell_km2
    nodata = -9999.0
    out = np.where(inside, dens, nodata).astype("float32")
    valid = out[inside]
    vmax = float(np.percentile(valid[valid > 0], 99)) if (valid > 0).any() else 1.0
    method = (f"Gaussian kernel around each settlement point, sigma = clip({k:g}*sqrt("
              f"population), {resolution:g} m, {sigma_max:g} m), cut at 3 sigma and "
              "normalised so each settlement's cells sum to its population; cells outside "
              "the region are nodata")
    return Surface("population_density", out, transform, tw.analysis_crs.to_wkt(), nodata, {
        "title": "Population density", "units": "people/km2",
        "description": "Modelled population density (people per km²) from settlement "
                       "populations; derived, not a census grid.",
        "method": method, "source": "derived from the twin's settlements layer",
        "derived": True, "synthetic": _synthetic(tw, "settlements"),
        "colormap": "ylorrd", "vmin": 0.0, "vmax": round(max(vmax, 1.0), 1),
        "inputs": ["settlements"], "resolution_m": resolution,
    })


def default_constraints(tw) -> dict:
    """The twin's own no-build layers: protected areas, and water where the twin has it.

    Pass a larger mapping to :func:`suitability` to add the plan's buffers, e.g.
    ``{**default_constraints(tw), "sanitary_zones": zones_gdf}``.
    """
    return {n: tw[n] for n in ("protected_areas", "water") if n in tw}


def _distance_to(shapes, transform, shape) -> np.ndarray | None:
    """Metres from each cell to the nearest cell the shapes touch (an exact EDT)."""
    from rasterio.features import rasterize
    from scipy.ndimage import distance_transform_edt

    shapes = [s for s in shapes if s is not None and not s.is_empty]
    if not shapes:
        return None
    hit = rasterize(((s, 1) for s in shapes), out_shape=shape, transform=transform,
                    all_touched=True, dtype="uint8")
    if not hit.any():
        return None
    return distance_transform_edt(hit == 0) * abs(transform.a)


def suitability(tw, *, constraints: Mapping | None = None, resolution: float = 500.0,
                attractors: Mapping[str, tuple[float, float]] | None = None) -> Surface:
    r"""Development suitability 0..1: zero on constraints, higher near what development needs.

    .. math:: S = \frac{\sum_k w_k\, e^{-d_k / L_k}}{\sum_k w_k},\qquad S = 0
       \text{ on any constraint}

    where :math:`d_k` is the distance (m) to the nearest feature of attractor layer *k*,
    :math:`w_k` its weight and :math:`L_k` its decay length. Attractors default to
    settlements (w 0.5, L 10 km), industrial zones (w 0.3, L 25 km) and roads (w 0.2,
    L 5 km); a layer the twin lacks is left out and the weights renormalise. The default
    twin has no road layer, so roads are not scored there (the metadata says so).

    Parameters
    ----------
    constraints : mapping of name to GeoDataFrame/GeoSeries, optional
        No-build areas (any CRS). Default :func:`default_constraints`; add the plan's
        sanitary protection zones here.
    attractors : mapping of layer name to (weight, decay length in m), optional
    """
    from .crs import to_metric

    transform, shape, inside = _grid(tw, resolution)
    attractors = dict(attractors or {"settlements": (0.5, 10_000.0),
                                     "industrial_zones": (0.3, 25_000.0),
                                     "roads": (0.2, 5_000.0)})
    score, weight, used = np.zeros(shape), 0.0, []
    for lname, (wk, lk) in attractors.items():
        d = _distance_to(list(tw.metric(lname).geometry), transform, shape) \
            if lname in tw else None
        if d is None:
            continue
        score += wk * np.exp(-d / lk)
        weight += wk
        used.append(f"{lname} (w {wk:g}, L {lk / 1000:g} km)")
    score = score / weight if weight else score
    constraints = default_constraints(tw) if constraints is None else dict(constraints)
    blocked = np.zeros(shape, dtype=bool)
    for cname, gdf in constraints.items():
        if getattr(gdf, "crs", None) is None:
            raise MissingCRS(f"suitability constraint {cname!r} has no CRS: set one with "
                             ".set_crs(...) before passing it")
        d = _distance_to(list(to_metric(gdf, tw.analysis_crs).geometry), transform, shape)
        if d is not None:
            blocked |= d == 0
    nodata = -9999.0
    out = np.where(inside, np.where(blocked, 0.0, score), nodata).astype("float32")
    missing = [n for n in attractors if n not in tw]
    note = (f"; not scored (no such layer in the twin): {', '.join(missing)}" if missing
            else "")
    method = ("weighted exponential distance decay, S = sum(w*exp(-d/L))/sum(w), from: "
              f"{', '.join(used) or 'nothing'}{note}; S = 0 on constraints: "
              f"{', '.join(constraints) or 'none'}")
    return Surface("suitability", out, transform, tw.analysis_crs.to_wkt(), nodata, {
        "title": "Development suitability", "units": "score 0-1",
        "description": "Development suitability 0 (excluded) to 1 (best), modelled from "
                       "distances to settlements and industrial zones; derived.",
        "method": method, "source": "derived from the twin's layers",
        "derived": True,
        "synthetic": _synthetic(tw, *attractors, *[c for c in constraints if c in tw]),
        "colormap": "rdylgn", "vmin": 0.0, "vmax": 1.0,
        "inputs": [n for n in attractors if n in tw], "constraints": list(constraints),
        "resolution_m": resolution,
    })


def build_rasters(tw, twin_path=None, *, constraints: Mapping | None = None,
                  resolution: float = 500.0) -> list[RasterInfo]:
    """Build the derived surfaces beside the twin file and register them in ``tw.tables``.

    The registry is saved with the twin: call ``tw.save(twin_path)`` afterwards, or
    :func:`save_registry` when the file already exists.
    """
    twin_path = Path(twin_path or tw.path)
    folder = raster_dir(twin_path)
    infos = []
    for surf in (population_density(tw, resolution=resolution),
                 suitability(tw, constraints=constraints, resolution=resolution)):
        path = write_cog(surf, folder / f"{surf.name}.tif")
        info = _describe(path, surf.name, surf.meta)
        _register(tw, info)
        infos.append(info)
    return infos


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
               vmax: float | None = None, **limits) -> RasterInfo:
    """Vet a user's GeoTIFF, store it as a COG in the twin's sidecar and register it.

    Tiles draw band 1 through ``colormap`` from ``vmin`` to ``vmax`` (default: the 2nd and
    98th percentiles of band 1). The registry is saved into the twin file when the twin
    has one. ``limits`` override :func:`check_user_raster`'s limits.
    """
    import rasterio
    from rasterio.shutil import copy as rio_copy

    from .store import atomic_path

    _check_name(name)
    if colormap not in COLORMAPS:
        raise RasterFormatError(f"colormap {colormap!r} is not offered: use one of "
                                f"{', '.join(COLORMAPS)}")
    if tw.path is None:
        raise RasterFormatError("the twin has no file yet: save it first, since rasters "
                                "live beside the twin file")
    check_user_raster(file, **limits)
    target = raster_dir(tw.path) / f"{name}.tif"
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
    info = _describe(target, name, meta)
    _register(tw, info)
    if tw.path.is_file():
        save_registry(tw)
    return info


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

    from .crs import transformer

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
