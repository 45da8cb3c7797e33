"""Tests of layers/deck.py (pydeck views), layers/style.py, layers/map_config.py,
layers/offline_html.py, the ``twin map`` verb and the /map router (no browser here; the
browser tests live in tests/test_map_browser.py)."""

from __future__ import annotations

import json
import re

import pandas as pd
import pydeck as pdk
import pytest

from layers import style
from layers.deck import (
    COLUMN_MAX_ELEVATION,
    DISTRICT_MAX_ELEVATION,
    district_values,
    extent_m,
    twin_deck,
)
from layers.map_config import map_config
from layers.offline_html import MVT_LOADER_PATH, bundle_path, to_html

KAZAKH = "ӘҒҚҢӨҰҮҺІәғқңөұүһі"
PARCELS_URL = "http://127.0.0.1:8000/tiles/parcels/{z}/{x}/{y}.mvt"


def _json(deck) -> dict:
    return json.loads(deck.to_json())


def _layer(deck_json: dict, layer_id: str) -> dict:
    return next(lay for lay in deck_json["layers"] if lay["id"] == layer_id)


def _with_pipeline(tw):
    sites = tw["project_sites"].copy()
    sites.loc[sites["id"] == "p1", "status"] = "pipeline"
    tw.add_layer("project_sites", sites)
    return tw


# ----------------------------------------------------------------------------- the view


def test_twin_deck_is_a_pydeck_deck_without_basemap(small_twin):
    deck = twin_deck(small_twin)
    assert isinstance(deck, pdk.Deck)
    j = _json(deck)
    # No basemap provider, no style URL, no token: our own layers are the basemap.
    assert "mapStyle" not in j and "mapProvider" not in j
    assert not re.search(r"https?://", deck.to_json())
    ids = [lay["id"] for lay in j["layers"]]
    assert ids[:2] == ["region", "districts"]
    for want in ["protected_areas", "industrial_zones", "project_sites", "settlements",
                 "settlement_labels", "district_labels"]:
        assert want in ids
    assert j["initialViewState"]["pitch"] == 45


def test_map_method_returns_the_same_view(small_twin):
    deck = small_twin.map(color_by="jobs")
    assert isinstance(deck, pdk.Deck)
    assert deck.legend["districts"]["title"].startswith("Jobs")
    # Both of the small twin's project sites are synthetic, and the legend says so.
    assert deck.legend["districts"]["title"].endswith("all synthetic)")


def test_district_aggregates_by_hand(small_twin):
    agg = district_values(small_twin)
    # tests/common.py: Westtown 5,000 in west, Easttown 1,200 in east; p1 1 bn in east.
    assert agg.loc["west", "population"] == 5000
    assert agg.loc["east", "population"] == 1200
    assert agg.loc["east", "investment_kzt"] == 1_000_000_000
    assert agg.loc["west", "jobs"] == 50
    assert agg.loc["east", "synthetic_projects"] == 1


def test_districts_coloured_and_extruded_by_value(small_twin):
    j = _json(twin_deck(small_twin, color_by="population"))
    feats = {f["properties"]["id"]: f["properties"] for f in _layer(j, "districts")["data"]
             ["features"]}
    top = DISTRICT_MAX_ELEVATION * extent_m(small_twin)
    assert feats["west"]["tw_elev"] == pytest.approx(top)
    assert feats["east"]["tw_elev"] == pytest.approx(top * 1200 / 5000)
    assert feats["west"]["tw_fill"] != feats["east"]["tw_fill"]
    assert _layer(j, "districts")["extruded"] is True


def test_flat_view_has_no_heights(small_twin):
    j = _json(twin_deck(small_twin, extruded=False))
    assert j["initialViewState"]["pitch"] == 0
    assert all(f["properties"]["tw_elev"] == 0
               for f in _layer(j, "districts")["data"]["features"])


def test_color_by_a_series_such_as_a_score(small_twin):
    score = pd.Series({"west": 0.2, "east": 0.9}, name="score")
    deck = twin_deck(small_twin, color_by=score)
    assert deck.legend["districts"]["title"] == "score"
    with pytest.raises(ValueError, match="color_by"):
        twin_deck(small_twin, color_by="happiness")


