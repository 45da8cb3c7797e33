"""twin.manifest: a manifest is validated whole, and every mistake names the key and the
fix, before any file is read."""

from __future__ import annotations

import textwrap

import pytest

from twin import TwinError
from twin.manifest import LAYER_KEYS, TOP_KEYS, ManifestError, parse_manifest, read_manifest


@pytest.fixture
def folder(tmp_path):
    for f in ("region.geojson", "units.gpkg", "places.csv", "norms.yaml"):
        (tmp_path / f).touch()
    return tmp_path


def _doc(**over):
    doc = {"name": "my-region",
           "layers": {"region": {"file": "region.geojson"},
                      "districts": {"file": "units.gpkg", "within": "region"}}}
    doc.update(over)
    return doc


def test_a_manifest_reads_into_absolute_paths_in_build_order(folder):
    (folder / "m.yaml").write_text(textwrap.dedent("""
        name: my-region
        title: My region
        regulations: norms.yaml
        layers:
          settlements: {file: places.csv, lon: X, lat: Y, where: {kind: [town, city]}}
          districts: {file: units.gpkg, layer: adm2, id: CODE, columns: {name: NAME}}
          region: region.geojson
    """))
    m = read_manifest(folder / "m.yaml")
    assert [s.name for s in m.layers] == ["region", "districts", "settlements"]
    assert m.layer("region").file == folder / "region.geojson"
    assert m.layer("districts").layer == "adm2" and m.layer("districts").id == "CODE"
    assert m.layer("settlements").where == {"kind": ["town", "city"]}
    assert m.regulations == folder / "norms.yaml" and m.indicators is None
    assert m.path == folder / "m.yaml" and m.title == "My region"


@pytest.mark.parametrize("edit, words", [
    (lambda d: d.pop("name"), ["name must be a text", "name: my-region"]),
    (lambda d: d.update(name="My Region"), ["not a slug", "akmola-osm"]),
    (lambda d: d.update(colour="red"), ["unknown key(s) 'colour'", "the keys are name"]),
    (lambda d: d["layers"].pop("districts"), ["lacks districts", "units it scores"]),
    (lambda d: d["layers"]["region"].update(flie="x"), ["layers.region: unknown key(s) "
                                                        "'flie'", "file (the file"]),
    (lambda d: d["layers"]["region"].update(file="nowhere.geojson"),
     ["layers.region.file: no file", "nowhere.geojson", "manifest's folder"]),
    (lambda d: d["layers"]["districts"].update(within="parcels"),
     ["layers.districts.within: 'parcels' is not a layer built before", "region"]),
    (lambda d: d["layers"]["districts"].update(where={"k": []}), ["non-empty list"]),
    (lambda d: d["layers"]["districts"].update(columns={"name": 3}),
     ["columns.name: the source column must be a name"]),
    (lambda d: d["layers"]["districts"].update(set={"tags": [1, 2]}),
     ["set.tags: a constant must be a single value"]),
    (lambda d: d["layers"]["districts"].update(columns={"name": "N"}, set={"name": "x"}),
     ["name both mapped (columns) and set"]),
    (lambda d: d["layers"]["districts"].update(repair="yes"), ["repair must be true or false"]),
    (lambda d: d.update(analysis_crs="EPSG:4326"), ["is not projected", "leave it out"]),
    (lambda d: d.update(analysis_crs="no such crs"), ["is not a CRS"]),
    (lambda d: d.update(indicators="mine.yaml"), ["indicators: no file", "mine.yaml"]),
    (lambda d: d["layers"].update({"bad name": {"file": "x"}}), ["is not usable"]),
    (lambda d: d["layers"].update({1: {"file": "x"}}), ["layer name 1 is not usable"]),
    (lambda d: d["layers"]["districts"].update(crs="EPSG:99999"),
     ["layers.districts.crs 'EPSG:99999' is not a CRS", "EPSG code"]),
])
def test_every_mistake_names_the_key_and_the_fix(folder, edit, words):
    doc = _doc()
    edit(doc)
    with pytest.raises(ManifestError) as e:
        parse_manifest(doc, base=folder, origin="m.yaml")
    for w in words:
        assert w in str(e.value), str(e.value)
    assert isinstance(e.value, TwinError) and isinstance(e.value, ValueError)


def test_bad_yaml_and_missing_files_are_manifest_errors(tmp_path):
    with pytest.raises(ManifestError, match="cannot read the manifest"):
        read_manifest(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ManifestError, match="not valid YAML"):
        read_manifest(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ManifestError, match="expected a mapping"):
        read_manifest(tmp_path / "list.yaml")


def test_the_documented_keys_are_the_ones_accepted():
    # The README documents the manifest; these tables are what it documents.
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Your region, your data", 1)[1].split("\n## ", 1)[0]
    for key in list(TOP_KEYS) + [k for k in LAYER_KEYS if k != "generated"]:
        assert f"`{key}`" in section or f"{key}:" in section, key
