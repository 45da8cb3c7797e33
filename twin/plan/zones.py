"""Functional zones: derive a gap-free, overlap-free zones layer from a twin, and rezone it.

The zones layer partitions every district: each row is one zone type inside one district, so
the land balance of a district is an exact sum. Zones come from the twin's own layers where
it has them (industrial zones, protected areas) and from stated, editable rules where it
does not (the extent of a settlement's residential area from its population). Every row
says which: ``synthetic`` is False only when the zone's extent is taken from a twin layer,
and ``basis`` states the rule in words.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ..crs import to_storage
from ._geom import geometry_in, in_crs, metric_crs, points_in_polygons, polygonal, polygonal1
from .errors import PlanError
from .regulations import check_zone_type

__all__ = [
    "ZoningRules",
    "ZONES_COLUMNS",
    "derive_zones",
    "zones_for_twin",
    "rezone",
    "zone_index_of_points",
    "parcel_zones",
]

#: Columns of the zones layer: the core schema's plus ``name`` and ``basis``.
ZONES_COLUMNS = [
    "id",
    "zone_type",
    "district_id",
    "area_ha",
    "name",
    "basis",
    "source",
    "synthetic",
]


@dataclass(frozen=True)
class ZoningRules:
    """The assumed rules that turn settlement points into zone extents. All are assumptions
    (not from a cited norm), flagged ``synthetic`` in the zones they produce; edit them.

    Parameters
    ----------
    persons_per_ha : float
        Gross density of a settlement's built-up area. Its residential zone is a disc of
        ``population / persons_per_ha`` hectares around the settlement point.
    min_radius_m : float
        Smallest residential disc, for villages with few or unknown inhabitants.
    core_share, core_min_population :
        Settlements of at least ``core_min_population`` get a public-business centre of
        ``core_share`` of their residential area.
    green_belt_m, green_belt_min_population :
        A recreational green belt this wide around larger towns.
    reserve_ring_m, reserve_min_population :
        A reserve ring for the town's growth, beyond the belt.
    priority : tuple of str
        Which zone type wins where candidate zones overlap, first wins; what no zone claims
        is agricultural.
    """

    persons_per_ha: float = 25.0
    min_radius_m: float = 300.0
    core_share: float = 0.15
    core_min_population: int = 10_000
    green_belt_m: float = 300.0
    green_belt_min_population: int = 50_000
    reserve_ring_m: float = 1_000.0
    reserve_min_population: int = 10_000
    # Settlement lands come before protected areas: a town can sit inside the outline of a
    # national park without its lands being park lands. Compliance still checks sites
    # against the protected_areas layer itself.
    priority: tuple[str, ...] = (
        "industrial",
        "infrastructure",
        "special",
        "public_business",
        "residential",
        "protected",
        "recreational",
        "reserve",
    )

    def __post_init__(self):
        for z in self.priority:
            check_zone_type(z)
        if self.persons_per_ha <= 0 or self.min_radius_m < 0:
            raise PlanError("ZoningRules: persons_per_ha must be > 0 and min_radius_m >= 0")

    def residential_radius_m(self, population) -> np.ndarray:
        """Radius of the residential disc: r = sqrt(P / d * 10^4 / π), at least r_min.

        Examples
        --------
        >>> round(float(ZoningRules().residential_radius_m(25 * 100 * np.pi)[0]), 6)  # 100π ha
        1000.0
        """
        pop = np.nan_to_num(np.asarray(population, dtype=float).reshape(-1), nan=0.0)
        r = np.sqrt(np.clip(pop, 0, None) / self.persons_per_ha * 1e4 / np.pi)
        return np.maximum(r, self.min_radius_m)


def _layer_rows(gdf, zone_type: str, layer: str, crs) -> list[tuple]:
    """Candidate zones taken as they are from a layer's polygons (derived, not synthetic
    unless the source row is)."""
    if gdf is None or not len(gdf):
        return []
    g = in_crs(gdf, crs, layer)
    names = g["name"].astype(str) if "name" in g else g["id"].astype(str)
    synthetic = g["synthetic"].astype(bool) if "synthetic" in g else pd.Series(True, g.index)
    return [
        (zone_type, geom, fid, name, 0, f"{layer} layer: {name}", f"{layer}/{fid}", bool(syn))
        for fid, name, syn, geom in zip(g["id"], names, synthetic, g.geometry.values, strict=True)
    ]


def _candidates(
    settlements, industrial, protected, rules: ZoningRules, crs, extra=None
) -> pd.DataFrame:
    rows = _layer_rows(industrial, "industrial", "industrial_zones", crs)
    rows += _layer_rows(protected, "protected", "protected_areas", crs)
    for zone_type, layer in (extra or {}).items():
        check_zone_type(zone_type)
        rows += _layer_rows(layer, zone_type, f"{zone_type} (extra)", crs)
    if settlements is not None and len(settlements):
        st = in_crs(settlements, crs, "settlements")
        pop = st["population"] if "population" in st else pd.Series(0, index=st.index)
        pop = pop.fillna(0).to_numpy(dtype=float)
        r_res = rules.residential_radius_m(pop)
        pts = np.asarray(st.geometry.values)
        names = st["name"].astype(str).to_numpy() if "name" in st else st["id"].to_numpy()
        ids = st["id"].astype(str).to_numpy()
        d = rules.persons_per_ha
        specs = [
            (
                "residential",
                r_res,
                pop >= 0,
                f"settlement point with a residential disc of population / {d:g} persons per "
                "ha (assumed density)",
            ),
            (
                "public_business",
                r_res * np.sqrt(rules.core_share),
                pop >= rules.core_min_population,
                f"town centre: {rules.core_share:.0%} of the residential disc for settlements "
                f"of {rules.core_min_population:,}+ people (assumed)",
            ),
            (
                "recreational",
                r_res + rules.green_belt_m,
                pop >= rules.green_belt_min_population,
                f"{rules.green_belt_m:g} m green belt around towns of "
                f"{rules.green_belt_min_population:,}+ people (assumed)",
            ),
            (
                "reserve",
                r_res + rules.green_belt_m + rules.reserve_ring_m,
                pop >= rules.reserve_min_population,
                f"{rules.reserve_ring_m:g} m growth reserve around towns of "
                f"{rules.reserve_min_population:,}+ people (assumed)",
            ),
        ]
        for zone_type, radius, keep, basis in specs:
            discs = shapely.buffer(pts, radius, quad_segs=16)
            for i in np.flatnonzero(keep):
                rows.append(
                    (
                        zone_type,
                        discs[i],
                        ids[i],
                        names[i],
                        pop[i],
                        basis,
                        f"settlements/{ids[i]} + ZoningRules",
                        True,
                    )
                )
    cols = [
        "zone_type",
        "geometry",
        "feature_id",
        "feature_name",
        "population",
        "basis",
        "source",
        "synthetic",
    ]
    cand = pd.DataFrame(rows, columns=cols)
    rank = {z: i for i, z in enumerate(rules.priority)}
    cand = cand[cand["zone_type"].isin(rank)]
    cand = cand.assign(rank=cand["zone_type"].map(rank))
    # bigger towns first inside a type, so a town keeps its disc where a village's overlaps
    return cand.sort_values(
        ["rank", "population", "feature_id"], ascending=[True, False, True], kind="stable"
    ).reset_index(drop=True)


def derive_zones(
    districts: gpd.GeoDataFrame,
    settlements: gpd.GeoDataFrame | None = None,
    industrial_zones: gpd.GeoDataFrame | None = None,
    protected_areas: gpd.GeoDataFrame | None = None,
    *,
    extra: dict[str, gpd.GeoDataFrame] | None = None,
    rules: ZoningRules | None = None,
    crs: CRS | None = None,
) -> gpd.GeoDataFrame:
    """Derive functional zones that partition every district (no gaps, no overlaps).

    Settlements become residential discs with a public-business centre (and, for towns, a
    recreational green belt and a growth reserve); industrial zones become industrial;
    protected areas become protected; what is left of each district is agricultural.
    Zones are cut per district, so ``land_balance`` per district is exact.

    Parameters
    ----------
    districts : GeoDataFrame
        Polygons with ``id``; any CRS.
    settlements, industrial_zones, protected_areas : GeoDataFrame, optional
        The twin's layers of those names.
    extra : dict of GeoDataFrame, optional
        Polygons to take as zones of a given type, e.g. ``{"infrastructure": corridors,
        "special": cemeteries}`` (buffer lines such as roads first). The default twin has
        no such layers, so its plan has no infrastructure or special zones until a plan
        change rezones land to them.
    rules : ZoningRules, optional
        The assumed extent rules; see :class:`ZoningRules`.
    crs : CRS, optional
        Metric CRS for the geometry work (default: an equal-area CRS centred on the
        districts; a twin passes its own analysis CRS).

    Returns
    -------
    GeoDataFrame
        In EPSG:4326 with :data:`ZONES_COLUMNS`, ready for ``Twin.add_layer("zones", ...)``.

    Examples
    --------
    >>> from twin.sample import make_small_twin
    >>> tw = make_small_twin()
    >>> z = derive_zones(tw["districts"], tw["settlements"], tw["industrial_zones"],
    ...                  tw["protected_areas"])
    >>> round(z["area_ha"].sum())   # the two 100 km² districts
    20000
    >>> sorted(z["zone_type"].unique())
    ['agricultural', 'industrial', 'protected', 'residential']
    """
    rules = rules or ZoningRules()
    crs = metric_crs(crs, districts)
    dist = in_crs(districts, crs, "districts")
    cand = _candidates(settlements, industrial_zones, protected_areas, rules, crs, extra)
    cgeoms = np.asarray(cand["geometry"].to_numpy(), dtype=object)
    tree = shapely.STRtree(cgeoms)
    out = []
    for did, dgeom in zip(dist["id"].astype(str), dist.geometry.values, strict=True):
        remaining = dgeom
        hits = np.sort(tree.query(dgeom, predicate="intersects"))  # sorted = priority order
        for i in hits:
            c = cand.iloc[i]
            piece = polygonal1(shapely.intersection(remaining, cgeoms[i]))
            if shapely.is_empty(piece) or shapely.area(piece) <= 0:
                continue
            remaining = polygonal1(shapely.difference(remaining, cgeoms[i]))
            out.append(
                (
                    f"{did}:{c.zone_type}:{c.feature_id}",
                    c.zone_type,
                    did,
                    f"{c.feature_name} ({c.zone_type})",
                    c.basis,
                    c.source,
                    c.synthetic,
                    piece,
                )
            )
        if not shapely.is_empty(remaining) and shapely.area(remaining) > 0:
            out.append(
                (
                    f"{did}:agricultural",
                    "agricultural",
                    did,
                    "open land (agricultural)",
                    "remainder of the district once the other zones are cut out, "
                    "assumed agricultural (an assumed rule: replace it with the land "
                    "register's uses where the twin has them)",
                    "twin.plan.derive_zones remainder",
                    True,
                    remaining,
                )
            )
    cols = ["id", "zone_type", "district_id", "name", "basis", "source", "synthetic", "geometry"]
    z = gpd.GeoDataFrame(pd.DataFrame(out, columns=cols), geometry="geometry", crs=crs)
    z["area_ha"] = z.geometry.area / 1e4
    z["synthetic"] = z["synthetic"].astype(bool)
    return _valid_storage(z[ZONES_COLUMNS + ["geometry"]])


def _valid_storage(z: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    # Reprojecting a valid polygon can make it invalid where a hole nearly touches the shell
    # (float rounding of ~1e-9 degrees); repairing those few keeps areas to well under 1 m².
    s = to_storage(z)
    g = np.asarray(s.geometry.values)
    bad = ~shapely.is_valid(g)
    if bad.any():
        g = g.copy()
        g[bad] = polygonal(shapely.make_valid(g[bad], method="structure", keep_collapsed=False))
        s = s.set_geometry(gpd.GeoSeries(g, index=s.index, crs=s.crs))
    return s


def zones_for_twin(tw, rules: ZoningRules | None = None) -> gpd.GeoDataFrame:
    """:func:`derive_zones` from a twin's layers (those it lacks are skipped)."""

    def get(name):
        return tw[name] if name in tw else None

    return derive_zones(
        tw["districts"],
        get("settlements"),
        get("industrial_zones"),
        get("protected_areas"),
        rules=rules,
        crs=tw.analysis_crs,
    )


