"""Place search for maps: typed suggestions (district, city, town, project) under every name
a row carries, tolerant of transliteration.

Every name a row carries (``name``, ``name_ru``, ``name_kk``, ``name_en``, any
``alt_names``, and the twin's one English spelling, :func:`layers.names.english_names`) is
reduced to its Latin key (:func:`layers.names.place_key`), and so is the query: "Baianauyl",
"Bayanauyl" and "Баянауыл" find the same places, whichever romanisation either side used.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field

from .names import core_key, english_names

__all__ = ["PlaceIndex", "Suggestion", "NAME_COLUMNS"]

#: Name columns read for every row, in the order a label would prefer them.
NAME_COLUMNS = ("name", "name_en", "name_ru", "name_kk")

_KIND_ORDER = {"city": 0, "district": 1, "town": 2, "project": 3}


@dataclass(frozen=True)
class Suggestion:
    """One search suggestion: what it is, its names, and where to fly."""

    kind: str  # "district", "city", "town" or "project"
    layer: str
    id: str
    names: dict[str, str]
    matched: str  # the name the query matched
    score: float
    lon: float
    lat: float
    bbox: tuple[float, float, float, float] | None = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "layer": self.layer, "id": self.id, "names": self.names,
                "matched": self.matched, "score": round(self.score, 3),
                "lon": self.lon, "lat": self.lat,
                "bbox": list(self.bbox) if self.bbox else None}


@dataclass
class _Entry:
    kind: str
    layer: str
    id: str
    names: dict[str, str]
    lon: float
    lat: float
    bbox: tuple[float, float, float, float] | None
    weight: float  # population or investment: the bigger place wins a tie
    keys: list[tuple[str, str]] = field(default_factory=list)  # (core key, original name)


def _names(row) -> dict[str, str]:
    out = {}
    for col in NAME_COLUMNS:
        v = row.get(col)
        if isinstance(v, str) and v.strip():
            out[col] = v.strip()
    alt = row.get("alt_names")
    if isinstance(alt, str) and alt.strip():
        out["alt_names"] = alt.strip()
    return out


def _num(v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return 0.0
    return f if math.isfinite(f) else 0.0


class PlaceIndex:
    """Search over a twin's districts, settlements and project sites.

    Build it once per data version of those layers (the API keeps one per version) and call
    :meth:`suggest` per keystroke.

    Examples
    --------
    >>> from twin.sample import make_small_twin
    >>> idx = PlaceIndex(make_small_twin())
    >>> [(s.kind, s.id) for s in idx.suggest("westtown")]
    [('town', 's1')]
    """

    LAYERS = ("districts", "settlements", "project_sites")

    def __init__(self, twin) -> None:
        self.entries: list[_Entry] = []
        for layer in self.LAYERS:
            if layer not in twin:
                continue
            g = twin[layer]
            pts = g.geometry.representative_point()
            bounds = g.geometry.bounds
            rows = g.drop(columns=g.geometry.name).assign(name_en=english_names(g))
            for i, row in enumerate(rows.to_dict("records")):
                if layer == "districts":
                    kind = "city" if row.get("kind") == "city" else "district"
                    weight = 0.0
                    bbox: tuple[float, ...] | None = tuple(float(x) for x in bounds.iloc[i])
                else:
                    kind = "town" if layer == "settlements" else "project"
                    weight = _num(row.get("population" if kind == "town" else "investment_kzt"))
                    bbox = None
                self._add(kind, layer, row, pts.iloc[i], bbox, weight)

    def _add(self, kind, layer, row, point, bbox, weight) -> None:
        names = _names(row)
        if not names or point is None or point.is_empty:
            return
        e = _Entry(kind, layer, str(row.get("id")), names, float(point.x), float(point.y),
                   bbox, weight)
        texts = [v for k, v in names.items() if k != "alt_names"]
        texts += [a.strip() for a in names.get("alt_names", "").split(",") if a.strip()]
        seen = set()
        for t in texts:
            k = core_key(t)
            if k and k not in seen:
                seen.add(k)
                e.keys.append((k, t))
        self.entries.append(e)

    @staticmethod
    def _match(q: str, key: str) -> float:
        if key == q:
            return 1.0
        if key.startswith(q):
            return 0.9
        if any(w.startswith(q) for w in key.split()):
            return 0.8
        if len(q) >= 3 and q in key:
            return 0.6
        if len(q) >= 4:
            # a typo or a romanisation the folds miss: close enough to the whole name or
            # to one of its words
            r = max(difflib.SequenceMatcher(None, q, w).ratio() for w in [key, *key.split()])
            if r >= 0.8:
                return 0.5 * r
        return 0.0

    def suggest(self, query: str, limit: int = 8,
                kinds: tuple[str, ...] | None = None) -> list[Suggestion]:
        """The best matches for ``query``, best first: exact names, then name prefixes,
        word prefixes and substrings, or near misses when nothing else matches. A tie goes
        to cities and districts before towns and projects, then to the larger place."""
        q = core_key(query)
        if not q:
            return []
        hits = []
        for e in self.entries:
            if kinds and e.kind not in kinds:
                continue
            best, name = 0.0, ""
            for k, t in e.keys:
                sc = self._match(q, k)
                if sc > best:
                    best, name = sc, t
            if best > 0:
                hits.append((-best, _KIND_ORDER.get(e.kind, 9), -e.weight, e.id, e, name))
        if any(-h[0] >= 0.6 for h in hits):  # near misses only when nothing else matches
            hits = [h for h in hits if -h[0] >= 0.6]
        hits.sort(key=lambda h: h[:4])
        return [Suggestion(e.kind, e.layer, e.id, e.names, name, -neg, e.lon, e.lat, e.bbox)
                for neg, _, _, _, e, name in hits[:limit]]
