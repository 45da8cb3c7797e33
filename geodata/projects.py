"""Investment project sites: the source's totals reproduced exactly, with flagged rows.

The source report (2025-09-11) gives portfolio figures, not a project list: 226 projects
under implementation, about 456 bn KZT and about 2,500 jobs, and a pipeline of 7 large
projects in the "Aqmola" industrial zone creating over 4,500 jobs. It names three projects.
So:

- the three named projects are real rows (``synthetic=False``) whose made-up fields are
  listed in ``synthetic_fields``;
- the other 223 rows are synthetic, drawn from a seeded generator, and sized so that the
  226 rows sum to exactly 456,000,000,000 KZT and 2,500 jobs;
- the 7 pipeline rows stand for the real portfolio; every field but their number, zone and
  jobs total (assumed 4,600, "over 4,500") is made up, and ``synthetic_fields`` says so.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._common import SRC_REPORT, SRC_SYNTH, largest_remainder, load_config, rng
from ._metric import to_lonlat, to_metric
from .places import locate

__all__ = ["project_sites"]

_ALL_MADE_UP = "name,sector,investment_kzt,jobs,start_year,end_year,hazard_class,geometry"
_MKZT = 1_000_000  # investments are split in whole millions of tenge


def _points_near(gen, anchors_m: np.ndarray, radii_m: np.ndarray, ok) -> np.ndarray:
    """One point per anchor, uniform in a disc around it, retried until ``ok`` accepts it."""
    n = len(anchors_m)
    out = np.empty(n, dtype=object)
    todo = np.arange(n)
    for _ in range(200):
        if not len(todo):
            return out
        r = radii_m[todo] * np.sqrt(gen.random(len(todo)))
        t = gen.random(len(todo)) * 2 * np.pi
        xy = anchors_m[todo] + np.column_stack([r * np.cos(t), r * np.sin(t)])
        cand = to_lonlat(shapely.points(xy))
        good = ok(cand)
        out[todo[good]] = cand[good]
        todo = todo[~good]
    raise ValueError(f"could not place {len(todo)} project sites: widen the anchors' radii")


def project_sites(districts_gdf: gpd.GeoDataFrame, settlements_gdf: gpd.GeoDataFrame,
                  zones_gdf: gpd.GeoDataFrame, lakes_gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """226 projects under implementation plus the 7 pipeline projects of the "Aqmola" zone.

    Placement: sectors with anchors in ``config.yaml`` (gold near Aksu, Bestobe, Zholymbet
    and Stepnyak; wind near Ereymentau; ...) fall in a disc around an anchor; farming falls
    anywhere in a district, weighted by area; other sectors near a settlement, weighted by
    the square root of its population. Every point lies inside a district cell and outside
    the lakes; ``district_id`` is the cell that holds it.
    """
    cfg = load_config()["projects"]
    gen = rng(7)
    lakes = shapely.union_all(lakes_gdf.geometry.values)
    cells = shapely.union_all(districts_gdf.geometry.values)
    shapely.prepare(cells)
    shapely.prepare(lakes)

    def ok(pts):
        return shapely.contains_properly(cells, pts) & ~shapely.intersects(lakes, pts)

    def metric_xy(lonlat) -> np.ndarray:
        return shapely.get_coordinates(to_metric(shapely.points(np.asarray(lonlat, float))))

    named = cfg["named"]
    n_syn = int(cfg["implementation_count"]) - len(named)
    sectors = cfg["sectors"]
    names = list(sectors)
    counts = largest_remainder(np.array([sectors[s]["weight"] for s in names]), n_syn)
    sector = gen.permutation(np.repeat(np.array(names, dtype=object), counts))

    # anchor and radius for each synthetic row
    anchor = np.empty((n_syn, 2))
    radius = np.empty(n_syn)
    towns = settlements_gdf
    town_w = np.sqrt(towns["population"].to_numpy() + 500.0)
    town_xy = metric_xy(np.column_stack([towns.geometry.x, towns.geometry.y]))
    dist_w = districts_gdf["area_km2"].to_numpy()
    dist_rep = shapely.get_coordinates(to_metric(shapely.point_on_surface(
        districts_gdf.geometry.values)))
    for s in names:
        idx = np.flatnonzero(sector == s)
        anchors = sectors[s].get("anchors")
        if anchors:
            a = np.asarray(anchors, dtype=float)
            pick = gen.integers(0, len(a), len(idx))
            anchor[idx] = metric_xy(a[pick, :2])
            radius[idx] = a[pick, 2] * 1000
        elif s == "agriculture":
            pick = gen.choice(len(dist_w), len(idx), p=dist_w / dist_w.sum())
            anchor[idx] = dist_rep[pick]
            # a disc about the district's own size, so the farm can be anywhere in it
            radius[idx] = np.sqrt(dist_w[pick] * 1e6 / np.pi)
        else:
            pick = gen.choice(len(towns), len(idx), p=town_w / town_w.sum())
            anchor[idx] = town_xy[pick]
            radius[idx] = 15_000.0
    syn_pts = _points_near(gen, anchor, radius, ok)

    named_xy = metric_xy([p["anchor_lonlat"] for p in named])
    named_pts = _points_near(gen, named_xy, np.array([p["jitter_km"] * 1000.0 for p in named]),
                             ok)

    # money and jobs: the named rows take assumed shares; the synthetic rows split the rest
    total_m = int(cfg["implementation_investment_kzt"]) // _MKZT
    named_inv = np.array([round(p["investment_share"] * total_m) for p in named])
    inv_w = np.array([sectors[s]["inv_scale"] * gen.lognormal(0, sectors[s]["inv_sigma"])
                      for s in sector])
    syn_inv = largest_remainder(inv_w, total_m - int(named_inv.sum()), minimum=50)
    named_jobs = np.array([int(p["jobs"]) for p in named])
    jobs_w = np.array([sectors[s]["jobs_scale"] for s in sector]) * np.sqrt(inv_w) * \
        gen.lognormal(0, 0.4, n_syn)
    syn_jobs = largest_remainder(jobs_w, int(cfg["implementation_jobs"]) - int(named_jobs.sum()),
                                 minimum=1)

    years = np.asarray(cfg["start_years"])
    n_all = len(named) + n_syn
    start = years[gen.integers(0, len(years), n_all)]
    end = np.maximum(start + gen.integers(0, int(cfg["max_duration_years"]) + 1, n_all),
                     int(years.max()))

    impl = pd.DataFrame({
        "id": [p["id"] for p in named] + [f"impl-{i:03d}" for i in range(1, n_syn + 1)],
        "name": [p["name"] for p in named]
        + [f"{s.capitalize()} project {i} (synthetic)" for i, s in enumerate(sector, 1)],
        "sector": [p["sector"] for p in named] + list(sector),
        "investment_kzt": np.concatenate([named_inv, syn_inv]).astype(np.int64) * _MKZT,
        "jobs": np.concatenate([named_jobs, syn_jobs]).astype(np.int64),
        "status": "implementation",
        "start_year": start.astype(np.int64), "end_year": end.astype(np.int64),
        "source": [f"{SRC_REPORT} (named project; {p['location_note']})" for p in named]
        + [f"{SRC_SYNTH}; totals: {SRC_REPORT}"] * n_syn,
        "synthetic": [False] * len(named) + [True] * n_syn,
        "synthetic_fields": ["investment_kzt,jobs,start_year,end_year,hazard_class,geometry"]
        * len(named) + [_ALL_MADE_UP] * n_syn,
        "accuracy": ["approximate"] * len(named) + ["synthetic"] * n_syn,
    })
    impl_geom = np.concatenate([named_pts, syn_pts])

    # the pipeline: 7 projects in the industrial zone
    n_pipe = int(cfg["pipeline_count"])
    zone = zones_gdf.geometry.iloc[0]
    shapely.prepare(zone)
    zx, zy = shapely.get_coordinates(to_metric(zone.centroid))[0]
    pipe_pts = _points_near(gen, np.tile([zx, zy], (n_pipe, 1)), np.full(n_pipe, 1500.0),
                            lambda p: shapely.contains_properly(zone, p))
    pipe_w = gen.lognormal(0, 0.5, n_pipe)
    pipe_sectors = list(cfg["pipeline_sectors"])[:n_pipe]
    pstart = gen.integers(2026, 2028, n_pipe)
    pipe = pd.DataFrame({
        "id": [f"pipeline-{i}" for i in range(1, n_pipe + 1)],
        "name": [f"Aqmola zone large project {i} ({s}, synthetic)"
                 for i, s in enumerate(pipe_sectors, 1)],
        "sector": pipe_sectors,
        "investment_kzt": (gen.lognormal(np.log(60_000), 0.6, n_pipe).round() * _MKZT
                           ).astype(np.int64),
        "jobs": largest_remainder(pipe_w, int(cfg["pipeline_jobs"]), minimum=100)
        .astype(np.int64),
        "status": "pipeline",
        "start_year": pstart.astype(np.int64),
        "end_year": (pstart + gen.integers(2, 5, n_pipe)).astype(np.int64),
        "source": f"portfolio of 7 projects, >4,500 jobs: {SRC_REPORT}; rows: {SRC_SYNTH}",
        "synthetic": False,
        "synthetic_fields": _ALL_MADE_UP.replace("geometry", "jobs_split,geometry"),
        "accuracy": "approximate",
    })

    df = pd.concat([impl, pipe], ignore_index=True)
    hazard = {s: str(sectors[s]["hazard"]) for s in names}
    df["hazard_class"] = df["sector"].map(hazard).fillna("").astype(str)
    geoms = np.concatenate([impl_geom, pipe_pts])
    df["district_id"] = locate(geoms, districts_gdf)
    cols = ["id", "name", "sector", "district_id", "investment_kzt", "jobs", "status",
            "start_year", "end_year", "hazard_class", "source", "synthetic",
            "synthetic_fields", "accuracy"]
    out = gpd.GeoDataFrame(df[cols], geometry=list(geoms), crs=4326)
    for p in named:
        got = out.loc[out["id"] == p["id"], "district_id"].iloc[0]
        if got != p["district_id"]:
            raise ValueError(
                f"named project {p['id']!r} landed in {got!r}, not {p['district_id']!r}: "
                "move its anchor_lonlat or reduce jitter_km in config.yaml"
            )
    return out
