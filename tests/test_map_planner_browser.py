"""The planner's tools on /map, in headless Chromium (tests/map_browser.py): identify by
click and by keyboard, a scenario against the baseline, the URL following the view, the
layout at 1024x768 and 1280x720, the findings layer, filters and the year slider, export,
label placement, badges, search and the three languages.

The server serves a copy of the default twin holding one stored scenario (the README's
aluminium plant east of Astana), so nothing here writes to the shared default twin.
Screenshots: ``TWIN_SCREENSHOTS=docs/img pytest -m browser tests/test_map_planner_browser.py``.
"""

from __future__ import annotations

import re
import shutil

import httpx
import numpy as np
import pytest

from tests.map_browser import (
    clean,
    fly,
    map_page,
    open_page,
    pixels,
    ready,
    serve,
    settle,
    shot,
    show_layers,
    variance,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.server]

TOKEN = "planner-test-token"
# The layer switcher's boxes that start ticked (sanitary zones start off).
ALL = {"districts", "parcels", "project_sites", "pipeline", "findings", "settlements", "labels",
       "protected_areas", "industrial_zones", "water"}
SCENARIO = {
    "id": "aluminium-east", "name": "Aluminium plant east",
    "edits": [{"kind": "add_project", "id": "alu-east", "lon": 71.45, "lat": 51.30,
               "sector": "metallurgy", "investment_kzt": 120_000_000_000, "jobs": 800,
               "hazard_class": "II"}],
}


@pytest.fixture(scope="module")
def planner_twin(default_twin_path, tmp_path_factory):
    """A private copy of the default twin: the scenario written here stays here."""
    d = tmp_path_factory.mktemp("planner")
    path = d / default_twin_path.name
    shutil.copy(default_twin_path, path)
    rasters = default_twin_path.with_name(default_twin_path.name + ".rasters")
    if rasters.exists():
        shutil.copytree(rasters, path.with_name(path.name + ".rasters"))
    return path


