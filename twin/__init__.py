"""aqmola-twin: a geospatial digital twin of a region for planners.

>>> import twin
>>> tw = twin.load_default()          # doctest: +SKIP
>>> tw["districts"][["name", "area_km2"]].head()  # doctest: +SKIP
"""

from typing import TYPE_CHECKING

from .errors import (
    AnalysisUnavailable,
    CoordinateRangeError,
    CRSError,
    EmptyGeometry,
    GeometryTypeError,
    InvalidArgument,
    InvalidGeometry,
    LayerNotFound,
    MissingColumn,
    MissingCRS,
    SchemaError,
    TwinError,
    TwinFileError,
)

if TYPE_CHECKING:
    from .crs import STORAGE_CRS
    from .model import Twin, TwinMetadata
    from .schema import CORE_SCHEMAS, LayerSchema

__version__ = "0.1.0"

__all__ = [
    "Twin",
    "TwinMetadata",
    "LayerSchema",
    "CORE_SCHEMAS",
    "STORAGE_CRS",
    "load_default",
    "build_default",
    "default_twin_path",
    "TwinError",
    "LayerNotFound",
    "SchemaError",
    "MissingColumn",
    "CRSError",
    "MissingCRS",
    "CoordinateRangeError",
    "InvalidGeometry",
    "EmptyGeometry",
    "GeometryTypeError",
    "TwinFileError",
    "InvalidArgument",
    "AnalysisUnavailable",
]


#: Where each name is imported from when first asked for: `import twin` stays light, so a
#: command such as `twin serve` imports pandas and geopandas only when it needs them (a
#: server answers /health before, api/boot.py). The default-twin builder also pulls in
#: geodata's build code.
_LAZY = {"Twin": "model", "TwinMetadata": "model", "LayerSchema": "schema",
         "CORE_SCHEMAS": "schema", "STORAGE_CRS": "crs", "load_default": "default",
         "build_default": "default", "default_twin_path": "default"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'twin' has no attribute {name!r}")
