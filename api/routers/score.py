"""The region score over HTTP: the ranking with rank intervals, a unit's history,
forecasts, new observations (Bearer-authenticated) and a live stream of the ranking.

The score is ``tw.score`` (:class:`twin.score.Score`), shared through
:class:`api.score_hub.ScoreHub`, which also caches the Monte Carlo rank intervals per data
version and pushes each new ranking to ``GET /score/stream`` clients.
"""

from __future__ import annotations

import time
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError

from twin.score.forecast import MIN_HISTORY, forecast_score
from twin.score.forecast import backtest as run_backtest

from ..deps import require_token
from ..errors import BadRequest, NotFound
from ..fastpath import etag_matches
from ..models_score import MAX_BATCH, ObservationBatch, inline_schema
from ..score_hub import ScoreHub, hub_of
from ..urls import note_links, url_for
from .plan import _plain, json_answer, records, split_list

__all__ = ["router", "MAX_FORECAST_SERIES", "MAX_BACKTEST_SERIES"]

router = APIRouter(tags=["score"])

#: Series one forecast request may fit (each is a maximum-likelihood ETS fit, ~0.1-0.3 s).
MAX_FORECAST_SERIES = 40
#: Series one backtest request may evaluate (each is refitted at 4 origins).
MAX_BACKTEST_SERIES = 10

EVENT_STREAM = "text/event-stream"


def get_hub(request: Request) -> ScoreHub:
    return hub_of(request.app)


HubDep = Annotated[ScoreHub, Depends(get_hub)]


def _links(request: Request) -> list[dict]:
    def link(path, rel, type_, title, **kw):
        return {"href": url_for(request, path), "rel": rel, "type": type_, "title": title,
                **kw}

    js = "application/json"
    return [
        link("/score", "self", js, "This document"),
        link("/score/stream", "alternate", EVENT_STREAM,
             "The ranking as server-sent events, pushed after each ingest"),
        link("/score/units/{unit_id}/history", "related", js,
             "A unit's observations over time", templated=True),
        link("/score/forecast", "related", js,
             "The region's forecasts with prediction intervals and early warnings"),
        link("/score/audit", "related", js,
             "The statistical audit: correlations, alpha, outliers, Sobol indices"),
        link("/dashboard", "related", "text/html", "The situation centre (HTML)"),
        link("/score/observations", "create-form", js,
             "POST new observations (Bearer token)"),
    ]


@router.get("/score", summary="The current ranking, with sub-scores and rank intervals",
            description="Units best first: composite score (0-100), one sub-score per "
            "dimension, and the 5-95 % Monte Carlo interval of the rank and the score "
            "(weights ±50 %, normalisation and aggregation varied; a fixed seed). "
            "`data_version` changes when a scored value does. The same document is pushed "
            "as server-sent events at /score/stream after each ingest.")
def score(request: Request, hub: HubDep) -> Response:
    body = hub.ranking()
    # The ranking changes only with its data version: dashboards polling with
    # If-None-Match get a 304 until then.
    headers = {"ETag": f'"{body["data_version"]}"', "Cache-Control": "no-cache"}
    if etag_matches(request.headers.get("if-none-match", ""), headers["ETag"]):
        note_links(request)  # a 304 carries the Vary of the document it stands for
        return Response(status_code=304, headers=headers)
    body["links"] = _links(request)
    return json_answer(body, headers=headers)


@router.get("/score/units/{unit_id}/history",
            summary="A unit's observations over time, per indicator, with provenance")
def unit_history(
    hub: HubDep,
    unit_id: Annotated[str, Path(description="District or city id, as in GET /score")],
    indicator: Annotated[str | None, Query(
        description="Indicator id(s), comma-separated; default: all")] = None,
) -> Response:
    with hub.lock:
        s = hub.score
        if unit_id not in s.units:
            raise NotFound(f"no unit {unit_id!r}: the units are {', '.join(s.units)}")
        reg = s.registry
        wanted = split_list(indicator, "indicator", reg.ids) or list(reg.ids)
        obs = s.observations
        mine = obs[obs["unit_id"] == unit_id].copy()
        name = s.names[s.units.index(unit_id)]
        scored: dict[str, dict | None] | None = None
        if s.as_of is not None:
            panel = s.panel
            # An indicator left out of the composite has no scored value: the panel's
            # filled-in number is not data.
            scored = {iid: None if iid in panel.left_out else
                      {"value": _plain(panel.raw.loc[unit_id, iid]),
                       "target": _plain(panel.targets.loc[unit_id, iid]),
                       "imputed": str(panel.imputed.loc[unit_id, iid]),
                       "reference_month": panel.reference_month[iid]}
                      for iid in wanted}
        current = None
        try:
            rk = s.ranking()
            current = {"rank": int(rk.loc[unit_id, "rank"]),
                       "score": float(rk.loc[unit_id, "score"])}
        except LookupError:
            pass
    mine = mine.sort_values(["indicator", "month"], kind="stable")
    by = {k: g for k, g in mine.groupby("indicator", sort=False)}
    out = []
    for iid in wanted:
        ind = reg[iid]
        g = by.get(iid)
        rows = records(g[["month", "value", "source", "synthetic"]]) if g is not None else []
        out.append({"id": iid, "name": ind.name, "dimension": ind.dimension,
                    "unit": ind.unit, "kind": ind.kind, "direction": ind.direction,
                    "target": ind.target_text(),
                    # the value scored now; "imputed" names how it was filled ("" = observed)
                    "scored": scored[iid] if scored else None,
                    "observations": rows})
    return json_answer({"unit_id": unit_id, "name": name, "current": current,
                        "indicators": out})


