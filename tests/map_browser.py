"""Headless Chromium against a real uvicorn server: the fixtures and helpers the browser
tests of /map share (tests/test_map_browser.py, tests/test_map_planner_browser.py).

Debian's chromium runs headless with WebGL through SwiftShader, driven by Playwright (python).
Every request that leaves loopback is aborted and recorded: the page must work on a closed
network. Never download a browser for this; CI installs Debian's ``chromium``.
"""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "VIEWPORT", "MAP_LEFT", "Run", "serve", "open_page",
           "pixels", "variance", "colours", "shot", "ready", "settle", "wait_tiles", "fly",
           "show_layers", "clean", "launch_browser", "map_page"]

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


@contextmanager
def serve(twin_path, **settings):
    """uvicorn serving ``twin_path`` on a free loopback port, in a thread."""
    uvicorn = pytest.importorskip("uvicorn")
    from api.app import create_app
    from api.settings import Settings

    app = create_app(Settings(twin_path=twin_path, **settings))
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
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
        sock.close()


@contextmanager
def launch_browser(profile_dir, viewport=None):
    """Debian's chromium with a fresh profile; skips if it is missing."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (never download one)")
    pw = sync_api.sync_playwright().start()
    ctx = pw.chromium.launch_persistent_context(
        str(profile_dir), executable_path=CHROMIUM,
        headless=True, args=CHROMIUM_ARGS, viewport=viewport or VIEWPORT,
        device_scale_factor=1, accept_downloads=True,
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
    failed: list = field(default_factory=list)  # (status, url) of every answer >= 400

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


def open_page(browser, url: str) -> Run:
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
    def seen(r):
        if urlsplit(r.url).path.endswith(".mvt"):
            run.tiles.append(r)
        if r.status >= 400:
            run.failed.append((r.status, r.url))

    page.on("response", seen)
    page.on("requestfailed", lambda r: run.failed.append((0, r.url)))
    page.goto(url)
    return run


@contextmanager
def map_page(browser, url: str):
    """The page at ``url`` opened and ready (:func:`ready`), closed afterwards: a module's
    shared /map page."""
    run = open_page(browser, url)
    try:
        ready(run)
        yield run
    finally:
        run.page.close()


def pixels(page, left: int = MAP_LEFT) -> np.ndarray:
    from PIL import Image

    png = page.screenshot()
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float64)
    return img[:, left:, :]


def variance(img: np.ndarray) -> float:
    return float(img.mean(axis=2).var())


def colours(img: np.ndarray) -> int:
    return len(np.unique(img.reshape(-1, 3).astype(np.uint8), axis=0))


def shot(page, name: str) -> None:
    out = os.environ.get("TWIN_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(out) / name))


def ready(run: Run, timeout: int = 90_000) -> None:
    """Wait until the page says it is ready (everything asked for at start is drawn)."""
    run.page.wait_for_function(
        "window.twinMap && (window.twinMap.ready || window.twinMap.errors.length > 0)",
        timeout=timeout)
    assert run.page.evaluate("window.twinMap.errors") == []
    run.page.wait_for_timeout(800)  # let the last frame reach the screen


def settle(page, ms: int = 800) -> None:
    """Two animation frames and a pause: what a state change needs to be drawn."""
    page.evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.wait_for_timeout(ms)


def wait_tiles(run: Run, before: int, timeout_s: float = 60) -> list[tuple[int, int, str]]:
    """Poll for vector tiles answered after the first ``before`` responses."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = [(s, n, u) for s, n, u in run.tile_bodies()[before:] if s == 200 and n > 0]
        if got or time.monotonic() > deadline:
            return got
        run.page.wait_for_timeout(500)


def fly(page, lon: float, lat: float, zoom: float) -> None:
    """Move the camera as a shared link would, and wait for the move to be drawn: at parcel
    zooms, until every parcel tile of the new view has arrived."""
    loads = page.evaluate("twinMap.parcelViews")
    page.evaluate("""([lon, lat, zoom]) => twinMap.goToView({longitude: lon, latitude: lat,
                                                            zoom})""", [lon, lat, zoom])
    page.wait_for_function(f"Math.abs(twinMap.viewState.zoom - {zoom}) < 0.01")
    if page.evaluate("twinMap.parcelTheme()"):
        page.wait_for_function(f"twinMap.parcelViews > {loads}", timeout=90_000)
    settle(page, 600)


def show_layers(page, keep: set[str] | None) -> None:
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


def clean(run: Run) -> None:
    assert run.blocked == [], f"requests left loopback: {run.blocked}"
    assert run.failed == [], f"requests failed: {run.failed}"
    assert run.console_errors() == []
    missing = [t for _, t in run.console if "Missing character" in t]
    assert missing == [], missing


