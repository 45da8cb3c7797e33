"""Make a region's own table fit a layer of the twin: convert values, derive what can be
derived.

Real data arrives as it is kept: a population as text ("12500"), ids that are numbers,
names missing here and there, no column for a district's area or a settlement's district.
:func:`conform_layer` turns such a table into one :meth:`Twin.add_layer` accepts:

* every declared column of the layer's schema is converted to its kind (text, whole
  number, number, yes/no); a value that cannot be converted is reported with its row and
  column (:class:`ConversionError`), never dropped or guessed;
* what can be derived is derived, not demanded: areas (in the twin's equal-area CRS),
  district centres, a district's ``kind`` from its names, the ``district_id`` of a
  settlement, site or zone by where it lies, an ``id`` slug from the name, provenance
  defaults; each derivation is a line of :attr:`Conformed.notes`.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import box
>>> d = gpd.GeoDataFrame({"name": ["North district", "Lake City C.A."]},
...                      geometry=[box(76, 52, 77, 53), box(77, 52, 77.2, 52.2)], crs=4326)
>>> out = conform_layer("districts", d, source="akimat GIS, 2025")
>>> out.gdf[["id", "name", "kind"]].values.tolist()
[['north-district', 'North district', 'district'], ['lake-city-c-a', 'Lake City C.A.', 'city']]
>>> round(float(out.gdf["area_km2"].iloc[1]))   # 0.2 x 0.2 degrees at 52 N
305
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .crs import STORAGE_CRS, analysis_crs_of, to_metric, to_storage
from .errors import CRSError, MissingCRS, SchemaError
from .schema import CORE_SCHEMAS

__all__ = ["Conformed", "ConversionError", "conform_layer", "slug", "unit_kind",
           "locate_centres", "representative_points", "MAX_REPORTED"]

#: Bad values listed one by one in a :class:`ConversionError`; the rest are counted.
MAX_REPORTED = 20

# Words that say what kind of unit a district row is, in English, Russian and Kazakh (the
# languages of Kazakhstan's boundary data); any other name leaves the kind "unit".
_DISTRICT_WORDS = re.compile(r"\b(district|raion|rayon|audany)\b|район|ауданы", re.I)
_CITY_WORDS = re.compile(
    r"\b(city|town|municipality|c\.\s?a\.|public administration)(\W|$)|қ\.\s?[әа]\.|"
    r"г\.\s?а\.|қалалық|қаласы|город|городская|әкімдігі|әкімшілігі", re.I)


class ConversionError(SchemaError):
    """Values of a table that cannot be converted to their column's kind; the message lists
    each (row, column, value) and how to fix them."""


@dataclass
class Conformed:
    """A conformed layer and what was done to it, one line per derivation."""

    gdf: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)


def slug(text: str) -> str:
    """An id made of a name: lower-case letters and digits joined by ``-``.

    >>> slug("Lake District"), slug("Көл ауданы")
    ('lake-district', 'көл-ауданы')
    """
    t = unicodedata.normalize("NFKC", str(text)).lower()
    return re.sub(r"[^\w]+", "-", t).strip("-_") or "row"


def unit_kind(*names) -> str:
    """``district`` or ``city`` from a unit's names, ``unit`` when they do not say.

    >>> unit_kind("Lake City C.A.", "Көл қалалық әкімдігі"), unit_kind("Lake District")
    ('city', 'district')
    >>> unit_kind("Astana")
    'unit'
    """
    text = " ".join(str(n) for n in names if isinstance(n, str))
    if _DISTRICT_WORDS.search(text):
        return "district"
    if _CITY_WORDS.search(text):
        return "city"
    return "unit"


# -- value conversion ----------------------------------------------------------------------
_SPACES = re.compile(r"[\s\u00a0\u202f']")
_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def _missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) or (
        isinstance(v, str) and not v.strip())


def _number(v) -> float:
    """A number from a value as real data writes it: ``12 500``, ``1,200``, ``3,5``."""
    if isinstance(v, (bool, np.bool_)):
        raise ValueError("a yes/no value is not a number")
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    t = _SPACES.sub("", str(v))
    if _GROUPED.match(t):
        t = t.replace(",", "")
    elif t.count(",") == 1 and "." not in t:
        t = t.replace(",", ".")  # a decimal comma
    x = float(t)
    if not math.isfinite(x):
        raise ValueError("not a finite number")
    return x


def _whole(v) -> int:
    x = _number(v)
    if x != int(x):
        raise ValueError("not a whole number")
    return int(x)


_TRUE = {"true", "t", "yes", "y", "1", "да", "иә"}
_FALSE = {"false", "f", "no", "n", "0", "нет", "жоқ"}


def _flag(v) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer, float, np.floating)) and v in (0, 1):
        return bool(v)
    t = str(v).strip().lower()
    if t in _TRUE or t in _FALSE:
        return t in _TRUE
    raise ValueError("not yes/no (true/false, 1/0)")


def _text(v) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))  # an id read as 1234.0 is "1234"
    return str(v).strip()


_CONVERT = {"str": _text, "int": _whole, "float": _number, "bool": _flag}
_KIND_WORD = {"str": "text", "int": "a whole number", "float": "a number", "bool": "yes/no"}


def _convert(gdf, kinds: dict[str, str], rows: np.ndarray, layer: str) -> pd.DataFrame:
    """Each declared column converted to its kind; missing stays missing (NaN/None)."""
    bad: list[tuple[int, str, object, str]] = []
    out = {}
    for col, kind in kinds.items():
        if col not in gdf.columns:
            continue
        s = gdf[col]
        if kind == "bool" and pd.api.types.is_bool_dtype(s):
            out[col] = s
            continue
        if kind in ("int", "float") and pd.api.types.is_numeric_dtype(s) and \
                not pd.api.types.is_bool_dtype(s):
            nums = s.to_numpy(dtype=float)
            if kind == "int":
                frac = np.isfinite(nums) & (nums != np.round(nums))
                for j in np.flatnonzero(frac):
                    bad.append((rows[j], col, s.iloc[j], _KIND_WORD[kind]))
            out[col] = pd.Series(nums, index=s.index)
            continue
        conv = _CONVERT[kind]
        vals: list = []
        for i, v in enumerate(s.tolist()):
            if _missing(v):
                vals.append(None)
                continue
            try:
                vals.append(conv(v))
            except (TypeError, ValueError, OverflowError):
                bad.append((rows[i], col, v, _KIND_WORD[kind]))
                vals.append(None)
        out[col] = pd.Series(vals, index=s.index, dtype=object if kind in ("str", "bool")
                             else float)
    if bad:
        shown = "; ".join(f"row {r}, column {c!r}: {v!r} is not {w}"
                          for r, c, v, w in bad[:MAX_REPORTED])
        more = f"; and {len(bad) - MAX_REPORTED} more" if len(bad) > MAX_REPORTED else ""
        raise ConversionError(
            f"layer {layer!r}: {len(bad)} value(s) cannot be converted ({shown}{more}): fix "
            "them in the source file, or map another column"
        )
    return pd.DataFrame(out, index=gdf.index)


def _finish(s: pd.Series, kind: str) -> pd.Series:
    """A converted column in its final dtype: whole numbers as int64 where none is missing
    (a float column where some are: a count that is not known is not 0)."""
    if kind == "int":
        v = s.to_numpy(dtype=float)
        return pd.Series(v.astype(np.int64), index=s.index) if np.isfinite(v).all() else \
            pd.Series(v, index=s.index)
    if kind == "float":
        return s.astype(float)
    if kind == "bool":
        return s.astype(object).where(s.notna(), False).astype(bool)
    return s.astype(object)


# -- derivations ---------------------------------------------------------------------------
def _metric(gdf, twin):
    try:
        crs = twin.analysis_crs if twin is not None else analysis_crs_of(gdf)
    except CRSError:  # the twin's first layer: nothing to centre on but this one
        crs = analysis_crs_of(gdf)
    return to_metric(gdf, crs)


def _unique(ids: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i in ids:
        n = seen.get(i, 0)
        seen[i] = n + 1
        out.append(i if n == 0 else f"{i}-{n + 1}")
    return out


def representative_points(geoms) -> np.ndarray:
    """A point on each geometry (itself for a point). An invalid polygon has no reliable one,
    so its repaired form gives it; the geometry itself is repaired, or refused, when the
    layer is validated."""
    geoms = np.asarray(geoms, dtype=object)
    bad = ~shapely.is_missing(geoms) & ~shapely.is_valid(geoms)
    if bad.any():
        geoms = geoms.copy()
        geoms[bad] = shapely.make_valid(geoms[bad])
    return shapely.point_on_surface(geoms)


def _district_of(gdf, twin) -> np.ndarray:
    """The id of the district holding each row's representative point ('' where none)."""
    d = twin["districts"]
    pts = representative_points(gdf.geometry.values)
    tree = shapely.STRtree(np.asarray(d.geometry.values))
    p_idx, d_idx = tree.query(pts, predicate="intersects")
    ids = np.full(len(gdf), "", dtype=object)
    # a point on a shared edge goes to the first district listed, deterministically
    order = np.lexsort((d_idx, p_idx))
    p_idx, d_idx = p_idx[order], d_idx[order]
    first = np.r_[True, p_idx[1:] != p_idx[:-1]] if len(p_idx) else np.zeros(0, bool)
    ids[p_idx[first]] = d["id"].astype(str).to_numpy()[d_idx[first]]
    return ids


