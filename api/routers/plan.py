"""The digital general plan over HTTP: the plan and its regulations, compliance findings,
land balance, versions and the semantic diff between two versions.

The zones themselves are the ``zones`` layer, served like every layer by the features and
tiles routers (``/collections/zones``, ``/tiles/zones/{z}/{x}/{y}.mvt``); this router links
to them. Everything here reads ``tw.plan`` (:class:`twin.plan.Plan`); nothing is computed
in the API.
"""

from __future__ import annotations

import math
import threading
from typing import Annotated, Any

import numpy as np
import orjson
import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from layers.features import feature_collection_bytes
from layers.plan_features import findings_features, sanitary_zone_features
from twin.plan import SEVERITIES

from ..deps import get_twin
from ..errors import BadRequest, NotFound
from ..urls import url_for

__all__ = ["router", "json_answer", "records", "split_list"]

router = APIRouter(tags=["plan"])
GEOJSON = "application/geo+json"

# A Plan fills its caches (materialised versions, compliance indexes) on demand and is not
# safe to fill from two threads at once; plan reads are short, so they take turns.
_lock = threading.Lock()

TwinDep = Annotated[Any, Depends(get_twin)]
VersionQuery = Annotated[int | None, Query(
    ge=1, description="A plan version (see /plan/versions); default: the latest")]


# -- shaping answers (shared with the score router) ----------------------------------------

def _plain(v):
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, (tuple, list, np.ndarray)):
        return [_plain(x) for x in v]
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    return v


