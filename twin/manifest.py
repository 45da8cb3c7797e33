"""The manifest of a twin: which of a region's own files make which layer, and how.

A manifest is a YAML file, and a user interface: its keys are documented in the README
("Your region, your data") and kept stable. :func:`read_manifest` validates it whole before
any file is read, and a mistake gets an error naming the key and the fix
(:class:`ManifestError`). ``twin.assembly`` then builds the twin from it.

Examples
--------
>>> import textwrap, tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> for f in ("region.geojson", "districts.gpkg"):
...     (d / f).touch()
>>> _ = (d / "m.yaml").write_text(textwrap.dedent('''
...     name: my-region
...     layers:
...       region: {file: region.geojson}
...       districts: {file: districts.gpkg, layer: adm2, within: region,
...                   columns: {name: NAME_EN}}
... '''))
>>> m = read_manifest(d / "m.yaml")
>>> m.name, [spec.name for spec in m.layers], m.layer("districts").columns
('my-region', ['region', 'districts'], {'name': 'NAME_EN'})
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from .errors import TwinError

__all__ = ["Manifest", "LayerSpec", "ManifestError", "read_manifest", "parse_manifest",
           "TOP_KEYS", "LAYER_KEYS"]

#: Keys at the top of a manifest, and what each holds.
TOP_KEYS = {
    "name": "the twin's name, a slug (letters, digits, - and _)",
    "title": "what maps and reports call the twin",
    "analysis_crs": "the metric CRS (default: an equal-area CRS centred on the region)",
    "layers": "one entry per layer: region and districts are required",
    "indicators": "an indicator registry file (default: the built-in registry)",
    "regulations": "a plan regulations file (default: the built-in Kazakh norms)",
    "observations": "a CSV of observations: unit_id, indicator, month, value[, unit]"
                    "[, source][, synthetic]",
}
#: Keys of one layer entry.
LAYER_KEYS = {
    "file": "the file, relative to the manifest or absolute",
    "layer": "the layer inside a GeoPackage, or the Shapefile inside a zip",
    "where": "keep rows whose column equals the value, or is in a list",
    "within": "keep rows whose representative point lies in that (earlier) layer",
    "id": "the source column that identifies a row",
    "columns": "twin column: source column (only mapped columns come in)",
    "set": "twin column: a constant for every row",
    "lon": "a CSV's longitude column",
    "lat": "a CSV's latitude column",
    "crs": "the CRS of a CSV's coordinates, or of a file that declares none",
    "repair": "true to repair invalid geometries with make_valid (reported)",
    "generated": "instead of a file: the layer is made by the code that builds the twin "
                 "(the default twin's synthetic parts); the text is its provenance",
}
#: Layers every twin needs: the outline, and the units that are scored and planned.
REQUIRED_LAYERS = ("region", "districts")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class ManifestError(TwinError, ValueError):
    """A manifest that cannot be used as written; the message names the key and the fix."""


@dataclass(frozen=True)
class LayerSpec:
    """How one layer is made from one file."""

    name: str
    file: Path | None
    layer: str | None = None
    where: dict[str, Any] = field(default_factory=dict)
    within: str | None = None
    id: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    set: dict[str, Any] = field(default_factory=dict)
    lon: str | None = None
    lat: str | None = None
    crs: str | None = None
    repair: bool = False
    generated: str | None = None


@dataclass(frozen=True)
class Manifest:
    """A validated manifest. Paths are absolute."""

    name: str
    layers: tuple[LayerSpec, ...]
    title: str = ""
    analysis_crs: str | None = None
    indicators: Path | None = None
    regulations: Path | None = None
    observations: Path | None = None
    path: Path | None = None

    def layer(self, name: str) -> LayerSpec:
        for spec in self.layers:
            if spec.name == name:
                return spec
        raise KeyError(name)


def read_manifest(path: str | os.PathLike) -> Manifest:
    """Read and validate the manifest at ``path``; relative file names are taken from the
    manifest's folder."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ManifestError(f"cannot read the manifest {str(path)!r} ({e.strerror}): check "
                            "the path") from e
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ManifestError(f"{path.name}: not valid YAML ({e}): fix the syntax") from e
    m = parse_manifest(doc, base=path.resolve().parent, origin=path.name)
    return replace(m, path=path.resolve())


def _keys(d: dict, allowed: dict, where: str) -> None:
    unknown = [k for k in d if k not in allowed]
    if unknown:
        raise ManifestError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}: the keys are "
            + "; ".join(f"{k} ({v})" for k, v in allowed.items())
        )


def _mapping(v, where: str, fix: str) -> dict:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ManifestError(f"{where} must be a mapping, got {v!r}: {fix}")
    return v


