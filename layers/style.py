"""Map styling shared by the pydeck views and the planner's ``/map`` page.

One place for colours, the label font and the text character set, so the notebook view, the
``twin map`` file and the web page draw the same region the same way. The page fetches
:func:`style_spec` as JSON rather than keeping a second copy of the palettes in JavaScript.
"""

from __future__ import annotations

import base64
import math
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .names import english_names

__all__ = [
    "ACCURACY_TEXT",
    "CHARACTER_SET",
    "FONT_FAMILY",
    "FONT_PATH",
    "LAND_USE_COLORS",
    "MARKS",
    "SECTOR_COLORS",
    "accuracy_label",
    "synthetic_shares",
    "categorical_colors",
    "font_face_css",
    "is_pipeline",
    "LABEL_COLUMNS",
    "label_text",
    "sequential_classes",
    "style_spec",
    "attributions",
    "accuracy_note",
]

_ASSETS = Path(__file__).parent / "assets"

#: A subset of Noto Sans (OFL-1.1, see assets/OFL.txt) holding Latin and all of Cyrillic, so
#: Russian and Kazakh labels render on a closed network without system fonts.
FONT_PATH = _ASSETS / "NotoSans-LatinCyrillic.ttf"
#: CSS family name under which the bundled font is declared; system fonts follow as fallbacks.
FONT_NAME = "TwinSans"
FONT_FAMILY = f"{FONT_NAME}, 'Noto Sans', 'DejaVu Sans', Arial, sans-serif"


def _chars(*ranges: tuple[int, int]) -> str:
    return "".join(chr(c) for a, b in ranges for c in range(a, b + 1))


#: Every glyph deck.gl's TextLayer may need. Its default atlas holds ASCII only, so any Cyrillic
#: label would silently draw as blanks. U+0400-U+04FF covers Russian and every Kazakh letter
#: (Ә Ғ Қ Ң Ө Ұ Ү Һ І); Latin Extended-A holds romanised names such as "Būrabay";
#: U+2116 is "№", U+20B8 the tenge sign.
CHARACTER_SET = _chars((0x20, 0x7E), (0xA0, 0x17F), (0x400, 0x4FF), (0x2013, 0x2014),
                       (0x2018, 0x201E), (0x2116, 0x2116), (0x20B8, 0x20B8))

#: What each accuracy level means, in the words the tooltips use. "partly synthetic" is a
#: real thing (a project the source names or counts) some of whose values are made up: its
#: ``synthetic_fields`` say which, and the badge lists them, so it never reads "approximated"
#: where a figure was invented.
ACCURACY_TEXT = {
    "real": "real — taken from a cited source",
    "approximate": "approximate — a real thing, geometry or figures approximated",
    "partly synthetic": "partly synthetic — a real thing, some values made up",
    "synthetic": "synthetic — made up by a generator, not a real record",
}

# Categorical palettes must survive colour-vision deficiency: the 12 rainbow sector colours
# and the planning land-use colours collapsed into look-alikes under deuteranopia
# (tests/test_style.py simulates it, Machado et al. 2009, and checks CIEDE2000 distances).
#
# Sectors: Paul Tol's "muted" qualitative scheme (P. Tol, "Colour Schemes", SRON technical
# note SRON/EPS/TN/09-002, 2021), nine colours that stay apart for every common deficiency.
# Nine is its limit, so related sectors share a colour (the legend lists each colour's
# sectors, and the sector filter separates them); "other industry" is neutral grey.
_TOL_MUTED = {
    "indigo": [51, 34, 136], "cyan": [136, 204, 238], "teal": [68, 170, 153],
    "green": [17, 119, 51], "olive": [153, 153, 51], "sand": [221, 204, 119],
    "rose": [204, 102, 119], "wine": [136, 34, 85], "purple": [170, 68, 153],
}
# Tol's "pale grey": a mid grey falls in with the rose under protanopia.
_GREY = [221, 221, 221]
SECTOR_COLORS: dict[str, list[int]] = {k: [*c, 255] for k, c in {
    "agriculture": _TOL_MUTED["green"],
    "agro": _TOL_MUTED["green"],
    "agro_processing": _TOL_MUTED["olive"],
    "agricultural_machinery": _TOL_MUTED["teal"],
    "gold_mining": _TOL_MUTED["sand"],
    "mining": _TOL_MUTED["sand"],
    "rare_earth_metals_processing": _TOL_MUTED["sand"],
    "metallurgy": _TOL_MUTED["indigo"],
    "energy": _TOL_MUTED["rose"],
    "energy_wind": _TOL_MUTED["rose"],
    "construction_materials": _TOL_MUTED["wine"],
    "construction": _TOL_MUTED["wine"],
    "housing": _TOL_MUTED["wine"],
    "logistics": _TOL_MUTED["cyan"],
    "tourism": _TOL_MUTED["purple"],
    "other_industry": _GREY,
}.items()}

