"""The plan's parcel work, done once per data version and saved beside the twin.

What the plan needs of each parcel is small: its representative point, hectares and
district (capacity, the land-use diff, rezones), and, for the residential ones, their
geometry (housing inside sanitary protection zones). Reading and validating 1,000,000
parcels to find that out takes seconds and a GB of memory; the answer depends only on the
parcels' data version. So it is kept as a :class:`ParcelDigest` of plain arrays, saved
once per data version and memory-mapped after that, with two results built on it:

- the zone type of every parcel under a zones layer, keyed on the parcels' data version
  and the zones' content (:func:`zones_token`);
- the compliance findings of the twin's project sites, keyed on everything the check reads:
  the data versions of the sites, parcels, settlements, protected areas and water, the
  version's zones and regulations, and the analysis CRS.

Each key also holds :func:`code_token` (the source of the plan's modules and the GEOS
version), so a toolkit that computes differently never reads an older toolkit's answer.

Results live in ``<twin file>.plan/`` (a PostGIS twin: beside the store's local cache of
its files), one directory per result, named by its key: raw array files plus
``result.json`` written last, into a temporary directory moved into place with one
``rename``. A crash mid-write leaves no result (the next run computes it again) and never
half of one; anything unreadable, or whose recorded key is not the one asked for, counts
as absent. A twin that is not stored, or a folder that cannot be written, keeps its
results in memory only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..schema import WATER_LAYERS
from ..store import array_dir
from .findings import FINDING_COLUMNS

__all__ = ["ParcelDigest", "parcel_digest", "zone_codes", "saved_findings", "save_findings",
           "results_dir", "zones_token", "code_token", "FORMAT"]

log = logging.getLogger("twin.plan")

#: Bumped when what is saved, or how, changes.
FORMAT = 1
#: The parcel columns the plan reads (besides the geometry).
PARCEL_COLUMNS = ("district_id", "area_ha", "land_use")
_CHUNK = 65_536
#: How many results of each kind a twin's folder keeps (the newest; others are removed).
_KEEP = {"parcels": 2, "zonecodes": 4, "findings": 32}
#: The layers the compliance findings read, besides the plan's zones and regulations.
FINDING_INPUTS = ("project_sites", "parcels", "settlements", "protected_areas", *WATER_LAYERS)

_code: str | None = None


def code_token() -> str:
    """A fingerprint of the code that computes the saved results: the source of the plan's
    modules (and the CRS helpers), and the GEOS and shapely versions."""
    global _code
    if _code is None:
        here = Path(__file__).parent
        h = hashlib.sha256(f"{shapely.__version__}|{shapely.geos_version_string}".encode())
        for f in [*sorted(here.glob("*.py")), here.parent / "crs.py"]:
            h.update(f.name.encode())
            h.update(f.read_bytes())
        _code = h.hexdigest()[:16]
    return _code


def zones_token(zones: gpd.GeoDataFrame, columns=("zone_type",)) -> str:
    """A fingerprint of a zones frame's geometries (in order) and ``columns``: equal
    tokens mean the same point-in-zone answers."""
    h = hashlib.sha256(str(zones.crs.to_wkt() if zones.crs else None).encode())
    for wkb in shapely.to_wkb(np.asarray(zones.geometry.values)):
        h.update(wkb)
    for c in columns:
        h.update(c.encode())
        h.update(json.dumps(zones[c].astype(str).tolist()).encode())
    return h.hexdigest()[:24]


def results_dir(tw) -> Path | None:
    """Where ``tw``'s plan results are saved; None for a twin not stored."""
    st = tw.store
    if st is None:
        return None
    if st.path is not None:
        return Path(f"{st.path}.plan")
    return st.cache_dir().with_suffix(".plan")


# -- saving and opening one result ---------------------------------------------------------

def _save(root: Path | None, kind: str, key: str, arrays: dict[str, np.ndarray],
          meta: dict) -> None:
    if root is None:
        return
    final = root / f"{kind}-{key}"
    try:
        tmp = array_dir.temporary(root, final)
        try:
            shapes = {}
            for name, arr in arrays.items():
                arr = np.ascontiguousarray(arr)
                array_dir.write(tmp / f"{name}.bin", [arr.data])
                shapes[name] = [arr.dtype.str, list(arr.shape)]
            array_dir.write(tmp / "result.json", [json.dumps(
                {"kind": kind, "key": key, "arrays": shapes, **meta}).encode()])
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        array_dir.install(tmp, final, "result.json")
        for stale in root.glob(".*.tmp"):  # left by a crash an hour or more ago
            if stale.stat().st_mtime < time.time() - 3600:
                shutil.rmtree(stale, ignore_errors=True)
        others = sorted((p for p in root.glob(f"{kind}-*") if p.name != final.name),
                        key=lambda p: p.stat().st_mtime, reverse=True)
        for old in others[_KEEP[kind] - 1:]:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as e:  # a read-only folder, a full disk: the result stays in memory
        log.warning("plan result %s not saved (%s): it is computed again next time", final, e)


def _open(root: Path | None, kind: str, key: str) -> tuple[dict, dict] | None:
    if root is None:
        return None
    d = root / f"{kind}-{key}"
    try:
        meta = json.loads((d / "result.json").read_text(encoding="utf-8"))
        if meta.get("kind") != kind or meta.get("key") != key:
            raise ValueError(f"it records {meta.get('kind')}-{meta.get('key')}")
        arrays = {n: array_dir.mapped(d / f"{n}.bin", np.dtype(dt), tuple(shape))
                  for n, (dt, shape) in meta["arrays"].items()}
        return meta, arrays
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as e:
        log.warning("plan result %s is unreadable (%s): computing it again", d, e)
        with contextlib.suppress(OSError):
            shutil.rmtree(d)
        return None


