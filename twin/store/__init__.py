"""Where a twin lives: one store interface (:class:`Store`), two backends.

A twin location is either a GeoPackage path (the embedded default, :mod:`.gpkg`) or a
PostgreSQL/PostGIS URL, ``postgresql://user@host:port/db`` with an optional
``?schema=NAME`` (default ``twin``; :mod:`.postgis`). :func:`open_store` takes either.

Examples
--------
>>> open_store("akmola.gpkg").kind
'gpkg'
>>> is_database_url("postgresql://planner@db.example.org/twins?schema=akmola")
True
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import TwinError
from .retry import retrying

if TYPE_CHECKING:
    from .base import (
        CHANGES_TABLE,
        FILE_PART_BYTES,
        FILES_TABLE,
        META_TABLE,
        DuplicateKey,
        Store,
        StoredFile,
        Table,
        Transaction,
    )
    from .gpkg import (
        GPKG_OPTIONS,
        GpkgStore,
        atomic_path,
        connect_readonly,
        delete_files,
        fsync_dir,
        put_file,
        read_table,
        read_tables,
        read_twin_file,
        stored_files,
        transaction,
        unpack_file,
        write_table,
        write_twin_file,
    )

__all__ = ["Store", "Transaction", "Table", "StoredFile", "DuplicateKey", "open_store",
           "is_database_url", "GpkgStore", "META_TABLE", "FILES_TABLE", "CHANGES_TABLE",
           "FILE_PART_BYTES", "GPKG_OPTIONS", "atomic_path", "fsync_dir", "connect_readonly",
           "delete_files", "put_file", "read_table", "read_tables", "read_twin_file",
           "stored_files", "transaction", "unpack_file", "write_table", "write_twin_file",
           "user_work", "retrying"]

#: Names imported from the backends when first asked for: where a twin lives is decided
#: (is_database_url) without importing pandas and geopandas, which the backends need.
_FROM_BASE = {"CHANGES_TABLE", "FILE_PART_BYTES", "FILES_TABLE", "META_TABLE",
              "DuplicateKey", "Store", "StoredFile", "Table", "Transaction"}


def __getattr__(name: str):
    if name in _FROM_BASE or name in __all__:
        from . import base, gpkg

        value = getattr(base if name in _FROM_BASE else gpkg, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'twin.store' has no attribute {name!r}")


_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(location) -> bool:
    """Whether a twin location names a PostgreSQL database rather than a file."""
    return isinstance(location, str) and location.lower().startswith(_SCHEMES)


def open_store(location: str | os.PathLike | Store) -> Store:
    """The store at ``location``: a GeoPackage path or a ``postgresql://`` URL."""
    from .base import Store

    if isinstance(location, Store):
        return location
    if is_database_url(location):
        # lazy: psycopg only where a database is used, and neither pandas nor geopandas
        # before a server on it binds (the data stack is imported while /health answers)
        from .postgis import PostgisStore

        return PostgisStore(str(location))
    from .gpkg import GpkgStore

    return GpkgStore(Path(location))


def user_work(location: str | os.PathLike | Store) -> list[str]:
    """What a user saved at ``location`` that a rebuild would replace (see
    :meth:`Store.user_work`). Something there that is not a twin is reported as such (it
    is someone's data too).

    Examples
    --------
    >>> user_work("/nonexistent.gpkg")
    []
    """
    st = open_store(location)
    if not st.exists():
        return []
    try:
        st.read_meta()
    except (TwinError, KeyError):
        return [f"{st.location!r} is not a twin file"]
    return st.user_work()
