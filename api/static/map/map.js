// The planner's map: deck.gl (pydeck's bundle, global `deck`) over the twin's own layers.
//
// Features come from OGC API Features (/collections/{id}/items), parcels from our vector
// tiles, colours and district figures from /map/config.json (computed by layers.map_config
// and layers.style, so this page and `twin map` agree), findings and sanitary zones from
// /plan, suggestions from /map/search. Nothing is fetched from outside this server but the
// PMTiles archive of parcels that the server's settings may name (draw.js, openArchive).
//
// Modules: i18n (words), format (numbers), draw (layers), labels (placement), identify
// (the feature panel), legend, scenario, search, controls (URL, zoom, filters, export).
import { buildFilters, bannerText, composePNG, readURL, scaleBar, showCount, urlOf }
  from "./controls.js";
import { WATER, buildLayers, filtered, openArchive, parcelTheme } from "./draw.js";
import { LANGS, layerName, t } from "./i18n.js";
import { IdentifyPanel, hoverTip } from "./identify.js";
import { colouringTitle, renderLegend } from "./legend.js";
import { Scenarios } from "./scenario.js";
import { Search } from "./search.js";

/* global deck */

// The page lives at <base>map; every URL is built from <base>, so a reverse proxy that
// mounts the API under a prefix keeps working.
const BASE = location.pathname.replace(/map\/?$/, "");
const $ = (id) => document.getElementById(id);

// What tests and a console can read: readiness, errors, tiles seen, the deck.
const tm = (window.twinMap = {
  ready: false, errors: [], tilesLoaded: 0, parcelViews: 0, scenarioTiles: 0, deck: null, data: {},
  config: null, labels: [],
});

// Layer switcher entries: a twin layer, or a page-made one (labels, pipeline, plan outputs).
const SWITCHES = ["districts", "parcels", "project_sites", "pipeline", "findings",
                  "sanitary_zones", "settlements", "labels", "protected_areas",
                  "industrial_zones", "water"];

const state = {
  threeD: false, colorBy: "population", lang: "kk", scenario: null, compare: "overlay",
  selected: null,
  visible: Object.fromEntries(SWITCHES.map((k) => [k, k !== "sanitary_zones"])),
  filters: { sectors: null, statuses: null, hazard: null, year: null },
};

const ctx = {
  tm, state, data: tm.data, memo: {}, cfg: null, deck: null,
  view: { longitude: 0, latitude: 0, zoom: 1, pitch: 0, bearing: 0 },
  url: (p) => BASE + p,
  absolute: (p) => location.origin + BASE + p,
  async getJSON(path) {
    const r = await fetch(path, { headers: { Accept: "application/geo+json, application/json" } });
    if (!r.ok) {
      const body = await r.json().catch(() => null);
      throw new Error(`${path}: HTTP ${r.status}${body && body.detail ? ` — ${body.detail}` : ""}`);
    }
    return r.json();
  },
  // An error is never silent: it is listed on screen and in twinMap.errors.
  fail(kind, err) {
    const msg = `${kind}: ${String(err && err.message || err)}`;
    tm.errors.push(msg);
    const box = $("alerts");
    if (![...box.children].some((li) => li.textContent === msg)) {
      const li = document.createElement("li");
      li.textContent = msg;
      box.appendChild(li);
    }
    box.hidden = false;
    status(t("error", state.lang));
    console.warn(msg);
  },
  filterKey() {
    const f = state.filters;
    return [f.sectors, f.statuses, f.hazard].map((s) => (s ? [...s].sort().join("|") : "*"))
      .join("/") + "/" + f.year;
  },
  shownSites: () => filtered(ctx, "project_sites").length,
  parcelTheme: () => parcelTheme(ctx),
  coloring() {
    let key = state.colorBy;
    if (key.startsWith("scenario:")) {
      const c = scenarios && scenarios.colorings()[key];
      if (c) return c;
      key = ctx.cfg.default_color_by;  // until the evaluation arrives (a shared link)
    }
    const cb = ctx.cfg.color_by[key];
    return { key, unit: cb.unit, relative: cb.relative_height, color: cb.color,
             height: cb.height, min: cb.min, max: cb.max, legend: cb.legend,
             title: colouringTitle(ctx, key) };
  },
  // The (left) view as drawn, for label placement and fitting.
  viewport() {
    const el = $("map-canvas");
    const side = state.compare === "side" && state.scenario;
    const v = side ? viewStateProp().main : ctx.view;
    return new deck.WebMercatorViewport({ ...v, width: el.clientWidth * (side ? 0.5 : 1),
                                          height: el.clientHeight });
  },
  extraLayers: () => scenarios.layers(),
  scenarioLegend: () => scenarios.legend(),
  refreshColorOptions: () => fillColorOptions(),
  setViews: () => setViews(),
  render: () => render(),
  flyTo: (f, maxZoom) => flyTo(f, maxZoom),
  goTo: (s) => goTo(s),
  focusMap: () => $("map-canvas").focus(),
};

