"""The planner's /map page and the ``twin map`` file in a real browser.

Debian's chromium runs headless with WebGL through SwiftShader, driven by Playwright (python),
against a uvicorn server on a free loopback port serving the default Akmola twin. Every
request that leaves loopback is aborted and fails the test: the page must work on a closed
network. Never download a browser for this; CI installs Debian's ``chromium``.

Screenshots for the README: ``TWIN_SCREENSHOTS=docs/img pytest -m browser
tests/test_map_browser.py`` writes them from the same browser runs.
"""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.server]

CHROMIUM = "/usr/bin/chromium"
# What works here: root, no GPU, closed network. The resolver rule is a second fence behind
# the request interception: no name but loopback resolves.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1, EXCLUDE localhost",
]
VIEWPORT = {"width": 1280, "height": 800}
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
# The control panel covers the left of the page; pixel checks look right of it.
MAP_LEFT = 320


def _local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "file", "chrome-error"):
        return True
    return parts.scheme in ("http", "https", "ws", "wss") and parts.hostname in LOOPBACK


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server(default_twin_path):
    """uvicorn serving the default twin on a free loopback port, in a thread."""
    uvicorn = pytest.importorskip("uvicorn")
    from api.app import create_app
    from api.settings import Settings

    app = create_app(Settings(twin_path=default_twin_path))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # the kernel picks a free port; no race with other tests
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's chromium with a fresh profile; fails loudly if it is missing."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (never download one)")
    pw = sync_api.sync_playwright().start()
    ctx = pw.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM,
        headless=True, args=CHROMIUM_ARGS, viewport=VIEWPORT, device_scale_factor=1,
    )
    try:
        yield ctx
    finally:
        ctx.close()
        pw.stop()


@dataclass
class Run:
    """What one page load did: console messages, page errors, network."""

    page: object
    console: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    blocked: list = field(default_factory=list)
    tiles: list = field(default_factory=list)

    def console_errors(self) -> list[str]:
        return [t for kind, t in self.console if kind == "error"] + self.errors

    def tile_bodies(self) -> list[tuple[int, int, str]]:
        out = []
        for r in self.tiles:
            try:
                n = len(r.body()) if r.status == 200 else 0
            except Exception:  # a tile evicted before we read it
                n = -1
            out.append((r.status, n, r.url))
        return out


def _open(browser, url: str) -> Run:
    page = browser.new_page()
    # SwiftShader on a shared CI box can take seconds per frame; clicks wait for frames.
    page.set_default_timeout(90_000)
    run = Run(page)
    page.on("console", lambda m: run.console.append((m.type, m.text)))
    page.on("pageerror", lambda e: run.errors.append(str(e)))

    def fence(route):
        if _local(route.request.url):
            route.continue_()
        else:
            run.blocked.append(route.request.url)
            route.abort()

    page.route("**/*", fence)
    page.on("response", lambda r: run.tiles.append(r) if r.url.endswith(".mvt") else None)
    page.goto(url)
    return run


def _pixels(page, left: int = MAP_LEFT) -> np.ndarray:
    from PIL import Image

    png = page.screenshot()
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)
    return img[:, left:, :]


def _variance(img: np.ndarray) -> float:
    return float(img.mean(axis=2).var())


def _colours(img: np.ndarray) -> int:
    return len(np.unique(img.reshape(-1, 3).astype(np.uint8), axis=0))


