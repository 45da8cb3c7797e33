"""Scenarios in the twin file: one row per scenario in the attribute table ``scenarios``.

A row holds the scenario's id, name, version and its edits as JSON: the edits are the record.
Every write runs in one SQLite transaction (``BEGIN IMMEDIATE``) that first reads the stored
version, so two sessions saving the same scenario cannot both win: the one based on a stale
version gets :class:`~twin.scenario.errors.ScenarioConflict` and writes nothing. A twin with
no file keeps its scenarios in ``tw.tables`` under a lock, with the same rule.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from .. import store
from .errors import InvalidEdit, ScenarioConflict, ScenarioNotFound

__all__ = ["TABLE", "COLUMNS", "check_id", "read_row", "read_rows", "write_row", "delete_row"]

TABLE = "scenarios"
COLUMNS = ["id", "name", "version", "baseline", "edits", "created_utc", "updated_utc"]
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_memory_lock = threading.Lock()


def check_id(scenario_id: str) -> str:
    """A scenario id: 1-64 letters, digits, ``_`` or ``-`` (it is used in URLs)."""
    if not isinstance(scenario_id, str) or not _ID.match(scenario_id):
        raise InvalidEdit(f"scenario id {scenario_id!r} is not usable: use 1-64 letters, "
                          "digits, '_' or '-', starting with a letter or digit")
    return scenario_id


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _has_file(tw) -> bool:
    return tw.path is not None and Path(tw.path).is_file()


def _ensure(conn: sqlite3.Connection) -> None:
    conn.execute(f'CREATE TABLE IF NOT EXISTS "{TABLE}" (id TEXT PRIMARY KEY, name TEXT, '
                 'version INTEGER, baseline TEXT, edits TEXT, created_utc TEXT, '
                 'updated_utc TEXT)')
    if not conn.execute("SELECT 1 FROM gpkg_contents WHERE table_name=?", (TABLE,)).fetchone():
        conn.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier) "
                     "VALUES (?, 'attributes', ?)", (TABLE, TABLE))


def _file_rows(tw) -> pd.DataFrame:
    conn = sqlite3.connect(f"file:{tw.path}?mode=ro", uri=True)
    try:
        ok = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                          (TABLE,)).fetchone()
        if not ok:
            return pd.DataFrame(columns=COLUMNS)
        return pd.read_sql_query(f'SELECT {", ".join(COLUMNS)} FROM "{TABLE}" ORDER BY id',
                                 conn)
    finally:
        conn.close()


def read_rows(tw) -> pd.DataFrame:
    """Every stored scenario row; the file is the truth when the twin has one (another
    session may have saved since the twin was opened)."""
    if _has_file(tw):
        rows = _file_rows(tw)
        tw.tables[TABLE] = rows
        return rows
    t = tw.tables.get(TABLE)
    return t.copy() if t is not None else pd.DataFrame(columns=COLUMNS)


def read_row(tw, scenario_id: str) -> dict:
    rows = read_rows(tw)
    hit = rows[rows["id"].astype(str) == str(scenario_id)]
    if not len(hit):
        raise ScenarioNotFound(f"twin {tw.name!r} stores no scenario {scenario_id!r}: "
                               f"list them with twin.scenario.list_scenarios(tw)")
    r = hit.iloc[0].to_dict()
    r["version"] = int(r["version"])
    return r


def _conflict(scenario_id, stored, expected) -> ScenarioConflict:
    if stored is None:
        return ScenarioConflict(f"scenario {scenario_id!r} was deleted by another session "
                                f"(you had version {expected}): save it under a new id")
    if expected == 0:
        return ScenarioConflict(f"a scenario {scenario_id!r} exists already (version "
                                f"{stored}): open it with tw.scenario({scenario_id!r}) or "
                                "pick another id")
    return ScenarioConflict(f"scenario {scenario_id!r} is at version {stored}, but this "
                            f"change was based on version {expected}: another session saved "
                            "in between; reload it, re-apply your change and save again")


def write_row(tw, scenario_id: str, name: str, edits_json: str, expected_version: int
              ) -> int:
    """Store a scenario as the version after ``expected_version`` (0: a new scenario).

    Returns the new version. Raises :class:`ScenarioConflict` when the stored version is not
    ``expected_version``; nothing is written then.
    """
    check_id(scenario_id)
    now = _now()

    def decide(stored):
        if (stored is None and expected_version != 0) or (
                stored is not None and stored != expected_version):
            raise _conflict(scenario_id, stored, expected_version)
        return expected_version + 1

    if _has_file(tw):
        with store.transaction(tw.path) as conn:
            _ensure(conn)
            r = conn.execute(f'SELECT version FROM "{TABLE}" WHERE id=?',
                             (scenario_id,)).fetchone()
            v = decide(None if r is None else int(r[0]))
            if r is None:
                conn.execute(f'INSERT INTO "{TABLE}" ({", ".join(COLUMNS)}) VALUES '
                             '(?, ?, ?, ?, ?, ?, ?)',
                             (scenario_id, name, v, str(tw.version), edits_json, now, now))
            else:
                conn.execute(f'UPDATE "{TABLE}" SET name=?, version=?, edits=?, '
                             'updated_utc=? WHERE id=?', (name, v, edits_json, now,
                                                          scenario_id))
        read_rows(tw)  # keep tw.tables in step with the file
        return v
    with _memory_lock:
        rows = read_rows(tw)
        hit = rows["id"].astype(str) == scenario_id
        v = decide(int(rows.loc[hit, "version"].iloc[0]) if hit.any() else None)
        created = rows.loc[hit, "created_utc"].iloc[0] if hit.any() else now
        row = pd.DataFrame([{"id": scenario_id, "name": name, "version": v,
                             "baseline": str(tw.version), "edits": edits_json,
                             "created_utc": created, "updated_utc": now}], columns=COLUMNS)
        rest = rows[~hit]
        tw.tables[TABLE] = pd.concat([rest, row], ignore_index=True) if len(rest) else row
        return v


def delete_row(tw, scenario_id: str, expected_version: int | None = None) -> None:
    """Delete a stored scenario (only if it is at ``expected_version``, when given)."""
    def check(stored):
        if stored is None:
            raise ScenarioNotFound(f"twin {tw.name!r} stores no scenario {scenario_id!r}")
        if expected_version is not None and stored != expected_version:
            raise _conflict(scenario_id, stored, expected_version)

    if _has_file(tw):
        with store.transaction(tw.path) as conn:
            _ensure(conn)
            r = conn.execute(f'SELECT version FROM "{TABLE}" WHERE id=?',
                             (scenario_id,)).fetchone()
            check(None if r is None else int(r[0]))
            conn.execute(f'DELETE FROM "{TABLE}" WHERE id=?', (scenario_id,))
        read_rows(tw)
        return
    with _memory_lock:
        rows = read_rows(tw)
        hit = rows["id"].astype(str) == scenario_id
        check(int(rows.loc[hit, "version"].iloc[0]) if hit.any() else None)
        tw.tables[TABLE] = rows[~hit].reset_index(drop=True)
