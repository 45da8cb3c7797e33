// The planner's basics: the URL follows the view, zoom buttons and a scale bar, filters by
// sector, status and hazard class, a slider over the projects' years, PNG export, the
// collapsible panel and the synthetic-data banner.
import { number, percent } from "./format.js";
import { layerName, t, valueName } from "./i18n.js";

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => (
  { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

// ------------------------------------------------------------------ the URL
const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;
const list = (s) => (s ? s.split(",").filter(Boolean) : null);

// What a shared link restores: camera, layers, colouring, language, scenario, filters.
export function readURL(params, cfg) {
  const out = { view: {}, state: {} };
  for (const [k, key] of [["lon", "longitude"], ["lat", "latitude"], ["z", "zoom"],
                          ["pitch", "pitch"], ["bearing", "bearing"]]) {
    const v = Number(params.get(k));
    if (params.has(k) && Number.isFinite(v)) out.view[key] = v;
  }
  const color = params.get("color") || "";
  // A scenario's colourings exist once its evaluation has arrived; keep the wish till then.
  if (cfg.color_by[color] || (color.startsWith("scenario:") && params.has("scenario"))) {
    out.state.colorBy = color;
  }
  const lang = params.get("lang") || params.get("labels");
  if (cfg.style.label_columns[lang]) out.state.lang = lang;
  if (params.has("view")) out.state.threeD = params.get("view") === "3d";
  if (params.has("layers")) out.state.layers = list(params.get("layers")) || [];
  if (params.has("scenario")) out.state.scenario = params.get("scenario");
  if (["overlay", "side", "base"].includes(params.get("compare"))) {
    out.state.compare = params.get("compare");
  }
  const f = {};
  for (const k of ["sector", "status", "hazard"]) {
    if (params.has(k)) f[k] = new Set(params.get(k).split(",").map((x) => (x === "none" ? "" : x)));
  }
  const y = Number(params.get("year"));
  if (params.has("year") && Number.isFinite(y)) f.year = y;
  out.state.filters = f;
  return out;
}

export function urlOf(ctx) {
  const { state, view } = ctx;
  const p = new URLSearchParams();
  p.set("lon", round(view.longitude, 4));
  p.set("lat", round(view.latitude, 4));
  p.set("z", round(view.zoom, 2));
  if (round(view.pitch || 0, 0)) p.set("pitch", round(view.pitch, 0));
  if (round(view.bearing || 0, 0)) p.set("bearing", round(view.bearing, 0));
  if (state.threeD) p.set("view", "3d");
  p.set("color", state.colorBy);
  p.set("lang", state.lang);
  p.set("layers", Object.keys(state.visible).filter((k) => state.visible[k]).join(","));
  if (state.scenario) p.set("scenario", state.scenario);
  if (state.scenario && state.compare !== "overlay") p.set("compare", state.compare);
  const f = state.filters;
  for (const [k, set] of [["sector", f.sectors], ["status", f.statuses], ["hazard", f.hazard]]) {
    if (set) p.set(k, [...set].map((x) => x || "none").join(","));
  }
  if (f.year !== null && f.year !== undefined) p.set("year", f.year);
  return `${location.pathname}?${p.toString()}`;
}

// ------------------------------------------------------------------ scale bar
// Metres per pixel at the centre of a Web Mercator view (deck.gl's world is 512 px wide).
export function metresPerPixel(view) {
  return 40075016.686 * Math.cos(view.latitude * Math.PI / 180) / (512 * 2 ** view.zoom);
}

export function scaleBar(view, lang, target = 110) {
  const m = metresPerPixel(view) * target;
  const p = 10 ** Math.floor(Math.log10(m));
  const nice = [5, 2, 1].map((k) => k * p).find((x) => x <= m) || p;
  const px = nice / metresPerPixel(view);
  const km = nice >= 1000;
  const unit = km ? { en: "km", ru: "км", kk: "км" }[lang] : { en: "m", ru: "м", kk: "м" }[lang];
  return { px, text: `${number(km ? nice / 1000 : nice, lang)} ${unit}` };
}

// ------------------------------------------------------------------ filters
export function buildFilters(ctx, el, onChange) {
  const { cfg, state } = ctx;
  const fc = cfg.facets || {};
  const lang = state.lang;
  const f = state.filters;
  const box = (group, value, label, on, colour) => `<label class="chk"><input type="checkbox" ` +
    `data-filter="${group}" value="${esc(value)}" ${on ? "checked" : ""}/>${colour
      ? `<i class="sw" style="background:rgb(${colour.slice(0, 3).join(",")})"></i>` : ""}${
      esc(label)}</label>`;
  const groups = [];
  if ((fc.sectors || []).length) {
    groups.push(`<fieldset><legend>${esc(t("sector", lang))}</legend>${fc.sectors.map((s) =>
      box("sectors", s, valueName(s, lang), !f.sectors || f.sectors.has(s),
          cfg.sector_colors[s])).join("")}</fieldset>`);
  }
  if ((fc.statuses || []).length) {
    groups.push(`<fieldset><legend>${esc(t("status", lang))}</legend>${fc.statuses.map((s) =>
      box("statuses", s.id, valueName(s.id, lang), !f.statuses || f.statuses.has(s.id))).join("")}</fieldset>`);
  }
  if ((fc.hazard_classes || []).length) {
    groups.push(`<fieldset class="inline"><legend>${esc(t("hazard", lang))}</legend>${
      fc.hazard_classes.map((h) => box("hazard", h, h || t("hazard_none", lang),
                                       !f.hazard || f.hazard.has(h))).join("")}</fieldset>`);
  }
  if (fc.years) {
    const y = f.year ?? fc.years.max;
    groups.push(`<fieldset><legend>${esc(t("year", lang))}</legend>
      <div class="year-row"><input type="range" id="year" min="${fc.years.min}" max="${fc.years.max}"
        step="1" value="${y}" aria-valuetext="${y}" ${f.year === null || f.year === undefined
          ? "disabled" : ""} aria-label="${esc(t("year", lang))}"/>
      <output id="year-out" for="year">${f.year === null || f.year === undefined
        ? esc(t("all_years", lang)) : String(y)}</output></div>
      <label class="chk"><input type="checkbox" id="all-years" ${f.year === null ||
        f.year === undefined ? "checked" : ""}/>${esc(t("all_years", lang))}</label></fieldset>`);
  }
  groups.push(`<p id="shown" class="note" aria-live="polite"></p>
    <button type="button" id="reset-filters">${esc(t("reset_filters", lang))}</button>`);
  el.innerHTML = groups.join("");

  const read = () => {
    for (const [group, all] of [["sectors", fc.sectors || []],
                                ["statuses", (fc.statuses || []).map((s) => s.id)],
                                ["hazard", fc.hazard_classes || []]]) {
      const on = [...el.querySelectorAll(`input[data-filter=${group}]:checked`)].map((x) => x.value);
      f[group] = on.length === all.length ? null : new Set(on);
    }
    const allYears = el.querySelector("#all-years");
    const slider = el.querySelector("#year");
    if (slider) {
      slider.disabled = allYears.checked;
      f.year = allYears.checked ? null : Number(slider.value);
      slider.setAttribute("aria-valuetext", String(slider.value));
      el.querySelector("#year-out").textContent = allYears.checked ? t("all_years", lang)
        : String(slider.value);
    }
    onChange();
  };
  // Handlers as properties: the filters are rebuilt on a change of language, and listeners
  // added each time would pile up.
  el.onchange = read;
  el.oninput = (e) => { if (e.target.id === "year") read(); };
  el.querySelector("#reset-filters").addEventListener("click", () => {
    f.sectors = f.statuses = f.hazard = null;
    f.year = null;
    buildFilters(ctx, el, onChange);
    onChange();
  });
}

export function showCount(ctx, el) {
  const all = (ctx.data.project_sites || { features: [] }).features.length;
  const shown = ctx.shownSites();
  const out = el.querySelector("#shown");
  if (out) out.textContent = t("shown", ctx.state.lang, { n: number(shown, ctx.state.lang),
                                                         m: number(all, ctx.state.lang) });
}

// ------------------------------------------------------------------ banner
export function bannerText(ctx) {
  const lang = ctx.state.lang;
  const share = ctx.cfg.synthetic_share || {};
  const parts = Object.entries(share).filter(([, s]) => s > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([id, s]) => `${layerName(id, lang)} (${s >= 1 ? t("all_of", lang)
      : percent(Math.max(0.01, s), lang)})`);
  return parts.length ? t("banner", lang, { list: parts.join(", ") }) : "";
}

// ------------------------------------------------------------------ export
// The current view as a PNG: the map as drawn, with a footer naming the twin, the scale,
// what is synthetic and the sources to credit, so a picture that leaves the page still says what it shows.
export function composePNG(ctx, mapCanvas) {
  const dpr = mapCanvas.width / Math.max(1, mapCanvas.clientWidth);
  const foot = Math.round(72 * dpr);
  const out = document.createElement("canvas");
  out.width = mapCanvas.width;
  out.height = mapCanvas.height + foot;
  const g = out.getContext("2d");
  g.fillStyle = "#fff";
  g.fillRect(0, 0, out.width, out.height);
  g.drawImage(mapCanvas, 0, 0);
  const lang = ctx.state.lang;
  const bar = scaleBar(ctx.view, lang);
  const y = mapCanvas.height;
  g.fillStyle = "#222";
  g.font = `${Math.round(15 * dpr)}px TwinSans, sans-serif`;
  g.fillText(`${ctx.cfg.title} — ${ctx.coloring().title}`, 10 * dpr, y + 20 * dpr);
  g.font = `${Math.round(12 * dpr)}px TwinSans, sans-serif`;
  const note = bannerText(ctx);
  const cut = (s) => (s.length > 150 ? s.slice(0, 149) + "…" : s);
  g.fillText(cut(note), 10 * dpr, y + 40 * dpr);
  g.fillText(cut((ctx.cfg.attribution || []).join(" · ")), 10 * dpr, y + 60 * dpr);
  const x0 = out.width - (bar.px + 90) * dpr;
  g.fillRect(x0, y + 14 * dpr, bar.px * dpr, 4 * dpr);
  g.fillText(bar.text, x0 + (bar.px + 6) * dpr, y + 20 * dpr);
  return out;
}
