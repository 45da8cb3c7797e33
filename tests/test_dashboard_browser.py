"""The /dashboard page in Debian's headless chromium, against a real uvicorn server serving
a copy of the default Akmola twin (an ingest writes to the file).

Every request that leaves loopback is aborted and fails the test. A ``POST
/score/observations`` made outside the page must change the ranking on the open page
within 2 s. Screenshots for the README come from these runs:
``TWIN_SCREENSHOTS=docs/img pytest -m browser tests/test_dashboard_browser.py``.
"""

from __future__ import annotations

import os
import shutil
import time

import httpx
import pytest

from api.app import create_app
from api.settings import Settings
from tests.map_browser import clean, open_page, pixels, shot, show_layers, variance
from tests.test_api_server import serve_in_thread

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.server]

TOKEN = "dash-token"


@pytest.fixture(scope="module")
def server(default_twin_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("dash") / "akmola.gpkg"
    shutil.copyfile(default_twin_path, path)
    app = create_app(Settings(twin_path=path, api_tokens=TOKEN, gc_freeze=False))
    with serve_in_thread(app) as url:
        yield url


@pytest.fixture(scope="module")
def dash(browser, server):
    run = open_page(browser, f"{server}/dashboard")
    # The first visit waits for the region's forecasts (every series fitted once).
    run.page.wait_for_function("window.twinDash && (twinDash.complete || "
                               "twinDash.errors.length > 0)", timeout=600_000)
    assert run.page.evaluate("twinDash.errors") == []
    run.page.wait_for_timeout(800)
    yield run
    run.page.close()


def test_dashboard_renders_offline_with_no_console_error(dash):
    page = dash.page
    clean(dash)
    n = page.evaluate("twinDash.ranking.units.length")
    assert page.locator("#rank-table tr.unit-row").count() == n == 20
    # rank intervals are drawn as error bars, one per unit
    assert page.locator("#rank-chart g.errorbar").count() == n
    assert page.locator("#dims-chart .hm, #dims-chart image").count() >= 1
    assert page.locator("#warning-table tr.unit-row").count() > 0
    assert page.locator("#sens-chart g.errorbar").count() > 0
    # data as of, and the honesty note: the default twin's history is synthetic
    assert "2025-08" in page.locator("#as-of").inner_text()
    assert page.locator("#honesty").is_visible()
    assert "синтетикалық" in page.locator("#honesty").inner_text()  # Kazakh by default
    # ... and so does every row that shows a synthetic figure
    for table in ("#rank-table", "#warning-table"):
        rows = page.locator(f"{table} tr.unit-row")
        assert page.locator(f"{table} tr.unit-row .mark.synthetic").count() == rows.count()
    assert variance(pixels(page, left=0)) > 150
    shot(page, "dashboard.png")


def best_values(client, unit_id: str) -> list[dict]:
    """Observations that make ``unit_id`` best on every indicator at its reference month."""
    doc = client.get("/score").json()
    hist = {i["id"]: i for i in client.get(f"/score/units/{unit_id}/history").json()[
        "indicators"]}
    out = []
    for ind in doc["indicators"]:
        lo, hi = ind["bounds"]
        top = max(o["value"] for o in hist[ind["id"]]["observations"])
        if ind["direction"] == "higher":
            value = hi if hi is not None else top * (30 if ind["kind"] == "flow" else 3)
        else:
            value = lo if lo is not None else 0.0
        out.append({"unit_id": unit_id, "indicator": ind["id"],
                    "month": ind["reference_month"], "value": float(value),
                    "unit": ind["unit"], "source": "browser test", "synthetic": True})
    return out


def test_an_observation_posted_elsewhere_moves_the_open_page_within_2s(dash, server):
    page = dash.page
    with httpx.Client(base_url=server, trust_env=False, timeout=30) as c:
        last = page.evaluate("twinDash.ranking.units.at(-1).unit_id")
        assert page.evaluate("twinDash.ranking.units[0].unit_id") != last
        before = page.evaluate("twinDash.updates")
        obs = best_values(c, last)
        t0 = time.monotonic()
        r = c.post("/score/observations", json={"observations": obs, "upsert": True},
                   headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200, r.text
        page.wait_for_function(
            """(id) => document.querySelector('#rank-table tr.unit-row').dataset.unit === id
               && twinDash.ranking.units[0].unit_id === id""", arg=last, timeout=2000)
        took = time.monotonic() - t0
    assert took < 2.0, f"the page took {took:.2f} s"
    assert page.evaluate("twinDash.updates") == before + 1
    assert page.evaluate("twinDash.lastUpdate.data_version") == r.json()["data_version"]
    assert page.locator("#live").inner_text().startswith("●")
    # the map follows too: its colours come from /map/config.json, re-read after the event
    page.wait_for_function("""(id) => { const c = twinDash.config.district_values[id];
        return c && Math.abs(c.score - twinDash.ranking.units[0].score) < 1e-9; }""",
                           arg=last, timeout=5000)
    clean(dash)


def test_a_unit_page_shows_history_forecast_fan_target_and_flags(dash):
    page = dash.page
    uid = page.evaluate("twinDash.ranking.units[3].unit_id")
    page.click(f"#rank-table tr.unit-row[data-unit='{uid}']")
    page.wait_for_function("(id) => twinDash.unit === id && twinDash.rendered > 0 && "
                           "document.querySelectorAll('#unit-charts .series svg').length >= 12",
                           arg=uid, timeout=30_000)
    page.wait_for_timeout(500)
    n_ind = page.evaluate("twinDash.ranking.indicators.length")
    cells = page.locator("#unit-charts .series")
    assert cells.count() == n_ind
    # each chart has the forecast fan (a filled band) where the series can be forecast
    assert page.locator("#unit-charts .series path.js-fill").count() >= n_ind - 2
    meta = page.locator("#unit-charts .series .meta").all_inner_texts()
    assert all("синтетикалық" in m for m in meta)  # every observation here is synthetic
    sw = page.locator("#unit-sw").inner_text()
    assert "Күшті жақтары" in sw and "Әлсіз жақтары" in sw
    clean(dash)
    shot(page, "dashboard-unit.png")
    page.click("#unit-close")
    assert page.locator("#unit").is_hidden()


def test_labels_in_russian_and_english(dash):
    page = dash.page
    page.select_option("#lang", "ru")
    assert page.locator("#title").inner_text() == "Рейтинг региона — ситуационный центр"
    twin_title = page.evaluate("twinDash.config.title")  # the twin names itself, as on /map
    assert page.locator("#twin-title").inner_text() == twin_title
    assert page.title() == f"{twin_title} — Рейтинг региона — ситуационный центр"
    assert page.locator("#left-out").is_hidden()  # every indicator has observations
    names = page.locator("#rank-table .unit-name").all_inner_texts()
    assert "Кокшетау" in names, names
    page.select_option("#lang", "en")
    assert "Kokshetau" in page.locator("#rank-table .unit-name").all_inner_texts()
    assert page.locator("#audit-card h2").inner_text().startswith("Statistical audit")
    assert page.locator("#live").inner_text().startswith("● Updated")
    clean(dash)
    shot(page, "dashboard-en.png")
    if shots := os.environ.get("TWIN_SCREENSHOTS"):
        page.locator("#audit-card").screenshot(path=f"{shots}/dashboard-audit.png")
    page.select_option("#lang", "kk")


def test_dashboard_assets_are_served_from_installed_packages(server):
    import plotly.offline

    with httpx.Client(base_url=server, trust_env=False, timeout=30) as c:
        js = c.get("/dashboard/static/plotly.min.js")
        assert js.status_code == 200 and js.content == plotly.offline.get_plotlyjs().encode()
        assert c.get("/dashboard/static/nope.js").status_code == 404
        assert c.get("/dashboard/", follow_redirects=False).status_code == 308


def test_the_map_page_follows_the_stream_too(browser, server):
    run = open_page(browser, f"{server}/map")
    page = run.page
    try:
        page.wait_for_function("window.twinMap && (twinMap.ready && twinMap.scoreVersion "
                               "|| twinMap.errors.length > 0)", timeout=120_000)
        assert page.evaluate("twinMap.errors") == []
        # Districts only: under SwiftShader a frame with 50,000 parcels takes seconds.
        show_layers(page, {"districts"})
        with httpx.Client(base_url=server, trust_env=False, timeout=30) as c:
            last = c.get("/score").json()["units"][-1]["unit_id"]
            before = page.evaluate("(id) => twinMap.config.color_by.score.color[id]", last)
            r = c.post("/score/observations", json={"observations": best_values(c, last),
                                                    "upsert": True},
                       headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 200, r.text
            now = next(u for u in c.get("/score").json()["units"] if u["unit_id"] == last)
        page.wait_for_function("twinMap.scoreUpdates === 1", timeout=30_000)
        assert page.evaluate("twinMap.scoreVersion") == r.json()["data_version"]
        after = page.evaluate("(id) => twinMap.config.color_by.score.color[id]", last)
        assert after != before  # from the lowest colour class to the highest
        assert page.evaluate("(id) => twinMap.config.district_values[id].score", last) == \
            pytest.approx(now["score"])
        clean(run)
    finally:
        page.close()


def test_map_names_never_overprint_and_most_fit(dash):
    # A city lies inside its district: both names at their centres overprinted each other
    # (Kosshy on Tselinograd district, Kokshetau on Burabay district's).
    page = dash.page
    placed = page.evaluate("twinDash.labels.map((l) => ({text: l.text, box: l.box}))")
    boxes = [p["box"] for p in placed]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and a[2] > b[0] and a[1] < b[3] and a[3] > b[1]), (a, b)
    units = page.evaluate("twinDash.config.district_labels.length")
    assert len(placed) >= 0.8 * units, [p["text"] for p in placed]
    # every city is named (they come first: a district keeps its shape and colour)
    cities = page.evaluate("""twinDash.config.district_labels.filter((l) => l.kind === 'city')
        .map((l) => twinDash.labels.some((p) => p.position[0] === l.lon &&
                                                p.position[1] === l.lat))""")
    assert cities and all(cities), cities
