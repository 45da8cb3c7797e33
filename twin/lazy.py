"""A twin's layers by name, each read from its file when first asked for.

Opening a twin of 1,000,000 parcels used to read and validate every layer before anything
could answer; a server's health check and layer list need none of that. :class:`LayerFrames`
is the mapping a :class:`twin.Twin` keeps its layers in: a layer is either a frame or a
loader that makes one, run once, on first access, under a lock of its own (server threads
asking for the same layer wait for one read; other layers are not held up).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, MutableMapping

import geopandas as gpd

__all__ = ["LayerFrames"]


class _Deferred:
    __slots__ = ("load", "lock")

    def __init__(self, load: Callable[[], gpd.GeoDataFrame]) -> None:
        self.load = load
        self.lock = threading.Lock()


class LayerFrames(MutableMapping):
    """Layer name → GeoDataFrame, in insertion order; :meth:`defer` adds one not yet read.

    Examples
    --------
    >>> frames = LayerFrames()
    >>> frames.defer("towns", lambda: gpd.GeoDataFrame({"id": [1]}, geometry=[None]))
    >>> "towns" in frames, frames.loaded("towns")
    (True, False)
    >>> len(frames["towns"]), frames.loaded("towns")
    (1, True)
    """

    def __init__(self) -> None:
        self._entries: dict[str, gpd.GeoDataFrame | _Deferred] = {}

    def defer(self, name: str, load: Callable[[], gpd.GeoDataFrame]) -> None:
        """Add layer ``name``, to be made by ``load()`` when first asked for."""
        self._entries[name] = _Deferred(load)

    def loaded(self, name: str) -> bool:
        """Whether layer ``name`` is in memory (False for a layer not read yet)."""
        return not isinstance(self._entries.get(name), _Deferred)

    def __getitem__(self, name: str) -> gpd.GeoDataFrame:
        entry = self._entries[name]
        if isinstance(entry, _Deferred):
            with entry.lock:
                current = self._entries.get(name)
                if current is entry:  # not read by another thread meanwhile, nor replaced
                    current = entry.load()
                    self._entries[name] = current
                elif current is None:
                    raise KeyError(name)
                entry = current if not isinstance(current, _Deferred) else self[name]
        return entry

    def __setitem__(self, name: str, frame: gpd.GeoDataFrame) -> None:
        self._entries[name] = frame

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __contains__(self, name: object) -> bool:
        # Mapping's default would read the layer to answer.
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
