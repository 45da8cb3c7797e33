"""Translate a checked CQL2 :class:`~twin.query.filter.Filter` to a PostgreSQL/PostGIS
``WHERE`` clause, composed with psycopg's :mod:`psycopg.sql` and bound parameters.

No literal is ever formatted into the SQL text: every value travels as a parameter
(geometries as WKB), and column names come only from the checked tree (queryables) and
go through :class:`psycopg.sql.Identifier`. Every parameter carries an explicit cast, so
PostgreSQL never has to guess a type.

Text ordering (``<``, ``>``, ...) uses ``COLLATE "C"``, code-point order, which is how
Python (and :mod:`twin.query.frame`) orders text, whatever the database's locale.
``CASEI`` is ``lower()``, which follows the database's ``LC_CTYPE``: use a UTF-8 locale
(e.g. ``C.UTF-8``) for it to lower Cyrillic and Kazakh letters as Python does.

Examples
--------
>>> from twin.query import parse_filter
>>> f = parse_filter("land_use IN ('arable', 'pasture')", "cql2-text", {"land_use": "str"})
>>> clause, params = where_clause(f)
>>> params
['arable', 'pasture']
"""

from __future__ import annotations

import shapely
from psycopg import sql

from .filter import Filter
from .tree import (
    Between,
    CaseI,
    Compare,
    Const,
    In,
    IsNull,
    Like,
    Lit,
    Logic,
    Not,
    Prop,
    Spatial,
)

__all__ = ["where_clause"]

_CAST = {"str": "text", "num": "double precision", "bool": "boolean"}
_ST = {"s_intersects": "ST_Intersects", "s_equals": "ST_Equals", "s_disjoint": "ST_Disjoint",
       "s_touches": "ST_Touches", "s_within": "ST_Within", "s_overlaps": "ST_Overlaps",
       "s_crosses": "ST_Crosses", "s_contains": "ST_Contains"}


class _Translate:
    def __init__(self, columns: dict[str, str], geometry_column: str, srid: int):
        self.columns = columns
        self.geometry_column = geometry_column
        self.srid = srid
        self.params: list = []

    def param(self, value, cast: str) -> sql.Composable:
        self.params.append(value)
        return sql.SQL("CAST({} AS {})").format(sql.Placeholder(), sql.SQL(cast))

    def value(self, node) -> sql.Composable:
        if isinstance(node, Prop):
            name = self.geometry_column if node.type == "geom" else \
                self.columns.get(node.name, node.name)
            return sql.Identifier(name)
        if isinstance(node, Lit):
            if node.type == "geom":
                self.params.append(shapely.to_wkb(node.value))
                return sql.SQL("ST_GeomFromWKB({}, {})").format(sql.Placeholder(),
                                                                sql.Literal(self.srid))
            return self.param(node.value, _CAST[node.type])
        if isinstance(node, CaseI):
            return sql.SQL("lower({})").format(self.value(node.arg))
        raise TypeError(f"not a value: {node!r}")

    def text_order(self, node) -> sql.Composable:
        v = self.value(node)
        return sql.SQL('({} COLLATE "C")').format(v) if node.type == "str" else v

    def pred(self, node) -> sql.Composable:
        if isinstance(node, Logic):
            joiner = sql.SQL(" AND " if node.op == "and" else " OR ")
            return sql.SQL("({})").format(joiner.join(self.pred(a) for a in node.args))
        if isinstance(node, Not):
            return sql.SQL("(NOT {})").format(self.pred(node.arg))
        if isinstance(node, Const):
            if isinstance(node.value, Prop):
                return sql.SQL("({})").format(self.value(node.value))
            return sql.SQL("TRUE" if node.value else "FALSE")
        if isinstance(node, Compare):
            if node.op in ("=", "<>"):
                left, right = self.value(node.left), self.value(node.right)
            else:
                left, right = self.text_order(node.left), self.text_order(node.right)
            return sql.SQL("({} {} {})").format(left, sql.SQL(node.op), right)
        if isinstance(node, Between):
            return sql.SQL("({} BETWEEN {} AND {})").format(
                self.value(node.value), self.value(node.low), self.value(node.high))
        if isinstance(node, In):
            items = sql.SQL(", ").join(self.value(i) for i in node.items)
            return sql.SQL("({} IN ({}))").format(self.value(node.value), items)
        if isinstance(node, IsNull):
            return sql.SQL("({} IS NULL)").format(self.value(node.value))
        if isinstance(node, Like):
            # PostgreSQL's LIKE escapes with a backslash by default, as CQL2 does.
            return sql.SQL("({} LIKE {})").format(self.value(node.value),
                                                  self.value(node.pattern))
        if isinstance(node, Spatial):
            return sql.SQL("{}({}, {})").format(sql.SQL(_ST[node.op]),
                                                self.value(node.left), self.value(node.right))
        raise TypeError(f"not a predicate: {node!r}")


def where_clause(flt: Filter, *, columns: dict[str, str] | None = None,
                 geometry_column: str = "geometry",
                 srid: int = 4326) -> tuple[sql.Composable, list]:
    """The filter as a SQL boolean expression and its parameters, in order.

    Parameters
    ----------
    flt : Filter
        From :func:`twin.query.parse_filter`.
    columns : dict, optional
        Queryable name -> table column, where they differ.
    geometry_column : str
        The table's geometry column (the queryable ``geometry``).
    srid : int
        The SRID of that column; geometry literals (lon/lat) are given this SRID, so it
        must be a lon/lat CRS (4326).

    Returns
    -------
    (psycopg.sql.Composable, list)
        Use as ``cur.execute(sql.SQL("SELECT id FROM t WHERE {}").format(clause), params)``.
    """
    t = _Translate(columns or {}, geometry_column, srid)
    clause = t.pred(flt.root)
    return clause, t.params
