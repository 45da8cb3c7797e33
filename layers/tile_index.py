"""A layer prepared for vector tiles, in plain arrays that are saved once per data version
and memory-mapped by every server process after that.

Preparing 1,000,000 parcels (Web Mercator coordinates, a spatial index, encoded columns)
takes seconds and, held as shapely objects, hundreds of MB per process. Everything a tile
needs is kept instead as NumPy arrays:

- the Web Mercator geometries as ragged coordinate arrays (``shapely.to_ragged_array``), or
  as WKB for a layer mixing geometry families; a tile rebuilds only its own features;
- each feature's Mercator bounds and rank (area or length, for the over-dense policy);
- a packed R-tree over the bounds (:class:`PackedTree`);
- the encoded property columns (:class:`layers.mvt.EncodedColumn`) and feature ids.

:func:`save` writes them beside the twin file, in a directory named by the layer and its
data version, as raw array files plus ``index.json`` (their dtypes and shapes, written
last): first into a temporary directory, then moved into place with one ``rename``
(:mod:`twin.store.array_dir`), so a crash mid-write leaves no index (the next start builds
it again) and never half of one. :func:`open_saved` checks the recorded layer, data
version and format before memory-mapping anything, so an index of another data version
is never used; anything unreadable counts as absent.

Why not ``.npy`` files: ``np.load`` parses each header with ``ast.literal_eval``, and on
CPython 3.11 the AST's recursion counter is not thread-safe (gh-106905), so an index opened
in the warm-up thread could make another thread's ``compile`` fail with a SystemError.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path

import numpy as np
import shapely

from twin.store import array_dir

from .mvt import EncodedColumn, encode_values
from .tile_math import lonlat_to_mercator, to_mercator

__all__ = ["PreparedLayer", "PackedTree", "index_dir", "save", "open_saved", "share", "fetch",
           "preparing", "FORMAT"]

log = logging.getLogger("layers")

#: Bumped whenever what is saved (or how it is encoded) changes: older indexes are rebuilt.
FORMAT = 1
_NODE = 16
_CHUNK = 65_536
#: Bytes per part of an index kept in a store (a database's bytea values travel whole).
_PART = 16 * 2**20
_LABEL = re.compile(r"[a-z][a-z0-9_]*")
_NONE = np.empty(0, dtype=np.uint8)


class PackedTree:
    """A static R-tree over boxes, in arrays: the leaves are the boxes sorted by
    sort-tile-recursive order, each node bounds ``_NODE`` consecutive children.

    Written here because shapely's STRtree can be neither saved nor memory-mapped; a
    packed tree is a few arrays that can. ``query`` answers what ``STRtree.query`` does
    without a predicate: every box that intersects the query box (edges included).
    """

    def __init__(self, order: np.ndarray, nodes: np.ndarray, level_starts: np.ndarray,
                 boxes: np.ndarray) -> None:
        self.order = order  # leaf position -> feature row
        self.nodes = nodes  # every level's node boxes, leaves' parents first
        self.level_starts = level_starts
        self.boxes = boxes  # per feature row (NaN for an empty geometry)

    @classmethod
    def build(cls, boxes: np.ndarray) -> PackedTree:
        rows = np.flatnonzero(~np.isnan(boxes).any(axis=1))
        n = len(rows)
        if n:
            cx = (boxes[rows, 0] + boxes[rows, 2]) / 2
            cy = (boxes[rows, 1] + boxes[rows, 3]) / 2
            by_x = np.argsort(cx, kind="stable")
            slabs = max(1, int(np.ceil(np.sqrt(np.ceil(n / _NODE)))))
            slab = np.arange(n) * slabs // n
            order = rows[by_x[np.lexsort((cy[by_x], slab))]]
        else:
            order = rows
        levels: list[np.ndarray] = []
        level = boxes[order]
        while len(level) > 1 or not levels:
            starts = np.arange(0, max(len(level), 1), _NODE)
            if len(level):
                level = np.column_stack([
                    np.minimum.reduceat(level[:, 0], starts),
                    np.minimum.reduceat(level[:, 1], starts),
                    np.maximum.reduceat(level[:, 2], starts),
                    np.maximum.reduceat(level[:, 3], starts)])
            else:
                level = np.full((1, 4), np.nan)
            levels.append(level)
        level_starts = np.zeros(len(levels) + 1, dtype=np.int64)
        np.cumsum([len(v) for v in levels], out=level_starts[1:])
        return cls(order.astype(np.int64), np.concatenate(levels), level_starts, boxes)

    def query(self, box: tuple[float, float, float, float]) -> np.ndarray:
        """Rows whose box intersects ``box`` (minx, miny, maxx, maxy), in ascending order."""
        x0, y0, x1, y1 = box

        def hits(b: np.ndarray) -> np.ndarray:
            return (b[:, 0] <= x1) & (b[:, 2] >= x0) & (b[:, 1] <= y1) & (b[:, 3] >= y0)

        top = len(self.level_starts) - 2
        cand = np.arange(self.level_starts[top + 1] - self.level_starts[top])
        below = len(self.order)
        for lv in range(top, -1, -1):
            nodes = self.nodes[self.level_starts[lv] + cand]
            cand = cand[hits(nodes)]
            size = (self.level_starts[lv] - self.level_starts[lv - 1]) if lv else below
            cand = (cand[:, None] * _NODE + np.arange(_NODE)).ravel()
            cand = cand[cand < size]
        rows = self.order[cand]
        rows = rows[hits(self.boxes[rows])]
        rows.sort()
        return rows


class _Geometries:
    """The layer's Mercator geometries as arrays; ``take(rows)`` rebuilds those rows."""

    def __init__(self, kind: int, coords: np.ndarray, offsets: tuple[np.ndarray, ...],
                 wkb: np.ndarray = _NONE, wkb_offsets: np.ndarray = _NONE):
        self.kind, self.coords, self.offsets = kind, coords, offsets
        self.wkb, self.wkb_offsets = wkb, wkb_offsets

    @classmethod
    def build(cls, lonlat: np.ndarray) -> _Geometries:
        """From lon/lat geometries: their coordinates move to Web Mercator as one array,
        so no Mercator copy of the layer's geometry objects is ever made."""
        try:
            kind, coords, offsets = shapely.to_ragged_array(lonlat)
        except (ValueError, shapely.errors.GEOSException):
            return cls._wkb(to_mercator(lonlat))
        x, y = lonlat_to_mercator(coords[:, 0], coords[:, 1])
        return cls(int(kind), np.column_stack([x, y]), tuple(offsets))

    @classmethod
    def _wkb(cls, merc: np.ndarray) -> _Geometries:
        # Mixed families (points with polygons, collections): one WKB blob instead.
        blobs = shapely.to_wkb(merc)
        sizes = np.array([len(b) if b is not None else 0 for b in blobs], dtype=np.int64)
        offs = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offs[1:])
        data = np.frombuffer(b"".join(b for b in blobs if b is not None), dtype=np.uint8)
        return cls(-1, np.empty((0, 2)), (), data, offs)

    def take(self, rows: np.ndarray) -> np.ndarray:
        if self.kind < 0:
            data, offs = self.wkb, self.wkb_offsets
            blobs = np.empty(len(rows), dtype=object)
            blobs[:] = [data[offs[i]:offs[i + 1]].tobytes() or None for i in rows]
            return shapely.from_wkb(blobs)
        sel, new = rows, []
        for off in reversed(self.offsets):  # outermost (features) to innermost (points)
            start = off[sel].astype(np.int64)
            n = off[sel + 1] - start
            ends = np.zeros(len(sel) + 1, dtype=np.int64)
            np.cumsum(n, out=ends[1:])
            sel = np.repeat(start - ends[:-1], n) + np.arange(ends[-1])
            new.append(ends)
        return shapely.from_ragged_array(shapely.GeometryType(self.kind), self.coords[sel],
                                         tuple(reversed(new)) or None)

    def arrays(self) -> dict[str, np.ndarray]:
        if self.kind < 0:
            return {"wkb": self.wkb, "wkb_offsets": self.wkb_offsets}
        return {"coords": self.coords,
                **{f"offsets{i}": o for i, o in enumerate(self.offsets)}}


