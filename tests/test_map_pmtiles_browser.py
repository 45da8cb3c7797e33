"""/map reading parcels from a PMTiles archive (TWIN_MAP_PARCELS_PMTILES) in a real browser.

The archive is made by ``export_pmtiles`` and served by a real nginx on another loopback
port, as a CDN would serve it: byte ranges, and CORS for the map's origin (what README tells
a deployer to configure). The page must draw the parcels from it with no request to
``/tiles/parcels`` and no failed request.
"""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from tests.map_browser import (
    clean,
    open_page,
    pixels,
    ready,
    serve,
    settle,
    shot,
    show_layers,
)
from tests.processes import NGINX, free_port, nginx_conf, running
from tests.test_vector_tiles import grid_twin

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.server]

# What README's "Parcels from a CDN" section tells a deployer to write, on loopback.
CDN_SERVER = """
    server {{
        listen 127.0.0.1:{port};
        root {d}/www;
        location ~ \\.pmtiles$ {{
            add_header Access-Control-Allow-Origin * always;
            add_header Access-Control-Allow-Headers "Range, If-Match" always;
            add_header Access-Control-Expose-Headers "ETag, Content-Range, Content-Length" always;
            if ($request_method = OPTIONS) {{ return 204; }}
        }}
    }}
"""


@pytest.fixture(scope="module")
def cdn(tmp_path_factory):
    """nginx serving a folder with the grid twin's parcel archive; yields (url, twin, log)."""
    if NGINX is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx); .ci/run "
                    "installs it")
    from layers.pmtiles_export import export_pmtiles

    d = tmp_path_factory.mktemp("cdn")
    (d / "www").mkdir()
    # a grid of parcels over the small twin's region, which the map fits in its view
    tw = grid_twin(90, 30, west=69.8, south=51.9, cell=0.003)
    export_pmtiles(tw, "parcels", d / "www" / "parcels.pmtiles", maxzoom=13)
    port = free_port()
    (d / "nginx.conf").write_text(nginx_conf(d, CDN_SERVER.format(d=d, port=port),
                                             access_log=f"{d}/access.log"))
    with running([NGINX, "-c", str(d / "nginx.conf"), "-p", str(d)]) as proc:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                log = d / "error.log"
                pytest.fail(f"nginx did not start: {proc.stdout.read() if proc.stdout else ''}"
                            f"{log.read_text() if log.exists() else ''}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/parcels.pmtiles", tw, d / "access.log"


@pytest.fixture(scope="module")
def server(cdn, tmp_path_factory):
    """uvicorn serving the grid twin, its /map pointed at the archive on the CDN."""
    url, tw, _ = cdn
    path = tw.save(tmp_path_factory.mktemp("twin") / "grid.gpkg")
    with serve(path, gc_freeze=False, map_parcels_pmtiles=url) as base:
        yield base


def test_map_draws_parcels_from_a_pmtiles_archive(browser, server, cdn):
    url, _, access_log = cdn
    failed, answers = [], []
    run = open_page(browser, "about:blank")
    run.page.on("requestfailed", lambda r: failed.append(r.url))
    run.page.on("response", lambda r: answers.append((r.status, r.url)))
    run.page.goto(f"{server}/map")
    ready(run)
    page = run.page
    page.wait_for_function("twinMap.tilesLoaded > 0", timeout=90_000)
    assert page.evaluate("twinMap.archive && twinMap.archive.href") == url
    assert page.evaluate("[twinMap.archive.minzoom, twinMap.archive.maxzoom]") == [5, 13]

    # Parcels alone, then nothing: the difference is what the archive's tiles drew.
    show_layers(page, {"parcels"})
    settle(page, 1500)
    with_parcels = pixels(page)
    shot(page, "map-pmtiles.png")
    show_layers(page, set())
    settle(page, 1000)
    without = pixels(page)
    changed = np.abs(with_parcels - without).sum(axis=2) > 30
    assert changed.mean() > 0.05, f"parcels drew on {changed.mean():.1%} of the map"
    show_layers(page, None)

    assert failed == [], f"failed requests: {failed}"
    assert [a for a in answers if a[0] >= 400] == []
    assert not [u for _, u in answers if "/tiles/parcels/" in u], "used the tile endpoint"
    ranges = [s for s, u in answers if u == url]
    assert ranges and set(ranges) <= {206}, ranges  # byte ranges, never the whole file
    assert page.evaluate("twinMap.tilesLoaded") > 0
    clean(run)
    assert "parcels.pmtiles" in access_log.read_text()
    page.close()
