"""The edits a scenario is made of: frozen dataclasses, validated on construction, stored as
JSON. The edits are the record: a scenario is its baseline twin plus these, replayed in order.

Values that need no twin (a hazard class, a sign, a zone type) are checked here; those that
need one (inside the region? a known sector? an existing project?) are checked when the edit
is applied to a scenario (:mod:`twin.scenario.engine`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import shapely

from ..plan.regulations import HAZARD_CLASSES, REGULATION_FIELDS, check_zone_type
from .errors import InvalidEdit

__all__ = ["Edit", "AddProject", "MoveProject", "RemoveProject", "Rezone", "SetRegulation",
           "SetScoreWeights", "EDIT_KINDS", "edit_from_dict", "edits_to_json",
           "edits_from_json"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def _lonlat(lon: Any, lat: Any, what: str) -> tuple[float, float]:
    try:
        lon, lat = float(lon), float(lat)
    except (TypeError, ValueError):
        raise InvalidEdit(f"{what}: lon and lat must be numbers, got {lon!r}, {lat!r}") from None
    if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lon) > 180 or abs(lat) > 90:
        raise InvalidEdit(f"{what}: ({lon}, {lat}) is not a lon/lat position: give longitude "
                          "(-180..180) then latitude (-90..90)")
    return lon, lat


def _hazard(h: Any, what: str) -> str:
    s = "" if h is None else str(h).strip().upper()
    if s and s not in HAZARD_CLASSES:
        raise InvalidEdit(f"{what}: hazard class {h!r} is not one of "
                          f"{', '.join(HAZARD_CLASSES)}; leave it blank for a plant with no "
                          "sanitary protection zone")
    return s


def _parcel_ids(v: Any) -> tuple:
    """Parcel ids as a tuple of whole numbers or strings (as the parcels layer holds them)."""
    if v is None:
        return ()
    if isinstance(v, (str, bytes, dict)) or not hasattr(v, "__iter__"):
        raise InvalidEdit(f"rezone: parcel_ids must be a list of parcel ids, got {v!r}: "
                          "write e.g. [12, 13]")
    ids = tuple(x.item() if hasattr(x, "item") and not isinstance(x, str) else x for x in v)
    bad = [x for x in ids if isinstance(x, bool) or not isinstance(x, (int, str))]
    if bad:
        raise InvalidEdit(f"rezone: parcel ids are whole numbers or strings, got "
                          f"{bad[0]!r}: write e.g. [12, 13]")
    return ids


def _count(v: Any, what: str, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
            or v != int(v):
        raise InvalidEdit(f"{what}: {name} must be a whole number, got {v!r}")
    if v < 0:
        raise InvalidEdit(f"{what}: {name} is {v!r}; it cannot be negative")
    return int(v)


class Edit:
    """Base of every edit: a ``kind`` and a JSON form."""

    kind: ClassVar[str] = ""

    def to_dict(self) -> dict:
        d = {"kind": self.kind, **asdict(self)}
        for k, v in d.items():  # tuples become lists in JSON anyway; be explicit
            if isinstance(v, tuple):
                d[k] = [list(x) if isinstance(x, tuple) else x for x in v]
        return d

    def describe(self) -> str:
        return self.kind


@dataclass(frozen=True)
class AddProject(Edit):
    """Add an investment project at (``lon``, ``lat``).

    ``area_ha`` is the site's footprint, counted as land take (0 when unknown).
    ``hazard_class`` I-V gives it a sanitary protection zone (blank: none).

    Examples
    --------
    >>> AddProject("alu-2", 71.2, 51.3, "metallurgy", 200_000_000_000, 250, "II").kind
    'add_project'
    >>> AddProject("x", 71.2, 51.3, "metallurgy", -1, 0)
    Traceback (most recent call last):
    twin.scenario.errors.InvalidEdit: add_project 'x': investment_kzt is -1; it cannot be negative
    """

    id: str
    lon: float
    lat: float
    sector: str
    investment_kzt: int = 0
    jobs: int = 0
    hazard_class: str = ""
    name: str = ""
    area_ha: float = 0.0
    kind: ClassVar[str] = "add_project"

    def __post_init__(self):
        what = f"add_project {self.id!r}"
        if not isinstance(self.id, str) or not _ID.match(self.id):
            raise InvalidEdit(f"{what}: a project id is 1-64 letters, digits, '_', '.', ':' "
                              "or '-', starting with a letter or digit")
        lon, lat = _lonlat(self.lon, self.lat, what)
        if not isinstance(self.sector, str) or not self.sector.strip():
            raise InvalidEdit(f"{what}: give the project's sector, e.g. 'metallurgy'")
        area = self.area_ha
        if isinstance(area, bool) or not isinstance(area, (int, float)) \
                or not math.isfinite(area) or area < 0:
            raise InvalidEdit(f"{what}: area_ha must be a number >= 0, got {area!r}")
        for k, v in (("lon", lon), ("lat", lat), ("sector", self.sector.strip()),
                     ("investment_kzt", _count(self.investment_kzt, what, "investment_kzt")),
                     ("jobs", _count(self.jobs, what, "jobs")),
                     ("hazard_class", _hazard(self.hazard_class, what)),
                     ("name", str(self.name or self.id)), ("area_ha", float(area))):
            object.__setattr__(self, k, v)

    def describe(self) -> str:
        hz = f", class {self.hazard_class}" if self.hazard_class else ""
        return (f"add {self.sector} project {self.id!r} at ({self.lon:.4f}, {self.lat:.4f}): "
                f"{self.investment_kzt / 1e9:,.1f} bn KZT, {self.jobs:,} jobs{hz}")


@dataclass(frozen=True)
class MoveProject(Edit):
    """Move project ``project_id`` to (``lon``, ``lat``); everything else stays."""

    project_id: str
    lon: float
    lat: float
    kind: ClassVar[str] = "move_project"

    def __post_init__(self):
        lon, lat = _lonlat(self.lon, self.lat, f"move_project {self.project_id!r}")
        object.__setattr__(self, "project_id", str(self.project_id))
        object.__setattr__(self, "lon", lon)
        object.__setattr__(self, "lat", lat)

    def describe(self) -> str:
        return f"move project {self.project_id!r} to ({self.lon:.4f}, {self.lat:.4f})"


@dataclass(frozen=True)
class RemoveProject(Edit):
    """Remove project ``project_id``."""

    project_id: str
    kind: ClassVar[str] = "remove_project"

    def __post_init__(self):
        object.__setattr__(self, "project_id", str(self.project_id))

    def describe(self) -> str:
        return f"remove project {self.project_id!r}"


@dataclass(frozen=True)
class Rezone(Edit):
    """Rezone an area (lon/lat polygon as hex WKB) or a set of parcels to ``zone_type``.

    Build it with :meth:`Scenario.rezone`, which accepts shapely geometries and GeoSeries.
    """

    zone_type: str
    geometry_wkb: str = ""
    parcel_ids: tuple = ()
    note: str = ""
    kind: ClassVar[str] = "rezone"

    def __post_init__(self):
        check_zone_type(self.zone_type)
        ids = _parcel_ids(self.parcel_ids)
        if bool(self.geometry_wkb) == bool(ids):
            raise InvalidEdit("rezone: give either an area or parcel ids (one of them)")
        if self.geometry_wkb:
            try:
                g = shapely.from_wkb(self.geometry_wkb)
            except Exception as e:  # shapely raises GEOSException for bad bytes
                raise InvalidEdit(f"rezone: the area is not valid WKB ({e})") from None
            if g is None or g.is_empty or g.area <= 0:
                raise InvalidEdit("rezone: the area has no surface: give a polygon")
        object.__setattr__(self, "parcel_ids", ids)

    @property
    def geometry(self):
        """The area in lon/lat, or None for a rezone by parcels."""
        return shapely.from_wkb(self.geometry_wkb) if self.geometry_wkb else None

    def describe(self) -> str:
        what = (f"{len(self.parcel_ids)} parcel(s)" if self.parcel_ids else "an area")
        return f"rezone {what} to {self.zone_type}" + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class SetRegulation(Edit):
    """Set one field of one zone type's regulation (e.g. industrial ``max_far`` 1.2)."""

    zone_type: str
    field: str
    value: Any
    kind: ClassVar[str] = "set_regulation"

    def __post_init__(self):
        check_zone_type(self.zone_type)
        if self.field not in REGULATION_FIELDS:
            raise InvalidEdit(f"set_regulation: {self.field!r} is not a regulation field: "
                              f"use one of {', '.join(REGULATION_FIELDS)}")
        if isinstance(self.value, list):
            object.__setattr__(self, "value", tuple(self.value))

    def describe(self) -> str:
        return f"set {self.zone_type} {self.field} = {self.value!r}"


