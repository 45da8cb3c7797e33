"""The checked tree of a CQL2 filter: the nodes :mod:`twin.query.filter` builds and
:mod:`twin.query.frame` and :mod:`twin.query.sql` walk.

Values have a ``type``: ``str``, ``num``, ``bool`` or ``geom``; geometry literals are
shapely geometries in lon/lat.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Prop", "Lit", "CaseI", "Compare", "Like", "Between", "In", "IsNull", "Logic",
           "Not", "Spatial", "Const"]


@dataclass(frozen=True, slots=True)
class Prop:
    """A queryable: ``name`` is its column, ``type`` one of str, num, bool, geom."""

    name: str
    type: str


@dataclass(frozen=True, slots=True)
class Lit:
    """A literal: a str, a finite float, a bool or a shapely geometry in lon/lat."""

    value: object
    type: str


@dataclass(frozen=True, slots=True)
class CaseI:
    """``CASEI(text)``: lower-cased text, for case-insensitive comparison."""

    arg: object
    type: str = "str"


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: object
    right: object


@dataclass(frozen=True, slots=True)
class Like:
    """``value LIKE pattern``; the pattern is a text literal, maybe under CASEI."""

    value: object
    pattern: object


@dataclass(frozen=True, slots=True)
class Between:
    value: object
    low: object
    high: object


@dataclass(frozen=True, slots=True)
class In:
    value: object
    items: tuple


@dataclass(frozen=True, slots=True)
class IsNull:
    value: object


@dataclass(frozen=True, slots=True)
class Logic:
    """``AND`` / ``OR`` of two or more predicates."""

    op: str
    args: tuple


@dataclass(frozen=True, slots=True)
class Not:
    arg: object


@dataclass(frozen=True, slots=True)
class Spatial:
    """``S_*(left, right)``; each side a geometry queryable or a geometry literal."""

    op: str
    left: object
    right: object


@dataclass(frozen=True, slots=True)
class Const:
    """A filter that is a boolean literal, or a bool queryable used as a predicate."""

    value: object  # True, False or a Prop of type bool
