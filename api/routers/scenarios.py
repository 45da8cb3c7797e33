"""Scenarios over HTTP: list, create, read, change, delete, evaluate and tile them.

Optimistic concurrency: a scenario's ETag is its version. A PATCH must send ``If-Match`` with
the version it was based on (428 without one); a stale one answers 412 and changes nothing.
The version check runs inside the twin file's write transaction (``twin.scenario.persist``),
so two clients racing with the same ``If-Match`` cannot both win: no update is lost.

Tiles of a scenario (``/scenarios/{id}/tiles/{layer}/{z}/{x}/{y}.mvt``) are keyed by the
scenario's version; with ``?v=<version>`` they are served as immutable.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Annotated, Any

import numpy as np
import pandas as pd
import shapely
import shapely.geometry
from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from layers.vector_tiles import TileSource
from twin.limits import MAX_EDITS
from twin.scenario import (
    Scenario,
    ScenarioConflict,
    delete_scenario,
    edit_from_dict,
    list_scenarios,
    open_scenario,
)
from twin.scenario.edits import check_count
from twin.scenario.engine import baseline_key
from twin.scenario.persist import read_row

from ..deps import get_twin, require_token
from ..errors import BadRequest, NotFound, PreconditionRequired
from ..fastpath import etag_matches, tile_headers, wants_gzip
from ..score_hub import hub_of
from ..urls import note_links, url_for

__all__ = ["router"]

router = APIRouter(tags=["scenarios"])
SCENARIO_LAYERS = ("project_sites", "zones", "sanitary_zones")
_IMMUTABLE = "public, max-age=31536000, immutable"
TwinDep = Annotated[Any, Depends(get_twin)]


class EditIn(BaseModel):
    """One edit's shape: an object with a string ``kind``; its other fields depend on the
    kind and are checked by the domain (``twin.scenario.edit_from_dict``, 422)."""

    model_config = ConfigDict(extra="allow")

    kind: str = Field(description="add_project, move_project, remove_project, rezone, "
                      "set_regulation or set_score_weights")


class ScenarioCreate(BaseModel):
    """A new scenario: its id (used in URLs), a title and its first edits."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored

    id: str = Field(description="1-64 ASCII letters, digits, '_' or '-', starting with a "
                    "letter or digit")
    name: str | None = Field(None, description="one line, at most 200 characters")
    edits: list[EditIn] = Field(default_factory=list,
                                description="edits, e.g. {'kind': 'add_project', ...}; at "
                                f"most {MAX_EDITS} (422 above)")


class ScenarioPatch(BaseModel):
    """A change: a new title, and edits appended to (``append``) or replacing (``edits``)
    the scenario's."""

    model_config = ConfigDict(extra="forbid")  # {"id": ...} cannot rename: say so

    name: str | None = None
    edits: list[EditIn] | None = None
    append: list[EditIn] | None = None


def _etag(version: int) -> str:
    return f'"{int(version)}"'


def _if_match(value: str | None) -> int:
    if not value:
        raise PreconditionRequired(
            "a change needs 'If-Match: \"<version>\"' with the version you read (the ETag of "
            "GET /scenarios/{id}), so that no one else's change is overwritten")
    tag = value.split(",")[0].strip().removeprefix("W/").strip('"')
    try:
        return int(tag)
    except ValueError:
        raise BadRequest(f"If-Match {value!r} is not a scenario version: send the ETag of "
                         "GET /scenarios/{id}, e.g. '\"3\"'") from None


def _edits(items: list[EditIn] | None, before: int = 0) -> list:
    check_count(before + len(items or []))  # 422 before any edit is parsed
    return [edit_from_dict(e.model_dump()) for e in items or []]


def _doc(request: Request, s: Scenario) -> dict:
    base = f"/scenarios/{s.id}"
    return {
        "id": s.id, "name": s.name, "version": s.version,
        "edits": [e.to_dict() for e in s.edits], "description": s.describe(),
        "links": [
            {"href": url_for(request, base), "rel": "self", "type": "application/json"},
            {"href": url_for(request, base + "/evaluation"), "rel": "evaluation",
             "type": "application/json"},
            *[{"href": url_for(request, f"{base}/tiles/{n}") + "/{z}/{x}/{y}.mvt"
               + f"?v={s.version}", "rel": "item", "type": "application/vnd.mapbox-vector-tile",
               "templated": True, "title": f"{n} tiles (version {s.version})"}
              for n in SCENARIO_LAYERS],
        ],
    }


