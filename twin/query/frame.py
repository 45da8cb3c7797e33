"""Evaluate a checked CQL2 :class:`~twin.query.filter.Filter` on a GeoDataFrame, vectorised.

Every predicate yields a pandas ``BooleanArray`` (nullable), because CQL2 follows SQL's
three-valued logic: a comparison with a missing value is *unknown*, ``NOT unknown`` is
still unknown, and only true rows are selected. pandas' Kleene ``&``, ``|`` and ``~``
give exactly that, so the rows selected here are the rows the SQL translation
(:mod:`twin.query.sql`) selects in PostGIS.

Spatial predicates against a literal go through the layer's spatial index
(``gdf.sindex``) and GEOS predicates on the candidates only.
"""

from __future__ import annotations

import operator
import re

import numpy as np
import pandas as pd
import shapely

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

__all__ = ["filter_mask", "like_regex"]

_CMP = {"=": operator.eq, "<>": operator.ne, "<": operator.lt, ">": operator.gt,
        "<=": operator.le, ">=": operator.ge}
# op(layer geometry, literal) == tree predicate(literal, layer geometry), for STRtree.query.
_TREE_PREDICATE = {"s_intersects": "intersects", "s_within": "contains",
                   "s_contains": "within", "s_touches": "touches",
                   "s_overlaps": "overlaps", "s_crosses": "crosses"}
# op(literal, layer geometry) == converse(layer geometry, literal).
_CONVERSE = {"s_within": "s_contains", "s_contains": "s_within"}


def like_regex(pattern: str) -> str:
    """The regular expression of a CQL2/SQL LIKE pattern: ``%`` is any run of characters,
    ``_`` one character and ``\\`` takes the next character literally.

    Examples
    --------
    >>> like_regex("Ak%_50\\\\%")
    'Ak.*.50%'
    """
    out, chars = [], iter(pattern)
    for ch in chars:
        if ch == "\\":
            out.append(re.escape(next(chars, "")))
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return "".join(out)


class _Eval:
    def __init__(self, gdf):
        self.gdf = gdf
        self.n = len(gdf)

    def result(self, values, null) -> pd.arrays.BooleanArray:
        if isinstance(values, pd.Series):
            values = values.to_numpy(dtype=bool, na_value=False)
        values = np.broadcast_to(np.asarray(values, dtype=bool), (self.n,))
        null = np.broadcast_to(np.asarray(null, dtype=bool), (self.n,))
        return pd.arrays.BooleanArray(values.copy(), null.copy())

    # values: (Series or scalar, null mask or False) -------------------------------------
    # Properties stay pandas Series, so that comparisons run in pandas' (Arrow's) kernels
    # rather than element by element over Python objects; the null mask carries SQL's
    # "unknown" separately.
    def value(self, node):
        if isinstance(node, Lit):
            return node.value, False
        if isinstance(node, CaseI):
            vals, null = self.value(node.arg)
            return (vals.lower() if isinstance(vals, str) else vals.str.lower()), null
        if not isinstance(node, Prop):
            raise TypeError(f"not a value: {node!r}")
        if node.type == "geom":
            geoms = np.asarray(self.gdf.geometry.values)
            return geoms, shapely.is_missing(geoms)
        col = self.gdf[node.name]
        null = col.isna().to_numpy()
        if node.type == "str" and col.dtype == object and null.any():
            col = col.where(~null, "")  # ordering comparisons must not meet None
        return col.reset_index(drop=True), null

    # predicates ------------------------------------------------------------------------
    def pred(self, node) -> pd.arrays.BooleanArray:
        if isinstance(node, Logic):
            parts = [self.pred(a) for a in node.args]
            out = parts[0]
            for p in parts[1:]:
                out = (out & p) if node.op == "and" else (out | p)
            return out
        if isinstance(node, Not):
            return ~self.pred(node.arg)
        if isinstance(node, Const):
            if isinstance(node.value, Prop):
                return self.result(*self.value(node.value))
            return self.result(node.value, False)
        if isinstance(node, Compare):
            (a, na), (b, nb) = self.value(node.left), self.value(node.right)
            return self.result(_CMP[node.op](a, b), na | nb)
        if isinstance(node, Between):
            (v, nv), (lo, nl), (hi, nh) = (self.value(x) for x in
                                           (node.value, node.low, node.high))
            return self.result((v >= lo) & (v <= hi), nv | nl | nh)
        if isinstance(node, In):
            v, nv = self.value(node.value)
            items = [self.value(i)[0] for i in node.items]
            if isinstance(v, pd.Series):
                return self.result(v.isin(items), nv)
            return self.result(v in items, nv)
        if isinstance(node, IsNull):
            return self.result(self.value(node.value)[1], False)
        if isinstance(node, Like):
            return self.like(node)
        if isinstance(node, Spatial):
            return self.spatial(node)
        raise TypeError(f"not a predicate: {node!r}")

    def like(self, node: Like):
        v, nv = self.value(node.value)
        pattern, _ = self.value(node.pattern)
        rx = like_regex(pattern)
        if isinstance(v, str):
            return self.result(re.fullmatch(rx, v, re.DOTALL) is not None, nv)
        hits = v.str.fullmatch(rx, flags=re.DOTALL)
        return self.result(hits.astype(object).fillna(False).to_numpy(dtype=bool), nv)

    def spatial(self, node: Spatial):
        op, left, right = node.op, node.left, node.right
        if isinstance(left, Lit) and isinstance(right, Prop):
            op, left, right = _CONVERSE.get(op, op), right, left
        (a, na), (b, nb) = self.value(left), self.value(right)
        fn = getattr(shapely, op[2:])
        if isinstance(left, Prop) and isinstance(right, Lit):
            return self.result(self.against_literal(op, b), na)
        return self.result(fn(a, b), na | nb)

    def against_literal(self, op: str, lit) -> np.ndarray:
        hit = np.zeros(self.n, dtype=bool)
        tree = self.gdf.sindex
        if op in _TREE_PREDICATE:
            hit[tree.query(lit, predicate=_TREE_PREDICATE[op])] = True
        elif op == "s_disjoint":
            hit[:] = True
            hit[tree.query(lit, predicate="intersects")] = False
        else:  # s_equals: equal geometries share their envelope, so test those only
            cand = tree.query(lit)
            geoms = np.asarray(self.gdf.geometry.values)[cand]
            hit[cand[shapely.equals(geoms, lit)]] = True
        return hit


def filter_mask(gdf, flt: Filter) -> np.ndarray:
    """Boolean mask of the rows of ``gdf`` that ``flt`` selects (unknown counts as not).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> from twin.query import parse_filter
    >>> g = gpd.GeoDataFrame({"name": ["Alder", "Birch", None]},
    ...                      geometry=[Point(70, 52)] * 3, crs=4326)
    >>> f = parse_filter("name LIKE 'A%' OR name IS NULL", "cql2-text", {"name": "str"})
    >>> filter_mask(g, f).tolist()
    [True, False, True]
    """
    return _Eval(gdf).pred(flt.root).to_numpy(dtype=bool, na_value=False)
