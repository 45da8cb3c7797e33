"""A twin in PostgreSQL/PostGIS: one schema per twin, for servers with several workers.

Location: ``postgresql://user[:password]@host[:port]/db[?schema=NAME]`` (``host`` may also
be given as ``?host=/path/to/socket/dir``; every other query parameter is libpq's). The
schema defaults to ``twin``, never ``public``, where the PostGIS extension itself lives:
replacing a twin drops its schema.

In the schema:

* each layer is a table with its columns typed from the frame (``bigint``, ``integer``,
  ``double precision``, ``real``, ``boolean``, ``text``, ``timestamp``), ``fid`` (the row's
  place in the layer, its primary key) and ``geometry geometry(Geometry, 4326)`` with a
  GiST index, so PostGIS tools, QGIS and ``ST_AsMVT`` read them as they are;
* ``twin_meta`` (key, JSON value), ``twin_files`` (name, part, bytea) and the attribute
  tables, each with a hidden ``twin_rowid`` that keeps rows in the order they were
  written, as SQLite's rowid does, so both backends read the same frames;
* ``twin_changes``: each attribute table's change counter. Every write transaction bumps
  it and sends ``NOTIFY twin_changes, '<schema>:<table>:<counter>'``, delivered on commit;
* ``twin_layer_edits``: the edits any program made to each layer since the toolkit wrote
  it, counted by triggers (:mod:`.pg_edits`), so the layer records in ``twin_meta``
  (count, extent, content hash) are trusted while they say none;
* ``twin_blobs``: what servers prepared once per data version (tile indexes), shared by
  every worker and host (:mod:`.pg_blobs`).

A whole twin is written into a new schema in one transaction that ends by dropping the
old schema and renaming the new one: readers see the old twin or the new one, never half,
and a crash leaves the old one. Layers travel as CSV through ``COPY`` (:mod:`.pg_layers`).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import InvalidArgument, StoreBusy, StoreUnavailable, TwinError, TwinFileError
from . import base, pg_blobs, pg_edits
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
from .pg_layers import read_layer as _read_layer
from .pg_layers import write_layer as _write_layer

if TYPE_CHECKING:  # imported where used: a server binds before the data stack is imported
    import geopandas as gpd
    import numpy as np
    import pandas as pd

__all__ = ["PostgisStore", "CHANNEL", "LISTENING"]

#: The LISTEN/NOTIFY channel of every twin's change counters.
CHANNEL = "twin_changes"
#: What :meth:`PostgisStore.changes` yields first as the table: listening has (re)started.
LISTENING = "*"
_SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,39}")
_ROWID = "twin_rowid"
_KIND = {"text": "text", "int": "bigint", "real": "double precision", "blob": "bytea"}


def _psycopg():
    try:
        import psycopg
    except ImportError as e:  # pragma: no cover - depends on the install
        raise InvalidArgument(
            "a postgresql:// twin needs psycopg: pip install 'aqmola-twin[postgis]'") from e
    return psycopg


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    # libpq's "connection failed: connection to server ... failed: FATAL:  reason": the
    # reason is what a person can act on
    text = text.rsplit("FATAL:", 1)[-1].strip()
    return text.splitlines()[0].strip() if text else type(e).__name__


class PostgisStore(base.Store):
    """A twin in one schema of a PostgreSQL database with PostGIS (see the module notes)."""

    kind = "postgis"
    shared = True
    keeps_blobs = True
    #: Seconds a request waits for a pooled connection before the store answers
    #: :class:`StoreUnavailable` (a database restart should not hold requests for long).
    wait_s = 5.0

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        schema = next((v for k, v in query if k == "schema"), "twin")
        if (not _SCHEMA_RE.fullmatch(schema) or schema.startswith(("_", "pg_"))
                or schema in ("public", "information_schema", "topology", "tiger")):
            raise InvalidArgument(
                f"schema {schema!r} in {self._hide(url)!r} is not usable: give ?schema= "
                "1-40 lower-case letters, digits or underscores, starting with a letter "
                "(not public: replacing a twin drops its schema)")
        if not parts.path.strip("/"):
            raise InvalidArgument(f"{self._hide(url)!r} names no database: write "
                                  "postgresql://user@host:port/DATABASE")
        self.schema = schema
        rest = [(k, v) for k, v in query if k != "schema"]
        self._conninfo = urlunsplit(parts._replace(query=urlencode(rest)))
        self._url = url
        self._pool = None
        self._lock = threading.Lock()
        self._keyless: set[str] = set()  # tables whose rows refuse their unique key

    @staticmethod
    def _hide(url: str) -> str:
        # Locations go into messages, logs and HTTP problem details: no password in them,
        # neither user:password@ nor libpq's ?password=.
        p = urlsplit(url)
        netloc = p.netloc
        if p.password is not None:
            netloc = netloc.replace(f":{p.password}@", ":***@")
        query = p.query
        if "password=" in query:
            query = "&".join("password=***" if kv.startswith("password=") else kv
                             for kv in query.split("&"))
        return urlunsplit(p._replace(netloc=netloc, query=query))

    @property
    def location(self) -> str:
        return self._hide(self._url)

    def describe(self) -> str:
        return f"PostGIS twin {self.location!r}"

    def identity(self) -> str:
        p = urlsplit(self._conninfo)
        q = dict(parse_qsl(p.query))
        return f"{p.hostname or q.get('host', '')}:{p.port or 5432}{p.path}#{self.schema}"

    def cache_dir(self) -> Path:
        root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        digest = hashlib.sha256(self.identity().encode()).hexdigest()[:16]
        return Path(root) / "aqmola-twin" / "postgis" / f"{self.schema}-{digest}.rasters"

    def blob_cache_dir(self) -> Path:
        return self.cache_dir().with_suffix(".blobs")

    def put_blob(self, group, name, blob) -> None:
        pg_blobs.put(self, group, name, blob)

    def blob_parts(self, group, name):
        return pg_blobs.parts(self, group, name)

    def preparing(self, group):
        return pg_blobs.preparing(self, group)

    # -- connections ----------------------------------------------------------------------
    def _connect_kwargs(self) -> dict:
        # application_name: an operator sees in pg_stat_activity which process holds a
        # connection. Keepalives: a connection idle for long (LISTEN) whose peer vanished
        # without a word (a failover, a dropped NAT entry) is noticed within a minute.
        return {"connect_timeout": 10, "application_name": f"aqmola-twin {os.getpid()}",
                "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10,
                "keepalives_count": 3}

    def connection_error(self, e: BaseException) -> TwinError:
        """A failed connection attempt, as a one-line error naming the cause and the fix:
        the server down or restarting (:class:`StoreUnavailable`), or a URL the server
        refuses (a missing database or user, a wrong password: :class:`TwinFileError`)."""
        reason = _first_line(e)
        p = urlsplit(self._conninfo)
        q = dict(parse_qsl(p.query))
        db = p.path.strip("/") or q.get("dbname", "")
        user = p.username or q.get("user") or os.environ.get("PGUSER", "")
        where = f"{self.location!r}"
        low = reason.lower()
        if "database" in low and "does not exist" in low:
            return TwinFileError(
                f"{where}: the server has no database {db!r}: create it (`createdb {db}`, "
                "with PostGIS installable there) or fix the database in the URL")
        if "role" in low and "does not exist" in low:
            return TwinFileError(
                f"{where}: the server has no user {user!r}: create it (`createuser "
                f"{user}`) or fix the user in the URL")
        if "password" in low:
            return TwinFileError(
                f"{where}: the server refused the password of user {user!r} ({reason}): "
                "give the right one in the URL, ~/.pgpass or PGPASSWORD")
        if "invalid" in low and ("option" in low or "parameter" in low):
            return TwinFileError(
                f"{where}: {reason}: fix the URL (its query takes ?schema= and libpq's "
                "connection parameters, e.g. host, sslmode)")
        if "no pg_hba.conf entry" in low or "permission denied for database" in low:
            return TwinFileError(
                f"{where}: the server does not let user {user!r} connect ({reason}): "
                "ask its administrator to allow it (pg_hba.conf, GRANT CONNECT)")
        return StoreUnavailable(
            f"{where}: the database does not answer ({reason}): check that the server "
            "runs and the URL's host and port; if it is restarting, try again shortly")

    def connect(self, **kw):
        """A new connection (for LISTEN and long copies); the caller closes it."""
        psycopg = _psycopg()
        try:
            return psycopg.connect(self._conninfo, **{**self._connect_kwargs(), **kw})
        except psycopg.Error as e:
            raise self.connection_error(e) from e

    def _pooled(self):
        with self._lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                # a clear error now (within wait_s), not a pool timeout later
                self.connect(connect_timeout=max(2, int(self.wait_s))).close()
                # check: a pooled connection the server dropped (a restart, an idle
                # timeout, pg_terminate_backend) is replaced before a request gets it.
                self._pool = ConnectionPool(self._conninfo, min_size=1, max_size=8,
                                            open=True, name=f"twin-{self.schema}",
                                            check=ConnectionPool.check_connection,
                                            timeout=self.wait_s,
                                            kwargs=self._connect_kwargs())
            return self._pool

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """The database's failures as the toolkit's errors: an outage is
        :class:`StoreUnavailable` (HTTP 503 with Retry-After), transactions that kept
        colliding are :class:`StoreBusy`; callers never see psycopg's classes."""
        psycopg = _psycopg()
        from psycopg_pool import PoolTimeout

        try:
            yield
        except PoolTimeout as e:
            try:  # every connection busy, or the database away?
                self.connect(connect_timeout=2).close()
            except StoreUnavailable:
                self._drop_pool()
                raise
            raise StoreUnavailable(
                f"{self.describe()}: no free database connection within {self.wait_s:g} s "
                "(every one is busy): nothing was written; try again shortly") from e
        except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as e:
            raise StoreBusy(
                f"{self.describe()}: this write collided with concurrent ones "
                f"({_first_line(e)}): nothing was written; repeat it") from e
        except psycopg.errors.InsufficientPrivilege as e:
            raise TwinFileError(
                f"{self.describe()}: the database refused ({_first_line(e)}): grant the "
                "URL's user the privilege, or use a user who has it") from e
        except (psycopg.OperationalError, psycopg.InterfaceError) as e:
            self._drop_pool()
            raise StoreUnavailable(
                f"{self.describe()}: lost the database connection ({_first_line(e)}): "
                "nothing was written; try again shortly") from e

    def _drop_pool(self) -> None:
        # After an outage the pool's own reconnection backs off exponentially (a minute
        # of downtime would cost another minute of 503s once the database is back): the
        # next request starts a new pool instead, which connects at once or says why not.
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close(timeout=1.0)

    @contextlib.contextmanager
    def _conn(self) -> Iterator:
        with self._errors(), self._pooled().connection() as conn:
            yield conn

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def __del__(self):  # a store dropped without close() leaves no pool thread behind
        with contextlib.suppress(Exception):
            self.close()

    def _clone(self, schema: str) -> PostgisStore:
        """This database's store for another schema (a twin being written)."""
        other = copy.copy(self)
        other.schema, other._pool, other._lock = schema, None, threading.Lock()
        other._keyless = set()
        return other

    def _t(self, name: str):
        from psycopg import sql

        return sql.Identifier(self.schema, name)

    def exists(self) -> bool:
        with self._conn() as conn:
            return conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                                (f'"{self.schema}"."{META_TABLE}"',)).fetchone()[0]

    def _need(self, conn) -> None:
        if not conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                            (f'"{self.schema}"."{META_TABLE}"',)).fetchone()[0]:
            raise TwinFileError(
                f"{self.describe()} holds no twin: copy one there with `twin push SRC "
                f"{self.location}`, or check the URL's database and ?schema=")

    def _check_replaceable(self, conn) -> None:
        """Refuse to drop a schema that is not a twin, or that other schemas' objects
        depend on: replacing a twin drops its schema, and CASCADE would take a user's own
        tables, or their views over the twin's tables, with it."""
        if not conn.execute("SELECT to_regnamespace(%s) IS NOT NULL",
                            (self.schema,)).fetchone()[0]:
            return
        relations = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s", (self.schema,)).fetchone()[0]
        is_twin = conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                               (f'"{self.schema}"."{META_TABLE}"',)).fetchone()[0]
        if relations and not is_twin:
            raise TwinFileError(
                f"schema {self.schema!r} of {self._hide(self._url)!r} holds {relations} "
                "tables or other objects but no twin: nothing was written; choose another "
                "?schema= for the twin")
        dependents = [r[0] for r in conn.execute(
            "SELECT DISTINCT dn.nspname || '.' || dc.relname FROM pg_depend d "
            "JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class dc ON dc.oid = r.ev_class "
            "JOIN pg_namespace dn ON dn.oid = dc.relnamespace "
            "JOIN pg_class sc ON sc.oid = d.refobjid "
            "JOIN pg_namespace sn ON sn.oid = sc.relnamespace "
            "WHERE d.classid = 'pg_rewrite'::regclass AND sn.nspname = %s "
            "AND dn.nspname <> %s ORDER BY 1", (self.schema, self.schema)).fetchall()]
        if dependents:
            raise TwinFileError(
                f"{', '.join(dependents)} depend on the twin's tables in schema "
                f"{self.schema!r}: replacing the twin would drop them; nothing was written. "
                "Drop or move them first (and re-create them after), or push to another "
                "?schema=")

    def _check_unchanged(self, conn, expected: dict[str, int]) -> None:
        """Compare-and-set for a whole save: the counters are locked until this transaction
        ends, so a worker's write either came before (and is refused here, not lost) or
        waits and then fails on the replaced schema (never acknowledged)."""
        if not conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                            (f'"{self.schema}"."{CHANGES_TABLE}"',)).fetchone()[0]:
            return
        now = {str(n): int(v) for n, v in conn.execute(
            _sql("SELECT name, version FROM {} FOR UPDATE", self._t(CHANGES_TABLE)))}
        base.refuse_if_changed(self.describe(), now, expected)

    # -- the whole twin -------------------------------------------------------------------
    def write_twin(self, layers, meta, tables, files=None, *, expected=None) -> None:
        import pandas as pd
        from psycopg import sql

        files = files or {}
        new = f"{self.schema}__new_{secrets.token_hex(4)}"
        conn = self.connect()
        try:
            with self._errors(), conn.transaction():
                self._lock_for_writing(conn)
                self._need_postgis(conn)
                self._create_schema(conn, new)
                target = self._clone(new)
                for name, gdf in layers.items():
                    _write_layer(conn, target._t(name), gdf)
                pg_edits.count_edits(conn, new, layers)
                pg_blobs.create_table(conn, new)
                tx = _PgTransaction(target, conn)
                tx.replace(META_TABLE, pd.DataFrame(
                    {"key": list(meta), "value": [json.dumps(v, ensure_ascii=False)
                                                  for v in meta.values()]}))
                for name, df in tables.items():
                    tx.replace(name, df)
                tx._files_table()
                for name, src in files.items():
                    if isinstance(src, StoredFile):
                        source = base_store(src.source)
                        tx._put_parts(name, source.file_parts(name))
                        if name not in tx.stored_files():
                            raise TwinFileError(f"{source.describe()} does not hold {name}: "
                                                "restore a copy of it")
                    else:
                        tx.put_file(name, src)
                # Counters start from the clock (see twin.store.gpkg.write_twin_file).
                start = time.time_ns() // 1000
                tx._changes_table()  # typed here: a twin without tables has no rows to type
                with conn.cursor() as cur:
                    cur.executemany(sql.SQL("INSERT INTO {} (name, version) VALUES (%s, %s)")
                                    .format(target._t(CHANGES_TABLE)),
                                    [(n, start) for n in tables])
                self._check_replaceable(conn)
                if expected is not None:
                    self._check_unchanged(conn, expected)
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(self.schema)))
                conn.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                    sql.Identifier(new), sql.Identifier(self.schema)))
                for name in tables:
                    conn.execute("SELECT pg_notify(%s, %s)",
                                 (CHANNEL, f"{self.schema}:{name}:{start}"))
            with self._errors():
                for name in layers:  # statistics for the planner: tiles and filters use them
                    conn.execute(sql.SQL("ANALYZE {}").format(self._t(name)))
                conn.commit()
        finally:
            conn.close()
        self._keyless.clear()

    def _lock_for_writing(self, conn) -> None:
        """One whole write into this schema at a time: two pushes (or saves) would each
        drop the schema the other just renamed into place. The second refuses at once,
        before copying anything (the lock ends with the transaction)."""
        if not conn.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))",
                            (f"aqmola-twin write {self.schema}",)).fetchone()[0]:
            raise TwinFileError(
                f"{self.describe()} is being written by another push or save right now: "
                "nothing was written; wait for it to finish, then push again (add --force "
                "if it leaves work you mean to replace)")

    def _create_schema(self, conn, name: str) -> None:
        psycopg = _psycopg()
        from psycopg import sql

        try:
            with conn.transaction():
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        except psycopg.errors.InsufficientPrivilege as e:
            db, user = conn.info.dbname, conn.info.user
            raise TwinFileError(
                f"user {user!r} may not create schemas in database {db!r} of "
                f"{self.location!r}: nothing was written; as its owner run `GRANT CREATE "
                f"ON DATABASE {db} TO {user};`, or push as a user who may") from e

    def _need_postgis(self, conn) -> None:
        psycopg = _psycopg()
        if conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'postgis'"
                        ).fetchone()[0]:
            return
        db = conn.info.dbname
        try:
            with conn.transaction():  # a savepoint: the refusal below names the fix
                conn.execute("CREATE EXTENSION postgis")
        except psycopg.errors.InsufficientPrivilege as e:
            raise TwinFileError(
                f"database {db!r} of {self.location!r} has no PostGIS and user "
                f"{conn.info.user!r} may not install it: as a superuser run `CREATE "
                f"EXTENSION postgis;` in {db!r}, then push again") from e
        except (psycopg.errors.UndefinedFile, psycopg.errors.FeatureNotSupported) as e:
            raise TwinFileError(
                f"the server of {self.location!r} has no PostGIS to install "
                f"({_first_line(e)}): install it there (Debian: postgresql-15-postgis-3)"
            ) from e

    def read_meta(self) -> dict:
        with self._conn() as conn:
            self._need(conn)
            rows = conn.execute(
                _sql("SELECT key, value FROM {} ORDER BY " + _ROWID, self._t(META_TABLE))
            ).fetchall()
        return {k: json.loads(v) for k, v in rows}

    def layer_names(self) -> list[str]:
        return list(self.read_meta().get("layer_order", []))

    def unchanged_layers(self, names) -> frozenset[str]:
        return pg_edits.unchanged(self, names)

    def generation(self) -> object:
        return pg_edits.generation(self)

    def read_layer(self, name: str) -> gpd.GeoDataFrame:
        with self._conn() as conn:
            self._need(conn)
            return _read_layer(conn, self.schema, name, self.describe())

    def read_columns(self, name, columns, *, wkb=False):
        with self._conn() as conn:
            self._need(conn)
            return _read_layer(conn, self.schema, name, self.describe(), set(columns), wkb)

    def _columns(self, conn, name: str) -> list[tuple[str, str]]:
        return [(c, t) for c, t in conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE "
            "table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (self.schema, name)).fetchall() if c != _ROWID]

    def _attribute_tables(self, conn) -> list[str]:
        layers = set(self._meta_in(conn).get("layer_order", []))
        return [t for (t,) in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY c.oid", (self.schema,))
            if t not in INTERNAL_TABLES and t not in layers]

    def _meta_in(self, conn) -> dict:
        rows = conn.execute(_sql("SELECT key, value FROM {}", self._t(META_TABLE))).fetchall()
        return {k: json.loads(v) for k, v in rows}

    def _read_attributes(self, conn, name: str) -> pd.DataFrame:
        from psycopg import sql

        cols = [c for c, _ in self._columns(conn, name)]
        q = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
            sql.SQL(", ").join(map(sql.Identifier, cols)), self._t(name),
            sql.Identifier(_ROWID))
        return base.frame(conn.execute(q).fetchall(), cols)

    def read_tables(self, names=None):
        with self._conn() as conn, conn.transaction():
            # one snapshot: the tables and their counters agree
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            self._need(conn)
            have = self._attribute_tables(conn)
            wanted = have if names is None else [n for n in names if n in have]
            return ({n: self._read_attributes(conn, n) for n in wanted},
                    self._versions(conn))

    def _versions(self, conn) -> dict[str, int]:
        return {str(n): int(v) for n, v in conn.execute(
            _sql("SELECT name, version FROM {}", self._t(CHANGES_TABLE))).fetchall()}

    def versions(self) -> dict[str, int]:
        with self._conn() as conn:
            return self._versions(conn)

    # -- attribute tables -----------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._conn() as conn:
            self._need(conn)
            with conn.transaction():
                tx = _PgTransaction(self, conn)
                yield tx
                tx._bump()

    # -- files ----------------------------------------------------------------------------
    def stored_files(self) -> set[str]:
        with self._conn() as conn:
            return _PgTransaction(self, conn).stored_files()

    def file_parts(self, name: str) -> Iterator[bytes]:
        # One snapshot for every part: a file replaced meanwhile is read whole, old or
        # new, never a mix of both or with a part missing.
        with self._conn() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            if not _PgTransaction(self, conn).has(FILES_TABLE):
                return
            parts = [p for (p,) in conn.execute(
                _sql("SELECT part FROM {} WHERE name = %s ORDER BY part", self._t(FILES_TABLE)),
                (name,)).fetchall()]
            if parts != list(range(len(parts))):
                missing = sorted(set(range(max(parts) + 1)) - set(parts))
                raise TwinFileError(
                    f"{self.describe()} holds the stored file {name!r} incomplete (part(s) "
                    f"{', '.join(map(str, missing))} of {max(parts) + 1} missing): restore "
                    "it by adding the raster again (`twin add-raster --replace`) or by "
                    "pushing the twin again")
            for p in parts:  # one part (16 MiB) at a time: a large raster never sits whole
                row = conn.execute(_sql("SELECT data FROM {} WHERE name = %s AND part = %s",
                                        self._t(FILES_TABLE)), (name, p)).fetchone()
                yield bytes(row[0])

    # -- live changes ---------------------------------------------------------------------
    async def changes(self) -> AsyncIterator[tuple[str, int]]:
        """(table, counter) for every write committed to this twin's attribute tables,
        by any process: the database's own notifications (LISTEN), no polling. First
        ``(LISTENING, 0)``, once the notifications flow. A lost connection ends the
        iterator with :class:`StoreUnavailable`; listen again (and catch up) then."""
        psycopg = _psycopg()
        try:
            aconn = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, **self._connect_kwargs())
        except psycopg.Error as e:
            raise self.connection_error(e) from e
        try:
            await aconn.execute(f"LISTEN {CHANNEL}")
            # Listening (again): writes committed before now were not heard, so the
            # caller catches up once (a listener that lost its connection missed some).
            yield LISTENING, 0
            prefix = self.schema + ":"
            async for n in aconn.notifies():
                if n.payload.startswith(prefix):
                    table, _, version = n.payload[len(prefix):].rpartition(":")
                    yield table, int(version)
        except (psycopg.OperationalError, psycopg.InterfaceError) as e:
            raise StoreUnavailable(f"{self.describe()}: lost the connection that hears "
                                   f"other workers' writes ({_first_line(e)})") from e
        finally:
            await aconn.close()

    # -- filters in SQL -------------------------------------------------------------------
    def filter_rows(self, layer: str, flt) -> np.ndarray:
        """Positions (``fid``) of the layer's rows a checked CQL2 filter selects, evaluated
        by PostGIS through :func:`twin.query.sql.where_clause` (GiST for spatial tests)."""
        import numpy as np
        from psycopg import sql

        from ..query.sql import where_clause

        clause, params = where_clause(flt)
        with self._conn() as conn:
            rows = conn.execute(sql.SQL("SELECT fid FROM {} WHERE {} ORDER BY fid").format(
                self._t(layer), clause), params).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


