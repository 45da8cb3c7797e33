"""Property: no JSON body a write-token holder sends takes the API down (issue 11).

Over every write route (``POST /scenarios``, ``PATCH`` and ``DELETE /scenarios/{id}``,
``POST /score/observations``), hypothesis sends bodies mixing valid values with hostile
ones: control characters and lone surrogates in text, huge integers (10^400) and tiny or
huge floats, NaN and Infinity spelled as text, deep nesting, unicode and wrong types.
Each answer must be below 500 (a 4xx as problem+json). After every accepted write, the app
is started afresh on the same file and every read route must answer 200, with no stored row
set aside (a SetAsideWarning fails the test: pytest makes warnings errors).

Bounded for CI: a fixed profile (derandomize, a modest ``max_examples`` per route) keeps the
whole module around a minute on two cores.
"""

from __future__ import annotations

import json
import shutil
import struct
import urllib.parse

import pytest
import shapely
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.settings import Settings
from tests.common import PROBLEM, lonlat, square_lonlat
from tests.test_api_score import scored_twin
from twin.plan.regulations import REGULATION_FIELDS, ZONE_TYPES
from twin.score.registry import load_registry

pytestmark = pytest.mark.slow

AUTH = {"Authorization": "Bearer s3cret", "content-type": "application/json"}
PROFILE = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))
REGISTRY = load_registry()

# -- hostile values ---------------------------------------------------------------------------
CONTROL = "".join(map(chr, [0, 7, 9, 10, 13, 27, 127, 0x85, 0x2028, 0xD800, 0xDFFF]))
hostile_text = st.one_of(
    st.text(alphabet=st.characters(codec=None), max_size=40),
    st.text(alphabet=CONTROL + "aé中🙂-_.:", max_size=12),
    st.sampled_from(["", " ", "\n", "abc\n", "a" * 65, "x" * 300, "NaN", "Infinity", "1e400",
                     "-0", "null", "../etc", "%0A", "\u202e", "ok"]),
)
hostile_number = st.one_of(
    st.integers(), st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([10**400, -(10**400), 2**63, 2**64, 10**15 + 1, 10**6 + 1, -1, 0, 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e300, -1e300, 5e-324, 1e-300, 1.7976931348623157e308, -0.0, 0.5]),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "12", " 3 "]),
)
json_leaf = st.one_of(st.none(), st.booleans(), hostile_number, hostile_text)
nested = st.recursive(json_leaf, lambda c: st.lists(c, max_size=3)
                      | st.dictionaries(hostile_text, c, max_size=3), max_leaves=12)
anything = st.one_of(json_leaf, nested)


def pick(valid, hostile=anything, h: bool = True):
    """In a hostile body, a valid value or (about one time in three) a hostile one; in a
    valid body, the valid one. Valid bodies get accepted, so the restart checks run."""
    return st.integers(0, 2).flatmap(lambda i: valid if i or not h else hostile)


plain_text = st.text(alphabet=st.characters(categories=["L", "N", "Zs", "P"]), max_size=20)

# -- edits ------------------------------------------------------------------------------------
# a polygon whose WKB holds NaN and infinite coordinates (shapely would not build one)
_NAN_RING = (struct.pack("<BIII", 1, 3, 1, 4)
             + struct.pack("<8d", 0, 0, float("nan"), 1, float("inf"), 1, 0, 0)).hex()
xy = st.tuples(st.integers(200, 19_800), st.integers(200, 9_800))
lon_lat = xy.map(lambda p: lonlat(*p))
ids = st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True)
square = st.tuples(st.integers(0, 19_000), st.integers(0, 9_000), st.integers(50, 3_000)).map(
    lambda t: shapely.to_wkb(square_lonlat(*t), hex=True))
bad_area = st.one_of(
    st.just(shapely.to_wkb(shapely.Polygon([(69.8, 51.9), (69.9, 52.0), (69.9, 51.9),
                                            (69.8, 52.0)]), hex=True)),  # a bowtie
    st.just(_NAN_RING), st.text(alphabet="0123456789abcdefABCDEF", max_size=60), anything)