def test_project_columns_height_by_investment_and_pipeline_styled_apart(small_twin):
    j = _json(twin_deck(_with_pipeline(small_twin)))
    built, pipe = _layer(j, "project_sites"), _layer(j, "pipeline_projects")
    assert [r["name"] for r in built["data"]] == ["Farm"]
    assert [r["name"] for r in pipe["data"]] == ["Plant"]
    # Plant holds the largest investment, so it has the full height; sqrt scale for Farm.
    ext = extent_m(small_twin)
    assert pipe["data"][0]["elev"] == pytest.approx(COLUMN_MAX_ELEVATION * ext)
    assert built["data"][0]["elev"] == pytest.approx(COLUMN_MAX_ELEVATION * ext * 0.5 ** 0.5)
    assert pipe["diskResolution"] == 4 and built["diskResolution"] == 12
    assert pipe["wireframe"] is True
    # Columns stand on the extruded district they belong to.
    west = next(f["properties"]["tw_elev"] for f in _layer(j, "districts")["data"]["features"]
                if f["properties"]["id"] == "west")
    assert built["data"][0]["z"] > west
    assert "pipeline" in pipe["data"][0]["tw_tip"]


def test_sector_colours_are_stable_and_known_first():
    a = style.categorical_colors(["zinc", "agriculture", "energy (wind)"], style.SECTOR_COLORS)
    b = style.categorical_colors(["energy (wind)", "zinc", "agriculture"], style.SECTOR_COLORS)
    assert a == b
    assert a["agriculture"] == style.SECTOR_COLORS["agriculture"]
    assert a["energy (wind)"] == style.SECTOR_COLORS["energy_wind"]


def test_parcels_never_inlined(small_twin):
    text = twin_deck(small_twin).to_json()
    assert "parcels" not in [lay["id"] for lay in json.loads(text)["layers"]]
    assert "land_use" not in text
    j = _json(twin_deck(small_twin, parcels_url=PARCELS_URL))
    mvt = _layer(j, "parcels")
    assert mvt["@@type"] == "MVTLayer"
    assert mvt["data"] == PARCELS_URL
    # loaders.gl must not fetch its worker from a CDN: our main-thread loader parses tiles.
    assert mvt["loadOptions"] == {"worker": False}
    assert mvt["loaders"] == ["@@#TwinMVTLoader"] and mvt["binary"] is False
    assert "land_use" in mvt["getFillColor"]


@pytest.mark.parametrize("layer_id", ["settlement_labels", "district_labels"])
def test_labels_cover_cyrillic_and_kazakh(small_twin, layer_id):
    lay = _layer(_json(twin_deck(small_twin, lang="kk")), layer_id)
    assert lay["@@type"] == "TextLayer"
    assert set(KAZAKH) <= set(lay["characterSet"])
    assert lay["fontFamily"].startswith(style.FONT_NAME)
    texts = [r["label"] for r in lay["data"]]
    assert all(set(t) <= set(lay["characterSet"]) for t in texts)


def test_label_languages_fall_back(small_twin):
    j = _json(twin_deck(small_twin, lang="kk"))
    assert {r["label"] for r in _layer(j, "district_labels")["data"]} == {"Батыс", "Шығыс"}
    # Settlements have no Kazakh or Russian names in the small twin: the name stands in.
    assert {r["label"] for r in _layer(j, "settlement_labels")["data"]} == {"Westtown",
                                                                           "Easttown"}
    with pytest.raises(ValueError, match="label language"):
        twin_deck(small_twin, lang="fr")


def test_bundled_font_has_every_kazakh_letter():
    ttlib = pytest.importorskip("fontTools.ttLib")
    cmap = ttlib.TTFont(style.FONT_PATH).getBestCmap()
    missing = [c for c in style.CHARACTER_SET if c.strip() and ord(c) not in cmap
               and ord(c) not in (0xA0, 0xAD)]
    assert not missing, missing
    assert (style.FONT_PATH.parent / "OFL.txt").exists()


def test_every_tooltip_says_how_real_the_row_is(small_twin):
    s = small_twin["settlements"].copy()
    s.loc[s["id"] == "s1", ["accuracy", "synthetic"]] = ["real", False]
    small_twin.add_layer("settlements", s)
    j = _json(twin_deck(small_twin))
    tips = [f["properties"]["tw_tip"] for lay in j["layers"] if lay["@@type"] == "GeoJsonLayer"
            and lay.get("pickable") and isinstance(lay["data"], dict)
            for f in lay["data"]["features"]]
    tips += [r["tw_tip"] for lay in j["layers"] if isinstance(lay.get("data"), list)
             and lay.get("pickable") for r in lay["data"]]
    assert len(tips) >= 6
    for t in tips:
        assert "data: " in t and any(w in t for w in ("real —", "approximate —", "synthetic —"))
    town = {r["label"]: r["tw_tip"] for r in _layer(j, "settlements")["data"]}
    assert "real — taken from a cited source" in town["Westtown"]
    assert "synthetic — made up" in town["Easttown"]
    assert j["layers"] and twin_deck(small_twin)._tooltip["html"] == "{tw_tip}"


