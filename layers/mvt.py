"""A vectorised Mapbox Vector Tile (MVT 2.1) encoder written with NumPy.

An MVT is a small protobuf in which almost every number is a varint: field keys, lengths,
geometry commands, zigzagged coordinate deltas, tag indexes. So the encoder builds one array
of integers for the whole layer (feature headers, tags and geometry commands interleaved)
and turns it into bytes with one vectorised varint pass. There is no Python loop per feature
or per vertex; the only per-item Python work is encoding each distinct *string* value once,
when a layer is prepared (:func:`encode_values`).

``bench/tiles.py`` measured this encoder against ``mapbox_vector_tile.encode`` on the same
features (see docs/tiles.md for the numbers); the tests decode its output with
``mapbox_vector_tile.decode`` and with GDAL's MVT driver, which share no code with it.

Geometry rules of the spec that the encoder enforces:

- coordinates are rounded to integer tile units; repeated points are removed;
- polygon rings: exterior rings get a positive surveyor's-formula area in tile coordinates
  (clockwise with y down), interior rings a negative one; rings that collapse (fewer than
  three distinct points or zero area) are dropped, and a polygon whose exterior collapses is
  dropped with its holes;
- lines with fewer than two distinct points are dropped;
- a feature with no geometry left is dropped (with its tags).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

__all__ = ["EncodedColumn", "encode_values", "encode_layer", "varint_bytes"]

_POINT, _LINE, _POLYGON = 1, 2, 3
_MOVE_TO, _LINE_TO, _CLOSE = 1, 2, 7


# -- varints -------------------------------------------------------------------------------
def _sizes(v: np.ndarray) -> np.ndarray:
    """Bytes each unsigned value takes as a varint."""
    v = v.astype(np.uint64, copy=False)
    s = np.ones(v.shape, dtype=np.int64)
    top = int(v.max()) if v.size else 0
    k = 1
    # Only as many passes as the largest value needs (most tile values fit in 2 bytes).
    while k < 10 and top >= (1 << (7 * k)):
        s += v >= np.uint64(1 << (7 * k))
        k += 1
    return s


def varint_bytes(v: np.ndarray, sizes: np.ndarray | None = None) -> np.ndarray:
    """Encode an array of unsigned integers as consecutive protobuf varints (uint8 array).

    Examples
    --------
    >>> varint_bytes(np.array([1, 300])).tobytes()
    b'\\x01\\xac\\x02'
    """
    v = np.asarray(v).astype(np.uint64, copy=False)
    if sizes is None:
        sizes = _sizes(v)
    ends = np.cumsum(sizes)
    out = np.empty(int(ends[-1]) if len(ends) else 0, dtype=np.uint8)
    if not len(v):
        return out
    pos = ends - sizes
    j = 0
    # Byte j of every value still that long; the set shrinks fast (most values are short).
    while len(v):
        more = sizes > j + 1
        out[pos + j] = ((v & np.uint64(0x7F)) | (more.astype(np.uint64) << np.uint64(7))
                        ).astype(np.uint8)
        if not more.any():
            break
        v, pos, sizes = v[more] >> np.uint64(7), pos[more], sizes[more]
        j += 1
    return out


def _zigzag(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.int64, copy=False)
    return ((v << 1) ^ (v >> 63)).astype(np.uint64)


def _vb(n: int) -> bytes:
    # Scalar varints (lengths of names and keys): plain Python beats a NumPy round trip.
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# -- values --------------------------------------------------------------------------------
@dataclass(frozen=True)
class EncodedColumn:
    """One property column, ready to tag features with.

    ``codes[i]`` is the index of row ``i``'s value in the column's distinct values (−1 for
    a missing value, which the feature then simply does not carry). ``blob`` holds each
    distinct value as a complete ``Layer.values`` entry (field key, length, Value message),
    and ``offsets`` delimits them.
    """

    key: str
    codes: np.ndarray
    blob: np.ndarray
    offsets: np.ndarray


def _ragged_blob(entries: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return entries, offsets


def encode_values(key: str, values) -> EncodedColumn:
    """Encode one property column (a pandas Series or array) for :func:`encode_layer`.

    Strings become ``string_value``, booleans ``bool_value``, integers ``sint_value`` and
    other numbers ``double_value``; missing values (None, NaN) are left out of the tags.

    Examples
    --------
    >>> c = encode_values("kind", ["a", "b", "a", None])
    >>> c.codes.tolist()
    [0, 1, 0, -1]
    """
    import pandas as pd

    s = pd.Series(values)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    codes = codes.astype(np.int64)
    u = np.asarray(uniques)
    n = len(u)
    if pd.api.types.is_bool_dtype(s.dtype):
        tokens = np.column_stack([np.full(n, 0x22), np.full(n, 2), np.full(n, 0x38),
                                  u.astype(np.uint64)])
        blob = varint_bytes(tokens.ravel())
        return EncodedColumn(key, codes, *_ragged_blob(blob, np.full(n, 4)))
    if pd.api.types.is_integer_dtype(s.dtype):
        zz = _zigzag(u.astype(np.int64))
        zs = _sizes(zz)
        tokens = np.column_stack([np.full(n, 0x22, dtype=np.uint64), (1 + zs).astype(np.uint64),
                                  np.full(n, 0x30, dtype=np.uint64), zz])
        blob = varint_bytes(tokens.ravel())
        return EncodedColumn(key, codes, *_ragged_blob(blob, 3 + zs))
    if pd.api.types.is_numeric_dtype(s.dtype):
        rows = np.empty((n, 11), dtype=np.uint8)
        rows[:, 0], rows[:, 1], rows[:, 2] = 0x22, 9, 0x19
        rows[:, 3:] = u.astype("<f8").view(np.uint8).reshape(n, 8)
        return EncodedColumn(key, codes, *_ragged_blob(rows.ravel(), np.full(n, 11)))
    # Strings (and anything else, as its text): one Python step per *distinct* value.
    parts, sizes = [], np.empty(n, dtype=np.int64)
    for i, val in enumerate(u):
        b = str(val).encode("utf-8")
        msg = b"\x0a" + _vb(len(b)) + b
        entry = b"\x22" + _vb(len(msg)) + msg
        parts.append(entry)
        sizes[i] = len(entry)
    blob = np.frombuffer(b"".join(parts), dtype=np.uint8)
    return EncodedColumn(key, codes, *_ragged_blob(blob, sizes))


def _gather(blob: np.ndarray, offsets: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Concatenate the byte ranges ``offsets[w]:offsets[w+1]`` for ``w`` in ``which``."""
    lens = offsets[which + 1] - offsets[which]
    total = int(lens.sum())
    if total == 0:
        return np.empty(0, dtype=np.uint8)
    starts = np.repeat(offsets[which] - (np.cumsum(lens) - lens), lens)
    return blob[starts + np.arange(total)]


