// The map's deck.gl layers (pydeck's bundle, global `deck`): one theme at a time, filters
// applied, made-up geometry marked (hatched: synthetic; dashed: approximate).

/* global deck, pmtiles */

// Water is a twin's "lakes" and "rivers" (one geometry type each), or an older twin's mixed
// "water" layer; one switch shows them all.
export const WATER = ["lakes", "rivers", "water"];

// ------------------------------------------------------------------ parcels from PMTiles
// Where the server names an archive (TWIN_MAP_PARCELS_PMTILES), parcels come from it with
// HTTP range requests (the vendored pmtiles.js reader, global `pmtiles`) instead of
// /tiles/parcels. The archive holds the same tiles (`twin tiles export parcels`); its header
// says its zooms, and deck.gl overzooms past the deepest one as past the tile endpoint's.
export async function openArchive(ctx) {
  const parcels = ctx.cfg.parcels;
  if (!parcels || !parcels.pmtiles) return;
  const href = new URL(parcels.pmtiles, location.href).href;
  const archive = new pmtiles.PMTiles(href);
  const h = await archive.getHeader();
  if (h.tileType !== pmtiles.TileType.Mvt) {
    throw new Error(`${href} holds no vector tiles (PMTiles tile type ${h.tileType})`);
  }
  ctx.tm.archive = { href, archive, minzoom: h.minZoom, maxzoom: h.maxZoom };
}

function parcelSource(ctx) {
  const p = ctx.cfg.parcels, a = ctx.tm.archive;
  if (!a) return { data: ctx.absolute(p.tiles), minZoom: p.minzoom, maxZoom: p.maxzoom };
  return {
    // MVTLayer wants a URL template; the tile's index comes in loadOptions.mvt.tileIndex.
    data: `${a.href}#{z}/{x}/{y}`, minZoom: a.minzoom, maxZoom: a.maxzoom,
    fetch: async (_u, { loadOptions, signal }) => {
      const { x, y, z } = loadOptions.mvt.tileIndex;
      const got = await a.archive.getZxy(z, x, y, signal);
      return got ? window.twinParseMVT(got.data, loadOptions) : [];
    },
  };
}

// ------------------------------------------------------------------ how real a row is
export function syntheticFields(p) {
  const f = p.synthetic_fields;
  if (!f) return [];
  return (Array.isArray(f) ? f : String(f).split(",")).map((s) => String(s).trim())
    .filter(Boolean);
}

function flag(v) {
  if (v === undefined || v === null) return null;
  return v === true || v === 1 || v === "true" || v === "True";
}

// The badge of a row, as layers.style.accuracy_label gives it: a synthetic flag wins, named
// made-up values make it "partly synthetic", then the accuracy column, then the flag.
export function badgeOf(p) {
  const syn = flag(p.synthetic);
  if (syn) return "synthetic";
  if (syntheticFields(p).length) return "partly synthetic";
  if (typeof p.accuracy === "string" && p.accuracy) return p.accuracy;
  return syn === null ? "unknown" : "real";
}

// How the geometry of a row was made: "synthetic" (hatched), "approximate" (dashed outline:
// an approximate row, or one whose geometry is among its made-up values) or "real".
export function geometryOf(p) {
  if (flag(p.synthetic)) return "synthetic";
  if (syntheticFields(p).includes("geometry")) return "approximate";
  if (typeof p.accuracy === "string" && p.accuracy && p.accuracy !== "real") return "approximate";
  return "real";
}

// ------------------------------------------------------------------ patterns
// Hatching and dashes drawn by the fragment shader, in screen pixels, so they read the
// same at every zoom. The bundle's deck has no FillStyleExtension or PathStyleExtension,
// but it exports LayerExtension, deck.gl's public way to add shader code to a layer.
// Hatching only darkens stripes (before deck's picking hook, which runs last), so a hatched
// feature stays clickable everywhere; dashes discard, and go on outline-only layers.
const HATCH = `
  if (mod(gl_FragCoord.x + gl_FragCoord.y, 8.0) < 2.5) {
    color.rgb = mix(color.rgb, vec3(0.12), 0.55);
  }`;
const HATCH_FINE = `
  if (mod(gl_FragCoord.x + gl_FragCoord.y, 5.0) < 2.0) {
    color.rgb = mix(color.rgb, vec3(0.1), 0.6);
  }`;
