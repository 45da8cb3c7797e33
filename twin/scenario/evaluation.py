"""What a scenario changes: the deltas between two :class:`~twin.scenario.engine.State`s.

Every table compares the scenario with the baseline, side by side, so a reader sees both
numbers and the change. Measures and their definitions:

investment and jobs by district
    Sums over the project sites by their district (all statuses).
land take by zone
    ``zone_ha``: the plan's zone areas by type (rezones move land between types);
    ``footprint_ha``: hectares of project footprints by the zone type under each site
    (existing projects have no footprint in the twin, so this counts the scenario's own).
compliance findings
    Keyed by (site, rule, severity): *new* are in the scenario only, *resolved* in the
    baseline only, *moved* in both but about a site the scenario moves (the finding went
    with it). Each is a GeoDataFrame located at its site, lon/lat.
sanitary-zone conflicts
    Over the ``sanitary_zone`` findings: sites, residential parcels and their hectares
    (summed over sites, so a parcel inside two zones counts twice) and the people of the
    settlements inside any zone (each settlement once).
population within 30 km of the new jobs
    People of the settlements within :data:`~twin.scenario.engine.ACCESS_RADIUS_M` of a site
    the scenario adds or moves (each settlement once), and per changed site before/after.
floor-area capacity
    Σ parcel area x max FAR of the parcel's zone type, per district.
region score
    The scenario's projects are counted as realised within the score's 12-month window:
    each indicator the twin's registry says projects move (``projects: {column, scale}``,
    e.g. investment by ``investment_kzt`` x 1e-9 bn KZT) moves in a district by ``scale`` x
    the scenario's change of that column there; weights edits apply. Normalisation and
    aggregation stay the baseline's.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..crs import to_storage
from ..plan.regulations import ZONE_TYPES
from .engine import ACCESS_RADIUS_M, Baseline, State

__all__ = ["Evaluation", "evaluate_states"]

_KEY = ["site_id", "rule", "severity"]


@dataclass(frozen=True)
class Evaluation:
    """The consequences of a scenario, as deltas against its baseline.

    Attributes
    ----------
    districts : DataFrame
        Per district: ``investment_kzt``, ``jobs`` and ``capacity_m2``, each as
        ``*_base``, the scenario's value and ``d_*`` (change).
    land_take : DataFrame
        Per zone type: ``zone_ha_base``, ``zone_ha``, ``d_zone_ha``, ``footprint_ha_base``,
        ``footprint_ha``, ``d_footprint_ha``.
    findings : GeoDataFrame
        Every compliance finding of the scenario (:data:`twin.plan.FINDING_COLUMNS`), at
        its site (lon/lat).
    findings_new, findings_resolved : GeoDataFrame
        Findings in the scenario only (at the site's new place) and in the baseline only
        (at its old place).
    findings_moved : GeoDataFrame
        Findings in both about a site the scenario moves: the scenario's finding at the new
        place, with ``base_lon``/``base_lat`` (the old place) and ``moved_m``.
    sanitary : DataFrame
        Rows ``sites``, ``parcels``, ``hectares``, ``population``; columns ``base``,
        ``scenario``, ``change``.
    access : DataFrame
        Per site the scenario adds, moves or removes: ``change``, ``jobs``,
        ``population_30km_base``, ``population_30km``.
    score : DataFrame or None
        Per unit: ``score_base``, ``score``, ``score_change``, ``rank_base``, ``rank``,
        ``rank_change`` (positive = moved up). None when the twin has no score data.
    district_shapes : GeoSeries
        The districts' outlines (lon/lat) by district id, for maps of the changes.
    unavailable : dict
        What this evaluation cannot measure with the layers the twin has, per missing part
        (e.g. ``{"parcels": "no parcels: capacity by parcel is not available; ..."}``).

    ``plot()`` draws the changes (see :mod:`twin.plotting`; the ``viz`` extra).
    """

    districts: pd.DataFrame
    land_take: pd.DataFrame
    findings_new: pd.DataFrame
    findings_resolved: pd.DataFrame
    sanitary: pd.DataFrame
    access: pd.DataFrame
    population_30km_new_jobs: int
    score: pd.DataFrame | None
    region_score_base: float | None
    region_score: float | None
    edits: tuple = field(default=())
    findings_moved: gpd.GeoDataFrame | None = None
    findings: gpd.GeoDataFrame | None = None
    district_shapes: gpd.GeoSeries | None = field(default=None, repr=False, compare=False)
    unavailable: dict = field(default_factory=dict)

    def summary(self) -> pd.Series:
        """The headline numbers, one value each, as a Series (what :func:`compare`
        tabulates, a row per scenario)."""
        d, lt, s = self.districts, self.land_take, self.sanitary["change"]
        out: dict[str, object] = {
            "edits": len(self.edits),
            "d_investment_kzt": int(d["d_investment_kzt"].sum()),
            "d_jobs": int(d["d_jobs"].sum()),
            "rezoned_ha": float(lt["d_zone_ha"].clip(lower=0).sum()),
            "d_footprint_ha": float(lt["d_footprint_ha"].sum()),
            "new_findings": len(self.findings_new),
            "resolved_findings": len(self.findings_resolved),
            "moved_findings": 0 if self.findings_moved is None else len(self.findings_moved),
            "new_errors": int((self.findings_new["severity"] == "error").sum()),
            "d_szz_sites": int(s["sites"]),
            "d_szz_parcels": int(s["parcels"]),
            "d_szz_ha": float(s["hectares"]),
            "d_szz_population": int(s["population"]),
            "population_30km_new_jobs": int(self.population_30km_new_jobs),
            "d_capacity_m2": float(d["d_capacity_m2"].sum()),
            "d_region_score": (None if self.region_score is None
                               or self.region_score_base is None
                               else self.region_score - self.region_score_base),
            "units_changing_rank": (None if self.score is None
                                    else int((self.score["rank_change"] != 0).sum())),
        }
        if self.unavailable:
            out["unavailable"] = "; ".join(self.unavailable.values())
        return pd.Series(out, dtype=object, name="change")

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v:,.6g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in self.summary().items() if k != "unavailable")
        return f"<Evaluation {parts}>"

    def _repr_html_(self) -> str:
        """Headline numbers, then the findings and the districts and units that change."""
        def table(title: str, df: pd.DataFrame, cols: list[str], n: int = 10) -> str:
            if df is None or df.empty:
                return ""
            more = f" (first {n} of {len(df)})" if len(df) > n else ""
            body = pd.DataFrame(df[[c for c in cols if c in df]]).head(n).to_html(
                float_format=lambda v: f"{v:,.1f}", na_rep="–")
            return f"<h4>{html.escape(title)}{more}</h4>{body}"

        s = self.summary()
        head = pd.DataFrame({"change": [("–" if v is None else
                                         f"{v:,.2f}" if isinstance(v, float) else
                                         f"{v:,}" if isinstance(v, int) else str(v))
                                        for v in s.to_numpy()]}, index=s.index)
        d = self.districts
        moved = d[(d[["d_investment_kzt", "d_jobs", "d_capacity_m2"]] != 0).any(axis=1)]
        score = self.score
        ranked = None if score is None else score[score["rank_change"] != 0]
        cols = ["site_id", "rule", "severity", "zone_type", "message"]
        return "".join([
            f"<div><b>Scenario evaluation</b>: {len(self.edits)} edit(s) against the "
            "baseline", head.to_html(),
            table("New findings", self.findings_new, cols),
            table("Resolved findings", self.findings_resolved, cols),
            table("Findings that moved with their site", self.findings_moved,
                  cols[:3] + ["moved_m", "message"]),
            table("Districts that change", moved,
                  ["district", "d_investment_kzt", "d_jobs", "d_capacity_m2"]),
            table("Units that change rank", ranked,
                  ["name", "score_base", "score", "rank_base", "rank", "rank_change"]),
            "</div>"])

    def plot(self, column: str = "d_jobs", **kwargs):
        """A picture of the changes: ``column`` of :attr:`districts` on a map centred on
        zero, and the units' rank changes (the plotting backend's, see
        :mod:`twin.plotting`)."""
        from .. import plotting

        return plotting.plot(self, column=column, **kwargs)


_TYPES = list(ZONE_TYPES) + ["outside"]


def _by_district(b: Baseline, sites: pd.DataFrame, col: str) -> np.ndarray:
    # NumPy, not groupby: a few hundred sites, where pandas' overhead is the whole cost
    code = {k: i for i, k in enumerate(b.district_ids)}
    d = np.fromiter((code.get(x, -1) for x in sites["district_id"].astype(str)), np.int64,
                    count=len(sites))
    # a figure not known for a site (NaN) adds nothing to its district's sum
    v = pd.to_numeric(sites[col], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    ok = d >= 0
    out = np.zeros(len(b.district_ids), dtype=np.int64)
    np.add.at(out, d[ok], v[ok])
    return out


def _zone_ha(zones) -> np.ndarray:
    code = {z: i for i, z in enumerate(ZONE_TYPES)}
    t = np.fromiter((code[z] for z in zones["zone_type"]), np.int64, count=len(zones))
    a = shapely.area(np.asarray(zones.geometry.values)) / 1e4
    return np.bincount(t, weights=a, minlength=len(_TYPES))


def _footprints(st: State) -> np.ndarray:
    area = st.sites["area_ha"].to_numpy(dtype=float)
    sel = np.flatnonzero(area > 0)
    out = np.zeros(len(_TYPES))
    if not len(sel):
        return out
    zi = st.ctx.zone_of(np.asarray(st.sites.geometry.values)[sel])
    zt = np.where(zi >= 0, st.ctx._zone_type[np.clip(zi, 0, None)], "outside")
    np.add.at(out, [_TYPES.index(z) for z in zt], area[sel])
    return out


def _sanitary(b: Baseline, f: pd.DataFrame) -> pd.Series:
    z = f[f["rule"] == "sanitary_zone"]
    people = {a for t in z["affected"] for a in t}
    return pd.Series({"sites": z["site_id"].nunique(), "parcels": int(z["parcels"].sum()),
                      "hectares": float(z["hectares"].sum()),
                      "population": int(sum(b.pop_of.get(a, 0) for a in people))})


def _catchment(b: Baseline, pts) -> tuple[int, list[int]]:
    """Population within the access radius of any of ``pts`` (each settlement once), and of
    each point alone."""
    if b.st_tree is None or not len(pts):
        return 0, [0] * len(pts)
    if len(pts) == 1:  # one site's catchment: kept, as the same sites recur edit after edit
        memo = b.__dict__.setdefault("_eval_memo", {}).setdefault("catchment", {})
        k = shapely.to_wkb(pts[0])
        if k not in memo:
            j = b.st_tree.query(pts[0], predicate="dwithin", distance=ACCESS_RADIUS_M)
            memo[k] = int(b.st_pop[j].sum())
        return memo[k], [memo[k]]
    i, j = b.st_tree.query(np.asarray(pts, dtype=object), predicate="dwithin",
                           distance=ACCESS_RADIUS_M)
    each = np.bincount(i, weights=b.st_pop[j], minlength=len(pts)).astype(np.int64)
    return int(b.st_pop[np.unique(j)].sum()), each.tolist()


def _access(b: Baseline, base: State, st: State) -> tuple[pd.DataFrame, int]:
    cols = ["site_id", "change", "jobs", "population_30km_base", "population_30km"]
    if not st.origin:
        return pd.DataFrame(columns=cols).astype({"jobs": np.int64}), 0
    ids = sorted(st.origin)

    def lookup(s):
        pos = {k: i for i, k in enumerate(s["id"])}
        g = np.asarray(s.geometry.values)
        jobs = pd.to_numeric(s["jobs"], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
        return [(g[pos[k]], int(jobs[pos[k]])) if k in pos else (None, 0) for k in ids]

    before, after = lookup(base.sites), lookup(st.sites)
    rows, new_pts = [], []
    for sid, (gb, jb), (ga, ja) in zip(ids, before, after, strict=True):
        pb = _catchment(b, [gb])[1][0] if gb is not None else 0
        pa = _catchment(b, [ga])[1][0] if ga is not None else 0
        jobs = ja if ga is not None else jb
        if ga is not None and jobs > 0:
            new_pts.append(ga)
        rows.append((sid, st.origin[sid], jobs, pb, pa))
    total, _ = _catchment(b, new_pts)
    return pd.DataFrame(rows, columns=cols), total


def _project_moves(b: Baseline, reg, base: State, st: State) -> dict[str, np.ndarray]:
    """Per indicator the projects move (registry ``reg``'s ``projects:``), its change in
    each district, in the indicator's unit."""
    out = {}
    for ind in reg.moved_by_projects:
        col = ind.project_column
        if col in st.sites.columns and col in base.sites.columns:
            out[ind.id] = ind.project_scale * (
                _by_district(b, st.sites, col) - _by_district(b, base.sites, col))
    return out


def _score(b: Baseline, base: State, st: State):
    if b.score_panel is None or b.score_config is None or b.score_registry is None:
        return None, None, None
    from dataclasses import replace

    from ..score.composite import compute

    panel, cfg = b.score_panel, b.score_config
    memo = b.__dict__.setdefault("_eval_memo", {})
    t0 = memo.get("score")
    if t0 is None:
        t0 = memo["score"] = compute(panel, cfg)
    new_cfg = replace(cfg.with_weights(
        {**dict(cfg.weights), **st.weights},
        {**dict(cfg.dimension_weights), **st.dimension_weights}),
        normalisation=cfg.normalisation, aggregation=cfg.aggregation)
    # The score depends only on these deltas and weights; an edit that changes neither
    # (a rezone, a FAR) reuses the last result.
    moves = _project_moves(b, b.score_registry, base, st)
    key = (tuple((i, tuple(v.tolist())) for i, v in moves.items()),
           new_cfg.weights, new_cfg.dimension_weights)
    cache = memo.setdefault("score_by_key", {})
    t1 = cache.get(key)
    if t1 is None:
        if any(v.any() for v in moves.values()) or new_cfg != cfg:
            raw = panel.raw.copy()
            for iid, dv in moves.items():
                # district order is the baseline's; the panel's units are the same ids
                delta = pd.Series(dv, index=b.district_ids).reindex(raw.index, fill_value=0)
                raw[iid] = raw[iid] + delta.to_numpy(dtype=float)
            t1 = compute(replace(panel, raw=raw), new_cfg)
        else:
            t1 = t0
        if len(cache) > 64:
            cache.clear()
        cache[key] = t1
    df = pd.DataFrame({"name": t0.unit_names, "score_base": t0.composite,
                       "score": t1.composite, "rank_base": t0.rank, "rank": t1.rank})
    df["score_change"] = df["score"] - df["score_base"]
    df["rank_change"] = df["rank_base"] - df["rank"]
    df = df[["name", "score_base", "score", "score_change", "rank_base", "rank",
             "rank_change"]].sort_values("rank")
    return df, t0.region_score, t1.region_score


def _parts(b: Baseline, st: State) -> dict:
    """Measures of one state on its own; those of the baseline state are kept on the
    :class:`Baseline`, so an evaluation computes only the scenario's side."""
    memo = b.__dict__.setdefault("_eval_memo", {})
    if st is b.state and "base" in memo:
        return memo["base"]
    far = np.array([st.regs[z].max_far for z in ZONE_TYPES] + [0.0])
    p = {"investment_kzt": _by_district(b, st.sites, "investment_kzt"),
         "jobs": _by_district(b, st.sites, "jobs"),
         "capacity_m2": st.area_by @ far * 1e4,
         "zone_ha": _zone_ha(st.zones), "footprint_ha": _footprints(st),
         "sanitary": _sanitary(b, st.findings),
         "keys": pd.MultiIndex.from_frame(st.findings[_KEY])}
    if st is b.state:
        memo["base"] = p
    return p


def evaluate_states(b: Baseline, base: State, st: State, edits=()) -> Evaluation:
    """The :class:`Evaluation` of state ``st`` against ``base``."""
    p0, p1 = _parts(b, base), _parts(b, st)
    d = pd.DataFrame({"district": [b.district_names.get(i, i) for i in b.district_ids]},
                     index=pd.Index(b.district_ids, name="district_id"))
    for col in ("investment_kzt", "jobs", "capacity_m2"):
        d[f"{col}_base"] = p0[col]
        d[col] = p1[col]
        d[f"d_{col}"] = p1[col] - p0[col]
    lt = pd.DataFrame({"zone_ha_base": p0["zone_ha"], "zone_ha": p1["zone_ha"]},
                      index=pd.Index(_TYPES, name="zone_type"))
    lt["d_zone_ha"] = lt["zone_ha"] - lt["zone_ha_base"]
    lt["footprint_ha_base"] = p0["footprint_ha"]
    lt["footprint_ha"] = p1["footprint_ha"]
    lt["d_footprint_ha"] = lt["footprint_ha"] - lt["footprint_ha_base"]
    fb, fs = _located(b, base.findings, base.sites), _located(b, st.findings, st.sites)
    new = fs[~p1["keys"].isin(p0["keys"])].reset_index(drop=True)
    resolved = fb[~p0["keys"].isin(p1["keys"])].reset_index(drop=True)
    moved = _moved(b, fs[p1["keys"].isin(p0["keys"])], fb, st)
    san = pd.DataFrame({"base": p0["sanitary"], "scenario": p1["sanitary"]})
    san["change"] = san["scenario"] - san["base"]
    access, total = _access(b, base, st)
    score, r0, r1 = _score(b, base, st)
    unavailable = dict(b.unavailable)
    unavailable.pop("project_sites", None)  # a scenario's own sites are still measured
    if score is None:
        unavailable["score"] = ("no score observations: the region score part is not "
                                "available; ingest observations (`twin score ingest`)")
    return Evaluation(districts=d, land_take=lt, findings_new=new, findings_resolved=resolved,
                      sanitary=san, access=access, population_30km_new_jobs=total,
                      score=score, region_score_base=r0, region_score=r1, edits=tuple(edits),
                      findings_moved=moved, findings=fs.reset_index(drop=True),
                      district_shapes=_district_shapes(b), unavailable=unavailable)


def _located(b: Baseline, findings: pd.DataFrame, sites) -> gpd.GeoDataFrame:
    """Findings as a lon/lat GeoDataFrame, each at its site."""
    pos = dict(zip(sites["id"].astype(str), np.asarray(sites.geometry.values), strict=True))
    geoms = [pos.get(str(k)) for k in findings["site_id"]]
    return to_storage(gpd.GeoDataFrame(findings, geometry=geoms, crs=b.crs))


def _moved(b: Baseline, both: gpd.GeoDataFrame, fb: gpd.GeoDataFrame,
           st: State) -> gpd.GeoDataFrame:
    """The findings of ``both`` whose site the scenario moved, with the old place."""
    moved = both[both["site_id"].map(st.origin).eq("moved")].reset_index(drop=True)
    old = fb.drop_duplicates("site_id").set_index("site_id").geometry
    before = gpd.GeoSeries(old.reindex(moved["site_id"]).to_numpy(), crs=fb.crs)
    moved["base_lon"], moved["base_lat"] = before.x.to_numpy(), before.y.to_numpy()
    a = before.to_crs(b.crs).reset_index(drop=True)
    moved["moved_m"] = a.distance(moved.geometry.to_crs(b.crs).reset_index(drop=True))
    return moved


def _district_shapes(b: Baseline) -> gpd.GeoSeries:
    memo = b.__dict__.setdefault("_eval_memo", {})
    if "district_shapes" not in memo:
        d = b.twin["districts"]
        memo["district_shapes"] = gpd.GeoSeries(
            d.geometry.to_numpy(), index=pd.Index(b.district_ids, name="district_id"),
            crs=d.crs)
    return memo["district_shapes"]
