"""Regulations per functional zone type, read from an editable YAML document and validated.

A :class:`Regulation` says what a zone type permits (project sectors, land uses) and how
densely it may be built (max floor-area ratio, max floors, min green share). The
:class:`Regulations` set also holds the buffer distances (sanitary protection zones by hazard
class, water protection zone and strip). Both are frozen: a change makes a new object, which
is what plan versions record.

Each twin carries its own (``Twin.regulations``, stored in the twin file); a twin given none
uses the built-in Kazakh norms, ``norms_kz.yaml`` beside this module.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from .. import limits
from .errors import RegulationError, UnknownZoneType

__all__ = [
    "ZONE_TYPES",
    "HAZARD_CLASSES",
    "REGULATION_FIELDS",
    "Regulation",
    "Regulations",
    "load_regulations",
    "read_regulations_doc",
    "builtin_regulations_doc",
    "BUILTIN_REGULATIONS_PATH",
    "check_zone_type",
]

#: The nine functional zone types of a general plan in Kazakhstan (facts.md, "Planning rules
#: used in Kazakhstan"). The same strings are used for ``parcels.land_use``.
ZONE_TYPES = (
    "residential",
    "public_business",
    "industrial",
    "infrastructure",
    "recreational",
    "agricultural",
    "special",
    "protected",
    "reserve",
)
#: Sanitary hazard classes of industrial sites, most hazardous first.
HAZARD_CLASSES = ("I", "II", "III", "IV", "V")
#: Fields of a regulation that ``set_regulation`` may change.
REGULATION_FIELDS = (
    "permitted_sectors",
    "permitted_uses",
    "max_far",
    "max_floors",
    "min_green_share",
    "label",
)


#: The built-in regulations: Kazakh norms for the buffers, assumed defaults for the rest.
BUILTIN_REGULATIONS_PATH = Path(__file__).with_name("norms_kz.yaml")


def check_zone_type(zone_type: str) -> str:
    """Return ``zone_type`` if it is one of :data:`ZONE_TYPES`, else raise.

    Examples
    --------
    >>> check_zone_type("industrial")
    'industrial'
    """
    if zone_type not in ZONE_TYPES:
        raise UnknownZoneType(
            f"zone type {zone_type!r} is not one of the plan's zone types: use one of "
            f"{', '.join(ZONE_TYPES)}"
        )
    return zone_type


@dataclass(frozen=True)
class Regulation:
    """What one functional zone type permits.

    Examples
    --------
    >>> r = Regulation("industrial", permitted_sectors=("metallurgy",), max_far=1.0)
    >>> r.permits("metallurgy"), r.permits("housing")
    (True, False)
    """

    zone_type: str
    label: str = ""
    permitted_sectors: tuple[str, ...] = ()
    permitted_uses: tuple[str, ...] = ()
    max_far: float = 0.0
    max_floors: int = 0
    min_green_share: float = 0.0
    source: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def permits(self, sector: str) -> bool:
        """Whether a project of ``sector`` may be placed in this zone (case-insensitive)."""
        allowed = {s.lower() for s in self.permitted_sectors}
        return "*" in allowed or str(sector).strip().lower() in allowed

    def to_dict(self) -> dict:
        return {
            "label": self.label,
            "permitted_sectors": list(self.permitted_sectors),
            "permitted_uses": list(self.permitted_uses),
            "max_far": self.max_far,
            "max_floors": self.max_floors,
            "min_green_share": self.min_green_share,
            "source": dict(self.source),
        }


@dataclass(frozen=True)
class Regulations:
    """The regulations of every zone type plus the buffer distances.

    Examples
    --------
    >>> regs = load_regulations()
    >>> regs["industrial"].max_far > 0, regs.sanitary_m["I"]
    (True, 1000.0)
    >>> regs.set("industrial", "max_far", 1.2)["industrial"].max_far
    1.2
    """

    zones: MappingProxyType
    sanitary_m: MappingProxyType
    water_zone_m: float = 500.0
    water_strip_m: float = 100.0
    origin: str = "<memory>"
    buffer_sources: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def __getitem__(self, zone_type: str) -> Regulation:
        try:
            return self.zones[zone_type]
        except KeyError:
            check_zone_type(zone_type)
            raise UnknownZoneType(
                f"the regulations in {self.origin} have no block for zone type "
                f"{zone_type!r}: add one under 'zones:'"
            ) from None

    def __iter__(self):
        return iter(self.zones)

    def set(self, zone_type: str, field_name: str, value: Any) -> Regulations:
        """A copy with one field of one zone type's regulation changed (validated)."""
        check_zone_type(zone_type)
        if field_name not in REGULATION_FIELDS:
            raise RegulationError(
                f"{field_name!r} is not a regulation field: use one of "
                f"{', '.join(REGULATION_FIELDS)}"
            )
        current = self[zone_type].to_dict()
        current[field_name] = value
        current["source"] = {**current["source"], field_name: "set by a plan change"}
        new = _parse_zone(zone_type, current, where=f"set_regulation({zone_type!r})")
        return replace(self, zones=MappingProxyType({**self.zones, zone_type: new}))

    def to_dict(self) -> dict:
        """A plain dict in the YAML file's layout (round-trips through :func:`parse`)."""
        return {
            "format": 1,
            "buffers": {
                "sanitary_protection_m": dict(self.sanitary_m),
                "water_protection_zone_m": self.water_zone_m,
                "water_protection_strip_m": self.water_strip_m,
                "sources": dict(self.buffer_sources),
            },
            "zones": {z: r.to_dict() for z, r in self.zones.items()},
        }

    @classmethod
    def parse_cached(cls, doc: Any, origin: str = "<memory>") -> Regulations:
        """:meth:`parse`, validated once per distinct document."""
        try:
            key = json.dumps(doc, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise RegulationError(f"{origin}: the regulations are not plain data ({e}): give "
                                  "them as YAML or JSON") from None
        return _parse(key, origin)

    @classmethod
    def parse(cls, doc: Any, origin: str = "<memory>") -> Regulations:
        """Validate a loaded YAML document (a dict) and build :class:`Regulations`."""
        if not isinstance(doc, dict):
            raise RegulationError(
                f"{origin}: expected a mapping with 'zones:' and 'buffers:' at the top, got "
                f"{type(doc).__name__}: see twin/plan/norms_kz.yaml for the layout"
            )
        if doc.get("format", 1) != 1:
            raise RegulationError(
                f"{origin}: format {doc.get('format')!r} is not supported; "
                "this version reads format: 1"
            )
        zones_doc = doc.get("zones")
        if not isinstance(zones_doc, dict) or not zones_doc:
            raise RegulationError(
                f"{origin}: no 'zones:' mapping: add one block per zone "
                f"type ({', '.join(ZONE_TYPES)})"
            )
        unknown = [z for z in zones_doc if z not in ZONE_TYPES]
        if unknown:
            raise RegulationError(
                f"{origin}: unknown zone type(s) {', '.join(map(repr, unknown))} under "
                f"'zones:': use the plan's zone types ({', '.join(ZONE_TYPES)})"
            )
        missing = [z for z in ZONE_TYPES if z not in zones_doc]
        if missing:
            raise RegulationError(
                f"{origin}: no regulation for zone type(s) {', '.join(map(repr, missing))}: "
                "add a block for each under 'zones:' (every zone needs rules)"
            )
        zones = {z: _parse_zone(z, zones_doc[z], where=f"{origin}: zones.{z}") for z in ZONE_TYPES}

        buf = doc.get("buffers") or {}
        if not isinstance(buf, dict):
            raise RegulationError(f"{origin}: 'buffers:' must be a mapping")
        szz = buf.get(
            "sanitary_protection_m", {"I": 1000, "II": 500, "III": 300, "IV": 100, "V": 50}
        )
        if not isinstance(szz, dict) or set(map(str, szz)) != set(HAZARD_CLASSES):
            raise RegulationError(
                f"{origin}: buffers.sanitary_protection_m must give a distance in metres for "
                f"each hazard class {', '.join(HAZARD_CLASSES)} (e.g. {{I: 1000, II: 500, "
                "III: 300, IV: 100, V: 50}})"
            )
        sanitary = {
            str(k): _number(v, f"{origin}: buffers.sanitary_protection_m.{k}", lo=0.0)
            for k, v in szz.items()
        }
        ordered = [sanitary[c] for c in HAZARD_CLASSES]
        if ordered != sorted(ordered, reverse=True):
            raise RegulationError(
                f"{origin}: buffers.sanitary_protection_m must not grow from class I to V "
                f"(got {ordered}): class I is the most hazardous and needs the widest zone"
            )
        wz = _number(
            buf.get("water_protection_zone_m", 500),
            f"{origin}: buffers.water_protection_zone_m",
            lo=0.0,
        )
        ws = _number(
            buf.get("water_protection_strip_m", 100),
            f"{origin}: buffers.water_protection_strip_m",
            lo=0.0,
        )
        if ws > wz:
            raise RegulationError(
                f"{origin}: the water protection strip ({ws:g} m) is wider than the water "
                f"protection zone ({wz:g} m): the strip lies inside the zone, so make it "
                "narrower"
            )
        return cls(
            zones=MappingProxyType(zones),
            sanitary_m=MappingProxyType({c: sanitary[c] for c in HAZARD_CLASSES}),
            water_zone_m=wz,
            water_strip_m=ws,
            origin=origin,
            buffer_sources=MappingProxyType(dict(buf.get("sources") or {})),
        )


def _number(v: Any, where: str, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise RegulationError(f"{where}: expected a number, got {v!r}: write e.g. 1.2")
    if isinstance(v, int) and abs(v) > 10**300:  # float() would overflow
        raise RegulationError(f"{where}: a number of over 300 digits is out of range")
    v = float(v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = f"between {lo:g} and {hi:g}" if hi is not None else f"at least {lo:g}"
        raise RegulationError(f"{where}: {v:g} is out of range: it must be {rng}")
    return v


def _strings(v: Any, where: str) -> tuple[str, ...]:
    if v is None:
        return ()
    if not isinstance(v, (list, tuple)) or not all(isinstance(s, str) for s in v):
        raise RegulationError(
            f"{where}: expected a list of strings, got {v!r}: write e.g. [metallurgy, energy]"
        )
    return tuple(s.strip() for s in v)


def _parse_zone(zone_type: str, d: Any, where: str) -> Regulation:
    if not isinstance(d, dict):
        raise RegulationError(f"{where}: expected a mapping of regulation fields, got {d!r}")
    extra = [k for k in d if k not in (*REGULATION_FIELDS, "source")]
    if extra:
        raise RegulationError(
            f"{where}: unknown field(s) {', '.join(map(repr, extra))}: the fields are "
            f"{', '.join(REGULATION_FIELDS)} and source"
        )
    for required in ("max_far", "max_floors", "min_green_share"):
        if required not in d:
            raise RegulationError(
                f"{where}: missing {required!r}: give a value (mark it "
                "'assumed' under source: if it is not from a norm)"
            )
    floors = d["max_floors"]
    if isinstance(floors, bool) or not isinstance(floors, int) or floors < 0:
        raise RegulationError(
            f"{where}.max_floors: expected a whole number of floors >= 0, got {floors!r}"
        )
    floors = limits.number(floors, "max_floors", where, error=RegulationError)
    source = d.get("source") or {}
    if not isinstance(source, dict):
        raise RegulationError(
            f"{where}.source: expected a mapping {{field: where the value "
            f"comes from}}, got {source!r}"
        )
    return Regulation(
        zone_type=zone_type,
        label=str(d.get("label") or zone_type),
        permitted_sectors=_strings(d.get("permitted_sectors"), f"{where}.permitted_sectors"),
        permitted_uses=_strings(d.get("permitted_uses"), f"{where}.permitted_uses"),
        max_far=_number(d["max_far"], f"{where}.max_far", lo=0.0, hi=20.0),
        max_floors=int(floors),
        min_green_share=_number(d["min_green_share"], f"{where}.min_green_share", lo=0.0, hi=1.0),
        source=MappingProxyType({str(k): str(v) for k, v in source.items()}),
    )


@lru_cache(maxsize=16)
def _parse(key: str, origin: str) -> Regulations:
    return Regulations.parse(json.loads(key), origin=origin)


def read_regulations_doc(path: str | os.PathLike) -> dict:
    """The regulations document in the YAML file at ``path`` (not yet validated)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise RegulationError(
            f"cannot read regulations file {str(path)!r} ({e.strerror}): check the path"
        ) from e
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise RegulationError(f"{path.name}: not valid YAML ({e}): fix the syntax") from e
    return doc


@lru_cache(maxsize=1)
def _builtin_text() -> str:
    return json.dumps(read_regulations_doc(BUILTIN_REGULATIONS_PATH))


def builtin_regulations_doc() -> dict:
    """A fresh copy of the built-in regulations document (the Kazakh norms)."""
    return json.loads(_builtin_text())


def load_regulations(path: str | os.PathLike | None = None) -> Regulations:
    """Read and validate a regulations YAML file (default: the built-in Kazakh norms).

    Raises :class:`~twin.plan.errors.RegulationError` naming the file, the key and the fix.

    Examples
    --------
    >>> regs = load_regulations()
    >>> sorted(regs.zones) == sorted(ZONE_TYPES)
    True
    >>> regs["industrial"].permits("metallurgy")
    True
    """
    path = Path(path) if path is not None else BUILTIN_REGULATIONS_PATH
    return Regulations.parse_cached(read_regulations_doc(path), origin=path.name)
