"""Errors of filters and sort orders: each names the part of the query and the fix.

All are :class:`~twin.errors.TwinError` and :class:`ValueError`; the API answers them 400.
"""

from __future__ import annotations

from ..errors import TwinError

__all__ = ["QueryError", "FilterError", "UnknownProperty", "UnsupportedOperator",
           "InvalidLiteral", "FilterTooLarge", "SortError"]


class QueryError(TwinError, ValueError):
    """A filter or sort order that cannot be used as given."""


class FilterError(QueryError):
    """A CQL2 filter that does not parse or does not type-check."""


class UnknownProperty(FilterError):
    """A filter names a property that is not a queryable of the collection."""


class UnsupportedOperator(FilterError):
    """An operator or function that this server does not evaluate."""


class InvalidLiteral(FilterError):
    """A literal that is malformed, out of range or of the wrong type."""


class FilterTooLarge(FilterError):
    """A filter longer or deeper than the limits (they keep the parser safe)."""


class SortError(QueryError):
    """A sortby value that names no sortable or is malformed."""
