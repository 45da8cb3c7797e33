"""twin/store.py: the twin file is a GeoPackage that GDAL 3.6 (Debian 12, QGIS 3.28 LTR)
opens without a warning, and it holds the twin's files byte for byte."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess

import pytest

from twin import store


def _ogrinfo(path) -> str:
    if shutil.which("ogrinfo") is None:
        pytest.skip("ogrinfo is not installed (Debian: apt-get install gdal-bin)")
    r = subprocess.run(["ogrinfo", "-ro", "-al", "-so", str(path)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout + r.stderr


def _assert_clean(out: str) -> None:
    noisy = [line for line in out.splitlines()
             if line.startswith(("Warning", "ERROR")) or "Unknown (any)" in line]
    assert not noisy, noisy


def _user_version(path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


@pytest.mark.gdal
def test_the_default_twin_opens_in_debians_gdal_without_a_warning(default_twin_path):
    out = _ogrinfo(default_twin_path)
    _assert_clean(out)
    assert _user_version(default_twin_path) == 10200  # GeoPackage 1.2
    for layer in ("lakes", "rivers", "parcels", "twin_meta", "twin_files"):
        assert f"Layer name: {layer}\n" in out
    assert "Layer name: water\n" not in out  # lakes and rivers no longer share one layer


@pytest.mark.gdal
def test_the_plan_export_opens_without_a_warning(default_twin, tmp_path):
    from twin.plan.report import export_plan

    out = export_plan(default_twin.plan, tmp_path / "plan.gpkg")
    _assert_clean(_ogrinfo(out))
    assert _user_version(out) == 10200


def test_files_round_trip_in_parts(tmp_path, monkeypatch, small_twin):
    monkeypatch.setattr(store.base, "FILE_PART_BYTES", 1000)
    data = bytes(range(256)) * 17  # 4,352 bytes: five parts
    src = tmp_path / "blob.bin"
    src.write_bytes(data)
    a = tmp_path / "a.gpkg"
    store.write_twin_file(a, {"region": small_twin["region"]}, {"name": "a"}, {},
                          {"things/blob.bin": src})
    assert store.unpack_file(a, "things/blob.bin", tmp_path / "out.bin")
    assert (tmp_path / "out.bin").read_bytes() == data
    assert not store.unpack_file(a, "things/other.bin", tmp_path / "no.bin")
    # copied across as stored, without unpacking
    b = tmp_path / "b.gpkg"
    store.write_twin_file(b, {}, {"name": "b"}, {},
                          {"things/blob.bin": store.StoredFile(a)})
    assert store.unpack_file(b, "things/blob.bin", tmp_path / "out2.bin")
    assert (tmp_path / "out2.bin").read_bytes() == data
    # the files table is not read into the twin's attribute tables
    meta, _, tables = store.read_twin_file(b)
    assert store.FILES_TABLE not in tables and meta["name"] == "b"


def test_copying_a_file_another_twin_file_lacks_is_refused(tmp_path, small_twin):
    from twin.errors import TwinFileError

    a = tmp_path / "a.gpkg"
    store.write_twin_file(a, {"region": small_twin["region"]}, {"name": "a"}, {})
    with pytest.raises(TwinFileError, match="does not hold things/x.bin"):
        store.write_twin_file(tmp_path / "b.gpkg", {}, {"name": "b"}, {},
                              {"things/x.bin": store.StoredFile(a)})
    assert not (tmp_path / "b.gpkg").exists()


_KILLED_MID_TRANSACTION = """
import os, signal, sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA cache_size=1")   # spill pages to the file before the commit
conn.execute("BEGIN IMMEDIATE")
conn.execute("DELETE FROM twin_meta")
conn.execute("CREATE TABLE filler (x)")
conn.executemany("INSERT INTO filler VALUES (?)", ((b"x" * 4000,) for _ in range(500)))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_twin_opens_after_a_writer_was_killed_mid_transaction(tmp_path, small_twin):
    # The hot journal a killed writer leaves can only be rolled back by a connection that
    # may write: read-only opens used to refuse the whole file after a crash.
    import sys

    from twin import Twin

    path = tmp_path / "t.gpkg"
    small_twin.save(path)
    r = subprocess.run([sys.executable, "-c", _KILLED_MID_TRANSACTION, str(path)],
                       capture_output=True, timeout=60)
    assert r.returncode == -9, r.stderr
    assert (tmp_path / "t.gpkg-journal").exists(), "the writer left no journal to recover"
    reopened = Twin.open(path)
    assert reopened.name == small_twin.name
    assert set(reopened.layer_names) == set(small_twin.layer_names)
    conn = sqlite3.connect(path)
    try:
        tables = {t for (t,) in conn.execute("SELECT name FROM sqlite_master")}
    finally:
        conn.close()
    assert "filler" not in tables  # the uncommitted transaction was rolled back


