"""The store interface: one twin's layers, metadata, attribute tables and files.

A :class:`Store` is where a twin lives: a GeoPackage file (:mod:`twin.store.gpkg`, the
embedded default) or a PostgreSQL/PostGIS schema (:mod:`twin.store.postgis`, for servers
with several workers). Everything the toolkit reads from or writes to a twin goes through
it: whole-twin writes and reads (one layer at a time, so a reader can load lazily),
transactions on attribute tables, and files stored byte for byte (the rasters' COGs).

Attribute tables are declared by the modules that own them as :class:`Table` specs
(scenarios, observations, plan versions, the raster registry); a transaction
(:class:`Transaction`) reads and writes their rows with the backend's own SQL, so the
domain code holds no SQL dialect. Every write bumps the table's change counter in the same
transaction (:meth:`Store.versions`): another process, or another worker of the same
server, sees that a table changed with one cheap read, and reloads it.
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import TwinError, TwinFileError

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

__all__ = ["Table", "Store", "Transaction", "StoredFile", "DuplicateKey", "META_TABLE",
           "FILES_TABLE", "CHANGES_TABLE", "EDITS_TABLE", "BLOBS_TABLE", "INTERNAL_TABLES",
           "FILE_PART_BYTES",
           "frame", "sql_kind", "plain"]

META_TABLE = "twin_meta"
#: The table holding the twin's files (rasters), byte for byte.
FILES_TABLE = "twin_files"
#: One change counter per attribute table, bumped by every write transaction.
CHANGES_TABLE = "twin_changes"
#: Edits made to each layer by any program since the toolkit saved it (a file's triggers).
EDITS_TABLE = "twin_layer_edits"
#: What a server prepared once per data version, kept by a database store (twin/store/pg_blobs).
BLOBS_TABLE = "twin_blobs"
#: Tables of the store's own that are not the twin's attribute tables.
INTERNAL_TABLES = (META_TABLE, FILES_TABLE, CHANGES_TABLE, EDITS_TABLE, BLOBS_TABLE)
#: Files are split into rows of at most this many bytes (SQLite caps one value at 1 GB).
FILE_PART_BYTES = 16 * 2**20


class DuplicateKey(TwinError, ValueError):
    """A row whose key a table already holds (another writer got there first)."""


@dataclass(frozen=True)
class Table:
    """An attribute table: its columns (name, kind: ``text``, ``int``, ``real``) and the
    columns that identify a row (a unique key, created where the stored rows allow it)."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...] = ()
    description: str = ""

    @property
    def names(self) -> list[str]:
        return [c for c, _ in self.columns]


@dataclass(frozen=True)
class StoredFile:
    """A file already stored in another twin: copied across without unpacking."""

    source: Any  # a Store, or a GeoPackage path (what older callers pass)


def sql_kind(series: pd.Series) -> str:
    """The kind of column that keeps a frame's values: object columns (e.g. a row-built
    DataFrame) are typed by their values, as pandas' ``to_sql`` does, so booleans and
    numbers come back as numbers, not as text. Booleans are stored as 0/1 (GeoPackage has
    no boolean), in both backends, so a table reads back the same from either."""
    import pandas as pd  # here: a server binds before the data stack is imported

    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind in ("boolean", "integer"):
        return "int"
    if kind in ("floating", "mixed-integer-float", "decimal"):
        return "real"
    if kind == "bytes":
        return "blob"
    return "text"


def plain(v):
    """A value a database driver takes: None for NaN/NA, Python scalars for NumPy's."""
    import pandas as pd

    if v is None or (isinstance(v, float) and v != v) or v is pd.NA or v is pd.NaT:
        return None
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    return v


def frame(rows: Sequence[tuple], columns: Sequence[str]) -> pd.DataFrame:
    """Rows from either backend as the same DataFrame (pandas' ``read_sql`` builds its
    frames this way, so GeoPackage tables read as they always did)."""
    import pandas as pd

    return pd.DataFrame.from_records(list(rows), columns=list(columns), coerce_float=True)


def refuse_if_changed(where: str, now: Mapping[str, int], expected: Mapping[str, int]) -> None:
    """The compare-and-set of a whole save: refuse it, naming the tables, when any table's
    change counter in the store (``now``) is not what this session read (``expected``)."""
    moved = sorted(n for n in set(now) | set(expected) if now.get(n) != expected.get(n))
    if moved:
        raise TwinFileError(
            f"{where}: {', '.join(moved)} changed since this session read the twin (another "
            "worker or session wrote there): nothing was saved; open the twin again and "
            "repeat the change")