# -- geometry ------------------------------------------------------------------------------
def _interleave(segments: list[tuple[np.ndarray, np.ndarray]], n: int) -> np.ndarray:
    """Per-item concatenation: item ``i`` gets segment 0's values for ``i``, then segment
    1's, ... Each segment is ``(flat_values, counts_per_item)``."""
    counts = np.zeros(n, dtype=np.int64)
    for _, c in segments:
        counts += c
    out = np.empty(int(counts.sum()), dtype=np.uint64)
    item_start = np.cumsum(counts) - counts
    offset = item_start.copy()
    for vals, c in segments:
        if len(vals):
            local = np.arange(len(vals)) - np.repeat(np.cumsum(c) - c, c)
            out[np.repeat(offset, c) + local] = vals
        offset += c
    return out


def _paths(coords, path_off, closed: bool):
    """Quantise path vertices, drop repeats (and a ring's closing vertex).

    Returns integer vertices, new path offsets and each path's signed area (rings only)."""
    q = np.rint(coords).astype(np.int64)
    npath = len(path_off) - 1
    path_of = np.repeat(np.arange(npath), np.diff(path_off))
    first = np.zeros(len(q), dtype=bool)
    first[path_off[:-1][np.diff(path_off) > 0]] = True
    keep = first.copy()
    keep[1:] |= np.any(q[1:] != q[:-1], axis=1)
    if closed:
        last = path_off[1:][np.diff(path_off) > 0] - 1
        keep[last] = False  # the ring's closing vertex repeats its first one
        # ...unless an earlier repeat already dropped it: a trailing vertex equal to the
        # ring's first is dropped too.
        fidx = np.repeat(path_off[:-1], np.diff(path_off))
        keep &= ~((~first) & np.all(q == q[fidx], axis=1))
    q, path_of = q[keep], path_of[keep]
    counts = np.bincount(path_of, minlength=npath)
    off = np.zeros(npath + 1, dtype=np.int64)
    np.cumsum(counts, out=off[1:])
    area = None
    if closed and len(q):
        nxt = np.arange(len(q)) + 1
        ends = off[1:][counts > 0]
        nxt[ends - 1] = off[:-1][counts > 0]
        cross = q[:, 0] * q[nxt, 1] - q[nxt, 0] * q[:, 1]
        area = np.bincount(path_of, weights=cross, minlength=npath) / 2.0
    elif closed:
        area = np.zeros(npath)
    return q, off, counts, area