// The status line keeps its key, so it follows a change of language.
let statusKey = "loading";
const status = (text, key = null) => {
  statusKey = key;
  $("status").textContent = text;
};
let scenarios, identify;

// ------------------------------------------------------------------ rendering
let urlTimer = null;
function render() {
  if (!tm.deck) return;
  tm.deck.setProps({ layers: buildLayers(ctx) });
  renderLegend(ctx, $("legend-body"));
  showCount(ctx, $("filters"));
  clearTimeout(urlTimer);
  urlTimer = setTimeout(() => history.replaceState(null, "", urlOf(ctx)), 200);
}

function updateScale() {
  const bar = scaleBar(ctx.view, state.lang);
  $("scale-bar").style.width = `${Math.round(bar.px)}px`;
  $("scale-text").textContent = bar.text;
}

// Side by side, each view centres the same place in the part of it the panels leave free:
// the left view right of the control panel, the right view left of the right column.
function viewStateProp() {
  if (!(state.compare === "side" && state.scenario)) return ctx.view;
  const w = $("map-canvas").clientWidth;
  const left = document.body.classList.contains("collapsed") ? 0
    : Math.min(w / 4, $("panel").getBoundingClientRect().right);
  const right = Math.min(w / 4, w - $("right").getBoundingClientRect().left);
  const { transitionDuration, transitionInterpolator, ...v } = ctx.view;
  const moving = transitionDuration ? { transitionDuration, transitionInterpolator } : {};
  return { main: { ...v, ...moving, padding: { left, right: 0, top: 0, bottom: 0 } },
           scenario: { ...v, ...moving, padding: { left: 0, right, top: 0, bottom: 0 } } };
}

function setViews() {
  const side = state.compare === "side" && state.scenario;
  document.body.classList.toggle("side-by-side", Boolean(side));
  const views = side
    ? [new deck.MapView({ id: "main", x: 0, width: "50%", repeat: false, controller: true }),
       new deck.MapView({ id: "scenario", x: "50%", width: "50%", repeat: false,
                          controller: true })]
    : [new deck.MapView({ id: "main", repeat: false, controller: true })];
  $("side-scenario").textContent = side && scenarios.current ? scenarios.current.name : "";
  tm.deck.setProps({
    views, viewState: viewStateProp(),
    // Side by side: the baseline on the left, the scenario's changes only on the right.
    layerFilter: side ? ({ layer, viewport }) => viewport.id !== "main" ||
      !layer.id.startsWith("scenario-") : null,
  });
}

let settle = null;
function onView(view) {
  const before = parcelTheme(ctx), zoomBefore = Math.round(ctx.view.zoom * 2);
  ctx.view = { ...view };
  tm.viewState = ctx.view;
  tm.deck.setProps({ viewState: viewStateProp() });
  updateScale();
  // Themes switch at once; labels are placed again when the view rests (each placement
  // measures a few dozen labels; doing it every frame would only slow panning).
  clearTimeout(settle);
  if (parcelTheme(ctx) !== before) render();
  else settle = setTimeout(render, Math.round(ctx.view.zoom * 2) !== zoomBefore ? 60 : 160);
}

function flyTo(f, maxZoom = 11) {
  const xs = [], ys = [];
  const walk = (c) => (typeof c[0] === "number" ? (xs.push(c[0]), ys.push(c[1]))
                                                : c.forEach(walk));
  walk(f.geometry.coordinates);
  flyToBounds([Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)], maxZoom);
}