class Transaction(ABC):
    """Reads and writes of attribute tables, committed together or not at all."""

    def __init__(self) -> None:
        self.touched: set[str] = set()
        #: After commit: table -> (counter before, counter after) of each table written.
        self.changes: dict[str, tuple[int, int]] = {}

    @abstractmethod
    def ensure(self, table: Table) -> None:
        """Create ``table`` if missing (and its unique key where the rows allow one)."""

    @abstractmethod
    def has(self, name: str) -> bool:
        """Whether the store holds a table called ``name``."""

    @abstractmethod
    def select(self, table: str, columns: Sequence[str], where: dict | None = None,
               order_by: Sequence[str] = ()) -> list[tuple]:
        """Rows (tuples of ``columns``) whose columns equal ``where``'s values."""

    @abstractmethod
    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence], *,
               skip_existing: bool = False) -> int:
        """Insert rows; a repeated key raises :class:`DuplicateKey`, or is skipped with
        ``skip_existing`` (the count says how many went in)."""

    @abstractmethod
    def upsert(self, table: Table, rows: Iterable[Sequence]) -> None:
        """Insert rows of all ``table``'s columns, replacing those with the same key."""

    @abstractmethod
    def update(self, table: str, values: dict, where: dict) -> int:
        """Set ``values`` on the rows matching ``where``; returns how many changed. With
        the expected version in ``where`` this is a compare-and-set."""

    @abstractmethod
    def delete(self, table: str, where: dict | None = None) -> int:
        """Delete the rows matching ``where`` (all rows when None)."""

    @abstractmethod
    def delete_many(self, table: str, columns: Sequence[str], keys: Iterable[Sequence]
                    ) -> None:
        """Delete the rows whose ``columns`` equal each of ``keys``."""

    @abstractmethod
    def replace(self, name: str, df: pd.DataFrame) -> None:
        """Replace a whole attribute table by ``df`` (typed by :func:`sql_kind`)."""

    @abstractmethod
    def put_file(self, name: str, path: str | Path) -> None:
        """Store the file at ``path`` as ``name``, streamed part by part."""

    @abstractmethod
    def delete_files(self, names: Iterable[str]) -> None: ...

    @abstractmethod
    def stored_files(self) -> set[str]: ...

    def _touch(self, name: str) -> None:
        self.touched.add(name)