def _key(*parts) -> str:
    blob = json.dumps([FORMAT, code_token(), *parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


# -- the parcel digest ---------------------------------------------------------------------

@dataclass
class ParcelDigest:
    """What the plan needs of every parcel, as arrays in the parcels' row order."""

    #: The representative point (``point_on_surface``) of each parcel, lon/lat.
    x: np.ndarray
    y: np.ndarray
    area_ha: np.ndarray
    #: Each parcel's district as a code into :attr:`districts` (-1: none given).
    district: np.ndarray
    districts: list
    #: Rows of the residential parcels, and their lon/lat geometries as WKB.
    residential: np.ndarray
    wkb: np.ndarray
    wkb_offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    @classmethod
    def build(cls, parcels: pd.DataFrame) -> ParcelDigest:
        """From the parcels' columns and their geometry as shapely objects or WKB."""
        geoms = np.asarray(parcels["geometry"].values, dtype=object)
        as_wkb = len(geoms) > 0 and isinstance(geoms[0], bytes)
        x, y = np.empty(len(geoms)), np.empty(len(geoms))
        for start in range(0, len(geoms), _CHUNK):  # never a million geometries at once
            part = geoms[start:start + _CHUNK]
            pts = shapely.point_on_surface(shapely.from_wkb(part) if as_wkb else part)
            x[start:start + len(pts)], y[start:start + len(pts)] = \
                shapely.get_x(pts), shapely.get_y(pts)
        cat = pd.Categorical(parcels["district_id"])
        res = np.flatnonzero(parcels["land_use"].astype(str).to_numpy() == "residential")
        blobs = geoms[res] if as_wkb else shapely.to_wkb(geoms[res])
        offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in blobs], out=offsets[1:])
        return cls(x, y, parcels["area_ha"].to_numpy(dtype=float), cat.codes.astype(np.int32),
                   cat.categories.tolist(), res.astype(np.int64),
                   np.frombuffer(b"".join(blobs), dtype=np.uint8), offsets)

    def points(self) -> np.ndarray:
        return shapely.points(self.x, self.y)

    def table(self) -> pd.DataFrame:
        """The parcels' ``district_id`` and ``area_ha``, in their row order (no geometry)."""
        return pd.DataFrame({
            "district_id": pd.Categorical.from_codes(self.district, categories=self.districts),
            "area_ha": self.area_ha})

    def residential_parcels(self) -> gpd.GeoDataFrame:
        """The residential parcels' geometries (lon/lat), for the compliance check."""
        data, offs = self.wkb, self.wkb_offsets
        blobs = np.empty(len(self.residential), dtype=object)
        blobs[:] = [data[offs[i]:offs[i + 1]].tobytes() for i in range(len(blobs))]
        return gpd.GeoDataFrame(
            {"land_use": pd.Categorical(["residential"] * len(blobs))},
            geometry=shapely.from_wkb(blobs), crs=4326)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in ("x", "y", "area_ha", "district", "residential",
                                              "wkb", "wkb_offsets")}


def parcel_digest(tw) -> ParcelDigest:
    """``tw``'s parcel digest: the saved one of the parcels' data version if there is one,
    else made from the parcels' geometry and the three columns it needs (and saved)."""
    root = results_dir(tw)
    version = tw.known_data_version("parcels")
    if version is not None:
        found = _open(root, "parcels", _key("parcels", version))
        if found is not None:
            meta, a = found
            return ParcelDigest(districts=meta["districts"], **a)
    frame = tw.layer_columns("parcels", PARCEL_COLUMNS, wkb=True)
    digest = ParcelDigest.build(frame)
    del frame
    # after the read: a layer found edited since the twin was opened has a new version
    version = tw.data_version("parcels")
    _save(root, "parcels", _key("parcels", version), digest._arrays(),
          {"districts": digest.districts, "parcels_version": version})
    return digest


def zone_codes(tw, digest: ParcelDigest, zones: gpd.GeoDataFrame, lookup) -> np.ndarray:
    """The zone-type code of each parcel under ``zones`` (lon/lat): saved per parcels data
    version and zones content; ``lookup()`` computes it when nothing is saved."""
    root = results_dir(tw)
    key = _key("zonecodes", tw.data_version("parcels"), zones_token(zones))
    found = _open(root, "zonecodes", key)
    if found is not None and len(found[1]["codes"]) == len(digest):
        return found[1]["codes"]
    codes = np.asarray(lookup(), dtype=np.int8)
    _save(root, "zonecodes", key, {"codes": codes}, {})
    return codes


# -- compliance findings -------------------------------------------------------------------

def findings_key(tw, zones_metric: gpd.GeoDataFrame, regulations, crs) -> str:
    """The key of the findings of ``tw``'s project sites under one plan version."""
    layers = {n: tw.data_version(n) if n in tw else None for n in FINDING_INPUTS}
    cols = [c for c in ("zone_type", "district_id", "synthetic") if c in zones_metric]
    return _key("findings", layers, zones_token(zones_metric, cols), regulations.to_dict(),
                crs.to_wkt())


def saved_findings(tw, key: str) -> pd.DataFrame | None:
    found = _open(results_dir(tw), "findings", key)
    if found is None:
        return None
    rows = found[0]["rows"]
    for r in rows:
        r["affected"] = tuple(r["affected"])
    return pd.DataFrame(rows, columns=FINDING_COLUMNS)


def save_findings(tw, key: str, findings: pd.DataFrame) -> None:
    rows = findings.to_dict("records")
    for r in rows:
        r["affected"] = list(r["affected"])
        for k, v in r.items():
            if isinstance(v, np.generic):
                r[k] = v.item()
    _save(results_dir(tw), "findings", key, {}, {"rows": rows})