#: Functional zones of the general plan and parcel land uses share one palette: Okabe & Ito's
#: colour-universal-design set (M. Okabe, K. Ito, "Color Universal Design", 2008), placed as
#: close to the planning conventions as it allows: housing orange, centres vermillion,
#: industry reddish purple, farmland yellow, nature bluish green, water blue, and three greys
#: far enough apart in lightness (a mid grey passes for the purple under deuteranopia) for
#: infrastructure, special use and reserve land.
LAND_USE_COLORS: dict[str, list[int]] = {
    "residential": [230, 159, 0, 220],
    "public_business": [213, 94, 0, 220],
    "commercial": [213, 94, 0, 220],
    "industrial": [204, 121, 167, 220],
    "infrastructure": [187, 187, 187, 220],
    "transport": [187, 187, 187, 220],
    "recreational": [86, 180, 233, 220],
    "agricultural": [240, 228, 66, 220],
    "special": [85, 85, 85, 220],
    "protected": [0, 158, 115, 220],
    "forest": [0, 158, 115, 220],
    "reserve": [238, 238, 238, 220],
    "water": [0, 114, 178, 220],
}

#: Unknown categories (another twin's sectors) take Tol's muted colours in sorted order; past
#: nine they turn grey rather than reuse a colour that would claim a likeness.
_FALLBACK = [[*c, 255] for c in _TOL_MUTED.values()]

#: Sequential ramp (ColorBrewer YlOrRd, 5 classes) for district values.
RAMP = [[255, 255, 178], [254, 204, 92], [253, 141, 60], [240, 59, 32], [189, 0, 38]]
NO_DATA = [200, 200, 200]

#: Fixed colours of the reference layers that act as the offline basemap.
BASE = {
    "background": [238, 240, 236],
    "region_fill": [250, 250, 246, 255],
    "region_line": [60, 60, 60, 255],
    "context_fill": [205, 205, 205, 160],
    "district_line": [90, 90, 90, 255],
    "water": [0, 114, 178, 200],
    "industrial": [204, 121, 167, 150],
    "protected": [0, 158, 115, 110],
    "settlement": [40, 40, 40, 255],
    "pipeline": [255, 255, 255, 255],
}

#: Marks of the planner's map beyond the palettes, all from Okabe & Ito's set so that they
#: stay apart from each other under colour-vision deficiency: compliance findings by
#: severity (and ring width), sanitary zones, a scenario's changes; and ColorBrewer's PuOr,
#: a diverging ramp safe for colour-blind readers, for changes centred on zero (its middle
#: class is exactly "no change").
MARKS = {
    "severity": {"error": [213, 94, 0, 255], "warning": [230, 159, 0, 255],
                 "info": [86, 180, 233, 255]},
    "sanitary_fill": [213, 94, 0, 45],
    "sanitary_line": [213, 94, 0, 220],
    "scenario": {"added": [0, 158, 115, 255], "moved": [0, 114, 178, 255],
                 "rezoned_fill": [230, 159, 0, 110], "rezoned_line": [213, 94, 0, 255]},
    "diverging": [[230, 97, 1], [253, 184, 99], [247, 247, 247], [178, 171, 210],
                  [94, 60, 153]],
    "selection": [0, 114, 178, 255],
}

#: Label languages and the columns each reads, first non-empty wins: Kazakh falls back to
#: Russian (settlements carry no Kazakh names yet), then to the romanised name. English reads
#: ``name_en``, which :func:`label_text` (and the /map config) derive in one romanisation
#: (:func:`layers.names.english_names`) where a twin does not carry it.
LABEL_COLUMNS = {"kk": ("name_kk", "name_ru", "name"), "ru": ("name_ru", "name"),
                 "en": ("name_en", "name")}


