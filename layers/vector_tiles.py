"""Vector tiles (MVT) of a twin's layers, in WebMercatorQuad.

The per-layer tile settings live in one declarative table, :data:`TILE_LAYERS`. A tile is
made in four vectorised steps over the features of one layer:

1. a packed R-tree query with the tile's buffered box (layers/tile_index.py: the layer is
   prepared once per data version and saved beside the twin file, or in a PostGIS twin's
   database and a local copy of it, where every later process memory-maps it);
2. the over-dense policy (docs/tiles.md): above ``max_features`` candidates, keep the largest;
3. ``shapely.clip_by_rect``, one affine ``shapely.transform`` into tile units, then
   ``shapely.simplify`` with the zoom's tolerance (in tile units);
4. :func:`layers.mvt.encode_layer`, a NumPy encoder with no per-feature Python.

:class:`TileSource` holds the prepared layers and an LRU tile cache keyed by
``(layer, data version, z, x, y)``, so that a change of a layer's data never serves a stale
tile and an unchanged layer never renders the same tile twice.

Examples
--------
>>> import twin                                            # doctest: +SKIP
>>> src = TileSource(twin.load_default())                  # doctest: +SKIP
>>> t = src.tile("parcels", 8, 176, 83)                     # doctest: +SKIP
>>> t.data[:1], t.etag                                      # doctest: +SKIP
(b'\\x1a', '"…"')
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely

from twin.errors import TileOutOfRange

from . import tile_index
from .mvt import encode_layer
from .tile_index import PreparedLayer
from .tile_math import tile_bounds, valid_tile

__all__ = ["TileLayer", "TILE_LAYERS", "tile_layer", "TileSource", "Tile", "EXTENT",
           "ENCODER_VERSION"]

#: Tile extent in units per side (the MVT default, and what PostGIS uses).
EXTENT = 4096
#: Bumped when the encoder's output changes, so that ETags change with it.
ENCODER_VERSION = "1"

_PROV = ("accuracy", "source", "synthetic")
log = logging.getLogger("layers")


@dataclass(frozen=True)
class TileLayer:
    """How one layer is tiled.

    Parameters
    ----------
    minzoom, maxzoom : int
        Zooms at which tiles are served. Clients overzoom past ``maxzoom``, which is served
        unsimplified, so overzoomed tiles stay exact.
    buffer : int
        Tile units drawn beyond each edge, so that strokes join across tiles.
    simplify : tuple of (zoom, tolerance)
        Douglas-Peucker tolerance in tile units from each zoom on (the last step at or below
        a zoom wins); at ``maxzoom`` and beyond, nothing is simplified.
    properties : tuple of str
        The allow-list of properties a tile carries (those missing from a layer are skipped).
    max_features : int or None
        The over-dense policy: above this many features in a tile, only the largest
        (area, then length; points keep their order of importance) are kept.
    """

    minzoom: int = 0
    maxzoom: int = 16
    buffer: int = 64
    simplify: tuple[tuple[int, float], ...] = ((0, 1.0),)
    properties: tuple[str, ...] = ("id", "name", *_PROV)
    max_features: int | None = 50_000

    def tolerance(self, z: int) -> float:
        if z >= self.maxzoom:
            return 0.0
        tol = 0.0
        for start, t in self.simplify:
            if z >= start:
                tol = t
        return tol


#: Per-layer tile settings. Why these numbers is written down in docs/tiles.md.
TILE_LAYERS: dict[str, TileLayer] = {
    "region": TileLayer(0, 14, properties=("id", "name", *_PROV)),
    "context": TileLayer(0, 14, properties=("id", "name", "kind", *_PROV)),
    "districts": TileLayer(
        0, 14, properties=("id", "name", "kind", "centre", "area_km2", *_PROV)),
    "settlements": TileLayer(
        3, 16, buffer=16,
        properties=("id", "name", "population", "district_id", *_PROV)),
    "industrial_zones": TileLayer(
        5, 16, properties=("id", "name", "district_id", "area_ha", *_PROV)),
    "protected_areas": TileLayer(
        3, 16, properties=("id", "name", "kind", "area_ha", *_PROV)),
    "project_sites": TileLayer(
        3, 16, buffer=16,
        properties=("id", "name", "sector", "status", "jobs", "investment_kzt",
                    "hazard_class", "district_id", *_PROV)),
    # Parcels are dense: up to 1,000,000 in a region a few z6 tiles wide. From z5 (the whole
    # region on one screen) a tile keeps its 8,000 largest parcels, a few hundred KB; from
    # about z11 every parcel fits. See docs/tiles.md.
    "parcels": TileLayer(
        5, 16, buffer=16, simplify=((0, 1.0),),
        properties=("id", "district_id", "land_use", "area_ha", "synthetic"),
        max_features=8_000),
    "lakes": TileLayer(3, 16, properties=("id", "name", "kind", *_PROV)),
    "rivers": TileLayer(3, 16, properties=("id", "name", "kind", *_PROV)),
    "water": TileLayer(3, 16, properties=("id", "name", "kind", *_PROV)),  # older twins
    "zones": TileLayer(
        5, 16, properties=("id", "zone_type", "district_id", "area_ha", *_PROV)),
}
_DEFAULT = TileLayer()


def tile_layer(name: str) -> TileLayer:
    """The tile settings of layer ``name`` (a user layer gets the defaults)."""
    return TILE_LAYERS.get(name, _DEFAULT)


@dataclass
class Tile:
    """One rendered tile: MVT bytes (``b""`` for an empty tile) and a strong ETag."""

    data: bytes
    etag: str
    _gz: bytes | None = None
    #: Derived forms a server may memoise with the tile (e.g. ready HTTP answers), so they
    #: live and die with the cache entry.
    memo: dict = field(default_factory=dict, repr=False)

    @property
    def gzipped(self) -> bytes:
        # Compressed on first demand, then kept: most clients ask for gzip, the bench not.
        if self._gz is None:
            self._gz = gzip.compress(self.data, compresslevel=5, mtime=0)
        return self._gz

    @property
    def size(self) -> int:
        return len(self.data) + (len(self._gz) if self._gz else 0)


class TileSource:
    """Vector tiles of one twin, with an LRU cache keyed by layer data version.

    Parameters
    ----------
    twin : twin.Twin
        The twin whose layers are tiled.
    cache_bytes : int
        Upper bound on the bytes of cached tiles.
    index_dir : path, optional
        Where prepared layers are saved and reopened (layers/tile_index.py); by default
        beside the twin's file, or for a PostGIS twin in its store's local cache (and in
        the database, for every host). ``False`` keeps them in memory only.
    """

    def __init__(self, twin, cache_bytes: int = 256 * 2**20, index_dir=None):
        self.twin = twin
        self.cache_bytes = cache_bytes
        self.index_dir = index_dir
        self._cache: OrderedDict[tuple, Tile] = OrderedDict()
        self._cached = 0
        self._lock = threading.Lock()
        self._prep_locks: dict[str, threading.Lock] = {}
        self._prepared: dict[str, tuple[str, PreparedLayer]] = {}
        self._unshared = False  # the store refused an index once (said once, in the log)

    # -- cache ----------------------------------------------------------------------------
    def key(self, name: str, z: int, x: int, y: int) -> tuple:
        """The cache key of a tile, never waiting: while the layer's data version is not
        known without reading and hashing the layer, its version part is None, which no
        cached tile has (the event loop's fast path asks, and must not wait)."""
        return (name, self.twin.known_data_version(name), z, x, y)

    def cached(self, key: tuple) -> Tile | None:
        """The cached tile for ``key``, or None. Cheap: meant for a fast path."""
        if key[1] is None:
            return None
        with self._lock:
            t = self._cache.get(key)
            if t is not None:
                self._cache.move_to_end(key)
            return t

    def _store(self, key: tuple, tile: Tile) -> None:
        with self._lock:
            old = self._cache.pop(key, None)
            if old is not None:
                self._cached -= old.size
            self._cache[key] = tile
            self._cached += tile.size
            while self._cached > self.cache_bytes and self._cache:
                _, t = self._cache.popitem(last=False)
                self._cached -= t.size

    # -- tiles ----------------------------------------------------------------------------
    def _where(self, name: str):
        """Where layer ``name``'s index is saved on this host (None: in memory only), and
        the store that shares it between hosts (None: none; a database twin's does)."""
        if self.index_dir is False:
            return None, None
        st = getattr(self.twin, "store", None)
        # Only a layer that is, row for row, the stored one: an index of edits not saved
        # there would replace the stored layer's own.
        shared = st if st is not None and st.keeps_blobs and self.twin.stored_layer(name) \
            else None
        if self.index_dir:
            return Path(self.index_dir), shared
        if self.twin.path is not None:
            return tile_index.index_dir(self.twin.path), None
        return (shared.blob_cache_dir() if shared is not None else None), shared

    def prepared(self, name: str) -> PreparedLayer:
        """Layer ``name`` ready for tiling at its current data version: opened from its
        saved index, else prepared from the layer (and saved, for the next process)."""
        version = self.twin.data_version(name)
        got = self._prepared.get(name)
        if got is not None and got[0] == version:
            return got[1]
        with self._lock:
            lock = self._prep_locks.setdefault(name, threading.Lock())
        with lock:  # one preparation per layer at a time; other layers are not held up
            got = self._prepared.get(name)
            if got is None or got[0] != version:
                got = (version, self._prepare(name, version))
                self._prepared[name] = got
            return got[1]

    def _prepare(self, name: str, version: str) -> PreparedLayer:
        where, shared = self._where(name)
        prep = self._saved(where, shared, name, version)
        if prep is not None:
            return prep
        # One process prepares a layer for a database and its hosts; the others wait for it
        # (their request would wait as long preparing it), then fetch what it stored.
        with tile_index.preparing(shared, name):
            prep = self._saved(where, shared, name, version) if shared is not None else None
            return prep if prep is not None else self._build(where, shared, name, version)

    @staticmethod
    def _saved(where, shared, name: str, version: str) -> PreparedLayer | None:
        if where is None:
            return None
        prep = tile_index.open_saved(where, name, version)
        if prep is None and shared is not None:
            prep = tile_index.fetch(shared, where, name, version)
        return prep

    def _build(self, where, shared, name: str, version: str) -> PreparedLayer:
        prep = PreparedLayer.build(self.twin.layer(name), self.twin.schema(name).id_column,
                                   tile_layer(name).properties)
        if where is not None:
            try:
                saved = tile_index.save(prep, where, name, version)
            except OSError as e:  # a read-only place: serve from memory, say so once
                log.warning("cannot save the tile index of %r in %s (%s): it is kept in "
                            "memory only, and prepared again by the next process", name,
                            where, e)
            else:
                # Memory-mapped, its pages are shared with every process serving this twin.
                prep = tile_index.open_saved(saved.parent, name, version) or prep
        if shared is not None:
            try:
                tile_index.share(prep, shared, name, version)
            except OSError as e:  # a read-only role (TwinFileError), the database away
                (log.debug if self._unshared else log.warning)(
                    "cannot store the tile index of %r in %s (%s): every host prepares it "
                    "again", name, shared.describe(), e)
                self._unshared = True
        return prep

    def tile(self, name: str, z: int, x: int, y: int) -> Tile:
        """The tile (z, x, y) of layer ``name``, from the cache or freshly rendered.

        Raises ``LayerNotFound`` for an unknown layer and ``TileOutOfRange`` (a
        ``ValueError``) for a tile outside WebMercatorQuad or outside the layer's zoom range.
        """
        if name not in self.twin:
            self.twin.layer(name)  # raises LayerNotFound, naming the layers there are
        settings = tile_layer(name)
        if not valid_tile(z, x, y):
            raise TileOutOfRange(f"tile {z}/{x}/{y} is not in WebMercatorQuad: at zoom z, "
                                 "columns and rows run from 0 to 2^z - 1")
        if not settings.minzoom <= z <= settings.maxzoom:
            raise TileOutOfRange(
                f"layer {name!r} is tiled from zoom {settings.minzoom} to "
                f"{settings.maxzoom}; zoom {z} is outside"
            )
        key = (name, self.twin.data_version(name), z, x, y)
        t = self.cached(key)
        if t is None:
            data = render_tile(self.prepared(name), name, settings, z, x, y)
            digest = hashlib.blake2b(
                repr((key, ENCODER_VERSION)).encode(), digest_size=12).hexdigest()
            t = Tile(data, f'"{digest}"')
            self._store(key, t)
        return t


_SIMPLE_VERTICES = 6


def _family_only(geoms: np.ndarray) -> np.ndarray:
    """Clipping can turn a polygon into a GeometryCollection of polygons and slivers of
    line; keep the parts of the highest dimension, as a multi-geometry."""
    coll = np.flatnonzero(shapely.get_type_id(geoms) == 7)
    for i in coll:
        parts = shapely.get_parts(geoms[i])
        dims = shapely.get_dimensions(parts)
        parts = parts[dims == dims.max()] if len(parts) else parts
        if not len(parts):
            geoms[i] = None
        elif dims.max() == 2:
            geoms[i] = shapely.multipolygons(shapely.get_parts(parts))
        elif dims.max() == 1:
            geoms[i] = shapely.multilinestrings(shapely.get_parts(parts))
        else:
            geoms[i] = shapely.multipoints(shapely.get_parts(parts))
    return geoms


def render_tile(prep: PreparedLayer, name: str, settings: TileLayer, z: int, x: int, y: int,
                extent: int = EXTENT) -> bytes:
    """Render one tile of a prepared layer (no cache). ``b""`` when nothing is in it."""
    minx, miny, maxx, maxy = tile_bounds(z, x, y)
    size = maxx - minx
    pad = size * settings.buffer / extent
    box = (minx - pad, miny - pad, maxx + pad, maxy + pad)
    idx = prep.query(box)  # ascending
    if not len(idx):
        return b""
    cap = settings.max_features
    if cap is not None and len(idx) > cap:
        # Over-dense: keep the `cap` largest (argpartition is deterministic for a given input).
        top = np.argpartition(-prep.rank[idx], cap - 1)[:cap]
        idx = idx[top]
        idx.sort()
    g = prep.geometries(idx)
    # Only features crossing the buffered box need clipping; most are inside it.
    b = prep.bounds[idx]
    crossing = ((b[:, 0] < box[0]) | (b[:, 1] < box[1]) | (b[:, 2] > box[2])
                | (b[:, 3] > box[3]))
    if crossing.any():
        g[crossing] = shapely.clip_by_rect(g[crossing], *box)
    scale = extent / size
    tol = settings.tolerance(z)
    if tol > 0:
        # Only geometries with more vertices than a ring of a quad can lose any to
        # simplification; skipping the rest (most parcels) halves the cost of a tile.
        busy = shapely.get_num_coordinates(g) > _SIMPLE_VERTICES
        if busy.any():
            g[busy] = shapely.simplify(g[busy], tol / scale, preserve_topology=True)
    g = _family_only(g)
    ids = np.asarray(prep.ids[idx]) if prep.ids is not None else None
    return encode_layer(name, g, rows=idx, columns=prep.columns, ids=ids, extent=extent,
                        transform=(minx, maxy, scale))
