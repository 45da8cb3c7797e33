"""Compliance of project sites with the plan: zone use, protected areas, water protection,
sanitary protection zones. Findings carry a severity and the numbers behind them.

:class:`ComplianceContext` holds the spatial indexes of one plan version, built once, so a
proposed site (or a moved one, in a scenario) is checked without recomputing the rest.

Severities: ``error`` a norm forbids it (building in a protected area or a water protection
strip, housing inside a sanitary protection zone: settlements, residential parcels or the
plan's residential zones); ``warning`` the plan must change first
(the zone does not permit the sector, the site is outside every zone, a hazardous plant in a
water protection zone); ``info`` worth knowing.
"""

from __future__ import annotations

import copy
from dataclasses import asdict

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ..crs import to_metric, transformer
from ..errors import MissingCRS
from ._geom import geometry_in, in_crs, metric_crs, subdivide
from .buffers import _QUAD_SEGS, sanitary_distance_m
from .findings import FINDING_COLUMNS, SEVERITIES, Finding, compliance_summary
from .regulations import Regulations

__all__ = [
    "Finding",
    "ComplianceContext",
    "compliance",
    "compliance_summary",
    "FINDING_COLUMNS",
    "SEVERITIES",
]


#: One square metre in hectares: less residential zone than this inside a sanitary zone is
#: a sliver where the two only touch, not housing.
_M2_HA = 1e-4


def _ha(x: float) -> str:
    return f"{x:,.1f} ha" if x >= 0.1 else f"{x * 1e4:,.0f} m²"


def _s(x) -> str:
    return "" if x is None or (isinstance(x, float) and np.isnan(x)) else str(x)


