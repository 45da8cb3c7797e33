"""The API on a real uvicorn server on loopback: HTTP clients, GDAL's OAPIF driver
(``ogrinfo``) and ``twin serve`` itself."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import mapbox_vector_tile
import pytest

from api.app import create_app
from api.settings import Settings
from layers.tile_math import tiles_for_bounds
from tests.common import NO_PROXY_ENV, ogrinfo_counts
from tests.processes import free_port, stop
from tests.test_vector_tiles import grid_twin

pytestmark = pytest.mark.server

# Hermetic: loopback only, whatever proxy the environment names.
_NO_PROXY_ENV = NO_PROXY_ENV


@contextlib.contextmanager
def serve_in_thread(app, header_timeout: float | None = None, http=None):
    """Run ``app`` with uvicorn (uvloop + httptools when installed) on a free loopback
    port in a thread; yield its base URL; stop it on exit. ``http``: uvicorn's protocol
    setting, instead of the one `twin serve` uses."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The protocol `twin serve` uses: uvicorn's own, with the request-head timeout.
    from api.head_timeout import http_protocol
    from api.score_hub import SHUTDOWN_GRACE_S

    proto = http or http_protocol(header_timeout)
    config = uvicorn.Config(app, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
                            **({"http": proto} if proto else {}))
    server = uvicorn.Server(config)
    t = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not t.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        # What SIGTERM does first in `twin serve` (a server in a thread gets no signal).
        hub = getattr(getattr(app, "state", None), "score_hub", None)
        if hub is not None:
            hub.close()
        server.should_exit = True
        t.join(10)
        sock.close()


@pytest.fixture(scope="module")
def served():
    tw = grid_twin(30, 20)
    with serve_in_thread(create_app(Settings(gc_freeze=False), twin=tw)) as url:
        yield url, tw


def test_real_server_features_and_tiles(served):
    url, tw = served
    with httpx.Client(base_url=url, trust_env=False) as c:
        assert c.get("/health").json()["status"] == "ok"
        body = c.get("/collections/parcels/items", params={"limit": 5}).json()
        assert body["numberMatched"] == 600
        nxt = [link for link in body["links"] if link["rel"] == "next"][0]["href"]
        assert nxt.startswith(url)
        z = 12
        x0, y0, x1, y1 = tiles_for_bounds(tuple(tw.layer("parcels").total_bounds), z)
        x, y = (x0 + x1) // 2, (y0 + y1) // 2
        cold = c.get(f"/tiles/parcels/{z}/{x}/{y}.mvt", headers={"Accept-Encoding": "gzip"})
        warm = c.get(f"/tiles/parcels/{z}/{x}/{y}.mvt", headers={"Accept-Encoding": "gzip"})
        assert cold.status_code == warm.status_code == 200
        assert warm.headers["content-encoding"] == "gzip"
        assert cold.content == warm.content
        assert mapbox_vector_tile.decode(warm.content)["parcels"]["features"]
        assert c.get("/tiles/parcels/99/0/0.mvt").status_code == 404
        assert c.get("/collections/parcels/items?bbox=x").status_code == 400


def test_fast_path_answers_equal_fastapi_ones_on_a_real_server(served):
    """On one keep-alive connection: a miss (FastAPI), then hits (the fast path), 304s,
    gzip, HEAD and a query string all answer the same."""
    url, tw = served
    z = 13
    x0, y0, x1, y1 = tiles_for_bounds(tuple(tw.layer("parcels").total_bounds), z)
    p = f"/tiles/parcels/{z}/{(x0 + x1) // 2}/{(y0 + y1) // 2}.mvt"
    drop = {"date"}
    with httpx.Client(base_url=url, trust_env=False) as c:
        for enc in ("identity", "gzip"):
            h = {"Accept-Encoding": enc}
            answers = [c.get(p, headers=h) for _ in range(4)]
            answers.append(c.get(p + "?v=1", headers=h))  # falls back: query string
            first = answers[0]
            assert first.status_code == 200
            for r in answers[1:]:
                assert r.status_code == 200 and r.content == first.content
                assert ({k: v for k, v in r.headers.items() if k not in drop}
                        == {k: v for k, v in first.headers.items() if k not in drop})
            nm = c.get(p, headers={**h, "If-None-Match": first.headers["etag"]})
            assert nm.status_code == 304 and nm.content == b""
            head = c.head(p, headers=h)
            assert head.status_code == 200 and head.content == b""
        empty = [c.get("/tiles/parcels/8/5/100.mvt") for _ in range(3)]
        assert [r.status_code for r in empty] == [204, 204, 204]
        assert c.get("/health").status_code == 200  # the connection is still sound