def _shot(page, name: str) -> None:
    out = os.environ.get("TWIN_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(out) / name))


def _ready(run: Run, timeout: int = 90_000) -> None:
    run.page.wait_for_function(
        "window.twinMap && (window.twinMap.ready && window.twinMap.tilesLoaded > 0"
        " || window.twinMap.errors.length > 0)", timeout=timeout)
    assert run.page.evaluate("window.twinMap.errors") == []
    run.page.wait_for_timeout(1500)  # let the tiles that arrived be drawn


def _show_layers(page, keep: set[str] | None) -> None:
    """Tick the layer switcher's boxes: ``keep`` on and the rest off (``None``: all on).

    One batch of change events, so the page redraws once rather than once per box: under
    SwiftShader a redraw of the parcels costs seconds.
    """
    page.evaluate("""(keep) => {
        for (const box of document.querySelectorAll("#layers input")) {
            const on = keep === null || keep.includes(box.dataset.layer);
            if (box.checked !== on) {
                box.checked = on;
                box.dispatchEvent(new Event("change"));
            }
        }
    }""", None if keep is None else sorted(keep))
    page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def _clean(run: Run) -> None:
    assert run.blocked == [], f"requests left loopback: {run.blocked}"
    assert run.console_errors() == []
    missing = [t for _, t in run.console if "Missing character" in t]
    assert missing == [], missing


# ----------------------------------------------------------------------------- /map


@pytest.fixture(scope="module")
def map_run(browser, server):
    run = _open(browser, f"{server}/map")
    _ready(run)
    yield run
    run.page.close()


def test_map_page_draws_and_stays_offline(map_run):
    page = map_run.page
    img = _pixels(page)
    # An empty canvas is one flat colour (variance 0); the map has districts, dots, labels.
    assert _variance(img) > 150
    assert _colours(img) > 200
    _clean(map_run)
    assert page.title().endswith("map")
    _shot(page, "map-2d.png")


def test_legend_says_which_layers_are_synthetic(map_run):
    # The default twin's parcels are all synthetic and most project rows are: the legend
    # headings once read as a plain cadastre and project list.
    text = map_run.page.locator("#legend").inner_text()
    assert "Parcels by land use — synthetic" in text, text
    share = map_run.page.evaluate("twinMap.config.synthetic_share.project_sites")
    assert 0 < share < 1
    assert f"— {round(share * 100)}% synthetic" in text, text


def test_map_page_fetches_parcel_tiles(map_run):
    bodies = map_run.tile_bodies()
    assert bodies, "no vector-tile request was made"
    assert all("/tiles/parcels/" in u for _, _, u in bodies)
    ok = [(s, n) for s, n, _ in bodies if s == 200 and n > 0]
    assert ok, f"no vector tile came back 200 with a body: {bodies}"
    assert {s for s, _, _ in bodies} <= {200, 204}


def test_tooltip_says_how_real_a_district_is(map_run):
    page = map_run.page
    # Only districts stay on, so the pointer can only hit one.
    _show_layers(page, {"districts"})
    assert page.locator("input[data-layer=parcels]").is_checked() is False
    target = page.evaluate("""() => {
        const l = twinMap.config.district_labels.find((d) => d.kind === "district");
        const f = twinMap.data.districts.features.find((x) => x.properties.id === l.id);
        const [x, y] = twinMap.deck.getViewports()[0].project([l.lon, l.lat]);
        return {x, y, name: f.properties.name, accuracy: f.properties.accuracy};
    }""")
    page.mouse.move(target["x"], target["y"])
    tip = page.locator(".deck-tooltip")
    tip.wait_for(state="visible", timeout=60_000)
    text = tip.inner_text()
    assert target["name"] in text
    assert f"data: {target['accuracy']} —" in text
    assert target["accuracy"] in ("real", "approximate", "synthetic")
    page.mouse.move(2, 790)
    _show_layers(page, None)


def test_3d_toggle_and_kazakh_labels(map_run):
    page = map_run.page
    page.select_option("#lang", "kk")
    page.click("#toggle-3d")
    assert page.get_attribute("#toggle-3d", "aria-pressed") == "true"
    page.wait_for_function("(twinMap.viewState || {}).pitch === 45", timeout=60_000)
    page.wait_for_timeout(1500)
    assert _variance(_pixels(page)) > 150
    _clean(map_run)
    _shot(page, "map-3d.png")
    page.click("#toggle-3d")
    page.wait_for_function("(twinMap.viewState || {}).pitch === 0", timeout=60_000)


def test_search_flies_to_a_settlement_and_parcels_draw(map_run):
    page = map_run.page
    before = len(map_run.tiles)
    page.fill("#search", "Көкшетау")
    page.press("#search", "Enter")
    result = page.locator("#search-result")
    result.wait_for(state="visible")
    assert "Kokshetau" in result.inner_text()
    assert "data:" in result.inner_text()
    page.wait_for_function("(twinMap.viewState || {}).zoom > 8", timeout=60_000)
    deadline = time.monotonic() + 60
    while True:  # tiles at the new zoom arrive after the flight; poll rather than guess
        zoomed = [(s, n) for s, n, u in map_run.tile_bodies()[before:] if s == 200 and n > 0]
        if zoomed or time.monotonic() > deadline:
            break
        page.wait_for_timeout(500)
    assert zoomed, "no parcel tiles at city zoom"
    page.wait_for_timeout(1500)
    assert _variance(_pixels(page)) > 150
    _clean(map_run)
    # Parcels alone (districts off) must still fill the view with land-use colours.
    page.fill("#search", "")
    page.evaluate("twinMap.config && (document.getElementById('search-result').innerHTML = '')")
    _show_layers(page, {"parcels", "settlements", "labels", "water", "protected_areas",
                        "industrial_zones", "project_sites", "pipeline"})
    # Step back to the city's surroundings (zoom 9.4): town, fields and reserve land.
    page.evaluate("""() => twinMap.deck.setProps({initialViewState: {
        ...(twinMap.viewState || twinMap.deck.props.initialViewState), zoom: 9.4}})""")
    page.wait_for_function("Math.abs((twinMap.viewState || {}).zoom - 9.4) < 0.01 || "
                           "Math.abs(twinMap.deck.props.initialViewState.zoom - 9.4) < 0.01")
    page.wait_for_timeout(2500)
    img = _pixels(page)
    assert _variance(img) > 150 and _colours(img) > 50
    _shot(page, "map-parcels.png")
    _show_layers(page, None)


def test_search_says_when_nothing_matches(map_run):
    page = map_run.page
    page.fill("#search", "Atlantis")
    page.press("#search", "Enter")
    assert "No district or settlement" in page.locator("#search-result").inner_text()


# ----------------------------------------------------------------------------- twin map


def test_twin_map_file_renders_offline(browser, default_twin_path, tmp_path):
    from twin.cli import main

    out = tmp_path / "akmola-3d.html"
    assert main(["map", "--twin", str(default_twin_path), "--out", str(out)]) == 0
    run = _open(browser, out.as_uri())
    try:
        run.page.wait_for_function(
            "window.twinDeck && twinDeck.isInitialized && "
            "twinDeck.props.layers.length > 0", timeout=60_000)
        run.page.wait_for_timeout(2500)
        img = _pixels(run.page, left=0)
        assert _variance(img) > 150
        assert _colours(img) > 200
        _clean(run)
        _shot(run.page, "twin-map-3d.png")
    finally:
        run.page.close()


def test_mvt_loader_matches_an_independent_decoder(map_run, server):
    """Our main-thread MVT decoder against mapbox-vector-tile (Python), on a real tile."""
    import httpx
    import mapbox_vector_tile

    z, x, y = 8, 177, 83  # Kokshetau, where the default twin has dense parcels
    raw = httpx.get(f"{server}/tiles/parcels/{z}/{x}/{y}.mvt").content
    ref = mapbox_vector_tile.decode(raw, default_options={"y_coord_down": True})["parcels"]
    got = map_run.page.evaluate("""async ([z, x, y]) => {
        const buf = await (await fetch(`tiles/parcels/${z}/${x}/${y}.mvt`)).arrayBuffer();
        const f = twinParseMVT(buf, {mvt: {coordinates: "local", layerProperty: "layerName"}});
        return {n: f.length, props: f.slice(0, 50).map((g) => g.properties),
                rings: f.slice(0, 50).map((g) => g.geometry.coordinates[0])};
    }""", [z, x, y])
    assert got["n"] == len(ref["features"]) > 0
    ext = ref["extent"]
    for props, ring, feat in zip(got["props"], got["rings"], ref["features"], strict=False):
        assert props.pop("layerName") == "parcels"
        assert props == pytest.approx(feat["properties"])
        want = np.asarray(feat["geometry"]["coordinates"][0], dtype=float) / ext
        assert np.allclose(np.asarray(ring, dtype=float), want)
