"""Repeating a store transaction that collided with concurrent ones.

PostgreSQL ends one of two transactions that wait on each other (a deadlock) or that
cannot both be serialized, and says so; the store raises :class:`StoreBusy` for it. A
transaction that re-reads what it decides on (a compare-and-set write, an upsert, an
insert under a unique key) can simply run again: :func:`retrying` repeats it a few times
with a short random pause, and lets :class:`StoreBusy` through after the last attempt.

Examples
--------
>>> calls = []
>>> for attempt in retrying(3, pause_s=0):
...     with attempt:
...         calls.append(1)
...         if len(calls) < 2:
...             raise StoreBusy("collided")
>>> len(calls)
2
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

from ..errors import StoreBusy

__all__ = ["retrying"]


class _Attempt:
    def __init__(self, last: bool, pause_s: float) -> None:
        self.last, self.pause_s, self.done = last, pause_s, False

    def __enter__(self) -> _Attempt:
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if kind is not None and issubclass(kind, StoreBusy) and not self.last:
            # random: two writers that collided should not collide again in lockstep
            time.sleep(self.pause_s * (0.5 + random.random()))
            return True  # run the transaction again
        self.done = True
        return False


def retrying(attempts: int = 4, *, pause_s: float = 0.05) -> Iterator[_Attempt]:
    """Attempts of one transaction: ``for attempt in retrying(): with attempt,
    store.transaction() as tx: ...``. The body must be safe to run again (it re-reads
    what it decides on); anything but :class:`StoreBusy` ends the loop at once."""
    for i in range(attempts):
        attempt = _Attempt(i == attempts - 1, pause_s * 2**i)
        yield attempt
        if attempt.done:
            return
