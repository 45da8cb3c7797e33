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
    baseline only.
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
    The scenario's projects are counted as realised within the score's 12-month window: a
    district's ``investment`` (bn KZT) and ``new_jobs`` indicators move by the scenario's
    change there; weights edits apply. Normalisation and aggregation stay the baseline's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

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
    findings_new, findings_resolved : DataFrame
        Compliance findings (:data:`twin.plan.FINDING_COLUMNS`).
    sanitary : DataFrame
        Rows ``sites``, ``parcels``, ``hectares``, ``population``; columns ``base``,
        ``scenario``, ``change``.
    access : DataFrame
        Per site the scenario adds, moves or removes: ``change``, ``jobs``,
        ``population_30km_base``, ``population_30km``.
    score : DataFrame or None
        Per unit: ``score_base``, ``score``, ``score_change``, ``rank_base``, ``rank``,
        ``rank_change`` (positive = moved up). None when the twin has no score data.
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

    def summary(self) -> dict:
        """The headline numbers, one value each (what :func:`compare` tabulates)."""
        d, lt, s = self.districts, self.land_take, self.sanitary["change"]
        out = {
            "edits": len(self.edits),
            "d_investment_kzt": int(d["d_investment_kzt"].sum()),
            "d_jobs": int(d["d_jobs"].sum()),
            "rezoned_ha": float(lt["d_zone_ha"].clip(lower=0).sum()),
            "d_footprint_ha": float(lt["d_footprint_ha"].sum()),
            "new_findings": len(self.findings_new),
            "resolved_findings": len(self.findings_resolved),
            "new_errors": int((self.findings_new["severity"] == "error").sum()),
            "d_szz_sites": int(s["sites"]),
            "d_szz_parcels": int(s["parcels"]),
            "d_szz_ha": float(s["hectares"]),
            "d_szz_population": int(s["population"]),
            "population_30km_new_jobs": int(self.population_30km_new_jobs),
            "d_capacity_m2": float(d["d_capacity_m2"].sum()),
            "d_region_score": (None if self.region_score is None
                               else self.region_score - self.region_score_base),
            "units_changing_rank": (None if self.score is None
                                    else int((self.score["rank_change"] != 0).sum())),
        }
        return out

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v:,.6g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in self.summary().items())
        return f"<Evaluation {parts}>"


def _by_district(b: Baseline, sites: pd.DataFrame, col: str) -> pd.Series:
    return sites.groupby(sites["district_id"].astype(str))[col].sum().reindex(
        b.district_ids, fill_value=0)


def _zone_ha(zones) -> pd.Series:
    a = pd.Series(shapely.area(np.asarray(zones.geometry.values)) / 1e4,
                  index=zones["zone_type"].to_numpy())
    return a.groupby(level=0).sum().reindex(list(ZONE_TYPES), fill_value=0.0)


def _footprints(st: State) -> pd.Series:
    s = st.sites
    fp = s[s["area_ha"].astype(float) > 0]
    if not len(fp):
        return pd.Series(0.0, index=list(ZONE_TYPES) + ["outside"])
    zi = st.ctx.zone_of(np.asarray(fp.geometry.values))
    zt = np.where(zi >= 0, st.ctx._zone_type[np.clip(zi, 0, None)], "outside")
    return pd.Series(fp["area_ha"].astype(float).to_numpy(), index=zt).groupby(level=0) \
        .sum().reindex(list(ZONE_TYPES) + ["outside"], fill_value=0.0)


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
    i, j = b.st_tree.query(np.asarray(pts, dtype=object), predicate="dwithin",
                           distance=ACCESS_RADIUS_M)
    each = np.bincount(i, weights=b.st_pop[j], minlength=len(pts)).astype(np.int64)
    return int(b.st_pop[np.unique(j)].sum()), each.tolist()


def _access(b: Baseline, base: State, st: State) -> tuple[pd.DataFrame, int]:
    rows, new_pts = [], []
    bs = base.sites.set_index("id")
    ss = st.sites.set_index("id")
    for sid, change in sorted(st.origin.items()):
        before = bs.geometry.get(sid) if sid in bs.index else None
        after = ss.geometry.get(sid) if sid in ss.index else None
        jobs = int((ss if after is not None else bs).loc[sid, "jobs"])
        _, (pb,) = _catchment(b, [before]) if before is not None else (0, [0])
        _, (pa,) = _catchment(b, [after]) if after is not None else (0, [0])
        if after is not None and jobs > 0:
            new_pts.append(after)
        rows.append({"site_id": sid, "change": change, "jobs": jobs,
                     "population_30km_base": pb, "population_30km": pa})
    total, _ = _catchment(b, new_pts)
    cols = ["site_id", "change", "jobs", "population_30km_base", "population_30km"]
    return pd.DataFrame(rows, columns=cols), total


