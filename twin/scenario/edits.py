"""The edits a scenario is made of: frozen dataclasses, validated on construction, stored as
JSON. The edits are the record: a scenario is its baseline twin plus these, replayed in order.

Values that need no twin are checked here, every field of every edit, before anything is
stored: ids and texts, and numbers against the ranges of :mod:`twin.limits` (position,
investment, jobs, footprint, weights, regulation values), a rezoned area as a valid lon/lat
polygon. Those that need a twin (inside the region? a known sector? an existing project?)
are checked when the edit is applied to a scenario (:mod:`twin.scenario.engine`).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

import numpy as np
import shapely

from .. import limits
from ..plan.regulations import HAZARD_CLASSES, REGULATION_FIELDS, check_zone_type
from .errors import InvalidEdit, TooManyEdits

__all__ = ["Edit", "AddProject", "MoveProject", "RemoveProject", "Rezone", "SetRegulation",
           "SetScoreWeights", "EDIT_KINDS", "edit_from_dict", "edits_to_json",
           "edits_from_json", "check_count", "MAX_PARCEL_IDS", "MAX_AREA_VERTICES"]

#: Most parcel ids one rezone may name, and most vertices of a rezoned area.
MAX_PARCEL_IDS = 100_000
MAX_AREA_VERTICES = 100_000
#: Most ids one set_score_weights edit may weigh, and most sectors or uses one
#: set_regulation may list.
_MAX_ITEMS = 1000
_INT64 = 2**63


def _number(v: Any, field: str, what: str):
    return limits.number(v, field, what, error=InvalidEdit)


def _text(v: Any, what: str, **kw) -> str:
    return limits.text(v, what, error=InvalidEdit, **kw)


def _lonlat(lon: Any, lat: Any, what: str) -> tuple[float, float]:
    return _number(lon, "lon", what), _number(lat, "lat", what)


def _project_ref(v: Any, kind: str) -> str:
    """The id of a project the twin or the scenario holds (any one line of text: a user's
    imported layer may use ids a new project could not)."""
    return _text(v, f"{kind}: project_id", required=True)


def _hazard(h: Any, what: str) -> str:
    s = "" if h is None else _text(h, f"{what}: hazard class").strip().upper()
    if s and s not in HAZARD_CLASSES:
        raise InvalidEdit(f"{what}: hazard class {h!r} is not one of "
                          f"{', '.join(HAZARD_CLASSES)}; leave it blank for a plant with no "
                          "sanitary protection zone")
    return s


def _parcel_ids(v: Any) -> tuple:
    """Parcel ids as a tuple of whole numbers (int64) or one-line strings, as the parcels
    layer holds them."""
    if v is None:
        return ()
    if isinstance(v, (str, bytes, dict)) or not hasattr(v, "__iter__"):
        raise InvalidEdit(f"rezone: parcel_ids must be a list of parcel ids, got "
                          f"{type(v).__name__}: write e.g. [12, 13]")
    ids = tuple(x.item() if hasattr(x, "item") and not isinstance(x, str) else x for x in v)
    if len(ids) > MAX_PARCEL_IDS:
        raise InvalidEdit(f"rezone: {len(ids):,} parcel ids; one rezone takes at most "
                          f"{MAX_PARCEL_IDS:,}: split it, or rezone an area instead")
    for x in ids:
        if isinstance(x, bool) or not isinstance(x, (int, str)):
            raise InvalidEdit(f"rezone: parcel ids are whole numbers or strings, got "
                              f"{x!r}: write e.g. [12, 13]")
        if isinstance(x, int) and not -_INT64 <= x < _INT64:
            raise InvalidEdit("rezone: a parcel id is too large for a parcel id (64-bit "
                              "integers): check the ids")
        if isinstance(x, str):
            _text(x, "rezone: parcel id", max_length=limits.ID_MAX_LENGTH, required=True)
    return ids


def _area(wkb: Any) -> str:
    """A rezoned area as canonical hex WKB: a valid 2D polygon in lon/lat degrees."""
    if not isinstance(wkb, str):
        raise InvalidEdit(f"rezone: the area (geometry_wkb) must be hex WKB text, got "
                          f"{type(wkb).__name__}")
    try:
        # errstate, not warnings.catch_warnings: NaN coordinates make numpy warn, and
        # errstate is per thread; the bounds check below refuses them
        with np.errstate(invalid="ignore"):
            g = shapely.from_wkb(wkb)
    except Exception as e:  # shapely raises GEOSException (or ValueError) for bad bytes
        raise InvalidEdit(f"rezone: the area is not valid WKB ({str(e)[:200]})") from None
    if g is None or g.geom_type not in ("Polygon", "MultiPolygon") or g.is_empty:
        raise InvalidEdit("rezone: the area has no surface: give a polygon")
    n = shapely.get_num_coordinates(g)
    if n > MAX_AREA_VERTICES:
        raise InvalidEdit(f"rezone: the area has {n:,} vertices; at most "
                          f"{MAX_AREA_VERTICES:,} are accepted: simplify it")
    g = shapely.force_2d(g)
    x0, y0, x1, y1 = g.bounds
    if not all(map(math.isfinite, (x0, y0, x1, y1))) or x0 < -180 or x1 > 180 \
            or y0 < -90 or y1 > 90:
        raise InvalidEdit("rezone: the area's coordinates are not lon/lat degrees "
                          "(-180..180, -90..90): give it in EPSG:4326, lon first")
    if not g.is_valid:
        raise InvalidEdit(f"rezone: the area is not a valid polygon "
                          f"({shapely.is_valid_reason(g)}): fix it, e.g. with "
                          "shapely.make_valid")
    if g.area <= 0:
        raise InvalidEdit("rezone: the area has no surface: give a polygon")
    return shapely.to_wkb(g, hex=True)


def _strings(v: Any, what: str) -> tuple[str, ...]:
    if not isinstance(v, (list, tuple)) or len(v) > _MAX_ITEMS:
        raise InvalidEdit(f"{what}: give a list of at most {_MAX_ITEMS} names, e.g. "
                          "['metallurgy', 'energy']")
    return tuple(_text(x, f"{what} item", max_length=limits.ID_MAX_LENGTH,
                       required=True).strip() for x in v)


#: How set_regulation checks each field's value (the ranges are in twin.limits).
_REGULATION_VALUE = {
    "max_far": lambda v, w: _number(v, "max_far", w),
    "max_floors": lambda v, w: _number(v, "max_floors", w),
    "min_green_share": lambda v, w: _number(v, "min_green_share", w),
    "permitted_sectors": _strings,
    "permitted_uses": _strings,
    "label": lambda v, w: _text(v, f"{w}: label", required=True),
}


@dataclass(frozen=True)
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
    twin.scenario.errors.InvalidEdit: add_project 'x': investment_kzt is -1; it cannot be \
negative (it must lie in 0..1e+15 KZT)
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
        limits.identifier(self.id, "add_project: the project id", separators="_.:-",
                          error=InvalidEdit)
        what = f"add_project {self.id!r}"
        lon, lat = _lonlat(self.lon, self.lat, what)
        sector = _text(self.sector, f"{what}: the sector (e.g. 'metallurgy')",
                       max_length=limits.ID_MAX_LENGTH, required=True).strip()
        name = _text(self.name or self.id, f"{what}: the name")
        for k, v in (("lon", lon), ("lat", lat), ("sector", sector),
                     ("investment_kzt", _number(self.investment_kzt, "investment_kzt", what)),
                     ("jobs", _number(self.jobs, "jobs", what)),
                     ("hazard_class", _hazard(self.hazard_class, what)),
                     ("name", name), ("area_ha", _number(self.area_ha, "area_ha", what))):
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
        pid = _project_ref(self.project_id, self.kind)
        lon, lat = _lonlat(self.lon, self.lat, f"move_project {pid!r}")
        object.__setattr__(self, "project_id", pid)
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
        object.__setattr__(self, "project_id", _project_ref(self.project_id, self.kind))

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
        wkb = self.geometry_wkb
        if (wkb is not None and wkb != "") == bool(ids):
            raise InvalidEdit("rezone: give either an area or parcel ids (one of them)")
        if ids:
            object.__setattr__(self, "geometry_wkb", "")
        else:
            object.__setattr__(self, "geometry_wkb", _area(wkb))
        object.__setattr__(self, "parcel_ids", ids)
        object.__setattr__(self, "note", _text(self.note or "", "rezone: the note"))

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
        if not isinstance(self.field, str) or self.field not in REGULATION_FIELDS:
            raise InvalidEdit(f"set_regulation: {self.field!r} is not a regulation field: "
                              f"use one of {', '.join(REGULATION_FIELDS)}")
        value = _REGULATION_VALUE[self.field](
            self.value, f"set_regulation {self.zone_type} {self.field}")
        object.__setattr__(self, "value", value)

    def describe(self) -> str:
        return f"set {self.zone_type} {self.field} = {self.value!r}"


@dataclass(frozen=True)
class SetScoreWeights(Edit):
    """Weights of the region score's indicators and dimensions (ids not named keep theirs)."""

    #: ``{id: weight}`` or ``[(id, weight), ...]``; stored as sorted pairs.
    weights: Any = ()
    dimension_weights: Any = ()
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
            hint = f"set_score_weights: {name} must map ids to numbers"
            if items is None or len(items) > _MAX_ITEMS:
                raise InvalidEdit(f"{hint} (at most {_MAX_ITEMS}), got {type(v).__name__}: "
                                  "write e.g. {'investment': 2}")
            clean = {}
            for k, w in items:
                k = _text(k, f"{hint}: an id", max_length=limits.ID_MAX_LENGTH,
                          required=True)
                if k in clean:
                    raise InvalidEdit(f"{hint}: {k!r} is weighed twice: give each id once")
                clean[k] = _number(w, "score_weight", f"{hint}: {k!r}")
            object.__setattr__(self, name, tuple(sorted(clean.items())))
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
    if not isinstance(d, dict) or not isinstance(d.get("kind"), str):
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
    """The edits stored as :func:`edits_to_json` wrote them, each validated again (a row
    may have been written by an older version, or edited by hand)."""
    try:
        items = json.loads(text)
    except (TypeError, ValueError, RecursionError) as e:
        raise InvalidEdit(f"the stored edits are not JSON ({str(e)[:120]})") from None
    if not isinstance(items, list):
        raise InvalidEdit(f"the stored edits are a {type(items).__name__}, not a list")
    check_count(len(items))
    return [edit_from_dict(d) for d in items]


def check_count(n: int) -> None:
    """Refuse a scenario of more than :data:`twin.limits.MAX_EDITS` edits."""
    if n > limits.MAX_EDITS:
        raise TooManyEdits(f"a scenario holds at most {limits.MAX_EDITS} edits, this one "
                           f"{n}: split it into several scenarios")

