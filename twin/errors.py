"""One error hierarchy for the whole toolkit.

Every error descends from :class:`TwinError`, and each leaf also subclasses the matching
built-in, so callers can catch either. Messages name the layer, the feature and the fix.
``api/errors.py`` maps these classes to HTTP statuses in one table.
"""

from __future__ import annotations

__all__ = [
    "TwinError",
    "LayerNotFound",
    "SchemaError",
    "MissingColumn",
    "CRSError",
    "MissingCRS",
    "CoordinateRangeError",
    "GeometryError",
    "InvalidGeometry",
    "EmptyGeometry",
    "GeometryTypeError",
    "TwinFileError",
    "StoreUnavailable",
    "StoreBusy",
    "ImportFormatError",
    "InvalidArgument",
    "TileOutOfRange",
    "SetAsideWarning",
    "AnalysisUnavailable",
]


class TwinError(Exception):
    """Root of every error the toolkit raises on purpose."""


class LayerNotFound(TwinError, KeyError):
    """A layer name that the twin does not hold."""

    def __str__(self) -> str:  # KeyError would wrap the message in quotes
        return str(self.args[0]) if self.args else "layer not found"


class SchemaError(TwinError, ValueError):
    """A layer's table does not match its declared schema."""


class MissingColumn(SchemaError):
    """A required column is absent."""


class CRSError(TwinError, ValueError):
    """A coordinate reference system problem."""


class MissingCRS(CRSError):
    """A layer arrived without a CRS, so its coordinates cannot be placed."""


class CoordinateRangeError(CRSError):
    """Coordinates fall outside lon/lat ranges: usually lat and lon are swapped."""


class GeometryError(TwinError, ValueError):
    """A geometry that cannot be used as it is."""


class InvalidGeometry(GeometryError):
    """A geometry that is not OGC-valid (self-intersection, bad ring, ...)."""


class EmptyGeometry(GeometryError):
    """A row whose geometry is empty or missing."""


class GeometryTypeError(GeometryError, TypeError):
    """A geometry of a type the layer does not accept."""


class TwinFileError(TwinError, OSError):
    """A twin file that cannot be read or written."""


class StoreUnavailable(TwinError, ConnectionError):
    """The twin's database cannot be reached right now (restarting, down, out of
    connections): nothing was written, and the same request may succeed shortly.
    ``retry_after`` is the seconds a client should wait before trying again."""

    retry_after = 5


class StoreBusy(TwinError, ConnectionError):
    """Concurrent writers kept colliding (serialization failures or deadlocks) after the
    store retried the transaction: nothing was written; repeat the request shortly."""

    retry_after = 1


class ImportFormatError(TwinError, ValueError):
    """A user file in a format the importer does not read."""


class InvalidArgument(TwinError, ValueError):
    """An argument outside what a function accepts (a count, a range, a choice); the
    message names the accepted values."""


class TileOutOfRange(TwinError, ValueError):
    """A tile outside WebMercatorQuad, or outside the zooms a layer is tiled at."""


class SetAsideWarning(UserWarning):
    """Stored rows that cannot be read (an old bug, a hand edit) were set aside: the twin
    opens without them, and the file keeps them until they are fixed. The message names the
    table, the rows and the fix."""


class AnalysisUnavailable(TwinError, LookupError):
    """An analysis that needs a layer the twin does not have. The message says what cannot
    be computed without it and how to add it, e.g. "no parcels: capacity by parcel is not
    available"."""