def _text(v, where: str, fix: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise ManifestError(f"{where} must be a text, got {v!r}: {fix}")
    return v.strip()


def _file(v, base: Path, where: str) -> Path:
    p = Path(_text(v, where, "give a file name, relative to the manifest or absolute"))
    p = p if p.is_absolute() else base / p
    if not p.is_file():
        raise ManifestError(f"{where}: no file {str(p)!r}: check the name (relative names "
                            "are taken from the manifest's folder)")
    return p


def parse_manifest(doc: Any, *, base: str | os.PathLike = ".", origin: str = "manifest"
                   ) -> Manifest:
    """Validate a loaded manifest document (a dict); relative files are taken from ``base``."""
    base = Path(base)
    if not isinstance(doc, dict):
        raise ManifestError(f"{origin}: expected a mapping with name: and layers: at the top, "
                            f"got {type(doc).__name__}")
    _keys(doc, TOP_KEYS, origin)
    name = _text(doc.get("name"), f"{origin}: name", "e.g. name: my-region")
    if not _SLUG.match(name):
        raise ManifestError(f"{origin}: name {name!r} is not a slug: use lower-case letters, "
                            "digits, - and _, e.g. akmola-osm")
    layers_doc = _mapping(doc.get("layers"), f"{origin}: layers",
                          "one entry per layer, e.g. layers: {region: {file: ...}}")
    missing = [n for n in REQUIRED_LAYERS if n not in layers_doc]
    if missing:
        raise ManifestError(
            f"{origin}: layers lacks {', '.join(missing)}: every twin needs the region's "
            "outline (region) and the units it scores and plans (districts)")
    # region and districts first: the others are placed in them
    order = list(REQUIRED_LAYERS) + [n for n in layers_doc if n not in REQUIRED_LAYERS]
    specs: list[LayerSpec] = []
    for n in order:
        specs.append(_layer(n, layers_doc[n], base, f"{origin}: layers.{n}",
                            [s.name for s in specs]))
    crs = doc.get("analysis_crs")
    if crs is not None:
        from pyproj import CRS
        from pyproj.exceptions import CRSError as ProjError

        try:
            parsed = CRS.from_user_input(crs)
        except (ProjError, TypeError) as e:
            raise ManifestError(f"{origin}: analysis_crs {crs!r} is not a CRS ({e}): give an "
                                "EPSG code or a PROJ string, or leave it out") from None
        if not parsed.is_projected:
            raise ManifestError(f"{origin}: analysis_crs {crs!r} is not projected: areas and "
                                "distances need metres; leave it out for an equal-area CRS "
                                "centred on the region")
        crs = parsed.to_wkt()
    files = {k: _file(doc[k], base, f"{origin}: {k}") if doc.get(k) is not None else None
             for k in ("indicators", "regulations", "observations")}
    title = doc.get("title")
    return Manifest(
        name=name, layers=tuple(specs),
        title=_text(title, f"{origin}: title", "e.g. title: My region") if title else "",
        analysis_crs=crs, **files)


def _layer(name: str, d: Any, base: Path, where: str, before: list[str]) -> LayerSpec:
    if not isinstance(name, str) or not name.isidentifier():
        raise ManifestError(f"{where}: layer name {name!r} is not usable: use letters, digits "
                            "and underscores")
    if isinstance(d, str):
        d = {"file": d}
    d = _mapping(d, where, "give at least file: ...")
    _keys(d, LAYER_KEYS, where)
    if "generated" in d:
        if len(d) > 1:
            raise ManifestError(f"{where}: a generated layer has no other keys (it has "
                                f"{', '.join(k for k in d if k != 'generated')})")
        return LayerSpec(name=name, file=None, generated=_text(
            d["generated"], f"{where}.generated", "say what makes the layer"))
    if "file" not in d:
        raise ManifestError(f"{where}: no file: name the file this layer is read from")
    where_ = _mapping(d.get("where"), f"{where}.where",
                      "e.g. where: {place: [city, town, village]}")
    for col, v in where_.items():
        if isinstance(v, (dict, set)) or (isinstance(v, list) and not v):
            raise ManifestError(f"{where}.where.{col}: give a value or a non-empty list of "
                                f"values, got {v!r}")
    within = d.get("within")
    if within is not None:
        within = _text(within, f"{where}.within", "name an earlier layer, e.g. region")
        if within not in before:
            raise ManifestError(
                f"{where}.within: {within!r} is not a layer built before {name!r} "
                f"({', '.join(before) or 'none'}): name one of those (region and districts "
                "are built first, then the others in the manifest's order)")
    columns = _mapping(d.get("columns"), f"{where}.columns",
                       "map twin columns to source columns, e.g. {name: NAME_EN}")
    for k, v in columns.items():
        if not isinstance(v, str):
            raise ManifestError(f"{where}.columns.{k}: the source column must be a name, got "
                                f"{v!r}")
    consts = _mapping(d.get("set"), f"{where}.set",
                      "set constants, e.g. {source: 'my akimat (CC BY 4.0)'}")
    for k, v in consts.items():
        if isinstance(v, (dict, list)):
            raise ManifestError(f"{where}.set.{k}: a constant must be a single value, got "
                                f"{v!r}")
    both = sorted(set(columns) & set(consts))
    if both:
        raise ManifestError(f"{where}: {', '.join(both)} both mapped (columns) and set: keep "
                            "one")
    repair = d.get("repair", False)
    if not isinstance(repair, bool):
        raise ManifestError(f"{where}.repair must be true or false, got {repair!r}")
    opt = {}
    for k in ("layer", "id", "lon", "lat", "crs"):
        if d.get(k) is not None:
            opt[k] = _text(str(d[k]) if k == "crs" else d[k], f"{where}.{k}",
                           LAYER_KEYS[k])
    if "crs" in opt:
        from pyproj import CRS
        from pyproj.exceptions import CRSError as ProjError

        try:  # checked here, so a typo is named before any file is read
            CRS.from_user_input(opt["crs"])
        except (ProjError, TypeError) as e:
            raise ManifestError(f"{where}.crs {opt['crs']!r} is not a CRS ({e}): give an EPSG "
                                "code (e.g. EPSG:4326) or a PROJ string") from None
    return LayerSpec(name=name, file=_file(d["file"], base, f"{where}.file"), where=where_,
                     within=within, columns={str(k): v for k, v in columns.items()},
                     set={str(k): v for k, v in consts.items()}, repair=repair, **opt)