@dataclass(frozen=True)
class SetScoreWeights(Edit):
    """Weights of the region score's indicators and dimensions (ids not named keep theirs)."""

    weights: tuple = ()
    dimension_weights: tuple = ()
    kind: ClassVar[str] = "set_score_weights"

    def __post_init__(self):
        for name in ("weights", "dimension_weights"):
            v = getattr(self, name)
            if isinstance(v, dict):
                items = list(v.items())
            elif isinstance(v, (list, tuple)) and all(
                    isinstance(x, (list, tuple)) and len(x) == 2 for x in v):
                items = list(v)
            else:
                items = None
            try:
                if items is None or any(isinstance(w, bool) for _, w in items):
                    raise TypeError
                clean = tuple(sorted((str(k), float(w)) for k, w in items))
            except (TypeError, ValueError):
                raise InvalidEdit(f"set_score_weights: {name} must map ids to numbers, got "
                                  f"{v!r}: write e.g. {{'investment': 2}}") from None
            for k, w in clean:
                if not math.isfinite(w) or w < 0:
                    raise InvalidEdit(f"set_score_weights: weight of {k!r} is {w!r}: use a "
                                      "finite number >= 0")
            object.__setattr__(self, name, clean)
        if not self.weights and not self.dimension_weights:
            raise InvalidEdit("set_score_weights: give weights or dimension_weights")

    def describe(self) -> str:
        parts = [f"{k}={w:g}" for k, w in self.weights + self.dimension_weights]
        return "score weights " + ", ".join(parts)