// Parcels fill the view at town zooms: a lighter hatch, or it would be all one sees.
const HATCH_LIGHT = `
  if (mod(gl_FragCoord.x + gl_FragCoord.y, 10.0) < 1.5) {
    color.rgb = mix(color.rgb, vec3(0.15), 0.4);
  }`;
const DASH = `
  if (mod(floor(gl_FragCoord.x / 5.0) + floor(gl_FragCoord.y / 5.0), 2.0) > 0.5) discard;`;

let PATTERNS = null;
function patterns() {
  if (PATTERNS) return PATTERNS;
  class TwinPattern extends deck.LayerExtension {
    getShaders(extension) {
      const code = { hatch: HATCH, fine: HATCH_FINE, light: HATCH_LIGHT,
                     dash: DASH }[extension.opts.pattern];
      return { inject: { "fs:DECKGL_FILTER_COLOR": code } };
    }
  }
  TwinPattern.extensionName = "TwinPattern";
  PATTERNS = { hatch: new TwinPattern({ pattern: "hatch" }),
               fine: new TwinPattern({ pattern: "fine" }),
               light: new TwinPattern({ pattern: "light" }),
               dash: new TwinPattern({ pattern: "dash" }) };
  return PATTERNS;
}

// ------------------------------------------------------------------ filters
// A project passes when its sector, status and hazard class are among the chosen ones and
// it started by the chosen year. Findings and sanitary zones carry their site's values.
export function passes(p, f) {
  if (f.sectors && !f.sectors.has(String(p.sector))) return false;
  if (f.statuses && !f.statuses.has(String(p.status))) return false;
  if (f.hazard && !f.hazard.has(String(p.hazard_class || "").trim())) return false;
  if (f.year !== null && f.year !== undefined) {
    const y = Number(p.start_year);
    if (!Number.isFinite(y) || y > f.year) return false;
  }
  return true;
}

export function filtered(ctx, id) {
  const fc = ctx.data[id];
  if (!fc) return [];
  const key = ctx.filterKey();
  ctx.memo[id] = ctx.memo[id] || {};
  if (ctx.memo[id].key !== key) {
    ctx.memo[id] = { key, rows: fc.features.filter((x) => passes(x.properties, ctx.state.filters)) };
  }
  return ctx.memo[id].rows;
}

export function isPipeline(ctx, p) {
  return ctx.cfg.style.pipeline_statuses.includes(String(p.status || "").toLowerCase());
}

// ------------------------------------------------------------------ layers
export function parcelTheme(ctx) {
  const cfg = ctx.cfg;
  return Boolean(cfg.parcels && ctx.state.visible.parcels &&
                 ctx.view.zoom >= cfg.parcel_theme_zoom);
}

export function districtHeight(ctx, id) {
  if (!ctx.state.threeD) return 0;
  return (ctx.coloring().height[id] || 0) * ctx.cfg.heights.district * ctx.cfg.extent_m;
}