def label_text(df: pd.DataFrame, lang: str = "kk") -> pd.Series:
    """The label of each row in ``lang`` (``kk``, ``ru`` or ``en``), with fallbacks.

    >>> label_text(pd.DataFrame({"name": ["Lakeside"], "name_ru": ["Озёрный"]}), "kk").tolist()
    ['Озёрный']
    """
    if lang not in LABEL_COLUMNS:
        raise ValueError(f"label language {lang!r} is not known: use one of "
                         f"{', '.join(LABEL_COLUMNS)}")
    if lang == "en" and "name" in df:
        df = df.assign(name_en=english_names(df))
    out = pd.Series("", index=df.index, dtype=object)
    for col in reversed(LABEL_COLUMNS[lang]):
        if col in df:
            v = df[col].fillna("").astype(str).str.strip()
            out = v.where(v != "", out)
    return out


_PIPELINE = {"pipeline", "planned", "planning", "proposed", "portfolio"}


def is_pipeline(status: pd.Series) -> pd.Series:
    """True where a project is planned rather than under implementation.

    >>> is_pipeline(pd.Series(["implementation", "Pipeline"])).tolist()
    [False, True]
    """
    return status.fillna("").astype(str).str.strip().str.lower().isin(_PIPELINE)


def categorical_colors(values, known: dict[str, list[int]] | None = None) -> dict[str, list[int]]:
    """A colour for each distinct value: the known palette first, then the fallback colours
    in sorted order, then grey (a tenth colour would no longer be told apart).

    >>> categorical_colors(["agro", "zinc"], SECTOR_COLORS)["agro"]
    [17, 119, 51, 255]
    """
    known = known or {}
    out, i = {}, 0
    for v in sorted({str(v) for v in values if v is not None and v == v}):
        key = re.sub(r"[^0-9a-z]+", "_", v.strip().lower()).strip("_")
        if key in known:
            out[v] = list(known[key])
        else:
            out[v] = list(_FALLBACK[i]) if i < len(_FALLBACK) else [*_GREY, 255]
            i += 1
    return out


def sequential_classes(values: pd.Series, k: int = 5) -> tuple[pd.Series, list[dict]]:
    """Colour numbers by quantile class; return the colours and the legend's classes.

    Quantiles rather than equal steps, because district populations are skewed by the two
    cities. Missing values are grey and said so in the legend.

    >>> cols, legend = sequential_classes(pd.Series([1.0, 2.0, 3.0, 4.0, 5.0]))
    >>> len(legend), cols.iloc[0]
    (5, [255, 255, 178, 230])
    """
    v = pd.to_numeric(values, errors="coerce")
    ok = v.dropna()
    colors = pd.Series([NO_DATA + [200]] * len(v), index=v.index, dtype=object)
    legend: list[dict] = []
    if ok.empty:
        return colors, [{"label": "no data", "no_data": True, "color": NO_DATA + [200]}]
    breaks = np.unique(np.quantile(ok.to_numpy(float), np.linspace(0, 1, k + 1)))
    if len(breaks) == 1:
        breaks = np.array([breaks[0], breaks[0]])
    ramp = [RAMP[round(i * (len(RAMP) - 1) / max(len(breaks) - 2, 1))]
            for i in range(len(breaks) - 1)]
    idx = np.clip(np.searchsorted(breaks, ok.to_numpy(float), side="right") - 1, 0,
                  len(breaks) - 2)
    for i, j in zip(ok.index, idx, strict=True):
        colors[i] = ramp[j] + [230]
    for j in range(len(breaks) - 1):
        legend.append({"label": f"{_short(breaks[j])} – {_short(breaks[j + 1])}",
                       "lo": float(breaks[j]), "hi": float(breaks[j + 1]),
                       "color": ramp[j] + [230]})
    if len(ok) < len(v):
        legend.append({"label": "no data", "no_data": True, "color": NO_DATA + [200]})
    return colors, legend


def _short(x: float) -> str:
    """Compact numbers for legends: 1.2k, 3.4M, 5.6bn."""
    if not math.isfinite(x):
        return "–"
    for div, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


def _fields(synthetic_fields) -> list[str]:
    if synthetic_fields is None or (isinstance(synthetic_fields, float)
                                    and math.isnan(synthetic_fields)):
        return []
    if isinstance(synthetic_fields, str):
        return [f.strip() for f in synthetic_fields.split(",") if f.strip()]
    return [str(f) for f in synthetic_fields]