class ComplianceContext:
    """Spatial indexes of one plan version, for checking any number of sites.

    Parameters
    ----------
    zones : GeoDataFrame
        The plan's zones (``zone_type``, ``district_id``).
    regulations : Regulations
    protected, water, settlements, parcels : GeoDataFrame, optional
        The twin's layers; a missing layer skips its rule. Parcels count when their
        ``land_use`` is ``residential``.
    crs : CRS, optional
        The metric CRS of the checks (default: the zones' own if projected, else an
        equal-area CRS centred on them).

    Examples
    --------
    >>> from twin.sample import make_small_twin, point_lonlat
    >>> from twin.plan import load_regulations, zones_for_twin
    >>> tw = make_small_twin()
    >>> ctx = ComplianceContext(zones_for_twin(tw), load_regulations(),
    ...                         protected=tw["protected_areas"],
    ...                         settlements=tw["settlements"], parcels=tw["parcels"])
    >>> f = ctx.check(tw["project_sites"])      # the farm's sector 'agro' is not listed
    >>> f[["site_id", "rule", "severity"]].values.tolist()
    [['p2', 'zone_use', 'warning']]
    >>> found = ctx.check_site(point_lonlat(5_800, 5_000), "metallurgy", "I")
    >>> [(f.rule, f.severity, f.population) for f in found]
    [('sanitary_zone', 'error', 5000), ('zone_use', 'warning', 0)]
    >>> round(found[0].distance_m), found[0].limit_m
    (800, 1000.0)
    """

    def __init__(
        self,
        zones,
        regulations: Regulations,
        *,
        protected=None,
        water=None,
        settlements=None,
        parcels=None,
        crs: CRS | None = None,
    ) -> None:
        self.crs = metric_crs(crs, zones)
        self.regulations = regulations
        self._set_zones(zones)

        def prep(layer, name, cols):
            if layer is None or not len(layer):
                return None, None
            lay = in_crs(layer, self.crs, name)
            g = np.asarray(lay.geometry.values)
            return shapely.STRtree(g), {
                c: (lay[c].to_numpy() if c in lay else np.full(len(lay), "", dtype=object))
                for c in ("geometry", *cols)
            }

        self._pa_tree, self._pa = prep(protected, "protected_areas", ("id", "name", "kind"))
        self._w_tree, self._w = prep(water, "water", ("id", "name"))
        self._st_tree, self._st = prep(settlements, "settlements",
                                          ("id", "name", "population", "population_known"))
        self._rp_tree = None
        if parcels is not None and len(parcels):
            if parcels.crs is None:
                raise MissingCRS("parcels have no CRS: set one (e.g. .set_crs('EPSG:4326'))")
            # Only residential parcels matter here. They stay in their own CRS: with a
            # million parcels, reprojecting them all costs more than every check; the
            # candidates near a site are reprojected when a site needs them.
            res = parcels[parcels["land_use"].astype(str).to_numpy() == "residential"]
            if not CRS(res.crs).is_geographic:
                res = in_crs(res, self.crs, "parcels")
            self._rp_crs = CRS(res.crs)
            self._rp_geoms = np.asarray(res.geometry.values)
            self._rp_tree = shapely.STRtree(self._rp_geoms)
            self._rp_metric: dict[int, object] = {}

    def _set_zones(self, zones) -> None:
        z = in_crs(zones, self.crs, "zones")
        self._zone_type = z["zone_type"].to_numpy(dtype=object)
        self._zone_district = z["district_id"].astype(str).to_numpy(dtype=object)
        zg = np.asarray(z.geometry.values)
        self._pieces, self._parent = subdivide(zg)
        self._zone_tree = shapely.STRtree(self._pieces)
        res = self._zone_type == "residential"
        self._res_zone = zg[res]
        self._res_zone_tree = shapely.STRtree(self._res_zone)
        # whether each residential zone's extent is assumed (a settlement disc), not mapped
        self._res_zone_assumed = (z["synthetic"].astype(bool).to_numpy()[res]
                                  if "synthetic" in z else np.zeros(int(res.sum()), bool))

    def with_plan(self, zones=None, regulations: Regulations | None = None) -> ComplianceContext:
        """A context for changed zones and/or regulations that reuses this one's indexes of
        protected areas, water, settlements and parcels (a scenario's rezone rebuilds only
        the zone index; a regulation change rebuilds nothing).

        Examples
        --------
        >>> from twin.sample import make_small_twin
        >>> from twin.plan import load_regulations, zones_for_twin
        >>> tw = make_small_twin()
        >>> ctx = ComplianceContext(zones_for_twin(tw), load_regulations())
        >>> regs = ctx.regulations.set("agricultural", "permitted_sectors", ["agro"])
        >>> len(ctx.check(tw["project_sites"])), len(
        ...     ctx.with_plan(regulations=regs).check(tw["project_sites"]))
        (1, 0)
        """
        new = copy.copy(self)
        if regulations is not None:
            new.regulations = regulations
        if zones is not None:
            new._set_zones(zones)
        return new

    # -- zone lookup -----------------------------------------------------------------------
    def zone_of(self, points: np.ndarray) -> np.ndarray:
        """Row position of the zone holding each (metric) point, -1 outside every zone."""
        pt, piece = self._zone_tree.query(points, predicate="intersects")
        none = np.iinfo(np.int64).max
        out = np.full(len(points), none, dtype=np.int64)
        np.minimum.at(out, pt, self._parent[piece].astype(np.int64))
        out[out == none] = -1
        return out

    # -- checks ----------------------------------------------------------------------------
    def check(self, sites: gpd.GeoDataFrame) -> pd.DataFrame:
        """Findings for every site (one row per finding, :data:`FINDING_COLUMNS`)."""
        s = in_crs(sites, self.crs, "project_sites")
        pts = np.asarray(s.geometry.values)
        n = len(s)
        ids = s["id"].astype(str).to_numpy()
        sector = (
            s["sector"].fillna("").astype(str).to_numpy()
            if "sector" in s
            else np.full(n, "", dtype=object)
        )
        hz = (
            s["hazard_class"].fillna("").astype(str).str.strip().str.upper().to_numpy()
            if "hazard_class" in s
            else np.full(n, "", dtype=object)
        )
        zi = self.zone_of(pts)
        ztype = np.where(zi >= 0, self._zone_type[np.clip(zi, 0, None)], "")
        zdist = np.where(zi >= 0, self._zone_district[np.clip(zi, 0, None)], "")
        if "district_id" in s:
            given = s["district_id"].fillna("").astype(str).to_numpy()
            dist = np.where(given != "", given, zdist)
        else:
            dist = zdist
        base = [
            dict(
                site_id=ids[i],
                district_id=dist[i],
                zone_type=ztype[i],
                sector=sector[i],
                hazard_class=hz[i],
            )
            for i in range(n)
        ]
        out: list[Finding] = []
        regs = self.regulations

        for i in range(n):  # zone use: a dict lookup per site, cheap
            if zi[i] < 0:
                out.append(
                    Finding(
                        **base[i],
                        rule="outside_plan",
                        severity="warning",
                        message=f"site {ids[i]!r} lies outside every plan zone: "
                        "extend the plan or check the site's coordinates",
                    )
                )
            elif sector[i] and not regs[ztype[i]].permits(sector[i]):
                allowed = ", ".join(regs[ztype[i]].permitted_sectors) or "no sectors"
                out.append(
                    Finding(
                        **base[i],
                        rule="zone_use",
                        severity="warning",
                        message=f"sector {sector[i]!r} is not permitted in the "
                        f"{ztype[i]} zone (it permits {allowed}): rezone the site "
                        "or move it to a zone that permits it",
                    )
                )

        if self._pa_tree is not None:
            si, ai = self._pa_tree.query(pts, predicate="intersects")
            depth = shapely.distance(pts[si], shapely.boundary(self._pa["geometry"][ai]))
            protected_reg = regs["protected"]
            for i, a, dep in zip(si, ai, depth, strict=True):
                name = _s(self._pa["name"][a])
                # A strict nature reserve (zapovednik) bars every project; a national park
                # has recreation zones where the sectors the protected regulation permits
                # (tourism) may build with the park's consent.
                strict = "reserve" in _s(self._pa["kind"][a]).lower()
                if not strict and sector[i] and protected_reg.permits(sector[i]):
                    sev, tail = (
                        "warning",
                        (
                            f"a {sector[i]} project may build only in the park's recreation zones "
                            "with the park administration's consent: check the park's internal "
                            "zoning"
                        ),
                    )
                else:
                    sev, tail = (
                        "error",
                        ("building is not allowed there; move the site out of the protected area"),
                    )
                out.append(
                    Finding(
                        **base[i],
                        rule="protected_area",
                        severity=sev,
                        distance_m=float(dep),
                        affected=(_s(self._pa["id"][a]),),
                        message=f"site {ids[i]!r} lies inside protected area "
                        f"{name!r}, {dep:,.0f} m from its edge: {tail}",
                    )
                )

        if self._w_tree is not None:
            zone_m, strip_m = regs.water_zone_m, regs.water_strip_m
            si, wi = self._w_tree.query(pts, predicate="dwithin", distance=zone_m)
            if len(si):
                dist_w = shapely.distance(pts[si], self._w["geometry"][wi])
                df = pd.DataFrame({"s": si, "w": wi, "d": dist_w}).sort_values(["s", "d"])
                for r in df.drop_duplicates("s").itertuples(index=False):
                    i, w, d = int(r.s), int(r.w), float(r.d)
                    name = _s(self._w["name"][w]) or _s(self._w["id"][w])
                    if d <= strip_m:
                        out.append(
                            Finding(
                                **base[i],
                                rule="water_strip",
                                severity="error",
                                distance_m=d,
                                limit_m=strip_m,
                                affected=(_s(self._w["id"][w]),),
                                message=f"site {ids[i]!r} is {d:,.0f} m from {name!r}, inside "
                                f"its {strip_m:g} m water protection strip where building is "
                                f"forbidden: move it at least {strip_m - d:,.0f} m further away",
                            )
                        )
                    else:
                        hazardous = hz[i] in ("I", "II", "III")
                        out.append(
                            Finding(
                                **base[i],
                                rule="water_zone",
                                severity="warning" if hazardous else "info",
                                distance_m=d,
                                limit_m=zone_m,
                                affected=(_s(self._w["id"][w]),),
                                message=f"site {ids[i]!r} is {d:,.0f} m from {name!r}, inside "
                                f"its {zone_m:g} m water protection zone (special regime"
                                + (
                                    f"; a class {hz[i]} plant needs a water-authority approval)"
                                    if hazardous
                                    else ")"
                                ),
                            )
                        )

        out.extend(self._sanitary(pts, ids, hz, base))
        rows = [asdict(f) for f in out]
        df = pd.DataFrame(rows, columns=FINDING_COLUMNS)
        order = {s: k for k, s in enumerate(SEVERITIES)}
        df = df.assign(
            _o=df["severity"].map(order), _i=df["site_id"].map({v: k for k, v in enumerate(ids)})
        )
        df = df.sort_values(["_i", "_o", "rule"], kind="stable").drop(columns=["_o", "_i"])
        return df.reset_index(drop=True)

    def _sanitary(self, pts, ids, hz, base) -> list[Finding]:
        d = sanitary_distance_m(hz, self.regulations)
        sel = np.flatnonzero(d > 0)
        if not len(sel):
            return []
        p, r = pts[sel], d[sel]
        buf = shapely.buffer(p, r, quad_segs=_QUAD_SEGS)
        per: dict[int, dict] = {
            int(i): {"pop": 0, "unknown": 0, "near": [], "ha": 0.0, "n": 0, "zha": 0.0,
                     "zassumed": False}
            for i in sel
        }
        if self._st_tree is not None:
            # exact distance to the settlement point, not a polygonised circle
            a, b = self._st_tree.query(p, predicate="dwithin", distance=r)
            dd = shapely.distance(p[a], self._st["geometry"][b])
            pop = pd.to_numeric(pd.Series(self._st["population"]), errors="coerce")
            # A settlement without a figure (population_known False, or no number) is not
            # "0 people": it is counted apart and the message says so.
            known = pop.notna().to_numpy() & np.array(
                [v is not False and v is not np.False_ for v in self._st["population_known"]])
            for k, j, dist in zip(a, b, dd, strict=True):
                rec = per[int(sel[k])]
                if known[j]:
                    rec["pop"] += int(pop.iloc[j])
                else:
                    rec["unknown"] += 1
                rec["near"].append((float(dist), _s(self._st["name"][j]), _s(self._st["id"][j])))
        if self._rp_tree is not None:
            a, b, rp = self._residential_near(p, r)
            ha = shapely.area(shapely.intersection(rp, buf[a])) / 1e4
            sums = pd.DataFrame({"a": a, "ha": ha}).query("ha > 0").groupby("a")["ha"]
            for k, v in sums.sum().items():
                per[int(sel[k])]["ha"] += float(v)
            for k, v in sums.size().items():
                per[int(sel[k])]["n"] += int(v)
        if len(self._res_zone):
            a, b = self._res_zone_tree.query(buf, predicate="intersects")
            zha = shapely.area(shapely.intersection(self._res_zone[b], buf[a])) / 1e4
            for k, v in pd.Series(zha).groupby(a).sum().items():
                per[int(sel[k])]["zha"] += float(v)
            for k in np.unique(a[self._res_zone_assumed[b] & (zha >= _M2_HA)]):
                per[int(sel[k])]["zassumed"] = True
        out = []
        for k, i in enumerate(sel):
            rec = per[int(i)]
            # The rule is about housing: settlements, residential parcels and the plan's
            # residential zones, each of which alone makes the finding (a plant's zone over
            # a town's residential zone is a conflict even where no parcel is mapped).
            if not rec["near"] and rec["n"] == 0 and rec["zha"] < _M2_HA:
                continue
            near = sorted(rec["near"])
            parts = []
            if near:
                if rec["unknown"] == len(near):
                    people = "people (no population figure)"
                elif rec["unknown"]:
                    people = (f"at least {rec['pop']:,} people ({rec['unknown']} without a "
                              "population figure)")
                else:
                    people = f"{rec['pop']:,} people"
                parts.append(
                    f"{len(near)} settlement(s) with {people} (nearest "
                    f"{near[0][1]!r} at {near[0][0]:,.0f} m)"
                )
            if rec["n"]:
                parts.append(f"{rec['n']:,} residential parcel(s), {_ha(rec['ha'])}")
            if rec["zha"] >= _M2_HA:
                parts.append(f"{_ha(rec['zha'])} of residential zone"
                             + (" (its extent assumed)" if rec["zassumed"] else ""))
            shift = r[k] - near[0][0] if near else float("nan")
            fix = (
                f"move it at least {shift:,.0f} m further from {near[0][1]!r}"
                if near
                else "move it away from housing, or rezone the residential land it covers"
            )
            out.append(
                Finding(
                    **base[int(i)],
                    rule="sanitary_zone",
                    severity="error",
                    distance_m=near[0][0] if near else float("nan"),
                    limit_m=float(r[k]),
                    hectares=rec["ha"],
                    residential_zone_ha=rec["zha"],
                    parcels=rec["n"],
                    population=rec["pop"],
                    affected=tuple(x[2] for x in near),
                    message=f"site {ids[int(i)]!r} (hazard class {hz[int(i)]}): its {r[k]:,.0f} m "
                    f"sanitary protection zone covers {'; '.join(parts)}; no housing is allowed "
                    f"inside it: {fix}",
                )
            )
        return out

    def _residential_near(self, p: np.ndarray, r: np.ndarray):
        """Pairs (site k, residential parcel j) within r[k] metres, with the parcels' metric
        geometries. Lon/lat parcels are pre-selected by a window in degrees that is wider
        than r (by half, which covers the projection's scale error many times over), then
        tested exactly in metres."""
        tree = self._rp_tree
        assert tree is not None  # only called when there are residential parcels
        if self._rp_crs == self.crs:
            a, b = tree.query(p, predicate="dwithin", distance=r)
            return a, b, self._rp_geoms[b]
        tr = transformer(self.crs, self._rp_crs)
        lon, lat = tr.transform(shapely.get_x(p), shapely.get_y(p))
        dlat = 1.5 * r / 110_574.0 + 1e-4
        dlon = 1.5 * r / (111_320.0 * np.cos(np.radians(np.clip(np.abs(lat), 0, 89)))) + 1e-4
        windows = shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)
        a, b = tree.query(windows, predicate="intersects")
        need = np.setdiff1d(np.unique(b), np.fromiter(self._rp_metric, dtype=np.int64))
        if len(need):
            moved = to_metric(gpd.GeoSeries(self._rp_geoms[need], crs=self._rp_crs), self.crs)
            self._rp_metric.update(zip(need.tolist(), moved.values, strict=True))
        rp = np.array([self._rp_metric[j] for j in b.tolist()], dtype=object)
        near = shapely.dwithin(p[a], rp, r[a]) if len(a) else np.zeros(0, dtype=bool)
        return a[near], b[near], rp[near]

    def check_site(
        self,
        geometry,
        sector: str = "",
        hazard_class: str = "",
        *,
        site_id: str = "proposed",
        district_id: str = "",
    ) -> tuple[Finding, ...]:
        """Findings for one proposed site, reusing this context's indexes.

        ``geometry`` is a shapely point in lon/lat (EPSG:4326), or a GeoSeries with a CRS.
        """
        g = geometry_in(geometry, self.crs, "proposed site")
        if g.geom_type != "Point":
            g = shapely.point_on_surface(g)
        one = gpd.GeoDataFrame(
            {
                "id": [site_id],
                "sector": [sector],
                "hazard_class": [hazard_class or ""],
                "district_id": [district_id],
            },
            geometry=[g],
            crs=self.crs,
        )
        df = self.check(one)
        return tuple(
            Finding(**{**r, "affected": tuple(r["affected"])}) for r in df.to_dict("records")
        )


def compliance(sites, zones, regulations: Regulations, **layers) -> pd.DataFrame:
    """Findings for every site: :meth:`ComplianceContext.check` in one call.

    ``layers`` are ``protected``, ``water``, ``settlements``, ``parcels`` and ``crs``.
    """
    return ComplianceContext(zones, regulations, **layers).check(sites)
