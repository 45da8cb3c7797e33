"""Synthetic cadastral parcels: towns, the industrial zone and fields, all vectorised.

Real cadastral data is not public, so every parcel here is made up (``synthetic=True``), but
it is made up in a way that looks like the region and respects its layers:

- **town plots** on a jittered grid inside a disc around each real settlement; the disc's
  area follows the population (``settlement_density_per_km2``) and the number of plots is
  proportional to the population;
- **industrial plots** on a grid inside the "Aqmola" industrial zone (at least 1 ha each);
- **fields** on one jittered rectilinear grid over the whole region, sized so the
  requested count is reached; fields touching a town, the industrial zone or a lake are
  dropped, and fields in protected areas become ``protected`` (or ``recreational`` in the
  national parks).

Every parcel is a rectangle in the equal-area CRS (so ``area_ha`` is exact), stored in
lon/lat. A parcel is kept only if its lon/lat polygon lies strictly inside one district
cell; families are kept ``margin_m`` apart and each family is a grid, so no two parcels
overlap. The count is exactly the one requested (surplus fields are dropped at random,
surplus town plots from the towns' outer edges).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from tqdm import tqdm

from ._common import SRC_SYNTH, load_config, lonlat_to_m, metric_shape_lonlat, rng
from ._metric import _transformer, area_m2, to_metric

__all__ = ["parcels", "LAND_USES"]

#: The plan's functional-zone vocabulary (facts.md, "Planning rules").
LAND_USES = ("residential", "public_business", "industrial", "infrastructure",
             "recreational", "agricultural", "special", "protected", "reserve")

_CHUNK = 50_000


def _jittered_edges(gen, start: float, length: float, n: int, lo=0.7, hi=1.3) -> np.ndarray:
    """``n + 1`` cell edges spanning ``length`` with cell sizes varying in [lo, hi]."""
    w = gen.uniform(lo, hi, n)
    return start + np.concatenate([[0.0], np.cumsum(w / w.sum() * length)])


def _grid(xe: np.ndarray, ye: np.ndarray) -> np.ndarray:
    """All cells of a rectilinear grid as rows of (x0, y0, x1, y1)."""
    x0, y0 = np.meshgrid(xe[:-1], ye[:-1])
    x1, y1 = np.meshgrid(xe[1:], ye[1:])
    return np.column_stack([x0.ravel(), y0.ravel(), x1.ravel(), y1.ravel()])


def _to_polygons(boxes: np.ndarray) -> np.ndarray:
    """Metric boxes to lon/lat polygons; shared corners map to identical coordinates."""
    x0, y0, x1, y1 = boxes.T
    xs = np.column_stack([x0, x1, x1, x0, x0])
    ys = np.column_stack([y0, y0, y1, y1, y0])
    lon, lat = _transformer(False).transform(xs.ravel(), ys.ravel())
    ring = np.stack([lon.reshape(xs.shape), lat.reshape(xs.shape)], axis=-1)
    return shapely.polygons(ring)


def _bbox_hits(polys_bounds: np.ndarray, obstacle) -> np.ndarray:
    """Indices of polygons whose bounds meet ``obstacle``'s bounds (cheap pre-filter)."""
    ox0, oy0, ox1, oy1 = shapely.bounds(obstacle)
    b = polys_bounds
    return np.flatnonzero((b[:, 0] <= ox1) & (b[:, 2] >= ox0) & (b[:, 1] <= oy1)
                          & (b[:, 3] >= oy0))


def _touching(polys: np.ndarray, bounds: np.ndarray, obstacles) -> np.ndarray:
    """Mask of polygons that intersect any obstacle."""
    hit = np.zeros(len(polys), dtype=bool)
    for ob in obstacles:
        if ob is None or shapely.is_empty(ob):
            continue
        shapely.prepare(ob)
        idx = _bbox_hits(bounds, ob)
        hit[idx[shapely.intersects(ob, polys[idx])]] = True
    return hit