_EARLY = ["unit_id", "indicator", "at", "kpi", "target", "p_miss"]


def _forecast_doc(res, units, inds, left_out) -> dict:
    return {
        "horizon": res.horizon, "level": res.level, "seed": res.seed,
        "units": units, "indicators": [i for i in inds if i not in left_out],
        # indicators without any observation: nothing to forecast
        "left_out": [i for i in inds if i in left_out],
        "series": records(res.table), "kpi": records(res.kpi),
        "early_warning": records(res.early_warning[_EARLY]),
    }


def _set_head(fs, current: str, refitting: bool) -> dict:
    return {"data_version": fs.data_version, "current_data_version": current,
            # series not forecast yet: their history is shorter than a forecast needs
            "too_short": len(fs.too_short), "min_history": MIN_HISTORY,
            "complete": fs.data_version == current, "refitting": refitting,
            "fitted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(fs.finished_at)),
            "refitted": len(fs.refitted), "reused": fs.reused,
            "fit_seconds": round(fs.seconds, 3)}


@router.get("/score/forecast",
            summary="The region's forecasts with prediction intervals and early warnings, "
            "or one series' detail and backtest",
            description="Without `unit` and `indicator`: every unit and indicator, from the "
            "set the server keeps per data version of the observations (fitted once, and "
            "refitted in the background only for the series an ingest changes). "
            "`data_version` names the observations that set was fitted on, "
            "`current_data_version` those held now; `complete` is false while a refit "
            "runs. With `unit`/`indicator`: those series only (at most "
            f"{MAX_FORECAST_SERIES} when `horizon` or `level` differ from the kept set's "
            "6 and 0.9, which are then fitted per request), and with `backtest=true` a "
            f"rolling-origin backtest against seasonal-naive (at most {MAX_BACKTEST_SERIES} "
            "series).")
def forecast(
    hub: HubDep,
    unit: Annotated[str | None, Query(description="Unit id(s), comma-separated")] = None,
    indicator: Annotated[str | None, Query(
        description="Indicator id(s), comma-separated")] = None,
    horizon: Annotated[int, Query(ge=1, le=12, description="Months ahead, 1-12")] = 6,
    level: Annotated[float, Query(gt=0, lt=1, description="Interval coverage")] = 0.9,
    backtest: Annotated[bool, Query(
        description="Add a rolling-origin backtest of the selected series")] = False,
) -> Response:
    s = hub.score
    s.require_observations()  # 404, naming the fix, for a twin with nothing to forecast
    units = split_list(unit, "unit", s.units)
    inds = split_list(indicator, "indicator", s.registry.ids)
    kept = s.forecasts
    if (horizon, level) == (kept.horizon, kept.level) and not backtest:
        fs, current, refitting = hub.region_forecast()
        head = orjson.dumps(_set_head(fs, current, refitting))
        if units is None and inds is None:
            body = hub.region_body(fs, lambda f: _forecast_doc(
                f.result, list(s.units), list(s.registry.ids), f.left_out))
            return Response(head[:-1] + b"," + body[1:], media_type="application/json",
                            headers={"Cache-Control": "no-cache"})
        units, inds = units or list(s.units), inds or list(s.registry.ids)
        doc = _forecast_doc(fs.select(units, inds), units, inds, fs.left_out)
        return json_answer({**orjson.loads(head), **doc})
    units, inds = units or list(s.units), inds or list(s.registry.ids)
    n = len(units) * len(inds)
    cap = MAX_BACKTEST_SERIES if backtest else MAX_FORECAST_SERIES
    if n > cap:
        raise BadRequest(
            f"this asks for {len(units)} unit(s) x {len(inds)} indicator(s) = {n} series"
            + (" with a backtest" if backtest else f" at horizon {horizon} and level {level}")
            + f"; one request fits at most {cap}: narrow it with ?unit= and/or ?indicator= "
            "(comma-separated)"
            + ("" if backtest else f", or ask for horizon {kept.horizon} and level "
               f"{kept.level}, which the server keeps for the whole region"))
    key = (tuple(units), tuple(inds), horizon, round(level, 6), backtest)

    def compute(snap):
        res = forecast_score(snap, horizon=horizon, level=level, units=units,
                             indicators=inds)
        doc = _forecast_doc(res, units, inds, snap.left_out)
        if backtest:
            bt = run_backtest(snap, horizon=horizon, units=units, indicators=inds)
            doc["backtest"] = {"horizon": bt.horizon, "origins": list(bt.origins),
                               "summary": records(bt.summary.reset_index())}
        return doc

    version, doc = hub.forecast(key, compute)
    return json_answer({"data_version": version, **doc})


