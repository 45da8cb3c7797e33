/* The situation centre: the Region Score's ranking, trends, forecasts, map and audit.
 *
 * Charts are plotly.js (global `Plotly`, served from inside the plotly wheel), the map is
 * deck.gl (global `deck`, pydeck's bundle, as on /map). Data comes from this API only:
 * /score (pushed again on /score/stream after each ingest), /score/forecast (the region's
 * set, re-read when the stream says a refit completed), /score/audit,
 * /score/units/{id}/history, /map/config.json and /collections/districts/items.
 */
"use strict";
(function () {
  const BASE = location.pathname.replace(/dashboard\/?$/, "");
  const url = (p) => BASE + p;
  const td = (window.twinDash = {
    ready: false, errors: [], updates: 0, lastUpdate: null, ranking: null, forecast: null,
    audit: null, config: null, unit: null, lang: "kk", deck: null, rendered: 0,
  });

  // Interface labels. Place names come from the twin (name_kk / name_ru / name); the
  // indicator and dimension names are the registry's, which holds them in one language.
  const I18N = {
    en: {
      title: "Region Score — situation centre", language: "Language", to_map: "Map",
      ranking: "Ranking", ranking_hint: "Dots: rank; bars: the 5–95 % rank interval " +
        "(weights ±50 %, normalisation and aggregation varied). Click a row or the map to open it.",
      left_out: "Not scored (no observations yet)",
      too_short: "series not forecast yet: under {n} months of history.",
      rank: "Rank", unit: "Unit", score: "Score", change: "Δ month", rank_change: "Δ rank",
      imputed: "imputed", imputed_cells: "imputed cells", map: "Map",
      dims: "Dimension sub-scores (0–100)", early_warning: "Early warning",
      early_hint: "Forecast KPI misses its target; likeliest first.",
      indicator: "Indicator", kpi: "KPI forecast", target: "Target", p_miss: "P(miss)",
      audit: "Statistical audit (JRC/OECD)", sensitivity: "Sensitivity of the ranks (Sobol)",
      first_order: "first order", total_order: "total order",
      correlations: "Indicator correlations (direction-aligned)",
      flags: "Flagged pairs", alpha: "Cronbach's alpha", outliers: "Outliers: what treatment would do (it is off)",
      normalisation: "normalisation", aggregation: "aggregation", none: "none", close: "Close", strengths: "Strengths", weaknesses: "Weaknesses",
      observed: "observed", synthetic: "synthetic", syn_short: "syn.", forecast: "forecast",
      interval: "interval", data_as_of: "Data as of", live: "Live", connecting: "Connecting…",
      updated: "Updated", loading: "Loading…", ready: "Ready",
      forecasting: "Computing the region's forecasts…",
      forecast_of: "Forecasts fitted on data version", refitting: "refitting after an ingest…",
      misses: "forecast misses the target", scored: "scored", of: "of",
      synthetic_note: "The indicator history of this twin is synthetic: it illustrates the " +
        "method, not the region. Synthetic observations and imputed cells are marked.",
      collinear: "collinear", negative_within_dimension: "negative within a dimension",
      winsorised: "winsorised", log: "log",
    },
    ru: {
      title: "Рейтинг региона — ситуационный центр", language: "Язык", to_map: "Карта",
      ranking: "Рейтинг", ranking_hint: "Точки — место; отрезки — интервал места 5–95 % " +
        "(веса ±50 %, разные нормировка и агрегирование). Нажмите на строку или на карту, чтобы открыть.",
      left_out: "Не учитываются (наблюдений пока нет)",
      too_short: "рядов пока без прогноза: история короче {n} месяцев.",
      rank: "Место", unit: "Территория", score: "Балл", change: "Δ за месяц", rank_change: "Δ места",
      imputed: "вменено", imputed_cells: "вменённых значений", map: "Карта",
      dims: "Оценки по направлениям (0–100)", early_warning: "Раннее предупреждение",
      early_hint: "Прогноз показателя не достигает цели; сначала наиболее вероятные.",
      indicator: "Показатель", kpi: "Прогноз KPI", target: "Цель", p_miss: "P(недостижения)",
      audit: "Статистический аудит (JRC/OECD)",
      sensitivity: "Чувствительность мест (индексы Соболя)",
      first_order: "первого порядка", total_order: "полный",
      correlations: "Корреляции показателей (с учётом направления)",
      flags: "Отмеченные пары", alpha: "Альфа Кронбаха", outliers: "Выбросы: что сделала бы обработка (она выключена)",
      normalisation: "нормировка", aggregation: "агрегирование",
      none: "нет", close: "Закрыть", strengths: "Сильные стороны", weaknesses: "Слабые стороны",
      observed: "наблюдение", synthetic: "синтетические", syn_short: "синт.", forecast: "прогноз",
      interval: "интервал", data_as_of: "Данные на", live: "В реальном времени",
      connecting: "Подключение…", updated: "Обновлено", loading: "Загрузка…", ready: "Готово",
      forecasting: "Рассчитываются прогнозы по региону…",
      forecast_of: "Прогнозы по версии данных", refitting: "пересчёт после новых данных…",
      misses: "прогноз не достигает цели", scored: "в расчёте", of: "из",
      synthetic_note: "История показателей этого двойника синтетическая: она показывает " +
        "метод, а не регион. Синтетические наблюдения и вменённые значения отмечены.",
      collinear: "коллинеарны", negative_within_dimension: "отрицательная внутри направления",
      winsorised: "винзоризация", log: "логарифм",
    },
    kk: {
      title: "Өңір рейтингі — жағдаяттық орталық", language: "Тіл", to_map: "Карта",
      ranking: "Рейтинг", ranking_hint: "Нүкте — орын; сызық — орынның 5–95 % аралығы " +
        "(салмақтар ±50 %, әртүрлі нормалау мен біріктіру). Ашу үшін жолды немесе картаны басыңыз.",
      left_out: "Есепке алынбайды (әзірге бақылау жоқ)",
      too_short: "қатар әзірге болжамсыз: тарихы {n} айдан қысқа.",
      rank: "Орын", unit: "Аумақ", score: "Балл", change: "Δ айына", rank_change: "Δ орын",
      imputed: "толтырылған", imputed_cells: "толтырылған мән", map: "Карта",
      dims: "Бағыттар бойынша бағалар (0–100)", early_warning: "Ерте ескерту",
      early_hint: "Көрсеткіш болжамы мақсатқа жетпейді; алдымен ең ықтималдары.",
      indicator: "Көрсеткіш", kpi: "KPI болжамы", target: "Мақсат", p_miss: "P(жетпеу)",
      audit: "Статистикалық аудит (JRC/OECD)",
      sensitivity: "Орындардың сезімталдығы (Соболь индекстері)",
      first_order: "бірінші ретті", total_order: "толық",
      correlations: "Көрсеткіштер корреляциясы (бағыты ескерілген)",
      flags: "Белгіленген жұптар", alpha: "Кронбах альфасы",
      outliers: "Шығыңқы мәндер: өңдеу не істер еді (ол өшірулі)", none: "жоқ", close: "Жабу",
      normalisation: "нормалау", aggregation: "біріктіру",
      strengths: "Күшті жақтары", weaknesses: "Әлсіз жақтары", observed: "бақылау",
      syn_short: "синт.",
      synthetic: "синтетикалық", forecast: "болжам", interval: "аралық",
      data_as_of: "Деректер мерзімі", live: "Тікелей", connecting: "Қосылуда…",
      updated: "Жаңартылды", loading: "Жүктелуде…", ready: "Дайын",
      forecasting: "Өңір бойынша болжамдар есептелуде…",
      forecast_of: "Болжамдар деректер нұсқасы бойынша", refitting: "жаңа деректерден кейін қайта есептелуде…",
      misses: "болжам мақсатқа жетпейді", scored: "есепте", of: "/",
      synthetic_note: "Бұл егіздің көрсеткіштер тарихы синтетикалық: ол өңірді емес, әдісті " +
        "көрсетеді. Синтетикалық бақылаулар мен толтырылған мәндер белгіленген.",
      collinear: "коллинеар", negative_within_dimension: "бағыт ішінде теріс",
      winsorised: "винзорлау", log: "логарифм",
    },
  };
  const t = (k) => (I18N[td.lang] && I18N[td.lang][k]) || I18N.en[k] || k;
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => (
    { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const fmt = (v, d = 1) => (v === null || v === undefined ? "–" :
    Number(v).toLocaleString("en", { maximumFractionDigits: d, minimumFractionDigits: d }));
  const signed = (v, d = 1) => (v === null || v === undefined ? "–" :
    `<span class="${v > 0 ? "up" : v < 0 ? "down" : ""}">${v > 0 ? "+" : ""}${fmt(v, d)}</span>`);
  const status = (text) => { $("status").textContent = text; };
  const PLOT = { displayModeBar: false, responsive: true };
  const FONT = { family: "TwinSans, 'Noto Sans', sans-serif", size: 11 };

  async function getJSON(path) {
    const r = await fetch(url(path), { headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
    return r.json();
  }
  function fail(e) { td.errors.push(String(e && e.message || e)); console.error(e); }

  // ----------------------------------------------------------------- names
  const features = {};
  function unitName(id) {
    const f = features[id];
    const cols = td.config ? td.config.style.label_columns[td.lang] : ["name"];
    if (f) for (const c of cols) if (f.properties[c]) return String(f.properties[c]);
    const u = td.ranking && td.ranking.units.find((x) => x.unit_id === id);
    return u ? u.name : id;
  }
  // The share of synthetic observations behind a unit's score (from /map/config.json).
  function syntheticMark(id) {
    const v = ((td.config && td.config.district_values) || {})[id] || {};
    const share = v.score_synthetic;
    if (typeof share !== "number" || share <= 0) return "";
    return ` <span class="mark synthetic" title="${t("synthetic")}">` +
      `${share >= 1 ? "" : Math.round(share * 100) + "% "}${t("syn_short")}</span>`;
  }
  const indicator = (id) => td.ranking.indicators.find((i) => i.id === id) || { id, name: id };
  const dimName = (id) => (td.ranking.dimensions.find((d) => d.id === id) || { name: id }).name;
  // What the twin's own registry scores: indicators without any observation are left out
  // of the composite (GET /score names them), and a dimension with none of its indicators
  // observed has no sub-score; the page shows neither as if it had data.
  const scored = (id) => !(td.ranking.left_out || []).includes(id);
  const scoredDims = () => td.ranking.dimensions.filter((d) =>
    td.ranking.indicators.some((i) => i.dimension === d.id && scored(i.id)));
  function renderLeftOut() {
    const out = (td.ranking.left_out || []).map((id) => indicator(id).name);
    $("left-out").hidden = out.length === 0;
    $("left-out").textContent = out.length ? `${t("left_out")}: ${out.join(", ")}` : "";
  }

  // ----------------------------------------------------------------- ranking
  let previousOrder = null;
  function renderRanking() {
    const r = td.ranking;
    $("as-of").textContent = `${t("data_as_of")}: ${r.as_of || "–"}`;
    const units = r.units;
    const names = units.map((u) => unitName(u.unit_id));
    Plotly.react("rank-chart", [{
      type: "scatter", mode: "markers", orientation: "h", x: units.map((u) => u.rank), y: names,
      customdata: units.map((u) => [u.rank_interval[0], u.rank_interval[1], u.score]),
      hovertemplate: `%{y}<br>${t("rank")} %{x} (%{customdata[0]}–%{customdata[1]})` +
        `<br>${t("score")} %{customdata[2]:.1f}<extra></extra>`,
      marker: { size: 9, color: units.map((u) => u.score), colorscale: "Viridis",
                cmin: 0, cmax: 100, line: { width: 1, color: "#333" } },
      error_x: { type: "data", symmetric: false, color: "#555", thickness: 1.5, width: 4,
                 array: units.map((u) => u.rank_interval[1] - u.rank),
                 arrayminus: units.map((u) => u.rank - u.rank_interval[0]) },
    }], {
      margin: { l: 150, r: 10, t: 4, b: 34 }, font: FONT, showlegend: false,
      xaxis: { title: { text: t("rank") }, dtick: 1, range: [0.5, units.length + 0.5],
               zeroline: false },
      yaxis: { autorange: "reversed", automargin: true, tickfont: { size: 11 } },
    }, PLOT);

    const dims = scoredDims().map((d) => d.id);
    renderLeftOut();
    const head = `<tr><th>${t("rank")}</th><th class="name">${t("unit")}</th>` +
      `<th>${t("score")}</th><th>${t("change")}</th><th>${t("rank_change")}</th>` +
      dims.map((d) => `<th title="${esc(dimName(d))}">${esc(dimName(d).split(/[ ,]/)[0])}</th>`)
        .join("") + "</tr>";
    const moved = new Set();
    if (previousOrder) units.forEach((u, k) => { if (previousOrder[k] !== u.unit_id) moved.add(u.unit_id); });
    const rows = units.map((u) => `<tr class="unit-row${moved.has(u.unit_id) ? " changed" : ""}" ` +
      `data-unit="${esc(u.unit_id)}"><td>${u.rank} <small>(${u.rank_interval[0]}–` +
      `${u.rank_interval[1]})</small></td><td class="name"><span class="unit-name">${esc(unitName(u.unit_id))}</span>` +
      syntheticMark(u.unit_id) + (u.n_imputed ? ` <span class="mark imputed" title="` +
        `${u.n_imputed} ${t("imputed_cells")}">⚑${u.n_imputed}</span>` : "") + "</td>" +
      `<td>${fmt(u.score)}</td><td>${signed(u.score_change)}</td><td>${signed(u.rank_change, 0)}` +
      `</td>${dims.map((d) => `<td>${fmt(u.dimensions[d], 0)}</td>`).join("")}</tr>`);
    $("rank-table").innerHTML = head + rows.join("");
    previousOrder = units.map((u) => u.unit_id);
    for (const tr of document.querySelectorAll("#rank-table tr.unit-row")) {
      tr.addEventListener("click", () => openUnit(tr.dataset.unit).catch(fail));
    }
  }

  function renderDims() {
    const units = td.ranking.units, dims = scoredDims();
    Plotly.react("dims-chart", [{
      type: "heatmap", z: dims.map((d) => units.map((u) => u.dimensions[d.id])),
      x: units.map((u) => unitName(u.unit_id)), y: dims.map((d) => d.name),
      zmin: 0, zmax: 100, colorscale: "Viridis", colorbar: { thickness: 10 },
      hovertemplate: "%{x}<br>%{y}: %{z:.1f}<extra></extra>",
    }], { margin: { l: 230, r: 10, t: 4, b: 90 }, font: FONT, xaxis: { tickangle: -40 } }, PLOT);
  }

  // ----------------------------------------------------------------- map
  function renderMap() {
    const cfg = td.config, cb = cfg.color_by.score;
    if (!cb) { $("map-legend").textContent = ""; return; }
    const layer = new deck.GeoJsonLayer({
      id: "districts", data: td.districts, pickable: true, stroked: true, filled: true,
      getFillColor: (f) => cb.color[f.properties.id] || [200, 200, 200, 160],
      getLineColor: [90, 90, 90, 255], lineWidthMinPixels: 1,
      updateTriggers: { getFillColor: td.ranking.data_version },
      onClick: ({ object }) => object && openUnit(object.properties.id).catch(fail),
    });
    td.mapLayers = [layer];
    td.deck.setProps({ layers: [layer, labelLayer()] });
    const legend = cb.legend.map((c) => `<i style="background:rgba(${c.color.slice(0, 3)
      .join(",")},${((c.color[3] ?? 255) / 255).toFixed(2)})"></i>${esc(c.label)}`).join(" ");
    $("map-legend").innerHTML = `<b>${esc(cb.title)}</b><br/>${legend}`;
  }

  // The names that fit the view, none over another (layers/assets/labels.js, as /map):
  // a city sits inside its district, and both names at the same size overprinted. Cities
  // first, as a district keeps its shape and colour without a name; the rest come back
  // as the map is zoomed in, and every unit names itself on hover.
  function labelLayer() {
    const cfg = td.config, el = $("map");
    const vp = new deck.WebMercatorViewport({ ...td.view, width: el.clientWidth,
                                              height: el.clientHeight });
    // A district's name may move half a line up or down off its centre, a city's above or
    // below its disc, before it is left out.
    const candidates = cfg.district_labels.map((l) => ({
      text: unitName(l.id), position: [l.lon, l.lat], size: 11,
      priority: l.kind === "city" ? 2 : 1,
      offsets: l.kind === "city" ? [[0, 0], [0, -14], [0, 14]]
        : [[0, 0], [0, -10], [0, 10], [0, -20], [0, 20]],
    }));
    td.labels = window.twinPlaceLabels(vp, candidates, cfg.style.font_family);
    return new deck.TextLayer({
      id: "labels", data: td.labels, sizeUnits: "pixels", getSize: (l) => l.size,
      getPosition: (l) => l.position, getText: (l) => l.text, getPixelOffset: (l) => l.offset,
      characterSet: cfg.style.character_set, fontFamily: cfg.style.font_family,
      background: true, getBackgroundColor: [255, 255, 255, 170],
      updateTriggers: { getText: td.labels.map((l) => l.text).join("|"),
                        getPixelOffset: td.labels.map((l) => l.offset).join("|") },
    });
  }

  let relabel = 0;
  function onMapView({ viewState }) {
    td.view = viewState;
    if (relabel || !td.mapLayers) return;
    relabel = requestAnimationFrame(() => {
      relabel = 0;
      td.deck.setProps({ layers: [...td.mapLayers, labelLayer()] });
    });
  }

  function mapTooltip({ object }) {
    if (!object) return null;
    const id = object.properties.id;
    const u = td.ranking.units.find((x) => x.unit_id === id);
    const v = (td.config.district_values || {})[id] || {};
    let html = `<b>${esc(unitName(id))}</b>`;
    if (u) html += `<br/>${t("rank")} ${u.rank} · ${t("score")} ${fmt(u.score)}`;
    if (typeof v.score_synthetic === "number" && v.score_synthetic > 0) {
      html += `<br/><span class="mark synthetic">${Math.round(v.score_synthetic * 100)}% ` +
        `${t("synthetic")}</span>`;
    }
    return { html, style: { background: "#fff", color: "#222", border: "1px solid #999" } };
  }

  async function setupMap() {
    const fc = await getJSON("collections/districts/items?limit=1000");
    td.districts = fc;
    for (const f of fc.features) features[f.properties.id] = f;
    const el = $("map"), cfg = td.config;
    const fit = new deck.WebMercatorViewport({ width: el.clientWidth, height: el.clientHeight })
      .fitBounds([cfg.bounds.slice(0, 2), cfg.bounds.slice(2, 4)], { padding: 16 });
    td.view = { longitude: fit.longitude, latitude: fit.latitude, zoom: fit.zoom };
    td.deck = new deck.Deck({
      parent: el, controller: true, views: new deck.MapView({ repeat: false }),
      initialViewState: td.view, getTooltip: mapTooltip, layers: [],
      onViewStateChange: onMapView, onError: fail,
    });
  }

  // ----------------------------------------------------------------- forecasts
  function renderWarnings() {
    const fc = td.forecast;
    if (!fc) {
      $("forecast-status").textContent = td.forecastNote || t("forecasting");
      $("warning-table").innerHTML = "";
      return;
    }
    $("forecast-status").textContent = `${t("early_hint")} ${t("forecast_of")} ` +
      `${fc.data_version}${fc.complete ? "" : " — " + t("refitting")}` +
      (fc.too_short ? `. ${fc.too_short} ${t("too_short").replace("{n}", fc.min_history)}` : "");
    const rows = fc.early_warning.slice(0, 40).map((w) => {
      const ind = indicator(w.indicator);
      return `<tr class="unit-row" data-unit="${esc(w.unit_id)}"><td class="name">` +
        `${esc(unitName(w.unit_id))}</td><td class="name">${esc(ind.name)}</td>` +
        `<td>${fmt(w.kpi, 1)}</td><td>${fmt(w.target, 1)}</td><td>${fmt(w.p_miss * 100, 0)}%</td>` +
        `<td>${esc(w.at)}${syntheticMark(w.unit_id)}</td></tr>`;
    });
    $("warning-table").innerHTML = `<tr><th class="name">${t("unit")}</th><th class="name">` +
      `${t("indicator")}</th><th>${t("kpi")}</th><th>${t("target")}</th><th>${t("p_miss")}` +
      `</th><th></th></tr>` + rows.join("");
    for (const tr of document.querySelectorAll("#warning-table tr.unit-row")) {
      tr.addEventListener("click", () => openUnit(tr.dataset.unit).catch(fail));
    }
  }

  async function loadForecast() {
    const r = await fetch(url("score/forecast"), { headers: { Accept: "application/json" } });
    if (r.status === 404) {  // no series has the history a forecast needs yet: say so
      td.forecast = null; td.forecastNote = (await r.json()).detail; renderWarnings();
      return;
    }
    if (!r.ok) throw new Error(`score/forecast: HTTP ${r.status}`);
    td.forecast = await r.json();
    renderWarnings();
    if (td.unit) await renderUnit();
  }

  // ----------------------------------------------------------------- audit
  function renderAudit() {
    const a = td.audit;
    if (!a) return;
    const sens = a.sensitivity;
    const label = (s) => (s.indicator ? indicator(s.indicator).name : t(s.input));
    const bar = (key, name, color) => ({
      type: "bar", orientation: "h", name, y: sens.map(label), x: sens.map((s) => s[key]),
      error_x: { type: "data", array: sens.map((s) => s[key + "_conf"] || 0), thickness: 1 },
      marker: { color },
    });
    Plotly.react("sens-chart", [bar("S1", t("first_order"), "#7fa7c9"),
                                bar("ST", t("total_order"), "#1f4e79")], {
      title: { text: t("sensitivity"), font: { size: 12 } }, barmode: "group", font: FONT,
      margin: { l: 10, r: 10, t: 28, b: 30 }, legend: { orientation: "h", y: -0.12 },
      yaxis: { autorange: "reversed", automargin: true }, xaxis: { range: [0, 1] },
    }, PLOT);
    const ids = a.correlations.indicators.map((id) => indicator(id).name);
    Plotly.react("corr-chart", [{
      type: "heatmap", z: a.correlations.matrix, x: ids, y: ids, zmin: -1, zmax: 1,
      colorscale: "RdBu", reversescale: true, colorbar: { thickness: 10 },
      hovertemplate: "%{y} × %{x}: r = %{z:.2f}<extra></extra>",
    }], { title: { text: t("correlations"), font: { size: 12 } }, font: FONT,
          margin: { l: 10, r: 10, t: 28, b: 10 }, xaxis: { tickangle: -45, automargin: true },
          yaxis: { autorange: "reversed", automargin: true } }, PLOT);
    const flags = a.flags.map((f) => `<li>${esc(indicator(f.a).name)} × ${esc(indicator(f.b).name)}` +
      `: r = ${fmt(f.r, 2)} <span class="mark warn">${esc(t(f.flag))}</span></li>`).join("");
    const alpha = a.alpha.map((d) => `<tr><td class="name">${esc(dimName(d.dimension))}</td>` +
      `<td>${d.alpha === null ? "–" : fmt(d.alpha, 2)}</td><td>${d.k}</td></tr>`).join("");
    const treated = a.treatment.filter((x) => x.flagged);
    const outl = treated.length ? treated.map((x) => `<li>${esc(indicator(x.indicator).name)}: ` +
      `skew ${fmt(x.skew, 2)}, kurtosis ${fmt(x.kurtosis, 2)} → ${esc(t(x.treatment))}` +
      (x.winsorised_units.length ? ` (${x.winsorised_units.map(unitName).map(esc).join(", ")})` : "") +
      "</li>").join("") : `<li>${t("none")}</li>`;
    $("audit-tables").innerHTML = `<h3>${t("flags")}</h3><ul>${flags || `<li>${t("none")}</li>`}` +
      `</ul><h3>${t("alpha")}</h3><table><tr><th class="name"></th><th>α</th><th>k</th></tr>` +
      `${alpha}</table><h3>${t("outliers")}</h3><ul>${outl}</ul>`;
  }

  async function loadAudit() {
    td.audit = await getJSON("score/audit");
    renderAudit();
    if (td.unit) renderStrengths();
  }

  // ----------------------------------------------------------------- one unit
  async function openUnit(id) {
    td.unit = id;
    history.replaceState(null, "", `#unit=${encodeURIComponent(id)}`);
    $("unit").hidden = false;
    await renderUnit();
  }

  function renderStrengths() {
    if (!td.audit || !td.unit) return;
    const mine = td.audit.strengths.filter((s) => s.unit_id === td.unit);
    const list = (kind) => mine.filter((s) => s.kind === kind).map((s) =>
      `<li>${esc(indicator(s.indicator).name)}: ${t("rank")} ${s.rank} ${t("of")} ${s.of} ` +
      `(${fmt(s.value, 1)} ${esc(s.unit)})` +
      (s.imputed ? ` <span class="mark imputed">${t("imputed")}: ${esc(s.imputed)}</span>` : "") +
      (s.synthetic_share > 0 ? ` <span class="mark synthetic">${t("synthetic")}</span>` : "") +
      "</li>").join("");
    $("unit-sw").innerHTML = `<div><h3>${t("strengths")}</h3><ul>${list("strength")}</ul></div>` +
      `<div><h3>${t("weaknesses")}</h3><ul>${list("weakness")}</ul></div>`;
  }

  async function renderUnit() {
    const id = td.unit;
    const h = await getJSON(`score/units/${encodeURIComponent(id)}/history`);
    if (td.unit !== id) return;  // another unit was opened meanwhile
    td.history = h;
    const u = td.ranking.units.find((x) => x.unit_id === id);
    $("unit-title").textContent = unitName(id);
    $("unit-rank").textContent = u ? `${t("rank")} ${u.rank} (${u.rank_interval[0]}–` +
      `${u.rank_interval[1]}) · ${t("score")} ${fmt(u.score)}` : "";
    renderStrengths();
    const box = $("unit-charts");
    if (box.dataset.unit !== id) { box.innerHTML = ""; box.dataset.unit = id; }
    const fc = td.forecast;
    for (const ind of h.indicators.filter((i) => scored(i.id))) {
      let cell = box.querySelector(`[data-indicator="${ind.id}"]`);
      if (!cell) {
        cell = document.createElement("div");
        cell.className = "series"; cell.dataset.indicator = ind.id;
        cell.innerHTML = `<h3></h3><div class="meta"></div><div class="plot"></div>`;
        box.appendChild(cell);
      }
      const obs = ind.observations;
      const real = obs.filter((o) => !o.synthetic), syn = obs.filter((o) => o.synthetic);
      const traces = [];
      const series = fc ? fc.series.filter((s) => s.unit_id === id && s.indicator === ind.id) : [];
      const kpi = fc ? fc.kpi.find((k) => k.unit_id === id && k.indicator === ind.id) : null;
      if (series.length) {
        const last = obs[obs.length - 1];
        const xs = [last.month, ...series.map((s) => s.month)];
        traces.push({ x: xs, y: [last.value, ...series.map((s) => s.lower)], mode: "lines",
                      line: { width: 0 }, hoverinfo: "skip", showlegend: false });
        traces.push({ x: xs, y: [last.value, ...series.map((s) => s.upper)], mode: "lines",
                      fill: "tonexty", fillcolor: "rgba(31,119,180,.22)", line: { width: 0 },
                      name: `${t("interval")} ${Math.round(fc.level * 100)}%`, hoverinfo: "skip" });
        traces.push({ x: xs, y: [last.value, ...series.map((s) => s.mean)], mode: "lines",
                      line: { color: "#1f77b4", dash: "dot" }, name: t("forecast") });
      }
      const line = (rows, name, marker) => ({
        x: rows.map((o) => o.month), y: rows.map((o) => o.value), mode: "markers", name,
        marker: { size: 4, ...marker },
        hovertemplate: `%{x}: %{y:.2f} ${esc(ind.unit)} (${name})<extra></extra>`,
      });
      traces.push({ x: obs.map((o) => o.month), y: obs.map((o) => o.value), mode: "lines",
                    line: { color: "#888", width: 1 }, hoverinfo: "skip", showlegend: false });
      if (real.length) traces.push(line(real, t("observed"), { color: "#222" }));
      if (syn.length) traces.push(line(syn, t("synthetic"),
        { color: "#c0392b", symbol: "circle-open" }));
      const shapes = [];
      if (ind.kind === "level" && ind.scored && ind.scored.target !== null) {
        shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, y0: ind.scored.target,
                      y1: ind.scored.target, line: { color: "#2e7d32", dash: "dash", width: 1 } });
      }
      Plotly.react(cell.querySelector(".plot"), traces, {
        margin: { l: 40, r: 6, t: 4, b: 22 }, font: { ...FONT, size: 10 }, shapes,
        showlegend: true, legend: { orientation: "h", y: -0.18, font: { size: 9 } },
        xaxis: { type: "date", tickformat: "%Y-%m", nticks: 6 },
        yaxis: { title: { text: ind.unit } },
      }, PLOT);
      const sc = ind.scored || {};
      const warn = kpi && kpi.misses ? ` <span class="mark warn">⚠ ${t("misses")} ` +
        `(${t("p_miss")} ${fmt(kpi.p_miss * 100, 0)}%)</span>` : "";
      const imp = sc.imputed ? ` <span class="mark imputed">${t("imputed")}: ${esc(sc.imputed)}` +
        "</span>" : "";
      cell.querySelector("h3").textContent = ind.name;
      cell.querySelector(".meta").innerHTML = `${t("target")}: ${esc(ind.target)} · ` +
        `${t("scored")} ${esc(sc.reference_month || "–")}: ${fmt(sc.value, 2)}${imp}` +
        (syn.length ? ` <span class="mark synthetic">${t("synthetic")}</span>` : "") + warn;
    }
    td.rendered += 1;
  }

  // ----------------------------------------------------------------- live
  // The live pill says when the page last changed by itself, and to which data version.
  function livePill() {
    const u = td.lastUpdate;
    $("live").textContent = !td.connected ? t("connecting") : u ? `● ${t("updated")} ` +
      `${new Date(u.at).toLocaleTimeString("en-GB")} · ${u.data_version}` : `● ${t("live")}`;
  }
  function flash() {
    livePill();
    $("live").classList.add("flash");
    setTimeout(() => $("live").classList.remove("flash"), 1500);
  }

  function follow() {
    const es = new EventSource(url("score/stream"));
    livePill();
    es.addEventListener("open", () => { td.connected = true; livePill(); });
    es.addEventListener("ranking", (e) => {
      const fresh = JSON.parse(e.data);
      const first = td.ranking === null || td.ranking.data_version === fresh.data_version;
      td.ranking = fresh;
      renderRanking(); renderDims();
      if (first) return;  // the stream's opening event repeats what the page loaded
      td.updates += 1;
      td.lastUpdate = { data_version: fresh.data_version, at: Date.now() };
      flash();
      // The map's colours come from /map/config.json, so /map and this page agree.
      getJSON("map/config.json").then((c) => { td.config = c; renderMap(); }).catch(fail);
      if (td.unit) renderUnit().catch(fail);
      loadAudit().catch(fail);
    });
    es.addEventListener("forecast", () => { loadForecast().catch(fail); });
    es.addEventListener("error", () => { td.connected = false; livePill(); });
    td.stream = es;
  }

  function applyLanguage() {
    document.documentElement.lang = td.lang;
    for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
    // The twin names itself (its title, as on /map); the page only adds what it is.
    const twinTitle = td.config ? td.config.title : "";
    document.title = twinTitle ? `${twinTitle} — ${t("title")}` : t("title");
    $("twin-title").textContent = twinTitle;
    livePill();
    status(t(td.ready ? "ready" : "loading"));
    if (td.ranking) { renderRanking(); renderDims(); renderMap(); }
    renderWarnings(); renderAudit();
    if (td.unit) renderUnit().catch(fail);
  }

  // ----------------------------------------------------------------- start
  async function start() {
    const params = new URLSearchParams(location.search);
    if (I18N[params.get("lang")]) td.lang = params.get("lang");
    $("lang").value = td.lang;
    status(t("loading"));
    [td.ranking, td.config] = await Promise.all([getJSON("score"), getJSON("map/config.json")]);
    const share = ((td.config.district_values || {})[td.ranking.units[0].unit_id] || {})
      .score_synthetic;
    if (typeof share === "number" && share > 0) {
      $("honesty").hidden = false; $("honesty").dataset.t = "synthetic_note";
    }
    await setupMap();
    applyLanguage();
    follow();
    $("lang").addEventListener("change", () => { td.lang = $("lang").value; applyLanguage(); });
    $("unit-close").addEventListener("click", () => {
      $("unit").hidden = true; td.unit = null; history.replaceState(null, "", location.pathname + location.search);
    });
    const want = /#unit=([^&]+)/.exec(location.hash);
    if (want) await openUnit(decodeURIComponent(want[1]));
    td.ready = true;
    status(t("ready"));
    await Promise.all([loadForecast(), loadAudit()]);
    td.complete = true;
  }

  start().catch((e) => { fail(e); status(`Error: ${e.message}`); });
})();