def _reverse_paths(q: np.ndarray, off: np.ndarray, which: np.ndarray) -> np.ndarray:
    idx = np.arange(len(q))
    counts = np.diff(off)
    path_of = np.repeat(np.arange(len(counts)), counts)
    flip = which[path_of]
    s, e = off[:-1][path_of], off[1:][path_of]
    idx[flip] = (s + e - 1 - idx)[flip]
    return q[idx]


def _commands(q, off, keep_path, path_feature, nfeat, closed: bool, points: bool):
    """Geometry command integers per feature: returns (flat values, count per feature)."""
    counts = np.diff(off)
    kp = np.flatnonzero(keep_path)
    counts_k = counts[kp]
    vmask = np.repeat(keep_path, counts)
    qk = q[vmask]
    feat_of_vertex = np.repeat(path_feature[kp], counts_k)
    # Deltas run on across a feature's paths; the cursor starts at (0, 0) per feature.
    d = np.empty_like(qk)
    if len(qk):
        d[0] = qk[0]
        d[1:] = qk[1:] - qk[:-1]
        newfeat = np.flatnonzero(feat_of_vertex[1:] != feat_of_vertex[:-1]) + 1
        d[newfeat] = qk[newfeat]
    zz = _zigzag(d.ravel()).reshape(-1, 2)
    if points:
        # One MoveTo(count) per feature, then the pairs.
        per_feat = np.bincount(feat_of_vertex, minlength=nfeat)
        has = per_feat > 0
        head = (_MOVE_TO | (per_feat[has] << 3)).astype(np.uint64)
        seg = [(head, has.astype(np.int64)), (zz.ravel(), 2 * per_feat)]
        return _interleave(seg, nfeat), 1 * has + 2 * per_feat
    ntok = 2 * counts_k + 2 + (1 if closed else 0)
    path_start = np.cumsum(ntok) - ntok
    out = np.empty(int(ntok.sum()), dtype=np.uint64)
    out[path_start] = _MOVE_TO | (1 << 3)
    out[path_start + 3] = (_LINE_TO | ((counts_k - 1) << 3)).astype(np.uint64)
    if closed:
        out[path_start + ntok - 1] = _CLOSE | (1 << 3)
    local = np.arange(len(qk)) - np.repeat(np.cumsum(counts_k) - counts_k, counts_k)
    pos = np.repeat(path_start, counts_k) + 2 * local + 1 + (local >= 1)
    out[pos] = zz[:, 0]
    out[pos + 1] = zz[:, 1]
    per_feat = np.bincount(path_feature[kp], weights=ntok, minlength=nfeat).astype(np.int64)
    return out, per_feat