EDIT_KINDS: dict[str, type[Edit]] = {c.kind: c for c in (
    AddProject, MoveProject, RemoveProject, Rezone, SetRegulation, SetScoreWeights)}


def edit_from_dict(d: dict) -> Edit:
    """An edit from its JSON form (``{"kind": "add_project", ...}``), validated.

    Examples
    --------
    >>> e = edit_from_dict({"kind": "remove_project", "project_id": "p1"})
    >>> e, edit_from_dict(e.to_dict()) == e
    (RemoveProject(project_id='p1'), True)
    """
    if not isinstance(d, dict) or "kind" not in d:
        raise InvalidEdit(f"an edit is an object with a 'kind' (one of {', '.join(EDIT_KINDS)})"
                          f", got {d!r}")
    cls = EDIT_KINDS.get(d["kind"])
    if cls is None:
        raise InvalidEdit(f"unknown edit kind {d['kind']!r}: use one of {', '.join(EDIT_KINDS)}")
    names = {f.name for f in fields(cls)}
    extra = sorted(set(d) - names - {"kind"})
    if extra:
        raise InvalidEdit(f"{d['kind']}: unknown field(s) {', '.join(extra)}; it takes "
                          f"{', '.join(sorted(names))}")
    args = {k: v for k, v in d.items() if k != "kind"}
    if cls is SetScoreWeights:
        for k in ("weights", "dimension_weights"):
            if isinstance(args.get(k), list):  # JSON pairs [[id, weight], ...]
                args[k] = tuple(tuple(x) if isinstance(x, list) else x for x in args[k])
    try:
        return cls(**args)
    except TypeError as e:
        raise InvalidEdit(f"{d['kind']}: {e}") from None


def edits_to_json(edits) -> str:
    return json.dumps([e.to_dict() for e in edits], ensure_ascii=False, sort_keys=True)


def edits_from_json(text: str) -> list[Edit]:
    return [edit_from_dict(d) for d in json.loads(text)]

