"""CQL2 filters on /collections/{id}/items (OGC API Features Part 3), the in-memory store:
every adapted example of the standard in text and JSON against an independent
geopandas/shapely selection; refused classes and hostile filters answer 400, never 5xx."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.common import assert_problem
from tests.cql2_examples import REFUSED, examples, gappy_sites, selected_ids
from twin import Twin


@pytest.fixture(scope="module")
def served(default_twin):
    """The default twin's layers, with gaps in project_sites (for IS NULL and unknowns)."""
    layers = {n: default_twin.layer(n) for n in default_twin.layer_names}
    layers["project_sites"] = gappy_sites(layers["project_sites"])
    tw = Twin(layers, name="cql2", version="test",
              schemas={n: default_twin.schema(n) for n in default_twin.layer_names})
    with TestClient(create_app(Settings(gc_freeze=False, max_filter_bytes=1 << 20,
                                        max_page_size=100_000),
                               twin=tw)) as c:
        yield c, tw


@pytest.fixture(scope="module")
def plain(default_twin):
    """The default twin with default settings (the 16 KiB filter limit)."""
    with TestClient(create_app(Settings(gc_freeze=False), twin=default_twin)) as c:
        yield c


def ids_of(client, collection, **params) -> list:
    r = client.get(f"/collections/{collection}/items", params={"limit": 100_000, **params})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["numberMatched"] == body["numberReturned"] == len(body["features"])
    return sorted(f["id"] for f in body["features"])


def test_every_standard_example_in_text_and_json(served, default_twin):
    client, tw = served
    wrong = []
    for ex in examples(default_twin):
        want = selected_ids(tw.layer(ex.collection), ex)
        text = ids_of(client, ex.collection, filter=ex.text)
        as_json = ids_of(client, ex.collection, filter=orjson.dumps(ex.json).decode(),
                         **{"filter-lang": "cql2-json"})
        for lang, got in (("cql2-text", text), ("cql2-json", as_json)):
            if got != want:
                wrong.append(f"{ex.std} ({lang}): {len(got)} rows, reference {len(want)}")
    assert not wrong, "\n".join(wrong)


def test_the_examples_select_proper_subsets(served, default_twin):
    # A test that cannot fail proves nothing: most examples must select some rows and
    # leave some out.
    client, tw = served
    sizes = [(len(selected_ids(tw.layer(e.collection), e)), len(tw.layer(e.collection)))
             for e in examples(default_twin)]
    proper = sum(0 < n < total for n, total in sizes)
    assert proper >= len(sizes) - 5, sizes


@pytest.mark.parametrize("std,collection,text,words", REFUSED, ids=[r[0] for r in REFUSED])
def test_examples_of_classes_not_offered_say_why(served, std, collection, text, words):
    client, _ = served
    r = client.get(f"/collections/{collection}/items", params={"filter": text})
    assert_problem(r, 400, words)


def test_planners_questions(served):
    """The issue's two questions, as a planner would type them."""
    client, tw = served
    sites = tw.layer("project_sites")
    three = ("kokshetau", "tselinograd", "burabay")
    got = ids_of(client, "project_sites", filter=(
        "investment_kzt > 10000000000 AND district_id IN ('kokshetau', 'tselinograd', "
        "'burabay') AND start_year > 2024"))
    want = sites[(sites.investment_kzt > 10e9) & sites.district_id.isin(three)
                 & (sites.start_year > 2024)]
    assert got == sorted(want["id"]) and len(got) > 0
    parcels = tw.layer("parcels")
    district = tw.layer("districts").geometry.iloc[5].simplify(0.01)
    got = ids_of(client, "parcels", filter=f"land_use = 'residential' AND "
                 f"S_WITHIN(geometry, {district.wkt})")
    want = parcels[(parcels.land_use == "residential") & parcels.within(district)]
    assert got == sorted(want["id"].tolist()) and len(got) > 0


