"""A twin assembled from a region's own files, as its manifest says (``twin new``).

:func:`build_twin` reads each layer's file, keeps the rows the manifest asks for, maps the
columns, converts and completes them (``twin.conform``), validates them into the twin, then
derives the plan's zones and takes in the registry, the regulations and the observations.
It reports what it did, layer by layer (:class:`BuildReport`). :func:`new_twin` also saves
the twin, atomically, and never over a file holding a user's work unless told to.

Examples
--------
>>> # tw, report = build_twin(read_manifest("akmola.yaml"))
>>> # print(report)      # one block per layer: rows read and kept, what was derived
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .conform import (
    _missing,
    _text,
    conform_layer,
    locate_centres,
    representative_points,
)
from .crs import STORAGE_CRS, to_storage
from .errors import TwinError, TwinFileError
from .importer import read_user_layer
from .manifest import REQUIRED_LAYERS, LayerSpec, Manifest, ManifestError, read_manifest
from .model import Twin
from .schema import CORE_SCHEMAS, RepairReport, repair_geometries
from .store import user_work

__all__ = ["LayerReport", "BuildReport", "build_twin", "new_twin", "read_layer",
           "import_layer"]


@dataclass
class LayerReport:
    """What happened to one layer: rows read and kept, and one line per derivation."""

    name: str
    file: str
    read: int
    kept: int
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    repair: RepairReport | None = None

    def lines(self) -> list[str]:
        head = f"{self.name}: {self.kept:,} of {self.read:,} rows from {self.file}"
        return [f"{head} ({self.seconds:.1f} s)", *(f"  - {n}" for n in self.notes)]


@dataclass
class BuildReport:
    """What :func:`build_twin` did, layer by layer, and for the twin as a whole."""

    twin: str
    layers: list[LayerReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        out = [f"twin {self.twin!r}"]
        for r in self.layers:
            out += r.lines()
        out += [f"- {n}" for n in self.notes]
        out.append(f"built in {self.seconds:.1f} s")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _values(v) -> list[str]:
    return [_text(x) for x in (v if isinstance(v, list) else [v])]


def _file_of(spec: LayerSpec, where: str) -> Path:
    if spec.file is None:  # a generated layer: its generator makes it, not a file
        raise ManifestError(f"{where}: the layer has no file to read")
    return spec.file


def read_layer(spec: LayerSpec, tw: Twin, where: str) -> tuple[gpd.GeoDataFrame, np.ndarray,
                                                                int, list[str]]:
    """One layer's rows as the manifest selects and maps them: ``(gdf, row numbers, rows
    read, notes)``, columns named as the twin's, not yet converted."""
    file = _file_of(spec, where)
    try:
        raw = read_user_layer(file, spec.layer, lon=spec.lon, lat=spec.lat, crs=spec.crs)
    except TwinError as e:
        raise type(e)(f"{where}: {e}") from e
    if raw.crs is None:
        raise ManifestError(f"{where}: {file.name!r} declares no CRS: give the CRS of its "
                            "coordinates with crs: (e.g. crs: EPSG:4326)")
    n_read = len(raw)
    keep = np.ones(n_read, dtype=bool)
    notes = []
    if spec.repair:  # before anything is measured on them: areas, points, the within test
        schema = CORE_SCHEMAS.get(spec.name)
        types = schema.geometry_types if schema else ("Point", "MultiPoint", "LineString",
                                                      "MultiLineString", "Polygon",
                                                      "MultiPolygon")
        geoms = np.asarray(raw.geometry.values)
        fixed = repair_geometries(geoms, types)
        n = int((fixed != geoms).sum())
        if n:
            raw = raw.set_geometry(gpd.GeoSeries(fixed, index=raw.index, crs=raw.crs))
            notes.append(f"repaired {n} invalid geometr{'y' if n == 1 else 'ies'} "
                         "(make_valid)")

    def need(col, key):
        if col not in raw.columns:
            cols = [c for c in raw.columns if c != raw.geometry.name]
            raise ManifestError(f"{where}.{key}: {file.name!r} has no column {col!r}; it "
                                f"has {', '.join(map(str, cols))}")

    for col, v in spec.where.items():
        need(col, f"where.{col}")
        wanted = set(_values(v))
        before = keep.copy()
        keep &= raw[col].map(lambda x, w=wanted: not _missing(x) and _text(x) in w).to_numpy()
        if before.any() and not keep.any():
            # said here, by the filter that emptied the layer: later checks would only see
            # an empty layer and blame the data
            seen = sorted({_text(x) for x in raw.loc[before, col] if not _missing(x)})
            shown = ", ".join(map(repr, seen[:12])) + (", ..." if len(seen) > 12 else "")
            raise ManifestError(f"{where}.where.{col}: no row of {file.name!r} has "
                                f"{col} in {sorted(wanted)}; the values there are "
                                f"{shown or 'all blank'}")
        notes.append(f"where {col} in {sorted(wanted)}")
    raw = raw[keep]
    if spec.within:
        inside = shapely.union_all(np.asarray(tw[spec.within].geometry.values))
        shapely.prepare(inside)
        ll = raw if raw.crs == STORAGE_CRS else to_storage(raw)
        pts = representative_points(ll.geometry.values)
        ok = ~shapely.is_missing(pts) & ~shapely.is_empty(pts)
        ok[ok] = shapely.intersects(inside, pts[ok])
        raw = raw[ok]
        notes.append(f"within {spec.within}")
    src = dict(spec.columns)
    if spec.id:
        if "id" in src:
            raise ManifestError(f"{where}: id is given twice (id: and columns.id): keep one")
        src["id"] = spec.id
    for twin_col, col in src.items():
        need(col, f"columns.{twin_col}" if twin_col != "id" or not spec.id else "id")
    rows = np.flatnonzero(keep) + 1
    if spec.within:
        rows = rows[ok]
    cols = {t: raw[s].to_numpy() for t, s in src.items()}
    out = gpd.GeoDataFrame(cols, geometry=raw.geometry.to_numpy(), crs=raw.crs,
                           index=pd.RangeIndex(len(raw)))
    for k, v in spec.set.items():
        out[k] = v
    return out, rows, n_read, notes


