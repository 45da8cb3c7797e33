// Search: typed suggestions (district, city, town, project) from /map/search, which folds
// transliterations ("Баянауыл", "Bayanauyl", "Baianauyl"); an ARIA combobox, keyboard first.
import { t } from "./i18n.js";

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => (
  { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

export class Search {
  constructor(ctx, { form, input, list, status }) {
    Object.assign(this, { ctx, form, input, list, status });
    this.items = [];
    this.active = -1;
    this.seq = 0;
    let timer = null;
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.suggest(), 120);
    });
    input.addEventListener("keydown", (e) => this.key(e));
    input.addEventListener("blur", () => setTimeout(() => this.hide(), 200));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (this.active < 0) await this.suggest();
      if (this.items.length) this.choose(Math.max(0, this.active));
      else if (input.value.trim()) {
        status.textContent = t("no_match", ctx.state.lang, { q: input.value.trim() });
      }
    });
    list.addEventListener("mousedown", (e) => {
      const li = e.target.closest("li[data-i]");
      if (li) { e.preventDefault(); this.choose(Number(li.dataset.i)); }
    });
  }

  label(s) {
    const lang = this.ctx.state.lang;
    const cols = this.ctx.cfg.style.label_columns[lang];
    for (const c of cols) if (s.names[c]) return s.names[c];
    return s.names.name || s.id;
  }

  async suggest() {
    const q = this.input.value.trim();
    const seq = ++this.seq;
    if (!q) { this.items = []; this.hide(); return; }
    let items = [];
    try {
      const r = await this.ctx.getJSON(this.ctx.url(`${this.ctx.cfg.search}?q=${
        encodeURIComponent(q)}&limit=8`));
      items = r.suggestions;
    } catch (e) {
      this.ctx.fail("search", e);
    }
    if (seq !== this.seq) return;  // a later keystroke already answered
    this.items = items;
    this.active = -1;
    this.render();
  }

  render() {
    const lang = this.ctx.state.lang;
    this.status.textContent = this.items.length ? "" :
      t("no_match", lang, { q: this.input.value.trim() });
    this.list.innerHTML = this.items.map((s, i) => {
      const name = this.label(s);
      const also = s.matched && s.matched !== name ? ` <small>${esc(s.matched)}</small>` : "";
      return `<li role="option" id="sugg-${i}" data-i="${i}" aria-selected="${i === this.active}">` +
        `<span class="kind kind-${esc(s.kind)}">${esc(t("kind_" + s.kind, lang))}</span> ` +
        `${esc(name)}${also}</li>`;
    }).join("");
    this.list.hidden = !this.items.length;
    this.input.setAttribute("aria-expanded", String(!this.list.hidden));
    if (this.active >= 0) this.input.setAttribute("aria-activedescendant", `sugg-${this.active}`);
    else this.input.removeAttribute("aria-activedescendant");
  }

  hide() {
    this.list.hidden = true;
    this.input.setAttribute("aria-expanded", "false");
  }

  key(e) {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      if (!this.items.length) return;
      e.preventDefault();
      const n = this.items.length;
      this.active = e.key === "ArrowDown" ? (this.active + 1) % n
        : (this.active <= 0 ? n - 1 : this.active - 1);
      this.render();
    } else if (e.key === "Escape") {
      this.hide();
    }
  }

  choose(i) {
    const s = this.items[i];
    if (!s) return;
    this.input.value = this.label(s);
    this.hide();
    this.status.textContent = "";
    this.ctx.goTo(s);
  }
}