def _json(doc, status: int = 200, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(doc, status_code=status, headers=headers)


def _cache(request: Request) -> dict:
    st = request.app.state
    if not hasattr(st, "scenario_cache"):
        st.scenario_cache = {"lock": threading.Lock(), "scen": OrderedDict(),
                             "tiles": OrderedDict()}
    return st.scenario_cache


def _remember(od: OrderedDict, key, value, keep: int = 16):
    od[key] = value
    od.move_to_end(key)
    while len(od) > keep:
        od.popitem(last=False)
    return value


def _load(request: Request, tw, scenario_id: str) -> Scenario:
    """The stored scenario, replayed once per version and baseline, and then reused.

    A Scenario keeps the baseline it was replayed on and memoises its evaluation, so the
    cache is keyed on the baseline's data versions (``twin.scenario.engine.baseline_key``):
    after an ingest that changes a scored value it is replayed on the new score, and after
    one that changes nothing it is reused.
    """
    row = read_row(tw, scenario_id)  # the stored version: another process may have saved
    with hub_of(request.app).lock:  # an ingest rewrites the score in place
        base = baseline_key(tw)
    c = _cache(request)
    key = (scenario_id, row["version"], base)
    with c["lock"]:
        s = c["scen"].get(key)
    if s is None:
        s = open_scenario(tw, scenario_id, create=False)
        with c["lock"]:
            _remember(c["scen"], (scenario_id, s.version, base), s)
    return s


@router.get("/scenarios", summary="The stored scenarios")
def list_all(request: Request, tw: TwinDep) -> dict:
    t = list_scenarios(tw)
    return {"scenarios": [
        {**{k: (int(v) if isinstance(v, np.integer) else v) for k, v in r.items()},
         "links": [{"href": url_for(request, f"/scenarios/{r['id']}"), "rel": "item",
                    "type": "application/json"}]}
        for r in t.to_dict("records")],
        "links": [{"href": url_for(request, "/scenarios"), "rel": "self",
                   "type": "application/json"}]}


@router.post("/scenarios", summary="Create a scenario", status_code=201,
             dependencies=[Depends(require_token)])
def create(request: Request, body: ScenarioCreate, tw: TwinDep) -> JSONResponse:
    s = Scenario(tw, body.id, _edits(body.edits), name=body.name)
    s.save()
    return _json(_doc(request, s), 201, {"ETag": _etag(s.version),
                                         "Location": url_for(request, f"/scenarios/{s.id}")})


@router.get("/scenarios/{scenario_id}", summary="A scenario: its edits and version (ETag)")
def read(request: Request, scenario_id: str, tw: TwinDep) -> Response:
    s = _load(request, tw, scenario_id)
    headers = {"ETag": _etag(s.version), "Cache-Control": "no-cache"}
    if etag_matches(request.headers.get("if-none-match", ""), headers["ETag"]):
        note_links(request)  # a 304 carries the Vary of the document it stands for
        return Response(status_code=304, headers=headers)
    return _json(_doc(request, s), headers=headers)


@router.patch("/scenarios/{scenario_id}", summary="Change a scenario (If-Match required)",
              dependencies=[Depends(require_token)])
def patch(request: Request, scenario_id: str, body: Annotated[ScenarioPatch, Body()],
          tw: TwinDep, if_match: Annotated[str | None, Header()] = None) -> JSONResponse:
    expected = _if_match(if_match)
    current = _load(request, tw, scenario_id)
    if current.version != expected:
        raise ScenarioConflict(f"scenario {scenario_id!r} is at version {current.version}, "
                               f"not {expected}: GET it again, re-apply your change and send "
                               "the new ETag")
    if body.edits is not None and body.append is not None:
        raise BadRequest("give 'edits' (replace all) or 'append' (add at the end), not both")
    edits = (_edits(body.edits) if body.edits is not None
             else [*current.edits, *_edits(body.append, before=len(current.edits))])
    s = Scenario(tw, scenario_id, edits, name=body.name or current.name, version=expected)
    s.save()  # re-checks the version inside the write transaction: a racing client gets 412
    return _json(_doc(request, s), headers={"ETag": _etag(s.version)})


@router.delete("/scenarios/{scenario_id}", summary="Delete a scenario",
               status_code=204, dependencies=[Depends(require_token)])
def delete(scenario_id: str, tw: TwinDep,
           if_match: Annotated[str | None, Header()] = None) -> Response:
    delete_scenario(tw, scenario_id, _if_match(if_match) if if_match else None)
    return Response(status_code=204)


def _plain(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, tuple):
        return list(v)
    if isinstance(v, shapely.Geometry):  # a finding's site, as GeoJSON
        return shapely.geometry.mapping(v)
    return v


def _records(df: pd.DataFrame | None, index: str | None = None):
    if df is None:
        return None
    d = df.reset_index() if index else df
    return [{k: _plain(v) for k, v in r.items()} for r in d.to_dict("records")]


@router.get("/scenarios/{scenario_id}/evaluation",
            summary="The scenario's consequences, as deltas against the baseline")
def evaluation(request: Request, scenario_id: str, tw: TwinDep) -> Response:
    base = hub_of(request.app).data_version() or ""
    s = _load(request, tw, scenario_id)
    # The deltas depend on the baseline's score too: an ingest must change the ETag.
    tag = f'"{int(s.version)}-{base}"' if base else _etag(s.version)
    if etag_matches(request.headers.get("if-none-match", ""), tag):
        return Response(status_code=304, headers={"ETag": tag})
    ev = s.evaluate()
    doc = {
        "id": s.id, "version": s.version,
        "summary": {k: _plain(v) for k, v in ev.summary().items()},
        "districts": _records(ev.districts, "district_id"),
        "land_take": _records(ev.land_take, "zone_type"),
        "findings_new": _records(ev.findings_new),
        "findings_resolved": _records(ev.findings_resolved),
        "findings_moved": _records(ev.findings_moved),
        "sanitary": _records(ev.sanitary.rename_axis("measure"), "measure"),
        "access": _records(ev.access),
        "population_30km_new_jobs": int(ev.population_30km_new_jobs),
        "score": _records(ev.score, "unit_id"),
        "region_score": _plain(ev.region_score),
        "region_score_base": _plain(ev.region_score_base),
    }
    return _json(doc, headers={"ETag": tag, "Cache-Control": "no-cache"})


@router.get("/scenarios/{scenario_id}/tiles/{layer}/{z}/{x}/{y}.mvt",
            summary="A vector tile of the scenario's own layers", response_class=Response)
async def tile(request: Request, scenario_id: str, layer: str, z: int, x: int, y: int,
               tw: TwinDep,
               v: Annotated[int | None, Query(description="the scenario version; with it "
                                                       "the tile is immutable")] = None
               ) -> Response:
    if layer not in SCENARIO_LAYERS:
        raise NotFound(f"scenario layer {layer!r} does not exist: use one of "
                       f"{', '.join(SCENARIO_LAYERS)}")
    s = await run_in_threadpool(_load, request, tw, scenario_id)
    if v is not None and v != s.version:
        raise NotFound(f"scenario {scenario_id!r} is at version {s.version}, not {v}: take "
                       "the tile URLs from GET /scenarios/{id} again")
    c = _cache(request)
    key = (scenario_id, s.version)
    with c["lock"]:
        src = c["tiles"].get(key)
    if src is None:
        src = TileSource(await run_in_threadpool(s.to_twin), cache_bytes=32 * 2**20)
        with c["lock"]:
            _remember(c["tiles"], key, src, keep=8)
    t = await run_in_threadpool(src.tile, layer, z, x, y)  # TileOutOfRange: 404
    gz = bool(t.data) and wants_gzip(request.headers.get("accept-encoding", ""))
    if gz:
        await run_in_threadpool(lambda: t.gzipped)
    status, headers, body = tile_headers(t, gz, request.app.state.settings.tile_max_age)
    hdrs = {k.decode(): val.decode() for k, val in headers}
    # the tile's ETag names the layer's data, which a version change may leave as it was;
    # the scenario version goes in too, so a client never mixes versions
    hdrs["etag"] = hdrs["etag"][:-1] + f'-v{s.version}"'
    hdrs["cache-control"] = _IMMUTABLE if v is not None else "no-cache"
    if etag_matches(request.headers.get("if-none-match", ""), hdrs["etag"]):
        return Response(status_code=304, headers={k: hdrs[k] for k in
                                                  ("etag", "cache-control", "vary")})
    return Response(body, status_code=status, headers=hdrs)