def test_versions_can_be_read_while_other_threads_commit(tmp_path, small_twin):
    # A served twin reads the counters on every score request while writers commit in
    # other threads; a commit resets the cached counters, which a reader must never see
    # half-way (it answered 500 under the crash test's burst).
    import threading

    import pandas as pd

    from twin.store import open_store

    path = small_twin.save(tmp_path / "busy.gpkg")
    st = open_store(path)
    errors: list[BaseException] = []
    stop = threading.Event()

    def write() -> None:
        for k in range(40):
            with st.transaction() as tx:
                tx.replace("notes", pd.DataFrame({"k": [k]}))
        stop.set()

    def read() -> None:
        try:
            while not stop.is_set():
                st.versions()
        except BaseException as e:  # noqa: BLE001 - the test reports whatever it was
            errors.append(e)
            stop.set()

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read)
                                                  for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert st.versions()["notes"] > 0


def _notes(path) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [k for (k,) in conn.execute('SELECT k FROM "notes" ORDER BY k')]
    finally:
        conn.close()


def test_a_whole_save_refuses_to_overwrite_what_another_session_wrote(tmp_path, small_twin):
    # Two sessions on one file, as a notebook beside `twin serve`: the server's write must
    # not vanish under the notebook's later whole save (PostGIS refused it already).
    import pandas as pd

    from twin import Twin
    from twin.errors import TwinFileError

    path = small_twin.save(tmp_path / "shared.gpkg")
    notebook, server = Twin.open(path), Twin.open(path)
    with server.store.transaction() as tx:
        tx.replace("notes", pd.DataFrame({"k": [7]}))
    with pytest.raises(TwinFileError, match=r"notes changed since this session read the "
                                            r"twin.*nothing was saved; open the twin again"):
        notebook.save(path)
    assert _notes(path) == [7]
    again = Twin.open(path)  # what the message says to do works
    again.save(path)
    assert _notes(path) == [7]


def test_a_writer_waiting_while_the_file_is_replaced_writes_into_the_new_file(
        tmp_path, small_twin):
    # The writer opened the old file, then waited for its lock while a whole save moved a
    # new file over the path: committed into the old file, its write was acknowledged and
    # gone with it.
    import os
    import threading

    import pandas as pd

    from twin.store import open_store

    path = small_twin.save(tmp_path / "t.gpkg")
    replacement = small_twin.save(tmp_path / "replacement.gpkg")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the whole save's lock on the old file
    st, done = open_store(path), threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with st.transaction() as tx:
                tx.replace("notes", pd.DataFrame({"k": [1, 2]}))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert not done.wait(0.5), "the writer did not wait for the lock"
    os.replace(replacement, path)
    holder.execute("ROLLBACK")
    holder.close()
    writer.join(30)
    assert errors == []
    assert _notes(path) == [1, 2]


def test_a_whole_save_and_concurrent_writers_lose_no_acknowledged_write(tmp_path, small_twin):
    # Whichever takes the file's lock first, a write that was acknowledged is in the file
    # at the path afterwards, or the save refused and said so.
    import threading

    from twin import Twin
    from twin.errors import TwinFileError

    path = small_twin.save(tmp_path / "t.gpkg")
    st = Twin.open(path).store
    acknowledged: list[int] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for k in range(30):
                with st.transaction() as tx:
                    tx.insert("notes", ["k"], [(k,)])
                acknowledged.append(k)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    with st.transaction() as tx:
        tx.ensure(_NOTES)
    saver = Twin.open(path)
    writer = threading.Thread(target=write)
    writer.start()
    refused = saves = 0
    while writer.is_alive():
        try:
            saver.save(path)
            saves += 1
        except TwinFileError:
            refused += 1
            saver = Twin.open(path)
    writer.join()
    assert errors == []
    assert set(_notes(path)) == set(acknowledged) == set(range(30))
    assert saves + refused > 0


from twin.store.base import Table  # noqa: E402 - beside the tests that use it

_NOTES = Table("notes", (("k", "int"),), key=("k",))