def _fill_names(out: gpd.GeoDataFrame, notes: list[str], ids) -> None:
    fallbacks = [c for c in ("name_en", "name_ru", "name_kk") if c in out.columns]
    if "name" not in out.columns:
        out["name"] = None
    name = out["name"].astype(object)
    empty = name.map(_missing)
    if not empty.any():
        return
    for c in fallbacks:
        take = empty & ~out[c].map(_missing)
        name = name.where(~take, out[c])
        empty &= ~take
    n_from_id = int(empty.sum())
    if n_from_id and ids is None:
        raise ConversionError(
            f"{n_from_id} row(s) have neither a name nor an id: map a name column "
            "(columns: {name: ...}) or an id column (id: ...)")
    if n_from_id:
        name = name.where(~empty, ids.astype(str))
    filled = int(out["name"].map(_missing).sum())
    out["name"] = name.astype(object)
    how = f" ({n_from_id} from the id)" if n_from_id else ""
    notes.append(f"{filled} row(s) had no name: taken from {', '.join(fallbacks) or 'the id'}"
                 f"{how}")


def conform_layer(name: str, gdf: gpd.GeoDataFrame, *, twin=None, source: str | None = None,
                  synthetic: bool = False, rows=None) -> Conformed:
    """``gdf`` converted and completed for layer ``name`` of ``twin``.

    Parameters
    ----------
    name : str
        The layer (a core layer such as ``districts``, or any other name).
    gdf : GeoDataFrame
        The rows, with columns already named as the twin's (``twin.manifest`` maps them).
    twin : Twin, optional
        The twin being built: its ``districts`` locate settlements, sites and zones, and its
        analysis CRS measures areas.
    source, synthetic :
        Provenance for rows that do not carry their own ``source`` / ``synthetic``.
    rows : array of int, optional
        Each row's number in its file, for messages (default 1, 2, ...).

    Raises
    ------
    ConversionError
        Listing every value that cannot be converted, with its row and column.
    """
    schema = CORE_SCHEMAS.get(name)
    kinds = dict(schema.kinds) if schema else {"id": "str", "source": "str", "synthetic": "bool"}
    if name == "parcels":
        kinds["id"] = "int"
    rows = np.arange(1, len(gdf) + 1) if rows is None else np.asarray(rows)
    notes: list[str] = []
    if gdf.crs is None:
        raise MissingCRS(f"layer {name!r} has no CRS: declare the one its coordinates are in")
    conv = _convert(gdf, kinds, rows, name)
    # derivations (centres, points in districts) work in lon/lat, where the twin stores
    out = gdf.copy() if gdf.crs == STORAGE_CRS else to_storage(gdf)
    for col in conv.columns:
        out[col] = conv[col]

    # provenance first: every row cites where it came from, or says it is made up
    if "source" not in out.columns or out["source"].map(_missing).all():
        out["source"] = source or "not given"
        if not source:
            notes.append("no source given: add `set: {source: ...}` with the licence")
    else:
        out["source"] = out["source"].where(~out["source"].map(_missing), source or "not given")
    if "synthetic" not in out.columns:
        out["synthetic"] = bool(synthetic)
    out["synthetic"] = out["synthetic"].astype(object).where(out["synthetic"].notna(),
                                                             bool(synthetic)).astype(bool)

    # ids: given (each row one), or numbered (parcels), or a slug of the name
    has_ids = "id" in out.columns and not out["id"].map(_missing).all()
    if has_ids and out["id"].map(_missing).any():
        missing = rows[out["id"].map(_missing).to_numpy()]
        raise ConversionError(
            f"layer {name!r}: {len(missing)} row(s) have no id (rows "
            f"{', '.join(map(str, missing[:MAX_REPORTED]))}): give every row an id, or leave "
            "`id:` out to make ids from the names")
    if schema is not None and "name" in schema.columns:
        _fill_names(out, notes, out["id"] if has_ids else None)
    if not has_ids:
        if name == "parcels" or "name" not in out.columns:
            out["id"] = np.arange(1, len(out) + 1) if name == "parcels" else \
                [str(i) for i in range(1, len(out) + 1)]
            notes.append("ids numbered 1..n (no id given)")
        else:
            out["id"] = _unique([slug(n) for n in out["name"]])
            notes.append("ids made from the names (no id given)")

    _derive(name, out, twin, notes)

    for col, kind in kinds.items():
        if col in out.columns:
            out[col] = _finish(out[col], kind)
    cols = [c for c in out.columns if c != out.geometry.name] + [out.geometry.name]
    return Conformed(gpd.GeoDataFrame(out[cols], geometry=out.geometry.name, crs=out.crs),
                     notes)


