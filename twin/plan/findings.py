"""Findings of the compliance check: the :class:`Finding` record, and the summary of
findings per district."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

__all__ = ["Finding", "FINDING_COLUMNS", "SEVERITIES", "compliance_summary"]

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One compliance finding for one site, with the numbers behind it.

    ``distance_m`` is the distance that matters to the rule (to the nearest settlement, the
    water's edge, or how deep inside a protected area); ``limit_m`` the rule's distance;
    ``hectares``/``parcels``/``population`` what the sanitary zone covers.
    """

    site_id: str
    rule: str
    severity: str
    message: str
    district_id: str = ""
    zone_type: str = ""
    sector: str = ""
    hazard_class: str = ""
    distance_m: float = float("nan")
    limit_m: float = float("nan")
    hectares: float = 0.0
    residential_zone_ha: float = 0.0
    parcels: int = 0
    population: int = 0
    affected: tuple[str, ...] = ()


FINDING_COLUMNS = list(Finding.__dataclass_fields__)


def compliance_summary(
    findings: pd.DataFrame,
    sites: gpd.GeoDataFrame,
    districts: gpd.GeoDataFrame | None = None,
    settlements: gpd.GeoDataFrame | None = None,
) -> pd.DataFrame:
    """Per district: sites checked, sites with errors / warnings, findings per rule, and
    the people living in settlements inside any sanitary zone (each settlement once when
    ``settlements`` is given; otherwise summed per site, which can count a town twice).

    Examples
    --------
    >>> f = pd.DataFrame({"site_id": ["a", "a"], "district_id": ["d", "d"],
    ...     "rule": ["zone_use", "sanitary_zone"], "severity": ["warning", "error"],
    ...     "population": [0, 900], "hectares": [0.0, 2.5], "affected": [(), ("s1",)]})
    >>> s = pd.DataFrame({"id": ["a", "b"], "district_id": ["d", "d"]})
    >>> compliance_summary(f, s)[["sites", "compliant", "with_errors", "population_in_szz"]
    ...     ].to_dict("records")
    [{'sites': 2, 'compliant': 1, 'with_errors': 1, 'population_in_szz': 900}]
    """
    site_d = pd.Series(
        sites["district_id"].fillna("").astype(str).to_numpy(),
        index=sites["id"].astype(str).to_numpy(),
    )
    f = findings.copy()
    f["district_id"] = f["site_id"].map(site_d).fillna(f["district_id"])
    table = pd.DataFrame(index=pd.Index(sorted(set(site_d)), name="district_id"))
    table["sites"] = site_d.value_counts()
    sev = f.groupby(["district_id", "severity"])["site_id"].nunique().unstack(fill_value=0)
    bad = f[f["severity"].isin(["error", "warning"])].groupby("district_id")["site_id"]
    table["compliant"] = table["sites"] - bad.nunique().reindex(table.index, fill_value=0)
    for s in ("error", "warning"):
        col = sev[s] if s in sev else pd.Series(dtype=int)
        table[f"with_{s}s"] = col.reindex(table.index, fill_value=0)
    for rule, n in f.groupby(["district_id", "rule"]).size().unstack(fill_value=0).items():
        table[rule] = n.reindex(table.index, fill_value=0)
    szz = f[f["rule"] == "sanitary_zone"]
    if settlements is not None and len(szz):
        # each settlement counts once per district even when several plants cover it
        pop = dict(
            zip(
                settlements["id"].astype(str),
                pd.to_numeric(settlements["population"], errors="coerce").fillna(0),
                strict=True,
            )
        )
        per = {
            d: int(sum(pop.get(a, 0) for a in {a for t in g["affected"] for a in t}))
            for d, g in szz.groupby("district_id")
        }
        table["population_in_szz"] = (
            pd.Series(per, dtype=float).reindex(table.index).fillna(0).astype(int)
        )
    else:
        table["population_in_szz"] = (
            szz.groupby("district_id")["population"]
            .sum()
            .reindex(table.index, fill_value=0)
            .astype(int)
        )
    table["residential_ha_in_szz"] = (
        szz.groupby("district_id")["hectares"].sum().reindex(table.index, fill_value=0.0)
    )
    if districts is not None and "name" in districts:
        names = dict(zip(districts["id"].astype(str), districts["name"], strict=True))
        table.insert(0, "district", table.index.map(lambda d: names.get(d, d)))
    return table.fillna(0).reset_index()
