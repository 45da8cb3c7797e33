"""Named blobs in a PostGIS twin's schema: what a server prepared once per data version
(a layer's tile index), kept in the database so that every worker, restart and host opens
it instead of preparing it again.

The store knows nothing of what the bytes mean: a blob is a ``name`` in a ``group`` and a
sequence of labelled parts, each part one row of :data:`BLOBS_TABLE` (bytea values are read
and written whole, so writers keep parts small: a tile index's are 16 MiB). A blob is written
in one transaction that also deletes every other blob of its group, so a crash leaves the
old rows, never half of the new ones, and a group holds one blob (a layer's index at its
current data version), never a pile of old ones. A whole save or push writes a new schema,
which starts with no blobs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from ..errors import TwinFileError
from .base import BLOBS_TABLE

if TYPE_CHECKING:
    from .postgis import PostgisStore

__all__ = ["create_table", "put", "parts", "preparing"]


def create_table(conn, schema: str) -> None:
    from psycopg import sql

    table = sql.Identifier(schema, BLOBS_TABLE)
    conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (grp text NOT NULL, name text NOT "
                         "NULL, seq integer NOT NULL, label text NOT NULL, data bytea NOT "
                         "NULL, PRIMARY KEY (grp, name, seq))").format(table))
    # Stored out of line but not compressed: pglz took 24 s of wall time to store the
    # 210 MB index of 1,000,000 parcels (mostly coordinates, which it shrinks to 56%),
    # against 3.6 s uncompressed; reading it back takes the same time either way.
    conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN data SET STORAGE EXTERNAL").format(table))


def _has(conn, schema: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                        (f'"{schema}"."{BLOBS_TABLE}"',)).fetchone()[0]


def put(store: PostgisStore, group: str, name: str,
        blob: Iterable[tuple[str, bytes | memoryview]]) -> None:
    """Store ``blob`` (label, bytes) as ``name`` of ``group``, replacing the group's other
    blobs, in one transaction. A blob of that name already there (another worker stored it
    first) is kept. A database this user may not write raises :class:`TwinFileError`."""
    import psycopg
    from psycopg import sql

    table = sql.Identifier(store.schema, BLOBS_TABLE)
    with store._conn() as conn:
        try:
            with conn.transaction():
                # Two workers preparing the same layer store it one after the other; the
                # second then finds the first's rows (each statement sees the latest commit).
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                             (f"aqmola-twin blobs {store.schema} {group}",))
                if not _has(conn, store.schema):  # a twin pushed before blobs were kept
                    create_table(conn, store.schema)
                if conn.execute(sql.SQL("SELECT 1 FROM {} WHERE grp = %s AND name = %s LIMIT 1")
                                .format(table), (group, name)).fetchone():
                    return
                conn.execute(sql.SQL("DELETE FROM {} WHERE grp = %s").format(table), (group,))
                insert = sql.SQL("INSERT INTO {} (grp, name, seq, label, data) VALUES "
                                 "(%s, %s, %s, %s, %s)").format(table)
                for seq, (label, data) in enumerate(blob):
                    conn.execute(insert, (group, name, seq, label, bytes(data)))
        except (psycopg.errors.ReadOnlySqlTransaction,
                psycopg.errors.InsufficientPrivilege) as e:
            raise TwinFileError(
                f"{store.describe()}: user {conn.info.user!r} may not store what this "
                f"server prepared ({str(e).splitlines()[0]}): it is kept on this host "
                "only; grant the user INSERT and DELETE on "
                f"{store.schema}.{BLOBS_TABLE} to share it") from e


def parts(store: PostgisStore, group: str, name: str) -> Iterator[tuple[str, bytes]]:
    """Blob ``name`` of ``group``, part by part, from one snapshot (nothing when absent)."""
    from psycopg import sql

    table = sql.Identifier(store.schema, BLOBS_TABLE)
    with store._conn() as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        if not _has(conn, store.schema):
            return
        rows = conn.execute(sql.SQL("SELECT seq, label FROM {} WHERE grp = %s AND name = %s "
                                    "ORDER BY seq").format(table), (group, name)).fetchall()
        one = sql.SQL("SELECT data FROM {} WHERE grp = %s AND name = %s AND seq = %s"
                      ).format(table)
        for seq, label in rows:  # one part at a time: a large blob never sits whole
            data = conn.execute(one, (group, name, seq), binary=True).fetchone()[0]
            yield label, bytes(data)


@contextlib.contextmanager
def preparing(store: PostgisStore, group: str) -> Iterator[None]:
    """A session-level advisory lock on ``group``, on a connection of its own (not a pooled
    one: it is held for as long as the preparation takes), so a crashed holder releases it
    with its session. Best effort: a database that does not answer holds nobody up."""
    from ..errors import StoreUnavailable

    try:
        conn = store.connect(autocommit=True)
    except (StoreUnavailable, TwinFileError):
        yield
        return
    try:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))",
                     (f"aqmola-twin preparing {store.schema} {group}",))
        yield
    finally:
        conn.close()  # ends the session, and the lock with it