function flyToBounds(b, maxZoom = 11) {
  const vp = ctx.viewport();
  const fit = b[2] - b[0] < 1e-6 ? { longitude: b[0], latitude: b[1], zoom: maxZoom }
    : vp.fitBounds([[b[0], b[1]], [b[2], b[3]]], { padding: 40 });
  ctx.view = { ...ctx.view, longitude: fit.longitude, latitude: fit.latitude,
               zoom: Math.min(fit.zoom, maxZoom), transitionDuration: 800,
               transitionInterpolator: new deck.FlyToInterpolator() };
  tm.deck.setProps({ viewState: viewStateProp() });
}

function goTo(s) {
  const fc = tm.data[s.layer];
  const f = fc && fc.features.find((x) => String(x.properties.id) === String(s.id));
  if (f) identify.open([{ layer: s.layer, properties: f.properties, object: f }], false);
  if (s.bbox) flyToBounds(s.bbox, 11);
  else flyToBounds([s.lon, s.lat, s.lon, s.lat], s.kind === "project" ? 12 : 11);
}

function zoomBy(dz) {
  ctx.view = { ...ctx.view, zoom: Math.max(ctx.cfg.view.minZoom ?? 0,
                                           Math.min(ctx.cfg.view.maxZoom ?? 20, ctx.view.zoom + dz)),
               transitionDuration: 300 };
  tm.deck.setProps({ viewState: viewStateProp() });
}

// The whole region, fitted where the panels leave room: beside the right column, or above
// the legend when the column holds only the legend; whichever shows it larger.
function home() {
  const b = ctx.cfg.bounds;
  const el = $("map-canvas");
  const w = el.clientWidth, h = el.clientHeight;
  const box = (id) => $(id).getBoundingClientRect();
  const top0 = el.getBoundingClientRect().top;
  const left = Math.min(w / 3, document.body.classList.contains("collapsed") ? 60
    : box("panel").right + 10);
  const tools = box("tools").bottom - top0 + 10;
  // Above the sources' line (and the scale bar under it).
  const attr = $("attribution");
  const bottom = attr.textContent ? Math.min(h / 3, h - (box("attribution").top - top0) + 6) : 30;
  const beside = { left, right: Math.min(w / 3, w - box("right").left + 10), top: tools,
                   bottom };
  const onlyLegend = $("identify").hidden && $("evaluation").hidden;
  const above = { left, right: 20, top: tools,
                  bottom: Math.min(h / 2, h - (box("legend").top - top0) + 10) };
  const vp = new deck.WebMercatorViewport({ width: w, height: h });
  const fits = [beside, ...(onlyLegend ? [above] : [])].map((padding) => {
    try { return vp.fitBounds([b.slice(0, 2), b.slice(2, 4)], { padding }); } catch (e) {
      return null;
    }
  }).filter(Boolean);
  const fit = fits.reduce((a, c) => (c.zoom > a.zoom ? c : a));
  return { longitude: fit.longitude, latitude: fit.latitude, zoom: fit.zoom,
           pitch: state.threeD ? 45 : 0, bearing: state.threeD ? -12 : 0,
           minZoom: ctx.cfg.view.minZoom, maxZoom: ctx.cfg.view.maxZoom };
}

// ------------------------------------------------------------------ exporting
function exportPNG() {
  return new Promise((resolve) => {
    tm.onRendered = () => {
      tm.onRendered = null;
      const png = composePNG(ctx, $("map-canvas"));
      png.toBlob((blob) => {
        const a = document.createElement("a");
        a.href = URL.createObjectURL(blob);
        a.download = `${ctx.cfg.name}-map.png`;
        document.body.appendChild(a);
        a.click();
        a.remove();
        status(t("export_done", state.lang, { file: a.download }));
        resolve({ width: png.width, height: png.height, bytes: blob.size });
      }, "image/png");
    };
    tm.deck.redraw("export");
  });
}
tm.exportPNG = exportPNG;
tm.shownSites = () => ctx.shownSites();
tm.parcelTheme = () => ctx.parcelTheme();
// Move the camera at once (what a shared link does; tests use it too).
tm.goToView = (v) => {
  ctx.view = { ...ctx.view, ...v, transitionDuration: 0 };
  tm.viewState = ctx.view;
  tm.deck.setProps({ viewState: viewStateProp() });
  updateScale();
  render();
};

