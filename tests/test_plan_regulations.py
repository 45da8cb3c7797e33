"""Regulations: the YAML file's content, its validation, and frozen edits."""

from __future__ import annotations

import copy

import pytest
import yaml

from twin.errors import TwinError
from twin.plan import (
    HAZARD_CLASSES,
    ZONE_TYPES,
    RegulationError,
    Regulations,
    UnknownZoneType,
    load_regulations,
)
from twin.plan.regulations import BUILTIN_REGULATIONS_PATH


@pytest.fixture(scope="module")
def doc():
    return yaml.safe_load(BUILTIN_REGULATIONS_PATH.read_text(encoding="utf-8"))


def test_the_file_covers_every_zone_type_and_cites_each_value(doc):
    regs = load_regulations()
    assert list(regs.zones) == list(ZONE_TYPES)
    for z in ZONE_TYPES:
        src = regs[z].source
        assert set(src) >= {"max_far", "max_floors", "min_green_share"}, z
        assert all(v in ("facts", "assumed") or v.startswith("facts") for v in src.values())


def test_buffer_distances_are_the_ones_in_facts_md():
    # facts.md, "Planning rules used in Kazakhstan": I 1,000, II 500, III 300, IV 100, V 50;
    # water protection zone typically 500 m, strip 35-100 m.
    regs = load_regulations()
    assert dict(regs.sanitary_m) == {"I": 1000, "II": 500, "III": 300, "IV": 100, "V": 50}
    assert regs.water_zone_m == 500
    assert 35 <= regs.water_strip_m <= 100


def test_sectors_of_the_default_twin_are_permitted_somewhere():
    import geodata

    cfg = geodata.load_config()
    sectors = set(cfg["projects"]["sectors"]) | {p["sector"] for p in cfg["projects"]["named"]}
    regs = Regulations.parse(geodata.plan_regulations())  # the default twin's own
    homeless = [s for s in sectors if not any(regs[z].permits(s) for z in ZONE_TYPES)]
    assert homeless == []


def test_the_default_twins_regulations_are_the_built_in_norms_but_for_its_sectors(doc):
    # Two files, one set of norms: the default twin's regulations differ from the built-in
    # ones only in naming the sectors of its own project list.
    import geodata

    mine, builtin = geodata.plan_regulations(), copy.deepcopy(doc)
    for z in ZONE_TYPES:
        for block in (mine["zones"][z], builtin["zones"][z]):
            block.pop("permitted_sectors")
    assert mine["zones"] == builtin["zones"]
    assert mine["buffers"] == builtin["buffers"]


def test_the_built_in_sectors_are_no_one_regions_report(doc):
    import geodata

    cfg = geodata.load_config()
    report_only = {"gold mining", "rare-earth metals processing", "agricultural machinery",
                   "energy (wind)"} & (set(cfg["projects"]["sectors"]))
    assert report_only  # the default twin's report does name them
    named = {s for z in doc["zones"].values() for s in z["permitted_sectors"]}
    assert not report_only & named


def _broken(doc, edit):
    d = copy.deepcopy(doc)
    edit(d)
    return d


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda d: d["zones"].pop("reserve"), r"no regulation for zone type\(s\) 'reserve'"),
        (
            lambda d: d["zones"].__setitem__("factory", d["zones"]["industrial"]),
            r"unknown zone type\(s\) 'factory'.*use the plan's zone types",
        ),
        (
            lambda d: d["zones"]["industrial"].__setitem__("max_far", -0.5),
            r"zones.industrial.max_far: -0.5 is out of range",
        ),
        (
            lambda d: d["zones"]["industrial"].__setitem__("max_far", "high"),
            r"zones.industrial.max_far: expected a number, got 'high'",
        ),
        (
            lambda d: d["zones"]["residential"].__setitem__("max_floors", 2.5),
            r"max_floors: expected a whole number",
        ),
        (
            lambda d: d["zones"]["residential"].__setitem__("min_green_share", 25),
            r"min_green_share: 25 is out of range: it must be between 0 and 1",
        ),
        (lambda d: d["zones"]["residential"].pop("max_far"), r"missing 'max_far'"),
        (
            lambda d: d["zones"]["residential"].__setitem__("colour", "red"),
            r"unknown field\(s\) 'colour'",
        ),
        (
            lambda d: d["zones"]["residential"].__setitem__("permitted_sectors", "housing"),
            r"permitted_sectors: expected a list of strings",
        ),
        (
            lambda d: d["buffers"]["sanitary_protection_m"].pop("V"),
            r"sanitary_protection_m must give a distance in metres for each hazard class",
        ),
        (
            lambda d: d["buffers"]["sanitary_protection_m"].__setitem__("V", 2000),
            r"must not grow from class I to V",
        ),
        (
            lambda d: d["buffers"].__setitem__("water_protection_strip_m", 600),
            r"strip \(600 m\) is wider than the water protection zone",
        ),
        (lambda d: d.__setitem__("format", 2), r"format 2 is not supported"),
    ],
)
def test_invalid_documents_are_refused_naming_key_and_fix(doc, edit, message):
    with pytest.raises(RegulationError, match=message) as e:
        Regulations.parse(_broken(doc, edit), origin="regs.yaml")
    assert str(e.value).startswith("regs.yaml")
    assert isinstance(e.value, TwinError) and isinstance(e.value, ValueError)


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(RegulationError, match="cannot read regulations file"):
        load_regulations(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("zones: [unclosed\n", encoding="utf-8")
    with pytest.raises(RegulationError, match="bad.yaml: not valid YAML"):
        load_regulations(bad)
    bad.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(RegulationError, match="expected a mapping"):
        load_regulations(bad)


def test_an_edited_file_is_read(tmp_path, doc):
    d = copy.deepcopy(doc)
    d["zones"]["industrial"]["max_far"] = 1.7
    p = tmp_path / "mine.yaml"
    p.write_text(yaml.safe_dump(d, allow_unicode=True), encoding="utf-8")
    assert load_regulations(p)["industrial"].max_far == 1.7


def test_round_trip_and_frozen_edits():
    regs = load_regulations()
    again = Regulations.parse(regs.to_dict())
    # everything but where it was read from survives the round trip
    assert again.to_dict() == regs.to_dict()
    assert dict(again.zones) == dict(regs.zones) and again.origin != regs.origin
    assert (dict(again.sanitary_m), again.water_zone_m, again.water_strip_m) == (
        dict(regs.sanitary_m), regs.water_zone_m, regs.water_strip_m)
    new = regs.set("industrial", "permitted_sectors", ["metallurgy"])
    assert new["industrial"].permitted_sectors == ("metallurgy",)
    assert regs["industrial"].permits("mining")  # the original is unchanged
    assert not new["industrial"].permits("gold mining")
    assert new["industrial"].source["permitted_sectors"] == "set by a plan change"
    with pytest.raises(UnknownZoneType, match="'downtown'"):
        regs.set("downtown", "max_far", 1.0)


def test_permits_is_case_and_space_insensitive_and_star_means_any():
    regs = load_regulations()
    assert regs["industrial"].permits(" Metallurgy ")
    star = regs.set("reserve", "permitted_sectors", ["*"])
    assert star["reserve"].permits("anything at all")
    assert not regs["reserve"].permits("agriculture")


def test_hazard_classes_are_ordered_most_hazardous_first():
    assert HAZARD_CLASSES == ("I", "II", "III", "IV", "V")