def _district_of(polys: np.ndarray, districts_gdf, bar) -> np.ndarray:
    """Index of the district that strictly contains each polygon, or -1."""
    geoms = np.asarray(districts_gdf.geometry.values)
    for g in geoms:
        shapely.prepare(g)
    out = np.full(len(polys), -1, dtype=np.int64)
    for s in range(0, len(polys), _CHUNK):
        chunk = polys[s:s + _CHUNK]
        # test the first corner against every cell (cheap), then the whole polygon only
        # against the one cell that holds that corner
        xy = shapely.get_coordinates(shapely.get_point(shapely.get_exterior_ring(chunk), 0))
        cand = np.full(len(chunk), -1, dtype=np.int64)
        for d, g in enumerate(geoms):
            free = cand < 0
            cand[free] = np.where(shapely.contains_xy(g, xy[free, 0], xy[free, 1]), d, -1)
        for d, g in enumerate(geoms):
            idx = np.flatnonzero(cand == d)
            ok = shapely.contains_properly(g, chunk[idx])
            out[s + idx[ok]] = d
        bar.update(len(chunk))
    return out


def _draw(gen, mix: dict, n: int) -> np.ndarray:
    keys = list(mix)
    p = np.array([mix[k] for k in keys], dtype=float)
    return np.array(keys, dtype=object)[gen.choice(len(keys), n, p=p / p.sum())]


def _towns(gen, settlements_gdf, target: int, cfg) -> tuple:
    """Town plot boxes, their town's rank, normalised distance, and each town's cover disc."""
    pop = settlements_gdf["population"].to_numpy().astype(float)
    pop = np.where(pop > 0, pop, float(cfg["unknown_population"]))
    order = np.argsort(-pop, kind="stable")  # big towns first: they win overlaps
    n_plots = np.maximum(np.round(pop / pop.sum() * target * 1.1), 4).astype(int)
    boxes, rank, dist, covers = [], [], [], []
    for r, i in enumerate(order):
        p = settlements_gdf.geometry.iloc[i]
        cx, cy = lonlat_to_m(p.x, p.y)
        radius = max(float(cfg["settlement_min_radius_m"]),
                     np.sqrt(pop[i] / float(cfg["settlement_density_per_km2"]) / np.pi) * 1e3)
        k = int(np.ceil(np.sqrt(n_plots[i] / (np.pi / 4))))
        cells = _grid(_jittered_edges(gen, cx - radius, 2 * radius, k),
                      _jittered_edges(gen, cy - radius, 2 * radius, k))
        mx, my = (cells[:, 0] + cells[:, 2]) / 2, (cells[:, 1] + cells[:, 3]) / 2
        u = np.hypot(mx - cx, my - cy) / radius
        keep = u <= 1.0
        boxes.append(cells[keep])
        rank.append(np.full(keep.sum(), r))
        dist.append(u[keep])
        reach = radius + 2.0 * np.sqrt(2) * radius / k * 1.3 + float(cfg["margin_m"])
        covers.append(shapely.Point(cx, cy).buffer(reach, quad_segs=32))
    return np.concatenate(boxes), np.concatenate(rank), np.concatenate(dist), covers


