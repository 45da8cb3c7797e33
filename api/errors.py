"""Every exception-to-HTTP mapping in one table, answered as application/problem+json.

``ERROR_STATUS`` maps the toolkit's own errors (``twin.errors``) and the API's HTTP errors
to statuses; :func:`install` registers the handlers. Nothing else in ``api/`` decides a
status for an exception. A 5xx is always a bug (but /ready's 503 while the server warms
up, which tells a load balancer to wait): the catch-all handler still answers
problem+json, naming the request so that the bug can be found in the log.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from twin import errors as te
from twin import query as tq
from twin import raster as tr
from twin import scenario as ts
from twin.score import errors as se

__all__ = ["ApiError", "BadRequest", "NotFound", "Unauthorized", "Forbidden",
           "PayloadTooLarge", "PreconditionRequired", "ServiceUnavailable", "NotReady",
           "ERROR_STATUS", "problem", "install",
           "PROBLEM_JSON"]

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("api")


class ApiError(Exception):
    """An HTTP-level error raised by the API itself; the message is the problem's detail."""


class BadRequest(ApiError):
    """A query parameter or path segment that cannot be used as given."""


class NotFound(ApiError):
    """A resource (collection, feature, tile matrix set, tile) that does not exist."""


class Unauthorized(ApiError):
    """A write without a valid Bearer token."""


class Forbidden(ApiError):
    """A write on a server that has no tokens configured: writes are off."""


class PayloadTooLarge(ApiError):
    """A request body over the configured limit."""


class PreconditionRequired(ApiError):
    """A change sent without ``If-Match``: it could overwrite someone else's change."""


class ServiceUnavailable(ApiError):
    """Something the server needs is not installed (an operator's problem, not the
    client's)."""


class NotReady(ApiError):
    """The warm-up the server was told to do (TWIN_WARM) has not finished yet."""


#: The one table. Subclasses come before their bases: the first match wins.
ERROR_STATUS: dict[type[Exception], int] = {
    BadRequest: 400,
    NotFound: 404,
    Unauthorized: 401,
    Forbidden: 403,
    PayloadTooLarge: 413,
    PreconditionRequired: 428,
    ServiceUnavailable: 503,
    NotReady: 503,
    ts.ScenarioConflict: 412,  # a stale If-Match / version: nothing was written
    ts.ScenarioNotFound: 404,
    ts.UnreadableScenario: 409,  # a stored row set aside on read: delete or fix it
    ts.InvalidEdit: 422,  # outside the region, unknown sector, negative investment...
    tq.QueryError: 400,  # a CQL2 filter or sortby that names its problem
    te.LayerNotFound: 404,
    te.TileOutOfRange: 404,  # outside WebMercatorQuad or the layer's zooms
    te.AnalysisUnavailable: 404,  # an analysis of a layer the twin does not have
    te.ImportFormatError: 415,
    te.MissingColumn: 422,
    te.SchemaError: 422,
    te.CoordinateRangeError: 422,
    te.MissingCRS: 422,
    te.CRSError: 422,
    te.GeometryError: 422,
    tr.RasterNotFound: 404,
    tr.OutsideRaster: 404,  # a tile or point outside a raster's bounds
    tr.InvalidPoint: 400,
    tr.RasterFormatError: 415,
    tr.RasterTooLarge: 413,
    se.DuplicateObservation: 409,  # already stored and no upsert asked
    se.ObservationError: 422,
    se.NoObservations: 404,  # nothing to score yet
    se.ForecastUnavailable: 503,  # statsmodels missing: an install problem
    se.AuditUnavailable: 503,  # SALib or scipy missing: an install problem
    te.StoreUnavailable: 503,  # the database is down or restarting: retry (Retry-After)
    te.StoreBusy: 503,  # concurrent writers kept colliding: nothing written, retry
    te.TwinFileError: 503,  # the served file is unreadable: an operator's problem
    te.TwinError: 400,
}

_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
           409: "Conflict",
           405: "Method not allowed", 406: "Not acceptable",
           412: "Precondition failed", 428: "Precondition required", 413: "Payload too large",
           415: "Unsupported media type", 422: "Unprocessable content",
           500: "Internal server error", 503: "Service unavailable"}


def status_for(exc: BaseException) -> int:
    for cls in type(exc).__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]
    return 500


def problem(status: int, detail: str, *, headers: dict | None = None,
            title: str | None = None) -> Response:
    """An RFC 9457 problem response."""
    body = {"type": "about:blank", "title": title or _TITLES.get(status, "Error"),
            "status": status, "detail": detail}
    return Response(orjson.dumps(body), status_code=status, media_type=PROBLEM_JSON,
                    headers=headers)


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "path", "body"))
        where = e.get("loc", ("",))[0]
        parts.append(f"{where} parameter {loc!r}: {e.get('msg', 'invalid')}"
                     f" (got {e.get('input')!r})")
    return "; ".join(parts) + ": fix the value and retry (see /openapi.json)"


def install(app: FastAPI) -> None:
    """Register the problem+json handlers on ``app``."""

    async def on_known(request: Request, exc: Exception) -> Response:
        status = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        retry = getattr(exc, "retry_after", None)  # a passing outage: say when to retry
        if retry is not None:
            headers = {**(headers or {}), "Retry-After": str(int(retry))}
        return problem(status, str(exc), headers=headers)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return problem(400, _validation_detail(exc))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = (f"no resource at {request.url.path!r}: start from / for the links")
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path!r}"
        return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))

    async def on_bug(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, f"an internal error on {request.method} {request.url.path}; "
                       "this is a bug: please report it with the request")

    for cls in ERROR_STATUS:
        app.add_exception_handler(cls, on_known)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_bug)