def test_filter_paging_keeps_the_filter_in_links(served):
    client, tw = served
    r = client.get("/collections/parcels/items",
                   params={"filter": "land_use = 'industrial'", "limit": 50})
    body = r.json()
    nxt = next(link["href"] for link in body["links"] if link["rel"] == "next")
    assert "filter=land_use" in nxt
    seen = [f["id"] for f in body["features"]]
    while nxt:
        page = client.get(nxt).json()
        seen += [f["id"] for f in page["features"]]
        nxt = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    parcels = tw.layer("parcels")
    assert sorted(seen) == sorted(parcels.loc[parcels.land_use == "industrial", "id"])


def test_filter_combines_with_bbox_and_equality(served):
    client, tw = served
    parcels = tw.layer("parcels")
    minx, miny, maxx, maxy = parcels.total_bounds
    box = (minx, miny, (minx + maxx) / 2, (miny + maxy) / 2)
    got = ids_of(client, "parcels", bbox=",".join(map(str, box)), district_id="akkol",
                 filter="area_ha > 100")
    inside = parcels.cx[box[0]:box[2], box[1]:box[3]]
    want = inside[(inside.district_id == "akkol") & (inside.area_ha > 100)]
    assert got == sorted(want["id"].tolist())


def test_gdal_style_cql_text_is_read_as_cql2_text(served):
    client, tw = served
    r = client.get("/collections/settlements/items", params={
        "filter": "(name = 'Kokshetau') AND (population > 1000)", "filter-lang": "cql-text"})
    assert r.status_code == 200 and r.json()["numberMatched"] == 1


# -- hostile filters: always a 400 that names the problem, never a 5xx ---------------------
HOSTILE = [
    ("a huge number", "population > 1e400", "not finite"),
    ("a huge text literal", "name = '" + "x" * 20_000 + "'", "bytes"),
    ("deep parentheses", "(" * 5_000 + "name = 'x'" + ")" * 5_000, "deep"),
    ("a chain of NOTs", "NOT " * 3_000 + "name = 'x'", "NOT"),
    ("a chain of signs", "population > " + "-" * 3_000 + "1", "sign"),
    ("nested functions", "name = " + "CASEI(" * 1_500 + "'x'" + ")" * 1_500, "deep"),
    ("an unknown function", "Buffer(geometry, 10) = TRUE", "unknown function"),
    ("a SQL-looking property", "\"id; DROP TABLE settlements; --\" = 'x'", "unknown property"),
    ("a SQL-looking literal", "name = ''; DROP TABLE settlements; --", "not valid CQL2"),
    ("SQL in a LIKE", "name LIKE '%' OR 1=1 --'", "not valid CQL2"),
    ("a NUL character", "name = 'a\x00b'", "NUL"),
    ("a type mismatch", "population = 'many'", "one type"),
    ("a bad escape", "name LIKE 'abc\\'", "escape"),
    ("an invalid polygon", "S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))",
     "not a valid geometry"),
    ("swapped axes", "S_INTERSECTS(geometry, POINT(53.3 169.4))", "lon/lat range"),
    ("an unbalanced filter", "name = 'x' AND (", "not valid CQL2"),
    ("a property compared to nothing", "name =", "not valid CQL2"),
    ("a 60 KB filter", "name IN (" + ", ".join(["'Kokshetau'"] * 3_000) + ")", "bytes"),
]