def records(df: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts: NaN becomes null (JSON has no NaN), numpy becomes Python."""
    cols = list(df.columns)
    return [{c: _plain(v) for c, v in zip(cols, row, strict=True)}
            for row in df.itertuples(index=False, name=None)]


def json_answer(body, status: int = 200, headers: dict | None = None) -> Response:
    # orjson, because the stdlib encoder would write NaN (invalid JSON) or fail on numpy.
    return Response(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type="application/json", headers=headers)


def split_list(value: str | None, name: str, allowed, *, show: int = 25) -> list[str] | None:
    """A comma-separated filter checked against the allowed values (400 naming them)."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if not items:
        raise BadRequest(f"{name}={value!r} is empty: give one or more values, "
                         "comma-separated, or leave it out")
    allowed = list(allowed)
    known = set(allowed)
    bad = [v for v in items if v not in known]
    if bad:
        listed = ", ".join(allowed[:show]) + (f", ... ({len(allowed)} in all)"
                                              if len(allowed) > show else "")
        raise BadRequest(f"unknown {name} {', '.join(map(repr, bad))}: use one of {listed}")
    return items


# -- the plan --------------------------------------------------------------------------------

def _plan(tw):
    return tw.plan


def _version(plan, version: int | None) -> int:
    if version is None:
        return plan.version
    if not 1 <= version <= plan.version:
        raise NotFound(f"plan {plan.id!r} has no version {version}: its versions run from 1 "
                       f"to {plan.version} (see /plan/versions)")
    return version


def _links(request: Request) -> list[dict]:
    def link(path, rel, type_, title, **kw):
        return {"href": url_for(request, path), "rel": rel, "type": type_, "title": title,
                **kw}

    js = "application/json"
    return [
        link("/plan", "self", js, "This document"),
        link("/plan/compliance", "related", js, "Compliance findings of the project sites"),
        link("/plan/findings", "data", GEOJSON, "The findings as points at their sites"),
        link("/plan/sanitary-zones", "data", GEOJSON,
             "Sanitary protection zones around the project sites"),
        link("/plan/land-balance", "related", js, "Land balance per district and zone type"),
        link("/plan/versions", "version-history", js, "The plan's versions"),
        link("/plan/diff?from=1&to=2", "related", js, "What changed between two versions"),
        link("/collections/zones", "data", js, "The functional zones (OGC API Features)"),
        link("/tiles/zones.json", "describedby", js, "The zones as vector tiles (TileJSON)"),
    ]


@router.get("/plan", summary="The digital general plan: id, version and regulations")
def plan_doc(request: Request, tw: TwinDep, version: VersionQuery = None) -> Response:
    with _lock:
        p = _plan(tw)
        v = _version(p, version)
        regs = p.regulations(v).to_dict()
        body = {"id": p.id, "twin": tw.name, "version": v, "latest_version": p.version,
                "zone_types": list(regs["zones"]), "regulations": regs,
                "unavailable": p.unavailable, "links": _links(request)}
    return json_answer(body)


@router.get("/plan/compliance",
            summary="Compliance findings of the project sites against a plan version")
def plan_compliance(
    tw: TwinDep,
    version: VersionQuery = None,
    district: Annotated[str | None, Query(
        description="District or city id(s), comma-separated")] = None,
    severity: Annotated[str | None, Query(
        description=f"Severity(ies), comma-separated: {', '.join(SEVERITIES)}")] = None,
    project: Annotated[str | None, Query(
        description="Project site id(s), comma-separated")] = None,
) -> Response:
    sev = split_list(severity, "severity", SEVERITIES)
    dist = split_list(district, "district", tw["districts"]["id"].astype(str))
    sites = tw["project_sites"]["id"].astype(str) if "project_sites" in tw else []
    proj = split_list(project, "project", sites)
    with _lock:
        p = _plan(tw)
        v = _version(p, version)
        f = p.compliance(v)
    if dist is not None:
        f = f[f["district_id"].astype(str).isin(dist)]
    if sev is not None:
        f = f[f["severity"].isin(sev)]
    if proj is not None:
        f = f[f["site_id"].astype(str).isin(proj)]
    counts = {s: int((f["severity"] == s).sum()) for s in SEVERITIES}
    body = {"plan": p.id, "version": v,
            "filters": {"district": dist, "severity": sev, "project": proj},
            "numberMatched": int(len(f)), "sites": int(f["site_id"].nunique()),
            "counts": counts, "findings": records(f)}
    if "project_sites" in p.unavailable:  # no sites: say so, not just "no findings"
        body["unavailable"] = p.unavailable["project_sites"]
    return json_answer(body)


@router.get("/plan/land-balance",
            summary="Hectares and share of each zone type per district")
def plan_land_balance(
    tw: TwinDep,
    version: VersionQuery = None,
    district: Annotated[str | None, Query(
        description="District or city id(s), comma-separated")] = None,
) -> Response:
    dist = split_list(district, "district", tw["districts"]["id"].astype(str))
    with _lock:
        p = _plan(tw)
        v = _version(p, version)
        lb = p.land_balance(v)
    if dist is not None:
        lb = lb[lb["district_id"].astype(str).isin(dist)]
    totals = lb.groupby("zone_type", sort=False)["area_ha"].sum()
    body = {"plan": p.id, "version": v, "filters": {"district": dist},
            "total_ha": float(lb["area_ha"].sum()),
            "by_zone_type_ha": {k: float(x) for k, x in totals.items()},
            "rows": records(lb)}
    return json_answer(body)


@router.get("/plan/versions", summary="The plan's versions, oldest first")
def plan_versions(tw: TwinDep) -> Response:
    with _lock:
        p = _plan(tw)
        rows = records(p.versions())
    return json_answer({"plan": p.id, "latest_version": p.version, "versions": rows})


@router.get("/plan/diff", summary="What changed between two plan versions, in planning terms")
def plan_diff(
    tw: TwinDep,
    from_: Annotated[int, Query(alias="from", ge=1, description="The earlier version")],
    to: Annotated[int, Query(ge=1, description="The later version")],
) -> Response:
    with _lock:
        p = _plan(tw)
        v1, v2 = _version(p, from_), _version(p, to)
        d = p.diff(v1, v2)
    body = {"plan": p.id, "from": v1, "to": v2, "empty": bool(d.empty),
            "summary": str(d), "changes": d.lines(),
            "zones": records(d.zones), "regulations": records(d.regulations)}
    return json_answer(body)


# -- the plan's outputs as map features ------------------------------------------------------

def _geojson(request: Request, gdf, path: str, version: int) -> Response:
    self_link = {"href": url_for(request, path, version=version), "rel": "self",
                 "type": GEOJSON, "title": "This document"}
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")
    body = feature_collection_bytes(gdf, "id", matched=len(gdf), links=[self_link],
                                    timestamp=stamp)
    return Response(body, media_type=GEOJSON, headers={"Cache-Control": "no-cache"})


@router.get("/plan/findings", summary="Compliance findings as GeoJSON points at their sites",
            responses={200: {"content": {GEOJSON: {}},
                             "description": "A GeoJSON FeatureCollection"}})
def plan_findings(
    request: Request,
    tw: TwinDep,
    version: VersionQuery = None,
    severity: Annotated[str | None, Query(
        description=f"Severity(ies), comma-separated: {', '.join(SEVERITIES)}")] = None,
) -> Response:
    sev = split_list(severity, "severity", SEVERITIES)
    with _lock:
        p = _plan(tw)
        v = _version(p, version)
        f = findings_features(tw, v)
    if sev is not None:
        f = f[f["severity"].isin(sev)]
    return _geojson(request, f, "/plan/findings", v)


@router.get("/plan/sanitary-zones",
            summary="Sanitary protection zones of the project sites, as GeoJSON polygons",
            responses={200: {"content": {GEOJSON: {}},
                             "description": "A GeoJSON FeatureCollection"}})
def plan_sanitary_zones(request: Request, tw: TwinDep, version: VersionQuery = None
                        ) -> Response:
    with _lock:
        p = _plan(tw)
        v = _version(p, version)
        z = sanitary_zone_features(tw, v)
    return _geojson(request, z, "/plan/sanitary-zones", v)