def accuracy_label(accuracy=None, synthetic=None, synthetic_fields=None) -> str:
    """The accuracy word a badge shows for a row, in agreement with all of its flags.

    ``synthetic`` true wins: a made-up row is "synthetic" whatever else it says. A row that
    names made-up values in ``synthetic_fields`` is "partly synthetic" (never merely
    "approximate", which would hide an invented figure). Otherwise the ``accuracy`` column,
    else "real" for ``synthetic`` false; a row with neither flag is "unknown", never
    silently "real".

    >>> accuracy_label("approximate", False), accuracy_label(None, True)
    ('approximate', 'synthetic')
    >>> accuracy_label("approximate", False, "investment_kzt,jobs")
    'partly synthetic'
    """
    flag = None if synthetic is None or (isinstance(synthetic, float)
                                         and math.isnan(synthetic)) else bool(synthetic)
    if flag:
        return "synthetic"
    if _fields(synthetic_fields):
        return "partly synthetic"
    if isinstance(accuracy, str) and accuracy:
        return accuracy
    if flag is None:
        return "unknown"
    return "real"


@lru_cache(maxsize=1)
def _font_b64() -> str:
    return base64.b64encode(FONT_PATH.read_bytes()).decode("ascii")


def font_face_css(url: str | None = None) -> str:
    """An ``@font-face`` rule for the bundled font: from ``url``, or inlined as a data URL
    (for single-file HTML that must work with no server at all)."""
    src = url or f"data:font/ttf;base64,{_font_b64()}"
    return (f"@font-face {{ font-family: '{FONT_NAME}'; src: url('{src}') format('truetype'); "
            "font-weight: normal; font-style: normal; }")


def style_spec() -> dict:
    """Everything the ``/map`` page needs to style layers like the Python views do."""
    return {
        "font_name": FONT_NAME,
        "font_family": FONT_FAMILY,
        "character_set": CHARACTER_SET,
        "sector_colors": SECTOR_COLORS,
        "fallback_colors": _FALLBACK,
        "land_use_colors": LAND_USE_COLORS,
        "ramp": RAMP,
        "no_data": NO_DATA,
        "base": BASE,
        "pipeline_statuses": sorted(_PIPELINE),
        "accuracy_text": ACCURACY_TEXT,
        "marks": MARKS,
        "label_columns": LABEL_COLUMNS,
    }


def synthetic_shares(twin) -> dict[str, float]:
    """The share of synthetic rows of each layer that says (``synthetic`` column), so a
    legend can say what is made up (tooltips say it row by row).

    >>> from twin.sample import make_small_twin
    >>> synthetic_shares(make_small_twin())["parcels"]
    1.0
    """
    out = {}
    for name in twin.layer_names:
        gdf = twin[name]
        if "synthetic" in gdf and len(gdf):
            out[name] = float(gdf["synthetic"].astype(bool).mean())
    return out


def attributions(twin) -> list[str]:
    """The sources a map of ``twin`` must credit: the first part of each layer's provenance
    line ("source; licence; accuracy"), once each, in layer order. Layers the twin derives
    from its others (the plan's zones) credit what they were derived from, so they add none.

    >>> from twin.sample import make_bare_twin
    >>> attributions(make_bare_twin())
    ['hand-made test geometry']
    """
    derived = set(getattr(twin, "derived_layers", ()))
    out: list[str] = []
    for name in twin.layer_names:
        line = twin.provenance.get(name, "")
        first = line.split(";", 1)[0].strip()
        if name not in derived and first and first not in out:
            out.append(first)
    return out


def accuracy_note(twin) -> str:
    """One sentence for a map's legend: what the tooltips say, and which layers hold made-up
    rows, with their share (nothing is said of synthetic data a twin does not have).

    >>> from twin.sample import make_bare_twin
    >>> accuracy_note(make_bare_twin()).split(". ")[1]
    'Made up (synthetic): region, districts (all).'
    """
    shares = synthetic_shares(twin)
    made_up = [(n, s) for n, s in shares.items() if s > 0]
    text = "Tooltips say whether each row is real, approximate or synthetic."
    if not made_up:
        return text + " No row of this twin is synthetic."
    parts = [f"{n} ({'all' if s >= 1 else f'{max(1, round(s * 100))}%'})" for n, s in made_up]
    if all(s >= 1 for _, s in made_up):
        parts = [n for n, _ in made_up[:-1]] + [parts[-1]]
    return text + " Made up (synthetic): " + ", ".join(parts) + "."
