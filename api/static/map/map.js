/* The planner's map: deck.gl (pydeck's bundle, global `deck`) over the twin's own layers.
 *
 * Features come from OGC API Features (/collections/{id}/items), parcels from our vector
 * tiles (/tiles/parcels/{z}/{x}/{y}.mvt), colours and district figures from /map/config.json
 * (computed by layers.deck and layers.style, so this page and `twin map` agree). Nothing is
 * fetched from outside this server.
 */
"use strict";
(function () {
  // The page lives at <base>map; every URL is built from <base>, so a reverse proxy that
  // mounts the API under a prefix keeps working.
  const BASE = location.pathname.replace(/map\/?$/, "");
  const url = (p) => BASE + p;
  const absolute = (p) => location.origin + url(p);

  const tm = (window.twinMap = {
    ready: false, errors: [], tilesLoaded: 0, deck: null, data: {}, config: null,
  });
  const state = {
    threeD: false, colorBy: "population", selected: null, lang: "kk",
    scenario: null,  // {id, version} of the scenario shown on top, or null
    visible: {
      districts: true, parcels: true, protected_areas: true, industrial_zones: true,
      project_sites: true, pipeline: true, settlements: true, labels: true, water: true,
    },
  };
  const LAYER_TITLES = {
    districts: "Districts", parcels: "Parcels (vector tiles)", protected_areas: "Protected areas",
    industrial_zones: "Industrial zones", project_sites: "Projects under way",
    pipeline: "Pipeline projects", settlements: "Settlements", labels: "Labels", water: "Water",
  };

  const $ = (id) => document.getElementById(id);
  const status = (text) => { $("status").textContent = text; };
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

  async function getJSON(path) {
    const r = await fetch(path, { headers: { Accept: "application/geo+json, application/json" } });
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return r.json();
  }

  // Follow OGC `next` links, so a layer larger than one page still arrives whole.
  async function fetchAll(id) {
    let next = url(`collections/${id}/items?limit=1000`);
    const features = [];
    while (next) {
      const fc = await getJSON(next);
      features.push(...fc.features);
      const link = (fc.links || []).find((l) => l.rel === "next");
      next = link && fc.features.length ? link.href : null;
    }
    return { type: "FeatureCollection", features };
  }

  // ----------------------------------------------------------------- accuracy and tooltips
  function accuracyOf(p) {
    if (typeof p.accuracy === "string" && p.accuracy) return p.accuracy;
    if (p.synthetic === undefined || p.synthetic === null) return "unknown";
    return p.synthetic === true || p.synthetic === 1 || p.synthetic === "true"
      ? "synthetic" : "real";
  }

  const HIDDEN = new Set(["accuracy", "synthetic", "source", "layerName", "centre_lon",
                          "centre_lat", "score_synthetic", "synthetic_projects"]);
  function fmt(v) {
    if (typeof v === "number") return Number.isInteger(v) ? v.toLocaleString("en") :
      v.toLocaleString("en", { maximumFractionDigits: 1 });
    if (typeof v === "boolean") return v ? "yes" : "no";
    return String(v);
  }

  function describe(layerId, p) {
    const cfg = tm.config;
    const title = p.name || (layerId === "parcels" ? `Parcel ${p.id}` : p.id);
    const rows = [`<b>${esc(title)}</b>${p.name_kk ? " · " + esc(p.name_kk) : ""}`];
    const extra = layerId === "districts" ? (cfg.district_values[p.id] || {}) : {};
    const all = { ...p, ...extra };
    for (const [k, v] of Object.entries(all)) {
      if (HIDDEN.has(k) || k === "name" || k === "name_kk" || v === null || v === "") continue;
      rows.push(`${esc(k)}: ${esc(fmt(v))}`);
    }
    if (layerId === "districts" && extra.projects) {
      rows.push(`<i>investment and jobs sum ${extra.projects} project rows, ` +
                `${extra.synthetic_projects} of them synthetic</i>`);
    }
    if (layerId === "districts" && typeof extra.score_synthetic === "number") {
      rows.push(`<i>score from observations ${Math.round(extra.score_synthetic * 100)}% ` +
                "synthetic</i>");
    }
    const acc = accuracyOf(p);
    const text = cfg.style.accuracy_text[acc] || "accuracy unknown: this row does not say";
    rows.push(`<span class="acc acc-${esc(acc)}">data: ${esc(text)}</span>`);
    if (p.source) rows.push(`<small>source: ${esc(p.source)}</small>`);
    return rows.join("<br/>");
  }

  function getTooltip({ object, layer }) {
    if (!object || !layer) return null;
    const id = layer.id.startsWith("parcels") ? "parcels" : layer.id.replace(/-.*$/, "");
    return {
      html: describe(id, object.properties || object),
      style: { background: "rgba(255,255,255,.96)", color: "#222", fontSize: "12px",
               border: "1px solid #999", maxWidth: "340px", fontFamily: "TwinSans, sans-serif" },
    };
  }

  // ----------------------------------------------------------------- styling helpers
  function landUseColor(v) {
    return tm.config.style.land_use_colors[v] || [170, 170, 170, 160];
  }
  function districtHeight(id) {
    if (!state.threeD) return 0;
    const cb = tm.config.color_by[state.colorBy];
    return (cb.height[id] || 0) * tm.config.heights.district * tm.config.extent_m;
  }
  // First non-empty of the language's columns (layers.style.LABEL_COLUMNS): Kazakh falls
  // back to Russian, then to the romanised name.
  function labelOf(p) {
    for (const col of tm.config.style.label_columns[state.lang]) {
      if (p[col]) return String(p[col]);
    }
    return "";
  }
  function sectorColor(s) { return tm.config.sector_colors[s] || [120, 120, 120, 255]; }
  function isPipeline(p) {
    return tm.config.style.pipeline_statuses.includes(String(p.status || "").toLowerCase());
  }

  const STROKE_ZOOM = 11;
  function strokeParcels() {
    const vs = tm.viewState || (tm.deck && tm.deck.props.initialViewState) || { zoom: 0 };
    return vs.zoom >= STROKE_ZOOM;
  }

  // Settlement labels: the largest first, as many as the zoom has room for. A region of
  // hundreds of villages would otherwise print every name on top of the others; each zoom
  // step in from the fitted view shows four times as many.
  const LABELS_AT_FIT = 40;
  function labelBudget() {
    const vs = tm.viewState || (tm.deck && tm.deck.props.initialViewState) || { zoom: 0 };
    return Math.round(LABELS_AT_FIT * Math.pow(4, Math.max(0, vs.zoom - (tm.fitZoom || 0))));
  }
  function labelledTowns(towns) {
    if (!tm.townsByPopulation || tm.townsByPopulation.source !== towns) {
      const order = towns.slice().sort((a, b) =>
        (b.properties.population || 0) - (a.properties.population || 0));
      tm.townsByPopulation = { source: towns, order };
    }
    return tm.townsByPopulation.order.slice(0, labelBudget());
  }

  // ----------------------------------------------------------------- layers
  function buildLayers() {
    const cfg = tm.config, d = tm.data, st = cfg.style, base = st.base;
    const v = state.visible, three = state.threeD;
    const cb = cfg.color_by[state.colorBy];
    const ext = cfg.extent_m;
    const trig = [state.colorBy, three];
    const out = [];
    const geo = (id, props) => d[id] && new deck.GeoJsonLayer({
      id, data: d[id], pickable: true, stroked: true, filled: true, lineWidthMinPixels: 1,
      ...props,
    });

    out.push(geo("region", { getFillColor: base.region_fill, getLineColor: base.region_line,
                             lineWidthMinPixels: 2, pickable: false }));
    out.push(geo("context", { getFillColor: base.context_fill,
                              getLineColor: [120, 120, 120, 255] }));
    const parcels = cfg.parcels && v.parcels && new deck.MVTLayer({
      id: "parcels", data: absolute(cfg.parcels.tiles), minZoom: cfg.parcels.minzoom,
      maxZoom: cfg.parcels.maxzoom, uniqueIdProperty: "id", pickable: true,
      getFillColor: (f) => landUseColor(f.properties.land_use),
      // Outlines only where parcels are big enough to see them: at regional zoom a stroke per
      // parcel doubles the geometry and draws nothing but grey noise.
      stroked: strokeParcels(), getLineColor: [90, 90, 90, 110], lineWidthMinPixels: 0.5,
      // The bundle's MVT loader would fetch its worker from a CDN: parse on the main thread
      // with our loader (layers/assets/mvt-loader.js) instead.
      binary: false, loaders: [window.twinMVTLoader], loadOptions: { worker: false },
      onTileLoad: () => { tm.tilesLoaded += 1; },
      onTileError: (e) => { tm.errors.push(String(e && e.message || e)); },
    });
    const districts = v.districts && geo("districts", {
      extruded: three, wireframe: three, opacity: three ? 0.8 : 0.55,
      getFillColor: (f) => cb.color[f.properties.id] || st.no_data.concat([200]),
      getElevation: (f) => districtHeight(f.properties.id),
      getLineColor: base.district_line, autoHighlight: true,
      highlightColor: [255, 255, 255, 90],
      updateTriggers: { getFillColor: trig, getElevation: trig },
    });
    // In 2D parcels draw over the translucent districts; in 3D they must draw first, or the
    // prisms' depth would hide them instead of showing them through.
    if (three) out.push(parcels, districts); else out.push(districts, parcels);
    // lakes and rivers are layers of their own (one geometry type each); "water" is older twins'
    if (v.water) for (const id of ["lakes", "rivers", "water"]) {
      out.push(geo(id, { getFillColor: base.water, getLineColor: base.water,
                         lineWidthMinPixels: id === "rivers" ? 2 : 1 }));
    }
    if (v.protected_areas) out.push(geo("protected_areas", {
      getFillColor: base.protected, getLineColor: base.protected.slice(0, 3).concat([255]),
      lineWidthMinPixels: 2 }));
    if (v.industrial_zones) out.push(geo("industrial_zones", {
      getFillColor: base.industrial, getLineColor: base.industrial.slice(0, 3).concat([255]),
      lineWidthMinPixels: 2 }));

    const sites = (d.project_sites || { features: [] }).features;
    const maxInv = Math.max(1, ...sites.map((f) => f.properties.investment_kzt || 0));
    const frac = (f) => Math.sqrt(Math.max(0, f.properties.investment_kzt || 0) / maxInv);
    const pos = (f, lift) => [...f.geometry.coordinates.slice(0, 2),
                              districtHeight(f.properties.district_id) + lift * ext];
    for (const [id, pipe] of [["project_sites", false], ["pipeline", true]]) {
      if (!v[id]) continue;
      const data = sites.filter((f) => isPipeline(f.properties) === pipe);
      if (!data.length) continue;
      const color = (f) => { const c = sectorColor(f.properties.sector);
                             return pipe ? [c[0], c[1], c[2], 110] : c; };
      if (three) {
        // Ids differ per mode: deck.gl matches layers by id, and a ColumnLayer must not
        // inherit a ScatterplotLayer's state.
        out.push(new deck.ColumnLayer({
          id: `${id}-3d`, data, pickable: true, autoHighlight: true, extruded: true,
          diskResolution: pipe ? 4 : 12, angle: pipe ? 45 : 0,
          radius: cfg.heights.column_radius * ext * (pipe ? 1.6 : 1),
          getPosition: (f) => pos(f, 1e-4),
          getElevation: (f) => frac(f) * cfg.heights.column * ext,
          getFillColor: color, wireframe: pipe, stroked: pipe,
          getLineColor: base.pipeline, lineWidthMinPixels: 2,
          updateTriggers: { getPosition: trig },
        }));
      } else {
        // Flat columns would be a pixel wide at regional zoom: dots with a pixel floor.
        out.push(new deck.ScatterplotLayer({
          id: `${id}-2d`, data, pickable: true, autoHighlight: true, stroked: true,
          getPosition: (f) => f.geometry.coordinates, radiusUnits: "pixels",
          getRadius: (f) => 3 + 9 * frac(f), getFillColor: color,
          getLineColor: pipe ? [40, 40, 40, 255] : [255, 255, 255, 255],
          lineWidthMinPixels: pipe ? 2 : 1,
        }));
      }
    }

    const towns = (d.settlements || { features: [] }).features;
    if (v.settlements && towns.length) out.push(new deck.ScatterplotLayer({
      id: "settlements", data: towns, pickable: true, stroked: true,
      getPosition: (f) => pos(f, 5e-4),
      getRadius: (f) => Math.sqrt(Math.max(0, f.properties.population || 0)) * 12 + 800,
      radiusMinPixels: 2, radiusMaxPixels: 14, getFillColor: base.settlement,
      getLineColor: [255, 255, 255, 255], lineWidthMinPixels: 1,
      updateTriggers: { getPosition: trig },
    }));
    const text = (id, data, props) => new deck.TextLayer({
      id, data, sizeUnits: "pixels", getColor: [20, 20, 20, 255],
      // The default atlas is ASCII only; Cyrillic and Kazakh names need these glyphs.
      characterSet: st.character_set, fontFamily: st.font_family, fontSettings: { fontSize: 32 },
      // A pale box keeps labels legible over dark and pale districts alike (as layers.deck).
      background: true, getBackgroundColor: [255, 255, 255, 190], backgroundPadding: [3, 1, 3, 1],
      // Labels stay readable in front of the 3D columns and prisms.
      parameters: { depthCompare: "always", depthWriteEnabled: false },
      updateTriggers: { getPosition: trig, getText: state.lang },
      ...props,
    });
    if (v.labels && v.districts) {
      // A city's name is already on its settlement label; printing it twice only clutters.
      const dl = cfg.district_labels.filter((l) => l.kind !== "city");
      out.push(text("district-labels", dl, {
        getPosition: (l) => [l.lon, l.lat, districtHeight(l.id) + 5e-4 * ext],
        getText: (l) => l[state.lang] || l.en, getSize: 14, getColor: [70, 40, 110, 255],
      }));
    }
    if (v.labels && towns.length) out.push(text("labels", labelledTowns(towns), {
      getPosition: (f) => pos(f, 5e-4), getText: (f) => labelOf(f.properties), getSize: 11,
      getPixelOffset: [0, -13],
    }));
    if (state.scenario) out.push(...scenarioLayers(state.scenario));
    if (state.selected) out.push(new deck.GeoJsonLayer({
      id: "selected", data: [state.selected], filled: false, stroked: true,
      getLineColor: [0, 90, 200, 255], lineWidthMinPixels: 4, pointRadiusMinPixels: 12,
      getPointRadius: 10, pointType: "circle",
    }));
    return out.filter(Boolean);
  }

  // ----------------------------------------------------------------- scenarios
  // A scenario's own layers from its vector tiles, pinned to the scenario's version (the
  // server answers those as immutable): the sites it adds or moves, their sanitary zones
  // and the areas it rezones. Baseline rows in the tiles stay transparent.
  const CHANGE_COLOURS = { added: [26, 150, 65, 230], moved: [43, 131, 186, 230] };
  function scenarioLayers(sc) {
    const mvt = (layer, props) => new deck.MVTLayer({
      id: `scenario-${layer}`, pickable: true,
      data: absolute(`scenarios/${encodeURIComponent(sc.id)}/tiles/${layer}/{z}/{x}/{y}.mvt` +
                     `?v=${sc.version}`),
      binary: false, loaders: [window.twinMVTLoader], loadOptions: { worker: false },
      onTileError: (e) => { tm.errors.push(String(e && e.message || e)); }, ...props,
    });
    const rezoned = (f) => String(f.properties.id).includes(":scenario");
    const change = (f) => (/\((added|moved)\)/.exec(f.properties.source || "") || [])[1];
    return [
      mvt("zones", { minZoom: 5, maxZoom: 16, lineWidthMinPixels: 2,
                     getFillColor: (f) => rezoned(f) ? [253, 174, 97, 110] : [0, 0, 0, 0],
                     getLineColor: (f) => rezoned(f) ? [230, 120, 20, 255] : [0, 0, 0, 0] }),
      mvt("sanitary_zones", { minZoom: 0, maxZoom: 16, lineWidthMinPixels: 1,
                              getFillColor: [215, 25, 28, 60], getLineColor: [215, 25, 28, 220] }),
      mvt("project_sites", { minZoom: 3, maxZoom: 16, pointType: "circle",
                             pointRadiusUnits: "pixels", getPointRadius: 7,
                             lineWidthMinPixels: 1, getLineColor: [255, 255, 255, 255],
                             getFillColor: (f) => CHANGE_COLOURS[change(f)] || [0, 0, 0, 0] }),
    ];
  }

  async function setupScenarios(params) {
    const sel = $("scenario");
    let list = [];
    try { list = (await getJSON(url("scenarios"))).scenarios || []; } catch (e) { list = []; }
    for (const s of list) {
      const o = document.createElement("option");
      o.value = s.id; o.textContent = `${s.name} (v${s.version})`;
      sel.appendChild(o);
    }
    sel.disabled = !list.length;
    const pick = async (id) => {
      state.scenario = null;
      if (id) {
        const doc = await getJSON(url(`scenarios/${encodeURIComponent(id)}`));
        state.scenario = { id: doc.id, version: doc.version };
      }
      render();
    };
    sel.addEventListener("change", () => pick(sel.value).catch((e) => tm.errors.push(String(e))));
    const want = params.get("scenario");
    if (want && list.some((s) => s.id === want)) { sel.value = want; await pick(want); }
  }

  function render() { tm.deck.setProps({ layers: buildLayers() }); renderLegend(); }

  // ----------------------------------------------------------------- legend and controls
  const swatch = (c) => `<i style="background:rgba(${c[0]},${c[1]},${c[2]},${
    (c.length > 3 ? c[3] / 255 : 1).toFixed(2)})"></i>`;

  // A legend heading says how much of a layer is made up (tooltips say it row by row).
  function syntheticNote(layer) {
    const share = (tm.config.synthetic_share || {})[layer];
    if (typeof share !== "number" || share <= 0) return "";
    return share >= 1 ? " — synthetic" : ` — ${Math.max(1, Math.round(share * 100))}% synthetic`;
  }

  function renderLegend() {
    const cfg = tm.config, cb = cfg.color_by[state.colorBy], st = cfg.style;
    const html = [`<h2>Districts: ${esc(cb.title)}</h2>`];
    for (const c of cb.legend) html.push(`${swatch(c.color)}${esc(c.label)}<br/>`);
    if (state.threeD) html.push(`<small>${esc(cb.height_note || "height ∝ value")}</small><br/>`);
    // only what the twin has: a region's own twin may hold no projects, parcels or zones
    const has = (id) => cfg.layers.includes(id);
    if (has("project_sites")) {
      html.push(`<h2>Projects (${state.threeD ? "height" : "size"} ∝ √investment)` +
                `${esc(syntheticNote("project_sites"))}</h2>`);
      html.push('<div class="cols">');
      for (const [s, c] of Object.entries(cfg.sector_colors)) {
        html.push(`<div>${swatch(c)}${esc(s)}</div>`);
      }
      html.push(`<div title="planned projects: pale ${state.threeD ? "square columns" :
        "dots with a dark ring"}">${swatch([255, 255, 255, 255])}pipeline (pale)</div></div>`);
    }
    if (cfg.parcels) {
      html.push(`<h2>Parcels by land use${esc(syntheticNote("parcels"))}</h2>` +
                '<div class="cols">');
      for (const [k, c] of Object.entries(st.land_use_colors)) {
        if (cfg.land_uses.includes(k)) html.push(`<div>${swatch(c)}${esc(k)}</div>`);
      }
      html.push("</div>");
    }
    if (has("protected_areas") || has("industrial_zones")) html.push("<h2>Zones</h2>");
    if (has("protected_areas")) html.push(`${swatch(st.base.protected)}protected area<br/>`);
    if (has("industrial_zones")) html.push(`${swatch(st.base.industrial)}industrial zone<br/>`);
    $("legend").innerHTML = html.join("");
  }

  function setupControls() {
    const cfg = tm.config;
    const sel = $("color-by");
    for (const [k, cb] of Object.entries(cfg.color_by)) sel.add(new Option(cb.title, k));
    sel.value = state.colorBy;
    sel.addEventListener("change", () => { state.colorBy = sel.value; render(); });

    const lang = $("lang");
    lang.value = state.lang;
    lang.addEventListener("change", () => { state.lang = lang.value; render(); });

    const box = $("layers");
    for (const [k, title] of Object.entries(LAYER_TITLES)) {
      if (k === "parcels" && !cfg.parcels) continue;
      const id = k === "pipeline" || k === "labels" ? "project_sites" : k;
      if (k !== "parcels" && k !== "labels" && !cfg.layers.includes(id)) continue;
      const label = document.createElement("label");
      label.innerHTML = `<input type="checkbox" data-layer="${k}" ${
        state.visible[k] ? "checked" : ""}/> ${esc(title)}`;
      label.querySelector("input").addEventListener("change", (e) => {
        state.visible[k] = e.target.checked; render();
      });
      box.appendChild(label);
    }

    const b3 = $("toggle-3d");
    const set3d = (on) => {
      state.threeD = on;
      b3.setAttribute("aria-pressed", String(on));
      b3.textContent = on ? "3D (on)" : "3D";
      const vs = tm.viewState || tm.deck.props.initialViewState;
      tm.deck.setProps({ initialViewState: {
        ...vs, pitch: on ? 45 : 0, bearing: on ? -12 : 0, transitionDuration: 600 } });
      render();
    };
    b3.addEventListener("click", () => set3d(!state.threeD));
    tm.set3d = set3d;

    // Search: every district and settlement under each of its names.
    const names = [];
    for (const id of ["districts", "settlements"]) {
      for (const f of (tm.data[id] || { features: [] }).features) {
        for (const k of ["name", "name_ru", "name_kk"]) {
          const n = f.properties[k];
          if (n) names.push({ n, f, id });
        }
      }
    }
    const list = $("places");
    for (const { n } of names) list.appendChild(new Option(n));
    $("search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const q = $("search").value.trim().toLocaleLowerCase();
      if (!q) return;
      const hit = names.find((x) => x.n.toLocaleLowerCase() === q) ||
        names.find((x) => x.n.toLocaleLowerCase().startsWith(q)) ||
        names.find((x) => x.n.toLocaleLowerCase().includes(q));
      if (!hit) { $("search-result").textContent = `No district or settlement matches “${q}”.`;
                  return; }
      state.selected = hit.f;
      $("search-result").innerHTML = describe(hit.id, hit.f.properties);
      flyTo(hit.f);
      render();
    });
  }

  function flyTo(f) {
    const xs = [], ys = [];
    const walk = (c) => (typeof c[0] === "number" ? (xs.push(c[0]), ys.push(c[1]))
                                                  : c.forEach(walk));
    walk(f.geometry.coordinates);
    const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const vp = new deck.WebMercatorViewport({ width: tm.deck.width, height: tm.deck.height });
    const fit = x1 - x0 < 1e-6 ? { longitude: x0, latitude: y0, zoom: 10 }
      : vp.fitBounds([[x0, y0], [x1, y1]], { padding: 60 });
    const vs = tm.viewState || tm.deck.props.initialViewState;
    tm.deck.setProps({ initialViewState: {
      ...vs, longitude: fit.longitude, latitude: fit.latitude, zoom: Math.min(fit.zoom, 11),
      transitionDuration: 800, transitionInterpolator: new deck.FlyToInterpolator() } });
  }

  // ----------------------------------------------------------------- start
  async function start() {
    const params = new URLSearchParams(location.search);
    const cfg = (tm.config = await getJSON(url("map/config.json")));
    document.title = `${cfg.title} — map`;
    $("title").textContent = cfg.title;
    // what the twin's own data says of itself: its accuracy and the sources to credit
    $("accuracy-note").textContent = cfg.accuracy_note;
    $("attribution").textContent = cfg.attribution.join(" · ");
    state.colorBy = cfg.default_color_by;
    if (cfg.color_by[params.get("color")]) state.colorBy = params.get("color");
    if (cfg.style.label_columns[params.get("labels")]) state.lang = params.get("labels");
    state.threeD = params.get("view") === "3d";
    status("Loading layers…");
    const wanted = ["region", "context", "lakes", "rivers", "water", "districts", "protected_areas",
                    "industrial_zones", "project_sites", "settlements"]
      .filter((id) => cfg.layers.includes(id));
    const fcs = await Promise.all(wanted.map(fetchAll));
    wanted.forEach((id, i) => { tm.data[id] = fcs[i]; });
    // The glyph atlas is drawn once: wait for the bundled font first.
    await document.fonts.load(`16px ${cfg.style.font_name}`, "ӘҒҚҢӨҰҮҺІ").catch(() => null);

    // Fit the region beside the control panel rather than under it.
    const el = $("map"), panel = $("panel").getBoundingClientRect();
    const fit = new deck.WebMercatorViewport({ width: el.clientWidth, height: el.clientHeight })
      .fitBounds([cfg.bounds.slice(0, 2), cfg.bounds.slice(2, 4)],
                 { padding: { left: Math.min(panel.right + 10, el.clientWidth / 2),
                              right: 20, top: 20, bottom: 20 } });
    tm.fitZoom = fit.zoom;
    const vs = { ...cfg.view, longitude: fit.longitude, latitude: fit.latitude,
                 zoom: fit.zoom - (state.threeD ? 0.15 : 0),
                 pitch: state.threeD ? 45 : 0, bearing: state.threeD ? -12 : 0 };
    tm.deck = new deck.Deck({
      parent: $("map"), initialViewState: vs, controller: true,
      views: new deck.MapView({ repeat: false }), getTooltip,
      parameters: { clearColor: cfg.style.base.background.map((c) => c / 255).concat([1]) },
      onViewStateChange: ({ viewState }) => {
        const before = [strokeParcels(), labelBudget()];
        tm.viewState = viewState;
        if (strokeParcels() !== before[0] || labelBudget() !== before[1]) render();
      },
      onError: (e) => { tm.errors.push(String(e && e.message || e)); console.error(e); },
      onAfterRender: () => { if (!tm.ready && tm.deck) { tm.ready = true; status("Ready"); } },
      layers: [],
    });
    setupControls();
    await setupScenarios(params);
    if (state.threeD) { $("toggle-3d").setAttribute("aria-pressed", "true");
                        $("toggle-3d").textContent = "3D (on)"; }
    render();
  }

  start().catch((e) => { tm.errors.push(String(e)); status(`Error: ${e.message}`);
                         console.error(e); });
})();
