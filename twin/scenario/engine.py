"""The incremental engine: a scenario's state after each edit, derived from the state before.

:class:`Baseline` prepares, once per twin, every index a scenario needs (the plan's compliance
context, the zone type of each parcel, parcel hectares by district and zone type, settlement
points). A :class:`State` is the scenario after *k* edits; :func:`apply` makes state *k+1*
from state *k* and touches only what the edit changes:

* a project edit re-checks that one site against the current plan;
* a rezone rebuilds the zone lookup (not the other layers' indexes), re-types only the parcels
  inside the area, moves their hectares between zone types and re-checks the sites;
* a regulation edit swaps the regulations (capacity follows from hectares x FAR);
* a weights edit changes only the score's configuration.

:func:`fresh_state` computes the same state from the layers with no cache at all, with the
plan's plain functions: the naive full recompute, for cross-checks and the benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..plan.compliance import ComplianceContext
from ..plan.regulations import ZONE_TYPES, Regulations
from ..plan.zones import rezone as _rezone
from .edits import (
    AddProject,
    Edit,
    MoveProject,
    RemoveProject,
    Rezone,
    SetRegulation,
    SetScoreWeights,
)
from .errors import DuplicateProject, InvalidEdit, OutsideRegion, UnknownProject, UnknownSector

if TYPE_CHECKING:
    from ..score import Registry, ScoreConfig, ScorePanel

__all__ = ["Baseline", "State", "apply", "baseline_of", "baseline_key", "fresh_state",
           "ACCESS_RADIUS_M"]

#: Radius of the jobs catchment: people living this close to a project can commute to it.
ACCESS_RADIUS_M = 30_000.0
_OUTSIDE = len(ZONE_TYPES)  # zone-type code of a parcel outside every zone
_SITE_COLS = ["id", "name", "sector", "district_id", "investment_kzt", "jobs", "status",
              "hazard_class", "area_ha", "synthetic", "geometry"]


def _type_codes(types) -> np.ndarray:
    code = {z: i for i, z in enumerate(ZONE_TYPES)}
    return np.fromiter((code.get(t, _OUTSIDE) for t in types), dtype=np.int8,
                       count=len(types))


class Baseline:
    """Everything a scenario of ``tw`` reuses, prepared once per twin (see :func:`baseline_of`).

    The baseline plan is the twin's plan at its latest version when the baseline is made.
    """

    def __init__(self, tw) -> None:
        self.twin = tw
        self.crs = tw.analysis_crs
        plan = tw.plan
        self.plan_version = plan.version
        zones = plan.zones(self.plan_version, metric=True)
        regs = plan.regulations(self.plan_version)
        ctx = plan.context(self.plan_version)
        d = tw["districts"]
        self.district_ids = d["id"].astype(str).to_numpy()
        self.district_names = dict(zip(self.district_ids, d["name"].astype(str), strict=True))
        dm = tw.metric("districts")
        self._district_geoms = np.asarray(dm.geometry.values)
        self._district_tree = shapely.STRtree(self._district_geoms)
        self.region = shapely.union_all(np.asarray(tw.metric("region").geometry.values))
        shapely.prepare(self.region)
        st = tw.metric("settlements") if "settlements" in tw else None
        if st is not None and len(st):
            self.st_ids = st["id"].astype(str).to_numpy()
            self.st_pop = pd.to_numeric(st["population"], errors="coerce").fillna(0) \
                .to_numpy(dtype=np.int64)
            self.st_tree = shapely.STRtree(np.asarray(st.geometry.values))
        else:
            self.st_ids, self.st_pop, self.st_tree = np.array([], dtype=object), \
                np.array([], dtype=np.int64), None
        self.pop_of = dict(zip(self.st_ids, self.st_pop.tolist(), strict=True))
        # parcels: the zone type of each (from the plan), hectares by district x zone type;
        # a twin without parcels has no capacity to change (unavailable says so)
        self.unavailable = {k: v for k, v in plan.unavailable.items()
                            if k in ("parcels", "project_sites")}
        codes = {k: i for i, k in enumerate(self.district_ids)}
        if "parcels" in tw:
            p = tw["parcels"]
            self.parcel_district = p["district_id"].astype(str).map(codes).fillna(-1) \
                .to_numpy(dtype=np.int64)
            self.parcel_ha = p["area_ha"].to_numpy(dtype=float)
            self.parcel_ids = p["id"]
            ptypes = _type_codes(plan.parcel_zone_types(self.plan_version)
                                 .to_numpy(dtype=object))
        else:
            self.parcel_district = np.zeros(0, dtype=np.int64)
            self.parcel_ha = np.zeros(0)
            self.parcel_ids = pd.Series([], dtype=np.int64)
            ptypes = np.zeros(0, dtype=np.int8)
        self._parcel_tree = None
        sites = self._sites_frame(tw.metric("project_sites") if "project_sites" in tw
                                  else _no_sites(self.crs))
        self.sectors = frozenset(s for z in regs for s in regs[z].permitted_sectors
                                 if s != "*") | frozenset(sites["sector"].astype(str))
        self.score_panel: ScorePanel | None = None
        self.score_config: ScoreConfig | None = None
        self.score_registry: Registry | None = None
        if "districts" in tw:
            from ..score.errors import NoObservations

            try:
                sc = tw.score
                self.score_panel, self.score_config = sc.panel, sc.config
                self.score_registry = sc.registry
            except NoObservations:
                pass  # a twin without observations: the evaluation has no score part
        self.state = State(
            sites=sites, zones=zones, regs=regs, ctx=ctx, ptypes=ptypes,
            area_by=self.hectares_by(ptypes), findings=ctx.check(sites), weights={},
            dimension_weights={}, n_rezones=0, origin={})
        # last: making the score (above) canonicalises the twin's observations table
        self.key = baseline_key(tw)

    @staticmethod
    def _sites_frame(s: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        s = s.copy()
        if "area_ha" not in s:
            s["area_ha"] = 0.0  # footprints of existing projects are not in the twin
        for c in _SITE_COLS:
            if c not in s:
                # a figure the twin does not have is unknown (NaN), not 0
                s[c] = np.nan if c in ("investment_kzt", "jobs") else ""
        s["id"] = s["id"].astype(str)
        return s[_SITE_COLS].reset_index(drop=True)

    def hectares_by(self, ptypes: np.ndarray) -> np.ndarray:
        """Parcel hectares by district (rows) and zone-type code (columns)."""
        ok = self.parcel_district >= 0
        n_t = _OUTSIDE + 1
        flat = np.bincount(self.parcel_district[ok] * n_t + ptypes[ok].astype(np.int64),
                           weights=self.parcel_ha[ok], minlength=len(self.district_ids) * n_t)
        return flat.reshape(len(self.district_ids), n_t)

    def parcel_tree(self) -> shapely.STRtree:
        """An index of the parcels' representative points (made on the first rezone).

        The points are in lon/lat, as the plan's own: the plan types the baseline's parcels
        by them and keeps this index for its rezones, so sharing it keeps the two in step
        and saves a second pass over every parcel (seconds at 10^6).
        """
        if self._parcel_tree is None:
            self._parcel_tree = (self.twin.plan._parcel_tree() if "parcels" in self.twin
                                 else shapely.STRtree(np.zeros(0, dtype=object)))
        return self._parcel_tree

    def to_metric_point(self, lon: float, lat: float):
        from ..plan._geom import geometry_in

        return geometry_in(shapely.Point(lon, lat), self.crs, "project site")

    def district_of(self, pt, ctx: ComplianceContext) -> str:
        zi = ctx.zone_of(np.array([pt], dtype=object))[0]
        if zi >= 0:
            return str(ctx._zone_district[zi])
        hit = self._district_tree.query(pt, predicate="intersects")
        return str(self.district_ids[hit.min()]) if len(hit) else ""

    def check_inside(self, pt, what: str, lon: float, lat: float) -> None:
        if not shapely.covers(self.region, pt):
            raise OutsideRegion(
                f"{what}: ({lon:.5f}, {lat:.5f}) lies outside the region of twin "
                f"{self.twin.name!r}: pick a site inside it (positions are lon, lat)")

    def check_sector(self, sector: str, what: str) -> None:
        if sector not in self.sectors:
            raise UnknownSector(
                f"{what}: sector {sector!r} is unknown: use one the regulations or the "
                f"twin's projects name ({', '.join(sorted(self.sectors)[:12])}, ...)")


def _no_sites(crs) -> gpd.GeoDataFrame:
    """An empty project-sites frame: a twin without sites still takes new ones."""
    return gpd.GeoDataFrame({"id": pd.Series(dtype=object), "name": pd.Series(dtype=object),
                             "sector": pd.Series(dtype=object),
                             "district_id": pd.Series(dtype=object),
                             "investment_kzt": pd.Series(dtype=np.int64),
                             "jobs": pd.Series(dtype=np.int64),
                             "status": pd.Series(dtype=object),
                             "hazard_class": pd.Series(dtype=object),
                             "synthetic": pd.Series(dtype=bool)},
                            geometry=gpd.GeoSeries([], crs=crs), crs=crs)


_BASELINE_LAYERS = ("project_sites", "parcels", "zones", "settlements", "districts", "region")


def baseline_key(tw) -> tuple:
    """The data versions a :class:`Baseline` of ``tw`` is made from: those of the layers it
    reads, the plan's version and the score's data version (what is scored and how; "" for
    a twin without observations). Equal data gives an equal key, whichever objects hold
    it: an ingest that changes no scored value leaves the baseline as it was."""
    score = tw.__dict__.get("_score")
    return tuple(tw.data_version(n) if n in tw else None for n in _BASELINE_LAYERS) + (
        tw.plan.version, None if score is None else score.data_version)


def baseline_of(tw) -> Baseline:
    """The twin's :class:`Baseline`, made on first use and again whenever its data changes
    (:func:`baseline_key`)."""
    b = tw.__dict__.get("_scenario_baseline")
    if b is None or b.key != baseline_key(tw):
        b = tw._scenario_baseline = Baseline(tw)
    return b


@dataclass(frozen=True)
class State:
    """A scenario after some edits (metric CRS). ``origin`` maps each site changed by an
    edit to ``added``, ``moved`` or ``removed`` (against the baseline)."""

    sites: gpd.GeoDataFrame
    zones: gpd.GeoDataFrame
    regs: Regulations
    ctx: ComplianceContext
    ptypes: np.ndarray
    area_by: np.ndarray
    findings: pd.DataFrame
    weights: dict
    dimension_weights: dict
    n_rezones: int
    origin: dict


def _site_row(b: Baseline, ctx: ComplianceContext, e: AddProject, pt) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [e.id], "name": [e.name], "sector": [e.sector],
         "district_id": [b.district_of(pt, ctx)], "investment_kzt": [e.investment_kzt],
         "jobs": [e.jobs], "status": ["scenario"], "hazard_class": [e.hazard_class],
         "area_ha": [e.area_ha], "synthetic": [False]},
        geometry=[pt], crs=b.crs)


def _recheck(st: State, site_ids, sites: gpd.GeoDataFrame, ctx: ComplianceContext):
    keep = st.findings[~st.findings["site_id"].isin(site_ids)]
    rows = sites[sites["id"].isin(site_ids)]
    new = ctx.check(rows) if len(rows) else keep.iloc[:0]
    return pd.concat([keep, new], ignore_index=True) if len(new) else keep.reset_index(drop=True)


def apply(b: Baseline, st: State, e: Edit) -> State:
    """State ``st`` with edit ``e`` applied, validated against the twin; raises
    :class:`~twin.scenario.errors.InvalidEdit` (or a subclass) and changes nothing."""
    if isinstance(e, AddProject):
        what = f"add_project {e.id!r}"
        if (st.sites["id"] == e.id).any():
            raise DuplicateProject(f"{what}: a project with this id exists: pick another id")
        b.check_sector(e.sector, what)
        pt = b.to_metric_point(e.lon, e.lat)
        b.check_inside(pt, what, e.lon, e.lat)
        sites = pd.concat([st.sites, _site_row(b, st.ctx, e, pt)], ignore_index=True)
        origin = {**st.origin, e.id: "added"}
        return replace(st, sites=sites, origin=origin,
                       findings=_recheck(st, [e.id], sites, st.ctx))
    if isinstance(e, (MoveProject, RemoveProject)):
        hit = np.flatnonzero((st.sites["id"] == e.project_id).to_numpy())
        if not len(hit):
            raise UnknownProject(
                f"{e.kind} {e.project_id!r}: no such project in this scenario: check the id "
                "(tw['project_sites']['id'] lists the baseline's)")
        if isinstance(e, RemoveProject):
            sites = st.sites.drop(index=st.sites.index[hit]).reset_index(drop=True)
            was = st.origin.get(e.project_id)
            origin = {k: v for k, v in st.origin.items() if k != e.project_id}
            if was != "added":  # removing a project the scenario added leaves no trace
                origin[e.project_id] = "removed"
            return replace(st, sites=sites, origin=origin,
                           findings=_recheck(st, [e.project_id], sites, st.ctx))
        pt = b.to_metric_point(e.lon, e.lat)
        b.check_inside(pt, f"move_project {e.project_id!r}", e.lon, e.lat)
        sites = st.sites.copy()
        geoms = np.asarray(sites.geometry.values).copy()
        geoms[hit[0]] = pt
        sites = sites.set_geometry(gpd.GeoSeries(geoms, index=sites.index, crs=b.crs))
        sites.loc[sites.index[hit[0]], "district_id"] = b.district_of(pt, st.ctx)
        origin = {**st.origin, e.project_id: st.origin.get(e.project_id, "moved")}
        return replace(st, sites=sites, origin=origin,
                       findings=_recheck(st, [e.project_id], sites, st.ctx))
    if isinstance(e, Rezone):
        g = _rezone_area(b, e)
        k = st.n_rezones + 1
        zones = _rezone(st.zones, g, e.zone_type, tag=f"scenario{k}",
                        basis=f"scenario edit {k}: {e.describe()}", source="scenario")
        gm = _metric_area(b, g)
        inside = b.parcel_tree().query(g, predicate="intersects")  # lon/lat points
        ptypes = st.ptypes.copy()
        new_code = ZONE_TYPES.index(e.zone_type)
        area_by = st.area_by.copy()
        d = b.parcel_district[inside]
        ok = d >= 0
        np.subtract.at(area_by, (d[ok], ptypes[inside][ok]), b.parcel_ha[inside][ok])
        np.add.at(area_by, (d[ok], np.full(ok.sum(), new_code)), b.parcel_ha[inside][ok])
        ptypes[inside] = new_code
        ctx = st.ctx.with_plan(zones=zones)
        # A rezone changes a site's findings only through the zone at the site (zone use)
        # or, when residential land is rezoned (to or from), the residential zone inside the
        # site's sanitary zone. Every other site keeps its findings.
        pts = np.asarray(st.sites.geometry.values)
        touched = shapely.intersects(pts, gm)
        zt = st.zones["zone_type"].to_numpy()
        if e.zone_type == "residential" or shapely.intersects(
                np.asarray(st.zones.geometry.values)[zt == "residential"], gm).any():
            reach = np.array([float(st.regs.sanitary_m.get(str(h or "").strip().upper(), 0))
                              for h in st.sites["hazard_class"]])
            touched |= (reach > 0) & shapely.dwithin(pts, gm, reach)
        return replace(st, zones=zones, ctx=ctx, ptypes=ptypes, area_by=area_by,
                       n_rezones=k,
                       findings=_recheck(st, st.sites["id"][touched].tolist(), st.sites, ctx))
    if isinstance(e, SetRegulation):
        regs = st.regs.set(e.zone_type, e.field, e.value)
        ctx = st.ctx.with_plan(regulations=regs)
        # Findings read only the permitted sectors: of the site's zone (zone use), and of
        # the protected zone for sites inside a protected area (any zone). FAR, floors and
        # green share are capacity matters.
        if e.field != "permitted_sectors":
            return replace(st, regs=regs, ctx=ctx)
        if e.zone_type == "protected":
            return replace(st, regs=regs, ctx=ctx, findings=ctx.check(st.sites))
        zi = ctx.zone_of(np.asarray(st.sites.geometry.values))
        zt = np.where(zi >= 0, ctx._zone_type[np.clip(zi, 0, None)], "")
        ids = st.sites["id"][zt == e.zone_type].tolist()
        return replace(st, regs=regs, ctx=ctx, findings=_recheck(st, ids, st.sites, ctx))
    if isinstance(e, SetScoreWeights):
        w = {**st.weights, **dict(e.weights)}
        W = {**st.dimension_weights, **dict(e.dimension_weights)}
        base = b.score_config
        if b.score_registry is not None and base is not None:
            from ..score.composite import resolve_weights

            resolve_weights(b.score_registry, {**dict(base.weights), **w},
                            {**dict(base.dimension_weights), **W})  # raises WeightError
        return replace(st, weights=w, dimension_weights=W)
    raise InvalidEdit(f"not an edit: {e!r}")


def _rezone_area(b: Baseline, e: Rezone):
    """The area of a rezone in lon/lat; parcel ids become the union of those parcels."""
    if e.geometry_wkb:
        g = e.geometry
        from ..plan._geom import geometry_in

        if not shapely.intersects(b.region, geometry_in(g, b.crs, "rezone area")):
            raise OutsideRegion("rezone: the area lies outside the region: check it is in "
                                "lon/lat (EPSG:4326)")
        return g
    p = b.twin["parcels"]
    want = pd.Index(list(e.parcel_ids))
    sel = p[p["id"].isin(want)]
    missing = sorted(set(want) - set(sel["id"].tolist()), key=str)
    if missing:
        raise InvalidEdit(f"rezone: no parcel(s) with id {missing[:5]}: check the ids")
    return shapely.union_all(np.asarray(sel.geometry.values))


def _metric_area(b: Baseline, g):
    from ..plan._geom import geometry_in

    return geometry_in(g, b.crs, "rezone area")


def fresh_state(b: Baseline, edits) -> State:
    """The state after ``edits`` computed with no incremental shortcut: every site checked
    against a compliance context built from the layers, every parcel typed by a
    point-in-polygon lookup over the final zones. Slow by design (the naive recompute)."""
    from ..crs import to_storage
    from ..plan.balance import parcel_zone_types

    tw = b.twin
    plan = tw.plan
    zones = plan.zones(b.plan_version, metric=True)
    regs = plan.regulations(b.plan_version)
    weights, dweights = {}, {}
    sites = Baseline._sites_frame(tw.metric("project_sites") if "project_sites" in tw
                                  else _no_sites(b.crs))
    origin: dict = {}
    k = 0
    first_ctx = ComplianceContext(zones, regs, crs=b.crs)  # the base zones: for districts
    for e in edits:  # the plan edits first change zones/regulations wholesale
        if isinstance(e, Rezone):
            k += 1
            zones = _rezone(zones, _rezone_area(b, e), e.zone_type, tag=f"scenario{k}",
                            basis=f"scenario edit {k}: {e.describe()}", source="scenario")
        elif isinstance(e, SetRegulation):
            regs = regs.set(e.zone_type, e.field, e.value)
        elif isinstance(e, SetScoreWeights):
            weights.update(dict(e.weights))
            dweights.update(dict(e.dimension_weights))
    # A rezone keeps every piece in its district, so a site's district does not depend on
    # the zones' version: the base zones tell it.
    for e in edits:
        if isinstance(e, AddProject):
            pt = b.to_metric_point(e.lon, e.lat)
            sites = pd.concat([sites, _site_row(b, first_ctx, e, pt)], ignore_index=True)
            origin[e.id] = "added"
        elif isinstance(e, MoveProject):
            pt = b.to_metric_point(e.lon, e.lat)
            i = np.flatnonzero((sites["id"] == e.project_id).to_numpy())[0]
            geoms = np.asarray(sites.geometry.values).copy()
            geoms[i] = pt
            sites = sites.set_geometry(gpd.GeoSeries(geoms, index=sites.index, crs=b.crs))
            sites.loc[sites.index[i], "district_id"] = b.district_of(pt, first_ctx)
            origin[e.project_id] = origin.get(e.project_id, "moved")
        elif isinstance(e, RemoveProject):
            sites = sites[sites["id"] != e.project_id].reset_index(drop=True)
            if origin.pop(e.project_id, None) != "added":
                origin[e.project_id] = "removed"

    def lay(n):
        return tw.metric(n) if n in tw else None

    ctx = ComplianceContext(zones, regs, protected=lay("protected_areas"),
                            water=tw.water(metric=True),
                            settlements=lay("settlements"), parcels=lay("parcels"),
                            crs=b.crs)
    # lon/lat parcel points, as the plan types them
    ptypes = _type_codes(parcel_zone_types(tw["parcels"], to_storage(zones))
                         .to_numpy(dtype=object)) if "parcels" in tw else \
        np.zeros(0, dtype=np.int8)
    return State(sites=sites, zones=zones, regs=regs, ctx=ctx, ptypes=ptypes,
                 area_by=b.hectares_by(ptypes), findings=ctx.check(sites), weights=weights,
                 dimension_weights=dweights, n_rezones=k, origin=origin)

