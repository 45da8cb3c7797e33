"""layers/scenario_deck.py and layers/notebook.py: a scenario's map as a notebook shows it.

The pixel test renders the notebook cell of ``scenario.map()`` (the shared deck.gl assets and
the map's iframe, as a notebook page holds them) in Debian's headless chromium, then hides
the changed sites and counts the pixels that change: the markers' footprint on screen.
"""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from layers import notebook
from layers.scenario_deck import SITE_RADIUS_PX, change_classes


def test_no_change_has_its_own_class_and_gains_never_look_like_it():
    values = pd.Series({"a": 0, "b": 250, "c": 0, "d": 800, "e": -800, "f": None})
    colors, legend = change_classes(values)
    labels = [c["label"] for c in legend]
    assert labels == ["−800 to −400", "−400 to 0", "no change", "0 to +400", "+400 to +800",
                      "no data"]
    assert colors["a"] == colors["c"] == legend[2]["color"]
    assert len({tuple(colors[k]) for k in "abde"}) == 4
    assert colors["e"] == legend[0]["color"] and colors["d"] == legend[4]["color"]
    assert colors["f"] == legend[5]["color"]
    # all zero: one class, no made-up breaks
    assert [c["label"] for c in change_classes(pd.Series([0, 0]))[1]] == ["no change"]


def _moved(tw):
    from tests.common import lonlat
    from twin.scenario import Scenario

    return Scenario(tw, "moved").move_project("p1", *lonlat(5_300, 5_000))


def test_site_markers_are_sized_in_pixels(small_twin):
    j = json.loads(_moved(small_twin).map().to_json())
    sites = next(layer for layer in j["layers"] if layer["id"] == "scenario_sites")
    assert sites["radiusUnits"] == "pixels" and sites["getRadius"] == SITE_RADIUS_PX
    moves = next(layer for layer in j["layers"] if layer["id"] == "scenario_moves")
    assert moves["widthUnits"] == "pixels"
    dl = next(layer for layer in j["layers"] if layer["id"] == "districts")
    assert dl["extruded"] is False  # a change can be negative; a height cannot


def test_a_map_cell_carries_deck_gl_once_per_session(small_twin, monkeypatch):
    monkeypatch.setattr(notebook, "_SHIPPED", {"done": False, "cell": None})
    deck = small_twin.map()
    first, second = deck._repr_html_(), deck._repr_html_()
    assert "window.twinDeckAssets =" in first and "twinDeckAssets =" not in second
    assert len(second) < 100_000 < len(first) < 2_000_000
    assert "createDeck" not in second.replace("createDeck({", "")  # no bundle in the frame
    assert len(repr(deck)) < 300  # the text/plain copy is a line, not the JSON again


def test_show_outside_a_notebook_says_how_to_write_a_file(small_twin):
    with pytest.raises(RuntimeError, match="to_html"):
        small_twin.map().show()


# ----------------------------------------------------------------------------- in chromium


def _cell_page(tmp_path, cell: str) -> str:
    """A page holding one output cell, as a notebook page holds it."""
    path = tmp_path / "cell.html"
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body "
                    f"style='margin:0'>{cell}</body></html>", encoding="utf-8")
    return path.as_uri()


def _open(browser, url):
    page = browser.new_page()
    page.set_default_timeout(120_000)
    errors, blocked = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def fence(route):
        if route.request.url.startswith(("file:", "data:", "blob:", "about:")):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.route("**/*", fence)
    page.goto(url)
    return page, errors, blocked


def _png(page) -> np.ndarray:
    from PIL import Image

    shot = page.locator("iframe").screenshot()
    return np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"), dtype=np.int16)


@pytest.mark.browser
@pytest.mark.slow
def test_scenario_map_site_markers_stay_small(browser, default_twin, tmp_path):
    from twin.scenario import Scenario

    s = Scenario(default_twin, "alu-koshi").move_project("named-aluminium", 71.36, 50.975)
    deck = s.map()
    n_sites = len(next(layer for layer in deck.layers if layer.id == "scenario_sites").data)
    page, errors, blocked = _open(browser, _cell_page(tmp_path, notebook.notebook_html(
        deck, assets=True)))
    try:
        frame = page.frame_locator("iframe")
        inner = page.frames[1]
        inner.wait_for_function("window.twinDeck && twinDeck.isInitialized && "
                                "twinDeck.props.layers.length > 0")
        page.wait_for_timeout(2500)
        with_sites = _png(page)
        inner.evaluate("""() => twinDeck.setProps({layers: twinDeck.props.layers.map(
            (l) => l.id === 'scenario_sites' ? l.clone({visible: false}) : l)})""")
        page.wait_for_timeout(2500)
        without = _png(page)
        assert frame.locator("#legend").inner_text().count("no change") == 1
    finally:
        page.close()
    out = Path(os.environ.get("TWIN_SCREENSHOTS", tmp_path))
    from PIL import Image

    Image.fromarray(with_sites.astype(np.uint8)).save(out / "scenario-map-notebook.png")
    assert not errors and not blocked
    changed = np.abs(with_sites - without).sum(axis=2) > 30
    footprint = int(changed.sum())
    # a dot of SITE_RADIUS_PX plus its 1 px outline per site, with antialiasing to spare;
    # the old bug (radius in common units) covered tens of thousands of pixels
    limit = n_sites * math.pi * (SITE_RADIUS_PX + 2) ** 2
    assert 0 < footprint <= limit, (footprint, limit)
    ys, xs = np.nonzero(changed)
    assert xs.max() - xs.min() <= 2 * (SITE_RADIUS_PX + 2) * n_sites


@pytest.mark.browser
@pytest.mark.slow
def test_a_map_without_the_shared_assets_says_how_to_get_them(browser, small_twin,
                                                              tmp_path):
    page, errors, _ = _open(browser, _cell_page(
        tmp_path, notebook.notebook_html(small_twin.map(), assets=False)))
    try:
        text = page.frame_locator("iframe").locator("#map")
        text.get_by_text("Run this cell again").wait_for(timeout=60_000)
    finally:
        page.close()
    assert not errors
