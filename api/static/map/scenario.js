// Scenarios: a stored scenario's changes drawn over the baseline (on top, side by side, or
// off), the evaluation's deltas in a panel, districts coloured by a change, and every tile
// or API error on screen.
import { money, number, signed } from "./format.js";
import { t, valueName } from "./i18n.js";

/* global deck */

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => (
  { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

// Problem details (RFC 9457) say what went wrong; a bare status says little.
async function problemOf(url, fallback) {
  try {
    const r = await fetch(url);
    if (r.ok) return fallback;
    const body = await r.json().catch(() => null);
    return `HTTP ${r.status}${body && body.detail ? `: ${body.detail}` : ""}`;
  } catch (e) {
    return fallback;
  }
}

const DELTAS = {
  d_investment_kzt: { unit: "kzt", src: "districts", col: "d_investment_kzt", what: "eval_investment" },
  d_jobs: { unit: "jobs", src: "districts", col: "d_jobs", what: "eval_jobs" },
  score_change: { unit: "index", src: "score", col: "score_change", what: "eval_region_score" },
};

export class Scenarios {
  constructor(ctx, { select, compare, panel }) {
    this.ctx = ctx;
    this.select = select;
    this.compare = compare;
    this.panel = panel;
    this.current = null;   // {id, version, name, doc}
    this.evaluation = null;
    this.error = null;
    this.reported = new Set();
  }

  async init(want) {
    let list = [];
    try {
      list = (await this.ctx.getJSON(this.ctx.url("scenarios"))).scenarios || [];
    } catch (e) {
      this.ctx.fail("scenarios", e);
    }
    for (const s of list) this.select.add(new Option(`${s.name || s.id} (v${s.version})`, s.id));
    this.select.disabled = !list.length;
    this.select.addEventListener("change", () => this.pick(this.select.value));
    this.compare.addEventListener("change", () => {
      this.ctx.state.compare = this.compare.value;
      this.ctx.setViews();
      this.ctx.render();
    });
    if (want && list.some((s) => s.id === want)) {
      this.select.value = want;
      await this.pick(want);
    }
  }

  async pick(id) {
    const ctx = this.ctx;
    this.current = null;
    this.evaluation = null;
    this.error = null;
    this.reported.clear();
    ctx.state.scenario = id || null;
    this.compare.disabled = !id;
    if (!id) {
      if (ctx.state.colorBy.startsWith("scenario:")) ctx.state.colorBy = ctx.cfg.default_color_by;
      this.panel.hidden = true;
      ctx.refreshColorOptions();
      ctx.setViews();
      ctx.render();
      return;
    }
    const path = `scenarios/${encodeURIComponent(id)}`;
    try {
      const doc = await ctx.getJSON(ctx.url(path));
      this.current = { id: doc.id, version: doc.version, name: doc.name || doc.id, doc };
    } catch (e) {
      this.showError("eval_error", await problemOf(ctx.url(path), String(e.message || e)));
      return;
    }
    this.renderPanel();
    ctx.setViews();
    ctx.render();
    try {
      this.evaluation = await ctx.getJSON(ctx.url(`${path}/evaluation`));
    } catch (e) {
      this.showError("eval_error", await problemOf(ctx.url(`${path}/evaluation`),
                                                  String(e.message || e)));
      return;
    }
    ctx.refreshColorOptions();
    this.renderPanel();
    ctx.render();
  }

  showError(key, detail) {
    this.error = t(key, this.ctx.state.lang, { detail });
    this.ctx.fail("scenario", new Error(this.error));
    this.renderPanel();
  }

  async tileError(layer, url, e) {
    // One message per scenario: a broken one fails every tile of every layer the same way.
    if (this.reported.size) return;
    this.reported.add(layer);
    const detail = await problemOf(url, String(e && e.message || e));
    this.showError("scen_error", `${layer}: ${detail}`);
  }

  // The scenario's own layers from its vector tiles, pinned to its version (the server
  // answers those as immutable): the sites it adds or moves, their sanitary zones and the
  // areas it rezones. Baseline rows in the tiles stay transparent.
  layers() {
    const sc = this.current, ctx = this.ctx;
    if (!sc || ctx.state.compare === "base") return [];
    const m = ctx.cfg.style.marks;
    const mvt = (layer, props) => {
      const tmpl = ctx.absolute(`scenarios/${encodeURIComponent(sc.id)}/tiles/${layer}` +
                                `/{z}/{x}/{y}.mvt?v=${sc.version}`);
      return new deck.MVTLayer({
        id: `scenario-${layer}`, pickable: true, data: tmpl,
        binary: false, loaders: [window.twinMVTLoader], loadOptions: { worker: false },
        onTileLoad: () => { ctx.tm.scenarioTiles += 1; },
        onTileError: (e) => {
          const url = e && e.url ? e.url : tmpl.replace("{z}/{x}/{y}", "0/0/0");
          this.tileError(layer, url, e);
        },
        ...props,
      });
    };
    const rezoned = (f) => String(f.properties.id).includes(":scenario");
    const change = (f) => (/\((added|moved)\)/.exec(f.properties.source || "") || [])[1];
    return [
      mvt("zones", { minZoom: 5, maxZoom: 16, lineWidthMinPixels: 2,
                     getFillColor: (f) => (rezoned(f) ? m.scenario.rezoned_fill : [0, 0, 0, 0]),
                     getLineColor: (f) => (rezoned(f) ? m.scenario.rezoned_line : [0, 0, 0, 0]) }),
      mvt("sanitary_zones", { minZoom: 0, maxZoom: 16, lineWidthMinPixels: 2,
                              getFillColor: m.sanitary_fill, getLineColor: m.sanitary_line }),
      mvt("project_sites", { minZoom: 3, maxZoom: 16, pointType: "circle",
                             pointRadiusUnits: "pixels", getPointRadius: 9,
                             lineWidthMinPixels: 2, getLineColor: (f) => (change(f)
                               ? [255, 255, 255, 255] : [0, 0, 0, 0]),
                             getFillColor: (f) => m.scenario[change(f)] || [0, 0, 0, 0] }),
    ];
  }

  legend() {
    if (!this.current || this.ctx.state.compare === "base") return "";
    const lang = this.ctx.state.lang, m = this.ctx.cfg.style.marks.scenario;
    const sw = (c) => `<i class="sw" style="background:rgba(${c[0]},${c[1]},${c[2]},${
      (c[3] / 255).toFixed(2)})"></i>`;
    return `<section data-legend="scenario"><h3>${esc(t("scenario", lang))}: ${
      esc(this.current.name)}</h3>
      <div>${sw(m.added)}${esc(t("scen_added", lang))}</div>
      <div>${sw(m.moved)}${esc(t("scen_moved", lang))}</div>
      <div>${sw(m.rezoned_fill)}${esc(t("scen_rezoned", lang))}</div>
      <div>${sw(this.ctx.cfg.style.marks.sanitary_fill.slice(0, 3).concat([110]))}${
        esc(t("scen_szz", lang))}</div></section>`;
  }

  // Colourings of the districts by a change the evaluation reports, centred on zero.
  colorings() {
    const ev = this.evaluation;
    if (!ev) return {};
    const out = {};
    const ramp = this.ctx.cfg.style.marks.diverging;
    for (const [key, d] of Object.entries(DELTAS)) {
      const rows = ev[d.src] || [];
      const idCol = d.src === "score" ? "unit_id" : "district_id";
      const vals = Object.fromEntries(rows.map((r) => [String(r[idCol]), r[d.col]]));
      const nums = Object.values(vals).filter((x) => typeof x === "number");
      if (!nums.length) continue;
      const top = Math.max(...nums.map(Math.abs));
      const third = top / 3;
      const cls = (x) => (typeof x !== "number" ? null : x === 0 || top === 0 ? 2
        : x < -third ? 0 : x < 0 ? 1 : x <= third ? 3 : 4);
      const color = {}, height = {};
      for (const [id, x] of Object.entries(vals)) {
        const c = cls(x);
        if (c === null) continue;
        color[id] = ramp[c].concat([235]);
        height[id] = top ? Math.abs(x) / top : 0;
      }
      const used = new Set(Object.values(vals).map(cls));
      const lang = this.ctx.state.lang;
      const fmt = (x) => (d.unit === "kzt" ? money(x, lang, true) : signed(x, lang));
      const labels = [`${fmt(-top)} … ${fmt(-third)}`, `${fmt(-third)} … 0`,
                      t("eval_none", lang), `0 … ${fmt(third)}`, `${fmt(third)} … ${fmt(top)}`];
      out[`scenario:${key}`] = {
        key: `scenario:${key}:${this.current.version}`, unit: d.unit, relative: false,
        title: t("change_of", lang, { what: t(d.what, lang) }),
        color, height, min: 0, max: top,
        legend: [0, 1, 2, 3, 4].filter((c) => used.has(c))
          .map((c) => ({ color: ramp[c].concat([235]), text: labels[c] })),
      };
    }
    return out;
  }

  sitePosition(siteId) {
    for (const e of (this.current && this.current.doc.edits) || []) {
      if ((e.id === siteId || e.site_id === siteId) && typeof e.lon === "number") {
        return [e.lon, e.lat];
      }
    }
    const f = (this.ctx.data.project_sites || { features: [] }).features
      .find((x) => x.properties.id === siteId);
    return f ? f.geometry.coordinates : null;
  }

  renderPanel() {
    const ctx = this.ctx, lang = ctx.state.lang, el = this.panel;
    const sc = this.current, ev = this.evaluation;
    el.hidden = !ctx.state.scenario;
    if (el.hidden) return;
    const h = [`<h2>${esc(t("evaluation", lang))}</h2>`];
    if (sc) {
      h.push(`<p class="sub">${esc(sc.name)} · v${esc(sc.version)}</p>`);
      h.push(`<ul class="edits">${(sc.doc.description || []).map((d) => `<li>${esc(d)}</li>`)
        .join("")}</ul>`);
    }
    if (this.error) h.push(`<p class="error" role="alert">${esc(this.error)}</p>`);
    if (sc && !ev && !this.error) h.push(`<p>${esc(t("eval_loading", lang))}</p>`);
    if (ev) {
      const s = ev.summary || {};
      const row = (k, v, cls = "") => `<tr class="${cls}"><th scope="row">${esc(t(k, lang))}</th>` +
        `<td>${esc(v)}</td></tr>`;
      const sign = (x) => (x > 0 ? "up" : x < 0 ? "down" : "same");
      h.push('<table class="deltas" data-testid="deltas"><tbody>');
      h.push(row("eval_region_score", `${signed(s.d_region_score, lang, 1)} (${
        number(ev.region_score_base, lang, 1)} → ${number(ev.region_score, lang, 1)})`,
                 sign(s.d_region_score)));
      h.push(row("eval_investment", money(s.d_investment_kzt, lang, true), sign(s.d_investment_kzt)));
      h.push(row("eval_jobs", signed(s.d_jobs, lang, 0), sign(s.d_jobs)));
      h.push(row("eval_new_findings", number(s.new_findings || 0, lang)));
      h.push(row("eval_resolved", number(s.resolved_findings || 0, lang)));
      h.push(row("eval_szz_pop", signed(s.d_szz_population || 0, lang, 0)));
      h.push(row("eval_rank_moves", number(s.units_changing_rank || 0, lang)));
      h.push("</tbody></table>");
      const names = Object.fromEntries(ctx.cfg.district_labels.map((l) => [l.id, l[lang] || l.en]));
      const score = Object.fromEntries((ev.score || []).map((r) => [r.unit_id, r.score_change]));
      const changed = (ev.districts || []).filter((r) => r.d_investment_kzt || r.d_jobs ||
                                                  Math.abs(score[r.district_id] || 0) >= 0.05);
      if (changed.length) {
        changed.sort((a, b) => Math.abs(b.d_investment_kzt) - Math.abs(a.d_investment_kzt) ||
                     Math.abs(score[b.district_id] || 0) - Math.abs(score[a.district_id] || 0));
        h.push(`<h3>${esc(t("eval_districts", lang))}</h3><table class="by-district"><thead><tr>` +
               `<th></th><th>₸</th><th>${esc(t("eval_jobs", lang))}</th>` +
               `<th>${esc(t("eval_region_score", lang))}</th></tr></thead><tbody>`);
        for (const r of changed.slice(0, 8)) {
          h.push(`<tr data-district="${esc(r.district_id)}"><th scope="row">${
            esc(names[r.district_id] || r.district)}</th><td>${
            esc(r.d_investment_kzt ? money(r.d_investment_kzt, lang, true) : "0")}</td><td>${
            esc(signed(r.d_jobs, lang, 0))}</td><td>${esc(signed(score[r.district_id] || 0, lang, 1))}</td></tr>`);
        }
        h.push("</tbody></table>");
      }
      if ((ev.findings_new || []).length) {
        h.push(`<h3>${esc(t("eval_findings", lang))}</h3><ul class="findings">`);
        for (const f of ev.findings_new) {
          h.push(`<li class="sev-${esc(f.severity)}"><button type="button" data-site="${esc(f.site_id)}">${
            esc(valueName(f.severity, lang))}: ${esc(valueName(f.rule, lang))} · ${esc(f.site_id)}</button>` +
            `<small>${esc(f.message)}</small></li>`);
        }
        h.push("</ul>");
      }
    }
    el.innerHTML = h.join("");
    for (const b of el.querySelectorAll("button[data-site]")) {
      b.addEventListener("click", () => {
        const at = this.sitePosition(b.dataset.site);
        if (at) ctx.flyTo({ type: "Feature", geometry: { type: "Point", coordinates: at } }, 11);
      });
    }
  }
}
