"""twin/store/pg_edits.py: a PostGIS twin's layer records are trusted only while nothing
edited the layer since the toolkit wrote it, whatever program made the edit; and then its
data versions are the GeoPackage's for the same data."""

from __future__ import annotations

import pytest

from tests.common import make_small_twin
from twin import Twin
from twin.store import open_store

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def saved(postgis_url, tmp_path_factory):
    """The small twin saved to a GeoPackage, and pushed from it into a schema."""
    small = make_small_twin()
    path = small.save(tmp_path_factory.mktemp("edits") / "small.gpkg")
    return small, path


def _pushed(saved, postgis_url) -> str:
    _, path = saved
    url = postgis_url()
    Twin.open(path).save(url)  # what `twin push` does
    return url


def _sql(postgis, url: str, statement: str) -> None:
    """``statement`` in the twin's schema through a raw connection, as psql would run it."""
    import psycopg

    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(postgis, autocommit=True) as c:
        c.execute(f'SET search_path = "{schema}", public')
        c.execute(statement)


def test_a_pushed_twin_trusts_its_records_and_its_versions_are_the_files(saved, postgis_url):
    small, path = saved
    url = _pushed(saved, postgis_url)
    st = open_store(url)
    try:
        assert st.unchanged_layers(small.layer_names) == frozenset(small.layer_names)
    finally:
        st.close()
    pg, gpkg = Twin.open(url), Twin.open(path)
    for n in small.layer_names:
        assert pg.known_data_version(n) == gpkg.known_data_version(n) == \
            small.data_version(n), n
    assert pg.layer_count("parcels") == len(small.layer("parcels"))
    assert not pg.loaded("parcels")  # known without reading a row
    # Read and hashed from PostGIS's rows, the version is the same one.
    assert pg.content_hash("parcels") == small.content_hash("parcels")
    pg.store.close()


@pytest.mark.parametrize("edit", [
    "UPDATE parcels SET land_use = 'edited' WHERE id = (SELECT min(id) FROM parcels)",
    "DELETE FROM parcels WHERE fid = 0",
    "INSERT INTO parcels SELECT fid + 100000, id + 100000, district_id, land_use, area_ha, "
    "source, synthetic, geometry FROM parcels WHERE fid = 0",
    "TRUNCATE parcels",
    "UPDATE parcels SET land_use = land_use WHERE false",  # a statement: counted, harmless
    "ALTER TABLE parcels ADD COLUMN note text",
    "ALTER TABLE parcels DISABLE TRIGGER twin_layer_edits",
    "ALTER TABLE parcels RENAME TO parcels_old; CREATE TABLE parcels (LIKE parcels_old "
    "INCLUDING ALL); INSERT INTO parcels SELECT * FROM parcels_old; DROP TABLE parcels_old",
    "DROP TABLE parcels; CREATE TABLE parcels AS SELECT * FROM districts WHERE false",
])
def test_an_outside_edit_drops_the_layer_from_the_trusted_ones(saved, postgis, postgis_url,
                                                                edit):
    small, _ = saved
    url = _pushed(saved, postgis_url)
    _sql(postgis, url, edit)
    st = open_store(url)
    try:
        assert st.unchanged_layers(small.layer_names) == \
            frozenset(small.layer_names) - {"parcels"}
    finally:
        st.close()
    tw = Twin.open(url)
    assert tw.known_data_version("parcels") is None
    assert tw.known_data_version("districts") == small.data_version("districts")
    tw.store.close()


def test_an_edit_by_a_role_that_may_not_touch_the_counters_is_counted(saved, postgis,
                                                                       postgis_url):
    import psycopg

    small, _ = saved
    url = _pushed(saved, postgis_url)
    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(postgis, autocommit=True) as c:
        c.execute("DROP ROLE IF EXISTS twin_editor")
        c.execute("CREATE ROLE twin_editor LOGIN")
        c.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO twin_editor')
        c.execute(f'GRANT SELECT, UPDATE ON "{schema}".parcels TO twin_editor')
    editor = postgis.replace("user=postgres", "user=twin_editor")
    with psycopg.connect(editor, autocommit=True) as c:
        c.execute(f"UPDATE \"{schema}\".parcels SET land_use = 'by an editor'")
    st = open_store(url)
    try:
        assert "parcels" not in st.unchanged_layers(["parcels"])
    finally:
        st.close()
    with psycopg.connect(postgis, autocommit=True) as c:
        c.execute("DROP OWNED BY twin_editor; DROP ROLE twin_editor")


def test_an_edit_after_open_is_noticed_when_the_layer_is_read(saved, postgis, postgis_url):
    small, _ = saved
    url = _pushed(saved, postgis_url)
    tw = Twin.open(url)
    assert tw.known_data_version("parcels") == small.data_version("parcels")
    _sql(postgis, url, "DELETE FROM parcels WHERE fid = 0")
    # Read after the edit: the record of open() is not about these rows.
    assert len(tw.layer("parcels")) == len(small.layer("parcels")) - 1
    assert tw.data_version("parcels") != small.data_version("parcels")
    tw.store.close()


def test_a_whole_save_changes_the_generation_and_trusts_again(saved, postgis, postgis_url):
    small, _ = saved
    url = _pushed(saved, postgis_url)
    _sql(postgis, url, "DELETE FROM parcels WHERE fid = 0")
    st = open_store(url)
    before = st.generation()
    edited = Twin.open(url)
    edited.save(url)  # the toolkit writes the edited rows whole: their record holds again
    assert st.generation() != before and st.generation() is not None
    again = Twin.open(url)
    assert again.known_data_version("parcels") == edited.data_version("parcels") != \
        small.data_version("parcels")
    for tw in (edited, again):
        tw.store.close()
    st.close()


def test_a_twin_pushed_before_edits_were_counted_is_measured_from_its_rows(saved, postgis,
                                                                             postgis_url):
    small, _ = saved
    url = _pushed(saved, postgis_url)
    _sql(postgis, url, "DROP TABLE twin_layer_edits; DROP TABLE twin_blobs")
    tw = Twin.open(url)
    assert all(tw.known_data_version(n) is None for n in small.layer_names)
    assert tw.data_version("parcels") == small.data_version("parcels")
    tw.store.close()