def _derive(name: str, out: gpd.GeoDataFrame, twin, notes: list[str]) -> None:
    has_districts = twin is not None and "districts" in twin

    def absent(col):
        return col not in out.columns or out[col].map(_missing).all()

    def derived(col, how):
        notes.append(f"{col} derived: {how}")

    if name == "districts":
        if absent("area_km2"):
            out["area_km2"] = _metric(out, twin).geometry.area.to_numpy() / 1e6
            derived("area_km2", "equal-area area")
        if absent("kind"):
            cols = [c for c in ("name", "name_en", "name_ru", "name_kk") if c in out.columns]
            out["kind"] = [unit_kind(*vals) for vals in zip(*(out[c] for c in cols),
                                                            strict=True)]
            derived("kind", "city or district as the names say, else unit")
        if absent("centre_lon") or absent("centre_lat"):
            rep = out.geometry.representative_point()
            out["centre_lon"], out["centre_lat"] = rep.x.to_numpy(), rep.y.to_numpy()
            derived("centre_lon/centre_lat", "a representative point of each unit"
                    + (" until the named centres are found among the settlements"
                       if not absent("centre") else ""))
    elif name in ("settlements", "project_sites", "industrial_zones", "parcels"):
        if absent("district_id"):
            if has_districts:
                out["district_id"] = _district_of(out, twin)
                n_out = int((out["district_id"] == "").sum())
                derived("district_id", "the district each lies in"
                        + (f"; {n_out} lie in none" if n_out else ""))
            else:
                out["district_id"] = ""
                notes.append("district_id left blank: the twin has no districts yet")
    if name == "settlements":
        if "population" not in out.columns:
            out["population"] = np.nan
        known = out["population"].notna()
        if absent("population_known"):
            out["population_known"] = known.to_numpy()
        if not known.all():
            notes.append(f"population not given for {int((~known).sum())} of {len(out)}: "
                         "0, with population_known false")
            out["population"] = out["population"].fillna(0)
    if name in ("industrial_zones", "protected_areas", "parcels") and absent("area_ha"):
        out["area_ha"] = _metric(out, twin).geometry.area.to_numpy() / 1e4
        derived("area_ha", "equal-area area")
    if name == "project_sites":
        for col in ("sector", "hazard_class", "status"):
            if col not in out.columns:
                out[col] = ""
                notes.append(f"{col} not given: blank")
            else:
                out[col] = out[col].where(~out[col].map(_missing), "")
    if name in ("lakes", "rivers", "water") and absent("kind"):
        lines = out.geom_type.str.contains("Line").to_numpy()
        out["kind"] = np.where(lines, "river", "lake")
        derived("kind", "river for lines, lake for polygons")


