// The legend follows the map: a section for each layer that is on and drawn at this zoom,
// the colouring's classes with a "no data" class, the 3D height scale, and what dashes and
// hatching mean.
import { WATER, parcelTheme } from "./draw.js";
import { money, number, percent } from "./format.js";
import { layerName, t, valueName } from "./i18n.js";

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => (
  { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

const rgba = (c) => `rgba(${c[0]},${c[1]},${c[2]},${(c.length > 3 ? c[3] / 255 : 1).toFixed(2)})`;
const swatch = (c, cls = "") => `<i class="sw ${cls}" style="background:${rgba(c)}"></i>`;
const ring = (c, w = 2) => `<i class="sw ring" style="border:${w}px solid ${rgba(c)}"></i>`;

// A colouring's value in its unit: money in bn ₸, an index with one decimal, counts whole.
export function valueText(unit, v, lang) {
  if (typeof v !== "number" || !Number.isFinite(v)) return t("no_data", lang);
  if (unit === "kzt") return money(v, lang);
  if (unit === "index") return number(v, lang, 1);
  return number(Math.round(v), lang);
}

// The localised title of a colouring, with what is made up or missing behind it.
export function colouringTitle(ctx, key) {
  const lang = ctx.state.lang, cfg = ctx.cfg;
  const cb = cfg.color_by[key];
  const name = t(`cb_${key}`, lang);
  const base = name === `cb_${key}` ? cb.title : name;
  const vals = Object.values(cfg.district_values);
  const sum = (k) => vals.reduce((a, r) => a + (typeof r[k] === "number" ? r[k] : 0), 0);
  let note = "";
  if (key === "score") {
    const shares = vals.map((r) => r.score_synthetic).filter((x) => typeof x === "number");
    if (shares.length && shares.every((x) => x >= 1)) note = t("note_score_syn", lang);
    else if (shares.some((x) => x > 0)) note = t("note_score_part", lang);
  } else if (["investment_kzt", "jobs", "projects"].includes(key)) {
    const n = sum("projects"), s = sum("synthetic_projects");
    if (s) note = t("note_projects", lang, { s, n });
  } else if (key === "population") {
    const n = sum("population_unknown");
    if (n) note = t("note_population", lang, { n });
  }
  return note ? `${base} (${note})` : base;
}

function syntheticNote(ctx, layer) {
  const share = (ctx.cfg.synthetic_share || {})[layer];
  const lang = ctx.state.lang;
  if (typeof share !== "number" || share <= 0) return "";
  return share >= 1 ? ` — ${t("synthetic_all", lang)}`
    : ` — ${t("synthetic_share", lang, { p: percent(Math.max(0.01, share), lang) })}`;
}

function heightScale(ctx, coloring) {
  const lang = ctx.state.lang;
  if (coloring.max === null || coloring.max === undefined) return "";
  const lo = coloring.relative ? coloring.min : 0;
  const mid = (lo + coloring.max) / 2;
  const fmt = (v) => valueText(coloring.unit, v, lang);
  return `<div class="height-scale" data-testid="height-scale">
    <span class="bar" aria-hidden="true"></span>
    <span class="ticks"><span>${esc(fmt(coloring.max))}</span><span>${esc(fmt(mid))}</span>
    <span>${esc(fmt(lo))}</span></span>
    <small>${esc(t("height_scale", lang))}: ${esc(t(coloring.relative ? "height_rel" : "height_abs",
                                                     lang))}</small></div>`;
}

export function renderLegend(ctx, el) {
  const { cfg, state } = ctx;
  const lang = state.lang, st = cfg.style, v = state.visible, marks = st.marks;
  const coloring = ctx.coloring();
  const theme = parcelTheme(ctx);
  const html = [];
  const section = (id, title, body) => html.push(
    `<section data-legend="${id}"><h3>${esc(title)}</h3>${body}</section>`);

  if (v.districts) {
    const rows = coloring.legend.map((c) => {
      const label = c.no_data ? t("no_data", lang) : c.text || (typeof c.lo === "number"
        ? `${valueText(coloring.unit, c.lo, lang)} – ${valueText(coloring.unit, c.hi, lang)}`
        : c.label);
      return `<div>${swatch(c.color)}${esc(label)}</div>`;
    });
    if (theme) rows.push(`<p class="note">${esc(t("districts_outline", lang))}</p>`);
    if (state.threeD && !theme) rows.push(heightScale(ctx, coloring));
    section("districts", `${layerName("districts", lang)}: ${coloring.title}`, rows.join(""));
  }
  if (v.parcels && cfg.parcels) {
    if (theme) {
      const uses = Object.entries(st.land_use_colors).filter(([k]) => cfg.land_uses.includes(k));
      section("parcels", t("legend_parcels", lang) + syntheticNote(ctx, "parcels"),
              `<div class="cols">${uses.map(([k, c]) =>
                `<div>${swatch(c, cfg.synthetic_share.parcels >= 1 ? "hatch" : "")}${
                  esc(valueName(k, lang))}</div>`).join("")}</div>`);
    } else {
      html.push(`<p class="note" data-legend="parcels-later">${esc(t("parcels_from", lang, {
        z: cfg.parcel_theme_zoom, now: number(ctx.view.zoom, lang, 1) }))}</p>`);
    }
  }
  if ((v.project_sites || v.pipeline) && cfg.facets.sectors) {
    // One swatch per colour, naming every sector that shares it (Tol's nine colours).
    const groups = new Map();
    for (const s of cfg.facets.sectors) {
      const c = cfg.sector_colors[s] || [221, 221, 221, 255];
      const k = c.join(",");
      if (!groups.has(k)) groups.set(k, { c, names: [] });
      groups.get(k).names.push(valueName(s, lang));
    }
    const rows = [...groups.values()].map((g) => `<div>${swatch(g.c)}${esc(g.names.join(", "))}</div>`);
    const top = cfg.heights.column_max_investment;
    rows.push(`<p class="note">${esc(t(state.threeD ? "height_by" : "size_by", lang))}${
      top ? `; ${esc(t("tallest_column", lang))} = ${esc(money(top, lang))}` : ""}</p>`);
    if (v.pipeline) rows.push(`<div>${ring([40, 40, 40, 255])}${esc(t("pipeline_style", lang))}</div>`);
    section("projects", t("legend_projects", lang) + syntheticNote(ctx, "project_sites"),
            rows.join(""));
  }
  if (v.findings && cfg.plan) {
    section("findings", t("legend_findings", lang),
            ["error", "warning"].map((s) => `<div>${ring(marks.severity[s], s === "error" ? 3 : 2)}${
              esc(t("severity_" + s, lang))}</div>`).join(""));
  }
  const areas = [];
  if (v.sanitary_zones && cfg.plan) areas.push(`<div>${swatch(marks.sanitary_fill.slice(0, 3).concat([110]))}${esc(t("szz", lang))}</div>`);
  if (v.protected_areas && cfg.layers.includes("protected_areas")) areas.push(`<div>${swatch(st.base.protected)}${esc(t("protected", lang))}</div>`);
  if (v.industrial_zones && cfg.layers.includes("industrial_zones")) areas.push(`<div>${swatch(st.base.industrial)}${esc(t("industrial", lang))}</div>`);
  if (v.water && WATER.some((w) => cfg.layers.includes(w))) areas.push(`<div>${swatch(st.base.water)}${esc(t("water", lang))}</div>`);
  if (areas.length) section("areas", t("legend_zones", lang), areas.join(""));
  if (v.settlements && cfg.layers.includes("settlements")) {
    section("settlements", t("legend_towns", lang),
            `<div><i class="sw dot"></i>${esc(t("town_known", lang))}</div>` +
            `<div><i class="sw dot hollow"></i>${esc(t("town_unknown", lang))}</div>`);
  }
  const scen = ctx.scenarioLegend();
  if (scen) html.push(scen);
  section("honesty", t("made_up_marks", lang),
          `<div><i class="sw dashed"></i>${esc(t("mark_dashed", lang))}</div>` +
          `<div><i class="sw hatch" style="background-color:#bbb"></i>${esc(t("mark_hatched", lang))}</div>`);
  el.innerHTML = html.join("");
}