@st.composite
def add_project(draw, h=True):
    lon, lat = draw(lon_lat)
    return {"kind": "add_project", "id": draw(pick(ids, h=h)),
            "lon": draw(pick(st.just(lon), hostile_number, h)),
            "lat": draw(pick(st.just(lat), hostile_number, h)),
            "sector": draw(pick(st.sampled_from(["metallurgy", "agro"]), h=h)),
            **draw(st.fixed_dictionaries({}, optional={
                "investment_kzt": pick(st.integers(0, 10**12), hostile_number, h),
                "jobs": pick(st.integers(0, 5000), hostile_number, h),
                "area_ha": pick(st.floats(0, 500), hostile_number, h),
                "hazard_class": pick(st.sampled_from(["", "I", "II", "V"]), h=h),
                "name": pick(plain_text, hostile_text, h)}))}


@st.composite
def move_or_remove(draw, h=True):
    pid = draw(pick(st.sampled_from(["p1", "p2"]), h=h))
    if draw(st.booleans()):
        return {"kind": "remove_project", "project_id": pid}
    lon, lat = draw(lon_lat)
    return {"kind": "move_project", "project_id": pid,
            "lon": draw(pick(st.just(lon), hostile_number, h)),
            "lat": draw(pick(st.just(lat), hostile_number, h))}


@st.composite
def rezone(draw, h=True):
    edit = {"kind": "rezone", "zone_type": draw(pick(st.sampled_from(ZONE_TYPES), h=h))}
    if draw(st.booleans()):
        edit["geometry_wkb"] = draw(pick(square, bad_area, h))
    else:
        edit["parcel_ids"] = draw(pick(st.lists(st.sampled_from([1, 2, 3, 4]), min_size=1,
                                                max_size=3), st.lists(anything, max_size=3), h))
    if draw(st.booleans()):
        edit["note"] = draw(pick(plain_text, hostile_text, h))
    return edit


values = {"max_far": st.floats(0, 20), "max_floors": st.integers(0, 200),
          "min_green_share": st.floats(0, 1),
          "label": st.text(alphabet="abcdef ", min_size=1, max_size=10).filter(str.strip),
          "permitted_sectors": st.lists(st.sampled_from(["metallurgy", "agro"])),
          "permitted_uses": st.lists(st.sampled_from(["residential", "industrial"]))}


@st.composite
def set_regulation(draw, h=True):
    field = draw(st.sampled_from(REGULATION_FIELDS))
    return {"kind": "set_regulation", "zone_type": draw(pick(st.sampled_from(ZONE_TYPES), h=h)),
            "field": draw(pick(st.just(field), h=h)),
            "value": draw(pick(values[field], anything, h))}


def set_weights(h=True):
    weights = st.dictionaries(pick(st.sampled_from(REGISTRY.ids), hostile_text, h),
                              pick(st.floats(0, 10), hostile_number, h), min_size=1,
                              max_size=3)
    return st.fixed_dictionaries({"kind": st.just("set_score_weights"),
                                  "weights": pick(weights, h=h)})


def edit(h=True):
    kinds = [add_project(h), move_or_remove(h), rezone(h), set_regulation(h), set_weights(h)]
    if h:
        kinds += [st.dictionaries(hostile_text, anything, max_size=3)
                  .map(lambda d: {**d, "kind": "add_project"}), anything]
    return st.one_of(kinds)


def edits(h=True):
    return pick(st.lists(edit(h), max_size=4), h=h)


# -- observations -----------------------------------------------------------------------------
# mostly months after the stored history (2025-08), so that writes are not all repeats
months = st.one_of(st.sampled_from(["2025-09", "2025-10", "2025-11", "2025-12", "2026-01"]),
                   st.tuples(st.integers(2022, 2026), st.integers(1, 12)).map(
                       lambda t: f"{t[0]}-{t[1]:02d}"))
