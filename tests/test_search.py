"""layers/names.py and layers/search.py: one Latin key per place name whatever the script or
romanisation, one English spelling per twin, typed suggestions; and /map/search."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from layers.names import core_key, english_names, place_key, romanise
from layers.search import PlaceIndex
from tests.common import assert_problem


@pytest.mark.parametrize("spellings", [
    ("Бурабай", "Burabay", "Burabai", "Būrabay"),
    ("Қорғалжын", "Коргалжын", "Korgalzhyn", "Qorghalzhyn"),
    ("Ерейментау", "Yereymentau", "Ereymentau", "Ereimentau"),
    ("Щучинск", "Shchuchinsk", "Schuchinsk"),
    ("Қосшы", "Косшы", "Kosshy", "Qosshy"),
    ("Егіндікөл", "Егиндыколь", "Egindykol", "Egindiköl", "Egindikol"),
    ("Жақсы", "Жаксы", "Zhaksy", "Jaksy"),
])
def test_one_key_for_every_spelling(spellings):
    assert len({place_key(s) for s in spellings}) == 1, {s: place_key(s) for s in spellings}


def test_keys_keep_different_places_apart():
    names = ["Akkol", "Aksu", "Akmol", "Atbasar", "Astrakhanka", "Arshaly", "Esil", "Kokshetau"]
    assert len({place_key(n) for n in names}) == len(names)
    # What kind of place a name is does not make it another place.
    assert core_key("Burabay district") == core_key("Бурабай ауданы") == place_key("Burabay")


def test_romanise_and_one_english_spelling():
    assert romanise("Акколь") == "Akkol" and romanise("Ерейментау") == "Ereymentau"
    df = pd.DataFrame({"name": ["Būrabay", "Qorghalzhyn", "Akkol district", "Koshi", "Esil"],
                       "name_ru": ["Бурабай", "Коргалжын", "Аккольский район", "Коши", None]})
    assert english_names(df).tolist() == ["Burabay", "Korgalzhyn", "Akkol district", "Koshi",
                                          "Esil"]
    # A twin's own English names win.
    df["name_en"] = ["Burabay village", "", None, "", ""]
    assert english_names(df).tolist()[:2] == ["Burabay village", "Korgalzhyn"]


def test_default_twin_labels_follow_the_districts_romanisation(default_twin):
    # The settlements' GeoNames names mixed romanisations with the districts' own; the
    # English labels now spell each town as its district does.
    s = default_twin["settlements"]
    en = dict(zip(s["name"], english_names(s), strict=True))
    assert en["Būrabay"] == "Burabay" and en["Yereymentau"] == "Ereymentau"
    assert en["Qorghalzhyn"] == "Korgalzhyn" and en["Kokshetau"] == "Kokshetau"
    # Where a town and its district share a Russian name, their English names agree too
    # (Kosshy city and the town GeoNames calls Коши, its former name, do not share one).
    districts = set(default_twin["districts"]["name"].str.replace(" district", ""))
    shared = {d for d in districts for ru in s["name_ru"] if romanise(ru) == d}
    assert len(shared) >= 12
    assert shared <= set(english_names(s))


@pytest.fixture(scope="module")
def index(default_twin):
    return PlaceIndex(default_twin)


def _ids(hits):
    return [(h.kind, h.id) for h in hits]


def test_transliterated_queries_find_the_same_places(index):
    want = _ids(index.suggest("Burabay"))
    assert ("district", "burabay") in want and ("town", "1525126") in want
    for q in ("Burabai", "Бурабай", "бурабай", "BURABAY", "Būrabay"):
        assert _ids(index.suggest(q)) == want, q


def test_suggestions_are_typed_and_ordered(index):
    hits = index.suggest("Kokshetau")
    assert _ids(hits)[:2] == [("city", "kokshetau"), ("town", "1522203")]
    assert hits[0].bbox is not None and hits[1].bbox is None
    assert hits[0].score == 1.0
    alu = index.suggest("alumin")
    assert alu and alu[0].kind == "project" and alu[0].id == "named-aluminium"
    assert _ids(index.suggest("Kokshetau", kinds=("town",))) == [("town", "1522203")]
    assert len(index.suggest("a", limit=3)) == 3
    assert index.suggest("") == [] and index.suggest("   ") == []
    assert index.suggest("Atlantis") == []


def test_near_misses_only_when_nothing_matches(index):
    typo = index.suggest("Kokshetua")
    assert typo and typo[0].id == "kokshetau" and typo[0].score < 0.6
    # "Akkol" is a town and a district; "Aqmol" merely looks like it and is left out.
    assert "1521193" not in [h.id for h in index.suggest("Akkol")]


def test_search_endpoint(default_twin):
    with TestClient(create_app(Settings(), twin=default_twin)) as c:
        body = c.get("/map/search", params={"q": "Бурабай"}).json()
        assert body["query"] == "Бурабай"
        s = body["suggestions"]
        assert {(x["kind"], x["id"]) for x in s} >= {("district", "burabay"),
                                                    ("town", "1525126")}
        town = next(x for x in s if x["kind"] == "town")
        assert town["names"]["name_en"] == "Burabay" and town["names"]["name_ru"] == "Бурабай"
        assert isinstance(town["lon"], float) and town["bbox"] is None
        assert len(c.get("/map/search", params={"q": "a", "limit": 2}).json()["suggestions"]) == 2
        only = c.get("/map/search", params={"q": "Kokshetau", "kind": "city"}).json()
        assert [x["kind"] for x in only["suggestions"]] == ["city"]
        assert_problem(c.get("/map/search", params={"q": "x", "kind": "lake"}), 400, "kind",
                       "district")
        assert_problem(c.get("/map/search"), 400, "q")
        assert_problem(c.get("/map/search", params={"q": "x" * 101}), 400, "q")
        assert_problem(c.get("/map/search", params={"q": "x", "limit": 0}), 400, "limit")
