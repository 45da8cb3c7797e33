"""twin/query: checking CQL2 filters and evaluating them on GeoDataFrames (three-valued
logic, LIKE patterns, literals in other CRSs), and a fuzz run: whatever text arrives, the
answer is a Filter or a FilterError, never a crash."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely import Point

from twin.query import FilterError, filter_mask, parse_filter
from twin.query.frame import like_regex

Q = {"name": "str", "n": "int", "x": "float", "ok": "bool", "geometry": "geometry"}


@pytest.fixture(scope="module")
def frame():
    return gpd.GeoDataFrame(
        {"name": ["Akkol", "akkol", None, "Zhaksy", "A_b%c", "multi\nline"],
         "n": pd.array([1, None, 3, 4, 5, 6], dtype="Int64"),
         "x": [0.5, 1.5, np.nan, 3.5, 4.5, 5.5],
         "ok": pd.array([True, False, None, True, False, True], dtype="boolean")},
        geometry=[Point(69 + i, 52) for i in range(6)], crs=4326)


def select(frame, text, lang="cql2-text"):
    return frame.index[filter_mask(frame, parse_filter(text, lang, Q))].tolist()


@pytest.mark.parametrize("text,rows", [
    ("n = 1", [0]),
    ("NOT n = 1", [2, 3, 4, 5]),              # row 1 has no n: unknown, and so is its NOT
    ("n <> 1", [2, 3, 4, 5]),
    ("n = 1 OR x > 1", [0, 1, 3, 4, 5]),      # unknown OR true is true
    ("NOT (n = 1 OR x > 1)", []),             # row 2: NOT (unknown OR unknown) is unknown
    ("n IS NULL", [1]), ("NOT name IS NULL", [0, 1, 3, 4, 5]),
    ("ok", [0, 3, 5]), ("NOT ok", [1, 4]),    # a boolean queryable stands alone
    ("ok = FALSE", [1, 4]), ("TRUE", [0, 1, 2, 3, 4, 5]), ("FALSE", []),
    ("n BETWEEN 2 AND 4", [2, 3]), ("NOT n BETWEEN 2 AND 4", [0, 4, 5]),
    ("n IN (1, 4)", [0, 3]), ("NOT n IN (1, 4)", [2, 4, 5]),
    ("name > 'Z'", [1, 3, 5]),                # code-point order: lower case after upper
    ("x < n", [0, 3, 4, 5]),                  # property-property
])
def test_three_valued_logic(frame, text, rows):
    assert select(frame, text) == rows


@pytest.mark.parametrize("pattern,rows", [
    ("Ak%", [0]), ("%kol", [0, 1]), ("_kkol", [0, 1]), ("A\\_b\\%c", [4]), ("A_b%", [4]),
    ("multi%", [5]),                          # % runs over line breaks, as in SQL
    ("(", []), (".*", []),                    # regex characters mean themselves
])
def test_like_patterns(frame, pattern, rows):
    assert select(frame, f"name LIKE '{pattern}'") == rows


def test_casei_lowers_both_sides(frame):
    assert select(frame, "CASEI(name) = CASEI('AKKOL')") == [0, 1]
    assert select(frame, "CASEI(name) LIKE CASEI('AK%')") == [0, 1]


def test_like_regex_escapes():
    assert like_regex("a.b%") == "a\\.b.*"
    assert like_regex("100\\%") == "100%"


def test_spatial_on_a_frame_follows_shapely(frame):
    assert select(frame, "S_INTERSECTS(geometry, BBOX(69.5, 51, 71.5, 53))") == [1, 2]
    assert select(frame, "S_DISJOINT(geometry, BBOX(69.5, 51, 71.5, 53))") == [0, 3, 4, 5]
    assert select(frame, "S_EQUALS(geometry, POINT(70 52))") == [1]
    assert select(frame, "S_WITHIN(POINT(70 52), geometry)") == [1]
    assert select(frame, "S_CONTAINS(BBOX(69.5, 51, 71.5, 53), geometry)") == [1, 2]


def test_literals_in_another_crs_land_in_lon_lat(frame):
    from pyproj import CRS

    f = parse_filter("S_INTERSECTS(geometry, POINT(52 70))", "cql2-text", Q,
                     literal_crs=CRS.from_epsg(4326))  # lat, lon
    assert frame.index[filter_mask(frame, f)].tolist() == [1]


@pytest.mark.parametrize("text,words", [
    ("colour = 'red'", "unknown property"),
    ("name = 1", "one type"),
    ("geometry = 1", "one type"),
    ("ok < TRUE", "does not order booleans"),
    ("n LIKE 'a%'", "needs text"),
    ("name BETWEEN 'a' AND 'b'", "needs a number"),
    ("S_INTERSECTS(name, POINT(0 0))", "needs a geometry"),
    ("S_INTERSECTS(geometry, BBOX(3, 0, 1, 1))", "minimum above"),
    ("name", "not a boolean"),
])
def test_checking_names_the_problem(text, words):
    with pytest.raises(FilterError, match=words):
        parse_filter(text, "cql2-text", Q)


def test_a_filter_that_is_too_long_is_refused_before_parsing():
    with pytest.raises(FilterError, match="at most 100 are accepted"):
        parse_filter("name = '" + "x" * 200 + "'", "cql2-text", Q, max_bytes=100)


_TOKENS = ["name", "n", "x", "ok", "geometry", "colour", "=", "<>", "<", ">=", "AND", "OR",
           "NOT", "(", ")", "'a'", "'", "1", "-2.5", "1e400", "TRUE", "NULL", "LIKE", "IN",
           "BETWEEN", "IS", ",", "CASEI", "ACCENTI", "S_INTERSECTS", "POINT(1 2)",
           "BBOX(0,0,1,1)", "POLYGON((0 0,1 0,1 1,0 0))", "DATE('2020-01-01')", "\"id\"",
           "A_CONTAINS", "+", "-", "*", "%", "\\", ";", "--", "\x00", "é", "Қ"]


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from(_TOKENS), max_size=14))
def test_any_text_is_a_filter_or_a_filter_error(frame, tokens):
    text = " ".join(tokens)
    try:
        flt = parse_filter(text, "cql2-text", Q)
    except FilterError:
        return
    assert filter_mask(frame, flt).shape == (len(frame),)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
    | st.sampled_from([{"property": "n"}, {"property": "name"}, {"property": "geometry"},
                       {"bbox": [0, 0, 1, 1]}, {"type": "Point", "coordinates": [1, 2]}]),
    lambda kids: st.lists(kids, max_size=3) | st.fixed_dictionaries(
        {"op": st.sampled_from(["and", "or", "not", "=", "<", "like", "in", "between",
                                "isNull", "casei", "s_intersects", "foo", "t_after"]),
         "args": st.lists(kids, max_size=3)}),
    max_leaves=12)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(_JSON)
def test_any_json_is_a_filter_or_a_filter_error(frame, doc):
    import json

    try:
        flt = parse_filter(json.dumps(doc), "cql2-json", Q)
    except FilterError:
        return
    assert filter_mask(frame, flt).shape == (len(frame),)