// ------------------------------------------------------------------ the page's words
function fillColorOptions() {
  const sel = $("color-by");
  const lang = state.lang;
  sel.innerHTML = "";
  for (const k of Object.keys(ctx.cfg.color_by)) sel.add(new Option(colouringTitle(ctx, k), k));
  const extra = scenarios ? scenarios.colorings() : {};
  if (Object.keys(extra).length) {
    const g = document.createElement("optgroup");
    g.label = `${t("scenario", lang)}: ${scenarios.current.name}`;
    for (const [k, c] of Object.entries(extra)) g.appendChild(new Option(c.title, k));
    sel.appendChild(g);
  }
  sel.value = state.colorBy;
}

function applyLanguage() {
  const lang = state.lang, cfg = ctx.cfg;
  document.documentElement.lang = lang;
  document.title = `${cfg.title} — ${t("title", lang)}`;
  $("title").textContent = cfg.title;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t, lang);
  for (const el of document.querySelectorAll("[data-t-label]")) {
    el.setAttribute("aria-label", t(el.dataset.tLabel, lang));
    el.title = t(el.dataset.tLabel, lang);
  }
  $("search").placeholder = t("search_ph", lang);
  $("attribution").title = t("sources", lang);
  if (statusKey) $("status").textContent = t(statusKey, lang);
  $("map-canvas").setAttribute("aria-label", t("map_label", lang, { name: cfg.title }));
  const banner = bannerText(ctx);
  $("banner-text").textContent = banner;
  if (!banner) $("banner").hidden = true;
  for (const box of document.querySelectorAll("#layers label")) {
    box.querySelector("span").textContent = layerName(box.dataset.layer, lang);
  }
  const comp = $("compare");
  for (const o of comp.options) o.textContent = t(`compare_${o.value}`, lang);
  $("scenario").options[0].textContent = t("baseline", lang);
  $("side-base").textContent = t("side_left", lang);
  fillColorOptions();
  buildFilters(ctx, $("filters"), onFilter);
  updateScale();
  identify.refresh();
  scenarios.renderPanel();
}

function onFilter() {
  render();
}

