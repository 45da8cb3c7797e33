"""The indicator registry: what the score measures, in which unit, which way is better.

The registry is data (``geodata/indicators.yaml``), read once into frozen dataclasses so the
rest of the score can trust it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from .errors import RegistryError

__all__ = ["Dimension", "Indicator", "Registry", "load_registry", "DEFAULT_REGISTRY_PATH"]

DEFAULT_REGISTRY_PATH = Path(__file__).resolve().parents[2] / "geodata" / "indicators.yaml"

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

    @classmethod
    def from_dict(cls, d: Mapping) -> Registry:
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
    )


@lru_cache(maxsize=8)
def _load(path: str) -> Registry:
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except OSError as e:
        raise RegistryError(f"cannot read the indicator registry {path!r}: {e}") from e
    return Registry.from_dict(data)


def load_registry(path: str | Path | None = None) -> Registry:
    """Read an indicator registry (default: ``geodata/indicators.yaml``)."""
    return _load(str(path or DEFAULT_REGISTRY_PATH))