def _add_from_file(tw: Twin, spec: LayerSpec, where: str, repair_hint: str, *,
                   blank_source: str | None = None, blank_synthetic: bool = False
                   ) -> LayerReport:
    """Read, select, map, convert, complete and validate one layer into ``tw``, and record
    its provenance; errors name ``where``. ``blank_source`` and ``blank_synthetic`` fill
    the blank cells of the file's own ``source`` and ``synthetic`` columns."""
    gdf, rows, n_read, notes = read_layer(spec, tw, where)
    file = _file_of(spec, where)
    if spec.name in REQUIRED_LAYERS and not len(gdf):
        what = (f"{file.name!r} has no rows" if not n_read else
                f"none of the {n_read:,} rows of {file.name!r} is kept ({', '.join(notes)})")
        raise ManifestError(f"{where}: {what}: every twin needs its {spec.name}; check the "
                            "file, layer:, where: and within:")
    source = spec.set.get("source") or blank_source
    try:
        done = conform_layer(spec.name, gdf, twin=tw, rows=rows,
                             source=source or f"{file.name} (no source given)",
                             synthetic=blank_synthetic)
        rep = tw.add_layer(spec.name, done.gdf, repair=spec.repair)
    except TwinError as e:
        hint = "" if spec.repair or "repair=True" not in str(e) else f" ({repair_hint})"
        raise type(e)(f"{where}: {e}{hint}") from e
    if rep.repaired:
        notes.append(str(rep))
    if not source:
        notes.append("no source given: rows cite the file; add set: {source: ...} with the "
                     "licence")
    tw.metadata.provenance[spec.name] = (
        f"{source or 'source not given'}; from {file.name}, {len(gdf):,} of "
        f"{n_read:,} rows" + (f" ({', '.join(notes)})" if notes else "")
        + f"; {_accuracy(tw[spec.name])}")
    return LayerReport(spec.name, file.name, n_read, len(gdf), 0.0,
                       notes + done.notes, rep)


def import_layer(tw: Twin, name: str, path: str | os.PathLike, *,
                 columns: dict[str, str] | None = None, id: str | None = None,
                 layer: str | None = None, lon: str | None = None, lat: str | None = None,
                 crs=None, source: str | None = None, synthetic: bool = False,
                 set: dict | None = None, repair: bool = False) -> LayerReport:
    """Add or replace layer ``name`` of ``tw`` from the file at ``path``, as a manifest
    layer would be made (``columns``, ``id``, ``set``... as there). Without ``columns``
    every column of the file comes in under its own name; with them, only those mapped.
    ``source`` and ``synthetic`` are the provenance of rows that carry none."""
    path = Path(path)
    consts = dict(set or {})
    if columns is None:
        raw = read_user_layer(path, layer, lon=lon, lat=lat, crs=crs)
        columns = {c: c for c in raw.columns if c != raw.geometry.name and c not in consts}
        if "id" in columns and id is None:
            id = columns.pop("id")
    # A file's own source and synthetic cells are kept, and ``source``/``synthetic`` fill
    # its blank ones: a blank flag under --synthetic is made up, never read as real.
    if source and "source" not in columns:
        consts.setdefault("source", source)
    if "synthetic" not in columns:
        consts.setdefault("synthetic", bool(synthetic))
    spec = LayerSpec(name=name, file=path, layer=layer, id=id, columns=dict(columns),
                     set=consts, lon=lon, lat=lat, crs=None if crs is None else str(crs),
                     repair=repair)
    t0 = time.perf_counter()
    lr = _add_from_file(tw, spec, f"importing {path.name!r} as {name!r}", "pass repair=True, "
                        "or --repair", blank_source=source, blank_synthetic=bool(synthetic))
    lr.seconds = time.perf_counter() - t0
    return lr


