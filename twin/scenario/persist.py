"""Scenarios in the twin's store: one row per scenario in the attribute table ``scenarios``.

A row holds the scenario's id, name, version and its edits as JSON: the edits are the record.
Every write is a compare-and-set in the store's own transaction: a change updates the row
only ``WHERE version = <the version it was based on>``, and a new scenario is inserted only
if its id is free. So of writers racing with the same version, in one process or in several
workers of a server on PostGIS, exactly one wins; the others get
:class:`~twin.scenario.errors.ScenarioConflict` and write nothing. A twin that is not
stored keeps its scenarios in ``tw.tables`` under a lock, with the same rule.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from .. import limits
from ..errors import SetAsideWarning, TwinError
from ..store import Table, retrying
from .edits import edits_from_json
from .errors import InvalidEdit, ScenarioConflict, ScenarioNotFound, UnreadableScenario

__all__ = ["TABLE", "COLUMNS", "check_id", "check_name", "read_row", "read_rows",
           "write_row", "delete_row"]

TABLE = "scenarios"
COLUMNS = ["id", "name", "version", "baseline", "edits", "created_utc", "updated_utc"]
SCENARIOS = Table(TABLE, (("id", "text"), ("name", "text"), ("version", "int"),
                          ("baseline", "text"), ("edits", "text"), ("created_utc", "text"),
                          ("updated_utc", "text")), key=("id",),
                  description="stored scenarios: the edits are the record")
_memory_lock = threading.Lock()


def check_id(scenario_id: Any) -> str:
    """A scenario id: 1-64 ASCII letters, digits, ``_`` or ``-``, starting with a letter or
    digit (it is used in URLs and headers)."""
    return limits.identifier(scenario_id, "scenario id", error=InvalidEdit)


def check_name(name: Any) -> str:
    """A scenario's title: one line of at most 200 characters."""
    return limits.text(name, "scenario name", error=InvalidEdit)


# Problems of stored rows by content, so a row is checked once, not on every request.
_checked: OrderedDict[tuple, str | None] = OrderedDict()
_checked_lock = threading.Lock()


def _problem(r: dict) -> str | None:
    """What makes a stored row unreadable (None: nothing). The same checks as a write."""
    edits = r.get("edits")
    digest = hashlib.sha256(str(edits).encode("utf-8", "surrogatepass")).hexdigest()
    key = (str(r.get("id")), str(r.get("name")), str(r.get("version")), digest)
    with _checked_lock:
        if key in _checked:
            return _checked[key]
    try:
        check_id(r.get("id"))
        check_name(r.get("name"))
        v = r.get("version")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or v < 1:
            raise InvalidEdit(f"version {v!r} is not a whole number >= 1")
        if not isinstance(edits, str):
            raise InvalidEdit(f"the edits are {type(edits).__name__}, not JSON text")
        edits_from_json(edits)
        found = None
    except (TwinError, OverflowError) as e:
        found = str(e)
    with _checked_lock:
        _checked[key] = found
        while len(_checked) > 4096:
            _checked.popitem(last=False)
    return found


def _split(tw, rows: pd.DataFrame) -> pd.DataFrame:
    """The readable rows; the others are set aside with a warning (the file keeps them)."""
    if not len(rows):
        return rows
    problems = [_problem(r) for r in rows.to_dict("records")]
    bad = [(r, p) for r, p in zip(rows.to_dict("records"), problems, strict=True) if p]
    if bad:
        where = tw.store.describe() if tw.store is not None else f"twin {tw.name!r}"
        shown = "; ".join(f"row id={r.get('id')!r}: {p}" for r, p in bad[:5])
        warnings.warn(
            f"{where}: {len(bad)} row(s) of table {TABLE!r} cannot be read and are set "
            f"aside ({shown}{'; ...' if len(bad) > 5 else ''}). Fix: delete them (DELETE "
            "/scenarios/{id}, or twin.scenario.delete_scenario(tw, id)) and save them "
            "again, or correct them in the file", SetAsideWarning, stacklevel=3)
    ok = [p is None for p in problems]
    return rows[ok].reset_index(drop=True)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _has_file(tw) -> bool:
    return tw.store is not None and tw.store.exists()


def _file_rows(tw) -> pd.DataFrame:
    rows = tw.store.read_table(TABLE)
    if rows is None:
        return pd.DataFrame(columns=COLUMNS)
    rows = rows[[c for c in COLUMNS if c in rows.columns]]
    return rows.sort_values("id", kind="stable").reset_index(drop=True) if len(rows) else rows