class Store(ABC):
    """Where one twin lives. Make one with :func:`twin.store.open_store`."""

    #: ``gpkg`` or ``postgis``.
    kind: str = ""
    #: The GeoPackage file, for a file store (None for a database).
    path: Path | None = None
    #: Whether several processes may serve this twin at once with the same answers.
    shared: bool = False

    @property
    @abstractmethod
    def location(self) -> str:
        """The location as a user writes it (a database URL without its password)."""

    def __str__(self) -> str:
        return self.location

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.location}>"

    @abstractmethod
    def describe(self) -> str:
        """The twin's place in a message, e.g. "twin file '/x.gpkg'"."""

    @abstractmethod
    def exists(self) -> bool:
        """Whether a twin is stored here."""

    def same_as(self, other: Store | None) -> bool:
        return other is not None and other.kind == self.kind and \
            other.identity() == self.identity()

    @abstractmethod
    def identity(self) -> str:
        """What makes two stores the same place (a resolved path, a database and schema)."""

    # -- the whole twin -------------------------------------------------------------------
    @abstractmethod
    def write_twin(self, layers: Mapping[str, gpd.GeoDataFrame], meta: dict,
                   tables: dict[str, pd.DataFrame],
                   files: dict[str, Path | StoredFile] | None = None, *,
                   expected: dict[str, int] | None = None) -> None:
        """Replace the whole twin, atomically where the backend allows it.

        ``expected``: the change counters the writer last read. Where the backend can lock
        them (PostGIS), a stored twin whose counters moved since (another worker's ingest,
        scenario or plan version) is not replaced: :class:`TwinFileError`, nothing written.
        """

    @abstractmethod
    def read_meta(self) -> dict:
        """The twin's metadata (name, version, schemas, layer order...)."""

    @abstractmethod
    def layer_names(self) -> list[str]:
        """The stored layers, in the twin's order."""

    @abstractmethod
    def read_layer(self, name: str) -> gpd.GeoDataFrame:
        """One stored layer, as written (one at a time: readers may load lazily)."""

    def read_columns(self, name: str, columns: Sequence[str], *,
                     wkb: bool = False) -> pd.DataFrame:
        """Layer ``name`` with only ``columns`` (those it has) and its geometry, rows as in
        :meth:`read_layer`, for work that needs a few columns of a large layer: a
        GeoDataFrame, or with ``wkb=True`` a DataFrame whose ``geometry`` column holds
        each row's WKB (bytes). This default reads the whole layer; stores that can read
        fewer columns do."""
        import numpy as np
        import pandas as pd
        import shapely

        gdf = self.read_layer(name)
        out = gdf[[c for c in columns if c in gdf.columns] + [gdf.geometry.name]]
        if not wkb:
            return out
        return pd.DataFrame(out.drop(columns=gdf.geometry.name)).assign(
            geometry=shapely.to_wkb(np.asarray(gdf.geometry.values)))

    def unchanged_layers(self, names: Iterable[str]) -> frozenset[str]:
        """Which of the layers ``names`` nothing has edited since the toolkit wrote them,
        so that what the metadata records about them (count, extent, content hash) holds.
        A store that cannot tell answers none: the layers are then measured from their
        rows when first read."""
        return frozenset()

    def generation(self) -> object:
        """A token that changes when the whole twin is replaced (a new file moved over the
        old one); None where the store cannot tell."""
        return None

    # -- what servers prepared ------------------------------------------------------------
    #: Whether the store keeps named blobs (:meth:`put_blob`), shared by every process and
    #: host that opens the twin. A file store does not: what is prepared for it is saved
    #: beside the file instead.
    keeps_blobs: bool = False

    def put_blob(self, group: str, name: str, blob: Iterable[tuple[str, bytes | memoryview]]
                 ) -> None:
        """Store ``blob``, a sequence of (label, bytes) parts, as ``name`` of ``group``, in
        one transaction that also removes the group's other blobs (a crash leaves the old
        ones, never half of the new one). A store that may not be written raises
        :class:`TwinFileError`."""
        raise TwinFileError(f"{self.describe()} keeps no blobs")

    def blob_parts(self, group: str, name: str) -> Iterator[tuple[str, bytes]]:
        """Blob ``name`` of ``group``, part by part, as stored (nothing when absent)."""
        yield from ()

    def preparing(self, group: str) -> contextlib.AbstractContextManager[None]:
        """Held while this process prepares what it will store as a blob of ``group``, so
        that another process (a worker, a host) about to prepare the same waits, and then
        finds it stored. A no-op for a store that keeps no blobs."""
        return contextlib.nullcontext()

    def blob_cache_dir(self) -> Path | None:
        """A local folder for unpacked copies of the store's blobs, shared by the processes
        of one host (None for a store that keeps no blobs)."""
        return None

    @abstractmethod
    def read_tables(self, names: Iterable[str] | None = None
                    ) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
        """The attribute tables ``names`` that are stored (all when None), and the change
        counters of the same moment."""

    def read_table(self, name: str) -> pd.DataFrame | None:
        return self.read_tables([name])[0].get(name)

    @abstractmethod
    def versions(self) -> dict[str, int]:
        """Each attribute table's change counter (tables never written since the twin was
        saved whole are absent)."""

    # -- attribute tables -----------------------------------------------------------------
    @abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[Transaction]:
        """A transaction on the attribute tables: committed durably on exit, rolled back
        on error."""

    # -- files ----------------------------------------------------------------------------
    @abstractmethod
    def stored_files(self) -> set[str]:
        """Names of the files stored in the twin."""

    @abstractmethod
    def file_parts(self, name: str) -> Iterator[bytes]:
        """The stored file ``name``'s bytes, part by part (nothing when it is absent)."""

    def unpack_file(self, name: str, dest: str | os.PathLike) -> bool:
        """Write the stored file ``name`` to ``dest`` atomically; False if it is absent."""
        from .gpkg import atomic_path

        parts = self.file_parts(name)
        first = next(parts, None)
        if first is None:
            return False
        with atomic_path(dest, suffix=Path(dest).suffix) as tmp, open(tmp, "wb") as f:
            f.write(first)
            for data in parts:
                f.write(data)
        return True

    @abstractmethod
    def cache_dir(self) -> Path:
        """A local folder for unpacked copies of stored files (a cache: the store holds
        the bytes)."""

    def close(self) -> None:  # noqa: B027 - a file holds no connection to release
        """Release connections (a no-op for a file)."""

    # -- what a rebuild would lose --------------------------------------------------------
    def user_work(self) -> list[str]:
        """What a user saved here that replacing the whole twin would lose: stored
        scenarios, plan versions, observations that are not synthetic, rasters users
        added."""
        tables, _ = self.read_tables(["scenarios", "plan_versions", "score_observations",
                                      "rasters"])
        falsy = {"0", "false", "False", "0.0"}

        def no(col):
            return col.astype(str).isin(falsy)

        found = []
        checks = {
            "scenarios": (lambda t: len(t), "stored scenario(s)"),
            "plan_versions": (lambda t: int((t["kind"].astype(str) != "base").sum())
                              if "kind" in t else len(t), "plan change(s)"),
            "score_observations": (lambda t: int(no(t["synthetic"]).sum())
                                   if "synthetic" in t else len(t),
                                   "observation(s) not flagged synthetic"),
            "rasters": (lambda t: int(no(t["derived"]).sum()) if "derived" in t else len(t),
                        "raster(s) added by a user"),
        }
        for name, (count, what) in checks.items():
            t = tables.get(name)
            n = int(count(t)) if t is not None and len(t) else 0
            if n:
                found.append(f"{n:,} {what}")
        return found