bad_month = st.one_of(months.map(lambda m: m + "\n"), hostile_text, anything)


@st.composite
def observation(draw, h=True):
    ind = draw(st.sampled_from(REGISTRY.indicators))
    lo, hi = ind.lower_bound or 0.0, ind.upper_bound or 1000.0
    return {"unit_id": draw(pick(st.sampled_from(["west", "east"]), h=h)),
            "indicator": draw(pick(st.just(ind.id), h=h)),
            "month": draw(pick(months, bad_month, h)),
            "value": draw(pick(st.floats(lo, hi), hostile_number, h)),
            "unit": draw(pick(st.just(ind.unit), h=h)),
            **draw(st.fixed_dictionaries({}, optional={
                "source": pick(plain_text.filter(str.strip), hostile_text, h),
                "synthetic": pick(st.booleans(), h=h)}))}


def observations(h=True):
    batch = pick(st.lists(observation(h), min_size=1, max_size=3,
                          unique_by=lambda o: (o["unit_id"], o["indicator"], str(o["month"]))),
                 h=h)
    if not h:  # examples repeat months: without upsert, most valid batches would be 409s
        return st.fixed_dictionaries({"observations": batch, "upsert": st.just(True)})
    return st.fixed_dictionaries({"observations": batch}, optional={
        "upsert": pick(st.just(True), st.one_of(st.just(False), anything))})


def bodies(valid, hostile):
    """About a third valid bodies, a third with hostile values inside, a third any JSON."""
    return st.integers(0, 2).flatmap(lambda i: (valid, hostile, anything)[i])


# -- the harness ------------------------------------------------------------------------------
def _body(value) -> str:
    # ensure_ascii: a lone surrogate travels as its \\u escape, as a hostile client sends it
    return json.dumps(value, ensure_ascii=True)


def _client(path):
    app = create_app(Settings(api_tokens="s3cret", twin_path=path, gc_freeze=False))
    return TestClient(app, raise_server_exceptions=False)


def _check(r):
    assert r.status_code < 500, (r.request.method, r.request.url, r.text)
    if r.status_code >= 400:
        assert r.headers["content-type"] == PROBLEM, r.text


def _reads_after_restart(path, scenario_id=None, score=False):
    """A fresh app on the same file: every read route answers 200 (those of the score in
    full when ``score``: the forecast and the stream read nothing a scenario writes)."""
    with _client(path) as c:
        routes = ["/score", "/score/units/west/history", "/scenarios"]
        if score:
            routes.append("/score/forecast?unit=east&indicator=avg_wage&horizon=1")
        listed = c.get("/scenarios")
        assert listed.status_code == 200, listed.text
        ids = [s["id"] for s in listed.json()["scenarios"]]
        for sid in ids if scenario_id is None else [i for i in ids if i == scenario_id]:
            q = urllib.parse.quote(sid, safe="")
            routes += [f"/scenarios/{q}", f"/scenarios/{q}/evaluation",
                       f"/scenarios/{q}/tiles/project_sites/12/2841/1350.mvt",
                       f"/scenarios/{q}/tiles/zones/12/2841/1350.mvt"]
        for route in routes:
            r = c.get(route)
            assert r.status_code in (200, 204), (route, r.text)
        if score:
            with c.stream("GET", "/score/stream") as r:
                assert r.status_code == 200
                assert next(r.iter_bytes()).startswith(b"retry:")


@pytest.fixture(scope="module")
def base_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "scored.gpkg"
    scored_twin(path)
    with _client(path) as c:
        r = c.post("/scenarios", content=_body({"id": "base", "edits": []}), headers=AUTH)
        assert r.status_code == 201
    return path


@pytest.fixture
def path(base_file, tmp_path):
    p = tmp_path / "fuzz.gpkg"
    shutil.copyfile(base_file, p)
    return p


