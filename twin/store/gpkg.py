"""The twin file: one GeoPackage holding the layers, the metadata and attribute tables.

Spatial layers are written with pyogrio. Metadata and attribute tables (score observations,
plan versions, scenarios) go into plain SQLite tables registered in ``gpkg_contents`` as
``attributes``, so GDAL and QGIS still open the file and list them.

Files that belong to the twin but are not tables (the rasters' Cloud-Optimized GeoTIFFs)
are stored byte for byte in the attribute table :data:`FILES_TABLE`, in parts of
:data:`FILE_PART_BYTES` (SQLite caps one value at 1 GB). So the GeoPackage alone is the
whole twin: copy it anywhere and every raster comes with it. Readers unpack a file once
beside the twin file (:func:`unpack_file`) and read that copy.

Files are written as GeoPackage 1.2 (``VERSION=1.2``): GDAL 3.6, which Debian 12 and QGIS
3.28 LTR ship, warns that newer GDALs' default 1.4 "may only be partially supported", and
the twin uses nothing that 1.3 or 1.4 added.

Saving is atomic: everything is written to a temporary file beside the target, flushed to
disk, then moved over it with ``os.replace``. A crash mid-save leaves the old file intact.
The move is made holding the old file's write lock, and a save over the file a twin came
from refuses if another writer changed a table since (:func:`write_twin_file`).
Later writes to attribute tables (``transaction``) go through SQLite transactions, so an
acknowledged write survives a crash.

Layers are read one at a time (:meth:`GpkgStore.read_layer`), so a reader opens a large
twin without reading its layers; :mod:`.layer_edits` tells which layers nothing has edited
since the save, for which the metadata's records (count, extent, hash) still hold.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from ..errors import StoreBusy, TwinFileError
from . import base, layer_edits
from .base import (
    CHANGES_TABLE,
    FILES_TABLE,
    INTERNAL_TABLES,
    META_TABLE,
    DuplicateKey,
    StoredFile,
    Table,
    Transaction,
)

__all__ = ["GpkgStore", "write_twin_file", "read_twin_file", "transaction", "read_table",
           "read_tables", "write_table", "GPKG_OPTIONS", "put_file", "delete_files",
           "stored_files", "unpack_file", "connect_readonly", "atomic_path"]

#: Dataset creation options of every GeoPackage the toolkit writes (see the module notes).
GPKG_OPTIONS = {"VERSION": "1.2"}
#: Held by every transaction and every layer read in this process (see GpkgStore.read_layer).
_FILE_IO = threading.RLock()
#: How often a layer read is tried while another process's write holds the file.
_READ_TRIES = 8
#: How long a write waits for another's lock on the file (SQLite's busy timeout).
_LOCK_WAIT_S = 10.0
#: How often a write opens the file again because a whole save replaced it meanwhile.
_REOPEN_TRIES = 5


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "",
                guard: Callable[[], contextlib.AbstractContextManager] | None = None
                ) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it over ``target`` only on success.

    ``guard``, if given, is entered around the move (and may refuse it by raising): a twin
    file's whole save holds the old file's write lock there (:func:`write_twin_file`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_path(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("hi")
    >>> (d / "a.txt").read_text()
    'hi'
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".tmp",
                                dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()  # writers such as GDAL want to create the file themselves
    try:
        yield tmp
        if tmp.is_file():
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        with guard() if guard is not None else contextlib.nullcontext():
            os.replace(tmp, target)
            fsync_dir(target.parent)
    finally:
        if tmp.exists():
            if tmp.is_dir():
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink()


_SQL_TYPE = {"int": "INTEGER", "real": "REAL", "text": "TEXT", "blob": "BLOB"}


def _sql_type(series: pd.Series) -> str:
    return _SQL_TYPE[base.sql_kind(series)]


def write_table(conn: sqlite3.Connection, name: str, df: pd.DataFrame) -> None:
    """Replace an attribute table inside an open GeoPackage connection.

    Plain SQL rather than ``DataFrame.to_sql``: pandas commits on its own, which would end a
    caller's transaction (``transaction``) half-way.
    """
    cols = ", ".join(f'"{c}" {_sql_type(df[c])}' for c in df.columns)
    conn.execute(f'DROP TABLE IF EXISTS "{name}"')
    conn.execute(f'CREATE TABLE "{name}" ({cols})')
    if len(df):
        marks = ", ".join("?" * len(df.columns))
        rows = ([base.plain(v) for v in row] for row in df.itertuples(index=False, name=None))
        conn.executemany(f'INSERT INTO "{name}" VALUES ({marks})', rows)
    conn.execute("DELETE FROM gpkg_contents WHERE table_name = ?", (name,))
    conn.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier) "
        "VALUES (?, 'attributes', ?)",
        (name, name),
    )


def connect_readonly(path: str | os.PathLike) -> sqlite3.Connection:
    """A read-only SQLite connection to a twin file, after recovering a crashed writer.

    A process killed in the middle of a transaction leaves a hot rollback journal beside
    the file. Only a connection that may write can roll it back; a read-only one refuses the
    whole file ("attempt to write a readonly database"), so a twin would not open again
    after a crash. Where a journal is present, one read through a read-write connection
    lets SQLite restore the last committed state first.
    """
    path = Path(path)
    if Path(f"{path}-journal").exists() or Path(f"{path}-wal").exists():
        _recover(path)
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _recover(path: Path) -> None:
    with contextlib.suppress(sqlite3.Error):
        rw = sqlite3.connect(path, timeout=10)
        try:
            rw.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            rw.close()


def read_table(conn: sqlite3.Connection, name: str) -> pd.DataFrame:
    return pd.read_sql_query(f'SELECT * FROM "{name}"', conn)


def read_tables(path: str | os.PathLike, names) -> dict[str, pd.DataFrame]:
    """The attribute tables ``names`` that the twin file at ``path`` holds (others skipped)."""
    conn = connect_readonly(path)
    try:
        have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return {n: read_table(conn, n) for n in names if n in have}
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as e:
        raise TwinFileError(f"{str(path)!r} is not a readable twin file ({e})") from e
    finally:
        conn.close()


# -- files stored inside the twin file -----------------------------------------------------
def _files_table(conn: sqlite3.Connection) -> None:
    conn.execute(
        f'CREATE TABLE IF NOT EXISTS "{FILES_TABLE}" (id INTEGER PRIMARY KEY AUTOINCREMENT, '
        "name TEXT NOT NULL, part INTEGER NOT NULL, data BLOB NOT NULL, UNIQUE (name, part))"
    )
    conn.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
        "SELECT ?, 'attributes', ?, 'files of the twin (raster COGs), byte for byte' "
        "WHERE NOT EXISTS (SELECT 1 FROM gpkg_contents WHERE table_name = ?)",
        (FILES_TABLE, FILES_TABLE, FILES_TABLE),
    )


def _has_files_table(conn: sqlite3.Connection, schema: str = "main") -> bool:
    return conn.execute(f"SELECT 1 FROM {schema}.sqlite_master WHERE type = 'table' AND "
                        "name = ?", (FILES_TABLE,)).fetchone() is not None


def put_file(conn: sqlite3.Connection, name: str, path: str | os.PathLike) -> None:
    """Store the file at ``path`` as ``name`` (replacing any file of that name), streamed
    part by part so a large raster never sits in memory whole."""
    with open(path, "rb") as f:
        _put_parts(conn, name, iter(lambda: f.read(base.FILE_PART_BYTES), b""))


def _put_parts(conn: sqlite3.Connection, name: str, parts) -> None:
    _files_table(conn)
    conn.execute(f'DELETE FROM "{FILES_TABLE}" WHERE name = ?', (name,))
    for part, data in enumerate(parts):
        conn.execute(f'INSERT INTO "{FILES_TABLE}" (name, part, data) VALUES (?, ?, ?)',
                     (name, part, data))


def _copy_files(conn: sqlite3.Connection, src: Path, names: list[str]) -> None:
    # ATTACH is refused inside a transaction, so this runs before the tables are written.
    conn.execute("ATTACH DATABASE ? AS src", (str(src),))
    try:
        if not _has_files_table(conn, "src"):
            missing = names
        else:
            _files_table(conn)
            for n in names:
                conn.execute(f'INSERT INTO main."{FILES_TABLE}" (name, part, data) SELECT '
                             f'name, part, data FROM src."{FILES_TABLE}" WHERE name = ? '
                             "ORDER BY part", (n,))
            have = stored_files(conn)
            missing = [n for n in names if n not in have]
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        conn.execute("DETACH DATABASE src")
    if missing:
        raise TwinFileError(f"twin file {str(src)!r} does not hold {', '.join(missing)}: "
                            "the file is damaged; restore a copy")


def delete_files(conn: sqlite3.Connection, names) -> None:
    if _has_files_table(conn):
        conn.executemany(f'DELETE FROM "{FILES_TABLE}" WHERE name = ?', [(n,) for n in names])


def stored_files(conn: sqlite3.Connection) -> set[str]:
    """Names of the files stored in the open twin file."""
    if not _has_files_table(conn):
        return set()
    return {r[0] for r in conn.execute(f'SELECT DISTINCT name FROM "{FILES_TABLE}"')}


def unpack_file(twin_path: str | os.PathLike, name: str, dest: str | os.PathLike) -> bool:
    """Write the stored file ``name`` to ``dest`` atomically; False if the file lacks it."""
    return GpkgStore(twin_path).unpack_file(name, dest)


@contextlib.contextmanager
def transaction(path: str | os.PathLike) -> Iterator[sqlite3.Connection]:
    """An SQLite transaction on a twin file: committed and synced on exit, rolled back on
    error (the raw connection; :meth:`GpkgStore.transaction` is the store interface's).

    Examples
    --------
    >>> # with transaction(tw.path) as conn:
    >>> #     conn.execute("INSERT INTO score_observations ...")
    """
    path = Path(path)
    if not path.is_file():
        raise TwinFileError(f"twin file {str(path)!r} does not exist: save the twin first")
    with _FILE_IO:  # never while this process's GDAL reads a layer (GpkgStore.read_layer)
        yield from _transaction(path)


def _file_id(path: Path) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise TwinFileError(f"twin file {str(path)!r} does not exist: save the twin "
                            "first") from None
    return st.st_dev, st.st_ino


def _locked(path: Path) -> sqlite3.Connection:
    """A connection to the twin file at ``path`` now, holding its write lock.

    A whole save moves a new file over the path while it holds the old file's write lock
    (:func:`write_twin_file`). A writer that opened the old file and waited for its lock
    would otherwise commit into a file no longer at the path: acknowledged, and lost. So
    the lock counts only if the path still names the file it was taken on.
    """
    for _ in range(_REOPEN_TRIES):
        before = _file_id(path)
        conn = sqlite3.connect(path, isolation_level=None, timeout=_LOCK_WAIT_S)
        try:
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("BEGIN IMMEDIATE")
            if _file_id(path) == before:
                return conn
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError as e:
            conn.close()
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            raise StoreBusy(f"twin file {str(path)!r} is busy: another writer held it for "
                            f"over {_LOCK_WAIT_S:.0f} s; nothing was written; try again"
                            ) from e
        except BaseException:
            conn.close()
            raise
        conn.close()
    raise TwinFileError(f"twin file {str(path)!r} was replaced {_REOPEN_TRIES} times while "
                        "this write waited for it: nothing was written; try again")


def _transaction(path: Path) -> Iterator[sqlite3.Connection]:
    conn = _locked(path)
    try:
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()


def write_twin_file(
    path: str | os.PathLike,
    layers: Mapping[str, gpd.GeoDataFrame],
    meta: dict,
    tables: dict[str, pd.DataFrame],
    files: dict[str, Path | StoredFile] | None = None,
    *,
    expected: Mapping[str, int] | None = None,
) -> None:
    """Write a whole twin to ``path`` atomically.

    ``files`` maps a stored file's name to its bytes: a local file, or a
    :class:`StoredFile` in another twin (copied across as stored).

    The new file is moved over the old one while this process holds the old file's write
    lock, so no other writer's transaction is in progress then, and every later one opens
    the new file (:func:`_locked`). With ``expected`` (the change counters of each table,
    as the saving session read them), the save is a compare-and-set: it refuses, writing
    nothing, if another session or server wrote a table since, instead of overwriting it.
    """
    files = files or {}
    path = Path(path)
    with atomic_path(path, suffix=".gpkg", guard=lambda: _replacing(path, expected)) as tmp:
        for name, gdf in layers.items():
            pyogrio.write_dataframe(
                gdf, tmp, layer=name, driver="GPKG", append=False,
                layer_options={"SPATIAL_INDEX": "YES"}, dataset_options=GPKG_OPTIONS,
            )
        if not tmp.exists():  # a twin with no layers is still a valid twin file
            pyogrio.write_dataframe(
                gpd.GeoDataFrame({"id": []}, geometry=[], crs=4326), tmp, layer="_empty",
                driver="GPKG", dataset_options=GPKG_OPTIONS,
            )
        conn = sqlite3.connect(tmp)
        try:
            by_file: dict[Path, list[str]] = {}
            streamed: dict[str, base.Store] = {}
            for name, src in files.items():
                if isinstance(src, StoredFile):
                    source = src.source
                    if isinstance(source, (str, os.PathLike)):
                        by_file.setdefault(Path(source), []).append(name)
                    elif source.path is not None:
                        by_file.setdefault(Path(source.path), []).append(name)
                    else:
                        streamed[name] = source
            for twin_path, names in by_file.items():
                _copy_files(conn, twin_path, names)
            with conn:
                for name, src in files.items():
                    if name in streamed:
                        _put_parts(conn, name, streamed[name].file_parts(name))
                        if name not in stored_files(conn):
                            raise TwinFileError(f"{streamed[name].describe()} does not hold "
                                                f"{name}: restore a copy of it")
                    elif not isinstance(src, StoredFile):
                        put_file(conn, name, src)
                write_table(conn, META_TABLE, pd.DataFrame(
                    {"key": list(meta), "value": [json.dumps(v, ensure_ascii=False)
                                                  for v in meta.values()]}
                ))
                for name, df in tables.items():
                    write_table(conn, name, df)
                # Counters of a freshly written twin start from the clock, so that a reader
                # holding the counters of the twin this one replaced sees every table change.
                start = time.time_ns() // 1000
                write_table(conn, CHANGES_TABLE, pd.DataFrame(
                    {"name": list(tables), "version": [start] * len(tables)}))
                layer_edits.count_edits(conn, list(layers))
        finally:
            conn.close()


@contextlib.contextmanager
def _replacing(path: Path, expected: Mapping[str, int] | None) -> Iterator[None]:
    """Held while a whole save moves its new file over ``path`` (see write_twin_file)."""
    if not path.exists():
        yield
        return
    try:
        conn = _locked(path)
    except sqlite3.OperationalError:
        raise
    except sqlite3.DatabaseError:
        if expected is not None:
            raise
        yield  # not an SQLite file at all: no writer of ours can be in it
        return
    try:
        if expected is not None:
            base.refuse_if_changed(f"twin file {str(path)!r}", _versions(conn), expected)
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def _read_meta(conn: sqlite3.Connection) -> dict:
    meta_df = read_table(conn, META_TABLE)
    return {k: json.loads(v) for k, v in zip(meta_df["key"], meta_df["value"], strict=True)}


def _attribute_tables(conn: sqlite3.Connection) -> list[str]:
    kinds = dict(conn.execute("SELECT table_name, data_type FROM gpkg_contents"))
    return [t for t, k in kinds.items() if k == "attributes" and t not in INTERNAL_TABLES]


def _versions(conn: sqlite3.Connection) -> dict[str, int]:
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                        (CHANGES_TABLE,)).fetchone():
        return {}
    return {str(n): int(v) for n, v in conn.execute(
        f'SELECT name, version FROM "{CHANGES_TABLE}"')}


def read_twin_file(path: str | os.PathLike) -> tuple[dict, dict, dict]:
    """Read ``(meta, layers, tables)`` from a twin file."""
    st = GpkgStore(path)
    meta = st.read_meta()
    tables, _ = st.read_tables()
    return meta, {n: st.read_layer(n) for n in st.layer_names()}, tables


class GpkgStore(base.Store):
    """A twin in one GeoPackage file (see the module notes)."""

    kind = "gpkg"
    path: Path  # always a file here

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._versions: tuple[tuple[int, int], dict[str, int]] | None = None
        self._meta: tuple[tuple[int, int], dict] | None = None

    @property
    def location(self) -> str:
        return str(self.path)

    def describe(self) -> str:
        return f"twin file {str(self.path)!r}"

    def identity(self) -> str:
        return str(self.path.resolve())

    def exists(self) -> bool:
        return self.path.is_file()

    def cache_dir(self) -> Path:
        return Path(str(self.path) + ".rasters")

    def _stamp(self) -> tuple:
        # SQLite bumps the "file change counter" in the header (bytes 24-27) on every
        # commit in rollback-journal mode (the twin file's): with the mtime, which may not
        # move between two commits within a clock tick, it tells a change for one read.
        with open(self.path, "rb") as f:
            head = f.read(28)
        st = os.stat(self.path)
        return st.st_mtime_ns, st.st_size, head[24:28]

    def _need(self) -> None:
        if not self.path.is_file():
            raise TwinFileError(
                f"twin file {str(self.path)!r} does not exist: build one with `twin build "
                f"--out {self.path}` or check the path")

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        self._need()
        try:
            conn = connect_readonly(self.path)
            try:
                yield conn
            finally:
                conn.close()
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as e:
            raise TwinFileError(
                f"{str(self.path)!r} is not a twin file ({e}): open a GeoPackage written by "
                "Twin.save or `twin build`") from e

    # -- the whole twin -------------------------------------------------------------------
    def write_twin(self, layers, meta, tables, files=None, *, expected=None) -> None:
        write_twin_file(self.path, layers, meta, tables, files, expected=expected)

    def read_meta(self) -> dict:
        with self._reading() as conn:
            meta = _read_meta(conn)
            features = [t for t, k in conn.execute(
                "SELECT table_name, data_type FROM gpkg_contents") if k == "features"]
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        meta.setdefault("layer_order", features)
        for name in meta["layer_order"]:  # damage shows now, not at a layer's first read
            if name not in features or name not in tables:
                raise TwinFileError(
                    f"twin file {str(self.path)!r} lists layer {name!r} but it has no such "
                    "table: the file is damaged or was edited by hand; rebuild it (`twin "
                    "build`) or restore a copy")
        return meta

    def layer_names(self) -> list[str]:
        return list(self.read_meta()["layer_order"])

    def read_layer(self, name: str) -> gpd.GeoDataFrame:
        """Layer ``name``, as stored.

        GDAL reads with its own copy of SQLite, which cannot see this process's write
        locks: to it, a transaction of ours in progress looks like a crashed one (and a
        write could change pages under its read), so reads and this process's
        transactions take turns. Another process's transaction, or the journal of one that
        crashed, makes GDAL's read-only open refuse the file for a moment: it is recovered
        and read again.
        """
        return self._read(name, lambda: pyogrio.read_dataframe(
            self.path, layer=name, use_arrow=True, fid_as_index=False))

    def _read(self, name: str, read):
        self._need()
        for attempt in range(_READ_TRIES):
            try:
                with _FILE_IO:
                    return read()
            except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as e:
                transient = "readonly database" in str(e) or "locked" in str(e)
                if not transient or attempt == _READ_TRIES - 1:
                    raise TwinFileError(
                        f"twin file {str(self.path)!r} lists layer {name!r} but it cannot be "
                        f"read ({e}): the file is damaged or was edited by hand; rebuild it "
                        "(`twin build`) or restore a copy") from e
                _recover(self.path)
                time.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    def read_columns(self, name, columns, *, wkb=False):
        # GDAL skips the other fields while reading: a third of the time at 10^6 rows.
        # As WKB, no geometry objects are made (570 MB for 10^6 parcels).
        if not wkb:
            return self._read(name, lambda: pyogrio.read_dataframe(
                self.path, layer=name, use_arrow=True, fid_as_index=False,
                columns=list(columns)))

        def read() -> pd.DataFrame:
            meta, table = pyogrio.read_arrow(self.path, layer=name, columns=list(columns))
            df = table.to_pandas()
            return df.rename(columns={meta["geometry_name"] or "wkb_geometry": "geometry"})

        return self._read(name, read)

    def unchanged_layers(self, names) -> frozenset[str]:
        try:
            with self._reading() as conn:
                return layer_edits.unchanged(conn, names)
        except TwinFileError:
            return frozenset()

    def generation(self) -> object:
        st = os.stat(self.path)
        return st.st_dev, st.st_ino

    def read_tables(self, names=None):
        with self._reading() as conn:
            have = _attribute_tables(conn)
            if names is not None:
                # plain SQLite tables a writer created are read too, registered or not
                listed = {r[0] for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'")}
                have = [n for n in names if n in listed and n not in INTERNAL_TABLES]
            return {n: read_table(conn, n) for n in have}, _versions(conn)

    def versions(self) -> dict[str, int]:
        # One stat while nothing changed: a served twin asks on every score request.
        try:
            stamp = self._stamp()
        except OSError:
            return {}
        # One read of the attribute: a writer's thread resets it to None after its commit,
        # and a second read could see that (a 500 under concurrent writes).
        cached = self._versions
        if cached is None or cached[0] != stamp:
            with self._reading() as conn:
                cached = (stamp, _versions(conn))
            self._versions = cached
        return dict(cached[1])

    # -- attribute tables -----------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        try:
            with transaction(self.path) as conn:
                tx = _GpkgTransaction(conn)
                yield tx
                tx._bump()
        finally:
            self._versions = None

    # -- files ----------------------------------------------------------------------------
    def stored_files(self) -> set[str]:
        with self._reading() as conn:
            return stored_files(conn)

    def file_parts(self, name: str) -> Iterator[bytes]:
        with self._reading() as conn:
            if not _has_files_table(conn):
                return
            rows = conn.execute(
                f'SELECT data FROM "{FILES_TABLE}" WHERE name = ? ORDER BY part', (name,))
            for (data,) in rows:
                yield data


_KIND = {"text": "TEXT", "int": "INTEGER", "real": "REAL", "blob": "BLOB"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _GpkgTransaction(Transaction):
    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__()
        self.conn = conn

    def has(self, name: str) -> bool:
        return self.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                                 (name,)).fetchone() is not None

    def ensure(self, table: Table) -> None:
        cols = ", ".join(f"{_q(c)} {_KIND[k]}" for c, k in table.columns)
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS {_q(table.name)} ({cols})")
        self.conn.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier) "
            "SELECT ?, 'attributes', ? WHERE NOT EXISTS (SELECT 1 FROM gpkg_contents "
            "WHERE table_name = ?)", (table.name, table.name, table.name))
        if table.key:
            # The unique key makes a duplicate impossible even if another process wrote
            # since this one read. A file whose stored rows already repeat a key (a hand
            # edit; they are set aside on open) cannot take the index: it goes without,
            # and the domain still refuses repeats it knows of.
            with contextlib.suppress(sqlite3.IntegrityError):
                self.conn.execute(
                    f"CREATE UNIQUE INDEX IF NOT EXISTS {_q(table.name + '_key')} ON "
                    f"{_q(table.name)} ({', '.join(map(_q, table.key))})")

    @staticmethod
    def _where(where: dict | None) -> tuple[str, list]:
        if not where:
            return "", []
        return " WHERE " + " AND ".join(f"{_q(c)} = ?" for c in where), list(where.values())

    def select(self, table, columns, where=None, order_by=()):
        clause, params = self._where(where)
        order = f" ORDER BY {', '.join(map(_q, order_by))}" if order_by else ""
        return self.conn.execute(f"SELECT {', '.join(map(_q, columns))} FROM {_q(table)}"
                                 f"{clause}{order}", params).fetchall()

    def insert(self, table, columns, rows, *, skip_existing=False) -> int:
        verb = "INSERT OR IGNORE" if skip_existing else "INSERT"
        sql = (f"{verb} INTO {_q(table)} ({', '.join(map(_q, columns))}) VALUES "
               f"({', '.join('?' * len(columns))})")
        before = self.conn.total_changes
        try:
            self.conn.executemany(sql, [[base.plain(v) for v in r] for r in rows])
        except sqlite3.IntegrityError as e:
            raise DuplicateKey(f"table {table!r} already holds one of these rows ({e})") from e
        self._touch(table)
        return self.conn.total_changes - before

    def upsert(self, table: Table, rows) -> None:
        rows = [list(r) for r in rows]
        # delete, then insert: a table without its unique key (see ensure) cannot take
        # ON CONFLICT, and BEGIN IMMEDIATE already serialises writers of the file
        self.delete_many(table.name, table.key, [[r[table.names.index(k)] for k in table.key]
                                                 for r in rows])
        self.insert(table.name, table.names, rows)

    def update(self, table, values, where) -> int:
        sets = ", ".join(f"{_q(c)} = ?" for c in values)
        clause, params = self._where(where)
        n = self.conn.execute(f"UPDATE {_q(table)} SET {sets}{clause}",
                              [base.plain(v) for v in values.values()] + params).rowcount
        self._touch(table)
        return n

    def delete(self, table, where=None) -> int:
        clause, params = self._where(where)
        n = self.conn.execute(f"DELETE FROM {_q(table)}{clause}", params).rowcount
        self._touch(table)
        return n

    def delete_many(self, table, columns, keys) -> None:
        cond = " AND ".join(f"{_q(c)} = ?" for c in columns)
        self.conn.executemany(f"DELETE FROM {_q(table)} WHERE {cond}",
                              [[base.plain(v) for v in k] for k in keys])
        self._touch(table)

    def replace(self, name, df) -> None:
        write_table(self.conn, name, df)
        self._touch(name)

    def put_file(self, name, path) -> None:
        put_file(self.conn, name, path)

    def delete_files(self, names) -> None:
        delete_files(self.conn, names)

    def stored_files(self) -> set[str]:
        return stored_files(self.conn)

    def _bump(self) -> None:
        if not self.touched:
            return
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS {_q(CHANGES_TABLE)} "
                          "(name TEXT PRIMARY KEY, version INTEGER)")
        self.conn.execute(
            "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
            "SELECT ?, 'attributes', ?, 'a change counter per attribute table' WHERE NOT "
            "EXISTS (SELECT 1 FROM gpkg_contents WHERE table_name = ?)",
            (CHANGES_TABLE, CHANGES_TABLE, CHANGES_TABLE))
        for name in sorted(self.touched):
            row = self.conn.execute(f"SELECT version FROM {_q(CHANGES_TABLE)} WHERE name = ?",
                                    (name,)).fetchone()
            before = int(row[0]) if row else 0
            after = before + 1 if row else time.time_ns() // 1000
            # UPDATE first: the table a whole save writes has no key for INSERT OR REPLACE
            # to replace on, so that would add a second row for the table.
            if not self.conn.execute(f"UPDATE {_q(CHANGES_TABLE)} SET version = ? WHERE "
                                     "name = ?", (after, name)).rowcount:
                self.conn.execute(f"INSERT INTO {_q(CHANGES_TABLE)} (name, version) "
                                  "VALUES (?, ?)", (name, after))
            self.changes[name] = (before, after)