export function buildLayers(ctx) {
  const { cfg, data: d, state } = ctx;
  const st = cfg.style, base = st.base, marks = st.marks, P = patterns();
  const v = state.visible, three = state.threeD;
  const coloring = ctx.coloring();
  const ext = cfg.extent_m;
  const trig = [coloring.key, three, ctx.tm.scoreVersion];  // a new score recolours
  const theme = parcelTheme(ctx);
  const out = [];
  const geo = (id, data, props) => data && new deck.GeoJsonLayer({
    id, data, pickable: true, stroked: true, filled: true, lineWidthMinPixels: 1, ...props,
  });
  // Made-up outlines dashed and made-up fills hatched, as separate, unpickable layers over
  // the feature's own (pickable) one.
  const marked = (id, features, lineColor, width = 1) => {
    const dashed = features.filter((f) => geometryOf(f.properties) !== "real");
    return dashed.length && new deck.GeoJsonLayer({
      id: `${id}-dashed`, data: dashed, filled: false, stroked: true, pickable: false,
      getLineColor: lineColor, lineWidthMinPixels: width, extensions: [P.dash],
      updateTriggers: { getLineColor: trig },
    });
  };
  const hatched = (id, features, props) => {
    const syn = features.filter((f) => geometryOf(f.properties) === "synthetic");
    return syn.length && new deck.GeoJsonLayer({
      id: `${id}-hatched`, data: syn, filled: true, stroked: false, pickable: false,
      extensions: [P.hatch], ...props,
    });
  };

  out.push(geo("region", d.region, { getFillColor: base.region_fill,
                                     getLineColor: base.region_line, lineWidthMinPixels: 2,
                                     pickable: false }));
  out.push(geo("context", d.context, { getFillColor: base.context_fill,
                                       getLineColor: [120, 120, 120, 255], pickable: false }));
  const districts = d.districts && v.districts ? d.districts.features : [];
  const fill = (f) => coloring.color[f.properties.id] || st.no_data.concat([200]);
  if (districts.length && !theme) {
    out.push(geo("districts", districts, {
      extruded: three, wireframe: false, stroked: !three,
      // Mostly ambient light: a prism's top keeps its legend colour, its sides darken a little.
      material: { ambient: 0.75, diffuse: 0.35, shininess: 0, specularColor: [0, 0, 0] },
      getFillColor: fill, getElevation: (f) => districtHeight(ctx, f.properties.id),
      // Approximate cells get a dashed outline below; a solid one would say "surveyed".
      getLineColor: [0, 0, 0, 0], autoHighlight: true, highlightColor: [255, 255, 255, 70],
      updateTriggers: { getFillColor: trig, getElevation: trig },
    }));
  }
  if (districts.length && theme) {
    // Invisible, but a click on a parcel still lists the district it lies in.
    out.push(geo("districts", districts, { getFillColor: [0, 0, 0, 0], stroked: false,
                                           autoHighlight: false }));
  }
  if (theme) {
    out.push(new deck.MVTLayer({
      id: "parcels", ...parcelSource(ctx), uniqueIdProperty: "id", pickable: true,
      getFillColor: (f) => st.land_use_colors[f.properties.land_use] || st.no_data.concat([200]),
      // Outlines only where parcels are big enough to see them.
      stroked: ctx.view.zoom >= 11, getLineColor: [90, 90, 90, 110], lineWidthMinPixels: 0.5,
      // Every parcel of the default twin is synthetic: the tiles say so row by row, and
      // synthetic ones are hatched (mixed layers would need a per-feature pattern).
      extensions: cfg.synthetic_share.parcels >= 1 ? [P.light] : [],
      // The bundle's MVT loader would fetch its worker from a CDN: parse on the main thread
      // with our loader (layers/assets/mvt-loader.js) instead.
      binary: false, loaders: [window.twinMVTLoader], loadOptions: { worker: false },
      onTileLoad: () => { ctx.tm.tilesLoaded += 1; },
      // Every tile of the view has arrived (tests wait for this rather than guess).
      onViewportLoad: () => { ctx.tm.parcelViews += 1; },
      onTileError: (e) => ctx.fail("parcels", e),
    }));
  }
  for (const id of WATER) {
    if (!d[id] || !v.water) continue;
    out.push(geo(id, d[id].features, { getFillColor: base.water, getLineColor: base.water,
                                       lineWidthMinPixels: id === "lakes" ? 1 : 2 }));
    out.push(marked(id, d[id].features, [255, 255, 255, 255], 1));
  }
  for (const [id, color] of [["protected_areas", base.protected],
                             ["industrial_zones", base.industrial]]) {
    if (!d[id] || !v[id]) continue;
    const line = color.slice(0, 3).concat([255]);
    out.push(geo(id, d[id].features, { getFillColor: color, getLineColor: [0, 0, 0, 0] }));
    out.push(marked(id, d[id].features, line, 2));
    out.push(hatched(id, d[id].features, { getFillColor: color }));
  }
  if (districts.length) {
    // The district outlines (dashed where approximate); at parcel zooms they carry the
    // district's colour, so the choropleth survives as a frame round the parcels.
    out.push(new deck.GeoJsonLayer({
      id: "district-outlines", data: districts, filled: false, stroked: true, pickable: theme,
      getLineColor: theme ? fill : base.district_line, lineWidthMinPixels: theme ? 4 : 1.5,
      updateTriggers: { getLineColor: [...trig, theme] },
      extensions: districts.every((f) => geometryOf(f.properties) !== "real") ? [P.dash] : [],
      parameters: { depthCompare: "always" },
    }));
  }
  if (d.sanitary_zones && v.sanitary_zones) {
    const zones = filtered(ctx, "sanitary_zones");
    out.push(geo("sanitary_zones", zones, { getFillColor: marks.sanitary_fill,
                                            getLineColor: [0, 0, 0, 0] }));
    out.push(marked("sanitary_zones", zones, marks.sanitary_line, 1));
    out.push(hatched("sanitary_zones", zones, { getFillColor: marks.sanitary_fill }));
  }

  const sites = d.project_sites ? filtered(ctx, "project_sites") : [];
  const top = cfg.heights.column_max_investment || 1;
  const frac = (f) => Math.sqrt(Math.max(0, f.properties.investment_kzt || 0) / top);
  const pos = (f, lift) => [...f.geometry.coordinates.slice(0, 2),
                            districtHeight(ctx, f.properties.district_id) + lift * ext];
  const sectorColor = (s) => cfg.sector_colors[s] || [221, 221, 221, 255];
  for (const [id, pipe] of [["project_sites", false], ["pipeline", true]]) {
    if (!v[id]) continue;
    const rows = sites.filter((f) => isPipeline(ctx, f.properties) === pipe);
    if (!rows.length) continue;
    const color = (f) => { const c = sectorColor(f.properties.sector);
                           return pipe ? [c[0], c[1], c[2], 120] : c; };
    if (three) {
      // Ids differ per mode: deck.gl matches layers by id, and a ColumnLayer must not
      // inherit a ScatterplotLayer's state.
      for (const syn of [false, true]) {
        const part = rows.filter((f) => (geometryOf(f.properties) === "synthetic") === syn);
        if (!part.length) continue;
        out.push(new deck.ColumnLayer({
          id: `${id}-3d${syn ? "-synthetic" : ""}`, data: part, pickable: true,
          autoHighlight: true, extruded: true, diskResolution: pipe ? 4 : 12, angle: pipe ? 45 : 0,
          radius: cfg.heights.column_radius * ext * (pipe ? 1.6 : 1),
          getPosition: (f) => pos(f, 1e-4),
          getElevation: (f) => frac(f) * cfg.heights.column * ext,
          getFillColor: color, wireframe: pipe, stroked: pipe,
          getLineColor: base.pipeline, lineWidthMinPixels: 2,
          extensions: syn ? [P.hatch] : [],
          updateTriggers: { getPosition: trig },
        }));
      }
    } else {
      // Flat columns would be a pixel wide at regional zoom: dots with a pixel floor.
      // Synthetic dots are hatched; a real project at an assumed place gets a dashed ring.
      const radius = (f) => 4 + 9 * frac(f);
      for (const syn of [false, true]) {
        const part = rows.filter((f) => (geometryOf(f.properties) === "synthetic") === syn);
        if (!part.length) continue;
        out.push(new deck.ScatterplotLayer({
          id: `${id}-2d${syn ? "-synthetic" : ""}`, data: part, pickable: true,
          autoHighlight: true, stroked: true, radiusUnits: "pixels",
          getPosition: (f) => f.geometry.coordinates, getRadius: radius, getFillColor: color,
          getLineColor: pipe ? [40, 40, 40, 255] : [255, 255, 255, 255],
          lineWidthMinPixels: pipe ? 2 : 1, extensions: syn ? [P.fine] : [],
        }));
      }
      const assumed = rows.filter((f) => geometryOf(f.properties) === "approximate");
      if (assumed.length) out.push(new deck.ScatterplotLayer({
        id: `${id}-2d-assumed-place`, data: assumed, pickable: false, filled: false,
        stroked: true, radiusUnits: "pixels", getPosition: (f) => f.geometry.coordinates,
        getRadius: (f) => radius(f) + 3, getLineColor: [30, 30, 30, 255],
        lineWidthMinPixels: 2, extensions: [P.dash],
      }));
    }
  }

  if (d.findings && v.findings) {
    const rows = filtered(ctx, "findings");
    const sev = marks.severity;
    out.push(new deck.ScatterplotLayer({
      // A transparent disc inside the ring, so a click on the site picks its findings.
      id: "findings", data: rows, pickable: true, filled: true, stroked: true,
      getFillColor: [0, 0, 0, 0],
      radiusUnits: "pixels", getPosition: (f) => pos(f, 2e-4),
      getRadius: (f) => (f.properties.severity === "error" ? 10 : 7),
      getLineColor: (f) => sev[f.properties.severity] || sev.info,
      getLineWidth: (f) => (f.properties.severity === "error" ? 2.5 : 1.5),
      lineWidthUnits: "pixels", updateTriggers: { getPosition: trig },
    }));
  }

  const towns = d.settlements ? d.settlements.features : [];
  if (v.settlements && towns.length) {
    const known = (p) => p.population_known !== false && typeof p.population === "number";
    out.push(new deck.ScatterplotLayer({
      id: "settlements", data: towns, pickable: true, stroked: true,
      getPosition: (f) => pos(f, 5e-4),
      getRadius: (f) => Math.sqrt(known(f.properties) ? f.properties.population : 0) * 12 + 800,
      radiusMinPixels: 3, radiusMaxPixels: 14,
      // An unknown population is a hollow ring ("no data"), never a dot sized as zero.
      getFillColor: (f) => (known(f.properties) ? base.settlement : [255, 255, 255, 230]),
      getLineColor: (f) => (known(f.properties) ? [255, 255, 255, 255] : base.settlement),
      lineWidthMinPixels: 1.5, updateTriggers: { getPosition: trig },
    }));
  }
  if (v.labels) out.push(labelLayer(ctx, towns, pos));
  out.push(...ctx.extraLayers());
  if (state.selected) out.push(new deck.GeoJsonLayer({
    id: "selected", data: [state.selected], filled: false, stroked: true, pickable: false,
    getLineColor: marks.selection, lineWidthMinPixels: 4, pointRadiusMinPixels: 14,
    getPointRadius: 14, pointRadiusUnits: "pixels", pointType: "circle",
    parameters: { depthCompare: "always" },
  }));
  return out.filter(Boolean);
}