@pytest.fixture(scope="module")
def server(planner_twin):
    with serve(planner_twin, api_tokens=[TOKEN]) as url:
        r = httpx.post(f"{url}/scenarios", json=SCENARIO, timeout=60,
                       headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 201, r.text
        yield url




@pytest.fixture(scope="module")
def map_run(browser, server):
    with map_page(browser, f"{server}/map?lang=en") as run:
        yield run


def _page_xy(page, lon, lat, view="main"):
    """Where a lon/lat point is on the page in a view (side by side: "main" on the left,
    "scenario" on the right), in CSS pixels."""
    return page.evaluate("""([lon, lat, id]) => {
        const vp = twinMap.deck.getViewports().find((v) => v.id === id);
        const [x, y] = vp.project([lon, lat]);
        const r = document.getElementById("map-canvas").getBoundingClientRect();
        return [x + vp.x + r.left, y + vp.y + r.top];
    }""", [lon, lat, view])


def _home(page):
    """Back to the whole region (before parcels are switched back on: at town zoom they
    would load for nothing)."""
    page.click("#zoom-home")
    page.wait_for_function("twinMap.viewState.zoom < 8")


def _town(page, name):
    return page.evaluate("""(name) => {
        const f = twinMap.data.settlements.features.find((x) => x.properties.name === name);
        return f.geometry.coordinates;
    }""", name)


# ----------------------------------------------------------------------------- identify


def test_identify_by_click_lists_every_feature_under_the_pointer(map_run):
    page = map_run.page
    lon, lat = _town(page, "Kokshetau")
    fly(page, lon, lat, 10.5)
    x, y = _page_xy(page, lon, lat)
    page.mouse.click(x, y)
    panel = page.locator("#identify")
    panel.wait_for(state="visible")
    count = panel.locator(".count").inner_text()
    n = int(re.fullmatch(r"1 of (\d+)", count).group(1))
    listed = panel.locator(".ident-list li").all_inner_texts()
    assert n == len(listed) >= 3, listed
    # The town, the parcel under it and the district under both: none hides the others.
    kinds = {t.split(":")[0] for t in listed}
    assert {"Settlements", "Parcels", "Districts"} <= kinds, listed
    # Field names are words, never column names; numbers carry units and no stray commas.
    names = panel.locator("dt").all_inner_texts()
    assert not [t for t in names if "_" in t], names
    shot(page, "map-identify.png")
    parcel = next(i for i, t in enumerate(listed) if t.startswith("Parcels"))
    panel.locator(f".ident-list button[data-i='{parcel}']").click()
    assert panel.locator(".count").inner_text() == f"{parcel + 1} of {n}"
    rows = dict(zip(panel.locator("dt").all_inner_texts(),
                    panel.locator("dd").all_inner_texts(), strict=True))
    assert re.fullmatch(r"\d+", rows["Id"]), rows  # ids carry no separators
    assert re.fullmatch(r"[\d,]+(\.\d{1,2})? ha", rows["Area"]), rows
    assert "Data: synthetic" in panel.inner_text()
    panel.locator("button[data-act=next]").click()
    assert panel.locator(".count").inner_text() == f"{(parcel + 1) % n + 1} of {n}"
    clean(map_run)
    panel.locator("button[data-act=close]").click()
    assert panel.is_hidden()
    page.click("#zoom-home")


def test_identify_by_keyboard(map_run):
    page = map_run.page
    show_layers(page, ALL - {"parcels"})  # parcels are not what this is about, and slow
    lon, lat = _town(page, "Kokshetau")
    fly(page, lon, lat, 10)
    # In tab order the skip link comes first, then the panel's controls, then the map: the
    # first stop is no longer an unnamed canvas.
    order = page.evaluate("""() => [...document.querySelectorAll(
            'a[href], button, input, select, summary, [tabindex]')]
        .filter((e) => e.tabIndex >= 0 && !e.disabled && e.offsetParent !== null)
        .map((e) => e.id || e.className || e.tagName)""")
    assert order[0] == "skip"
    assert order.index("map-canvas") > order.index("search") > 0
    page.focus(".skip")
    assert page.locator(".skip").bounding_box()["x"] >= 0  # shown when focused
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement.id === 'map-canvas'")
    canvas = page.locator("#map-canvas")
    assert "Enter lists what lies at the centre" in canvas.get_attribute("aria-label")
    assert canvas.evaluate("(c) => getComputedStyle(c).outlineStyle") != "none"
    assert page.locator("#crosshair").is_visible()
    before = page.evaluate("twinMap.viewState.longitude")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"twinMap.viewState.longitude !== {before}")
    fly(page, lon, lat, 10)
    canvas.focus()
    page.keyboard.press("Enter")
    panel = page.locator("#identify")
    panel.wait_for(state="visible")
    assert "Kokshetau" in panel.inner_text()
    # Focus moved into the panel; Escape closes it and hands focus back to the map.
    assert page.evaluate("document.getElementById('identify').contains(document.activeElement)")
    page.keyboard.press("Escape")
    assert panel.is_hidden()
    assert page.evaluate("document.activeElement.id") == "map-canvas"
    clean(map_run)
    _home(page)
    show_layers(page, ALL)


def test_identify_by_tap(map_run):
    # A finger, as a tablet's: Chromium's own touch input (its gesture recogniser turns the
    # tap into a click), through the DevTools protocol.
    page = map_run.page
    show_layers(page, ALL - {"parcels"})
    lon, lat = _town(page, "Kokshetau")
    fly(page, lon, lat, 9)
    x, y = _page_xy(page, lon, lat)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 1})
    try:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart",
                                              "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        panel = page.locator("#identify")
        panel.wait_for(state="visible")
        assert re.fullmatch(r"1 of \d+", panel.locator(".count").inner_text())
        listed = panel.locator(".ident-list li").all_inner_texts()
        assert "Settlements: Kokshetau" in listed and any(t.startswith("Districts") for t in listed)
    finally:
        cdp.send("Emulation.setTouchEmulationEnabled", {"enabled": False})
        cdp.detach()
    panel.locator("button[data-act=close]").click()
    clean(map_run)
    _home(page)
    show_layers(page, ALL)


# ----------------------------------------------------------------------------- URL


