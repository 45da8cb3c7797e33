"""The :class:`Plan` of one twin: versions of its zones and regulations, and every measure
of a chosen version (compliance, land balance, capacity), with caches so that scenarios and
repeated queries do not redo work."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..crs import to_storage
from ..errors import AnalysisUnavailable
from ..schema import WATER_LAYERS
from .balance import capacity, capacity_summary, land_balance
from .compliance import ComplianceContext, Finding, compliance_summary
from .errors import PlanError, PlanVersionError
from .regulations import ZONE_TYPES, Regulations, load_regulations
from .saved import (
    ParcelDigest,
    findings_key,
    parcel_digest,
    save_findings,
    saved_findings,
    zone_codes,
)
from .versions import (
    VERSION_COLUMNS,
    VERSIONS_TABLE,
    PlanDiff,
    Rezone,
    SetRegulation,
    change_from_json,
    regulation_changes,
    save_versions,
    zone_transitions,
)
from .zones import _valid_storage, zones_for_twin
from .zones import rezone as _rezone

__all__ = ["Plan"]


def zones_token(zones: gpd.GeoDataFrame, crs) -> str:
    """A fingerprint of a zones layer that survives a GeoPackage round trip (ids, types and
    areas to 0.01 ha; WKB would not, as GeoPackage may promote polygons to multipolygons)."""
    from ._geom import in_crs

    z = in_crs(zones, crs, "zones")
    area = np.round(shapely.area(np.asarray(z.geometry.values)) / 1e4, 2)
    h = hashlib.sha256()
    for i, t, a in sorted(zip(z["id"].astype(str), z["zone_type"].astype(str), area, strict=True)):
        h.update(f"{i}|{t}|{a:.2f};".encode())
    return h.hexdigest()[:16]


#: The layers a plan reads besides ``zones`` (and those zones are derived from): when one
#: of them changes, ``tw.plan`` is made afresh.
PLAN_INPUTS = ("region", "districts", "settlements", "industrial_zones", "protected_areas",
               *WATER_LAYERS, "parcels", "project_sites", "zones")

#: What each analysis cannot compute without a layer, in the words it says so.
UNAVAILABLE = {
    "project_sites": "no project_sites: compliance of projects is not available (no sites "
                     "to check); import a project list with `twin import project_sites FILE`",
    "parcels": "no parcels: capacity by parcel is not available; import a cadastre with "
               "`twin import parcels FILE`",
    "settlements": "no settlements: settlement zones and housing near plants are not "
                   "derived; import settlements with `twin import settlements FILE`",
    "water": "no lakes or rivers: water protection zones are not checked; import them with "
             "`twin import lakes FILE` and `twin import rivers FILE`",
    "protected_areas": "no protected_areas: protected-area rules are not checked; import "
                       "them with `twin import protected_areas FILE`",
}


class Plan:
    """The digital general plan of a twin: zones + regulations, in numbered versions.

    Version 1 is the twin's ``zones`` layer (derived from the twin if it has none) and the
    twin's regulations (:attr:`Twin.regulations`); each :meth:`rezone` or
    :meth:`set_regulation` makes the next version. :meth:`save` writes new versions into the
    twin file (table ``plan_versions``). Analyses work with the layers the twin has;
    :attr:`unavailable` says what cannot be computed without the others.

    Parameters
    ----------
    tw : Twin
    plan_id : str
        Several plans (e.g. drafts) can live in one twin file under different ids.
    regulations : Regulations or path, optional
        Base regulations for a new plan (default: the twin's own). A plan read back from
        the twin file uses the regulations stored with its version 1.
    carry : Plan, optional
        An earlier plan of the same twin whose changes not yet saved carry over (what
        ``tw.plan`` passes when the twin's layers changed under it).

    Examples
    --------
    >>> from twin.sample import make_small_twin, square_lonlat
    >>> plan = Plan(make_small_twin())
    >>> plan.rezone(square_lonlat(6_000, 1_000, 1_000), "industrial", note="new plant")
    2
    >>> plan.set_regulation("industrial", "max_far", 1.2)
    3
    >>> print(plan.diff(1, 3))
    plan 'main' v1 → v3:
      - 1 parcel, 100 ha, in West district went from agricultural to industrial
      - industrial FAR 1.0 → 1.2
    """

    def __init__(
        self,
        tw,
        plan_id: str = "main",
        *,
        regulations: Regulations | str | os.PathLike | None = None,
        carry: Plan | None = None,
    ) -> None:
        self.twin = tw
        self.id = str(plan_id)
        self.crs = tw.analysis_crs
        self._inputs = self._inputs_version()
        if "zones" in tw:
            base_zones = tw.metric("zones")
        else:
            base_zones = _metric(zones_for_twin(tw), self.crs)
        # Zones derived from the twin's layers follow those layers: a history made on an
        # earlier derivation replays on the new one. Zones a user gave are data: a history
        # made on other zones cannot be replayed.
        derived = "zones" not in tw or "zones" in tw.derived_layers
        self._base_token = zones_token(base_zones, self.crs)
        table = tw.tables.get(VERSIONS_TABLE)
        rows = (
            table[table["plan_id"].astype(str) == self.id].sort_values("version")
            if table is not None and len(table)
            else pd.DataFrame(columns=VERSION_COLUMNS)
        )
        self._saved = len(rows)
        if len(rows):
            base = rows.iloc[0]
            if str(base["base_token"]) != self._base_token and not derived:
                raise PlanVersionError(
                    f"plan {self.id!r} was made on a different zones layer than the twin now "
                    "holds, so its changes cannot be replayed: restore that zones layer, or "
                    "start a new plan with another plan_id"
                )
            self._records = rows[VERSION_COLUMNS].to_dict("records")
            base_regs = Regulations.parse(json.loads(base["change"]), origin=f"plan {self.id!r} v1")
        else:
            regs = (
                regulations
                if isinstance(regulations, Regulations)
                else tw.regulations
                if regulations is None
                else load_regulations(regulations)
            )
            self._records = [
                {
                    "plan_id": self.id,
                    "version": 1,
                    "parent": 0,
                    "kind": "base",
                    "change": json.dumps(regs.to_dict(), ensure_ascii=False),
                    "message": f"base: the twin's zones and {regs.origin}",
                    "created_utc": _now(),
                    "base_token": self._base_token,
                }
            ]
            base_regs = regs
        self._zones: dict[int, gpd.GeoDataFrame] = {1: base_zones}
        self._regs: dict[int, Regulations] = {1: base_regs}
        self._ptypes: dict[int, pd.Series] = {}
        self._ctx: dict[int, ComplianceContext] = {}
        self._findings: dict[str, pd.DataFrame] = {}  # by their key (twin.plan.saved)
        self._digest: ParcelDigest | None = None
        self._parcel_pts = None
        self._ptree = None
        if carry is not None and carry.id == self.id and (
                derived or carry._base_token == self._base_token):
            # the unsaved changes: past the saved versions, and never a second base (v1)
            for r in carry._records[max(carry._saved, 1):]:
                self._records.append({**r, "version": len(self._records) + 1,
                                      "parent": len(self._records),
                                      "base_token": self._base_token})

    def _inputs_version(self) -> tuple:
        tw = self.twin
        return tuple(tw.data_version(n) if n in tw else None for n in PLAN_INPUTS) + (
            tw.analysis_crs.to_wkt(),)

    def matches_twin(self) -> bool:
        """Whether the twin still holds the layers this plan was made on (zones, or those
        the zones are derived from, and the layers its checks read)."""
        return self._inputs_version() == self._inputs

    @property
    def unavailable(self) -> dict[str, str]:
        """What this plan cannot compute with the layers the twin has, per missing layer,
        in words (e.g. ``{"parcels": "no parcels: capacity by parcel is not available;
        ..."}``); empty when every analysis has what it needs."""
        def missing(n):
            return self.twin.water() is None if n == "water" else n not in self.twin

        return {n: why for n, why in UNAVAILABLE.items() if missing(n)}

    def __repr__(self) -> str:
        return f"<Plan {self.id!r} v{self.version} of twin {self.twin.name!r}>"

    # -- versions --------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """The latest version number."""
        return int(self._records[-1]["version"])

    def versions(self) -> pd.DataFrame:
        """The history: one row per version with its change as text."""
        df = pd.DataFrame(self._records, columns=VERSION_COLUMNS)
        df["description"] = [r["message"] for r in self._records]
        return df[["version", "parent", "kind", "description", "created_utc"]]

    def _check(self, version: int | None) -> int:
        v = self.version if version is None else int(version)
        if not 1 <= v <= self.version:
            raise PlanVersionError(
                f"plan {self.id!r} has no version {v}: versions run from 1 to {self.version}"
            )
        return v

    def _change(self, v: int):
        return change_from_json(self._records[v - 1]["change"])

    def _commit(self, change, message: str) -> int:
        v = self.version + 1
        self._records.append(
            {
                "plan_id": self.id,
                "version": v,
                "parent": v - 1,
                "kind": change.kind,
                "change": change.to_json(),
                "message": message or change.describe(),
                "created_utc": _now(),
                "base_token": self._base_token,
            }
        )
        try:
            self._materialise(v)  # a change that cannot be applied leaves no version
        except Exception:
            self._records.pop()
            raise
        return v

    def _materialise(self, v: int) -> None:
        if v in self._zones:
            return
        self._materialise(v - 1)
        ch = self._change(v)
        z, regs = self._zones[v - 1], self._regs[v - 1]
        if isinstance(ch, Rezone):
            z = _rezone(
                z,
                ch.geometry,
                ch.zone_type,
                tag=f"v{v}",
                basis=f"plan {self.id!r} v{v}: {ch.describe()}",
                source=f"plan {self.id} v{v}",
            )
        else:
            regs = regs.set(ch.zone_type, ch.field, ch.value)
        self._zones[v], self._regs[v] = z, regs

    # -- changes ---------------------------------------------------------------------------
    def rezone(
        self, area=None, zone_type: str | None = None, *, parcels=None, note: str = ""
    ) -> int:
        """Rezone an area or a set of parcels; returns the new version number.

        ``area`` is a shapely geometry in lon/lat or a GeoSeries with a CRS; ``parcels`` is
        a list of parcel ids (the zone follows the parcels' edges).
        """
        if zone_type is None:
            raise PlanError("rezone: say which zone type, e.g. rezone(area, 'industrial')")
        if (area is None) == (parcels is None):
            raise PlanError("rezone: give either an area or parcel ids, not both")
        ids: tuple = ()
        if parcels is not None:
            self._need_parcels()
            p = self.twin["parcels"]
            ids = tuple(_plain(i) for i in parcels)
            sel = p[p["id"].isin(ids)]
            missing = sorted(set(ids) - set(sel["id"].tolist()))
            if missing:
                raise PlanError(f"rezone: no parcel(s) with id {missing[:5]}: check the ids")
            area = shapely.union_all(np.asarray(sel.geometry.values))
        elif isinstance(area, (gpd.GeoSeries, gpd.GeoDataFrame)):
            if area.crs is None:
                raise PlanError("rezone: the area GeoSeries has no CRS: set one")
            g = to_storage(area)
            area = shapely.union_all(
                np.asarray((g.geometry if isinstance(g, gpd.GeoDataFrame) else g).values)
            )
        elif not isinstance(area, shapely.Geometry):
            raise PlanError(
                f"rezone: area must be a shapely geometry in lon/lat or a "
                f"GeoSeries, got {type(area).__name__}"
            )
        ch = Rezone(zone_type, shapely.to_wkb(area, hex=True), ids, note)
        return self._commit(ch, note and f"{ch.describe()}")

    def set_regulation(self, zone_type: str, field: str, value, *, note: str = "") -> int:
        """Change one regulation field of one zone type; returns the new version number."""
        ch = SetRegulation(
            zone_type, field, tuple(value) if isinstance(value, list) else value, note
        )
        return self._commit(ch, ch.describe())

    # -- reading a version -----------------------------------------------------------------
    def zones(self, version: int | None = None, *, metric: bool = False) -> gpd.GeoDataFrame:
        """The zones of a version, in lon/lat (or the metric CRS with ``metric=True``)."""
        v = self._check(version)
        self._materialise(v)
        z = self._zones[v]
        return z.copy() if metric else _valid_storage(z)

    def regulations(self, version: int | None = None) -> Regulations:
        v = self._check(version)
        self._materialise(v)
        return self._regs[v]

    def _layer(self, name):
        return self.twin.metric(name) if name in self.twin else None

    def context(self, version: int | None = None) -> ComplianceContext:
        """The compliance indexes of a version (built once, reused for every site)."""
        v = self._check(version)
        if v not in self._ctx:
            self._ctx = {k: c for k, c in self._ctx.items() if k >= v - 1}  # keep few
            self._ctx[v] = ComplianceContext(
                self.zones(v, metric=True),
                self.regulations(v),
                protected=self._layer("protected_areas"),
                water=self.twin.water(metric=True),
                settlements=self._layer("settlements"),
                parcels=self._digested().residential_parcels() if "parcels" in self.twin
                else None,
                crs=self.crs,
            )
        return self._ctx[v]

    def _sites(self) -> gpd.GeoDataFrame:
        if "project_sites" in self.twin:
            return self.twin["project_sites"]
        # no sites: nothing to check, and a table of no findings says so exactly
        return gpd.GeoDataFrame({"id": pd.Series(dtype=object),
                                 "district_id": pd.Series(dtype=object)},
                                geometry=gpd.GeoSeries([], crs=4326), crs=4326)

    def compliance(self, version: int | None = None, sites=None) -> pd.DataFrame:
        """Findings for every project site (or the given sites) against a version; no rows
        when the twin has no sites (:attr:`unavailable` says so).

        The twin's own sites' findings are saved beside the twin, keyed on everything the
        check reads (:mod:`twin.plan.saved`): a later run answers without the parcels."""
        if sites is not None:
            return self.context(version).check(sites)
        v = self._check(version)
        # keyed on the twin's sites too: they are read afresh, as before they were saved
        key = findings_key(self.twin, self.zones(v, metric=True), self.regulations(v),
                           self.crs)
        if key not in self._findings:
            f = saved_findings(self.twin, key)
            if f is None:
                f = self.context(v).check(self._sites())
                save_findings(self.twin, key, f)
            if len(self._findings) >= 4:  # keep few
                self._findings.pop(next(iter(self._findings)))
            self._findings[key] = f
        return self._findings[key].copy()

    def compliance_summary(
        self, version: int | None = None, findings: pd.DataFrame | None = None
    ) -> pd.DataFrame:
        f = self.compliance(version) if findings is None else findings
        return compliance_summary(
            f, self._sites(), self.twin["districts"], self._layer("settlements")
        )

    def check_site(
        self,
        geometry,
        sector: str = "",
        hazard_class: str = "",
        *,
        version: int | None = None,
        site_id: str = "proposed",
    ) -> tuple[Finding, ...]:
        """Findings for one proposed site; reuses the version's indexes."""
        return self.context(version).check_site(geometry, sector, hazard_class, site_id=site_id)

    def land_balance(self, version: int | None = None) -> pd.DataFrame:
        return land_balance(
            self.zones(version, metric=True), self.twin.metric("districts"), crs=self.crs
        )

    def _need_parcels(self) -> None:
        if "parcels" not in self.twin:
            raise AnalysisUnavailable(UNAVAILABLE["parcels"])

    def parcel_zone_types(self, version: int | None = None) -> pd.Series:
        """Zone type of each parcel; a rezone updates only the parcels inside it."""
        self._need_parcels()
        v = self._check(version)
        if v in self._ptypes:
            return self._ptypes[v]
        if v == 1 or not any(k < v for k in self._ptypes):
            from ._geom import xy_in_polygons

            # in lon/lat, where the parcels are stored: a million parcels need no
            # reprojection, and the zones partition lon/lat space as well as metres
            z = self.twin["zones"] if v == 1 and "zones" in self.twin else self.zones(v)

            def lookup():
                d = self._digested()
                idx = xy_in_polygons(d.x, d.y, np.asarray(z.geometry.values, dtype=object))
                zcode = pd.Categorical(z["zone_type"], categories=ZONE_TYPES).codes
                return np.where(idx >= 0, zcode[np.clip(idx, 0, None)], -1)

            codes = zone_codes(self.twin, self._digested(), z, lookup)
        else:
            codes = self.parcel_zone_types(v - 1).cat.codes.to_numpy().copy()
            ch = self._change(v)
            if isinstance(ch, Rezone):
                codes[self._parcels_in(ch.geometry)] = ZONE_TYPES.index(ch.zone_type)
        s = pd.Series(
            pd.Categorical.from_codes(codes, categories=ZONE_TYPES),
            index=pd.RangeIndex(len(codes)),  # the parcels' own index (a twin's layers')
            name="zone_type",
        )
        self._ptypes[v] = s
        return s

    def _digested(self) -> ParcelDigest:
        """What the plan needs of every parcel (:mod:`twin.plan.saved`), read once."""
        if self._digest is None:
            self._digest = parcel_digest(self.twin)
        return self._digest

    def _parcels_in(self, area) -> np.ndarray:
        """Rows of the parcels whose representative point the lon/lat ``area`` holds."""
        d = self._digested()
        x0, y0, x1, y1 = shapely.bounds(area)
        near = np.flatnonzero((d.x >= x0) & (d.x <= x1) & (d.y >= y0) & (d.y <= y1))
        shapely.prepare(area)
        return near[shapely.intersects_xy(area, d.x[near], d.y[near])]

    def _parcel_points(self):
        if self._parcel_pts is None:
            self._parcel_pts = self._digested().points()  # lon/lat
        return self._parcel_pts

    def _parcel_tree(self):
        if self._ptree is None:
            self._ptree = shapely.STRtree(self._parcel_points())
        return self._ptree

    def capacity(self, version: int | None = None) -> pd.Series:
        """Maximum floor area (m²) of each parcel under a version; raises
        :class:`~twin.errors.AnalysisUnavailable` on a twin without parcels."""
        self._need_parcels()
        return capacity(
            self._digested().table(),
            None,
            self.regulations(version),
            zone_types=self.parcel_zone_types(version),
        )

    def capacity_summary(self, version: int | None = None) -> pd.DataFrame:
        self._need_parcels()
        return capacity_summary(
            self._digested().table(), self.parcel_zone_types(version), self.capacity(version)
        )

    # -- diff ------------------------------------------------------------------------------
    def diff(self, v1: int, v2: int) -> PlanDiff:
        """What changed from ``v1`` to ``v2``: zone transitions per district (hectares and
        parcels) and regulation fields, in words by ``str()``."""
        v1, v2 = self._check(v1), self._check(v2)
        zt = zone_transitions(self.zones(v1, metric=True), self.zones(v2, metric=True))
        names = dict(
            zip(
                self.twin["districts"]["id"].astype(str),
                self.twin["districts"]["name"],
                strict=True,
            )
        )
        key = ["district_id", "from_zone", "to_zone"]
        if "parcels" in self.twin and len(zt):
            a, b = self.parcel_zone_types(v1), self.parcel_zone_types(v2)
            moved = a.cat.codes.to_numpy() != b.cat.codes.to_numpy()
            p = self._digested().table()
            pc = pd.DataFrame(
                {
                    "district_id": p["district_id"].astype(str).to_numpy()[moved],
                    "from_zone": a.astype(object).to_numpy()[moved],
                    "to_zone": b.astype(object).to_numpy()[moved],
                    "parcel_ha": p["area_ha"].to_numpy()[moved],
                }
            )
            pc = pc.groupby(key, as_index=False).agg(
                parcels=("parcel_ha", "size"), parcel_ha=("parcel_ha", "sum")
            )
            zt = zt.merge(pc, on=key, how="left")
        else:
            zt = zt.assign(parcels=0, parcel_ha=0.0)
        zt["parcels"] = zt["parcels"].fillna(0).astype(int)
        zt.insert(1, "district", zt["district_id"].map(lambda d: names.get(d, d)))
        zt = zt.sort_values("hectares", ascending=False, kind="stable").reset_index(drop=True)
        return PlanDiff(
            self.id, v1, v2, zt, regulation_changes(self.regulations(v1), self.regulations(v2))
        )

    # -- persistence -----------------------------------------------------------------------
    def save(self, *, into_store: bool = True) -> int:
        """Write versions not yet saved into the twin's tables and, when the twin is
        stored, into its store in one transaction. Returns how many were written.

        ``into_store=False`` puts them in the twin's tables only: :meth:`Twin.save
        <twin.Twin.save>` does that to write them with a whole twin saved elsewhere.
        """
        n = save_versions(self.twin, self.id, self._records, self._saved,
                          into_store=into_store)
        self._saved = len(self._records)
        return n

    @contextlib.contextmanager
    def staged(self) -> Iterator[None]:
        """The versions not yet saved, put in the twin's tables for a whole save to write
        elsewhere; still unsaved if the body fails (nothing was written)."""
        saved = self._saved
        self.save(into_store=False)
        try:
            yield
        except BaseException:
            self._saved = saved
            raise

    @property
    def unsaved(self) -> int:
        """How many versions were made since the plan was last saved (by :meth:`save` or
        with the whole twin)."""
        return len(self._records) - self._saved

    # -- outputs ---------------------------------------------------------------------------
    def export(self, path, version: int | None = None) -> Path:
        """Write the plan of a version to a GeoPackage, atomically."""
        from .report import export_plan

        return export_plan(self, path, version)

    def report(self, out_dir, version: int | None = None) -> Path:
        """Write a Markdown report with tables and a map figure into ``out_dir``."""
        from .report import write_report

        return write_report(self, out_dir, version)


def _metric(z, crs):
    from ._geom import in_crs

    return in_crs(z, crs, "zones")


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