def test_accuracy_label_never_guesses_real():
    # a synthetic flag wins over the accuracy column (tests/test_style.py has the rest)
    assert style.accuracy_label("approximate", True) == "synthetic"
    assert style.accuracy_label(None, True) == "synthetic"
    assert style.accuracy_label(None, False) == "real"
    assert style.accuracy_label(None, None) == "unknown"


def test_quantile_classes_and_legend():
    colors, legend = style.sequential_classes(pd.Series([1.0, 2.0, None, 10.0]))
    assert legend[-1]["label"] == "no data"
    assert colors.iloc[2] == style.NO_DATA + [200]
    assert colors.iloc[0] != colors.iloc[3]


# ----------------------------------------------------------------------------- HTML


def test_html_is_self_contained(small_twin, tmp_path):
    text = to_html(twin_deck(small_twin))
    bundle = bundle_path().read_text(encoding="utf-8")
    assert bundle in text
    # Our page around the bundle loads nothing from elsewhere (the browser test checks that
    # the bundle does not either): no src/href to any URL, no stylesheet link.
    ours = text.replace(bundle, "").replace(MVT_LOADER_PATH.read_text(encoding="utf-8"), "")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", ours)
    assert not re.search(r"https?://", ours)
    assert "<link" not in ours
    assert "createDeck(" in ours and "data:font/ttf;base64," in ours
    assert "TwinMVTLoader: window.twinMVTLoader" in ours
    # The data block cannot close its script early.
    data = text[text.index("twinStart({"):]
    assert "</script>" not in data[: data.index("\n")]


def test_notebook_repr_is_offline(small_twin):
    import base64
    import gzip
    import html

    from layers.notebook import notebook_html

    deck = small_twin.map()
    cell = notebook_html(deck, assets=True)
    shared, frame = cell[:cell.index("<iframe")], cell[cell.index("<iframe"):]
    assert frame.startswith("<iframe srcdoc=")
    # The notebook gets the offline page, not pydeck's CDN-linked one, and nothing fetched.
    for part in (shared, html.unescape(frame)):
        assert "<script src=" not in part and "<link" not in part
        assert not re.search(r"https?://", part)
    # The shared part carries the very bundle, loader and font the single-file page inlines.
    b64 = re.search(r'const b64 = "([A-Za-z0-9+/=]+)"', shared).group(1)
    assets = json.loads(gzip.decompress(base64.b64decode(b64)))
    page = to_html(deck)
    assert assets["bundle"] in page and assets["mvt_loader"] in page
    assert assets["font_face"] in page


def test_cli_map_writes_a_file(small_twin, tmp_path, capsys):
    from twin.cli import main

    path = small_twin.save(tmp_path / "small.gpkg")
    out = tmp_path / "map.html"
    assert main(["map", "--twin", str(path), "--out", str(out), "--labels", "ru",
                 "--color-by", "investment_kzt"]) == 0
    text = out.read_text(encoding="utf-8")
    assert "Западный" in text and "Investment" in text
    assert "opens offline" in capsys.readouterr().out
    assert main(["map", "--twin", str(path), "--out", str(out), "--color-by", "x"]) == 1


# ----------------------------------------------------------------------------- /map


def test_map_config_matches_the_python_view(small_twin):
    cfg = map_config(small_twin, parcel_zooms=(5, 16))
    deck = _json(twin_deck(small_twin))
    py = {f["properties"]["id"]: f["properties"]["tw_fill"]
          for f in _layer(deck, "districts")["data"]["features"]}
    assert cfg["color_by"]["population"]["color"] == py
    assert cfg["parcels"] == {"tiles": "tiles/parcels/{z}/{x}/{y}.mvt", "minzoom": 5,
                              "maxzoom": 16}
    assert cfg["land_uses"] == ["agricultural", "industrial", "residential"]
    assert set(KAZAKH) <= set(cfg["style"]["character_set"])
    json.dumps(cfg)  # JSON-ready, no numpy scalars