def _geometry(geoms: np.ndarray, kind: int, transform):
    """Commands for geometries of one family (points, lines or polygons)."""
    n = len(geoms)
    gtype, coords, offsets = shapely.to_ragged_array(geoms, include_z=False)
    if transform is not None:
        # Into tile units on the raw coordinate array: no new geometry objects are made.
        x0, y0, scale = transform
        coords = np.column_stack([(coords[:, 0] - x0) * scale, (y0 - coords[:, 1]) * scale])
    if kind == _POINT:
        if gtype == shapely.GeometryType.POINT:
            offsets = (np.arange(n + 1),)
        q = np.rint(coords).astype(np.int64)
        path_off = np.arange(len(q) + 1)
        path_feature = np.repeat(np.arange(n), np.diff(offsets[0]))
        return _commands(q, path_off, np.ones(len(q), bool), path_feature, n, False, True)
    if kind == _LINE:
        if gtype == shapely.GeometryType.LINESTRING:
            offsets = (offsets[0], np.arange(n + 1))
        path_off, geom_off = offsets
        q, off, counts, _ = _paths(coords, path_off, closed=False)
        path_feature = np.repeat(np.arange(n), np.diff(geom_off))
        return _commands(q, off, counts >= 2, path_feature, n, False, False)
    if gtype == shapely.GeometryType.POLYGON:
        offsets = (offsets[0], offsets[1], np.arange(n + 1))
    ring_off, poly_off, geom_off = offsets
    q, off, counts, area = _paths(coords, ring_off, closed=True)
    nring = len(counts)
    npoly = len(poly_off) - 1
    poly_of_ring = np.repeat(np.arange(npoly), np.diff(poly_off))
    exterior = np.zeros(nring, dtype=bool)
    exterior[poly_off[:-1][np.diff(poly_off) > 0]] = True
    ok = (counts >= 3) & (area != 0)
    # A polygon whose exterior collapsed loses its holes too.
    poly_ok = np.zeros(npoly, dtype=bool)
    poly_ok[poly_of_ring[exterior]] = ok[exterior]
    ok &= poly_ok[poly_of_ring]
    wrong = np.where(exterior, area < 0, area > 0)
    q = _reverse_paths(q, off, wrong & ok)
    ring_feature = np.repeat(np.repeat(np.arange(n), np.diff(geom_off)), np.diff(poly_off))
    return _commands(q, off, ok, ring_feature, n, True, False)


_FAMILY = {
    shapely.GeometryType.POINT: _POINT, shapely.GeometryType.MULTIPOINT: _POINT,
    shapely.GeometryType.LINESTRING: _LINE, shapely.GeometryType.MULTILINESTRING: _LINE,
    shapely.GeometryType.POLYGON: _POLYGON, shapely.GeometryType.MULTIPOLYGON: _POLYGON,
}


