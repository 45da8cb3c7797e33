"""The derived surfaces: population density and development suitability.

Both are computed on one grid in the twin's equal-area analysis CRS, so every cell has the
same area and a density integrates to people.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import MissingCRS
from .registry import (
    RasterError,
    RasterInfo,
    Surface,
    describe,
    raster_dir,
    register,
    write_cog,
    write_web_cog,
)
from .storage import install

__all__ = ["population_density", "suitability", "default_constraints", "plan_constraints",
           "build_rasters"]

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


def population_density(tw, *, resolution: float = 500.0, k: float = 6.0,
                       sigma_max: float = 5_000.0) -> Surface:
    r"""People per km², spread from each settlement with a Gaussian kernel.

    Settlement *i* with population :math:`P_i` spreads over a Gaussian of width
    :math:`\sigma_i = \mathrm{clip}(k\sqrt{P_i},\ r,\ \sigma_{max})` metres (*r* the cell
    size), cut at :math:`3\sigma_i` and normalised on the grid, so each settlement's cells
    add up to exactly its population; :math:`D = \sum_i P_i K_i / a` with *a* the cell area
    in km². Cells outside the region are nodata, so people within :math:`3\sigma` of the
    border but outside it are dropped.

    With :math:`\sigma = k\sqrt{P}` every settlement has the same peak density,
    :math:`10^6 / (2\pi k^2)` people/km² (about 4,400 for the default *k* = 6): an
    assumption about compact town cores, not a measurement. Where the clip applies (small
    villages, at the cell size) the peak is lower.

    Examples
    --------
    >>> # s = population_density(tw); s.data[s.data >= 0].sum() * 0.25  # ≈ population
    """
    from ..crs import to_metric

    transform, (h, w), inside = _grid(tw, resolution)
    dens = np.zeros((h, w), dtype="float64")
    pts = to_metric(tw["settlements"], tw.analysis_crs) if "settlements" in tw else None
    cell_km2 = resolution * resolution / 1e6
    n_places, total = 0, 0.0
    if pts is not None:
        pop = pts["population"].fillna(0).to_numpy(dtype="float64")
        n_places, total = int((pop > 0).sum()), float(pop[pop > 0].sum())
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
              "normalised so each settlement's cells sum to its population (so every "
              f"settlement peaks near {1e6 / (2 * np.pi * k * k):,.0f} people/km2, an "
              "assumption); cells outside "
              f"the region are nodata. Only the twin's {n_places} settlements with a "
              f"population ({int(total):,} people) are spread: people living elsewhere are "
              "not represented")
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
    """The twin's own no-build layers: protected areas, and lakes and rivers where the twin
    has them.

    Pass a larger mapping to :func:`suitability` to add the plan's buffers, e.g.
    ``{**default_constraints(tw), "sanitary_zones": zones_gdf}``.
    """
    from ..schema import WATER_LAYERS

    return {n: tw[n] for n in ("protected_areas", *WATER_LAYERS) if n in tw}


def plan_constraints(tw, regulations=None) -> dict:
    """:func:`default_constraints` plus the general plan's buffers, in the analysis CRS.

    Adds ``sanitary_zones`` (sanitary protection zones around hazardous project sites) and
    ``water_protection`` (water protection zones, which contain the no-build strips), both
    from :mod:`twin.plan.buffers` with the plan's regulations.
    """
    from ..plan import sanitary_zones, water_protection

    regs = regulations or tw.regulations
    out = default_constraints(tw)
    if "project_sites" in tw:
        out["sanitary_zones"] = sanitary_zones(tw["project_sites"], regs, crs=tw.analysis_crs)
    water = tw.water()
    if water is not None:
        wp = water_protection(water, regs, crs=tw.analysis_crs)
        out["water_protection"] = wp[wp["kind"] == "zone"]
    return out


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
    settlements (w 0.5, L 20 km), industrial zones (w 0.3, L 40 km) and roads (w 0.2,
    L 5 km); a layer the twin lacks is left out and the weights renormalise. The default
    twin has no road layer, so roads are not scored there (the metadata says so).

    Parameters
    ----------
    constraints : mapping of name to GeoDataFrame/GeoSeries, optional
        No-build areas (any CRS). Default :func:`default_constraints`; add the plan's
        sanitary protection zones here.
    attractors : mapping of layer name to (weight, decay length in m), optional
    """
    from ..crs import to_metric

    transform, shape, inside = _grid(tw, resolution)
    attractors = dict(attractors or {"settlements": (0.5, 20_000.0),
                                     "industrial_zones": (0.3, 40_000.0),
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
        "synthetic": _synthetic(tw, *attractors) or any(
            "synthetic" in g and bool(g["synthetic"].any()) for g in constraints.values()),
        "colormap": "rdylgn", "vmin": 0.0, "vmax": 1.0,
        "inputs": [n for n in attractors if n in tw], "constraints": list(constraints),
        "resolution_m": resolution,
    })


def build_rasters(tw, twin_path=None, *, constraints: Mapping | None = None,
                  resolution: float = 500.0) -> list[RasterInfo]:
    """Build the derived surfaces beside the twin file and register them in ``tw.tables``.

    ``constraints`` default to :func:`plan_constraints` (protected areas, water, and the
    plan's sanitary and water protection zones). The registry and the rasters' files are
    stored in the twin file with the twin: call ``tw.save(twin_path)`` afterwards, or
    :func:`save_registry` when the file already exists.
    """
    if constraints is None:
        constraints = plan_constraints(tw)
    folder = raster_dir(twin_path or tw.store)
    infos = []
    for surf in (population_density(tw, resolution=resolution),
                 suitability(tw, constraints=constraints, resolution=resolution)):
        path = write_cog(surf, folder / f"{surf.name}.incoming.tif")
        web = write_web_cog(path, folder / f"{surf.name}.incoming.web.tif",
                            overview_resampling="average")
        info = install(tw, describe(path, surf.name, surf.meta, web), folder)
        register(tw, info)
        infos.append(info)
    return infos