@pytest.mark.gdal
def test_ogrinfo_reads_every_collection(served):
    url, tw = served
    if shutil.which("ogrinfo") is None:
        pytest.skip("ogrinfo is not installed (Debian: apt-get install gdal-bin)")
    counts = ogrinfo_counts(url, timeout=120)
    assert counts == {n: len(tw.layer(n)) for n in tw.layer_names}


@pytest.mark.gdal
def test_ogr2ogr_pages_through_parcels(served, tmp_path):
    """Reading every feature (not just counting) follows our next links."""
    url, tw = served
    if shutil.which("ogr2ogr") is None:
        pytest.skip("ogr2ogr is not installed (Debian: apt-get install gdal-bin)")
    dst = tmp_path / "parcels.gpkg"
    out = subprocess.run(
        ["ogr2ogr", "-f", "GPKG", str(dst), f"OAPIF:{url}/", "parcels",
         "-oo", "PAGE_SIZE=250"],
        capture_output=True, text=True, timeout=120, env=_NO_PROXY_ENV,
    )
    assert out.returncode == 0, out.stderr
    import pyogrio

    got = pyogrio.read_dataframe(dst)
    assert sorted(got["id"]) == sorted(tw.layer("parcels")["id"])


def _read_until_closed(sock: socket.socket, limit: float) -> tuple[float, bytes]:
    sock.settimeout(limit)
    t0, got = time.monotonic(), b""
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except TimeoutError:
        got += b"<still open>"
    return time.monotonic() - t0, got


def test_connections_that_never_send_a_whole_head_are_closed(small_twin):
    # Issue 11, defect 6: uvicorn closes idle keep-alive connections, but a connection
    # that sent nothing, or only part of a request head, stayed open for ever.
    app = create_app(Settings(gc_freeze=False), twin=small_twin)
    with serve_in_thread(app, header_timeout=0.5) as url:
        port = int(url.rsplit(":", 1)[1])
        silent = socket.create_connection(("127.0.0.1", port))
        partial = socket.create_connection(("127.0.0.1", port))
        partial.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        second = socket.create_connection(("127.0.0.1", port))  # one whole request first
        second.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHo")
        slow = socket.create_connection(("127.0.0.1", port))  # whole, within the limit
        slow.sendall(b"GET /health HTTP/1.1\r\n")
        time.sleep(0.2)
        slow.sendall(b"Host: x\r\nConnection: close\r\n\r\n")
        try:
            took, got = _read_until_closed(silent, 5)
            assert got == b"" and took < 3
            took, got = _read_until_closed(partial, 5)
            assert got.startswith(b"HTTP/1.1 408 ") and took < 3, got
            took, got = _read_until_closed(second, 5)
            assert got.startswith(b"HTTP/1.1 200 ") and b"HTTP/1.1 408 " in got, got
            took, got = _read_until_closed(slow, 5)
            assert got.startswith(b"HTTP/1.1 200 ") and b"408" not in got, got
        finally:
            for c in (silent, partial, second, slow):
                c.close()


def test_the_header_timeout_wraps_uvicorns_h11_protocol_too(small_twin):
    # HeadTimeout reads nothing of the protocol it wraps, so any of uvicorn's works.
    import functools

    from api.head_timeout import HeadTimeout

    app = create_app(Settings(gc_freeze=False), twin=small_twin)
    h11 = functools.partial(HeadTimeout, header_timeout=0.5, inner="h11")
    with serve_in_thread(app, http=h11) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as partial:
            partial.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\n")
            took, got = _read_until_closed(partial, 5)
        assert got.startswith(b"HTTP/1.1 200 ") and b"HTTP/1.1 408 " in got, got
        assert b"server: uvicorn" in got and took < 3


