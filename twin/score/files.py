"""Observations from a file: the CSV a statistics office exports, ready for
:meth:`twin.score.Score.ingest` (which validates it exactly as ``POST /score/observations``
does).

The CSV has one row per unit, indicator and month: ``unit_id, indicator, month, value`` and
optionally ``unit`` (the measurement unit), ``source`` and ``synthetic``. Without a ``unit``
column every value is taken to be in its indicator's unit, as the registry states it.

Examples
--------
>>> import tempfile, pathlib
>>> from twin.score.registry import load_registry
>>> p = pathlib.Path(tempfile.mkdtemp()) / "stats.csv"
>>> _ = p.write_text("unit_id,indicator,month,value\\nu1,avg_wage,2025-01,412.5\\n")
>>> read_observations(p, load_registry())[["unit_id", "value", "unit", "source"]].values.tolist()
[['u1', '412.5', 'thousand KZT', 'stats.csv']]
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..errors import ImportFormatError, TwinFileError
from .errors import ObservationError
from .registry import Registry

__all__ = ["read_observations", "REQUIRED", "OPTIONAL"]

REQUIRED = ("unit_id", "indicator", "month", "value")
OPTIONAL = ("unit", "source", "synthetic")


def read_observations(path: str | os.PathLike, registry: Registry) -> pd.DataFrame:
    """The observations of the CSV at ``path``, as text, with ``unit`` filled from the
    registry where the file has no such column and ``source`` (default: the file's name).

    Values stay text: converting and checking them is the score's validation, the same for
    every way observations come in.
    """
    path = Path(path)
    if not path.is_file():
        raise TwinFileError(f"{str(path)!r} does not exist: check the path")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise ImportFormatError(f"could not read {path.name!r} as CSV: {e}") from e
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ObservationError(
            f"{path.name!r} lacks column(s) {', '.join(missing)}: an observations CSV has "
            f"{', '.join(REQUIRED)} and optionally {', '.join(OPTIONAL)}; it has "
            f"{', '.join(df.columns) or 'no columns'}")
    extra = [c for c in df.columns if c not in REQUIRED + OPTIONAL]
    if extra:
        raise ObservationError(
            f"{path.name!r} has column(s) {', '.join(extra)} that an observations CSV does "
            f"not: keep {', '.join(REQUIRED + OPTIONAL)} (rename or drop the others)")
    df = df.apply(lambda s: s.str.strip())
    if "unit" not in df.columns:
        units = {i.id: i.unit for i in registry.indicators}
        # an unknown indicator keeps a blank unit: the validation names the indicator
        df["unit"] = df["indicator"].map(units).fillna("")
    if "source" not in df.columns:
        df["source"] = path.name
    else:
        df["source"] = df["source"].where(df["source"] != "", path.name)
    if "synthetic" not in df.columns:
        df["synthetic"] = False
    return df[list(REQUIRED) + list(OPTIONAL)]