def locate_centres(districts: gpd.GeoDataFrame, settlements: gpd.GeoDataFrame
                   ) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Districts whose ``centre`` names a settlement get that settlement's point as their
    ``centre_lon``/``centre_lat`` (the settlement of that name inside the unit, else the
    nearest of that name); the others keep theirs. Returns the districts and a note."""
    if "centre" not in districts.columns or settlements is None or not len(settlements):
        return districts, []
    names: dict[str, list] = {}
    cols = [c for c in ("name", "name_en", "name_ru", "name_kk") if c in settlements.columns]
    for c in cols:
        for n, g, d in zip(settlements[c], settlements.geometry, settlements["district_id"],
                           strict=True):
            if isinstance(n, str) and n.strip():
                names.setdefault(n.strip().lower(), []).append((d, g))
    out = districts.copy()
    found = missing = 0
    for i, (uid, centre, geom) in enumerate(zip(out["id"].astype(str), out["centre"],
                                                out.geometry, strict=True)):
        if not isinstance(centre, str) or not centre.strip():
            continue
        cands = names.get(centre.strip().lower(), [])
        pick = next((g for d, g in cands if d == uid), None)
        if pick is None and cands:
            rep = geom.representative_point()
            pick = min((g for _, g in cands), key=rep.distance)
        if pick is None:
            missing += 1
            continue
        out.iloc[i, out.columns.get_loc("centre_lon")] = pick.x
        out.iloc[i, out.columns.get_loc("centre_lat")] = pick.y
        found += 1
    note = [f"district centres placed at their named settlements: {found}"
            + (f" ({missing} names not found among the settlements: representative point)"
               if missing else "")]
    return out, note