// ------------------------------------------------------------------ labels
function labelCandidates(ctx, towns, pos) {
  const { cfg, state } = ctx;
  const out = [];
  if (state.visible.districts) {
    // A city's name is already on its settlement label; printing it twice only clutters.
    for (const l of cfg.district_labels) {
      if (l.kind === "city") continue;
      out.push({ text: l[state.lang] || l.en, size: 14, priority: 40000, color: [70, 40, 110, 255],
                 position: [l.lon, l.lat, districtHeight(ctx, l.id) + 5e-4 * cfg.extent_m] });
    }
  }
  if (state.visible.settlements) {
    for (const f of towns) {
      const p = f.properties;
      let text = "";
      for (const col of cfg.style.label_columns[state.lang]) {
        if (p[col]) { text = String(p[col]); break; }
      }
      const pop = p.population_known !== false && typeof p.population === "number"
        ? p.population : 0;
      out.push({ text, size: pop >= 50000 ? 14 : 12, priority: pop + (p.is_centre ? 20000 : 0),
                 color: [20, 20, 20, 255], position: pos(f, 5e-4), offset: [0, -15] });
    }
  }
  return out;
}

function labelLayer(ctx, towns, pos) {
  const st = ctx.cfg.style;
  const vp = ctx.viewport();
  const placed = vp ? window.twinPlaceLabels(vp, labelCandidates(ctx, towns, pos), st.font_family) : [];
  ctx.tm.labels = placed;
  return new deck.TextLayer({
    id: "labels", data: placed, sizeUnits: "pixels", getPosition: (l) => l.position,
    getText: (l) => l.text, getSize: (l) => l.size, getColor: (l) => l.color,
    getPixelOffset: (l) => l.offset || [0, 0],
    // The default atlas is ASCII only; Cyrillic and Kazakh names need these glyphs.
    characterSet: st.character_set, fontFamily: st.font_family, fontSettings: { fontSize: 32 },
    // A pale box keeps labels legible over dark and pale districts alike (as layers.deck).
    background: true, getBackgroundColor: [255, 255, 255, 210], backgroundPadding: [3, 1, 3, 1],
    // Labels stay readable in front of the 3D columns and prisms.
    parameters: { depthCompare: "always", depthWriteEnabled: false },
    updateTriggers: { getText: placed.map((l) => l.text).join("|") },
  });
}
