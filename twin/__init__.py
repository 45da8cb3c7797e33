"""aqmola-twin: a geospatial digital twin of a region for planners.

>>> import twin
>>> tw = twin.load_default()          # doctest: +SKIP
>>> tw["districts"][["name", "area_km2"]].head()  # doctest: +SKIP
"""

from .crs import STORAGE_CRS
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


def __getattr__(name: str):
    # The default-twin builder pulls in geodata's build code; load it only when asked.
    if name in ("load_default", "build_default", "default_twin_path"):
        from . import default

        return getattr(default, name)
    raise AttributeError(f"module 'twin' has no attribute {name!r}")