def _score(b: Baseline, base: State, st: State, d_inv: pd.Series, d_jobs: pd.Series):
    if b.score_panel is None:
        return None, None, None
    from dataclasses import replace

    from ..score.composite import compute

    panel = b.score_panel
    raw = panel.raw.copy()
    delta = {"investment": d_inv / 1e9, "new_jobs": d_jobs}  # registry units: bn KZT, jobs
    for ind, dv in delta.items():
        if ind in raw.columns:
            raw[ind] = raw[ind] + dv.reindex(raw.index, fill_value=0).to_numpy(dtype=float)
    cfg = b.score_config
    t0 = compute(panel, cfg)
    new_cfg = cfg.with_weights({**dict(cfg.weights), **st.weights},
                               {**dict(cfg.dimension_weights), **st.dimension_weights})
    new_cfg = replace(new_cfg, normalisation=cfg.normalisation, aggregation=cfg.aggregation)
    t1 = compute(replace(panel, raw=raw), new_cfg)
    df = pd.DataFrame({"name": t0.unit_names, "score_base": t0.composite,
                       "score": t1.composite, "rank_base": t0.rank, "rank": t1.rank})
    df["score_change"] = df["score"] - df["score_base"]
    df["rank_change"] = df["rank_base"] - df["rank"]
    df = df[["name", "score_base", "score", "score_change", "rank_base", "rank",
             "rank_change"]].sort_values("rank")
    return df, t0.region_score, t1.region_score


def evaluate_states(b: Baseline, base: State, st: State, edits=()) -> Evaluation:
    """The :class:`Evaluation` of state ``st`` against ``base``."""
    d = pd.DataFrame(index=pd.Index(b.district_ids, name="district_id"))
    d["district"] = [b.district_names.get(i, i) for i in b.district_ids]
    for col in ("investment_kzt", "jobs"):
        d[f"{col}_base"] = _by_district(b, base.sites, col).to_numpy(dtype=np.int64)
        d[col] = _by_district(b, st.sites, col).to_numpy(dtype=np.int64)
        d[f"d_{col}"] = d[col] - d[f"{col}_base"]
    for name, s in (("capacity_m2_base", base), ("capacity_m2", st)):
        far = np.array([s.regs[z].max_far for z in ZONE_TYPES] + [0.0])
        d[name] = s.area_by @ far * 1e4
    d["d_capacity_m2"] = d["capacity_m2"] - d["capacity_m2_base"]
    lt = pd.DataFrame({"zone_ha_base": _zone_ha(base.zones), "zone_ha": _zone_ha(st.zones)})
    lt = lt.reindex(list(ZONE_TYPES) + ["outside"], fill_value=0.0)
    lt["d_zone_ha"] = lt["zone_ha"] - lt["zone_ha_base"]
    lt["footprint_ha_base"] = _footprints(base)
    lt["footprint_ha"] = _footprints(st)
    lt["d_footprint_ha"] = lt["footprint_ha"] - lt["footprint_ha_base"]
    lt.index.name = "zone_type"
    fb, fs = base.findings, st.findings
    kb = pd.MultiIndex.from_frame(fb[_KEY])
    ks = pd.MultiIndex.from_frame(fs[_KEY])
    new = fs[~ks.isin(kb)].reset_index(drop=True)
    resolved = fb[~kb.isin(ks)].reset_index(drop=True)
    san = pd.DataFrame({"base": _sanitary(b, fb), "scenario": _sanitary(b, fs)})
    san["change"] = san["scenario"] - san["base"]
    access, total = _access(b, base, st)
    score, r0, r1 = _score(b, base, st, d["d_investment_kzt"], d["d_jobs"])
    return Evaluation(districts=d, land_take=lt, findings_new=new, findings_resolved=resolved,
                      sanitary=san, access=access, population_30km_new_jobs=total,
                      score=score, region_score_base=r0, region_score=r1, edits=tuple(edits))
