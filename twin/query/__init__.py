"""Queries on a twin's layers: CQL2 filters and sort orders.

Domain-free query machinery shared by every store: :func:`parse_filter` checks a CQL2
filter against a layer's queryables; :func:`filter_mask` evaluates it on a GeoDataFrame;
``twin.query.sql.where_clause`` translates it to PostgreSQL with bound parameters (it
imports psycopg, so it is not imported here).
"""

from .errors import (
    FilterError,
    FilterTooLarge,
    InvalidLiteral,
    QueryError,
    SortError,
    UnknownProperty,
    UnsupportedOperator,
)
from .filter import FILTER_LANGS, GEOMETRY_KIND, Filter, parse_filter
from .frame import filter_mask
from .sort import parse_sortby, sort_rows

__all__ = ["Filter", "parse_filter", "filter_mask", "parse_sortby", "sort_rows",
           "FILTER_LANGS", "GEOMETRY_KIND", "QueryError", "FilterError", "UnknownProperty",
           "UnsupportedOperator", "InvalidLiteral", "FilterTooLarge", "SortError"]
