"""CQL2 filters: parse text or JSON with the ``cql2`` parser, then check them into a small
typed tree (:mod:`twin.query.tree`) that :mod:`twin.query.frame` evaluates on a
GeoDataFrame and :mod:`twin.query.sql` translates to SQL with bound parameters.

The parser is cql2-rs (the ``cql2`` package); nothing here evaluates a string. What this
module adds is the checking the parser leaves out: every property must be a queryable,
every operator one we evaluate, every literal well-formed and of the property's type, so
that a bad filter fails here with a message that names it, never later in pandas or SQL.

Supported (the CQL2 conformance classes ``basic-cql2``, ``advanced-comparison-operators``,
``case-insensitive-comparison``, ``basic-spatial-functions``,
``basic-spatial-functions-plus``, ``spatial-functions``, ``property-property``, in the
``cql2-text`` and ``cql2-json`` encodings):

- comparisons ``= <> < > <= >=`` between properties and literals of one type,
  ``IS NULL``, ``AND``, ``OR``, ``NOT``, ``TRUE``/``FALSE``;
- ``LIKE`` (``%`` any run, ``_`` one character, ``\\`` escapes), ``BETWEEN``, ``IN``;
- ``CASEI`` on text;
- ``S_INTERSECTS``, ``S_EQUALS``, ``S_DISJOINT``, ``S_TOUCHES``, ``S_WITHIN``,
  ``S_OVERLAPS``, ``S_CROSSES``, ``S_CONTAINS`` with any WKT/GeoJSON geometry or ``BBOX``.

Not offered, each refused with a message saying so: temporal and array functions (no
queryable holds a date, a time or an array), arithmetic, ``ACCENTI`` and custom functions.

Examples
--------
>>> f = parse_filter("land_use = 'arable' AND area_ha > 5", "cql2-text",
...                  {"land_use": "str", "area_ha": "float"})
>>> sorted(f.properties)
['area_ha', 'land_use']
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import orjson
import shapely
from pyproj import CRS

from .errors import (
    FilterError,
    FilterTooLarge,
    InvalidLiteral,
    UnknownProperty,
    UnsupportedOperator,
)
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

__all__ = ["Filter", "parse_filter", "FILTER_LANGS", "MAX_DEPTH", "GEOMETRY_KIND"]

FILTER_LANGS = ("cql2-text", "cql2-json")
#: Nesting deeper than this is refused before parsing: cql2-rs parses recursively, and
#: a few thousand nested parentheses overflow its stack (a crash, not an error). No
#: hand-written or client-built filter comes near it.
MAX_DEPTH = 64
#: Unary NOTs are recursion too; a filter may hold this many.
MAX_NOTS = 256
#: The kind a queryable has when it is the layer's geometry.
GEOMETRY_KIND = "geometry"

# Queryable kinds (the schema's) -> expression types.
_TYPE_OF_KIND = {"str": "str", "int": "num", "float": "num", "bool": "bool",
                 GEOMETRY_KIND: "geom"}
_COMPARE = {"=", "<>", "<", ">", "<=", ">="}
SPATIAL_OPS = ("s_intersects", "s_equals", "s_disjoint", "s_touches", "s_within",
               "s_overlaps", "s_crosses", "s_contains")
_ARITHMETIC = {"+", "-", "*", "/", "%", "^", "div"}
_TEMPORAL_LITERALS = ("date", "timestamp", "interval")


@dataclass(frozen=True)
class Filter:
    """A parsed and checked CQL2 filter.

    ``root`` is the predicate tree; ``properties`` the queryables it reads; ``text`` the
    filter as the client sent it (for links).
    """

    root: object
    properties: frozenset[str]
    text: str
    lang: str


# -- limits checked before parsing -----------------------------------------------------------
def _text_depth(text: str) -> tuple[int, int]:
    """Deepest parenthesis nesting and the number of NOT keywords, outside quotes."""
    depth = deepest = 0
    quote = None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None  # a doubled quote ('') reopens at once: same effect
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
    unquoted = re.sub(r"'[^']*'|\"[^\"]*\"", "", text)
    nots = len(re.findall(r"(?i)\bnot\b", unquoted))
    return deepest, nots


def _json_depth(value) -> int:
    # Iterative, so that the depth check itself cannot recurse too deep.
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_DEPTH * 4:
            break
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


def _parse(text: str, lang: str) -> object:
    import cql2

    if lang == "cql2-text":
        if "\x00" in text:
            raise InvalidLiteral("the filter holds a NUL character: remove it")
        deepest, nots = _text_depth(text)
        if deepest > MAX_DEPTH:
            raise FilterTooLarge(f"the filter nests parentheses {deepest} deep; at most "
                                 f"{MAX_DEPTH} are accepted: flatten it (AND/OR take many "
                                 "arguments)")
        if nots > MAX_NOTS:
            raise FilterTooLarge(f"the filter holds {nots} NOTs; at most {MAX_NOTS} are "
                                 "accepted: simplify it")
        if re.search(r"[-+]\s*[-+]\s*\d", re.sub(r"'[^']*'", "", text)):
            raise InvalidLiteral("the filter holds a number with two signs (like '--1'): "
                                 "give each number one sign at most")
        try:
            return cql2.parse_text(text).to_json()
        except (cql2.ParseError, ValueError) as e:
            raise FilterError(f"the filter is not valid CQL2 text ({_short(e)}): check "
                              "quotes and parentheses; text literals take single quotes, "
                              "e.g. land_use = 'arable'") from None
    if lang == "cql2-json":
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            if "depth" in str(e):
                raise FilterTooLarge(f"the filter nests deeper than {MAX_DEPTH} "
                                     "operations: flatten it") from None
            raise FilterError(f"the filter is not valid JSON ({_short(e)}): send CQL2 "
                              "JSON such as {\"op\":\"=\",\"args\":[{\"property\":"
                              "\"land_use\"},\"arable\"]}") from None
        if _json_depth(doc) > MAX_DEPTH * 3:
            raise FilterTooLarge(f"the filter nests deeper than {MAX_DEPTH} operations: "
                                 "flatten it (and/or take many arguments)")
        return doc  # CQL2 JSON is already the tree; the checker below validates it
    raise FilterError(f"filter-lang {lang!r} is not offered: use one of "
                      f"{', '.join(FILTER_LANGS)}")


def _short(e: Exception, n: int = 160) -> str:
    s = " ".join(str(e).split())
    return s if len(s) <= n else s[:n] + "…"


# -- checking ----------------------------------------------------------------------------------
class _Checker:
    def __init__(self, queryables: dict[str, str], literal_crs: CRS | None):
        self.queryables = queryables
        self.literal_crs = literal_crs
        self.seen: set[str] = set()
        self.depth = 0

    # predicates ------------------------------------------------------------------------
    def predicate(self, node):
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise FilterTooLarge(f"the filter nests deeper than {MAX_DEPTH} "
                                     "operations: flatten it")
            return self._predicate(node)
        finally:
            self.depth -= 1

    def _predicate(self, node):
        if isinstance(node, bool):
            return Const(node)
        if isinstance(node, dict) and "property" in node:
            p = self.prop(node)
            if p.type != "bool":
                raise FilterError(f"property {p.name!r} is not a boolean, so it cannot "
                                  f"stand alone as a condition: compare it, e.g. "
                                  f"{p.name} = ...")
            return Const(p)
        if not isinstance(node, dict) or "op" not in node:
            raise FilterError(f"{_show(node)} is not a condition: a filter is a "
                              "comparison, LIKE, BETWEEN, IN, IS NULL, a spatial function "
                              "or AND/OR/NOT of those")
        op, args = self.op_args(node)
        if op in ("and", "or"):
            if len(args) < 2:
                raise FilterError(f"{op.upper()} needs at least two conditions")
            return Logic(op, tuple(self.predicate(a) for a in args))
        if op == "not":
            self.arity(op, args, 1)
            return Not(self.predicate(args[0]))
        if op in _COMPARE:
            self.arity(op, args, 2)
            left, right = self.value(args[0]), self.value(args[1])
            self.same_type(op, left, right)
            if left.type == "geom":
                raise UnsupportedOperator(f"'{op}' does not compare geometries: use "
                                          "S_EQUALS(geometry, ...) instead")
            if left.type == "bool" and op not in ("=", "<>"):
                raise UnsupportedOperator(f"'{op}' does not order booleans: use = or <>")
            return Compare(op, left, right)
        if op == "like":
            self.arity(op, args, 2)
            value = self.value(args[0])
            self.want(value, "str", "LIKE")
            return Like(value, self.pattern(args[1]))
        if op == "between":
            self.arity(op, args, 3)
            value, low, high = (self.value(a) for a in args)
            for v in (value, low, high):
                self.want(v, "num", "BETWEEN")
            return Between(value, low, high)
        if op == "in":
            self.arity(op, args, 2)
            value = self.value(args[0])
            if not isinstance(args[1], list) or not args[1]:
                raise FilterError("IN needs a non-empty list, e.g. land_use IN ('a', 'b')")
            items = tuple(self.value(a) for a in args[1])
            for it in items:
                if not isinstance(it, Lit | CaseI):
                    raise UnsupportedOperator("the list of IN holds only literals here")
                self.same_type("IN", value, it)
            if value.type == "geom":
                raise UnsupportedOperator("IN does not compare geometries")
            return In(value, items)
        if op == "isnull":
            self.arity("IS NULL", args, 1)
            return IsNull(self.value(args[0]))
        if op in SPATIAL_OPS:
            self.arity(op.upper(), args, 2)
            left, right = self.value(args[0]), self.value(args[1])
            for v in (left, right):
                self.want(v, "geom", op.upper())
            return Spatial(op, left, right)
        raise self.unsupported(op, node)

    # values ----------------------------------------------------------------------------
    def value(self, node):
        if isinstance(node, bool):
            return Lit(node, "bool")
        if isinstance(node, int | float):
            return Lit(self.number(node), "num")
        if isinstance(node, str):
            if "\x00" in node:
                raise InvalidLiteral("a text literal holds a NUL character: remove it")
            return Lit(node, "str")
        if node is None:
            raise InvalidLiteral("CQL2 has no null literal: test for missing values with "
                                 "'property IS NULL'")
        if isinstance(node, dict):
            if "property" in node:
                return self.prop(node)
            if "bbox" in node:
                return Lit(self.bbox(node["bbox"]), "geom")
            if "type" in node and ("coordinates" in node or "geometries" in node):
                return Lit(self.geometry(node), "geom")
            for key in _TEMPORAL_LITERALS:
                if key in node:
                    raise UnsupportedOperator(
                        f"{key.upper()} literals are not offered: no queryable of this "
                        "collection holds a date or a time (years are integers, e.g. "
                        "start_year > 2024)")
            if "op" in node:
                op, args = self.op_args(node)
                if op == "casei":
                    self.arity("CASEI", args, 1)
                    arg = self.value(args[0])
                    self.want(arg, "str", "CASEI")
                    return CaseI(arg)
                raise self.unsupported(op, node, as_value=True)
        if isinstance(node, list):
            raise UnsupportedOperator("array literals are not offered: no queryable of "
                                      "this collection holds an array (for a list of "
                                      "values use IN)")
        raise InvalidLiteral(f"{_show(node)} is not a CQL2 literal or property")

    def prop(self, node) -> Prop:
        name = node["property"]
        if not isinstance(name, str) or name not in self.queryables:
            listed = ", ".join(sorted(self.queryables))
            raise UnknownProperty(f"unknown property {_show(name)}: the queryables are "
                                  f"{listed} (see the collection's /queryables)")
        self.seen.add(name)
        return Prop(name, _TYPE_OF_KIND[self.queryables[name]])

    def pattern(self, node):
        if (isinstance(node, dict) and isinstance(node.get("op"), str)
                and node["op"].lower() == "casei"):
            self.arity("CASEI", node.get("args", []), 1)
            return CaseI(self.pattern(node["args"][0]))
        p = self.value(node)
        if not isinstance(p, Lit) or p.type != "str":
            raise FilterError("the pattern of LIKE must be a text literal, e.g. "
                              "name LIKE 'Ak%'")
        trailing = len(p.value) - len(p.value.rstrip("\\"))
        if trailing % 2:
            raise InvalidLiteral(f"the LIKE pattern {p.value!r} ends with an escape "
                                 "character (\\): escape it as \\\\ or drop it")
        return p

    @staticmethod
    def number(v) -> float:
        f = float(v)
        if not math.isfinite(f):
            raise InvalidLiteral(f"the number {v!r} is not finite: give a finite number")
        return f

    def bbox(self, coords):
        if (not isinstance(coords, list) or len(coords) not in (4, 6)
                or not all(isinstance(c, int | float) and not isinstance(c, bool)
                           for c in coords)):
            raise InvalidLiteral("BBOX takes 4 numbers (minx, miny, maxx, maxy) or 6 "
                                 "with heights")
        c = [self.number(x) for x in coords]
        minx, miny, maxx, maxy = (c[0], c[1], c[3], c[4]) if len(c) == 6 else c
        if minx > maxx or miny > maxy:
            raise InvalidLiteral(f"BBOX{tuple(coords)} has a minimum above its maximum: "
                                 "give minx, miny, maxx, maxy")
        return self.place(shapely.box(minx, miny, maxx, maxy), "BBOX")

    def geometry(self, node):
        if node.get("type") == "GeometryCollection":
            # GEOS before 3.13 (PostGIS 3.3's) refuses collections in relate predicates.
            raise UnsupportedOperator("GeometryCollection literals are not offered: test "
                                      "each geometry in turn, joined with OR")
        try:
            g = shapely.from_geojson(orjson.dumps(node))
        except (shapely.errors.GEOSException, ValueError, TypeError) as e:
            raise InvalidLiteral(f"the geometry literal {_show(node)} is malformed "
                                 f"({_short(e, 100)}): check its type and coordinates") from None
        return self.place(shapely.force_2d(g), g.geom_type)

    def place(self, g, what: str):
        """Move a literal into storage lon/lat and check it there."""
        coords = shapely.get_coordinates(g)
        if g.is_empty or not np.isfinite(coords).all():
            raise InvalidLiteral(f"the {what} literal is empty or has a non-finite "
                                 "coordinate: give real coordinates")
        if self.literal_crs is not None:
            from ..crs import STORAGE_CRS, transformer

            swap = _north_first(self.literal_crs)
            tr = transformer(self.literal_crs, STORAGE_CRS)

            def move(xy):
                x, y = (xy[:, 1], xy[:, 0]) if swap else (xy[:, 0], xy[:, 1])
                lon, lat = tr.transform(x, y)
                return np.column_stack([lon, lat])

            g = shapely.transform(g, move)
            coords = shapely.get_coordinates(g)
            if not np.isfinite(coords).all():
                raise InvalidLiteral(f"the {what} literal lies outside the area where "
                                     "its filter-crs is defined")
        elif ((np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any()):
            raise InvalidLiteral(f"the {what} literal has coordinates outside lon/lat "
                                 "range: CRS84 is longitude first, then latitude (or "
                                 "name your CRS with filter-crs)")
        if not shapely.is_valid(g):
            raise InvalidLiteral(f"the {what} literal is not a valid geometry "
                                 f"({shapely.is_valid_reason(g)}): fix its rings")
        return g

    # helpers ---------------------------------------------------------------------------
    @staticmethod
    def op_args(node) -> tuple[str, list]:
        op, args = node.get("op"), node.get("args", [])
        if not isinstance(op, str) or not isinstance(args, list):
            raise FilterError(f"{_show(node)} is not a CQL2 operation: give "
                              "{\"op\": ..., \"args\": [...]}")
        return op.lower(), args

    @staticmethod
    def arity(op: str, args: list, n: int) -> None:
        if len(args) != n:
            raise FilterError(f"{op} takes {n} argument{'s' * (n > 1)}, got {len(args)}")

    @staticmethod
    def want(v, type_: str, op: str) -> None:
        if v.type != type_:
            names = {"str": "text", "num": "a number", "bool": "a boolean",
                     "geom": "a geometry"}
            raise FilterError(f"{op} needs {names[type_]} but got {_describe(v)}")

    @staticmethod
    def same_type(op: str, a, b) -> None:
        if a.type != b.type:
            raise FilterError(f"'{op}' compares {_describe(a)} with {_describe(b)}: both "
                              "sides must be of one type (quote text, leave numbers bare)")

    @staticmethod
    def unsupported(op: str, node, as_value: bool = False) -> FilterError:
        if op.startswith("t_"):
            return UnsupportedOperator(f"temporal function {op.upper()} is not offered: no "
                                       "queryable of this collection holds a date or time")
        if op.startswith("a_"):
            return UnsupportedOperator(f"array function {op.upper()} is not offered: no "
                                       "queryable of this collection holds an array")
        if op in _ARITHMETIC:
            return UnsupportedOperator(f"arithmetic ('{op}') is not offered: compare "
                                       "properties with literals or with each other")
        if op == "accenti":
            return UnsupportedOperator("ACCENTI is not offered: compare with CASEI, or "
                                       "with the accented spelling")
        known = "CASEI" if as_value else "comparisons, LIKE, BETWEEN, IN, IS NULL, " \
            "AND/OR/NOT and " + ", ".join(o.upper() for o in SPATIAL_OPS)
        return UnsupportedOperator(f"unknown function {_show(node.get('op'))}: this server "
                                   f"offers {known}")


def _north_first(crs: CRS) -> bool:
    axes = crs.axis_info
    return bool(axes) and axes[0].direction.lower() in ("north", "south")


def _describe(v) -> str:
    names = {"str": "text", "num": "a number", "bool": "a boolean", "geom": "a geometry"}
    if isinstance(v, Prop):
        return f"property {v.name!r} ({names[v.type]})"
    if isinstance(v, Lit) and v.type != "geom":
        return f"{names[v.type]} ({v.value!r})"
    return names[v.type]


def _show(v, n: int = 60) -> str:
    s = repr(v) if not isinstance(v, dict | list) else orjson.dumps(v).decode()
    return s if len(s) <= n else s[:n] + "…"


def parse_filter(text: str, lang: str, queryables: dict[str, str], *,
                 literal_crs: CRS | None = None, max_bytes: int = 16_384) -> Filter:
    """Parse and check a CQL2 filter against a collection's queryables.

    Parameters
    ----------
    text : str
        The filter, in CQL2 text or CQL2 JSON.
    lang : {"cql2-text", "cql2-json"}
    queryables : dict
        Property name -> kind (``str``, ``int``, ``float``, ``bool`` or ``geometry``).
    literal_crs : pyproj.CRS, optional
        The CRS of geometry literals (OGC ``filter-crs``); None means CRS84 lon/lat.
    max_bytes : int
        Longer filters are refused (:class:`FilterTooLarge`) before parsing.

    Raises
    ------
    twin.query.FilterError
        Naming the unknown property, the bad literal or the unsupported operator.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise FilterTooLarge(f"the filter is {size} bytes; at most {max_bytes} are "
                             "accepted: simplify it (a long polygon can often be a BBOX)")
    tree = _parse(text, lang)
    checker = _Checker(queryables, literal_crs)
    root = checker.predicate(tree)
    return Filter(root, frozenset(checker.seen), text, lang)