def _accuracy(gdf: gpd.GeoDataFrame) -> str:
    """The accuracy levels a layer's rows state, as provenance ends with them."""
    if "accuracy" in gdf and gdf["accuracy"].notna().any():
        return " and ".join(sorted(set(gdf["accuracy"].dropna().astype(str))))
    return "synthetic" if gdf["synthetic"].all() else "accuracy not stated"


def _coverage(tw: Twin) -> str:
    region = shapely.union_all(np.asarray(tw.metric("region").geometry.values))
    units = shapely.union_all(np.asarray(tw.metric("districts").geometry.values))
    off = shapely.area(shapely.symmetric_difference(region, units)) / shapely.area(region)
    verdict = "" if off <= 0.01 else (": check that every unit is there, and no unit of a "
                                      "neighbour")
    return f"the districts cover the region to within {off:.3%} of its area{verdict}"


def build_twin(manifest: Manifest, *,
               generators: dict[str, Callable[..., gpd.GeoDataFrame]] | None = None,
               version: str = "1", progress: Callable[[str], None] | None = None
               ) -> tuple[Twin, BuildReport]:
    """The twin a manifest describes, and a report of how it was made.

    Parameters
    ----------
    manifest : Manifest
        From :func:`twin.manifest.read_manifest`.
    generators : dict, optional
        ``{name: f(tw) -> GeoDataFrame}`` for the manifest's ``generated:`` layers: layers
        made by code from the twin built so far rather than read from a file (the default
        twin's synthetic parts). They are validated like any layer, in the manifest's order.
    version : str
        The twin's data version.
    progress : callable, optional
        Called with a line as each layer is done.
    """
    t0 = time.perf_counter()
    tw = Twin(name=manifest.name, title=manifest.title, version=version,
              analysis_crs=manifest.analysis_crs,
              indicators=manifest.indicators, regulations=manifest.regulations)
    report = BuildReport(manifest.name)
    origin = manifest.path.name if manifest.path else "manifest"
    for spec in manifest.layers:
        t1 = time.perf_counter()
        where = f"{origin}: layers.{spec.name}"
        if spec.generated:
            make = (generators or {}).get(spec.name)
            if make is None:
                raise ManifestError(f"{where}: the layer is generated by code, and this build "
                                    "has no generator for it: give it a file: instead")
            gdf = make(tw)
            tw.add_layer(spec.name, gdf)
            tw.metadata.provenance[spec.name] = spec.generated
            report.layers.append(LayerReport(spec.name, "generated", len(gdf), len(gdf),
                                             time.perf_counter() - t1))
            continue
        lr = _add_from_file(tw, spec, where, "in a manifest: repair: true")
        lr.seconds = time.perf_counter() - t1
        report.layers.append(lr)
        if progress:
            progress(lr.lines()[0])
    if "settlements" in tw:
        d, note = locate_centres(tw["districts"], tw["settlements"])
        if note:
            tw.add_layer("districts", d)
            report.notes += note
        lost = int((tw["settlements"]["district_id"] == "").sum())
        if lost:
            report.notes.append(f"{lost} settlement(s) lie in no district (district_id blank)")
    report.notes.append(_coverage(tw))
    zones = tw.derive_layer("zones")
    report.notes.append(f"zones: {len(zones):,} functional zones derived by the plan")
    if manifest.observations is not None:
        from .score.files import read_observations

        obs = read_observations(manifest.observations, tw.registry)
        ing = tw.score.ingest(obs, persist=False)
        report.notes.append(f"observations: {ing.added:,} from {manifest.observations.name} "
                            f"({len(ing.indicators)} indicators)")
    left = _left_out(tw)
    if left:
        report.notes.append(left)
    report.seconds = time.perf_counter() - t0
    return tw, report


def _left_out(tw: Twin) -> str:
    obs = tw.tables.get("score_observations")
    have = set(obs["indicator"]) if obs is not None and len(obs) else set()
    missing = [i for i in tw.registry.ids if i not in have]
    if not missing:
        return ""
    if len(missing) == len(tw.registry.ids):
        return ("score: no observations yet: ingest them with `twin score ingest FILE.csv "
                "--twin TWIN.gpkg`")
    return (f"score: {len(missing)} indicator(s) without observations are left out of the "
            f"composite ({', '.join(missing)})")


def new_twin(manifest: str | os.PathLike, out: str | os.PathLike, *, force: bool = False,
             progress: Callable[[str], None] | None = None) -> tuple[Twin, BuildReport]:
    """Build the twin of the manifest at ``manifest`` and save it to ``out`` atomically.

    A file at ``out`` that holds a user's work (scenarios, plan changes, observations not
    flagged synthetic, added rasters), or that is not a twin file, is not replaced unless
    ``force=True``; this is checked before anything is read.
    """
    out = Path(out)
    lost = [] if force else user_work(out)
    if lost:
        raise TwinFileError(
            f"{str(out)!r} already holds work a new twin would replace ({'; '.join(lost)}): "
            "write to another --out, or pass --force (force=True) to replace it")
    m = read_manifest(manifest)
    tw, report = build_twin(m, progress=progress)
    tw.save(out)
    return tw, report
