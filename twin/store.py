"""The twin file: one GeoPackage holding the layers, the metadata and attribute tables.

Spatial layers are written with pyogrio. Metadata and attribute tables (score observations,
plan versions, scenarios) go into plain SQLite tables registered in ``gpkg_contents`` as
``attributes``, so GDAL and QGIS still open the file and list them.

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
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from .errors import TwinFileError

__all__ = ["write_twin_file", "read_twin_file", "transaction", "read_table", "read_tables",
           "write_table", "META_TABLE"]

META_TABLE = "twin_meta"


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


def read_table(conn: sqlite3.Connection, name: str) -> pd.DataFrame:
    return pd.read_sql_query(f'SELECT * FROM "{name}"', conn)


def read_tables(path: str | os.PathLike, names) -> dict[str, pd.DataFrame]:
    """The attribute tables ``names`` that the twin file at ``path`` holds (others skipped)."""
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
    try:
        have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return {n: read_table(conn, n) for n in names if n in have}
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as e:
        raise TwinFileError(f"{str(path)!r} is not a readable twin file ({e})") from e
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
) -> None:
    """Write a whole twin to ``path`` atomically."""
    with atomic_path(path, suffix=".gpkg") as tmp:
        for name, gdf in layers.items():
            pyogrio.write_dataframe(
                gdf, tmp, layer=name, driver="GPKG", append=False,
                layer_options={"SPATIAL_INDEX": "YES"},
            )
        if not tmp.exists():  # a twin with no layers is still a valid twin file
            pyogrio.write_dataframe(
                gpd.GeoDataFrame({"id": []}, geometry=[], crs=4326), tmp, layer="_empty",
                driver="GPKG",
            )
        conn = sqlite3.connect(tmp)
        try:
            with conn:
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
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            kinds = dict(conn.execute("SELECT table_name, data_type FROM gpkg_contents"))
            meta_df = read_table(conn, META_TABLE)
            meta = {k: json.loads(v) for k, v in zip(meta_df["key"], meta_df["value"], strict=True)}
            table_names = [t for t, k in kinds.items() if k == "attributes" and t != META_TABLE]
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
