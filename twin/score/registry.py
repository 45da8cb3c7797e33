"""The indicator registry: what the score measures, in which unit, which way is better.

The registry is data: a document in the layout of ``registry_kz.yaml`` (the built-in one,
beside this module), validated into frozen dataclasses so the rest of the score can trust
it. Each twin carries its own (``Twin.registry``, stored in the twin file); a twin given
none uses the built-in registry.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from .errors import RegistryError

__all__ = ["Dimension", "Indicator", "Registry", "load_registry", "read_registry_doc",
           "builtin_registry_doc", "BUILTIN_REGISTRY_PATH"]

#: The built-in registry: twelve indicators of Kazakhstan's official statistics.
BUILTIN_REGISTRY_PATH = Path(__file__).with_name("registry_kz.yaml")

_KINDS = ("level", "flow")
_DIRECTIONS = ("higher", "lower")


@dataclass(frozen=True)
class Dimension:
    """A group of indicators that gets its own sub-score (e.g. *Agriculture*)."""

    id: str
    name: str
    weight: float = 1.0


@dataclass(frozen=True)
class Indicator:
    """One indicator of the score.

    ``kind`` is ``"level"`` (scored at its latest month) or ``"flow"`` (scored as the sum of
    its latest 12 months). The KPI is either an absolute ``target_value`` or, for flows, a
    ``target_growth`` over the unit's previous 12 months.
    """

    id: str
    name: str
    dimension: str
    unit: str
    kind: str
    direction: str
    weight: float
    source: str
    description: str
    target_value: float | None = None
    target_growth: float | None = None
    lower_bound: float | None = None
    upper_bound: float | None = None
    seasonal: bool = False
    project_column: str | None = None
    project_scale: float = 1.0

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher"

    @property
    def growth(self) -> float:
        """The growth target ``g`` of a ``{growth: g}`` KPI."""
        if self.target_growth is None:
            raise RegistryError(f"indicator {self.id!r} has an absolute target, not a growth one")
        return self.target_growth

    @property
    def absolute_target(self) -> float:
        """The value of a ``{value: x}`` KPI."""
        if self.target_value is None:
            raise RegistryError(f"indicator {self.id!r} has a growth target, not an absolute one")
        return self.target_value

    def target_text(self) -> str:
        if self.target_value is not None:
            op = ">=" if self.higher_is_better else "<="
            return f"{op} {self.target_value:g} {self.unit}"
        return f"{self.target_growth:+.0%} on the previous 12 months"


@dataclass(frozen=True)
class Registry:
    """The indicators and dimensions of a score, in a fixed order.

    Examples
    --------
    >>> reg = load_registry()
    >>> len(reg.indicators), len(reg.dimensions)
    (12, 5)
    >>> reg["investment"].unit
    'bn KZT'
    >>> [(i.id, i.project_column) for i in reg.moved_by_projects]
    [('investment', 'investment_kzt'), ('new_jobs', 'jobs')]
    """

    indicators: tuple[Indicator, ...]
    dimensions: tuple[Dimension, ...]

    def __post_init__(self) -> None:
        ids = [i.id for i in self.indicators]
        if len(set(ids)) != len(ids):
            raise RegistryError(f"indicator ids repeat in the registry: {ids}: make them unique")
        dims = {d.id for d in self.dimensions}
        for ind in self.indicators:
            if ind.dimension not in dims:
                raise RegistryError(
                    f"indicator {ind.id!r} names dimension {ind.dimension!r}, which the "
                    f"registry does not define ({sorted(dims)}): add it under 'dimensions'"
                )

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.indicators)

    @property
    def dimension_ids(self) -> tuple[str, ...]:
        return tuple(d.id for d in self.dimensions)

    def __getitem__(self, indicator_id: str) -> Indicator:
        for ind in self.indicators:
            if ind.id == indicator_id:
                return ind
        raise KeyError(indicator_id)

    def __contains__(self, indicator_id: object) -> bool:
        return indicator_id in self.ids

    def in_dimension(self, dim_id: str) -> tuple[Indicator, ...]:
        return tuple(i for i in self.indicators if i.dimension == dim_id)

    @property
    def moved_by_projects(self) -> tuple[Indicator, ...]:
        """The indicators a scenario's projects move (those with a ``projects:`` entry)."""
        return tuple(i for i in self.indicators if i.project_column)

    @classmethod
    def parse_cached(cls, doc: Mapping) -> Registry:
        """:meth:`from_dict`, parsed once per distinct document."""
        try:
            key = json.dumps(doc, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise RegistryError(f"the indicator registry is not plain data ({e}): give it "
                                "as YAML or JSON") from None
        return _parse(key)

    @classmethod
    def from_dict(cls, d: Mapping) -> Registry:
        if not isinstance(d, Mapping) or not isinstance(d.get("indicators"), list) or \
                not isinstance(d.get("dimensions"), list):
            raise RegistryError(
                "an indicator registry is a mapping with the lists 'dimensions' and "
                "'indicators': see twin/score/registry_kz.yaml for the layout"
            )
        try:
            dims = tuple(
                Dimension(str(x["id"]), str(x["name"]), _weight(x.get("weight", 1.0), x["id"]))
                for x in d["dimensions"]
            )
            inds = tuple(_indicator(x) for x in d["indicators"])
        except KeyError as e:
            raise RegistryError(
                f"indicator registry entry lacks the field {e.args[0]!r}: every dimension "
                "needs id and name; every indicator needs id, name, dimension, unit, kind, "
                "direction, target and source"
            ) from None
        return cls(inds, dims)


def _weight(w, where) -> float:
    w = float(w)
    if not math.isfinite(w) or w < 0:
        raise RegistryError(f"weight {w!r} of {where!r} must be a finite number >= 0")
    return w


def _indicator(x: Mapping) -> Indicator:
    iid = str(x["id"])
    if x["kind"] not in _KINDS:
        raise RegistryError(f"indicator {iid!r}: kind must be one of {_KINDS}, not {x['kind']!r}")
    if x["direction"] not in _DIRECTIONS:
        raise RegistryError(
            f"indicator {iid!r}: direction must be 'higher' or 'lower', not {x['direction']!r}"
        )
    target = x["target"] or {}
    tv, tg = target.get("value"), target.get("growth")
    if (tv is None) == (tg is None):
        raise RegistryError(
            f"indicator {iid!r}: give exactly one of target.value or target.growth"
        )
    if tg is not None and x["kind"] != "flow":
        raise RegistryError(f"indicator {iid!r}: a growth target needs kind 'flow'")
    lo, hi = (list(x.get("bounds") or [None, None]) + [None, None])[:2]
    moved = x.get("projects")
    if moved is not None:
        if not isinstance(moved, Mapping) or not isinstance(moved.get("column"), str):
            raise RegistryError(
                f"indicator {iid!r}: projects must be {{column: <project_sites column>, "
                f"scale: <number>}}, e.g. {{column: investment_kzt, scale: 1.0e-9}}"
            )
        if x["kind"] != "flow":
            raise RegistryError(f"indicator {iid!r}: only a flow indicator can be moved by "
                                "projects (their amounts add up over the 12-month window)")
    return Indicator(
        id=iid,
        name=str(x["name"]),
        dimension=str(x["dimension"]),
        unit=str(x["unit"]),
        kind=str(x["kind"]),
        direction=str(x["direction"]),
        weight=_weight(x.get("weight", 1.0), iid),
        source=" ".join(str(x["source"]).split()),
        description=str(x.get("description", "")),
        target_value=None if tv is None else float(tv),
        target_growth=None if tg is None else float(tg),
        lower_bound=None if lo is None else float(lo),
        upper_bound=None if hi is None else float(hi),
        seasonal=bool(x.get("seasonal", False)),
        project_column=None if moved is None else moved["column"],
        project_scale=1.0 if moved is None else _scale(moved.get("scale", 1.0), iid),
    )


def _scale(v, iid) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        v = float("nan")
    if not math.isfinite(v):
        raise RegistryError(f"indicator {iid!r}: projects.scale must be a finite number")
    return v


@lru_cache(maxsize=16)
def _parse(key: str) -> Registry:
    return Registry.from_dict(json.loads(key))


def read_registry_doc(path: str | os.PathLike) -> dict:
    """The registry document in the YAML file at ``path`` (not yet validated)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise RegistryError(f"cannot read the indicator registry {str(path)!r} "
                            f"({e.strerror}): check the path") from e
    except yaml.YAMLError as e:
        raise RegistryError(f"{Path(path).name}: not valid YAML ({e}): fix the syntax") from e
    if not isinstance(data, dict):
        raise RegistryError(f"{Path(path).name}: expected a mapping with 'dimensions' and "
                            "'indicators' at the top")
    return data


@lru_cache(maxsize=1)
def _builtin_text() -> str:
    return json.dumps(read_registry_doc(BUILTIN_REGISTRY_PATH))


def builtin_registry_doc() -> dict:
    """A fresh copy of the built-in registry document."""
    return json.loads(_builtin_text())


def load_registry(path: str | os.PathLike | None = None) -> Registry:
    """Read and validate an indicator registry file (default: the built-in registry)."""
    doc = builtin_registry_doc() if path is None else read_registry_doc(path)
    return Registry.parse_cached(doc)