@router.get("/score/audit",
            summary="The JRC/OECD statistical audit: correlations, Cronbach's alpha, "
            "outlier treatment, Sobol sensitivity, strengths and weaknesses",
            description="After the Handbook and COINr: the indicators' correlation matrix "
            "(direction-aligned) with flags for collinear pairs (r >= 0.9) and negative "
            "pairs within a dimension (r <= -0.4); Cronbach's alpha per dimension; what "
            "COINr's Treat would do to each indicator (winsorise while |skew| >= 2 and "
            "kurtosis >= 3.5, up to 5 points, else log), applied only with `treat=true`; "
            "first- and total-order Sobol indices (SALib, Saltelli sampling) of the mean "
            "rank shift on each weight, the normalisation and the aggregation, with "
            "bootstrap confidence intervals; and per unit the indicators where it ranks "
            "best and worst. Cached per data version.")
def audit(
    hub: HubDep,
    treat: Annotated[bool, Query(
        description="Compute the audit on outlier-treated values (off by default, as in "
        "the score)")] = False,
) -> Response:
    version, a = hub.audit(treat)
    m = a.correlations
    return json_answer({
        "data_version": version, "treated": a.treated, "params": a.params,
        "correlations": {"indicators": list(m.columns),
                         "matrix": [[_plain(v) for v in row] for row in m.to_numpy()]},
        "flags": records(a.flags),
        "alpha": records(a.alpha.reset_index()),
        "treatment": records(a.treatment.reset_index()),
        "rank_change_if_treated": {str(k): int(v)
                                   for k, v in a.rank_change_if_treated.items()},
        "sensitivity": records(a.sensitivity.reset_index()),
        "strengths": records(a.strengths),
    }, headers={"ETag": f'"{version}-{int(treat)}"', "Cache-Control": "no-cache"})


_BATCH_SCHEMA = inline_schema(ObservationBatch)


def _shape_errors(e: ValidationError) -> str:
    parts = []
    for err in e.errors()[:10]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    more = f" (and {e.error_count() - 10} more)" if e.error_count() > 10 else ""
    return ("the body is not a valid observation batch: " + "; ".join(parts) + more
            + ': send {"observations": [{"unit_id", "indicator", "month": "YYYY-MM", '
            '"value", "unit"}, ...], "upsert": false} (see /openapi.json)')


@router.post(
    "/score/observations", summary="Ingest observations (Bearer token); live-updates the score",
    description="All or nothing: the batch is validated, committed to the twin file in one "
    "transaction, then the score is recomputed and the new ranking pushed to "
    "/score/stream. An observation already stored for the same unit, indicator and month "
    "answers 409 unless `upsert` is true, which replaces it. At most "
    f"{MAX_BATCH} observations per request.",
    dependencies=[Depends(require_token)],
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": _BATCH_SCHEMA}}}},
    responses={401: {"description": "No or a wrong Bearer token"},
               403: {"description": "Writes are off: no tokens configured"},
               409: {"description": "Already stored, and upsert is false"},
               422: {"description": "An observation the score cannot take"}},
)
async def post_observations(request: Request, hub: HubDep) -> Response:
    # The body is parsed here, after the token check, so that an unauthenticated client
    # learns nothing from validation messages.
    raw = await request.body()
    try:
        batch = ObservationBatch.model_validate_json(raw)
    except ValidationError as e:
        raise BadRequest(_shape_errors(e)) from None
    recs = [o.record() for o in batch.observations]
    report, ranking = await run_in_threadpool(hub.ingest, recs, batch.upsert)
    woken = hub.publish(ranking) if ranking is not None else 0
    return json_answer({
        "added": report.added, "replaced": report.replaced,
        "indicators": list(report.indicators), "persisted": report.persisted,
        "data_version": ranking["data_version"] if ranking else None,
        "streams_notified": woken,
        "links": [{"href": url_for(request, "/score"), "rel": "related",
                   "type": "application/json", "title": "The new ranking"}],
    })


# Not in the OpenAPI document: it never ends, so a client generated from the schema (or
# a fuzzer) that reads whole bodies would wait forever. /score links to it.
@router.get("/score/stream", include_in_schema=False)
async def stream(request: Request, hub: HubDep) -> StreamingResponse:
    async def current() -> bytes | None:
        try:
            return hub.event(await run_in_threadpool(hub.ranking))
        except LookupError:  # no observations yet: the first ingest brings the first event
            return None

    # Errors belong before the 200: building the score now turns a twin without districts
    # into a 404 instead of a broken stream.
    await run_in_threadpool(lambda: hub.score)
    return StreamingResponse(
        hub.stream(current), media_type=EVENT_STREAM,
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
