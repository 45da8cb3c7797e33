"""The planner's /map page and the ``twin map`` file in a real browser: it draws, stays
offline, and its basics work (legend, hover, 3D, search, the MVT decoder).

The fixtures and helpers are in tests/map_browser.py (Debian's chromium, headless, WebGL
through SwiftShader, against a uvicorn server on a free loopback port serving the default
Akmola twin). Every request that leaves loopback is aborted and fails the test. The
planner's tools (identify, scenarios, URL, layout, findings, filters, export) are tested in
tests/test_map_planner_browser.py.

Screenshots for the README: ``TWIN_SCREENSHOTS=docs/img pytest -m browser
tests/test_map_browser.py tests/test_map_planner_browser.py`` writes them from the same runs.
"""

from __future__ import annotations

import numpy as np
import pytest

from layers.style import FONT_FAMILY
from tests.map_browser import (
    clean,
    colours,
    fly,
    map_page,
    open_page,
    pixels,
    serve,
    settle,
    shot,
    show_layers,
    variance,
    wait_tiles,
)
from twin import Twin

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.server]


@pytest.fixture(scope="module")
def server(default_twin_path):
    with serve(default_twin_path) as url:
        yield url


# ----------------------------------------------------------------------------- /map


@pytest.fixture(scope="module")
def map_run(browser, server):
    with map_page(browser, f"{server}/map?lang=en") as run:
        yield run


def test_map_page_draws_and_stays_offline(map_run):
    page = map_run.page
    img = pixels(page)
    # An empty canvas is one flat colour (variance 0); the map has districts, dots, labels.
    assert variance(img) > 150
    assert colours(img) > 200
    clean(map_run)
    cfg = page.evaluate("twinMap.config")
    assert page.title() == f"{cfg['title']} — map"
    assert page.locator("#title").inner_text() == cfg["title"]
    # the twin's own sources, visible on the map as their licences ask
    assert cfg["attribution"]
    assert page.locator("#attribution").inner_text() == " · ".join(cfg["attribution"])
    shot(page, "map-2d.png")


def test_banner_and_legend_say_which_layers_are_synthetic(map_run):
    # The default twin's parcels are all synthetic and most project rows are: the map once
    # read as a plain cadastre and project list.
    page = map_run.page
    share = page.evaluate("twinMap.config.synthetic_share")
    banner = page.locator("#banner-text").inner_text()
    assert "Parcels (all)" in banner, banner
    assert f"Projects under way ({round(share['project_sites'] * 100)}%)" in banner, banner
    assert "hatched means synthetic" in banner
    text = page.locator("#legend").inner_text()
    assert f"— {round(share['project_sites'] * 100)}% synthetic" in text, text
    assert "dashed outline: approximate geometry" in text


def test_one_theme_at_a_time_parcels_only_at_town_zooms(map_run):
    page = map_run.page
    # At regional zoom the districts' colouring is the map: no parcel tile is asked for.
    assert map_run.tile_bodies() == []
    assert "Parcels appear from zoom 9" in page.locator("#legend").inner_text()
    ids = page.evaluate("twinMap.deck.props.layers.map((l) => l.id)")
    assert "districts" in ids and "parcels" not in ids
    before = len(map_run.tiles)
    fly(page, 69.39, 53.28, 10)  # Kokshetau
    got = wait_tiles(map_run, before)
    assert got, "no parcel tiles at town zoom"
    assert all("/tiles/parcels/" in u for _, _, u in got)
    settle(page, 1500)
    ids = page.evaluate("twinMap.deck.props.layers.map((l) => l.id)")
    # The district fill gives way to the parcels (it stays only to be clicked, unseen); the
    # district survives as an outline in its colour.
    assert "parcels" in ids and "district-outlines" in ids
    fill = page.evaluate("twinMap.deck.props.layers.find((l) => l.id === 'districts')"
                         ".props.getFillColor")
    assert fill == [0, 0, 0, 0]
    legend = page.locator("#legend").inner_text()
    assert "Parcels by land use — synthetic" in legend
    assert "Shown as outlines at this zoom" in legend
    img = pixels(page)
    assert variance(img) > 150 and colours(img) > 50
    clean(map_run)
    shot(page, "map-parcels.png")
    page.click("#zoom-home")
    page.wait_for_function("twinMap.viewState.zoom < 8")


def test_hover_names_the_feature_and_how_real_it_is(map_run):
    page = map_run.page
    # Only districts stay on, so the pointer can only hit one.
    show_layers(page, {"districts"})
    assert page.locator("input[data-layer=parcels]").is_checked() is False
    target = page.evaluate("""() => {
        const l = twinMap.config.district_labels.find((d) => d.kind === "district");
        const f = twinMap.data.districts.features.find((x) => x.properties.id === l.id);
        const [x, y] = twinMap.deck.getViewports()[0].project([l.lon, l.lat]);
        const r = document.getElementById("map-canvas").getBoundingClientRect();
        return {x: x + r.left, y: y + r.top, name: f.properties.name,
                accuracy: f.properties.accuracy};
    }""")
    page.mouse.move(target["x"], target["y"])
    tip = page.locator(".deck-tooltip")
    tip.wait_for(state="visible", timeout=60_000)
    text = tip.inner_text()
    assert target["name"] in text
    assert target["accuracy"] == "approximate" and text.endswith("· approximate"), text
    page.mouse.move(2, 790)
    show_layers(page, None)


