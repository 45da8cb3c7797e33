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
Later writes to attribute tables (``transaction``) go through SQLite transactions, so an
acknowledged write survives a crash.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from .errors import TwinFileError

__all__ = ["write_twin_file", "read_twin_file", "transaction", "read_table", "read_tables",
           "write_table", "user_work", "META_TABLE", "FILES_TABLE", "FILE_PART_BYTES",
           "GPKG_OPTIONS", "StoredFile", "put_file", "delete_files", "stored_files",
           "unpack_file", "connect_readonly"]

META_TABLE = "twin_meta"
#: The table holding the twin's files (rasters), byte for byte.
FILES_TABLE = "twin_files"
#: Files are split into rows of at most this many bytes.
FILE_PART_BYTES = 16 * 2**20
#: Dataset creation options of every GeoPackage the toolkit writes (see the module notes).
GPKG_OPTIONS = {"VERSION": "1.2"}


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it over ``target`` only on success.

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
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            if tmp.is_dir():
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink()


def _sql_type(series: pd.Series) -> str:
    # Object columns (e.g. a row-built DataFrame) are typed by their values, as pandas'
    # to_sql does, so booleans and numbers come back as numbers, not as text.
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if kind in ("boolean", "integer"):
        return "INTEGER"
    if kind in ("floating", "mixed-integer-float", "decimal"):
        return "REAL"
    return "TEXT"


def _sql_value(v):
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA or v is pd.NaT:
        return None
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    return v


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
        rows = ([_sql_value(v) for v in row] for row in df.itertuples(index=False, name=None))
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
        with contextlib.suppress(sqlite3.Error):
            rw = sqlite3.connect(path)
            try:
                rw.execute("SELECT count(*) FROM sqlite_master").fetchone()
            finally:
                rw.close()
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


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
@dataclass(frozen=True)
class StoredFile:
    """A file already stored in another twin file: copied across without unpacking."""

    twin_path: Path


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
    _files_table(conn)
    conn.execute(f'DELETE FROM "{FILES_TABLE}" WHERE name = ?', (name,))
    with open(path, "rb") as f:
        for part, data in enumerate(iter(lambda: f.read(FILE_PART_BYTES), b"")):
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
    conn = connect_readonly(twin_path)
    try:
        if not _has_files_table(conn):
            return False
        rows = conn.execute(f'SELECT data FROM "{FILES_TABLE}" WHERE name = ? ORDER BY part',
                            (name,))
        first = rows.fetchone()
        if first is None:
            return False
        with atomic_path(dest, suffix=Path(dest).suffix) as tmp, open(tmp, "wb") as f:
            f.write(first[0])
            for (data,) in rows:
                f.write(data)
        return True
    finally:
        conn.close()


@contextlib.contextmanager
def transaction(path: str | os.PathLike) -> Iterator[sqlite3.Connection]:
    """An SQLite transaction on a twin file: committed and synced on exit, rolled back on error.

    Examples
    --------
    >>> # with transaction(tw.path) as conn:
    >>> #     conn.execute("INSERT INTO score_observations ...")
    """
    path = Path(path)
    if not path.is_file():
        raise TwinFileError(f"twin file {str(path)!r} does not exist: save the twin first")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("BEGIN IMMEDIATE")
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
    layers: dict[str, gpd.GeoDataFrame],
    meta: dict,
    tables: dict[str, pd.DataFrame],
    files: dict[str, Path | StoredFile] | None = None,
) -> None:
    """Write a whole twin to ``path`` atomically.

    ``files`` maps a stored file's name to its bytes: a local file, or a
    :class:`StoredFile` in another twin file (copied across as stored).
    """
    files = files or {}
    with atomic_path(path, suffix=".gpkg") as tmp:
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
            for name, src in files.items():
                if isinstance(src, StoredFile):
                    by_file.setdefault(Path(src.twin_path), []).append(name)
            for twin_path, names in by_file.items():
                _copy_files(conn, twin_path, names)
            with conn:
                for name, src in files.items():
                    if not isinstance(src, StoredFile):
                        put_file(conn, name, src)
                write_table(conn, META_TABLE, pd.DataFrame(
                    {"key": list(meta), "value": [json.dumps(v, ensure_ascii=False)
                                                  for v in meta.values()]}
                ))
                for name, df in tables.items():
                    write_table(conn, name, df)
        finally:
            conn.close()


def read_twin_file(path: str | os.PathLike) -> tuple[dict, dict, dict]:
    """Read ``(meta, layers, tables)`` from a twin file."""
    path = Path(path)
    if not path.is_file():
        raise TwinFileError(
            f"twin file {str(path)!r} does not exist: build one with `twin build --out "
            f"{path}` or check the path"
        )
    try:
        conn = connect_readonly(path)
        try:
            kinds = dict(conn.execute("SELECT table_name, data_type FROM gpkg_contents"))
            meta_df = read_table(conn, META_TABLE)
            meta = {k: json.loads(v) for k, v in zip(meta_df["key"], meta_df["value"], strict=True)}
            table_names = [t for t, k in kinds.items()
                           if k == "attributes" and t not in (META_TABLE, FILES_TABLE)]
            tables = {t: read_table(conn, t) for t in table_names}
        finally:
            conn.close()
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as e:
        raise TwinFileError(
            f"{str(path)!r} is not a twin file ({e}): open a GeoPackage written by "
            "Twin.save or `twin build`"
        ) from e
    layers = {}
    for name in meta.get("layer_order", [t for t, k in kinds.items() if k == "features"]):
        try:
            gdf = pyogrio.read_dataframe(path, layer=name, use_arrow=True, fid_as_index=False)
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as e:
            raise TwinFileError(
                f"twin file {str(path)!r} lists layer {name!r} but it cannot be read ({e}): "
                "the file is damaged or was edited by hand; rebuild it (`twin build`) or "
                "restore a copy"
            ) from e
        layers[name] = gdf
    return meta, layers, tables


def user_work(path: str | os.PathLike) -> list[str]:
    """What a user saved in the file at ``path`` that a rebuild would replace: stored
    scenarios, plan versions, observations that are not synthetic, rasters users added.
    A file that is not a twin file is reported as such (it is someone's data too).

    Examples
    --------
    >>> user_work("/nonexistent.gpkg")
    []
    """
    path = Path(path)
    if not path.exists():
        return []
    checks = {
        "scenarios": 'SELECT COUNT(*) FROM "scenarios"',
        "plan_versions": 'SELECT COUNT(*) FROM "plan_versions" WHERE kind != \'base\'',
        "score_observations": 'SELECT COUNT(*) FROM "score_observations" '
                              "WHERE synthetic IN (0, '0', 'False', 'false')",
        "rasters": "SELECT COUNT(*) FROM \"rasters\" WHERE derived IN (0, '0', 'False', "
                   "'false')",
    }
    what = {"scenarios": "stored scenario(s)", "plan_versions": "plan change(s)",
            "score_observations": "observation(s) not flagged synthetic",
            "rasters": "raster(s) added by a user"}
    try:
        conn = connect_readonly(path)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "twin_meta" not in tables:
                return [f"{str(path)!r} is not a twin file"]
            found = []
            for table, sql in checks.items():
                if table in tables:
                    n = int(conn.execute(sql).fetchone()[0])
                    if n:
                        found.append(f"{n:,} {what[table]}")
            return found
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return [f"{str(path)!r} is not a twin file"]
