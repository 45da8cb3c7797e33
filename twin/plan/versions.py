"""Plan versions: the changes that make them, their storage in the twin file, and a
semantic diff ("12 parcels, 340 ha, in North district went from agricultural to
industrial; industrial FAR 1.0 → 1.2").

A version is its parent plus one change. The changes are the record: they are stored as
JSON rows of an attribute table (``plan_versions``) in the twin's store, and a version
is rebuilt by replaying them on the base zones and regulations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..store import DuplicateKey, Table, retrying
from .errors import PlanVersionError
from .regulations import REGULATION_FIELDS, check_zone_type

__all__ = [
    "Rezone",
    "SetRegulation",
    "PlanDiff",
    "change_from_json",
    "zone_transitions",
    "VERSIONS_TABLE",
    "VERSION_COLUMNS",
    "save_versions",
    "PLAN_VERSIONS",
]

VERSIONS_TABLE = "plan_versions"
VERSION_COLUMNS = [
    "plan_id",
    "version",
    "parent",
    "kind",
    "change",
    "message",
    "created_utc",
    "base_token",
]
#: How the store keeps plan versions: one row per plan and version (the key).
PLAN_VERSIONS = Table(VERSIONS_TABLE, (("plan_id", "text"), ("version", "int"),
                                       ("parent", "int"), ("kind", "text"), ("change", "text"),
                                       ("message", "text"), ("created_utc", "text"),
                                       ("base_token", "text")), key=("plan_id", "version"))


@dataclass(frozen=True)
class Rezone:
    """Rezone an area (lon/lat WKB, hex) or a set of parcels to ``zone_type``."""

    zone_type: str
    geometry_wkb: str = ""
    parcel_ids: tuple = ()
    note: str = ""
    kind = "rezone"

    def __post_init__(self):
        check_zone_type(self.zone_type)

    @property
    def geometry(self):
        """The rezoned area in lon/lat."""
        return shapely.from_wkb(bytes.fromhex(self.geometry_wkb))

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": self.kind,
                "zone_type": self.zone_type,
                "geometry_wkb": self.geometry_wkb,
                "parcel_ids": [_plain(p) for p in self.parcel_ids],
                "note": self.note,
            }
        )

    def describe(self) -> str:
        what = f"{len(self.parcel_ids):,} parcels" if self.parcel_ids else "an area"
        return f"rezone {what} to {self.zone_type}" + (f" ({self.note})" if self.note else "")


@dataclass(frozen=True)
class SetRegulation:
    """Set one field of one zone type's regulation."""

    zone_type: str
    field: str
    value: Any
    note: str = ""
    kind = "set_regulation"

    def __post_init__(self):
        check_zone_type(self.zone_type)
        if self.field not in REGULATION_FIELDS:
            from .errors import RegulationError

            raise RegulationError(
                f"{self.field!r} is not a regulation field: use one of "
                f"{', '.join(REGULATION_FIELDS)}"
            )

    def to_json(self) -> str:
        v = list(self.value) if isinstance(self.value, (list, tuple)) else self.value
        return json.dumps(
            {
                "kind": self.kind,
                "zone_type": self.zone_type,
                "field": self.field,
                "value": v,
                "note": self.note,
            }
        )

    def describe(self) -> str:
        return (
            f"set {self.zone_type} {_FIELD_LABEL.get(self.field, self.field)} to "
            f"{_fmt(self.value)}" + (f" ({self.note})" if self.note else "")
        )


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def change_from_json(text: str):
    """Rebuild a change from its stored JSON.

    Examples
    --------
    >>> change_from_json(SetRegulation("industrial", "max_far", 1.2).to_json())
    SetRegulation(zone_type='industrial', field='max_far', value=1.2, note='')
    """
    d = json.loads(text)
    kind = d.pop("kind", None)
    if kind == "rezone":
        return Rezone(
            d["zone_type"],
            d.get("geometry_wkb", ""),
            tuple(d.get("parcel_ids", ())),
            d.get("note", ""),
        )
    if kind == "set_regulation":
        v = d["value"]
        return SetRegulation(
            d["zone_type"], d["field"], tuple(v) if isinstance(v, list) else v, d.get("note", "")
        )
    raise PlanVersionError(
        f"stored plan change of kind {kind!r} is unknown: the twin file "
        "was written by a newer version; upgrade aqmola-twin"
    )


_FIELD_LABEL = {
    "max_far": "FAR",
    "max_floors": "max floors",
    "min_green_share": "min green share",
    "permitted_sectors": "permitted sectors",
    "permitted_uses": "permitted uses",
    "label": "label",
}


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}" if v != int(v) else f"{v:.1f}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(map(str, v)) + "]"
    return str(v)


