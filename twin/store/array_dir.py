"""A folder of raw NumPy arrays, saved once and memory-mapped by every later process.

What the toolkit prepares once per data version (a layer's tile index, the plan's parcel
results) is a few plain arrays plus a JSON manifest. Each is written into a temporary
folder beside its final place, flushed to disk, the manifest last, then moved into place
with one ``rename``: a crash mid-write leaves no folder under the final name, never half
of one. Raw files rather than ``.npy``: ``np.load`` parses headers with
``ast.literal_eval``, which is not thread-safe on CPython 3.11 (gh-106905).

Examples
--------
>>> import tempfile, numpy as np
>>> root = Path(tempfile.mkdtemp())
>>> tmp = temporary(root, root / "a")
>>> write(tmp / "x.bin", [np.arange(3).data])
>>> install(tmp, root / "a", "x.bin")
>>> mapped(root / "a" / "x.bin", np.dtype(int), (3,)).tolist()
[0, 1, 2]
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import numpy as np

__all__ = ["temporary", "write", "install", "mapped"]


def temporary(where: Path, final: Path) -> Path:
    """A new, empty folder in ``where`` to write what will become ``final``."""
    where.mkdir(parents=True, exist_ok=True)
    tmp = where / f".{final.name}.{uuid.uuid4().hex}.tmp"
    tmp.mkdir()
    return tmp


def write(path: Path, chunks) -> None:
    """Write the byte ``chunks`` to ``path`` and flush them to disk."""
    with open(path, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())


def install(tmp: Path, final: Path, manifest: str) -> None:
    """Move the folder written in ``tmp`` to ``final`` (one ``rename``); ``tmp`` is gone
    afterwards either way. Another process that saved the same ``final`` first (its
    ``manifest`` file is there) saved the same thing: that counts as done."""
    try:
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / manifest).is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def mapped(path: Path, dtype: np.dtype, shape: tuple) -> np.ndarray:
    """The array saved at ``path``, memory-mapped read-only; ValueError if the file does
    not hold exactly that many bytes."""
    size = int(np.prod(shape)) * dtype.itemsize
    if path.stat().st_size != size:
        raise ValueError(f"{path.name} holds {path.stat().st_size} bytes, not {size}")
    if size == 0:  # an empty file cannot be mapped
        return np.empty(shape, dtype=dtype)
    # A plain ndarray over the mapped pages: np.memmap's Python-level __getitem__ and
    # subclass results cost a cold tile more than its geometry rebuilding did.
    return np.memmap(path, dtype=dtype, mode="r", shape=shape).view(np.ndarray)