def parcels(districts_gdf: gpd.GeoDataFrame, settlements_gdf: gpd.GeoDataFrame,
            zones_gdf: gpd.GeoDataFrame, protected_gdf: gpd.GeoDataFrame,
            lakes_gdf: gpd.GeoDataFrame, n: int | None = None,
            progress: bool = False) -> gpd.GeoDataFrame:
    """Exactly ``n`` synthetic parcels (default ``config.yaml: parcels.default_count``).

    Examples
    --------
    >>> # from geodata import build_layers
    >>> # build_layers(parcels=1_000)["parcels"].land_use.value_counts()
    """
    cfg = load_config()["parcels"]
    n = int(cfg["default_count"] if n is None else n)
    if n < 100:
        raise ValueError(f"parcels={n} is too few to cover towns, zone and fields: ask >= 100")
    gen = rng(11)
    margin = float(cfg["margin_m"])
    bar = tqdm(total=0, desc="parcels", unit="parcel", disable=not progress, leave=False)

    zone_ll = zones_gdf.geometry.iloc[0]
    zx0, zy0, zx1, zy1 = _metric_bounds(zone_ll)
    zone_ha = (zx1 - zx0) * (zy1 - zy0) / 1e4
    t_ind = int(min(round(n * float(cfg["share_industrial"])), np.floor(zone_ha * 0.9)))
    t_town = int(round(n * float(cfg["share_settlement"])))

    # industrial plots: a grid inside the zone, kept a hair inside its edge
    k = int(np.ceil(np.sqrt(t_ind * 1.05)))
    ind = _grid(_jittered_edges(gen, zx0 + 5, zx1 - zx0 - 10, k),
                _jittered_edges(gen, zy0 + 5, zy1 - zy0 - 10, k))[:max(t_ind, 1)]
    if t_ind == 0:
        ind = ind[:0]

    # town plots; lower-ranked towns lose plots that fall in a bigger town's cover disc
    town, town_rank, town_u, covers_m = _towns(gen, settlements_gdf, t_town, cfg)
    covers = [metric_shape_lonlat(c, 200.0) for c in covers_m]
    lakes = list(lakes_gdf.geometry.values)
    zone_pad = metric_shape_lonlat(shapely.box(zx0, zy0, zx1, zy1).buffer(margin), 200.0)

    town_ll = _to_polygons(town)
    tb = shapely.bounds(town_ll)
    drop = _touching(town_ll, tb, [zone_pad, *lakes])
    for r, cov in enumerate(covers):
        later = np.flatnonzero(town_rank > r)
        drop[later[_touching(town_ll[later], tb[later], [cov])]] = True
    town_ll, town, town_rank, town_u = (a[~drop] for a in (town_ll, town, town_rank, town_u))

    ind_ll = _to_polygons(ind)
    bar.total = len(town_ll) + len(ind_ll)
    d_town = _district_of(town_ll, districts_gdf, bar)
    d_ind = _district_of(ind_ll, districts_gdf, bar)
    ok_t, ok_i = d_town >= 0, d_ind >= 0
    town, town_ll, town_u, d_town = town[ok_t], town_ll[ok_t], town_u[ok_t], d_town[ok_t]
    ind, ind_ll, d_ind = ind[ok_i], ind_ll[ok_i], d_ind[ok_i]
    t_ind = min(t_ind, len(ind))
    t_town = min(t_town, len(town))
    t_field = n - t_ind - t_town

    # fields: one grid over the region, re-sized until enough survive
    outline = shapely.union_all(np.asarray(districts_gdf.geometry.values))
    rx0, ry0, rx1, ry1 = _metric_bounds(outline)
    region_m2 = float(area_m2([outline])[0])
    obstacles = [*covers, zone_pad, *lakes]
    # ~8 % of fields are lost at district edges and obstacles at the default count; ask for
    # 12 % more, and shrink the cells if that was not enough (few, large fields lose more)
    cell_m2 = region_m2 / (t_field * 1.12)
    for _attempt in range(12):
        fgen = rng(12 + _attempt)
        lo_a, hi_a = cfg["field_aspect"]
        w = np.sqrt(cell_m2 * (lo_a + hi_a) / 2)
        h = cell_m2 / w
        nx, ny = int(np.ceil((rx1 - rx0) / w)), int(np.ceil((ry1 - ry0) / h))
        xe = _jittered_edges(fgen, rx0, nx * w, nx, 0.6, 1.4)
        ye = _jittered_edges(fgen, ry0, ny * h, ny, 0.6, 1.4)
        cells = _grid(xe, ye)
        # cheap pre-filter on the cell centre before building any polygon
        cxy = np.column_stack([(cells[:, 0] + cells[:, 2]) / 2, (cells[:, 1] + cells[:, 3]) / 2])
        lon, lat = _transformer(False).transform(cxy[:, 0], cxy[:, 1])
        shapely.prepare(outline)
        cells = cells[shapely.contains_xy(outline, lon, lat)]
        f_ll = _to_polygons(cells)
        keep = ~_touching(f_ll, shapely.bounds(f_ll), obstacles)
        cells, f_ll = cells[keep], f_ll[keep]
        bar.total += len(f_ll)
        bar.refresh()
        d_f = _district_of(f_ll, districts_gdf, bar)
        ok = d_f >= 0
        if ok.sum() >= t_field:
            break
        cell_m2 *= float(np.clip(ok.sum() / t_field, 0.2, 1.0)) * 0.95
    else:  # pragma: no cover - the loop converges in one or two passes
        raise RuntimeError(f"could not fit {t_field} fields: ask for fewer parcels")
    cells, f_ll, d_f = cells[ok], f_ll[ok], d_f[ok]

    # exact count: drop surplus fields at random, surplus town plots from the outer edge
    fk = np.sort(gen.choice(len(cells), t_field, replace=False))
    cells, f_ll, d_f = cells[fk], f_ll[fk], d_f[fk]
    tk = np.sort(np.argsort(town_u, kind="stable")[:t_town])
    town, town_ll, town_u, d_town = town[tk], town_ll[tk], town_u[tk], d_town[tk]
    ind, ind_ll, d_ind = ind[:t_ind], ind_ll[:t_ind], d_ind[:t_ind]

    # land use
    lu_town = _draw(gen, cfg["town_mix"], len(town))
    core = (town_u < 0.3) & (gen.random(len(town)) < float(cfg["town_core_public_business"]))
    lu_town[core] = "public_business"
    lu_field = _draw(gen, cfg["field_mix"], len(cells))
    # field centres as coordinate arrays: a million point objects would cost ~150 MB
    clon, clat = _transformer(False).transform((cells[:, 0] + cells[:, 2]) / 2,
                                               (cells[:, 1] + cells[:, 3]) / 2)
    for _, pa in protected_gdf.iterrows():
        g = pa.geometry
        shapely.prepare(g)
        inside = shapely.contains_xy(g, clon, clat)
        lu = np.full(inside.sum(), "protected", dtype=object)
        if "national park" in pa["kind"]:
            lu[gen.random(inside.sum()) < float(cfg["protected_recreational_share"])] = \
                "recreational"
        lu_field[inside] = lu
    bar.close()

    boxes = np.concatenate([town, ind, cells])
    geoms = np.concatenate([town_ll, ind_ll, f_ll])
    ids = np.asarray(districts_gdf["id"].to_numpy(), dtype=object)
    fam = np.repeat(np.array(["town", "industrial zone", "field"], dtype=object),
                    [len(town), len(ind), len(cells)])
    out = gpd.GeoDataFrame(
        {"id": np.arange(1, len(geoms) + 1, dtype=np.int64),
         "district_id": ids[np.concatenate([d_town, d_ind, d_f])],
         "land_use": np.concatenate([lu_town, np.full(len(ind), "industrial", dtype=object),
                                     lu_field]).astype(str),
         "area_ha": (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / 1e4,
         "family": fam.astype(str),
         "source": f"{SRC_SYNTH}, geodata/parcels.py", "synthetic": True},
        geometry=geoms, crs=4326,
    )
    return out


def _metric_bounds(geom_ll) -> tuple[float, float, float, float]:
    # densified first: a lon/lat edge bows in metres, and the bounds must hold all of it
    return tuple(shapely.bounds(to_metric(shapely.segmentize(geom_ll, 0.05))))