class PreparedLayer:
    """One layer ready for tiling (see the module notes); build with :meth:`build`."""

    def __init__(self, geoms: _Geometries, tree: PackedTree, rank: np.ndarray,
                 columns: list[EncodedColumn], ids: np.ndarray | None) -> None:
        self.geoms, self.tree, self.rank = geoms, tree, rank
        self.columns, self.ids = columns, ids

    @property
    def bounds(self) -> np.ndarray:
        return self.tree.boxes

    def __len__(self) -> int:
        return len(self.rank)

    @classmethod
    def build(cls, gdf, id_column: str, properties) -> PreparedLayer:
        geoms = _Geometries.build(np.asarray(gdf.geometry.values))
        n = len(gdf)
        boxes, rank = np.empty((n, 4)), np.empty(n)
        # A chunk of Mercator geometries at a time, so that preparing 1,000,000 parcels
        # never holds a Mercator copy of them all (hundreds of MB at the peak).
        for start in range(0, n, _CHUNK):
            rows = np.arange(start, min(n, start + _CHUNK))
            merc = geoms.take(rows)
            boxes[rows] = shapely.bounds(merc)
            # The over-dense policy ranks by size: area for polygons, length for lines;
            # points keep their table order (the layers list the important ones first).
            tid = shapely.get_type_id(merc)
            rank[rows] = np.where(tid >= 3, shapely.area(merc), shapely.length(merc))
        cols = [c for c in properties if c in gdf.columns]
        ids = gdf[id_column]
        uint_ids = None
        if ids.dtype.kind in "iu" and (len(ids) == 0 or ids.min() >= 0):
            uint_ids = ids.to_numpy().astype(np.uint64)
        return cls(geoms, PackedTree.build(boxes), rank,
                   [encode_values(c, gdf[c]) for c in cols], uint_ids)

    def query(self, box) -> np.ndarray:
        return self.tree.query(box)

    def geometries(self, rows: np.ndarray) -> np.ndarray:
        """The Mercator geometries of ``rows`` (a fresh array the caller may change)."""
        return self.geoms.take(rows)

    # -- saving ---------------------------------------------------------------------------
    def _arrays(self) -> dict[str, np.ndarray]:
        t = self.tree
        out = {"rank": self.rank, "boxes": t.boxes, "order": t.order, "nodes": t.nodes,
               "level_starts": t.level_starts, **self.geoms.arrays()}
        for i, c in enumerate(self.columns):
            out.update({f"col{i}_codes": c.codes, f"col{i}_blob": c.blob,
                        f"col{i}_offsets": c.offsets})
        if self.ids is not None:
            out["ids"] = self.ids
        return out

    def _manifest(self) -> dict:
        return {"geometry_kind": self.geoms.kind, "offsets": len(self.geoms.offsets),
                "columns": [c.key for c in self.columns], "ids": self.ids is not None,
                "features": len(self)}

    @classmethod
    def _from_arrays(cls, man: dict, a: dict[str, np.ndarray]) -> PreparedLayer:
        kind = int(man["geometry_kind"])
        if kind < 0:
            geoms = _Geometries(kind, np.empty((0, 2)), (), a["wkb"], a["wkb_offsets"])
        else:
            geoms = _Geometries(kind, a["coords"],
                                tuple(a[f"offsets{i}"] for i in range(int(man["offsets"]))))
        tree = PackedTree(a["order"], a["nodes"], a["level_starts"], a["boxes"])
        cols = [EncodedColumn(k, a[f"col{i}_codes"], a[f"col{i}_blob"], a[f"col{i}_offsets"])
                for i, k in enumerate(man["columns"])]
        prep = cls(geoms, tree, a["rank"], cols, a["ids"] if man["ids"] else None)
        n = int(man["features"])
        if len(prep.rank) != n or len(tree.boxes) != n or any(len(c.codes) != n for c in cols):
            raise ValueError("arrays of unequal length")
        return prep