function setupControls(restoredLayers) {
  const cfg = ctx.cfg;
  const lang = $("lang");
  for (const [k, l] of Object.entries(LANGS)) lang.add(new Option(l.name, k));
  lang.value = state.lang;
  lang.addEventListener("change", () => { state.lang = lang.value; applyLanguage(); render(); });

  const sel = $("color-by");
  sel.addEventListener("change", () => { state.colorBy = sel.value; render(); });
  tm.search = new Search(ctx, { form: $("search-form"), input: $("search"),
                                list: $("suggestions"), status: $("search-status") });

  const box = $("layers");
  const have = (k) => ({ parcels: Boolean(cfg.parcels), labels: true, pipeline:
    cfg.layers.includes("project_sites"), findings: Boolean(cfg.plan),
                         sanitary_zones: Boolean(cfg.plan),
                         water: WATER.some((w) => cfg.layers.includes(w)) }[k]
                        ?? cfg.layers.includes(k));
  if (restoredLayers) for (const k of SWITCHES) state.visible[k] = restoredLayers.includes(k);
  for (const k of SWITCHES) {
    if (!have(k)) { state.visible[k] = false; continue; }
    const label = document.createElement("label");
    label.dataset.layer = k;
    label.innerHTML = `<input type="checkbox" data-layer="${k}" ${
      state.visible[k] ? "checked" : ""}/> <span></span>`;
    label.querySelector("input").addEventListener("change", (e) => {
      state.visible[k] = e.target.checked;
      if (["findings", "sanitary_zones"].includes(k) && e.target.checked) loadPlan().then(render);
      render();
    });
    box.appendChild(label);
  }

  const b3 = $("toggle-3d");
  const set3d = (on) => {
    state.threeD = on;
    b3.setAttribute("aria-pressed", String(on));
    ctx.view = { ...ctx.view, pitch: on ? 45 : 0, bearing: on ? -12 : 0, transitionDuration: 600 };
    tm.deck.setProps({ viewState: viewStateProp() });
    render();
  };
  b3.addEventListener("click", () => set3d(!state.threeD));
  b3.setAttribute("aria-pressed", String(state.threeD));
  tm.set3d = set3d;

  $("zoom-in").addEventListener("click", () => zoomBy(1));
  $("zoom-out").addEventListener("click", () => zoomBy(-1));
  $("zoom-home").addEventListener("click", () => {
    ctx.view = { ...home(), transitionDuration: 600 };
    tm.deck.setProps({ viewState: viewStateProp() });
  });
  $("north").addEventListener("click", () => {
    ctx.view = { ...ctx.view, bearing: 0, pitch: state.threeD ? 45 : 0, transitionDuration: 400 };
    tm.deck.setProps({ viewState: viewStateProp() });
  });
  $("export").addEventListener("click", () => exportPNG());
  $("collapse").addEventListener("click", () => {
    const collapsed = document.body.classList.toggle("collapsed");
    $("collapse").setAttribute("aria-expanded", String(!collapsed));
    $("collapse").dataset.tLabel = collapsed ? "expand" : "collapse";
    $("collapse").setAttribute("aria-label", t(collapsed ? "expand" : "collapse", state.lang));
  });
  $("banner-close").addEventListener("click", () => { $("banner").hidden = true; });

  // A click or a tap identifies. The DOM's click rather than deck.gl's: deck's tap
  // recogniser times the press after its own pointer-down picking pass, which under
  // software WebGL takes longer than a tap, so slow machines lost every click. A press that
  // moved (a pan) is not a click.
  let down = null;
  const canvas = $("map-canvas");
  canvas.addEventListener("pointerdown", (e) => { down = [e.clientX, e.clientY]; });
  canvas.addEventListener("click", (e) => {
    if (down && Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 6) return;
    const r = canvas.getBoundingClientRect();
    identify.at(e.clientX - r.left, e.clientY - r.top);
  });

  // The skip link lands on the map with its focus ring shown (a fragment jump alone does
  // not count as keyboard focus).
  document.querySelector(".skip").addEventListener("click", (e) => {
    e.preventDefault();
    canvas.focus({ focusVisible: true });
  });

  // The map from the keyboard: deck's controller pans and zooms with the arrows and +/-;
  // Enter lists the features under the crosshair at the centre of the (left) view.
  $("map-canvas").addEventListener("keydown", (e) => {
    if (e.key !== "Enter" && e.key !== " ") return;
    e.preventDefault();
    const vp = ctx.viewport();
    identify.at(vp.width / 2, vp.height / 2);
  });
}

// The plan's outputs load when first shown: findings need the compliance check.
let planLoading = null;
function loadPlan() {
  const cfg = ctx.cfg;
  if (!cfg.plan) return Promise.resolve();
  if (!planLoading) {
    planLoading = Promise.all(Object.entries(cfg.plan).map(async ([id, path]) => {
      try {
        tm.data[id] = await ctx.getJSON(ctx.url(path));
      } catch (e) {
        ctx.fail(id, e);
      }
    }));
  }
  return planLoading;
}

// Follow OGC `next` links, so a layer larger than one page still arrives whole.
async function fetchAll(id) {
  let next = ctx.url(`collections/${id}/items?limit=1000`);
  const features = [];
  while (next) {
    const fc = await ctx.getJSON(next);
    features.push(...fc.features);
    const link = (fc.links || []).find((l) => l.rel === "next");
    next = link && fc.features.length ? link.href : null;
  }
  return { type: "FeatureCollection", features };
}