def test_the_header_timeout_bounds_the_head_only(small_twin):
    """A body slower than the limit, a malformed head and a keep-alive connection idle
    between two requests are not cut by the head timer (uvicorn answers them)."""
    app = create_app(Settings(gc_freeze=False, api_tokens="s3cret"), twin=small_twin)
    with serve_in_thread(app, header_timeout=0.5) as url:
        port = int(url.rsplit(":", 1)[1])
        slow_body = socket.create_connection(("127.0.0.1", port))
        slow_body.sendall(b"POST /score/observations HTTP/1.1\r\nHost: x\r\n"
                          b"Authorization: Bearer s3cret\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 2\r\n"
                          b"Connection: close\r\n\r\n")
        bad = socket.create_connection(("127.0.0.1", port))
        bad.sendall(b"GET /health HTTP/1.1\r\nHost x\r\n\r\n")
        idle = socket.create_connection(("127.0.0.1", port))
        idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(1.0)  # twice the limit
        slow_body.sendall(b"{}")
        idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        try:
            _, got = _read_until_closed(slow_body, 5)
            # the body was read, and refused for what it holds
            assert got.startswith(b"HTTP/1.1 400 ") and b"observations" in got, got
            _, got = _read_until_closed(bad, 5)
            assert got.startswith(b"HTTP/1.1 400 "), got
            _, got = _read_until_closed(idle, 5)
            assert got.count(b"HTTP/1.1 200 ") == 2 and b"408" not in got, got
        finally:
            for c in (slow_body, bad, idle):
                c.close()


def test_the_header_timeout_is_a_setting():
    assert Settings().header_timeout == 10.0
    assert Settings(header_timeout=0).header_timeout == 0
    with pytest.raises(ValueError):
        Settings(header_timeout=-1)


@pytest.mark.slow
def test_twin_serve_command(small_twin, tmp_path):
    """`twin serve --twin FILE` starts uvicorn with create_app and answers."""
    path = small_twin.save(tmp_path / "small.gpkg")
    port = free_port()
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin.cli", "serve", "--twin", str(path), "--port", str(port)],
        cwd=root, env=_NO_PROXY_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                # /ready: /health answers while the app is still built (api/boot.py).
                r = httpx.get(f"http://127.0.0.1:{port}/ready", trust_env=False, timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(proc.stdout.read().decode()) from None
                time.sleep(0.2)
        assert r.status_code == 200
        r = httpx.get(f"http://127.0.0.1:{port}/health", trust_env=False)
        assert r.status_code == 200 and r.json()["twin"] == "small"
        # No TWIN_TRUSTED_PROXIES: a loopback client's forwarded headers change no link
        # (uvicorn's own proxy handling, which trusts 127.0.0.1, is off in `twin serve`).
        tj = httpx.get(f"http://127.0.0.1:{port}/tiles/districts.json", trust_env=False,
                       headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "1.2.3.4",
                                "X-Forwarded-Host": "evil.example"}).json()
        assert tj["tiles"][0].startswith(f"http://127.0.0.1:{port}/tiles/districts/")
    finally:
        stop(proc)
        proc.stdout.close()


@pytest.mark.gdal
@pytest.mark.slow
def test_ogrinfo_reads_the_default_twin(default_twin):
    """The default Akmola twin: GDAL lists every layer with its feature count."""
    if shutil.which("ogrinfo") is None:
        pytest.skip("ogrinfo is not installed (Debian: apt-get install gdal-bin)")
    with serve_in_thread(create_app(Settings(gc_freeze=False), twin=default_twin)) as url:
        counts = ogrinfo_counts(url, timeout=300)
    assert counts == {n: len(default_twin.layer(n)) for n in default_twin.layer_names}
