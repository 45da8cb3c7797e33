"""Counting the edits made to a PostGIS twin's layers by any program, so the layer records
hold: :mod:`.layer_edits`' contract for a database.

A saved twin records what it knows about each layer (count, extent, content hash: the
``layer_records`` of the metadata), so that a server opening 1,000,000 parcels knows their
data version, and finds their saved tile index, without reading and hashing the rows. That
holds only while nothing else has edited the layer since the toolkit wrote it. So
``write_twin`` gives each layer table a statement-level trigger (one per statement, so a
bulk ``UPDATE`` or ``COPY`` costs one counter bump, not one per row) that counts every
``INSERT``, ``UPDATE``, ``DELETE`` and ``TRUNCATE`` into :data:`EDITS_TABLE`, whoever runs
it (psql, QGIS, ogr2ogr): the function is ``SECURITY DEFINER``, so a role that may edit a
layer but not the counters is still counted, and the trigger is ``ENABLE ALWAYS``, so it
fires under ``session_replication_role = replica`` too (logical replication, restores).

:func:`unchanged` trusts a layer only while its count is 0, its table is the one written
(same oid: a table dropped and re-created, or renamed into place, is another), its columns
are the ones written (``ALTER TABLE`` changes what a read gives without firing a trigger),
and its trigger is there and always enabled. Twins pushed before edits were counted have
no counter table: nothing about them is known, and their layers are measured from rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .base import EDITS_TABLE

if TYPE_CHECKING:
    from .postgis import PostgisStore

__all__ = ["count_edits", "unchanged", "generation"]

_TRIGGER = "twin_layer_edits"
_FUNCTION = "twin_count_layer_edit"
# What a layer's columns are, as one comparable string (dropped columns leave holes in
# attnum, hence attisdropped).
_COLUMNS = ("(SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), "
            "', ' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = c.oid AND "
            "a.attnum > 0 AND NOT a.attisdropped)")


def count_edits(conn, schema: str, layers: Iterable[str]) -> None:
    """In ``schema`` (a twin being written, before any outside edit can reach it): every
    layer's edit count at 0, and the trigger that counts each later edit statement."""
    from psycopg import sql

    counters = sql.Identifier(schema, EDITS_TABLE)
    conn.execute(sql.SQL("CREATE TABLE {} (layer text PRIMARY KEY, edits bigint NOT NULL, "
                         "relid oid NOT NULL, columns text NOT NULL)").format(counters))
    # The schema is renamed into place after this, so the function names it from the
    # trigger's own table (TG_TABLE_SCHEMA), not from the name it has now.
    conn.execute(sql.SQL(
        "CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER "
        "SET search_path = pg_catalog, pg_temp AS $$ BEGIN "
        "EXECUTE format('UPDATE %I.%I SET edits = edits + 1 WHERE layer = $1', "
        "TG_TABLE_SCHEMA, {}) USING TG_TABLE_NAME; RETURN NULL; END $$").format(
        sql.Identifier(schema, _FUNCTION), sql.Literal(EDITS_TABLE)))
    for name in layers:
        table = sql.Identifier(schema, name)
        conn.execute(sql.SQL(
            "CREATE TRIGGER {} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {} "
            "FOR EACH STATEMENT EXECUTE FUNCTION {}()").format(
            sql.Identifier(_TRIGGER), table, sql.Identifier(schema, _FUNCTION)))
        conn.execute(sql.SQL("ALTER TABLE {} ENABLE ALWAYS TRIGGER {}").format(
            table, sql.Identifier(_TRIGGER)))
        conn.execute(sql.SQL(
            "INSERT INTO {} (layer, edits, relid, columns) SELECT %s, 0, c.oid, " + _COLUMNS +
            " FROM pg_class c WHERE c.oid = %s::regclass").format(counters),
            (name, f'"{schema}"."{name}"'))


def unchanged(store: PostgisStore, names: Iterable[str]) -> frozenset[str]:
    """Which of the layers ``names`` nothing has edited since the toolkit wrote them."""
    from psycopg import sql

    names = list(names)
    with store._conn() as conn:
        if not conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                            (f'"{store.schema}"."{EDITS_TABLE}"',)).fetchone()[0]:
            return frozenset()  # pushed before edits were counted: nothing is known
        rows = conn.execute(sql.SQL(
            "SELECT e.layer FROM {} e JOIN pg_class c ON c.oid = e.relid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_trigger t ON t.tgrelid = c.oid AND t.tgname = %s AND t.tgenabled = 'A' "
            "WHERE e.edits = 0 AND e.layer = ANY(%s) AND c.relname = e.layer "
            "AND n.nspname = %s AND e.columns = " + _COLUMNS).format(
            sql.Identifier(store.schema, EDITS_TABLE)),
            (_TRIGGER, names, store.schema)).fetchall()
    return frozenset(r[0] for r in rows)


def generation(store: PostgisStore) -> object:
    """The schema's oid: a whole save or push writes a new schema and renames it into
    place, so the oid changes exactly when the whole twin is replaced."""
    with store._conn() as conn:
        row = conn.execute("SELECT oid FROM pg_namespace WHERE nspname = %s",
                           (store.schema,)).fetchone()
    return None if row is None else int(row[0])