# -- the layer -----------------------------------------------------------------------------
def encode_layer(
    name: str,
    geoms: np.ndarray,
    *,
    rows: np.ndarray,
    columns: list[EncodedColumn],
    ids: np.ndarray | None = None,
    extent: int = 4096,
    transform: tuple[float, float, float] | None = None,
) -> bytes:
    """Encode one MVT layer as a complete tile (bytes).

    Parameters
    ----------
    name : str
        The layer name clients style by.
    geoms : array of shapely geometries
        Clipped; in tile coordinates (0..extent, y down) unless ``transform`` is given.
        Coordinates are rounded here.
        Missing or empty geometries and GeometryCollections are dropped.
    rows : int array
        For each geometry, the source row whose values ``columns`` hold.
    columns : list of EncodedColumn
        The properties to tag features with.
    ids : uint64 array, optional
        The MVT feature id of each geometry.
    transform : (x0, y0, scale), optional
        When given, ``geoms`` are in map units and move to tile units as
        ``((x - x0) * scale, (y0 - y) * scale)``; otherwise they are in tile units already.

    Returns
    -------
    bytes
        A tile holding one layer; ``b""`` when no feature is left (an empty tile).

    Examples
    --------
    >>> import mapbox_vector_tile
    >>> g = np.array([shapely.Point(10, 20)])
    >>> b = encode_layer("pts", g, rows=np.array([0]), columns=[encode_values("n", [7])])
    >>> tile = mapbox_vector_tile.decode(b, default_options={"y_coord_down": True})
    >>> tile["pts"]["features"][0]["properties"]
    {'n': 7}
    """
    geoms = np.asarray(geoms)
    rows = np.asarray(rows, dtype=np.int64)
    tid = shapely.get_type_id(geoms)
    fam = np.zeros(len(geoms), dtype=np.int64)
    for t, f in _FAMILY.items():
        fam[tid == t.value] = f
    fam[shapely.is_empty(geoms) | shapely.is_missing(geoms)] = 0

    feat_tokens, feat_counts, feat_type, feat_src = [], [], [], []
    for f in (_POINT, _LINE, _POLYGON):
        sel = np.flatnonzero(fam == f)
        if not len(sel):
            continue
        vals, counts = _geometry(geoms[sel], f, transform)
        keep = counts > 0
        # Re-slice the flat commands to the kept features (dropped ones have no tokens).
        feat_tokens.append(vals)
        feat_counts.append(counts[keep])
        feat_type.append(np.full(int(keep.sum()), f))
        feat_src.append(sel[keep])
    if not feat_src:
        return b""
    gvals = np.concatenate(feat_tokens)
    gcount = np.concatenate(feat_counts)
    ftype = np.concatenate(feat_type)
    src = np.concatenate(feat_src)
    nf = len(src)
    r = rows[src]

    # Tags: (key index, value index) pairs, values de-duplicated within the tile.
    tag_cols, val_parts, base = [], [], 0
    for k, col in enumerate(columns):
        c = col.codes[r]
        present = c >= 0
        u, inv = np.unique(c[present], return_inverse=True)
        vidx = np.full(nf, -1, dtype=np.int64)
        vidx[present] = base + inv.ravel()
        base += len(u)
        tag_cols.append((k, vidx))
        val_parts.append(_gather(col.blob, col.offsets, u))
    if tag_cols:
        kv = np.stack([np.stack([np.full(nf, k), v], axis=1) for k, v in tag_cols], axis=1)
        present = kv[:, :, 1] >= 0  # (nf, ncols)
        tag_flat = kv[present].ravel().astype(np.uint64)
        tag_count = 2 * present.sum(axis=1)
    else:
        tag_flat, tag_count = np.empty(0, np.uint64), np.zeros(nf, np.int64)

    sizes_g = _sizes(gvals)
    gfeat = np.repeat(np.arange(nf), gcount)
    glen = np.bincount(gfeat, weights=sizes_g, minlength=nf).astype(np.int64)
    tfeat = np.repeat(np.arange(nf), tag_count)
    tlen = np.bincount(tfeat, weights=_sizes(tag_flat), minlength=nf).astype(np.int64)
    has_tags = tag_count > 0
    one = np.ones(nf, dtype=np.int64)

    flen = 2 + 1 + _sizes(glen) + glen  # type field, geometry key + length + commands
    flen += np.where(has_tags, 1 + _sizes(tlen) + tlen, 0)
    segs = []
    if ids is not None:
        fid = np.asarray(ids, dtype=np.uint64)[src]
        flen += 1 + _sizes(fid)
    segs.append((np.column_stack([np.full(nf, 0x12), flen]).astype(np.uint64).ravel(), 2 * one))
    if ids is not None:
        segs.append((np.column_stack([np.full(nf, 0x08, np.uint64), fid]).ravel(), 2 * one))
    th = np.column_stack([np.full(nf, 0x12), tlen])[has_tags].astype(np.uint64).ravel()
    segs.append((th, 2 * has_tags.astype(np.int64)))
    segs.append((tag_flat, tag_count))
    segs.append((np.column_stack([np.full(nf, 0x18), ftype, np.full(nf, 0x22), glen])
                 .astype(np.uint64).ravel(), 4 * one))
    segs.append((gvals, gcount))
    features = varint_bytes(_interleave(segs, nf))

    name_b = name.encode("utf-8")
    head = b"\x78\x02" + b"\x0a" + _vb(len(name_b)) + name_b
    keys = b"".join(
        b"\x1a" + _vb(len(kb)) + kb for kb in (c.key.encode("utf-8") for c in columns)
    )
    tail = b"\x28" + _vb(extent)
    body = b"".join([head, features.tobytes(), keys, *(p.tobytes() for p in val_parts), tail])
    return b"\x1a" + _vb(len(body)) + body
