"""What a twin accepts from its users: ids, texts and numbers, each with a stated limit.

Every write (a scenario, its edits, an observation of the score) passes these checks before
anything is committed or computed, and the stored rows pass them again when they are read
back, so a value that one side accepts the other can always load. A check refuses, with
the caller's error class, a value that is

* **an id** (a scenario or a new project) unless it is 1-64 characters of ASCII letters and
  digits plus the separators the caller allows, starting with a letter or digit. The whole
  string must match: ``"abc\\n"`` is refused (a pattern ending in ``$`` would accept it);
* **a text** (a name, a sector, a source, an id the twin already holds) when it is not a
  string, is longer than its limit (:data:`TEXT_MAX_LENGTH` unless stated), or holds a
  control character (``\\n``, ``\\t``, NUL...) or a lone UTF-16 surrogate, which no file
  can store as UTF-8;
* **a number** outside its range in :data:`RANGES`, not finite (NaN, ±Infinity, also
  spelled as text), a boolean, or not a whole number where one is asked for. Integers are
  compared as integers, so ``10**400`` is refused by its size, never converted to a float
  (which would overflow).

The ranges, and why each bound is where it is:

=================  ===================  ==========================================
field              range                why
=================  ===================  ==========================================
lon, lat           -180..180, -90..90   degrees of EPSG:4326 (then: inside the
                                        region, checked against the twin)
investment_kzt     0..10^15 KZT         about 8 times Kazakhstan's GDP (~1.3 x 10^14
                                        KZT in 2023): no single project is larger;
                                        below 2^53, so it is exact as a float, and
                                        :data:`MAX_EDITS` such projects still sum
                                        inside int64
jobs               0..10^6              more than Akmola region's population; no
                                        project site employs more people
area_ha            0..10^5 ha           1,000 km², ten times the largest open-pit
                                        mines; a site's footprint, not a district
score weight       0, or 0.001..1000    weights are relative: at 1000:1 the lighter
                                        indicator moves a score by less than its
                                        0.1 precision; below 0.001 a weight is
                                        noise, and subnormal weights (5e-324)
                                        divide to infinity
observation value  -10^12..10^12        on top of each indicator's own bounds
                                        (geodata/indicators.yaml): no regional
                                        statistic in its unit reaches 10^12 (bn
                                        KZT: the whole country is ~10^5), and
                                        sums over years of months stay exact
max_far            0..20                floor-area ratio; the densest city
                                        blocks reach about 15
max_floors         0..200               the tallest buildings have about 160
min_green_share    0..1                 a share
=================  ===================  ==========================================

:data:`MAX_EDITS` caps the edits of one scenario: each is replayed whenever the scenario is
opened, so the cap bounds the work one stored row can ask of every later request.

Examples
--------
>>> number(12, "jobs", "add_project 'x'")
12
>>> number(10**400, "investment_kzt", "add_project 'x'")
Traceback (most recent call last):
...
twin.errors.InvalidArgument: add_project 'x': investment_kzt is a number of \
about 401 digits; it must lie in 0..1e+15 KZT
>>> identifier("abc\\n", "scenario id")
Traceback (most recent call last):
...
twin.errors.InvalidArgument: scenario id 'abc\\n' is not usable: use 1-64 ASCII letters, \
digits or '_', '-', starting with a letter or digit
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .errors import InvalidArgument

__all__ = ["Range", "RANGES", "ID_MAX_LENGTH", "TEXT_MAX_LENGTH", "MAX_EDITS", "number",
           "identifier", "text"]

#: Longest id a user may create (scenarios, projects); it appears in URLs and file keys.
ID_MAX_LENGTH = 64
#: Longest free text (a name, a sector, a source, a note, an id the twin already holds).
TEXT_MAX_LENGTH = 200
#: Most edits one scenario may hold.
MAX_EDITS = 500


@dataclass(frozen=True)
class Range:
    """The accepted values of one numeric field: ``lo..hi`` in ``unit``; ``integer`` asks
    for a whole number; ``min_positive`` (when set) is the smallest accepted value above 0."""

    lo: float
    hi: float
    unit: str = ""
    integer: bool = False
    min_positive: float | None = None

    def __str__(self) -> str:
        span = f"{self.lo:g}..{self.hi:g}" + (f" {self.unit}" if self.unit else "")
        if self.min_positive is not None:
            span = f"0 or {self.min_positive:g}..{self.hi:g}"
        return span


#: The one table of numeric ranges (the module docstring says why each is where it is).
RANGES: dict[str, Range] = {
    "lon": Range(-180.0, 180.0, "degrees"),
    "lat": Range(-90.0, 90.0, "degrees"),
    "investment_kzt": Range(0, 10**15, "KZT", integer=True),
    "jobs": Range(0, 10**6, "jobs", integer=True),
    "area_ha": Range(0.0, 1e5, "ha"),
    "score_weight": Range(0.0, 1000.0, min_positive=1e-3),
    "observation_value": Range(-1e12, 1e12, "in the indicator's unit"),
    "max_far": Range(0.0, 20.0),
    "max_floors": Range(0, 200, "floors", integer=True),
    "min_green_share": Range(0.0, 1.0),
}


def number(value: Any, field: str, what: str, *,
           error: type[Exception] = InvalidArgument) -> Any:
    """``value`` as a number within ``RANGES[field]``: an ``int`` for integer fields, else
    a ``float``. Raises ``error`` naming ``what``, the field and its range."""
    r = RANGES[field]
    where = f"{what}: {field}"
    if isinstance(value, (bool, np.bool_)):
        raise error(f"{where} is {value!r}: give a number, not true/false")
    if isinstance(value, str):
        try:
            value = float(value.strip())  # "12.5" from a CSV; "NaN" is caught below
        except ValueError:
            raise error(f"{where} is {value[:40]!r}: give a number") from None
    if isinstance(value, (int, np.integer)):
        v = int(value)
        if v < 0 <= r.lo:
            raise error(f"{where} is {v:,}; it cannot be negative (it must lie in {r})"
                        if v > -10**18 else f"{where} is a huge negative number; it cannot "
                        f"be negative (it must lie in {r})")
        if not r.lo <= v <= r.hi:
            # the digits from the bit length: str() of a huge int is slow, or refused
            size = (f"a number of about {int(abs(v).bit_length() * math.log10(2)) + 1} "
                    "digits" if abs(v) >= 10**18 else f"{v:,}")
            raise error(f"{where} is {size}; it must lie in {r}")
        number_: float | int = v
    elif isinstance(value, (float, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            raise error(f"{where} is {f}: give a finite number in {r}")
        if f < 0 <= r.lo:
            raise error(f"{where} is {f:g}; it cannot be negative (it must lie in {r})")
        if not r.lo <= f <= r.hi:
            raise error(f"{where} is {f:g}; it must lie in {r}")
        if r.integer and f != math.floor(f):
            raise error(f"{where} is {f:g}: give a whole number")
        number_ = int(f) if r.integer else f
    else:
        raise error(f"{where} must be a number, got {type(value).__name__}")
    if r.min_positive is not None and 0 < number_ < r.min_positive:
        raise error(f"{where} is {number_:g}: give 0 or at least {r.min_positive:g} "
                    f"(it must lie in {r})")
    return int(number_) if r.integer else float(number_)


@lru_cache(maxsize=8)
def _id_pattern(separators: str) -> re.Pattern:
    return re.compile(f"[A-Za-z0-9][A-Za-z0-9{re.escape(separators)}]{{0,{ID_MAX_LENGTH - 1}}}")


def identifier(value: Any, what: str, *, separators: str = "_-",
               error: type[Exception] = InvalidArgument) -> str:
    """``value`` if it is a usable new id (see the module docstring), else raise ``error``."""
    if not isinstance(value, str) or _id_pattern(separators).fullmatch(value) is None:
        shown = repr(value) if isinstance(value, str) and len(value) <= 80 else (
            repr(value[:80]) + "..." if isinstance(value, str) else type(value).__name__)
        seps = ", ".join(repr(c) for c in separators)
        raise error(f"{what} {shown} is not usable: use 1-{ID_MAX_LENGTH} ASCII "
                    f"letters, digits or {seps}, starting with a letter or digit")
    return value


def _bad_char(s: str) -> str | None:
    for c in s:
        if unicodedata.category(c) in ("Cc", "Cs"):
            return c
    return None


def text(value: Any, what: str, *, max_length: int = TEXT_MAX_LENGTH, required: bool = False,
         error: type[Exception] = InvalidArgument) -> str:
    """``value`` if it is a string of at most ``max_length`` characters with no control
    character or lone surrogate (and not blank, when ``required``), else raise ``error``."""
    if not isinstance(value, str):
        raise error(f"{what} must be text, got {type(value).__name__}")
    if len(value) > max_length:
        raise error(f"{what} is {len(value):,} characters long: at most "
                    f"{max_length} are accepted")
    bad = _bad_char(value)
    if bad is not None:
        raise error(f"{what} {value[:60]!r} holds the control character "
                    f"U+{ord(bad):04X}: remove it (names and ids are one line of text)")
    if required and not value.strip():
        raise error(f"{what} is blank: give a value")
    return value