def test_url_follows_the_view(map_run, browser, server):
    page = map_run.page
    fly(page, 71.4, 51.2, 7)
    page.click("#zoom-in")
    page.wait_for_function("Math.abs(twinMap.viewState.zoom - 8) < 0.01")
    page.select_option("#color-by", "jobs")
    page.uncheck("input[data-layer=water]")
    page.select_option("#lang", "ru")
    page.wait_for_function("location.search.includes('lang=ru')")
    settle(page, 400)
    q = dict(x.split("=", 1) for x in page.evaluate("location.search")[1:].split("&"))
    assert float(q["z"]) == pytest.approx(8, abs=0.01)
    assert float(q["lon"]) == pytest.approx(71.4, abs=0.01)
    assert q["color"] == "jobs"
    assert "water" not in q["layers"] and "districts" in q["layers"]
    # The link opens the same view.
    again = open_page(browser, page.url)
    try:
        ready(again)
        p2 = again.page
        assert p2.evaluate("twinMap.viewState.zoom") == pytest.approx(8, abs=0.01)
        assert p2.evaluate("twinMap.viewState.longitude") == pytest.approx(71.4, abs=0.01)
        assert p2.input_value("#color-by") == "jobs"
        assert not p2.is_checked("input[data-layer=water]")
        assert p2.evaluate("document.documentElement.lang") == "ru"
        assert p2.locator("#legend-title").inner_text() == "Легенда"
        clean(again)
    finally:
        again.page.close()
    page.check("input[data-layer=water]")
    page.select_option("#color-by", page.evaluate("twinMap.config.default_color_by"))
    page.select_option("#lang", "en")


# ----------------------------------------------------------------------------- layout


