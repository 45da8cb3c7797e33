"""The Twin: a set of named, validated layers plus metadata, stored in one GeoPackage."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from . import store
from .crs import to_metric
from .errors import CoordinateRangeError, LayerNotFound, SchemaError, TwinFileError
from .lazy import LayerFrames
from .region import RegionTerms
from .schema import CORE_SCHEMAS, WATER_LAYERS, LayerSchema, RepairReport, validate_layer

__all__ = ["Twin", "TwinMetadata"]

FORMAT_VERSION = 1
#: Attribute tables every writer commits to the twin file before memory (see
#: twin.scenario.persist and Plan.save).
_FILE_FIRST_TABLES = ("scenarios", "plan_versions")


@dataclass(frozen=True)
class TwinMetadata:
    """Who the twin is: its name (a slug), data version, title, and where its data came from.

    ``provenance`` maps a layer name to a one-line statement of its source and licence.
    ``title`` is what maps, pages and reports call the twin (default: the name).
    """

    name: str = "twin"
    version: str = "0"
    provenance: dict[str, str] = field(default_factory=dict)
    title: str = ""


class Twin(RegionTerms):
    """A digital twin of a territory: named layers, each a GeoDataFrame with a schema.

    Layers are stored in EPSG:4326 (lon/lat). Metric work uses :attr:`analysis_crs`, an
    equal-area projection centred on the twin's ``region`` unless one is given, through
    :meth:`metric`. The twin also carries its indicator registry (:attr:`registry`) and its
    plan regulations (:attr:`regulations`); all three are stored in the twin file.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> tw = Twin(name="demo")
    >>> towns = gpd.GeoDataFrame(
    ...     {"id": ["a"], "name": ["A"], "source": ["survey"], "synthetic": [False]},
    ...     geometry=[Point(69.4, 53.3)], crs="EPSG:4326")
    >>> tw.add_layer("towns", towns).repaired
    0
    >>> tw.layer_names
    ['towns']
    """

    def __init__(
        self,
        layers: dict[str, gpd.GeoDataFrame] | None = None,
        *,
        name: str = "twin",
        version: str = "0",
        provenance: dict[str, str] | None = None,
        schemas: dict[str, LayerSchema] | None = None,
        analysis_crs: CRS | str | None = None,
        tables: dict[str, pd.DataFrame] | None = None,
        repair: bool = False,
        title: str = "",
        indicators: dict | str | os.PathLike | None = None,
        regulations: dict | str | os.PathLike | None = None,
    ) -> None:
        self.metadata = TwinMetadata(name, version, dict(provenance or {}), str(title or ""))
        # None: derived from the region (and re-derived when it changes) until set.
        self._crs = None if analysis_crs is None else CRS.from_user_input(analysis_crs)
        self._derived_crs: CRS | None = None
        # Opened from a store, a layer is read when first needed (twin/lazy.py).
        self._layers: LayerFrames = LayerFrames()
        # What the store recorded about each layer nothing has edited since it was saved:
        # count, extent, geometry types, synthetic rows and content hash, so that lists,
        # summaries and tile caches need not read it.
        self._records: dict[str, dict] = {}
        self._schemas: dict[str, LayerSchema] = {}
        self._hashes: dict[str, str] = {}
        self._metric: dict[str, gpd.GeoDataFrame] = {}
        self._derived: set[str] = set()  # layers re-derived when their inputs change
        self._docs: dict[str, dict] = {}
        self._stored: set[str] = set()  # layers unchanged since read from or saved to store
        self._generation: object = None  # the store's, when this twin read or wrote it
        self.tables: dict[str, pd.DataFrame] = dict(tables or {})
        #: Where the twin is stored (:class:`twin.store.Store`), None until it is saved.
        self.store: store.Store | None = None
        #: The change counters of the attribute tables as this twin last read them.
        self.table_versions: dict[str, int] = {}
        for lname, gdf in (layers or {}).items():
            self._put(lname, gdf, (schemas or {}).get(lname), repair)
        if indicators is not None:
            self.set_registry(indicators)
        if regulations is not None:
            self.set_regulations(regulations)

    # -- identity -------------------------------------------------------------------------
    @property
    def path(self) -> Path | None:
        """The twin's GeoPackage file; None when it is not saved, or stored in a database
        (see :attr:`store` and :attr:`location`)."""
        return self.store.path if self.store is not None else None

    @property
    def location(self) -> str | None:
        """Where the twin is stored: its file's path or its database URL (no password)."""
        return self.store.location if self.store is not None else None

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def version(self) -> str:
        return self.metadata.version

    @property
    def title(self) -> str:
        """What maps, pages and reports call the twin: its title, else its name."""
        return self.metadata.title or self.name

    @property
    def provenance(self) -> dict[str, str]:
        """Per layer, one line naming its source and licence."""
        return self.metadata.provenance

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}={self.layer_count(n)}" for n in self._layers)
        return f"<Twin {self.name!r} v{self.version}: {parts}>"

    # -- layer access ---------------------------------------------------------------------
    @property
    def layer_names(self) -> list[str]:
        return list(self._layers)

    def __contains__(self, name: object) -> bool:
        return name in self._layers

    def __getitem__(self, name: str) -> gpd.GeoDataFrame:
        return self.layer(name)

    def layer(self, name: str) -> gpd.GeoDataFrame:
        """The layer called ``name`` (a GeoDataFrame in EPSG:4326).

        This is the twin's own frame, not a copy (a copy of a million parcels on every
        access would cost more than it saves). Treat it as read-only: to change a layer,
        edit a ``.copy()`` and put it back with :meth:`add_layer`, which validates it and
        renews the content hash, the metric cache and so every tile cache keyed on them.
        """
        try:
            return self._layers[name]
        except KeyError:
            raise LayerNotFound(
                f"twin {self.name!r} has no layer {name!r}; it has "
                f"{', '.join(self._layers) or 'no layers'}: check the spelling or add it "
                "with add_layer/import_layer"
            ) from None

    def schema(self, name: str) -> LayerSchema:
        if name not in self._schemas:
            self.layer(name)  # raises LayerNotFound, or infers the schema of an older file
        return self._schemas[name]

    def loaded(self, name: str) -> bool:
        """Whether layer ``name`` is in memory (a twin opened from a store reads each
        layer when first needed)."""
        return self._layers.loaded(name)

    def layer_columns(self, name: str, columns, *, wkb: bool = False) -> pd.DataFrame:
        """Layer ``name`` with only ``columns`` (those it has) and its geometry, as a
        GeoDataFrame or (``wkb=True``) a DataFrame whose ``geometry`` holds WKB bytes.

        Read from the store without the other columns when the layer is not in memory,
        and not kept: work done once per data version (the plan's parcel digest) then
        holds no copy of the layer. Read :meth:`data_version` after this call: a layer
        found edited since :meth:`open` is read whole instead, its version measured anew.
        """
        def subset(g: gpd.GeoDataFrame) -> pd.DataFrame:
            out = g[[c for c in columns if c in g.columns] + [g.geometry.name]]
            if not wkb:
                return out
            return pd.DataFrame(out.drop(columns=g.geometry.name)).assign(
                geometry=shapely.to_wkb(np.asarray(g.geometry.values)))

        if self._record(name) is None or self.store is None or not self.stored_layer(name):
            return subset(self.layer(name))
        st = self.store
        df = _restore_dtypes(st.read_columns(name, list(columns), wkb=wkb), self._schemas[name])
        if st.generation() == self._generation and name in st.unchanged_layers([name]):
            # the rows the toolkit validated and recorded when it saved them
            return df.reset_index(drop=True)
        del df
        # the reader finds the edit and forgets the record (or refuses a replaced store)
        return subset(self.layer(name))

    def _record(self, name: str) -> dict | None:
        return self._records.get(name) if not self.loaded(name) else None

    def layer_count(self, name: str) -> int:
        """How many features layer ``name`` has, without reading a layer not read yet."""
        rec = self._record(name)
        return int(rec["count"]) if rec is not None else len(self.layer(name))

    def layer_bounds(self, name: str) -> list[float] | None:
        """Layer ``name``'s lon/lat bounding box (None when empty), without reading a
        layer not read yet."""
        rec = self._record(name)
        if rec is not None:
            return None if rec["bounds"] is None else [float(v) for v in rec["bounds"]]
        gdf = self.layer(name)
        return None if gdf.empty else [float(v) for v in gdf.total_bounds]

    def layer_summary(self, name: str) -> dict:
        """Layer ``name``'s count, geometry types ("/"-joined, None when empty) and how
        many rows are synthetic (None without that column), without reading a layer not
        read yet."""
        rec = self._record(name)
        if rec is not None and "geometry_type" in rec:
            return {k: rec[k] for k in ("count", "geometry_type", "synthetic")}
        g = self.layer(name)
        types = sorted(set(g.geom_type)) if len(g) else []
        return {"count": int(len(g)), "geometry_type": "/".join(types) or None,
                "synthetic": int(g["synthetic"].astype(bool).sum())
                if "synthetic" in g else None}

    def add_layer(
        self,
        name: str,
        gdf: gpd.GeoDataFrame,
        *,
        schema: LayerSchema | None = None,
        repair: bool = False,
    ) -> RepairReport:
        """Validate ``gdf`` and store it as layer ``name``, replacing any layer of that name.

        The core layers (``districts``, ``parcels``...) use their declared schemas; other
        layers need an ``id`` column plus ``source`` and ``synthetic``, unless a schema is
        given. Returns what was repaired (only with ``repair=True``).
        """
        report = self._put(name, gdf, schema, repair)
        self._derived.discard(name)  # a layer the caller gives is data, not derived
        self._rederive(name)
        return report

    def _put(self, name: str, gdf, schema: LayerSchema | None, repair: bool) -> RepairReport:
        """Validate and store one layer, without re-deriving the layers that depend on it
        (the twin file holds those already)."""
        if not isinstance(name, str) or not name.isidentifier():
            raise SchemaError(
                f"layer name {name!r} is not usable: use letters, digits and underscores"
            )
        if schema is None:
            schema = CORE_SCHEMAS.get(name) or _inferred_schema(name, gdf)
        if schema.name != name:
            schema = LayerSchema.from_dict({**schema.to_dict(), "name": name})
        valid, report = validate_layer(gdf, schema, repair=repair)
        self._check_near_region(name, valid, schema)
        self._layers[name] = valid.reset_index(drop=True)
        self._schemas[name] = schema
        self._records.pop(name, None)
        self._hashes.pop(name, None)
        self._metric.pop(name, None)
        if name == "region" and self._crs is None:
            self._derived_crs = None  # centred on the new region from now on
            self._metric.clear()
        self._stored.discard(name)
        return report

    def derive_layer(self, name: str) -> gpd.GeoDataFrame:
        """Derive layer ``name`` from the twin's other layers (see :data:`twin.derived.DERIVED`,
        e.g. the plan's ``zones``), store it, and keep it derived: it is derived again
        whenever one of its inputs changes, until a caller gives that layer itself."""
        from .derived import derive

        gdf, provenance = derive(self, name)
        self._put(name, gdf, None, False)
        self._derived.add(name)
        self.metadata.provenance[name] = provenance
        return self._layers[name]

    @property
    def derived_layers(self) -> tuple[str, ...]:
        """Layers this twin derives from its other layers (and re-derives as they change)."""
        return tuple(n for n in self._layers if n in self._derived)

    def _rederive(self, changed: str) -> None:
        from .derived import inputs_of

        for name in [n for n in self._layers if n in self._derived]:
            if changed in inputs_of(name):
                self.derive_layer(name)

    def import_layer(
        self,
        name: str,
        path: str | os.PathLike,
        *,
        layer: str | None = None,
        source: str | None = None,
        synthetic: bool = False,
        repair: bool = False,
        **options,
    ) -> RepairReport:
        """Import a layer from a user's file: GeoJSON, GeoPackage, zipped Shapefile,
        GeoParquet, or CSV with lon/lat columns.

        Values are converted to the layer's declared kinds (each one that cannot be is
        reported with its row and column) and what can be derived is (areas, centres, a
        row's district, ids from names); see :func:`twin.assembly.import_layer` for the
        ``options`` (``columns`` to map, ``id``, ``set``, ``lon``/``lat``, ``crs``). Rows
        without ``source``/``synthetic`` get ``source`` (default: the file's name) and
        ``synthetic`` from the arguments, so provenance is never blank.
        """
        from .assembly import import_layer

        rep = import_layer(self, name, path, layer=layer, source=source or Path(path).name,
                           synthetic=synthetic, repair=repair, **options)
        return rep.repair or RepairReport(name)

    def remove_layer(self, name: str) -> None:
        self.layer(name)
        for d in (self._layers, self._schemas, self._hashes, self._metric, self._records):
            d.pop(name, None)
        self._derived.discard(name)
        if name == "region" and self._crs is None:
            self._derived_crs = None
            self._metric.clear()
        self._rederive(name)
        self._stored.discard(name)

    def _check_near_region(self, name: str, gdf: gpd.GeoDataFrame, schema: LayerSchema):
        # Swapped lat/lon of a mid-latitude region (say lat 50-54, lon 65-74) stays inside
        # degree ranges, so the range check alone cannot catch it; compare against the
        # region instead.
        if name == "region" or "region" not in self._layers or gdf.empty:
            return
        rx0, ry0, rx1, ry1 = self._layers["region"].total_bounds
        pad = max(rx1 - rx0, ry1 - ry0)
        x0, y0, x1, y1 = gdf.total_bounds

        def overlaps(a0, b0, a1, b1):
            return not (a1 < rx0 - pad or a0 > rx1 + pad or b1 < ry0 - pad or b0 > ry1 + pad)

        if not overlaps(x0, y0, x1, y1) and overlaps(y0, x0, y1, x1):
            bad = gdf.iloc[0][schema.id_column]
            raise CoordinateRangeError(
                f"layer {name!r}: feature {bad!r} lies at ({x0:.3f}, {y0:.3f}), far from the "
                f"region, but swapping x and y puts it inside: latitude and longitude look "
                "swapped; give coordinates as (lon, lat)"
            )

    # -- metric work ----------------------------------------------------------------------
    def metric(self, name: str) -> gpd.GeoDataFrame:
        """Layer ``name`` in the equal-area analysis CRS (metres), cached until it changes."""
        if name not in self._metric:
            self._metric[name] = to_metric(self.layer(name), self.analysis_crs)
        return self._metric[name]

    def area_km2(self, name: str) -> pd.Series:
        return self.metric(name).geometry.area / 1e6

    def water(self, *, metric: bool = False) -> gpd.GeoDataFrame | None:
        """The twin's water features in one frame: its ``lakes`` and ``rivers`` layers (and
        the mixed ``water`` layer of older twins), or None when it has none.

        Each is its own layer, one geometry type each, so GIS clients load them without
        asking; the plan's water protection rules apply to all of them. ``metric=True``
        gives them in the analysis CRS.
        """
        parts = [self.metric(n) if metric else self.layer(n) for n in WATER_LAYERS if n in self]
        if len(parts) <= 1:
            return parts[0] if parts else None
        return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs)

    # -- identity of data -----------------------------------------------------------------
    def content_hash(self, name: str | None = None) -> str:
        """SHA-256 of a layer's data (geometry WKB and attributes), or of all layers."""
        if name is None:
            h = hashlib.sha256()
            for n in sorted(self._layers):
                h.update(n.encode())
                h.update(self.content_hash(n).encode())
            return h.hexdigest()
        if name not in self._hashes:
            gdf = self.layer(name)
            h = hashlib.sha256()
            for wkb in shapely.to_wkb(np.asarray(gdf.geometry.values), hex=False):
                h.update(wkb)
            attrs = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
            h.update(",".join(attrs.columns).encode())
            h.update(pd.util.hash_pandas_object(attrs, index=False).values.tobytes())
            self._hashes[name] = h.hexdigest()
        return self._hashes[name]

    def data_version(self, name: str) -> str:
        """A short token that changes whenever layer ``name`` changes (for cache keys)."""
        return self.content_hash(name)[:16]

    def known_data_version(self, name: str) -> str | None:
        """:meth:`data_version` if it is known without reading or hashing the layer (the
        store records it for layers not edited since saving), else None."""
        h = self._hashes.get(name)
        return h[:16] if h is not None else None

    # -- persistence ----------------------------------------------------------------------
    def save(self, location: str | os.PathLike | store.Store) -> Path | str:
        """Write the whole twin, atomically, to a GeoPackage path or a ``postgresql://``
        URL (a crash leaves anything stored there before intact).

        What is saved is the whole twin: layers, metadata, attribute tables, the plan's
        versions not yet saved (:meth:`twin.plan.Plan.save`) and the rasters' files.
        Copy the file anywhere, or push it between stores (``twin push``), and
        :meth:`open` finds every raster. Returns the path, or the URL.
        """
        target = store.open_store(location)
        same = target.same_as(self.store) and target.exists()
        plan = self.__dict__.get("_plan")
        if plan is None or not plan.unsaved:
            return self._save(target, same)
        if same:
            plan.save()  # straight into the store, as Plan.save does; re-read below
            return self._save(target, same)
        with plan.staged():  # elsewhere: the versions go with the whole twin
            return self._save(target, same)

    def _save(self, target: store.Store, same: bool) -> Path | str:
        meta = {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "title": self.metadata.title,
            "provenance": self.metadata.provenance,
            "analysis_crs": self.analysis_crs.to_wkt() if self._layers or self._crs else None,
            "analysis_crs_derived": self._crs is None,
            "layer_order": self.layer_names,
            "derived_layers": list(self.derived_layers),
            "schemas": {n: s.to_dict() for n, s in self._schemas.items()},
            # Read back by open() for the layers nothing has edited since (twin/store).
            "layer_records": {n: {**self.layer_summary(n), "bounds": self.layer_bounds(n),
                                  "content_hash": self.content_hash(n)}
                              for n in self.layer_names},
            # What the twin scores and plans by, stored with it (the built-in ones if the
            # twin was given none, so a later toolkit cannot change them underneath).
            "indicators": self.document("indicators"),
            "regulations": self.document("regulations"),
        }
        expected = None
        if same:
            # Scenarios and plan versions are written straight into the store, in a
            # transaction, before memory: the store is never behind. Re-read them, so
            # saving the whole twin keeps what another session stored since this one
            # opened it. Anything else another writer changed since makes the save refuse
            # (where the store can tell: PostGIS), rather than overwrite it.
            reread, versions = target.read_tables(_FILE_FIRST_TABLES)
            self.tables.update(reread)
            expected = {**self.table_versions,
                        **{n: v for n, v in versions.items() if n in _FILE_FIRST_TABLES}}
        # The rasters' files are stored with the twin, so the saved twin is whole.
        rasters, files = self.tables.get("rasters"), {}
        if rasters is not None and len(rasters):
            from .raster.storage import files_to_save, tidy  # lazy: no raster code on import

            files = files_to_save(self, target, rasters)
        target.write_twin(self._layers, meta, self.tables, files, expected=expected)
        if self.store is not None and not target.same_as(self.store):
            self.store.close()
        self.store = target
        self.table_versions = target.versions()
        self._stored = set(self._layers)
        self._generation = target.generation()
        if files:
            tidy(self, rasters)
        return target.path if target.path is not None else target.location

    @classmethod
    def open(cls, location: str | os.PathLike | store.Store) -> Twin:
        """Open a twin written by :meth:`save`, ``twin build`` or ``twin push``: a
        GeoPackage path or a ``postgresql://user@host:port/db[?schema=NAME]`` URL.

        Only the metadata and attribute tables are read now; each layer is read (and
        validated) when first needed, so a large twin opens in a moment.
        """
        st = store.open_store(location)
        meta = st.read_meta()
        tables, versions = st.read_tables()
        schemas = {n: LayerSchema.from_dict(d) for n, d in meta.get("schemas", {}).items()}
        tw = cls(
            name=meta.get("name", Path(str(location)).stem),
            version=meta.get("version", "0"),
            provenance=meta.get("provenance", {}),
            title=meta.get("title", ""),
            tables=tables,
        )
        names = list(meta.get("layer_order", []))
        records = meta.get("layer_records", {})
        unchanged = st.unchanged_layers(names) if records else frozenset()
        generation = st.generation()
        for n in names:
            if n not in schemas:  # older files: the schema is inferred from the rows
                tw._put(n, _restore_dtypes(st.read_layer(n), None), None, False)
                continue
            tw._schemas[n] = schemas[n]
            tw._layers.defer(n, tw._reader(st, n, generation))
            if n in unchanged and n in records:
                tw._records[n] = records[n]
                tw._hashes[n] = records[n]["content_hash"]
        tw._derived = set(meta.get("derived_layers", [])) & set(tw._layers)
        if meta.get("analysis_crs"):
            stored = CRS.from_user_input(meta["analysis_crs"])
            if meta.get("analysis_crs_derived"):
                tw._derived_crs = stored  # still follows the region if that changes
            else:
                tw._crs = stored
        for key in ("indicators", "regulations"):
            if isinstance(meta.get(key), dict):
                tw._docs[key] = meta[key]
        tw.store = st
        tw.table_versions = versions
        tw._stored = set(tw._layers)
        tw._generation = generation
        return tw

    def _reader(self, st: store.Store, name: str, generation: object):
        def read() -> gpd.GeoDataFrame:
            schema = self._schemas[name]
            gdf = _restore_dtypes(st.read_layer(name), schema)
            if st.generation() != generation:
                # Read now, this layer would come from another save than the layers read
                # before (and the schemas, tables and plan of the open twin).
                raise TwinFileError(
                    f"{st.describe()} was replaced (saved whole by another session or "
                    f"program) after this twin was opened, so its layer {name!r} would "
                    "not match the layers already read: open it again (twin.Twin.open) "
                    "to work on what is stored now; `twin serve` does so by itself")
            if name not in st.unchanged_layers([name]):
                # Edited since open(): what the store recorded then is not about these
                # rows, so their count, extent and version come from the rows.
                self._records.pop(name, None)
                self._hashes.pop(name, None)
            valid, _ = validate_layer(gdf, schema, repair=False)
            self._check_near_region(name, valid, schema)
            return valid.reset_index(drop=True)

        return read

    def stored_layer(self, name: str) -> bool:
        """Whether layer ``name`` is, row for row, the one in :attr:`store` (so the store
        may answer queries about it, e.g. filters in SQL)."""
        return name in self._stored and name in self._layers

    def replaced(self) -> bool:
        """Whether the store was replaced whole (another session's or program's save of
        the whole twin, a ``twin push``) since this twin read or wrote it. Its layers not
        read yet then refuse to be read (they belong to another save): open it again.
        One ``stat`` for a file."""
        if self.store is None or self._generation is None:
            return False
        return self.store.generation() != self._generation

    def changed_tables(self) -> set[str]:
        """The attribute tables another process (or another worker of a server) changed in
        the store since this twin last read them: one cheap read of the store's counters."""
        if self.store is None:
            return set()
        now = self.store.versions()
        return {n for n in set(now) | set(self.table_versions)
                if now.get(n) != self.table_versions.get(n)}

    def reload_tables(self, names) -> None:
        """Read the attribute tables ``names`` again from the store (after
        :meth:`changed_tables`), with the counters of the same moment."""
        if self.store is None:
            return
        tables, versions = self.store.read_tables(names)
        for n in names:
            if n in tables:
                self.tables[n] = tables[n]
            else:
                self.tables.pop(n, None)
            self.table_versions[n] = versions.get(n)  # type: ignore[assignment]

    def refresh(self) -> set[str]:
        """Catch up with what other processes (or a server's other workers) wrote to the
        store: the attribute tables they changed are read again, and the score is rebuilt
        when its observations changed. One cheap read when nothing did. Returns the tables
        read again."""
        changed = self.changed_tables()
        if changed:
            self.reload_tables(sorted(changed))
            from .score.observations import TABLE as OBSERVATIONS  # lazy: score is heavy

            if OBSERVATIONS in changed:
                self.__dict__.pop("_score", None)
        return changed

    def noted_write(self, changes: dict[str, tuple[int, int]]) -> set[str]:
        """Record this twin's own committed write (a transaction's ``changes``, table ->
        counter before and after it). Returns the tables that another writer had changed
        in between: they stay marked as changed (:meth:`changed_tables`), to be read
        again."""
        stale = set()
        for n, (before, after) in changes.items():
            if before == self.table_versions.get(n, 0):
                self.table_versions[n] = after
            else:
                stale.add(n)
        return stale

    # -- summaries ------------------------------------------------------------------------
    def info(self) -> dict:
        """A JSON-ready summary: layers with counts, geometry types and how many rows are
        synthetic (made up), CRS, bounds, area."""
        bounds = None
        each = [b for b in map(self.layer_bounds, self._layers) if b is not None]
        if each:
            b = np.array(each)
            bounds = [float(b[:, 0].min()), float(b[:, 1].min()),
                      float(b[:, 2].max()), float(b[:, 3].max())]
        layers = {n: self.layer_summary(n) for n in self._layers}
        region_area = float(self.area_km2("region").sum()) if "region" in self else None
        return {
            "name": self.name,
            "title": self.title,
            "version": self.version,
            "layers": layers,
            "crs": "EPSG:4326",
            "analysis_crs": self.analysis_crs.to_string() if self._layers else None,
            "bounds": bounds,
            "region_area_km2": region_area,
            "path": self.location,
        }

    @property
    def score(self):
        """The region score of this twin (:class:`twin.score.Score`), built on first use and
        again when the districts (its units) change."""
        s = self.__dict__.get("_score")
        if s is None or not s.matches_twin():
            from .score import Score  # lazy: `import twin` stays light

            s = self._score = Score(self)
        return s

    @property
    def plan(self):
        """The digital general plan of this twin (:class:`twin.plan.Plan`), made on first use.

        Made afresh when a layer it reads has changed since (zones, or the layers zones are
        derived from, protected areas, water, settlements, parcels), so its zones and
        findings always follow the twin. Changes not yet saved carry over when the plan's
        base zones are derived from the twin's layers (they replay on the new ones).
        """
        p = self.__dict__.get("_plan")
        if p is None or not p.matches_twin():
            from .plan import Plan  # lazy: `import twin` stays light

            p = self._plan = Plan(self, carry=p)
        return p

    def scenario(self, name: str, *, create: bool = True):
        """The stored scenario ``name`` (:class:`twin.scenario.Scenario`, its edits
        replayed), or a new empty one when none is stored (``create=False`` raises)."""
        from .scenario import open_scenario  # lazy: `import twin` stays light

        return open_scenario(self, name, create=create)

    def map(self, **kwargs):
        """A pydeck 3D view of the twin (needs the ``viz`` extra)."""
        from layers.deck import twin_deck  # lazy: twin stays free of drawing code on import

        return twin_deck(self, **kwargs)


