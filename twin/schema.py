"""Declared schemas of the twin's layers, and the validation every layer passes on entry.

A schema names the id column, the required columns with their kinds, and the geometry types a
layer accepts. Validation happens at the edge, when a layer is loaded, imported or edited, so
the rest of the toolkit can trust its inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from .crs import STORAGE_CRS, to_storage
from .errors import (
    CoordinateRangeError,
    EmptyGeometry,
    GeometryTypeError,
    InvalidGeometry,
    MissingColumn,
    MissingCRS,
    SchemaError,
)

__all__ = ["LayerSchema", "CORE_SCHEMAS", "ACCURACY_LEVELS", "WATER_LAYERS", "validate_layer",
           "RepairReport", "repair_geometries"]

#: How close a row is to the real world. ``real``: taken from a cited source;
#: ``approximate``: a real thing whose geometry or figures are approximated by a documented
#: method; ``synthetic``: made up by a deterministic generator.
ACCURACY_LEVELS = ("real", "approximate", "synthetic")

def _whole_numbers(s: pd.Series) -> bool:
    # Whole numbers, some perhaps not known: a float column whose known values are whole
    # (a count that is missing for a row is NaN there, not 0).
    if pd.api.types.is_integer_dtype(s):
        return True
    if not pd.api.types.is_float_dtype(s):
        return False
    v = s.to_numpy(dtype=float)
    v = v[~np.isnan(v)]
    return bool(np.isfinite(v).all() and (v == np.round(v)).all())


# Column kinds, checked loosely: "str" accepts object or string dtype, "int" whole numbers
# (see _whole_numbers), "float" any number, "bool" booleans.
_KIND_CHECK = {
    "str": lambda s: pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s),
    "int": _whole_numbers,
    "float": pd.api.types.is_numeric_dtype,
    "bool": pd.api.types.is_bool_dtype,
}

PROVENANCE_COLUMNS = {"source": "str", "synthetic": "bool"}


@dataclass(frozen=True)
class LayerSchema:
    """What a layer must look like.

    Parameters
    ----------
    name : str
        Layer name, e.g. ``"districts"``.
    geometry_types : tuple of str
        Accepted shapely geometry types, e.g. ``("Polygon", "MultiPolygon")``.
    id_column : str
        Column holding each feature's unique id.
    columns : dict
        Required columns and their kinds (``str``, ``int``, ``float``, ``bool``). The
        provenance columns ``source`` and ``synthetic`` are always required.
    description : str
        One line for catalogues (the OGC collection description).
    optional : dict
        Columns a layer may have, and the kind each must hold when it does (what analyses
        read if present: a district's ``kind``, a settlement's ``population_known``...).
        ``twin.conform`` derives most of them from the geometry and the other layers.
    """

    name: str
    geometry_types: tuple[str, ...]
    id_column: str = "id"
    columns: dict[str, str] = field(default_factory=dict)
    description: str = ""
    optional: dict[str, str] = field(default_factory=dict)

    @property
    def required(self) -> dict[str, str]:
        return {self.id_column: "str", **self.columns, **PROVENANCE_COLUMNS}

    @property
    def kinds(self) -> dict[str, str]:
        """Every declared column, required or optional, with its kind."""
        return {**self.optional, **self.required}

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "geometry_types": list(self.geometry_types),
            "id_column": self.id_column,
            "columns": dict(self.columns),
            "optional": dict(self.optional),
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, d: dict) -> LayerSchema:
        return cls(
            name=d["name"],
            geometry_types=tuple(d["geometry_types"]),
            id_column=d.get("id_column", "id"),
            columns=dict(d.get("columns", {})),
            description=d.get("description", ""),
            optional=dict(d.get("optional", {})),
        )


_POLY = ("Polygon", "MultiPolygon")
#: The layers that hold water features; the plan buffers each (see :meth:`twin.Twin.water`).
WATER_LAYERS = ("lakes", "rivers", "water")
_ACC = {"accuracy": "str"}

_NAMES = {"name_ru": "str", "name_kk": "str", "name_en": "str"}

#: The layers every analysis knows. Required columns are the few an analysis cannot do
#: without; the optional ones are read where a layer has them (and ``twin.conform`` derives
#: most of them: areas, centres, a site's district, a district's kind).
CORE_SCHEMAS: dict[str, LayerSchema] = {
    s.name: s
    for s in [
        LayerSchema(
            "region",
            _POLY,
            columns={"name": "str"},
            optional={**_NAMES, "official_area_km2": "float", **_ACC},
            description="The region's outline.",
        ),
        LayerSchema(
            "context",
            _POLY,
            columns={"name": "str"},
            optional={"kind": "str", **_NAMES, **_ACC},
            description="Context features that are not part of the region.",
        ),
        LayerSchema(
            "districts",
            _POLY,
            columns={"name": "str"},
            optional={**_NAMES, "kind": "str", "centre": "str", "centre_lon": "float",
                      "centre_lat": "float", "area_km2": "float", **_ACC},
            description="Districts and cities: the units that are scored and planned.",
        ),
        LayerSchema(
            "settlements",
            ("Point",),
            columns={"name": "str", "population": "int", "district_id": "str"},
            optional={**_NAMES, "population_known": "bool", "is_centre": "bool",
                      "place": "str", **_ACC},
            description="Towns and villages with their populations.",
        ),
        LayerSchema(
            "industrial_zones",
            _POLY,
            columns={"name": "str"},
            optional={"district_id": "str", "area_ha": "float", **_ACC},
            description="Industrial zones.",
        ),
        LayerSchema(
            "protected_areas",
            _POLY,
            columns={"name": "str"},
            optional={"kind": "str", "official_area_ha": "float", "area_ha": "float",
                      **_NAMES, **_ACC},
            description="Specially protected natural territories.",
        ),
        LayerSchema(
            "project_sites",
            ("Point",),
            columns={"name": "str", "sector": "str", "district_id": "str"},
            optional={"investment_kzt": "int", "jobs": "int", "status": "str",
                      "start_year": "int", "end_year": "int", "hazard_class": "str", **_ACC},
            description="Investment projects under implementation and in the pipeline.",
        ),
        LayerSchema(
            "parcels",
            _POLY,
            columns={"id": "int", "district_id": "str", "land_use": "str", "area_ha": "float"},
            optional=dict(_ACC),
            description="Cadastral parcels.",
        ),
        LayerSchema(
            "lakes",
            _POLY,
            optional={"name": "str", "kind": "str", **_NAMES, **_ACC},
            description="Lakes and reservoirs.",
        ),
        LayerSchema(
            "rivers",
            ("LineString", "MultiLineString"),
            optional={"name": "str", "kind": "str", **_NAMES, **_ACC},
            description="Rivers, as lines.",
        ),
        LayerSchema(
            # Twins saved before lakes and rivers were split: still read, still buffered.
            "water",
            ("Polygon", "MultiPolygon", "LineString", "MultiLineString"),
            optional={"name": "str", "kind": "str", **_NAMES, **_ACC},
            description="Rivers and lakes in one layer (older twins; new ones use 'lakes' "
                        "and 'rivers', one geometry type each).",
        ),
        LayerSchema(
            "zones",
            _POLY,
            columns={"zone_type": "str", "district_id": "str", "area_ha": "float"},
            description="Functional zones of the general plan.",
        ),
    ]
}


@dataclass(frozen=True)
class RepairReport:
    """What validation changed in a layer: how many geometries ``make_valid`` repaired."""

    layer: str
    repaired: int = 0
    repaired_ids: tuple = ()

    def __str__(self) -> str:
        if not self.repaired:
            return f"layer {self.layer!r}: nothing to repair"
        shown = ", ".join(map(str, self.repaired_ids[:5]))
        more = "" if self.repaired <= 5 else f" and {self.repaired - 5} more"
        return f"layer {self.layer!r}: repaired {self.repaired} invalid geometries ({shown}{more})"


def _ids(gdf: gpd.GeoDataFrame, schema: LayerSchema, mask) -> list:
    rows = gdf.loc[np.asarray(mask)]
    if schema.id_column in rows.columns:
        return rows[schema.id_column].tolist()
    return rows.index.tolist()


def _fmt_ids(ids: list) -> str:
    shown = ", ".join(repr(i) for i in ids[:5])
    return shown + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def validate_layer(
    gdf: gpd.GeoDataFrame, schema: LayerSchema, *, repair: bool = False
) -> tuple[gpd.GeoDataFrame, RepairReport]:
    """Check a layer against its schema and return it in storage CRS.

    Raises a :class:`~twin.errors.TwinError` subclass naming the layer, the offending
    feature ids and the fix. With ``repair=True``, invalid geometries are repaired with
    ``shapely.make_valid`` and counted in the returned :class:`RepairReport`.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> s = LayerSchema("towns", ("Point",), columns={"name": "str"})
    >>> g = gpd.GeoDataFrame({"id": ["a"], "name": ["A"], "source": ["me"],
    ...                       "synthetic": [True]}, geometry=[Point(69, 52)], crs=4326)
    >>> validate_layer(g, s)[1].repaired
    0
    """
    name = schema.name
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        raise SchemaError(
            f"layer {name!r} has no geometry column: pass a GeoDataFrame with an active "
            "geometry (gpd.GeoDataFrame(df, geometry=...))"
        )
    if gdf.crs is None:
        raise MissingCRS(
            f"layer {name!r} has no CRS: declare the one your coordinates are in, e.g. "
            "gdf.set_crs('EPSG:4326') for lon/lat degrees"
        )

    missing = [c for c in schema.required if c not in gdf.columns]
    if missing:
        raise MissingColumn(
            f"layer {name!r} is missing required column(s) {', '.join(map(repr, missing))}: "
            f"add them (every layer needs 'source' and 'synthetic'; {name!r} also needs "
            f"{', '.join(repr(c) for c in schema.required)})"
        )
    for col, kind in schema.kinds.items():
        if col in gdf.columns and not _KIND_CHECK[kind](gdf[col]):
            raise SchemaError(
                f"layer {name!r}: column {col!r} should hold {kind} values but has dtype "
                f"{gdf[col].dtype}: convert it (e.g. gdf[{col!r}].astype(...)), or import "
                "the layer with Twin.import_layer / `twin import`, which converts values"
            )
    ids = gdf[schema.id_column]
    if ids.isna().any():
        raise SchemaError(
            f"layer {name!r}: {int(ids.isna().sum())} row(s) have no {schema.id_column!r}: "
            "give every feature an id"
        )
    dup = ids[ids.duplicated()]
    if len(dup):
        raise SchemaError(
            f"layer {name!r}: duplicate {schema.id_column!r} values {_fmt_ids(dup.tolist())}: "
            "feature ids must be unique"
        )

    geoms = np.asarray(gdf.geometry.values)
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if empty.any():
        raise EmptyGeometry(
            f"layer {name!r}: feature(s) {_fmt_ids(_ids(gdf, schema, empty))} have an empty "
            "or missing geometry: drop those rows or give them a geometry"
        )
    allowed = [shapely.GeometryType[_SHAPELY_NAME[t]].value for t in schema.geometry_types]
    wrong = ~np.isin(shapely.get_type_id(geoms), allowed)
    if wrong.any():
        first = geoms[np.argmax(wrong)].geom_type
        raise GeometryTypeError(
            f"layer {name!r}: feature(s) {_fmt_ids(_ids(gdf, schema, wrong))} are {first}, "
            f"but this layer holds only {' or '.join(schema.geometry_types)}: convert them "
            "(e.g. centroids for points) or load them as another layer"
        )

    out = gdf
    crs = CRS(gdf.crs)
    if crs.is_geographic:
        _check_lonlat_ranges(out, schema)
    if crs != STORAGE_CRS:
        out = to_storage(out)
        _check_lonlat_ranges(out, schema)

    report = RepairReport(name)
    valid = shapely.is_valid(np.asarray(out.geometry.values))
    if not valid.all():
        bad = ~valid
        if not repair:
            i = int(np.argmax(bad))
            reason = shapely.is_valid_reason(out.geometry.values[i])
            raise InvalidGeometry(
                f"layer {name!r}: feature {_ids(out, schema, bad)[0]!r} is invalid ({reason})"
                + (f"; {int(bad.sum()) - 1} more invalid" if bad.sum() > 1 else "")
                + ": fix it at the source, or pass repair=True to apply make_valid"
            )
        out = out.copy()
        geo = repair_geometries(np.asarray(out.geometry.values), schema.geometry_types)
        out = out.set_geometry(gpd.GeoSeries(geo, index=out.index, crs=out.crs))
        report = RepairReport(name, int(bad.sum()), tuple(_ids(gdf, schema, bad)))
    return _promote_mixed_to_multi(out), report


_MULTI_OF = {
    shapely.GeometryType.POINT: (shapely.GeometryType.MULTIPOINT, shapely.multipoints),
    shapely.GeometryType.LINESTRING: (
        shapely.GeometryType.MULTILINESTRING, shapely.multilinestrings),
    shapely.GeometryType.POLYGON: (shapely.GeometryType.MULTIPOLYGON, shapely.multipolygons),
}


def _promote_mixed_to_multi(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    # A GeoPackage layer has one geometry type, so a layer mixing Polygon and MultiPolygon is
    # written as all-MultiPolygon. Promote here, on entry, so a saved and reopened twin holds
    # exactly the data (and content hash) it had in memory.
    geoms = np.asarray(gdf.geometry.values)
    types = shapely.get_type_id(geoms)
    present = set(np.unique(types).tolist())
    for single, (multi, make) in _MULTI_OF.items():
        if single.value in present and multi.value in present:
            geoms = geoms.copy()
            idx = types == single.value
            geoms[idx] = make(geoms[idx][:, None])
            gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    return gdf


_SHAPELY_NAME = {
    "Point": "POINT",
    "MultiPoint": "MULTIPOINT",
    "LineString": "LINESTRING",
    "MultiLineString": "MULTILINESTRING",
    "Polygon": "POLYGON",
    "MultiPolygon": "MULTIPOLYGON",
}


def repair_geometries(geoms: np.ndarray, accepted: tuple[str, ...]) -> np.ndarray:
    """``geoms`` with each invalid one made valid (``shapely.make_valid``), keeping the part
    of the accepted geometry types: make_valid can turn a bow-tie polygon into a
    collection, and the layer's type must still hold."""
    geoms = np.asarray(geoms, dtype=object)
    bad = ~shapely.is_missing(geoms) & ~shapely.is_valid(geoms)
    if not bad.any():
        return geoms
    out = geoms.copy()
    out[bad] = [_keep_type(g, accepted) for g in shapely.make_valid(geoms[bad])]
    return out


