"""Land balance (hectares and share of each zone per district) and building capacity
(maximum floor area per parcel), as plain functions over GeoDataFrames."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from ._geom import in_crs, metric_crs
from .regulations import ZONE_TYPES, Regulations
from .zones import parcel_zones

__all__ = ["land_balance", "capacity", "capacity_summary", "parcel_zone_types"]


def land_balance(
    zones: gpd.GeoDataFrame, districts: gpd.GeoDataFrame, *, crs: CRS | None = None
) -> pd.DataFrame:
    """Hectares and share of each zone type per district.

    Areas are measured afresh in the equal-area ``crs`` (not read from ``area_ha``, which a
    hand edit could leave stale). ``closure`` is Σ zones / district area − 1 per district:
    a partition of the district gives 0 (the plan keeps it within 0.1 %).

    .. math:: \\text{share}_{d,z} = A_{d,z} / \\sum_{z'} A_{d,z'}

    Returns
    -------
    DataFrame
        One row per district and zone type (all nine, zeros included): ``district_id``,
        ``zone_type``, ``area_ha``, ``share``, ``district_area_ha``, ``closure``.

    Examples
    --------
    >>> from twin.sample import make_small_twin
    >>> from twin.plan import zones_for_twin
    >>> tw = make_small_twin()
    >>> lb = land_balance(zones_for_twin(tw), tw["districts"])
    >>> lb.groupby("district_id")["area_ha"].sum().round().to_dict()
    {'east': 10000.0, 'west': 10000.0}
    >>> float(lb["closure"].abs().max()) < 1e-6   # round trip through lon/lat only
    True
    """
    crs = metric_crs(crs, zones)
    z = in_crs(zones, crs, "zones")
    d = in_crs(districts, crs, "districts")
    area = pd.DataFrame(
        {
            "district_id": z["district_id"].astype(str).to_numpy(),
            "zone_type": z["zone_type"].to_numpy(),
            "area_ha": shapely.area(np.asarray(z.geometry.values)) / 1e4,
        }
    )
    dids = d["id"].astype(str).to_numpy()
    full = pd.MultiIndex.from_product([dids, ZONE_TYPES], names=["district_id", "zone_type"])
    out = (
        area.groupby(["district_id", "zone_type"])["area_ha"]
        .sum()
        .reindex(full, fill_value=0.0)
        .reset_index()
    )
    zsum = out.groupby("district_id")["area_ha"].transform("sum")
    out["share"] = np.where(zsum > 0, out["area_ha"] / zsum.where(zsum > 0, 1), 0.0)
    dist_area = pd.Series(shapely.area(np.asarray(d.geometry.values)) / 1e4, index=dids)
    out["district_area_ha"] = out["district_id"].map(dist_area)
    out["closure"] = zsum / out["district_area_ha"] - 1.0
    if "name" in d:
        out.insert(1, "district", out["district_id"].map(dict(zip(dids, d["name"], strict=True))))
    return out


def parcel_zone_types(parcels: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> pd.Series:
    """The zone type of each parcel (by its representative point), aligned to parcels."""
    zid = parcel_zones(parcels, zones)
    t = zid.map(dict(zip(zones["id"], zones["zone_type"], strict=True)))
    return pd.Series(
        pd.Categorical(t, categories=ZONE_TYPES), index=parcels.index, name="zone_type"
    )


def capacity(
    parcels: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame | None,
    regulations: Regulations,
    *,
    zone_types: pd.Series | None = None,
    crs: CRS | None = None,
) -> pd.Series:
    """Maximum floor area of each parcel: parcel area × max FAR of its zone, in m².

    .. math:: F_p = A_p \\cdot \\mathrm{FAR}_{z(p)}

    Parameters
    ----------
    parcels : GeoDataFrame
        With ``area_ha`` (trusted as given; the twin computes it in its equal-area CRS) or
        without (then measured in ``crs``).
    zones : GeoDataFrame or None
        The plan's zones; not needed when ``zone_types`` is given.
    zone_types : Series, optional
        A precomputed zone type per parcel (from :func:`parcel_zone_types`), so a scenario
        that changes one regulation does not redo the point-in-zone lookup.

    Returns
    -------
    Series
        Float m², aligned to ``parcels.index``; 0 for parcels outside every zone.

    Examples
    --------
    >>> from twin.sample import make_small_twin
    >>> from twin.plan import load_regulations, zones_for_twin
    >>> tw = make_small_twin()
    >>> regs = load_regulations()
    >>> cap = capacity(tw["parcels"], zones_for_twin(tw), regs)
    >>> float(cap.iloc[3]) == 100 * 1e4 * regs["industrial"].max_far   # 100 ha industrial
    True
    """
    if zone_types is None:
        zone_types = parcel_zone_types(parcels, zones)
    if "area_ha" in parcels:
        area_m2 = parcels["area_ha"].to_numpy(dtype=float) * 1e4
    else:
        p = in_crs(parcels, metric_crs(crs, parcels), "parcels")
        area_m2 = shapely.area(np.asarray(p.geometry.values))
    # through category codes: a million parcels share nine zone types
    cat = pd.Categorical(zone_types, categories=ZONE_TYPES)
    far_of = np.array([regulations[z].max_far for z in ZONE_TYPES] + [0.0])
    far = far_of[np.where(cat.codes >= 0, cat.codes, len(ZONE_TYPES))]
    return pd.Series(area_m2 * far, index=parcels.index, name="max_floor_area_m2")


def capacity_summary(
    parcels: gpd.GeoDataFrame, zone_types: pd.Series, floor_area: pd.Series
) -> pd.DataFrame:
    """Capacity totalled by district and zone type: parcels, hectares, max floor area.

    Examples
    --------
    >>> p = pd.DataFrame({"district_id": ["a", "a", "b"], "area_ha": [1.0, 2.0, 3.0]})
    >>> t = pd.Series(["industrial", "industrial", "residential"])
    >>> capacity_summary(p, t, pd.Series([1e4, 2e4, 3.6e4])).to_dict("records")[0]
    {'district_id': 'a', 'zone_type': 'industrial', 'parcels': 2, 'area_ha': 3.0, \
'max_floor_area_m2': 30000.0}
    """
    zt = pd.Categorical(zone_types, categories=[*ZONE_TYPES, "outside"])
    df = pd.DataFrame(
        {
            "district_id": pd.Categorical(parcels["district_id"]),
            "zone_type": zt.fillna("outside"),
            "area_ha": parcels["area_ha"].to_numpy(dtype=float),
            "max_floor_area_m2": floor_area.to_numpy(dtype=float),
        }
    )
    g = df.groupby(["district_id", "zone_type"], sort=True, observed=True)
    out = g.agg(
        parcels=("area_ha", "size"),
        area_ha=("area_ha", "sum"),
        max_floor_area_m2=("max_floor_area_m2", "sum"),
    ).reset_index()
    return out.astype({"district_id": str, "zone_type": str})
