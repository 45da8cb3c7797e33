// Identify: a click, a tap or Enter lists every feature under the point, "1 of 3", in a
// side panel: readable field names, units, numbers in the page's locale, how real each row
// is and which of its values are made up.
import { badgeOf, syntheticFields } from "./draw.js";
import { fieldName, fieldValue, money, number, percent } from "./format.js";
import { layerName, t, valueName } from "./i18n.js";

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => (
  { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

// Shown elsewhere in the panel (title, badge, source) or internal to the page.
const HIDDEN = new Set(["accuracy", "synthetic", "source", "layerName", "centre_lon",
                        "centre_lat", "score_synthetic", "synthetic_projects", "synthetic_fields",
                        "name", "name_kk", "name_ru", "name_en", "population_known",
                        "population_unknown", "tw_tip"]);

// Which twin layer a deck layer draws ("project_sites-2d-synthetic" -> "project_sites").
export function layerOf(deckId) {
  if (deckId.startsWith("scenario-")) return "scenario";
  for (const id of ["project_sites", "pipeline", "district-outlines", "parcels", "districts",
                    "settlements", "findings", "sanitary_zones", "protected_areas",
                    "industrial_zones", "lakes", "rivers", "water"]) {
    if (deckId === id || deckId.startsWith(id + "-")) {
      return id === "district-outlines" ? "districts" : id;
    }
  }
  return null;
}

function titleOf(ctx, layer, p) {
  const lang = ctx.state.lang;
  for (const col of ctx.cfg.style.label_columns[lang]) if (p[col]) return String(p[col]);
  if (layer === "findings") return `${valueName(p.rule, lang)} · ${p.site_name || p.site_id}`;
  if (layer === "sanitary_zones") return `${t("szz", lang)} · ${p.site_name || p.site_id}`;
  if (layer === "parcels") return t("parcel_n", lang, { id: p.id });
  return `${layerName(layer, lang)} ${p.id ?? ""}`.trim();
}

// Every feature under screen point (x, y), each once: points first, then the parcel, then
// the areas it lies in.
//
// deck's pickMultipleObjects redraws every pickable layer once per feature found, and a
// parcel that overlaps two tiles is found twice; under software WebGL a redraw of the
// parcels takes seconds. So the parcels are picked once, on their own, and the twin's other
// layers (a few hundred features) together, as deep as needed.
const ORDER = ["scenario", "findings", "project_sites", "pipeline", "settlements", "parcels",
               "sanitary_zones", "industrial_zones", "protected_areas", "rivers", "lakes",
               "water", "districts"];

export function pickAll(ctx, x, y) {
  const layers = ctx.deck.props.layers.filter((l) => l.props.pickable);
  const parcels = layers.filter((l) => l.id === "parcels").map((l) => l.id);
  const others = layers.filter((l) => l.id !== "parcels").map((l) => l.id);
  const parcel = parcels.length ? ctx.deck.pickObject({ x, y, radius: 3, layerIds: parcels })
    : null;
  const picks = [
    ...(others.length ? ctx.deck.pickMultipleObjects({ x, y, radius: 4, depth: 10,
                                                       layerIds: others }) : []),
    parcel,
  ];
  const seen = new Set();
  const out = [];
  for (const pk of picks) {
    if (!pk || !pk.layer || !pk.object) continue;
    const layer = layerOf(pk.layer.id);
    if (!layer) continue;
    const p = pk.object.properties || pk.object;
    const key = `${layer}:${p.id ?? JSON.stringify(p).slice(0, 80)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ layer, properties: p, object: pk.object });
  }
  return out.sort((a, b) => ORDER.indexOf(a.layer) - ORDER.indexOf(b.layer));
}

function districtExtras(ctx, p, rows) {
  const lang = ctx.state.lang;
  const extra = ctx.cfg.district_values[p.id] || {};
  const v = (k) => extra[k];
  if ("population" in extra) {
    let s = v("population") === null ? t("unknown", lang) : number(v("population"), lang);
    if (v("population") !== null && v("population_unknown") > 0) {
      s = t("at_least", lang, { v: s });
    }
    rows.push([fieldName("population", lang), s,
               v("population_unknown") > 0 ? t("floor_note", lang, { n: v("population_unknown") })
                 : ""]);
  }
  if ("investment_kzt" in extra) rows.push([fieldName("investment_kzt", lang),
                                            money(v("investment_kzt"), lang), ""]);
  if ("jobs" in extra) rows.push([fieldName("jobs", lang), number(v("jobs"), lang), ""]);
  if ("projects" in extra) {
    rows.push([fieldName("projects", lang), number(v("projects"), lang),
               v("projects") ? t("projects_note", lang, { n: v("projects"),
                                                         s: v("synthetic_projects") }) : ""]);
  }
  if (typeof v("score") === "number") {
    rows.push([fieldName("score", lang), number(v("score"), lang, 1),
               typeof v("score_synthetic") === "number"
                 ? t("score_note", lang, { p: percent(v("score_synthetic"), lang) }) : ""]);
  }
}

function districtName(ctx, id) {
  const l = ctx.cfg.district_labels.find((d) => d.id === String(id));
  return l ? l[ctx.state.lang] || l.en : String(id);
}

// The HTML of one feature: title, layer, badge, fields, made-up values, source.
export function describe(ctx, layer, p) {
  const lang = ctx.state.lang;
  const made = new Set(syntheticFields(p));
  const badge = badgeOf(p);
  const rows = [];
  if (layer === "districts") districtExtras(ctx, p, rows);
  for (const [k, val] of Object.entries(p)) {
    if (HIDDEN.has(k) || val === null || val === "") continue;
    if (layer === "districts" && k in (ctx.cfg.district_values[p.id] || {})) continue;
    if (k === "population" && p.population_known === false) {
      rows.push([fieldName(k, lang), t("unknown", lang), ""]);
      continue;
    }
    const shown = k === "district_id" ? districtName(ctx, val) : fieldValue(k, val, lang);
    rows.push([fieldName(k, lang), shown, made.has(k) ? t("made_up", lang) : ""]);
  }
  const alt = [p.name_kk, p.name_ru, p.name].filter((n, i, a) => n && a.indexOf(n) === i &&
                                                    n !== titleOf(ctx, layer, p));
  const html = [
    `<h3>${esc(titleOf(ctx, layer, p))}</h3>`,
    `<p class="sub">${esc(layerName(layer, lang))}${alt.length ? " · " + esc(alt.join(" · ")) : ""}</p>`,
    `<p><span class="acc acc-${esc(badge.replace(" ", "-"))}" data-badge="${esc(badge)}">` +
      `${esc(t("data", lang))}: ${esc(t("acc_" + badge, lang))}</span></p>`,
    "<dl>",
    ...rows.map(([k, val, note]) => `<dt>${esc(k)}</dt><dd>${esc(val)}${
      note ? ` <em class="${note === t("made_up", lang) ? "made-up" : "note"}">${esc(note)}</em>`
        : ""}</dd>`),
    "</dl>",
  ];
  if (made.size) {
    html.push(`<p class="made-up-list">${esc(t("made_up_fields", lang))}: ${
      esc([...made].map((f) => (f === "geometry" ? "📍 " : "") + fieldName(f, lang)).join(", "))}</p>`);
  }
  if (p.source) html.push(`<p class="source">${esc(t("source", lang))}: ${esc(p.source)}</p>`);
  return html.join("");
}

export class IdentifyPanel {
  constructor(ctx, el) {
    this.ctx = ctx;
    this.el = el;
    this.items = [];
    this.i = 0;
    el.addEventListener("click", (e) => {
      const b = e.target.closest("button[data-act]");
      if (!b) return;
      if (b.dataset.act === "prev") this.show(this.i - 1);
      if (b.dataset.act === "next") this.show(this.i + 1);
      if (b.dataset.act === "close") this.close();
      if (b.dataset.act === "item") this.show(Number(b.dataset.i));
    });
    el.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { this.close(); this.ctx.focusMap(); }
    });
  }

  at(x, y) {
    this.open(pickAll(this.ctx, x, y));
  }

  open(items, focus = true) {
    this.items = items;
    this.el.hidden = false;
    this.show(0, focus);
  }

  close() {
    this.el.hidden = true;
    this.items = [];
    this.ctx.state.selected = null;
    this.ctx.render();
  }

  show(i, focus = true) {
    const lang = this.ctx.state.lang;
    const n = this.items.length;
    if (!n) {
      this.el.innerHTML = `<div class="ident-head"><h2 id="ident-title">${esc(t("here", lang))}</h2>
        <button type="button" data-act="close" aria-label="${esc(t("close", lang))}">×</button></div>
        <p>${esc(t("nothing_here", lang))}</p>`;
      this.ctx.state.selected = null;
    } else {
      this.i = (i + n) % n;
      const it = this.items[this.i];
      const list = n > 1 ? `<ol class="ident-list">${this.items.map((x, j) =>
        `<li><button type="button" data-act="item" data-i="${j}" aria-current="${
          j === this.i}">${esc(layerName(x.layer, lang))}: ${esc(titleOf(this.ctx, x.layer,
                                                                         x.properties))}</button></li>`
      ).join("")}</ol>` : "";
      this.el.innerHTML = `<div class="ident-head">
          <h2 id="ident-title">${esc(t("here", lang))}</h2>
          <span class="count" aria-live="polite">${esc(t("n_of_m", lang, { n: this.i + 1, m: n }))}</span>
          <button type="button" data-act="prev" aria-label="${esc(t("prev", lang))}" ${
            n < 2 ? "disabled" : ""}>‹</button>
          <button type="button" data-act="next" aria-label="${esc(t("next", lang))}" ${
            n < 2 ? "disabled" : ""}>›</button>
          <button type="button" data-act="close" aria-label="${esc(t("close", lang))}">×</button>
        </div>${list}<div class="ident-body">${describe(this.ctx, it.layer, it.properties)}</div>`;
      const obj = it.object;
      this.ctx.state.selected = obj && obj.geometry ? { type: "Feature", geometry: obj.geometry,
                                                        properties: {} } : null;
    }
    this.ctx.render();
    if (focus) {
      const b = this.el.querySelector("button[data-act=next]:not([disabled])") ||
        this.el.querySelector("button[data-act=close]");
      b.focus();
    }
  }

  refresh() {
    if (!this.el.hidden) this.show(this.i, false);
  }
}

// A short hover hint; the panel holds the details.
export function hoverTip(ctx) {
  return ({ object, layer }) => {
    if (!object || !layer) return null;
    const id = layerOf(layer.id);
    if (!id) return null;
    const p = object.properties || object;
    return {
      text: `${titleOf(ctx, id, p)} — ${layerName(id, ctx.state.lang)} · ${
        t("acc_" + badgeOf(p), ctx.state.lang).split(" — ")[0]}`,
      style: { background: "rgba(255,255,255,.96)", color: "#222", fontSize: "13px",
               border: "1px solid #999", fontFamily: "TwinSans, sans-serif", padding: "3px 6px" },
    };
  };
}
