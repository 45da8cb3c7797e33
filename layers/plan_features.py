"""The general plan's outputs as map features: compliance findings at their project sites,
and the sanitary protection zones around them.

The plan computes findings as a table (one row per site and rule) and sanitary zones as
polygons in its metric CRS; a map needs both in lon/lat with what its filters read (the
site's sector, status, hazard class and years) and how real the site is. These are the same
outputs ``twin plan export`` writes to a GeoPackage.

Examples
--------
>>> from twin.sample import make_small_twin
>>> tw = make_small_twin()
>>> findings_features(tw)[["site_id", "severity"]].shape[1]
2
>>> sanitary_zone_features(tw)[["site_id", "hazard_class", "radius_m"]].values.tolist()
[['p1', 'II', 500.0]]
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

__all__ = ["findings_features", "sanitary_zone_features", "SITE_COLUMNS"]

#: Site attributes copied onto findings and sanitary zones, so a map filters them by the
#: same sector, status, hazard class and years as the sites, and badges them alike.
SITE_COLUMNS = ("name", "sector", "status", "start_year", "end_year", "hazard_class",
                "accuracy", "synthetic", "synthetic_fields")


def _sites(twin) -> gpd.GeoDataFrame:
    if "project_sites" not in twin:  # no sites: no findings, no zones (as plan.compliance)
        return gpd.GeoDataFrame({"site_id": pd.Series(dtype=object)}, geometry=[], crs=4326)
    s = twin["project_sites"]
    cols = ["id", *[c for c in SITE_COLUMNS if c in s.columns]]
    return s[[*cols, s.geometry.name]].rename(columns={"id": "site_id", "name": "site_name"})


def findings_features(twin, version: int | None = None) -> gpd.GeoDataFrame:
    """One point per compliance finding, at its project site, in EPSG:4326.

    ``id`` is ``<site>:<rule>:<n>`` (a site can break several rules, and one rule for
    several reasons); ``affected`` is a comma-separated list. The site's own ``hazard_class``
    and ``synthetic`` flags come with it: a finding about a made-up site is as made up.
    """
    f = twin.plan.compliance(version).copy()
    f["affected"] = f["affected"].map(lambda t: ", ".join(map(str, t)))
    f["n"] = f.groupby(["site_id", "rule"]).cumcount()
    f.insert(0, "id", f["site_id"].astype(str) + ":" + f["rule"].astype(str) + ":"
             + f["n"].astype(str))
    sites = _sites(twin)
    own = [c for c in sites.columns if c in f.columns and c != "site_id"]
    g = sites.drop(columns=own).merge(f.drop(columns="n"), on="site_id", how="inner")
    g = g[["id", *[c for c in g.columns if c != "id"]]]
    return gpd.GeoDataFrame(g, geometry=sites.geometry.name, crs=sites.crs)


def sanitary_zone_features(twin, version: int | None = None) -> gpd.GeoDataFrame:
    """The sanitary protection zone (by hazard class) of every project site that has one,
    as polygons in EPSG:4326, with the site's name, sector, status and years."""
    from twin.crs import to_storage
    from twin.plan import sanitary_zones

    plan = twin.plan
    if "project_sites" not in twin:
        return _sites(twin).assign(id=pd.Series(dtype=object))[["id", "site_id", "geometry"]]
    zones = to_storage(sanitary_zones(twin["project_sites"], plan.regulations(version),
                                      crs=plan.crs))
    sites = pd.DataFrame(_sites(twin).drop(columns=twin["project_sites"].geometry.name))
    own = [c for c in sites.columns if c in zones.columns and c != "site_id"]
    z = zones.merge(sites.drop(columns=own), on="site_id", how="left")
    z.insert(0, "id", z["site_id"].astype(str))
    return gpd.GeoDataFrame(z, geometry=zones.geometry.name, crs=zones.crs)
