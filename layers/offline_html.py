"""Single-file HTML for deck views: deck.gl, the font and the data inlined, nothing fetched.

pydeck's own ``to_html`` links deck.gl, CSS and a basemap style from CDNs, which a closed
network cannot reach. These pages inline pydeck's bundled deck.gl and the Latin + Cyrillic
font instead, so a file opens with no server, no internet and no token.
"""

from __future__ import annotations

import html
import json
from functools import lru_cache
from pathlib import Path

import pydeck as pdk

from . import style

__all__ = ["FIT_SIZE", "LABELS_PATH", "MVT_LOADER_PATH", "MVT_LOADER_REF", "TwinDeck",
           "bundle_path", "deck_json", "label_placer", "legend_html", "mvt_loader",
           "page_html", "to_html", "write_html"]


#: Main-thread MVT loader (ours), because the bundle's MVT loader needs a worker from a CDN.
MVT_LOADER_PATH = Path(__file__).parent / "assets" / "mvt-loader.js"
#: The map size (px) a deck's camera is fitted to: a notebook's output. Pages refit it to
#: their own size.
FIT_SIZE = (1000, 560)
#: Greedy label placement (``window.twinPlaceLabels``), shared with the /map page.
LABELS_PATH = Path(__file__).parent / "assets" / "labels.js"
#: How a pydeck layer names that loader: a @deck.gl/json constant the page registers.
MVT_LOADER_REF = "@@#TwinMVTLoader"


def bundle_path() -> Path:
    """The deck.gl bundle pydeck ships (its Jupyter widget build, deck.gl 9.x, MIT licence).

    It defines the global ``deck`` namespace and pydeck's ``createDeck``; both the single-file
    HTML and the ``/map`` page use it, so there is exactly one deck.gl in the project.
    """
    return Path(pdk.__file__).parent / "nbextension" / "static" / "index.js"


@lru_cache(maxsize=1)
def _bundle() -> str:
    return bundle_path().read_text(encoding="utf-8")


def _script_json(obj) -> str:
    # "</" inside a <script> would end it early; "<\/" is the same string to JavaScript.
    return json.dumps(obj, ensure_ascii=False).replace("</", "<\\/")


def _swatch(color) -> str:
    r, g, b = color[:3]
    a = (color[3] / 255) if len(color) > 3 else 1
    return f'<i style="background:rgba({r},{g},{b},{a:.2f})"></i>'


def _synthetic_note(legend: dict, layer: str) -> str:
    # As the /map page's legend: how much of a layer is made up.
    share = (legend.get("synthetic_share") or {}).get(layer, 0.0)
    if share <= 0:
        return ""
    return " — synthetic" if share >= 1 else f" — {max(1, round(share * 100))}% synthetic"


def legend_html(legend: dict) -> str:
    """The legend panel of a single-file map, from ``TwinDeck.legend``."""
    d = legend.get("districts", {})
    rows = [f"<b>Districts: {html.escape(d.get('title', ''))}</b>"
            + (f" <small>({html.escape(d['height'])})</small>" if d.get("height") else "")]
    rows += [f"{_swatch(c['color'])}{html.escape(c['label'])}" for c in d.get("classes", [])]
    if legend.get("sectors"):
        rows.append("<b>Project sites</b>"
                    + (" (height ∝ √investment)" if legend.get("extruded", True) else "")
                    + html.escape(_synthetic_note(legend, "project_sites")))
        cols = "<br/>".join(f"{_swatch(c)}{html.escape(s)}"
                            for s, c in legend["sectors"].items())
        if legend.get("has_pipeline"):
            cols += f"<br/>{_swatch([255, 255, 255, 255])}square, pale: pipeline"
        rows.append(f'<div class="cols">{cols}</div>')
    zones = legend.get("zone_layers", ["protected_areas", "industrial_zones"])
    if zones:
        rows.append("<b>Zones</b>")
    if "protected_areas" in zones:
        rows.append(f"{_swatch(style.BASE['protected'])}protected area")
    if "industrial_zones" in zones:
        rows.append(f"{_swatch(style.BASE['industrial'])}industrial zone")
    if not legend.get("parcels"):
        rows.append("<small>Parcels need the tile server: run <code>twin serve</code> and open "
                    "/map.</small>")
    rows.append(f"<small>{html.escape(legend.get('accuracy_note') or '')}</small>")
    if legend.get("attribution"):
        rows.append("<small>Sources: " + html.escape("; ".join(legend["attribution"]))
                    + "</small>")
    return "".join(f"<div>{r}</div>" for r in rows)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>{title}</title>