def test_post_scenarios(path):
    found, seen = [], []

    @PROFILE
    @given(bodies(*[st.fixed_dictionaries(
        {"id": pick(ids, h=h)}, optional={"name": pick(plain_text, hostile_text, h),
                                          "edits": edits(h)}) for h in (False, True)]))
    def run(body):
        if isinstance(body, dict) and isinstance(body.get("id"), str):
            body["id"] += f"-{len(seen)}"  # examples repeat ids: 412 would hide the rest
        seen.append(body)
        r = c.post("/scenarios", content=_body(body), headers=AUTH)
        _check(r)
        if r.status_code == 201:
            found.append(body)
            _reads_after_restart(path, r.json()["id"])

    with _client(path) as c:
        run()
    print(f"POST /scenarios: {len(found)} accepted of {PROFILE.max_examples}")
    assert found, "no write was accepted: the strategies test nothing past validation"


def test_patch_scenarios(path):
    found = []

    @PROFILE
    @given(bodies(st.one_of(st.fixed_dictionaries({"append": edits(False)}),
                            st.fixed_dictionaries({"edits": edits(False)}),
                            st.fixed_dictionaries({"name": plain_text})),
                  st.fixed_dictionaries({}, optional={
                      "name": pick(plain_text, hostile_text), "append": edits(),
                      "edits": edits()})),
           pick(st.just(None), hostile_text))
    def run(body, if_match):
        version = c.get("/scenarios/base").headers["etag"]
        headers = {**AUTH, "If-Match": version if if_match is None else if_match}
        try:
            r = c.patch("/scenarios/base", content=_body(body), headers=headers)
        except UnicodeEncodeError:
            return  # a header httpx cannot send: no client can either
        _check(r)
        if r.status_code == 200:
            found.append(body)
            _reads_after_restart(path, "base")

    with _client(path) as c:
        run()
    print(f"PATCH /scenarios/base: {len(found)} accepted of {PROFILE.max_examples}")
    assert found


def test_delete_scenarios(path):
    @PROFILE
    @given(pick(st.just("base"), hostile_text), st.one_of(st.none(), hostile_text))
    def run(sid, if_match):
        q = urllib.parse.quote(sid.encode("utf-8", "surrogatepass"), safe="") or "%20"
        headers = {**AUTH, **({"If-Match": if_match} if if_match is not None else {})}
        try:
            r = c.delete(f"/scenarios/{q}", headers=headers)
        except UnicodeEncodeError:
            return  # a header httpx cannot send: no client can either
        _check(r)
        if r.status_code == 204:
            _reads_after_restart(path)
            c.post("/scenarios", content=_body({"id": "base"}), headers=AUTH)

    with _client(path) as c:
        run()


def test_post_observations(path):
    found = []

    @PROFILE
    @given(bodies(observations(False), observations(True)))
    def run(body):
        r = c.post("/score/observations", content=_body(body), headers=AUTH)
        _check(r)
        if r.status_code == 200:
            found.append(body)
            _reads_after_restart(path, "base", score=True)

    with _client(path) as c:
        run()
    print(f"POST /score/observations: {len(found)} accepted of {PROFILE.max_examples}")
    assert found


@pytest.mark.parametrize("route, method", [("/scenarios", "POST"),
                                           ("/scenarios/base", "PATCH"),
                                           ("/score/observations", "POST")])
@pytest.mark.parametrize("body", ["[" * 100_000, '{"a":' * 50_000, "{" + '"x":1,' * 10 + "}",
                                  '{"id": "a", "edits": ' + "[" * 3000 + "]" * 3000 + "}",
                                  '{"id": "\\ud800"}', "\xff\xfe", ""])
def test_deep_and_broken_bodies(path, route, method, body):
    with _client(path) as c:
        r = c.request(method, route, content=body.encode("utf-8", "surrogatepass"),
                      headers={**AUTH, "If-Match": '"1"'})
    _check(r)
    assert r.status_code >= 400