def zone_transitions(z1: gpd.GeoDataFrame, z2: gpd.GeoDataFrame) -> pd.DataFrame:
    """Hectares per district that changed zone type between two zone layers (same metric
    CRS). Only zones whose id or geometry changed are intersected, so a small rezone of a
    large plan costs little.

    Examples
    --------
    >>> from shapely import box
    >>> a = gpd.GeoDataFrame({"id": ["d:ag"], "zone_type": ["agricultural"],
    ...     "district_id": ["d"]}, geometry=[box(0, 0, 1000, 1000)], crs=3857)
    >>> b = gpd.GeoDataFrame({"id": ["d:ag", "d:in"], "zone_type": ["agricultural",
    ...     "industrial"], "district_id": ["d", "d"]},
    ...     geometry=[box(0, 0, 1000, 500), box(0, 500, 1000, 1000)], crs=3857)
    >>> zone_transitions(a, b).to_dict("records")
    [{'district_id': 'd', 'from_zone': 'agricultural', 'to_zone': 'industrial', 'hectares': 50.0}]
    """
    g1 = dict(zip(z1["id"], z1.geometry.values, strict=True))
    same2 = np.array(
        [
            i in g1 and bool(shapely.equals_exact(g1[i], g, 0))
            for i, g in zip(z2["id"], z2.geometry.values, strict=True)
        ],
        dtype=bool,
    )
    ids2 = set(z2["id"][same2])
    same1 = z1["id"].isin(ids2).to_numpy()
    a, b = z1[~same1], z2[~same2]
    cols = ["district_id", "from_zone", "to_zone", "hectares"]
    if a.empty or b.empty:
        return pd.DataFrame(columns=cols)
    ga, gb = np.asarray(a.geometry.values), np.asarray(b.geometry.values)
    ib, ia = shapely.STRtree(ga).query(gb, predicate="intersects")
    ta, tb = a["zone_type"].to_numpy()[ia], b["zone_type"].to_numpy()[ib]
    diff = ta != tb
    ia, ib = ia[diff], ib[diff]
    ha = shapely.area(shapely.intersection(ga[ia], gb[ib])) / 1e4
    df = pd.DataFrame(
        {
            "district_id": b["district_id"].to_numpy()[ib],
            "from_zone": ta[diff],
            "to_zone": tb[diff],
            "hectares": ha,
        }
    )
    df = df[df["hectares"] > 1e-6]
    return df.groupby(cols[:3], as_index=False)["hectares"].sum()


@dataclass(frozen=True)
class PlanDiff:
    """What changed between two versions of a plan, in planning terms.

    ``zones``: one row per district and (from, to) zone type with hectares and, where the
    twin has parcels, the parcels that changed zone. ``regulations``: one row per changed
    field.
    """

    plan_id: str
    v1: int
    v2: int
    zones: pd.DataFrame
    regulations: pd.DataFrame

    def lines(self) -> list[str]:
        """One sentence per change, e.g. "12 parcels, 340 ha, in North district went
        from agricultural to industrial" or "industrial FAR 1.0 → 1.2"."""
        out = []
        for r in self.zones.itertuples(index=False):
            n = int(r.parcels) if not pd.isna(r.parcels) else 0
            ha = f"{r.hectares:,.0f} ha" if r.hectares >= 1 else f"{r.hectares:,.2f} ha"
            what = f"{n:,} parcel{'s' if n != 1 else ''}, {ha}," if n else ha
            out.append(f"{what} in {r.district} went from {r.from_zone} to {r.to_zone}")
        for r in self.regulations.itertuples(index=False):
            label = _FIELD_LABEL.get(r.field, r.field)
            if isinstance(r.before, (list, tuple)) and isinstance(r.after, (list, tuple)):
                added = [x for x in r.after if x not in r.before]
                removed = [x for x in r.before if x not in r.after]
                parts = [f"+ {', '.join(added)}"] * bool(added) + [
                    f"− {', '.join(removed)}"
                ] * bool(removed)
                out.append(f"{r.zone_type} {label}: {'; '.join(parts) or 'reordered'}")
            else:
                out.append(f"{r.zone_type} {label} {_fmt(r.before)} → {_fmt(r.after)}")
        return out

    def __str__(self) -> str:
        head = f"plan {self.plan_id!r} v{self.v1} → v{self.v2}"
        body = self.lines()
        return head + (
            ": no changes" if not body else ":\n" + "\n".join(f"  - {line}" for line in body)
        )

    @property
    def empty(self) -> bool:
        return self.zones.empty and self.regulations.empty


def regulation_changes(r1, r2) -> pd.DataFrame:
    """Changed regulation fields between two :class:`Regulations` sets."""
    rows = []
    for z in r1.zones:
        a, b = r1[z].to_dict(), r2[z].to_dict()
        for f in REGULATION_FIELDS:
            if a[f] != b[f]:
                rows.append({"zone_type": z, "field": f, "before": a[f], "after": b[f]})
    return pd.DataFrame(rows, columns=["zone_type", "field", "before", "after"])


def save_versions(tw, plan_id: str, records: list[dict], saved: int, *,
                  into_store: bool = True) -> int:
    """Store plan ``plan_id``'s versions past the first ``saved`` in ``tw.tables`` and,
    when the twin is stored (and ``into_store``), in its store in one transaction (refused
    if another session saved versions of this plan since). Returns how many were written."""
    new = records[saved:]
    table = tw.tables.get(VERSIONS_TABLE)
    ours = pd.DataFrame(records, columns=VERSION_COLUMNS)
    others = (
        table[table["plan_id"].astype(str) != plan_id]
        if table is not None
        else pd.DataFrame(columns=VERSION_COLUMNS)
    )
    st = tw.store
    if into_store and st is not None and st.exists() and new:
        try:
            for attempt in retrying():  # a collision with another writer: again
                with attempt, st.transaction() as tx:
                    tx.ensure(PLAN_VERSIONS)
                    have = {int(r[0]) for r in tx.select(VERSIONS_TABLE, ["version"],
                                                          {"plan_id": plan_id})}
                    if have - {int(r["version"]) for r in records[:saved]}:
                        raise DuplicateKey("versions this session has not seen")
                    tx.insert(VERSIONS_TABLE, VERSION_COLUMNS,
                              [tuple(_plain(r[c]) for c in VERSION_COLUMNS) for r in new])
        except DuplicateKey:
            raise PlanVersionError(
                f"{st.describe()} holds versions of plan {plan_id!r} that this session "
                "has not seen (another session saved): reopen the twin and apply your "
                "changes again"
            ) from None
        tw.noted_write(tx.changes)
    tw.tables[VERSIONS_TABLE] = (
        pd.concat([others.astype(object), ours.astype(object)], ignore_index=True)
        if len(others)
        else ours
    )
    return len(new)