@pytest.mark.parametrize("what,text,words", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_filters_answer_400(what, text, words, plain):
    # (A 100 KB filter is longer than httpx lets a URL be: tests/test_api_clients.py sends
    # one over a raw socket to a real server.)
    r = plain.get("/collections/settlements/items", params={"filter": text})
    assert_problem(r, 400, words)


HOSTILE_JSON = [
    ("deep JSON", '{"op":"not","args":[' * 600 + "true" + "]}" * 600, "deep"),
    ("an unknown op", '{"op":"drop_table","args":[]}', "unknown function"),
    ("a null literal", '{"op":"=","args":[{"property":"name"},null]}', "null"),
    ("a missing argument", '{"op":"=","args":[{"property":"name"}]}', "takes 2"),
    ("not JSON", "{op: =}", "not valid JSON"),
    ("a property that is not text", '{"op":"=","args":[{"property":5},"x"]}',
     "unknown property"),
    ("a malformed geometry", '{"op":"s_intersects","args":[{"property":"geometry"},'
     '{"type":"Polygon","coordinates":[[[0,0],[1,1]]]}]}', "malformed"),
    ("an array literal", '{"op":"=","args":[{"property":"name"},["a","b"]]}', "array"),
    ("a bare number", "5", "not a condition"),
]


@pytest.mark.parametrize("what,text,words", HOSTILE_JSON, ids=[h[0] for h in HOSTILE_JSON])
def test_hostile_json_filters_answer_400(what, text, words, plain):
    r = plain.get("/collections/settlements/items",
                  params={"filter": text, "filter-lang": "cql2-json"})
    assert_problem(r, 400, words)


@pytest.mark.parametrize("params,words", [
    ({"filter-lang": "cql2-text"}, "give filter too"),
    ({"filter": "name = 'x'", "filter-lang": "sql"}, "filter-lang"),
    ({"filter": "S_INTERSECTS(geometry, POINT(0 0))", "filter-crs": "EPSG:27700"},
     "not offered"),
])
def test_bad_filter_parameters_answer_400(served, params, words):
    client, _ = served
    assert_problem(client.get("/collections/settlements/items", params=params), 400, words)


def test_filter_crs_reads_literals_in_that_crs(served):
    from pyproj import Transformer

    client, tw = served
    to_utm = Transformer.from_crs(4326, 32642, always_xy=True)
    (x0, x1), (y0, y1) = to_utm.transform([69.0, 71.5], [51.0, 53.0])
    utm = ids_of(client, "settlements", filter=f"S_INTERSECTS(geometry, BBOX({x0}, {y0}, "
                 f"{x1}, {y1}))", **{"filter-crs": "http://www.opengis.net/def/crs/EPSG/0/32642"})
    s = tw.layer("settlements").to_crs(32642)
    import shapely

    want = s[s.intersects(shapely.box(x0, y0, x1, y1))]
    assert utm == sorted(want["id"].tolist()) and utm
    # EPSG:4326 literals are lat/lon, as the CRS defines its axes.
    latlon = ids_of(client, "settlements", filter="S_INTERSECTS(geometry, "
                    "BBOX(51, 69, 53, 71.5))", **{"filter-crs": "EPSG:4326"})
    lonlat = ids_of(client, "settlements", filter="S_INTERSECTS(geometry, "
                    "BBOX(69, 51, 71.5, 53))")
    assert latlon == lonlat and lonlat


def test_queryables_are_typed_and_name_the_geometry(served):
    client, tw = served
    r = client.get("/collections/project_sites/queryables")
    assert r.headers["content-type"] == "application/schema+json"
    doc = r.json()
    props = doc["properties"]
    assert props["investment_kzt"]["type"] == "integer"
    assert props["name"]["type"] == "string" and props["synthetic"]["type"] == "boolean"
    assert props["geometry"]["format"] == "geometry-point"
    assert doc["additionalProperties"] is False
    sites = tw.layer("project_sites")
    declared = tw.schema("project_sites").kinds  # required and optional columns alike
    assert set(props) - {"geometry"} == {c for c in declared if c in sites.columns}
    # Every listed queryable can be filtered on; anything else is refused.
    for name, spec in props.items():
        if name == "geometry":
            continue
        literal = {"string": "'x'", "integer": "1", "number": "1.5", "boolean": "TRUE"}
        r = client.get("/collections/project_sites/items",
                       params={"filter": f"{name} = {literal[spec['type']]}"})
        assert r.status_code == 200, (name, r.text)
    assert_problem(client.get("/collections/project_sites/items",
                              params={"filter": "synthetic_fields = 'x'"}), 400,
                   "unknown property", "investment_kzt")