<style>
html, body {{ margin: 0; padding: 0; height: 100%; overflow: hidden;
  font-family: {font_family}; background: rgb({bg}); }}
#map {{ position: absolute; inset: 0; }}
#legend {{ position: absolute; right: 10px; bottom: 10px; z-index: 2; max-width: 380px;
  background: rgba(255,255,255,.92); padding: 8px 10px; font-size: 12px; line-height: 1.5;
  border: 1px solid #aaa; border-radius: 4px; max-height: 80vh; overflow: auto; }}
#legend .cols {{ columns: 2; column-gap: 10px; }}
#legend i {{ display: inline-block; width: 12px; height: 12px; margin-right: 6px;
  vertical-align: -2px; border: 1px solid #888; }}
#title {{ position: absolute; left: 10px; top: 10px; z-index: 2; font-size: 15px;
  background: rgba(255,255,255,.92); padding: 6px 10px; border-radius: 4px; }}
</style>
{assets}
</head>
<body>
<div id="map"></div>
<div id="title">{title}</div>
<div id="legend">{legend}</div>
<script>
const tooltip = {tooltip};
// Labels are rasterised into a glyph atlas once; wait for the bundled font, or Cyrillic
// labels would be drawn with whatever fallback the browser had at that moment.
function twinStart(jsonInput) {{
  return document.fonts.load("16px {font_name}", "ӘҒҚҢӨҰҮҺІ").catch(() => null).then(() => {{
    const el = document.getElementById("map");
    twinFit(jsonInput.initialViewState, el);
    window.twinDeck = createDeck({{
      container: el, jsonInput, tooltip,
      customLibraries: null,
      configuration: {{ constants: {{ TwinMVTLoader: window.twinMVTLoader }} }},
    }});
    twinLabels(window.twinDeck);
  }});
}}
// The camera fitted in Python assumed a {fit_w} x {fit_h} map; fit the region again into this
// page's map beside the legend, keeping the tilted view's allowance (layers/deck.py).
function twinFit(v, el) {{
  const f = {fit}, b = f && f.bounds;
  const legend = document.getElementById("legend");
  const w = el.clientWidth, h = el.clientHeight;
  const right = (legend ? legend.offsetWidth : 0) + 30;
  if (!v || !b || w - right < 200 || h < 200) return;
  const fit = new deck.WebMercatorViewport({{ width: w, height: h }}).fitBounds(
    [[b[0], b[1]], [b[2], b[3]]], {{ padding: {{ left: 20, top: 50, bottom: 20, right }} }});
  v.longitude = fit.longitude;
  v.latitude = fit.latitude - f.south;
  v.zoom = Math.min(v.maxZoom || 16, fit.zoom - f.zoom_back);
}}
// Labels that would overlap another are left out, most important first, and placed again
// as the view moves, so zooming in brings the smaller places back (layers/assets/labels.js).
function twinLabels(deck) {{
  const ids = ["district_labels", "settlement_labels"];
  const base = new Map();
  for (const l of deck.props.layers || []) if (ids.includes(l.id)) base.set(l.id, l);
  if (!base.size || !window.twinPlaceLabels) return;
  const candidates = [];
  for (const [id, l] of base) {{
    for (const d of l.props.data) {{
      candidates.push({{ text: d.label, position: [d.lon, d.lat, d.z], size: l.props.getSize,
                        offset: l.props.getPixelOffset, priority: d.priority, row: d }});
    }}
  }}
  let queued = false;
  const place = () => {{
    queued = false;
    const vp = deck.getViewports()[0];
    if (!vp) {{ queue(); return; }}
    const keep = new Set(window.twinPlaceLabels(vp, candidates, {font_family_js})
      .map((c) => c.row));
    window.twinLabels = {{ total: candidates.length, shown: [...keep].map((d) => d.label) }};
    deck.setProps({{ layers: deck.props.layers.map((l) => base.has(l.id)
      ? base.get(l.id).clone({{ data: base.get(l.id).props.data.filter((d) => keep.has(d)) }})
      : l) }});
  }};
  const queue = () => {{ if (!queued) {{ queued = true; requestAnimationFrame(place); }} }};
  deck.setProps({{ onViewStateChange: ({{ viewState }}) => {{ queue(); return viewState; }} }});
  queue();
}}
{start}
</script>
</body>
</html>
"""


def deck_json(deck: pdk.Deck) -> str:
    """The deck's JSON, compact, safe inside a ``<script>``."""
    return _script_json(json.loads(deck.to_json()))


