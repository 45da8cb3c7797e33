"""Counting the edits made to a twin file's layers by any program, so the layer records hold.

A twin file records what it knows about each layer when the toolkit saves it: its count,
extent and content hash (the ``layer_records`` of the metadata), so that opening a large
twin, listing its layers or keying its tile caches needs no read of the rows. That holds
only while nothing else has edited the layer since: each feature table gets SQLite triggers
that count every insert, update and delete into :data:`EDITS_TABLE`, whatever program makes
them (GDAL, QGIS, the sqlite3 shell). :func:`unchanged` names the layers with no edits and
their triggers in place (a table dropped and rewritten loses them); for any other layer the
toolkit measures the rows themselves.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from .base import EDITS_TABLE

__all__ = ["count_edits", "unchanged"]

_EVENTS = ("insert", "update", "delete")


def _trigger(layer: str, event: str) -> str:
    return f"twin_edits_{layer}_{event}"


def count_edits(conn: sqlite3.Connection, layers: Iterable[str]) -> None:
    """Start every layer's edit count at 0, with triggers that count each later edit."""
    conn.execute(f'CREATE TABLE "{EDITS_TABLE}" (layer TEXT PRIMARY KEY, '
                 "edits INTEGER NOT NULL)")
    conn.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, description) "
        "VALUES (?, 'attributes', ?, 'edits made to each layer since the twin was saved')",
        (EDITS_TABLE, EDITS_TABLE))
    for name in layers:
        # Layer names are identifiers (Twin.add_layer checks them), so they quote safely.
        conn.execute(f'INSERT INTO "{EDITS_TABLE}" VALUES (?, 0)', (name,))
        for event in _EVENTS:
            conn.execute(
                f'CREATE TRIGGER "{_trigger(name, event)}" AFTER {event.upper()} ON "{name}" '
                f"BEGIN UPDATE \"{EDITS_TABLE}\" SET edits = edits + 1 "
                f"WHERE layer = '{name}'; END")


def unchanged(conn: sqlite3.Connection, names: Iterable[str]) -> frozenset[str]:
    """Which of the layers ``names`` nothing has edited since the toolkit saved the file."""
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if EDITS_TABLE not in have:  # written before edits were counted: nothing is known
        return frozenset()
    edits = dict(conn.execute(f'SELECT layer, edits FROM "{EDITS_TABLE}"'))
    triggers = {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    return frozenset(
        n for n in names
        if edits.get(n) == 0 and all(_trigger(n, e) in triggers for e in _EVENTS))