def rezone(
    zones: gpd.GeoDataFrame,
    geometry,
    zone_type: str,
    *,
    tag: str = "rezone",
    basis: str = "rezoned by a plan change",
    source: str = "plan change",
    crs: CRS | None = None,
) -> gpd.GeoDataFrame:
    """Rezone ``geometry`` to ``zone_type``: cut it out of the zones it covers and add it
    back as one new zone per district. The partition stays gap- and overlap-free.

    Parameters
    ----------
    zones : GeoDataFrame
        A zones layer (any CRS; a metric CRS avoids reprojection).
    geometry : shapely geometry or GeoSeries
        The area to rezone. A bare shapely geometry is lon/lat (EPSG:4326).
    zone_type : str
        One of :data:`~twin.plan.regulations.ZONE_TYPES`.
    tag : str
        Makes the new zones' ids unique: ``{district}:{zone_type}:{tag}``.
    crs : CRS, optional
        Metric CRS used when ``zones`` is in lon/lat (default: an equal-area CRS centred on
        the zones).

    Examples
    --------
    >>> from twin.sample import make_small_twin, square_lonlat
    >>> tw = make_small_twin()
    >>> z = derive_zones(tw["districts"], tw["settlements"])
    >>> z2 = rezone(z, square_lonlat(9_000, 0, 2_000), "industrial", tag="v2")
    >>> z2.groupby("district_id").apply(lambda g: round(g.loc[g.zone_type ==
    ...     "industrial", "area_ha"].sum()), include_groups=False).to_dict()
    {'east': 200, 'west': 200}
    >>> round(z2["area_ha"].sum())
    20000
    """
    check_zone_type(zone_type)
    src_crs = CRS(zones.crs) if zones.crs is not None else None
    work_crs = (
        src_crs if src_crs is not None and src_crs.is_projected else metric_crs(crs, zones)
    )
    z = in_crs(zones, work_crs, "zones").reset_index(drop=True)
    g = polygonal1(geometry_in(geometry, work_crs, "rezone geometry"))
    if shapely.is_empty(g):
        raise PlanError("rezone: the geometry has no area: give a polygon (or parcel ids)")
    geoms = np.asarray(z.geometry.values).copy()
    hit = np.sort(shapely.STRtree(geoms).query(g, predicate="intersects"))
    if not len(hit):
        raise PlanError(
            "rezone: the geometry lies outside every zone: check its CRS "
            "(bare shapely geometries are read as lon/lat)"
        )
    inter = polygonal(shapely.intersection(geoms[hit], g))
    rest = polygonal(shapely.difference(geoms[hit], g))
    geoms[hit] = rest
    z = z.set_geometry(gpd.GeoSeries(geoms, index=z.index, crs=work_crs))
    districts = z["district_id"].to_numpy()[hit]
    new = []
    for did in pd.unique(districts):
        piece = polygonal1(shapely.union_all(inter[districts == did]))
        if shapely.is_empty(piece) or shapely.area(piece) <= 0:
            continue
        new.append(
            {
                "id": f"{did}:{zone_type}:{tag}",
                "zone_type": zone_type,
                "district_id": did,
                "name": f"{zone_type} ({tag})",
                "basis": basis,
                "source": source,
                "synthetic": False,
                "geometry": piece,
            }
        )
    if new:
        dup = set(z["id"]) & {n["id"] for n in new}
        if dup:
            raise PlanError(f"rezone: zone id(s) {sorted(dup)} already exist: use a new tag")
        z = pd.concat(
            [z, gpd.GeoDataFrame(new, geometry="geometry", crs=work_crs)], ignore_index=True
        )
    keep = ~shapely.is_empty(np.asarray(z.geometry.values))
    z = z[keep].reset_index(drop=True)
    z["area_ha"] = shapely.area(np.asarray(z.geometry.values)) / 1e4
    z["synthetic"] = z["synthetic"].astype(bool)
    if src_crs is None or CRS(src_crs) == work_crs:
        return z
    return _valid_storage(z) if CRS(src_crs) == CRS(4326) else in_crs(z, src_crs, "zones")