def _inferred_schema(name: str, gdf: gpd.GeoDataFrame) -> LayerSchema:
    if "id" not in gdf.columns:
        raise SchemaError(
            f"layer {name!r} has no 'id' column: add one with a unique value per feature "
            "(e.g. gdf['id'] = range(len(gdf)))"
        )
    types = sorted(set(gdf.geom_type.dropna())) if len(gdf) else ["Polygon"]
    families = {t.replace("Multi", "") for t in types}
    accepted = tuple(sorted({t for f in families for t in (f, "Multi" + f)}))
    id_kind = "int" if pd.api.types.is_integer_dtype(gdf["id"]) else "str"
    return LayerSchema(name, accepted, columns={"id": id_kind}, description=f"User layer {name}")


def _restore_dtypes(gdf: gpd.GeoDataFrame, schema: LayerSchema | None) -> gpd.GeoDataFrame:
    # GeoPackage has no boolean storage class; GDAL marks the subtype and pyogrio restores
    # it, but an empty layer can still come back as int.
    if schema is None:
        return gdf
    for col, kind in schema.kinds.items():
        if col in gdf.columns and kind == "bool" and not pd.api.types.is_bool_dtype(gdf[col]):
            # a yes/no nobody knows stays unknown (pandas' nullable boolean), never "no"
            s = gdf[col]
            gdf[col] = s.astype(bool) if s.notna().all() else s.astype("boolean")
    return gdf