def _stored(tw) -> pd.DataFrame:
    """Every stored row as it is, readable or not; the store is the truth when the twin has
    one (another session, or another worker, may have saved since the twin was opened)."""
    if _has_file(tw):
        rows = _file_rows(tw)
        tw.tables[TABLE] = rows  # all of them: a whole-twin save keeps even those set aside
        return rows
    t = tw.tables.get(TABLE)
    return t.copy() if t is not None else pd.DataFrame(columns=COLUMNS)


def read_rows(tw) -> pd.DataFrame:
    """Every readable stored scenario row. A row that cannot be read (an old bug, a hand
    edit) is left out with a :class:`~twin.errors.SetAsideWarning` naming it and the fix."""
    return _split(tw, _stored(tw))


def read_row(tw, scenario_id: str) -> dict:
    rows = _stored(tw)
    hit = rows[rows["id"].astype(str) == str(scenario_id)]
    if not len(hit):
        raise ScenarioNotFound(f"twin {tw.name!r} stores no scenario {scenario_id!r}: "
                               f"list them with twin.scenario.list_scenarios(tw)")
    r = hit.iloc[0].to_dict()
    problem = _problem(r)
    if problem:
        raise UnreadableScenario(
            f"the stored scenario {scenario_id!r} cannot be read ({problem}): delete it "
            "(DELETE /scenarios/{id}, or twin.scenario.delete_scenario(tw, id)) and save "
            "it again, or correct it in the twin file")
    r["version"] = int(r["version"])
    return r


_KEY_COLS = ["id", "name", "version", "edits"]


def _row(tx, scenario_id: str):
    rows = tx.select(TABLE, _KEY_COLS, {"id": scenario_id})
    return rows[0] if rows else None


def _version(row) -> int:
    """The version of a stored row (a tuple of id, name, version, edits); -1 for a row that
    cannot be read (see read_row)."""
    r = dict(zip(_KEY_COLS, row, strict=True))
    return -1 if _problem(r) else int(r["version"])


def _conflict(scenario_id, stored, expected) -> ScenarioConflict:
    if stored == -1:
        return ScenarioConflict(f"the stored scenario {scenario_id!r} cannot be read: "
                                "delete it first (DELETE /scenarios/{id} without If-Match, "
                                "or twin.scenario.delete_scenario(tw, id))")
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
    # The row passes the checks a read applies before anything is written, so that no
    # write can store a row that a later read would set aside.
    problem = _problem({"id": scenario_id, "name": name, "version": expected_version + 1,
                        "edits": edits_json})
    if problem:
        raise InvalidEdit(problem)
    now = _now()

    def decide(stored):
        if (stored is None and expected_version != 0) or (
                stored is not None and stored != expected_version):
            raise _conflict(scenario_id, stored, expected_version)
        return expected_version + 1

    if _has_file(tw):
        for attempt in retrying():  # a collision with another writer: again
            with attempt, tw.store.transaction() as tx:
                tx.ensure(SCENARIOS)
                r = _row(tx, scenario_id)
                stored = None if r is None else _version(r)
                v = decide(stored)
                if r is None:
                    won = tx.insert(TABLE, COLUMNS, [(scenario_id, name, v, str(tw.version),
                                                      edits_json, now, now)],
                                    skip_existing=True)
                else:
                    # compare-and-set: a writer that got in since the read leaves no row
                    won = tx.update(TABLE, {"name": name, "version": v, "edits": edits_json,
                                            "updated_utc": now},
                                    {"id": scenario_id, "version": stored})
                if not won:
                    r = _row(tx, scenario_id)
                    raise _conflict(scenario_id, None if r is None else _version(r),
                                    expected_version)
        _stored(tw)  # keep tw.tables in step with the file
        return v
    with _memory_lock:
        rows = _stored(tw)
        hit = rows["id"].astype(str) == scenario_id
        v = decide(_version(rows.loc[hit, _KEY_COLS].iloc[0]) if hit.any() else None)
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
        for attempt in retrying():  # a collision with another writer: again
            with attempt, tw.store.transaction() as tx:
                tx.ensure(SCENARIOS)
                r = _row(tx, scenario_id)
                stored = None if r is None else _version(r)
                check(stored)
                where = {"id": scenario_id} if r is None or stored == -1 else \
                    {"id": scenario_id, "version": stored}
                if not tx.delete(TABLE, where):
                    r = _row(tx, scenario_id)
                    check(None if r is None else _version(r))
        _stored(tw)
        return
    with _memory_lock:
        rows = _stored(tw)
        hit = rows["id"].astype(str) == scenario_id
        check(_version(rows.loc[hit, _KEY_COLS].iloc[0]) if hit.any() else None)
        tw.tables[TABLE] = rows[~hit].reset_index(drop=True)