def test_3d_toggle_height_scale_and_kazakh_labels(map_run):
    page = map_run.page
    page.select_option("#lang", "kk")
    page.click("#toggle-3d")
    assert page.get_attribute("#toggle-3d", "aria-pressed") == "true"
    page.wait_for_function("(twinMap.viewState || {}).pitch === 45", timeout=60_000)
    settle(page, 1500)
    assert variance(pixels(page)) > 150
    # The 3D height has a scale: the colouring's top, middle and bottom values.
    scale = page.locator("[data-testid=height-scale]")
    assert scale.is_visible()
    cb = page.evaluate("twinMap.config.color_by[twinMap.config.default_color_by]")
    text = scale.inner_text()
    top = f"{cb['max']:.1f}".replace(".", ",")  # Kazakh numbers: decimal comma
    assert top in text, text
    assert "3D биіктігі" in text
    clean(map_run)
    shot(page, "map-3d.png")
    page.click("#toggle-3d")
    page.wait_for_function("(twinMap.viewState || {}).pitch === 0", timeout=60_000)
    page.select_option("#lang", "en")


def test_search_suggests_by_kind_and_flies_there(map_run):
    page = map_run.page
    page.uncheck("input[data-layer=parcels]")  # tested above; slow to draw at town zoom
    page.fill("#search", "Көкшетау")
    page.locator("#suggestions li").first.wait_for(state="visible")
    first = page.locator("#suggestions li").first.inner_text()
    assert "city" in first and "Kokshetau" in first, first
    page.press("#search", "Enter")
    # The answer goes to the identify panel, not into the search box's corner.
    panel = page.locator("#identify")
    panel.wait_for(state="visible")
    assert "Kokshetau" in panel.inner_text()
    assert "Data: approximate" in panel.inner_text()
    page.wait_for_function("(twinMap.viewState || {}).zoom > 8", timeout=60_000)
    settle(page, 1000)
    clean(map_run)
    page.click("#identify button[data-act=close]")
    page.click("#zoom-home")  # first, or the parcels would load at town zoom for nothing
    page.wait_for_function("twinMap.viewState.zoom < 8")
    page.check("input[data-layer=parcels]")


def test_search_says_when_nothing_matches(map_run):
    page = map_run.page
    page.fill("#search", "Atlantis")
    page.press("#search", "Enter")
    page.wait_for_function("document.getElementById('search-status').textContent.length > 0")
    assert "No district, town or project matches" in page.locator("#search-status").inner_text()


# ----------------------------------------------------------------------------- twin map


def test_twin_map_file_renders_offline(browser, default_twin_path, tmp_path):
    from twin.cli import main

    out = tmp_path / "akmola-3d.html"
    assert main(["map", "--twin", str(default_twin_path), "--out", str(out)]) == 0
    run = open_page(browser, out.as_uri())
    try:
        run.page.wait_for_function(
            "window.twinDeck && twinDeck.isInitialized && "
            "twinDeck.props.layers.length > 0", timeout=60_000)
        run.page.wait_for_timeout(2500)
        img = pixels(run.page, left=0)
        assert variance(img) > 150
        assert colours(img) > 200
        page = run.page
        page.wait_for_function("window.twinLabels && twinLabels.shown.length > 0")
        first = page.evaluate("twinLabels")
        # the default twin's towns crowd each other at the whole-region view: some wait
        assert 0 < len(first["shown"]) < first["total"]
        assert labels_overlapping(page) == []
        # the region is fitted beside the legend, not under it
        x0, y0, x1, y1 = Twin.open(default_twin_path)["region"].total_bounds
        east = page.evaluate("(p) => twinDeck.getViewports()[0].project(p)[0]",
                             [float(x1), float((y0 + y1) / 2)])
        legend = page.evaluate("document.getElementById('legend').getBoundingClientRect().left")
        assert 0 < east < legend
        clean(run)
        shot(run.page, "twin-map-3d.png")
        # zooming in at the centre brings labels that were left out back, still apart
        box = page.locator("#map").bounding_box()
        page.mouse.move(box["width"] * 0.35, box["height"] * 0.5)
        for _ in range(3):
            page.mouse.wheel(0, -400)
            page.wait_for_timeout(400)
        page.wait_for_function("(n) => twinLabels.shown.join() !== n", arg=",".join(first["shown"]))
        page.wait_for_timeout(1000)
        later = page.evaluate("twinLabels.shown")
        assert set(later) - set(first["shown"]), "zooming in showed no label that was left out"
        assert labels_overlapping(page) == []
    finally:
        run.page.close()


def labels_overlapping(page) -> list:
    """Pairs of drawn labels of a single-file map whose boxes overlap, placed again with the
    page's own rule: a set that does not overlap keeps every label."""
    return page.evaluate("""(font) => {
        const vp = twinDeck.getViewports()[0];
        const layers = twinDeck.props.layers.filter((l) => l.id.endsWith("_labels"));
        const drawn = layers.flatMap((l) => l.props.data.map((d) => ({
            text: d.label, position: [d.lon, d.lat, d.z], size: l.props.getSize,
            offset: l.props.getPixelOffset, priority: d.priority })));
        const kept = new Set(twinPlaceLabels(vp, drawn, font).map((c) => c.text));
        return drawn.filter((c) => !kept.has(c.text)).map((c) => c.text);
    }""", FONT_FAMILY)


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