@pytest.mark.parametrize("size", [(1024, 768), (1280, 720)])
def test_layout_fits_with_the_legend_in_view(map_run, size):
    w, h = size
    page = map_run.page
    page.set_viewport_size({"width": w, "height": h})
    try:
        page.select_option("#lang", "ru")  # the longest words of the three
        page.click("#zoom-home")
        settle(page, 1000)

        def inside(sel):
            b = page.locator(sel).bounding_box()
            return b and b["x"] >= 0 and b["y"] >= 0 and b["x"] + b["width"] <= w + 0.5 \
                and b["y"] + b["height"] <= h + 0.5

        for sel in ("#panel", "#legend", "#tools", "#scale", "#zoom-in", "#export"):
            assert inside(sel), sel
        # The legend is on top where it stands, and shows its first classes.
        top = page.evaluate("""() => {
            const b = document.querySelector('#legend section').getBoundingClientRect();
            const el = document.elementFromPoint(b.left + 20, b.top + 30);
            return document.getElementById('legend').contains(el);
        }""")
        assert top
        # No text under 12 px anywhere on the page.
        small = page.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter((e) => e.offsetParent !== null && e.childNodes.length &&
                    [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()))
            .map((e) => [e.tagName, parseFloat(getComputedStyle(e).fontSize)])
            .filter(([, s]) => s < 12)""")
        assert small == []
        # The map keeps room between the panel and the right column, and the region fits
        # into it.
        gap = page.evaluate("""() => {
            const p = document.getElementById('panel').getBoundingClientRect();
            const r = document.getElementById('right').getBoundingClientRect();
            return r.left - p.right;
        }""")
        assert gap >= 0.35 * w
        # The twin's sources: two lines between the panel and the right column, above the
        # scale bar; a click shows them all.
        boxes = {sel: page.locator(sel).bounding_box()
                 for sel in ("#attribution", "#panel", "#right", "#scale", "#status")}

        def overlap(a, b):
            return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and \
                a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]

        a = boxes.pop("#attribution")
        assert inside("#attribution") and a["height"] <= 2 * 1.35 * 12 + 6
        assert not [sel for sel, b in boxes.items() if overlap(a, b)], boxes
        page.click("#attribution")
        assert page.locator("#attribution").bounding_box()["height"] > a["height"]
        page.click("#attribution")
        if size == (1024, 768):
            # Identify and legend together still fit.
            lon, lat = _town(page, "Atbasar")
            x, y = _page_xy(page, lon, lat)
            page.mouse.click(x, y)
            page.locator("#identify").wait_for(state="visible")
            assert inside("#identify") and inside("#legend")
            shot(page, "map-1024x768.png")
            page.locator("#identify button[data-act=close]").click()
        # The panel folds away to one button, and comes back.
        page.click("#collapse")
        assert page.locator("#panel-body").is_hidden()
        assert page.get_attribute("#collapse", "aria-expanded") == "false"
        assert page.locator("#panel").bounding_box()["width"] < 80
        page.click("#collapse")
        assert page.locator("#panel-body").is_visible()
        clean(map_run)
    finally:
        page.set_viewport_size({"width": 1280, "height": 800})
        page.select_option("#lang", "en")


# ----------------------------------------------------------------------------- findings


def test_findings_layer_shows_every_finding(map_run, server):
    page = map_run.page
    api = httpx.get(f"{server}/plan/compliance", timeout=60).json()
    assert page.evaluate("twinMap.data.findings.features.length") == api["numberMatched"] > 0
    error = next(f for f in api["findings"] if f["severity"] == "error")
    lon, lat = page.evaluate("""(id) => twinMap.data.findings.features
        .find((f) => f.properties.site_id === id).geometry.coordinates""", error["site_id"])
    show_layers(page, ALL - {"parcels"})
    page.check("input[data-layer=sanitary_zones]")
    fly(page, lon, lat, 11)
    x, y = _page_xy(page, lon, lat)
    page.mouse.click(x, y)
    panel = page.locator("#identify")
    panel.wait_for(state="visible")
    listed = panel.locator(".ident-list li").all_inner_texts() or [panel.locator("h3").inner_text()]
    assert any(t.startswith("Compliance findings") for t in listed), listed
    i = next(i for i, t in enumerate(listed) if t.startswith("Compliance findings"))
    if len(listed) > 1:
        panel.locator(f".ident-list button[data-i='{i}']").click()
    text = panel.inner_text()
    assert "Severity" in text and "Rule" in text
    legend = page.locator("#legend").inner_text()
    assert "Compliance findings" in legend and "sanitary protection zone" in legend
    ids = page.evaluate("twinMap.deck.props.layers.map((l) => l.id)")
    assert "findings" in ids and "sanitary_zones" in ids
    shot(page, "map-findings.png")
    # The legend follows the layers: a layer switched off leaves it.
    page.uncheck("input[data-layer=findings]")
    page.uncheck("input[data-layer=sanitary_zones]")
    assert "Compliance findings" not in page.locator("#legend").inner_text()
    assert page.locator("#legend section[data-legend=findings]").count() == 0
    page.check("input[data-layer=findings]")
    panel.locator("button[data-act=close]").click()
    clean(map_run)
    _home(page)
    show_layers(page, ALL)


# ----------------------------------------------------------------------------- scenario


def test_scenario_drawn_against_the_baseline(browser, server):
    ev = httpx.get(f"{server}/scenarios/{SCENARIO['id']}/evaluation", timeout=120).json()
    run = open_page(browser, f"{server}/map?lang=en&scenario={SCENARIO['id']}&compare=side"
                             "&lon=71.2&lat=51.4&z=7&color=scenario:d_investment_kzt")
    page = run.page
    try:
        ready(run)
        page.wait_for_function("twinMap.scenarioTiles > 0 || twinMap.errors.length > 0")
        settle(page, 2500)
        assert page.evaluate("twinMap.errors") == []
        tiles = [(s, u) for s, _, u in run.tile_bodies() if "/scenarios/" in u]
        assert tiles and {s for s, _ in tiles} <= {200, 204}, tiles
        assert run.failed == []
        assert page.evaluate("document.body.classList.contains('side-by-side')")
        assert page.evaluate("twinMap.deck.getViewports().map((v) => v.id)") == ["main",
                                                                                 "scenario"]
        # each half says what it shows, and nothing covers the words
        for sel, words in (("#side-base", "Baseline"), ("#side-scenario", SCENARIO["name"])):
            assert page.locator(sel).inner_text() == words
            assert page.evaluate("""(sel) => {
                const b = document.querySelector(sel).getBoundingClientRect();
                return document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2)
                    === document.querySelector(sel);
            }""", sel), sel
        panel = page.locator("#evaluation")
        panel.wait_for(state="visible")
        page.wait_for_function("document.querySelector('[data-testid=deltas]') !== null")
        text = panel.inner_text()
        assert "+120 bn ₸" in text and "+800" in text, text
        d = ev["summary"]["d_region_score"]
        assert f"−{abs(d):.1f}" in text if d < 0 else f"+{d:.1f}" in text
        assert "Tselinograd" in text  # the district that gains the plant
        # Districts coloured by the change: only the plant's district moved.
        gain = next(r["district_id"] for r in ev["districts"] if r["d_investment_kzt"] > 0)
        assert page.input_value("#color-by") == "scenario:d_investment_kzt"
        legend = page.locator("#legend").inner_text()
        assert "no change" in legend and "+120 bn ₸" in legend
        # The new site is drawn on the scenario's side only, where each view centres it.
        img = pixels(page, left=0)
        (x1, y1), (x0, y0) = (_page_xy(page, 71.45, 51.30, "scenario"),
                              _page_xy(page, 71.45, 51.30, "main"))
        new = img[int(y1) - 6:int(y1) + 6, int(x1) - 6:int(x1) + 6]
        old = img[int(y0) - 6:int(y0) + 6, int(x0) - 6:int(x0) + 6]
        added = np.array(page.evaluate("twinMap.config.style.marks.scenario.added")[:3])
        assert np.abs(new - added).sum(axis=2).min() < 40   # the added site's colour
        assert np.abs(old - added).sum(axis=2).min() > 40   # not in the baseline
        assert gain == "tselinograd"
        clean(run)
        shot(page, "map-scenario.png")
    finally:
        page.close()


# ----------------------------------------------------------------------------- the rest


def test_search_tolerates_transliteration(map_run):
    page = map_run.page
    found = {}
    for q in ("Burabai", "Burabay", "Бурабай"):
        page.fill("#search", q)
        page.wait_for_function(f"""() => twinMap.search.input.value === {q!r} &&
            twinMap.search.items.length > 0""")
        found[q] = page.evaluate("twinMap.search.items.map((s) => s.kind + ':' + s.id)")
    assert found["Burabai"] == found["Burabay"] == found["Бурабай"]
    assert {"district:burabay", "town:1525126"} <= set(found["Burabai"])
    kinds = page.locator("#suggestions .kind").all_inner_texts()
    assert "district" in kinds and "town" in kinds
    page.fill("#search", "")


def test_filters_and_year_slider(map_run, server):
    page = map_run.page
    sites = httpx.get(f"{server}/collections/project_sites/items?limit=1000").json()["features"]
    page.click("details:has(#filters) summary")
    for box in page.locator("input[data-filter=sectors]").all():
        if box.get_attribute("value") != "agriculture":
            box.uncheck()
    want = sum(f["properties"]["sector"] == "agriculture" for f in sites)
    assert page.evaluate("twinMap.shownSites()") == want
    page.uncheck("#all-years")
    page.fill("#year", "2024")
    page.dispatch_event("#year", "input")
    want = sum(f["properties"]["sector"] == "agriculture"
               and f["properties"]["start_year"] <= 2024 for f in sites)
    assert page.evaluate("twinMap.shownSites()") == want
    assert page.locator("#shown").inner_text() == f"{want} of {len(sites)} projects shown"
    page.wait_for_function("location.search.includes('year=2024')")
    assert "sector=agriculture" in page.evaluate("location.search")
    drawn = page.evaluate("""() => twinMap.deck.props.layers
        .filter((l) => l.id.startsWith('project_sites-2d') && !l.id.endsWith('assumed-place'))
        .reduce((n, l) => n + l.props.data.length, 0)""")
    pipe = sum(f["properties"]["sector"] == "agriculture" and f["properties"]["start_year"] <= 2024
               and f["properties"]["status"] == "pipeline" for f in sites)
    assert drawn == want - pipe
    page.click("#reset-filters")
    assert page.evaluate("twinMap.shownSites()") == len(sites)
    page.click("details:has(#filters) summary")


def test_export_saves_the_view_as_png(map_run, tmp_path):
    from PIL import Image

    page = map_run.page
    page.click("#zoom-home")
    settle(page, 800)
    with page.expect_download() as dl:
        page.click("#export")
    path = tmp_path / "view.png"
    dl.value.save_as(path)
    assert dl.value.suggested_filename.endswith(".png")
    img = Image.open(path)
    w, h = page.evaluate("[document.getElementById('map-canvas').width,"
                         " document.getElementById('map-canvas').height]")
    assert img.size == (w, h + 72)  # the map as drawn, and a footer saying what it is
    arr = np.asarray(img.convert("RGB"), dtype=float)
    assert variance(arr[:h]) > 150
    assert variance(arr[h:h + 48]) > 5  # the footer holds the title and what is made up
    assert variance(arr[h + 48:]) > 5  # and the sources the twin credits


def test_labels_never_overlap(map_run):
    page = map_run.page
    for zoom in (None, 7.5):
        if zoom:
            fly(page, 70.0, 52.6, zoom)
        boxes = page.evaluate("twinMap.labels.map((l) => l.box)")
        assert len(boxes) >= 8
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert not (a[0] < b[2] and a[2] > b[0] and a[1] < b[3] and a[3] > b[1]), (a, b)
    page.click("#zoom-home")


def test_badges_agree_with_every_rows_flags(map_run, default_twin):
    from layers.style import accuracy_label

    page = map_run.page
    got = page.evaluate("""async () => {
        const m = await import(new URL('map/static/draw.js', location.href).href);
        const out = {};
        for (const [id, fc] of Object.entries(twinMap.data)) {
            if (!fc || !fc.features) continue;
            out[id] = Object.fromEntries(fc.features.map((f) =>
                [String(f.properties.id), m.badgeOf(f.properties)]));
        }
        return out;
    }""")
    checked = 0
    for layer in ("districts", "settlements", "project_sites", "protected_areas", "lakes",
                  "rivers"):
        g = default_twin[layer]
        for _, row in g.iterrows():
            want = accuracy_label(row.get("accuracy"), row.get("synthetic"),
                                  row.get("synthetic_fields"))
            assert got[layer][str(row["id"])] == want, (layer, row["id"])
            checked += 1
    assert checked > 250
    # The plant whose every figure is made up, and a row named "synthetic", say so.
    assert got["project_sites"]["named-aluminium"] == "partly synthetic"
    assert got["project_sites"]["pipeline-7"] == "partly synthetic"


def test_unknown_population_is_no_data_not_zero(map_run):
    page = map_run.page
    page.select_option("#color-by", "population")
    settle(page, 500)
    cfg = page.evaluate("twinMap.config")
    kosshy = cfg["color_by"]["population"]["color"]["kosshy"]
    no_data = next(c for c in cfg["color_by"]["population"]["legend"] if c.get("no_data"))
    assert kosshy == no_data["color"]
    assert "no data" in page.locator("#legend").inner_text()
    page.evaluate("""() => {
        const f = twinMap.data.districts.features.find((x) => x.properties.id === 'kosshy');
        twinMap.identify.open([{layer: 'districts', properties: f.properties, object: f}], false);
    }""")
    rows = dict(zip(page.locator("#identify dt").all_inner_texts(),
                    page.locator("#identify dd").all_inner_texts(), strict=True))
    assert rows["Population"].startswith("unknown"), rows
    page.locator("#identify button[data-act=close]").click()
    page.select_option("#color-by", cfg["default_color_by"])


def test_interface_in_kazakh_and_russian_with_local_numbers(map_run):
    page = map_run.page
    words = {}
    for lang in ("en", "ru", "kk"):
        page.select_option("#lang", lang)
        words[lang] = page.evaluate("""() => [...document.querySelectorAll('[data-t]')]
            .map((e) => e.textContent)""")
        words[lang + "_labels"] = page.evaluate("""() => [...document.querySelectorAll(
            '[data-t-label]')].map((e) => e.getAttribute('aria-label'))""")
        page.evaluate("""() => {
            const f = twinMap.data.project_sites.features
                .find((x) => x.properties.id === 'named-aluminium');
            twinMap.identify.open([{layer: 'project_sites', properties: f.properties,
                                    object: f}], false);
        }""")
        words[lang + "_panel"] = page.locator("#identify").inner_text()
    for a, b in (("en", "ru"), ("en", "kk")):
        same = [x for x, y in zip(words[a], words[b], strict=True) if x == y and x != "3D"]
        assert same == [], (a, b, same)
    # Kazakh and Russian share some words ("Сценарий"), not the interface.
    same = [x for x, y in zip(words["ru"], words["kk"], strict=True) if x == y]
    assert len(same) <= 2, same
    for a, b in (("en", "ru"), ("en", "kk"), ("ru", "kk")):
        assert not set(words[a + "_labels"]) & set(words[b + "_labels"])
    assert "54.7 bn ₸" in words["en_panel"] and "Start year\n2025" in words["en_panel"]
    assert "54,7 млрд ₸" in words["ru_panel"] and "2 025" not in words["ru_panel"]
    assert "54,7 млрд ₸" in words["kk_panel"]
    assert "Инвестиция" in words["kk_panel"] and "Инвестиции" in words["ru_panel"]
    page.locator("#identify button[data-act=close]").click()
    page.select_option("#lang", "en")


def test_scenario_tile_errors_show_on_screen(map_run):
    # Runs last among the tests of map_run (the file's order): it leaves errors behind.
    page = map_run.page
    page.route("**/scenarios/*/tiles/**", lambda r: r.fulfill(
        status=422, content_type="application/problem+json",
        body='{"title": "Unprocessable", "status": 422, "detail": "zone z1 is invalid: fix it"}'))
    try:
        page.select_option("#scenario", SCENARIO["id"])
        page.wait_for_function("twinMap.errors.length > 0", timeout=90_000)
        alert = page.locator("#alerts")
        alert.wait_for(state="visible")
        assert "HTTP 422: zone z1 is invalid: fix it" in alert.inner_text()
        page.wait_for_function("document.getElementById('evaluation').innerText"
                               ".includes('could not be drawn')")
    finally:
        page.unroute("**/scenarios/*/tiles/**")
        page.select_option("#scenario", "")