def _keep_type(geom, accepted: tuple[str, ...]):
    if geom.geom_type in accepted:
        return geom
    if geom.geom_type == "GeometryCollection":
        parts = [g for g in geom.geoms if g.geom_type in accepted or
                 g.geom_type.replace("Multi", "") in accepted]
        polys = [p for g in parts for p in getattr(g, "geoms", [g])]
        if polys and "MultiPolygon" in accepted and polys[0].geom_type == "Polygon":
            return shapely.MultiPolygon(polys) if len(polys) > 1 else polys[0]
        if polys:
            return polys[0]
    if geom.geom_type == "Polygon" and "MultiPolygon" in accepted:
        return shapely.MultiPolygon([geom])
    return geom


def _check_lonlat_ranges(gdf: gpd.GeoDataFrame, schema: LayerSchema) -> None:
    b = shapely.bounds(np.asarray(gdf.geometry.values))
    bad = (b[:, 0] < -180) | (b[:, 2] > 180) | (b[:, 1] < -90) | (b[:, 3] > 90)
    if bad.any():
        i = int(np.argmax(bad))
        x, y = b[i, 0], b[i, 1]
        hint = (
            "latitude and longitude look swapped: give coordinates as (lon, lat)"
            if -90 <= x <= 90 and -180 <= y <= 180
            else "these are not degrees: set the layer's real CRS (e.g. a UTM zone) "
            "instead of EPSG:4326"
        )
        raise CoordinateRangeError(
            f"layer {schema.name!r}: feature {_ids(gdf, schema, bad)[0]!r} has coordinates "
            f"out of lon/lat range (near x={x:.4g}, y={y:.4g}): {hint}"
        )
