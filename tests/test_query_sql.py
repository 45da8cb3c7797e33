"""twin/query/sql.py against a real PostGIS: every adapted CQL2 example of the standard,
in text and JSON, selects in PostgreSQL the same ids as the independent geopandas
reference (and so as the in-memory evaluator, tests/test_api_filter.py)."""

from __future__ import annotations

import orjson
import pytest
import shapely

from tests.cql2_examples import examples, gappy_sites, selected_ids
from twin.query import parse_filter

pytestmark = pytest.mark.postgis

psycopg = pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]'")
from psycopg import sql  # noqa: E402

from twin.query.sql import where_clause  # noqa: E402

_PG_TYPE = {"str": "text", "int": "bigint", "float": "double precision", "bool": "boolean"}
LAYERS = ("context", "districts", "settlements", "rivers", "project_sites", "protected_areas",
          "parcels")


def queryable_kinds(tw, name):
    from layers.features import filter_queryables

    return filter_queryables(tw.layer(name), tw.schema(name))


def load_layer(conn, name: str, gdf, kinds: dict[str, str]) -> None:
    """The layer's queryable columns and geometry as table ``name`` (SRID 4326)."""
    cols = [c for c, k in kinds.items() if k != "geometry"]
    ddl = sql.SQL("CREATE TABLE {} ({}, geometry geometry(Geometry, 4326))").format(
        sql.Identifier(name),
        sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(_PG_TYPE[kinds[c]]))
                           for c in cols))
    conn.execute(ddl)
    wkb = shapely.to_wkb(shapely.set_srid(gdf.geometry.values, 4326), hex=True,
                         include_srid=True)
    copy = sql.SQL("COPY {} ({}, geometry) FROM STDIN").format(
        sql.Identifier(name), sql.SQL(", ").join(map(sql.Identifier, cols)))
    values = [gdf[c].astype(object).where(gdf[c].notna(), None).tolist() for c in cols]
    with conn.cursor().copy(copy) as cp:
        for row in zip(*values, wkb, strict=True):
            cp.write_row(row)
    conn.execute(sql.SQL("CREATE INDEX ON {} USING gist (geometry)").format(
        sql.Identifier(name)))


@pytest.fixture(scope="module")
def db(postgis, default_twin):
    frames = {n: default_twin.layer(n) for n in LAYERS}
    frames["project_sites"] = gappy_sites(frames["project_sites"])
    kinds = {n: queryable_kinds(default_twin, n) for n in LAYERS}
    with psycopg.connect(postgis, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA cql2_examples")
        conn.execute("SET search_path TO cql2_examples, public")
        for n in LAYERS:
            load_layer(conn, n, frames[n], kinds[n])
        conn.execute("ANALYZE")
        yield conn, frames, kinds


def ids_in_postgis(conn, table: str, flt) -> list:
    clause, params = where_clause(flt)
    query = sql.SQL("SELECT id FROM {} WHERE {}").format(sql.Identifier(table), clause)
    return sorted(r[0] for r in conn.execute(query, params))


def test_every_standard_example_selects_the_reference_rows_in_postgis(db, default_twin):
    conn, frames, kinds = db
    wrong = []
    for ex in examples(default_twin):
        want = selected_ids(frames[ex.collection], ex)
        for text, lang in ((ex.text, "cql2-text"),
                           (orjson.dumps(ex.json).decode(), "cql2-json")):
            flt = parse_filter(text, lang, kinds[ex.collection], max_bytes=1 << 20)
            got = ids_in_postgis(conn, ex.collection, flt)
            if got != want:
                wrong.append(f"{ex.std} ({lang}): {len(got)} rows, reference {len(want)}")
    assert not wrong, "\n".join(wrong)


def test_literals_travel_as_parameters_never_in_the_sql_text(db):
    conn, frames, kinds = db
    hostile = "name = 'x''); DROP TABLE settlements; --' OR name LIKE '%\\%'"
    flt = parse_filter(hostile, "cql2-text", kinds["settlements"])
    clause, params = where_clause(flt)
    text = clause.as_string(conn)
    assert "DROP" not in text and "x'" not in text
    assert params == ["x'); DROP TABLE settlements; --", "%\\%"]
    assert ids_in_postgis(conn, "settlements", flt) == []
    assert conn.execute("SELECT count(*) FROM settlements").fetchone()[0] == len(
        frames["settlements"])


def test_casei_folds_kazakh_letters_as_python_does(db):
    conn, frames, kinds = db
    names = frames["districts"]["name_kk"].tolist()
    for name in names:
        flt = parse_filter(f"CASEI(name_kk) = CASEI('{name.upper()}')", "cql2-text",
                           kinds["districts"])
        got = ids_in_postgis(conn, "districts", flt)
        assert len(got) == 1, name