def index_dir(twin_path: str | os.PathLike) -> Path:
    """Where the tile indexes of the twin file at ``twin_path`` are saved: beside it."""
    return Path(f"{twin_path}.tiles")


def _name(layer: str, version: str) -> str:
    return f"{layer}-{version}-f{FORMAT}"


def _manifest(prep: PreparedLayer, layer: str, version: str) -> dict:
    arrays = {k: [a.dtype.str, list(a.shape)] for k, a in prep._arrays().items()}
    return {"layer": layer, "data_version": version, "format": FORMAT, "arrays": arrays,
            **prep._manifest()}


def _install(tmp: Path, final: Path, layer: str) -> Path:
    """Move the index written in ``tmp`` into place (one ``rename``), and remove the
    layer's indexes of other versions."""
    array_dir.install(tmp, final, "index.json")
    # Layer names are identifiers (no "-"), so this names only this layer's indexes.
    for old in final.parent.glob(f"{layer}-*"):
        if old.name != final.name:
            shutil.rmtree(old, ignore_errors=True)
    return final


def save(prep: PreparedLayer, where: Path, layer: str, version: str) -> Path:
    """Save ``prep`` as layer ``layer``'s index at data version ``version``, atomically;
    other versions of that layer's index are removed. Returns the index directory."""
    final = where / _name(layer, version)
    tmp = array_dir.temporary(where, final)
    try:
        for key, arr in prep._arrays().items():
            array_dir.write(tmp / f"{key}.bin", [np.ascontiguousarray(arr).data])
        array_dir.write(tmp / "index.json", [json.dumps(_manifest(prep, layer, version)).encode()])
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _install(tmp, final, layer)


# -- in a store (a PostGIS twin's database) ---------------------------------------------
def _group(layer: str) -> str:
    return f"tile index {layer}"