def page_html(deck: pdk.Deck, *, assets: str, start: str) -> str:
    """The map page of a deck around its scripts: ``assets`` goes in the head (deck.gl, the
    MVT loader, the font), ``start`` is the script that calls ``twinStart(json)``."""
    legend = getattr(deck, "legend", {}) or {}
    tooltip = deck._tooltip if isinstance(deck._tooltip, dict) else bool(deck._tooltip)
    return _PAGE.format(
        title=html.escape(getattr(deck, "title", "twin map")),
        font_family=style.FONT_FAMILY,
        font_name=style.FONT_NAME,
        font_family_js=json.dumps(style.FONT_FAMILY),
        fit_w=FIT_SIZE[0], fit_h=FIT_SIZE[1],
        fit=json.dumps(getattr(deck, "fit", None)),
        bg=",".join(map(str, style.BASE["background"])),
        assets=assets,
        start=start,
        legend=legend_html(legend),
        tooltip=_script_json(tooltip),
    )


def mvt_loader() -> str:
    return MVT_LOADER_PATH.read_text(encoding="utf-8")


def label_placer() -> str:
    return LABELS_PATH.read_text(encoding="utf-8")


def to_html(deck: pdk.Deck) -> str:
    """A self-contained HTML page for a deck: no CDN, no basemap, no token.

    The page inlines pydeck's deck.gl bundle (~4 MB) and the Latin + Cyrillic font.
    """
    assets = (f"<style>\n{style.font_face_css()}\n</style>\n<script>{_bundle()}</script>\n"
              f"<script>{mvt_loader()}</script>\n<script>{label_placer()}</script>")
    return page_html(deck, assets=assets, start=f"twinStart({deck_json(deck)});")


def write_html(deck: pdk.Deck, path) -> Path:
    """Write :func:`to_html` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    path.write_text(to_html(deck), encoding="utf-8")
    return path


class TwinDeck(pdk.Deck):
    """A ``pydeck.Deck`` that renders offline.

    pydeck's own HTML pulls deck.gl, CSS and a basemap from CDNs; this subclass inlines the
    bundled deck.gl and font instead: in files (``to_html``) with each page, in notebooks
    (``_repr_html_``, ``show()``) once per notebook (:mod:`layers.notebook`). ``legend``
    holds what the view's colours mean, ``fit`` what the camera shows (the region's box
    and the tilted view's allowance, from layers/deck.py).
    """

    legend: dict
    title: str
    fit: dict  # the region's lon/lat box and tilt allowance, which pages fit the camera to

    def to_html(self, filename=None, *args, as_string: bool = False, **kwargs):
        text = to_html(self)
        if filename:
            Path(filename).write_text(text, encoding="utf-8")
            return str(Path(filename).resolve())
        return text

    def __repr__(self) -> str:
        # pydeck's repr is the whole JSON, which a notebook would store a second time.
        ids = ", ".join(layer.id for layer in self.layers)
        return f"<TwinDeck {getattr(self, 'title', 'twin map')!r}: layers {ids}>"

    def _repr_html_(self):
        from .notebook import notebook_html

        return notebook_html(self)

    def show(self, *, assets: bool | None = None) -> None:
        """Display the map in the running notebook (``to_html``/``write_html`` make a
        file anywhere else). ``assets=True`` ships deck.gl with this map, for front ends
        that keep each output in a frame of its own."""
        from .notebook import show

        show(self, assets=assets)