def base_store(source) -> base.Store:
    from . import open_store

    return open_store(source)


def _sql(text: str, *idents):
    from psycopg import sql

    return sql.SQL(text).format(*idents)



# -- attribute tables --------------------------------------------------------------------
class _PgTransaction(Transaction):
    def __init__(self, store: PostgisStore, conn) -> None:
        super().__init__()
        self.store = store
        self.conn = conn

    def _t(self, name):
        return self.store._t(name)

    def has(self, name: str) -> bool:
        return self.conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                                 (f'"{self.store.schema}"."{name}"',)).fetchone()[0]

    def _create(self, name: str, columns) -> None:
        from psycopg import sql

        self.conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({} bigserial{})").format(
            self._t(name), sql.Identifier(_ROWID), sql.SQL("").join(
                sql.SQL(", {} {}").format(sql.Identifier(c), sql.SQL(_KIND[k]))
                for c, k in columns)))

    def ensure(self, table: Table) -> None:
        from psycopg import errors, sql

        if not self.has(table.name):
            # Two first writers would both run CREATE TABLE IF NOT EXISTS, and one fails
            # on the catalog's unique key: let them take turns (the lock ends with the
            # transaction; the second then finds the table).
            self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                              (f"{self.store.schema}.{table.name}",))
        self._create(table.name, table.columns)
        have = dict(self.store._columns(self.conn, table.name))
        for c, k in table.columns:
            want = _KIND[k]
            if c not in have:
                self.conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                    self._t(table.name), sql.Identifier(c), sql.SQL(want)))
            elif have[c] != want:
                # a table saved whole from an empty frame holds text columns: give them
                # the kinds its writers store (the values, if any, are converted)
                self.conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {} USING "
                                          "{}::{}").format(
                    self._t(table.name), sql.Identifier(c), sql.SQL(want), sql.Identifier(c),
                    sql.SQL(want)))
        # CREATE INDEX takes a share lock on the table even when the index exists: two
        # writers holding it would deadlock on their updates. Create it only when missing.
        if table.key and table.name not in self.store._keyless and \
                not self.has(f"{table.name}_key"):
            self.conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                              (f"{self.store.schema}.{table.name}",))
            try:
                with self.conn.transaction():  # a savepoint: a refused key ends nothing
                    self.conn.execute(sql.SQL("CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} "
                                              "({})").format(
                        sql.Identifier(f"{table.name}_key"), self._t(table.name),
                        sql.SQL(", ").join(map(sql.Identifier, table.key))))
            except errors.UniqueViolation:
                self.store._keyless.add(table.name)

    @staticmethod
    def _where(where: dict | None):
        from psycopg import sql

        if not where:
            return sql.SQL(""), []
        return (sql.SQL(" WHERE ") + sql.SQL(" AND ").join(
            sql.SQL("{} = %s").format(sql.Identifier(c)) for c in where),
            [base.plain(v) for v in where.values()])

    def select(self, table, columns, where=None, order_by=()):
        from psycopg import sql

        clause, params = self._where(where)
        order = sql.SQL(" ORDER BY {}").format(sql.SQL(", ").join(
            map(sql.Identifier, [*order_by, _ROWID])))
        return self.conn.execute(sql.SQL("SELECT {} FROM {}{}{}").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)), self._t(table), clause, order),
            params).fetchall()

    def insert(self, table, columns, rows, *, skip_existing=False) -> int:
        from psycopg import errors, sql

        q = sql.SQL("INSERT INTO {} ({}) VALUES ({}){}").format(
            self._t(table), sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            sql.SQL(" ON CONFLICT DO NOTHING") if skip_existing else sql.SQL(""))
        n = 0
        try:
            with self.conn.cursor() as cur:
                for r in rows:
                    cur.execute(q, [base.plain(v) for v in r])
                    n += cur.rowcount
        except errors.UniqueViolation as e:
            raise DuplicateKey(f"table {table!r} already holds one of these rows "
                               f"({str(e).splitlines()[0]})") from e
        self._touch(table)
        return n

    def upsert(self, table: Table, rows) -> None:
        from psycopg import sql

        rows = [list(r) for r in rows]
        if table.name in self.store._keyless:
            self.delete_many(table.name, table.key, [[r[table.names.index(k)]
                                                      for k in table.key] for r in rows])
            self.insert(table.name, table.names, rows)
            return
        rest = [c for c in table.names if c not in table.key]
        q = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}").format(
            self._t(table.name), sql.SQL(", ").join(map(sql.Identifier, table.names)),
            sql.SQL(", ").join(sql.Placeholder() * len(table.names)),
            sql.SQL(", ").join(map(sql.Identifier, table.key)),
            sql.SQL(", ").join(sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c),
                                                                  sql.Identifier(c))
                               for c in rest))
        with self.conn.cursor() as cur:
            cur.executemany(q, [[base.plain(v) for v in r] for r in rows])
        self._touch(table.name)

    def update(self, table, values, where) -> int:
        from psycopg import sql

        clause, params = self._where(where)
        sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in values)
        n = self.conn.execute(sql.SQL("UPDATE {} SET {}{}").format(self._t(table), sets, clause),
                              [base.plain(v) for v in values.values()] + params).rowcount
        self._touch(table)
        return n

    def delete(self, table, where=None) -> int:
        from psycopg import sql

        clause, params = self._where(where)
        n = self.conn.execute(sql.SQL("DELETE FROM {}{}").format(self._t(table), clause),
                              params).rowcount
        self._touch(table)
        return n

    def delete_many(self, table, columns, keys) -> None:
        from psycopg import sql

        cond = sql.SQL(" AND ").join(sql.SQL("{} = %s").format(sql.Identifier(c))
                                     for c in columns)
        with self.conn.cursor() as cur:
            cur.executemany(sql.SQL("DELETE FROM {} WHERE {}").format(self._t(table), cond),
                            [[base.plain(v) for v in k] for k in keys])
        self._touch(table)

    def replace(self, name, df) -> None:
        from psycopg import errors, sql

        cols = [(str(c), base.sql_kind(df[c])) for c in df.columns]
        # Rows deleted and written again in this transaction: a reader on another worker
        # sees the old rows or the new ones, never an empty table. A table dropped and
        # created would be empty to a reader whose snapshot began before the commit (its
        # rows are too new for it), or missing while this transaction runs.
        if self.has(name) and self.store._columns(self.conn, name) == \
                [(c, _KIND[k]) for c, k in cols]:
            try:
                with self.conn.transaction():  # a savepoint: rows that break its key
                    self.conn.execute(sql.SQL("DELETE FROM {}").format(self._t(name)))
                    self._copy_rows(name, df, cols)
                self._touch(name)
                return
            except errors.UniqueViolation:
                pass  # the new rows refuse the table's unique key: a new table without it
        # Another layout (columns added, dropped or retyped): a new table in its place.
        self.conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._t(name)))
        self.store._keyless.discard(name)
        self._create(name, cols)
        self._copy_rows(name, df, cols)
        self._touch(name)

    def _copy_rows(self, name: str, df: pd.DataFrame, cols) -> None:
        from psycopg import sql

        if not len(df):
            return
        names = [c for c, _ in cols]
        with self.conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(
                self._t(name), sql.SQL(", ").join(map(sql.Identifier, names)))) as cp:
            for row in df.itertuples(index=False, name=None):
                cp.write_row([_cell(v, k) for v, (_, k) in zip(row, cols, strict=True)])

    def _files_table(self) -> None:
        from psycopg import sql

        self.conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (name text NOT NULL, part "
                                  "integer NOT NULL, data bytea NOT NULL, PRIMARY KEY (name, "
                                  "part))").format(self._t(FILES_TABLE)))

    def _put_parts(self, name: str, parts) -> None:
        self._files_table()
        self.conn.execute(_sql("DELETE FROM {} WHERE name = %s", self._t(FILES_TABLE)), (name,))
        for part, data in enumerate(parts):
            self.conn.execute(_sql("INSERT INTO {} (name, part, data) VALUES (%s, %s, %s)",
                                   self._t(FILES_TABLE)), (name, part, data))

    def put_file(self, name, path) -> None:
        with open(path, "rb") as f:
            self._put_parts(name, iter(lambda: f.read(base.FILE_PART_BYTES), b""))

    def delete_files(self, names) -> None:
        if self.has(FILES_TABLE):
            with self.conn.cursor() as cur:
                cur.executemany(_sql("DELETE FROM {} WHERE name = %s", self._t(FILES_TABLE)),
                                [(n,) for n in names])

    def stored_files(self) -> set[str]:
        if not self.has(FILES_TABLE):
            return set()
        return {r[0] for r in self.conn.execute(
            _sql("SELECT DISTINCT name FROM {}", self._t(FILES_TABLE))).fetchall()}

    def _changes_table(self) -> None:
        from psycopg import sql

        self.conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (twin_rowid bigserial, name "
                                  "text PRIMARY KEY, version bigint NOT NULL)").format(
            self._t(CHANGES_TABLE)))

    def _bump(self) -> None:
        from psycopg import sql

        if not self.touched:
            return
        self._changes_table()
        for name in sorted(self.touched):  # sorted: two writers lock counters in one order
            # xmax = 0 on the returned row: it was inserted, so there was no counter before
            after, fresh = self.conn.execute(sql.SQL(
                "INSERT INTO {} (name, version) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE "
                "SET version = {}.version + 1 RETURNING version, (xmax = 0)").format(
                    self._t(CHANGES_TABLE), sql.Identifier(CHANGES_TABLE)),
                (name, time.time_ns() // 1000)).fetchone()
            self.changes[name] = (0 if fresh else int(after) - 1, int(after))
            self.conn.execute("SELECT pg_notify(%s, %s)",
                              (CHANNEL, f"{self.store.schema}:{name}:{after}"))


def _cell(v, kind: str):
    v = base.plain(v)
    if v is None:
        return None
    if kind == "int" and isinstance(v, bool):
        return int(v)
    return v