def _chunks(arr: np.ndarray):
    flat = np.ascontiguousarray(arr).reshape(-1).view(np.uint8).data
    for i in range(0, len(flat), _PART):
        yield flat[i:i + _PART]


def preparing(store, layer: str):
    """Held while this process prepares layer ``layer``'s index to store it: another
    process about to prepare it waits, then fetches it (see ``Store.preparing``)."""
    return store.preparing(_group(layer)) if store is not None else contextlib.nullcontext()


def share(prep: PreparedLayer, store, layer: str, version: str) -> None:
    """Store ``prep`` in ``store`` (one blob per layer: the index at its current data
    version), so that other processes and hosts open it with :func:`fetch`. Each array's
    length and SHA-256 go into the manifest, the last part, for :func:`fetch` to check."""
    man = _manifest(prep, layer, version)

    def parts():
        sums = {}
        for key, arr in prep._arrays().items():
            h, n = hashlib.sha256(), 0
            for chunk in _chunks(arr):
                h.update(chunk)
                n += len(chunk)
                yield key, chunk
            sums[key] = [n, h.hexdigest()]
        yield "index.json", json.dumps({**man, "parts": sums}).encode()

    store.put_blob(_group(layer), _name(layer, version), parts())


def fetch(store, where: Path, layer: str, version: str) -> PreparedLayer | None:
    """Layer ``layer``'s index at ``version`` from ``store``, unpacked into ``where`` (the
    local copy the processes of this host map) and memory-mapped; None when the store
    holds none, or one that does not check out (lengths, SHA-256, layer, version, format)."""
    final = where / _name(layer, version)
    try:
        tmp = array_dir.temporary(where, final)
    except OSError as e:
        log.warning("cannot unpack the tile index of %r into %s (%s): preparing it", layer,
                    where, e)
        return None
    files: dict[str, tuple] = {}
    man = None
    try:
        with contextlib.ExitStack() as opened, \
                contextlib.closing(store.blob_parts(_group(layer), final.name)) as stored:
            for label, data in stored:
                if label == "index.json":
                    man = json.loads(data)
                    continue
                if label not in files:
                    if not _LABEL.fullmatch(label):
                        raise ValueError(f"a part called {label!r}")
                    files[label] = (opened.enter_context(open(tmp / f"{label}.bin", "wb")),
                                    hashlib.sha256(), [0])
                f, h, n = files[label]
                f.write(data)
                h.update(data)
                n[0] += len(data)
            for f, _, _ in files.values():
                f.flush()
                os.fsync(f.fileno())
        if man is None:
            return None  # not stored (yet), or by another format
        if man.get("layer") != layer or man.get("data_version") != version or \
                man.get("format") != FORMAT:
            raise ValueError(f"it is of layer {man.get('layer')!r} at version "
                             f"{man.get('data_version')}")
        sums = man.pop("parts")
        for key in man["arrays"]:
            length, digest = sums[key]
            _, h, n = files.get(key) or (None, hashlib.sha256(), [0])
            if n[0] != length or h.hexdigest() != digest:
                raise ValueError(f"part {key!r} holds {n[0]} bytes that do not check out")
            if key not in files:
                array_dir.write(tmp / f"{key}.bin", [])
        array_dir.write(tmp / "index.json", [json.dumps(man).encode()])
    except (OSError, ValueError, KeyError, TypeError) as e:  # TwinError's are OSError's
        log.warning("the tile index of %r in %s is unreadable (%s): preparing it again",
                    layer, store.describe(), e)
        man = None
        return None
    finally:
        if man is None:
            shutil.rmtree(tmp, ignore_errors=True)
    try:
        _install(tmp, final, layer)
    except OSError as e:
        log.warning("cannot unpack the tile index of %r into %s (%s): preparing it", layer,
                    where, e)
        return None
    return open_saved(where, layer, version)


def open_saved(where: Path, layer: str, version: str) -> PreparedLayer | None:
    """Layer ``layer``'s saved index at data version ``version``, memory-mapped, or None
    when there is none (or it is not readable, or not of that version and format)."""
    d = where / _name(layer, version)
    try:
        man = json.loads((d / "index.json").read_text())
        if man.get("layer") != layer or man.get("data_version") != version or \
                man.get("format") != FORMAT:
            log.warning("tile index %s is not of layer %r at version %s: rebuilding it",
                        d, layer, version)
            return None
        arrays = {k: array_dir.mapped(d / f"{k}.bin", np.dtype(dt), tuple(shape))
                  for k, (dt, shape) in man["arrays"].items()}
        return PreparedLayer._from_arrays(man, arrays)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("tile index %s is unreadable (%s): rebuilding it", d, e)
        with contextlib.suppress(OSError):
            shutil.rmtree(d)
        return None
