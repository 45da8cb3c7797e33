// Numbers as a reader of each language expects them: Intl.NumberFormat in the page's locale,
// units stated (bn ₸, ha, km², m), years and ids without group separators.
import { LANGS, fieldName, fieldUnit, t, valueName } from "./i18n.js";

const cache = new Map();
function nf(lang, opts) {
  const key = lang + JSON.stringify(opts || {});
  if (!cache.has(key)) cache.set(key, new Intl.NumberFormat(LANGS[lang].locale, opts));
  return cache.get(key);
}

// Fraction digits by size: 1.03 ha stays 1.03, 285.6 ha reads 286.
function digits(v) {
  const a = Math.abs(v);
  return a === 0 || a >= 100 ? 0 : a >= 10 ? 1 : 2;
}

export function number(v, lang, maxDigits) {
  if (typeof v !== "number" || !Number.isFinite(v)) return t("unknown", lang);
  const d = maxDigits ?? (Number.isInteger(v) ? 0 : digits(v));
  return nf(lang, { maximumFractionDigits: d }).format(v);
}

const MONEY = {
  en: [[1e12, "tn ₸"], [1e9, "bn ₸"], [1e6, "mn ₸"], [1e3, "k ₸"]],
  ru: [[1e12, "трлн ₸"], [1e9, "млрд ₸"], [1e6, "млн ₸"], [1e3, "тыс. ₸"]],
  kk: [[1e12, "трлн ₸"], [1e9, "млрд ₸"], [1e6, "млн ₸"], [1e3, "мың ₸"]],
};

// 54,720,000,000 -> "54.7 bn ₸" / "54,7 млрд ₸"
export function money(v, lang, signed = false) {
  if (typeof v !== "number" || !Number.isFinite(v)) return t("unknown", lang);
  const sign = signed && v > 0 ? "+" : "";
  for (const [div, unit] of MONEY[lang] || MONEY.en) {
    if (Math.abs(v) >= div) {
      return `${sign}${nf(lang, { maximumFractionDigits: 1 }).format(v / div)} ${unit}`;
    }
  }
  return `${sign}${nf(lang, { maximumFractionDigits: 0 }).format(v)} ₸`;
}

const UNITS = {
  ha: { en: "ha", ru: "га", kk: "га" },
  km2: { en: "km²", ru: "км²", kk: "км²" },
  m: { en: "m", ru: "м", kk: "м" },
  km: { en: "km", ru: "км", kk: "км" },
};

export function withUnit(v, unit, lang) {
  return `${number(v, lang)} ${UNITS[unit][lang] || UNITS[unit].en}`;
}

export function signed(v, lang, maxDigits = 1) {
  if (typeof v !== "number" || !Number.isFinite(v)) return t("unknown", lang);
  if (v === 0) return number(0, lang);
  return (v > 0 ? "+" : "−") + number(Math.abs(v), lang, maxDigits);
}

export function percent(share, lang) {
  return nf(lang, { style: "percent", maximumFractionDigits: 0 }).format(share);
}

// The value of one field, by what the field counts.
export function fieldValue(key, v, lang) {
  if (v === null || v === undefined || v === "") return t("unknown", lang);
  const unit = fieldUnit(key);
  if (typeof v === "boolean") return t(v ? "yes" : "no", lang);
  if (unit === "year" || unit === "id") return String(v);
  if (typeof v === "number") {
    if (unit === "kzt") return money(v, lang);
    if (unit === "ha" || unit === "km2" || unit === "m") return withUnit(v, unit, lang);
    if (unit === "share") return percent(v, lang);
    if (unit === "index") return number(v, lang, 1);
    return number(v, lang);
  }
  return valueName(v, lang);
}

export { fieldName };