@pytest.fixture
def client(small_twin):
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(twin=small_twin)) as c:
        yield c


def test_map_page_and_assets_are_served_locally(client):
    page = client.get("/map")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    refs = re.findall(r"""(?:src|href)="([^"]+)\"""", page.text)
    assert refs and not [r for r in refs if re.match(r"(https?:)?//", r)]
    for ref in refs:
        if ref.startswith("data:"):
            continue
        r = client.get("/" + ref)
        assert r.status_code == 200 and r.content, ref
    assert client.get("/map/static/twin-sans.ttf").headers["content-type"] == "font/ttf"
    js = client.get("/map/static/map.js").text
    assert not re.search(r"https?://", js)


def test_map_config_endpoint(client):
    cfg = client.get("/map/config.json").json()
    assert cfg["name"] == "small"
    assert set(cfg["district_values"]) == {"west", "east"}
    assert cfg["parcels"]["tiles"].endswith(".mvt")


def test_map_assets_are_an_allow_list(client):
    for bad in ["/map/static/app.py", "/map/static/..%2F..%2Fapp.py", "/map/static/index.html"]:
        r = client.get(bad)
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
    assert client.get("/map/", follow_redirects=False).status_code == 308


# ----------------------------------------------------------------------------- default twin


def test_default_twin_is_coloured_by_its_score_and_says_it_is_synthetic(default_twin):
    deck = twin_deck(default_twin)
    title = deck.legend["districts"]["title"]
    assert title.startswith("Region score") and "synthetic" in title
    j = _json(deck)
    tips = [f["properties"]["tw_tip"] for f in _layer(j, "districts")["data"]["features"]]
    assert len(tips) == len(default_twin["districts"])
    assert all("score from observations 100% synthetic" in t for t in tips)
    # District cells are approximate in the default twin; every tooltip says so.
    assert all("approximate —" in t for t in tips)
    cfg = map_config(default_twin)
    assert cfg["default_color_by"] == "score"
    assert "synthetic" in cfg["color_by"]["score"]["title"]
    # Investment, jobs and project counts sum mostly synthetic project rows: their legends
    # say how many, as the score's does (they once read as plain sums of real projects).
    p = default_twin["project_sites"]
    note = f"{int(p['synthetic'].sum())} of {len(p)} project rows synthetic"
    for key in ("investment_kzt", "jobs", "projects"):
        assert note in cfg["color_by"][key]["title"], cfg["color_by"][key]["title"]
        assert note in twin_deck(default_twin, color_by=key).legend["districts"]["title"]
    assert "synthetic" not in cfg["color_by"]["population"]["title"]
    # Layer legends say how much of each layer is made up.
    assert cfg["synthetic_share"]["parcels"] == 1.0
    assert cfg["synthetic_share"]["project_sites"] == pytest.approx(
        p["synthetic"].mean())
    assert cfg["synthetic_share"]["settlements"] == 0.0
    from layers.offline_html import legend_html

    pct = round(100 * p["synthetic"].mean())
    assert f"(height ∝ √investment) — {pct}% synthetic" in legend_html(
        twin_deck(default_twin).legend)
    json.dumps(cfg)


# ----------------------------------------------------------------------------- scenarios


def test_scenario_site_tooltips_say_how_real_the_site_is(small_twin):
    from layers.scenario_deck import PLANNED, scenario_deck
    from tests.common import point_lonlat
    from twin.scenario import Scenario

    p = point_lonlat(5_300, 5_000)
    s = (Scenario(small_twin, "s").move_project("p1", p.x, p.y)
         .add_project("n1", p.x, p.y, "agriculture").remove_project("p2"))
    j = _json(scenario_deck(s))
    tips = {r["change"]: r["tw_tip"] for r in _layer(j, "scenario_sites")["data"]}
    assert set(tips) == {"moved", "added", "removed"}
    # Both baseline sites of the small twin are synthetic: moving or removing one does not
    # make its jobs and investment real (the tooltips once said nothing about it).
    synthetic = style.ACCURACY_TEXT["synthetic"]
    assert f"data: {synthetic}" in tips["moved"] and f"data: {synthetic}" in tips["removed"]
    assert f"data: {PLANNED}" in tips["added"] and "real —" not in tips["added"]
