"""The landing page, conformance declaration and health check."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..deps import TwinDep
from ..errors import NotReady
from ..urls import url_for

__all__ = ["router", "CONFORMANCE"]

router = APIRouter(tags=["service"])

_OGC = "http://www.opengis.net/spec"
CONFORMANCE = [
    f"{_OGC}/ogcapi-common-1/1.0/conf/core",
    f"{_OGC}/ogcapi-common-2/1.0/conf/collections",
    f"{_OGC}/ogcapi-features-1/1.0/conf/core",
    f"{_OGC}/ogcapi-features-1/1.0/conf/geojson",
    f"{_OGC}/ogcapi-features-1/1.0/conf/oas30",
    # Part 2: crs, bbox-crs and Content-Crs.
    f"{_OGC}/ogcapi-features-2/1.0/conf/crs",
    # Part 3: queryables, ?name=value, and CQL2 filters on items.
    f"{_OGC}/ogcapi-features-3/1.0/conf/queryables",
    f"{_OGC}/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    f"{_OGC}/ogcapi-features-3/1.0/conf/filter",
    f"{_OGC}/ogcapi-features-3/1.0/conf/features-filter",
    f"{_OGC}/cql2/1.0/conf/cql2-text",
    f"{_OGC}/cql2/1.0/conf/cql2-json",
    f"{_OGC}/cql2/1.0/conf/basic-cql2",
    f"{_OGC}/cql2/1.0/conf/advanced-comparison-operators",
    f"{_OGC}/cql2/1.0/conf/case-insensitive-comparison",
    f"{_OGC}/cql2/1.0/conf/basic-spatial-functions",
    f"{_OGC}/cql2/1.0/conf/basic-spatial-functions-plus",
    f"{_OGC}/cql2/1.0/conf/spatial-functions",
    f"{_OGC}/cql2/1.0/conf/property-property",
    # sortby and /sortables, as OGC API Records defines them.
    f"{_OGC}/ogcapi-records-1/1.0/conf/sorting",
    f"{_OGC}/ogcapi-tiles-1/1.0/conf/core",
    f"{_OGC}/ogcapi-tiles-1/1.0/conf/tileset",
    f"{_OGC}/ogcapi-tiles-1/1.0/conf/tilesets-list",
    f"{_OGC}/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    f"{_OGC}/ogcapi-tiles-1/1.0/conf/mvt",
]


@router.get("/", summary="Landing page with links to the API's resources")
def landing(request: Request, tw: TwinDep) -> dict:
    def link(path, rel, type_, title):
        return {"href": url_for(request, path), "rel": rel, "type": type_, "title": title}

    return {
        "title": tw.title,
        "description": (f"OGC API Features and Tiles for the layers of the digital twin "
                        f"{tw.title!r} (twin {tw.name!r}, data version {tw.version})."),
        "links": [
            link("/", "self", "application/json", "This document"),
            link("/openapi.json", "service-desc",
                 "application/vnd.oai.openapi+json;version=3.0", "The API definition"),
            link("/docs", "service-doc", "text/html", "The API documentation"),
            link("/conformance", "conformance", "application/json", "Conformance classes"),
            link("/collections", "data", "application/json", "The twin's layers"),
            link("/health", "status", "application/json", "Liveness check"),
            link("/ready", "status", "application/json", "Readiness check"),
        ],
    }


@router.get("/conformance", summary="The conformance classes this API implements")
def conformance() -> dict:
    return {"conformsTo": CONFORMANCE}


@router.get("/health", summary="Liveness: the server answers (layers load when first needed)")
def health(tw: TwinDep) -> dict:
    return {"status": "ok", "twin": tw.name, "version": tw.version,
            "layers": len(tw.layer_names)}


@router.get("/ready", summary="Readiness: the warm-up TWIN_WARM asks for is done (503 before)")
def ready(request: Request) -> dict:
    warmup = request.app.state.warmup
    if not warmup.done.is_set():
        raise NotReady(f"warming up ({', '.join(warmup.steps) or 'nothing'}): "
                       f"{warmup.progress}; ask again shortly")
    if warmup.error is not None:
        raise NotReady(f"the warm-up failed: {warmup.error}; the server still answers, "
                       "but the first requests pay for what the warm-up should have done")
    return {"status": "ready", "warmed": list(warmup.steps), "seconds": warmup.seconds}