// ------------------------------------------------------------------ start
async function start() {
  const params = new URLSearchParams(location.search);
  const cfg = (ctx.cfg = tm.config = await ctx.getJSON(ctx.url("map/config.json")));
  // The sources the twin's own data says to credit (its licences ask for it on the map).
  // Two lines of them; a click (or Enter) shows all.
  const attr = $("attribution");
  attr.textContent = (cfg.attribution || []).join(" · ");
  attr.hidden = !attr.textContent;
  attr.addEventListener("click", () => {
    attr.setAttribute("aria-expanded", String(attr.getAttribute("aria-expanded") !== "true"));
  });
  state.colorBy = cfg.default_color_by;
  const restored = readURL(params, cfg);
  const { layers: restoredLayers, filters, ...rest } = restored.state;
  Object.assign(state, rest);
  Object.assign(state.filters, filters);
  status(t("loading_layers", state.lang), "loading_layers");
  await openArchive(ctx);
  const wanted = ["region", "context", ...WATER, "districts", "protected_areas",
                  "industrial_zones", "project_sites", "settlements"]
    .filter((id) => cfg.layers.includes(id));
  const fcs = await Promise.all(wanted.map(fetchAll));
  wanted.forEach((id, i) => { tm.data[id] = fcs[i]; });
  // One romanisation for English labels (layers.names.english_names): "Jelezïn" beside
  // "Железин" becomes "Zhelezin", as "Zhelezin district" is spelt.
  for (const [id, names] of Object.entries(cfg.english_names || {})) {
    for (const f of (tm.data[id] || { features: [] }).features) {
      const en = names[String(f.properties.id)];
      if (en) f.properties.name_en = en;
    }
  }
  // The glyph atlas is drawn once: wait for the bundled font first.
  await document.fonts.load(`16px ${cfg.style.font_name}`, "ӘҒҚҢӨҰҮҺІ").catch(() => null);

  ctx.view = { ...home(), ...restored.view };
  tm.viewState = ctx.view;
  identify = new IdentifyPanel(ctx, $("identify"));
  scenarios = new Scenarios(ctx, { select: $("scenario"), compare: $("compare"),
                                   panel: $("evaluation") });
  tm.scenarios = scenarios;
  tm.identify = identify;
  tm.deck = ctx.deck = new deck.Deck({
    canvas: "map-canvas", viewState: ctx.view,
    views: new deck.MapView({ id: "main", repeat: false, controller: true }),
    getTooltip: hoverTip(ctx),
    parameters: { clearColor: cfg.style.base.background.map((c) => c / 255).concat([1]) },
    onViewStateChange: ({ viewState }) => onView(viewState),
    onError: (e) => ctx.fail("deck.gl", e),
    onAfterRender: () => {
      tm.frames = (tm.frames || 0) + 1;
      if (tm.onRendered) tm.onRendered();
    },
    layers: [],
  });
  setupControls(restoredLayers);
  applyLanguage();
  render();
  // Fit the region once the panel and the legend hold their content (a shared link keeps
  // its own camera).
  ctx.view = { ...home(), ...restored.view };
  tm.viewState = ctx.view;
  setViews();
  render();
  const plan = state.visible.findings || state.visible.sanitary_zones ? loadPlan() : null;
  await scenarios.init(state.scenario);
  if (state.scenario && !scenarios.current) state.scenario = null;
  $("compare").value = state.compare;
  if (plan) await plan;
  render();
  // Ready once everything asked for at start is drawn: the next frame after the last update.
  const frames = tm.frames || 0;
  await new Promise((resolve) => {
    const tick = () => ((tm.frames || 0) > frames ? resolve() : requestAnimationFrame(tick));
    tick();
  });
  tm.ready = true;
  status(t("ready", state.lang), "ready");
}

// Follow /score/stream, so that the score colouring stays current: after an ingest the
// district figures are re-read from /map/config.json (computed in Python, like the rest).
function followScore() {
  if (!tm.config.color_by.score) return;
  const es = (tm.scoreStream = new EventSource(ctx.url("score/stream")));
  es.addEventListener("ranking", (e) => {
    const v = JSON.parse(e.data).data_version;
    const first = tm.scoreVersion === undefined;
    if (v === tm.scoreVersion) return;
    tm.scoreVersion = v;
    if (first) return;  // the stream opens with the ranking this page was drawn from
    ctx.getJSON(ctx.url("map/config.json")).then((cfg) => {
      ctx.cfg.color_by = cfg.color_by;
      ctx.cfg.district_values = cfg.district_values;
      tm.scoreUpdates = (tm.scoreUpdates || 0) + 1;
      render();
    }).catch((err) => ctx.fail("score stream", err));
  });
}

start().then(followScore).catch((e) => ctx.fail("start", e));