def zone_index_of_points(
    points: np.ndarray, zone_geoms: np.ndarray, tree: shapely.STRtree | None = None
) -> np.ndarray:
    """Row position of the zone holding each point (-1 outside every zone); ``tree`` is an
    STRtree of ``points`` if the caller has one."""
    return points_in_polygons(
        np.asarray(points, dtype=object), np.asarray(zone_geoms, dtype=object), tree
    )


def parcel_zones(parcels: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> pd.Series:
    """The zone id of each parcel, by the zone holding its representative point.

    A parcel that straddles two zones belongs to the one holding its
    ``point_on_surface``; rezoning by parcels cuts zones along parcel edges, so there is no
    straddling after a parcel rezone.

    Examples
    --------
    >>> from twin.sample import make_small_twin
    >>> tw = make_small_twin()
    >>> z = zones_for_twin(tw)
    >>> parcel_zones(tw["parcels"], z).str.split(":").str[1].tolist()
    ['residential', 'agricultural', 'agricultural', 'industrial']
    """
    crs = CRS(zones.crs)
    p = in_crs(parcels, crs, "parcels")
    pts = shapely.point_on_surface(np.asarray(p.geometry.values))
    idx = zone_index_of_points(pts, np.asarray(zones.geometry.values))
    ids = zones["id"].to_numpy()
    out = np.where(idx >= 0, ids[np.clip(idx, 0, None)], None)
    return pd.Series(out, index=parcels.index, name="zone_id", dtype=object)
