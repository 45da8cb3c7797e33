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

__all__ = [
    "ACCURACY_TEXT",
    "CHARACTER_SET",
    "FONT_FAMILY",
    "FONT_PATH",
    "LAND_USE_COLORS",
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

#: What each accuracy level means, in the words the tooltips use.
ACCURACY_TEXT = {
    "real": "real — taken from a cited source",
    "approximate": "approximate — a real thing, geometry or figures approximated",
    "synthetic": "synthetic — made up by a generator, not a real record",
}

# Colours are RGBA lists, as deck.gl takes them. Sector colours follow the source's growth
# sectors; unknown sectors get colours from _FALLBACK in sorted order, so runs are stable.
SECTOR_COLORS: dict[str, list[int]] = {
    "agriculture": [120, 198, 121, 255],
    "agro": [120, 198, 121, 255],
    "agro_processing": [35, 139, 69, 255],
    "agricultural_machinery": [0, 150, 136, 255],
    "gold_mining": [230, 180, 0, 255],
    "mining": [204, 153, 51, 255],
    "rare_earth_metals_processing": [170, 90, 200, 255],
    "metallurgy": [110, 110, 140, 255],
    "energy": [228, 26, 28, 255],
    "energy_wind": [255, 127, 80, 255],
    "construction_materials": [166, 86, 40, 255],
    "construction": [166, 86, 40, 255],
    "logistics": [55, 126, 184, 255],
    "tourism": [247, 129, 191, 255],
    "housing": [240, 200, 150, 255],
    "other_industry": [150, 150, 150, 255],
}

#: Functional zones of the general plan and parcel land uses share one palette, the usual
#: planning colours: housing warm, industry purple, farmland pale green, nature deep green.
LAND_USE_COLORS: dict[str, list[int]] = {
    "residential": [244, 190, 110, 200],
    "public_business": [230, 120, 120, 200],
    "commercial": [230, 120, 120, 200],
    "industrial": [160, 110, 190, 200],
    "infrastructure": [150, 150, 150, 200],
    "transport": [150, 150, 150, 200],
    "recreational": [140, 210, 140, 200],
    "agricultural": [215, 230, 160, 200],
    "special": [120, 120, 120, 200],
    "protected": [60, 150, 80, 200],
    "forest": [60, 150, 80, 200],
    "reserve": [220, 220, 220, 200],
    "water": [120, 170, 230, 200],
}

_FALLBACK = [[31, 119, 180, 255], [255, 127, 14, 255], [44, 160, 44, 255], [214, 39, 40, 255],
             [148, 103, 189, 255], [140, 86, 75, 255], [227, 119, 194, 255],
             [127, 127, 127, 255], [188, 189, 34, 255], [23, 190, 207, 255]]

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
    "water": [120, 170, 230, 230],
    "industrial": [130, 60, 170, 150],
    "protected": [40, 140, 70, 110],
    "settlement": [40, 40, 40, 255],
    "pipeline": [255, 255, 255, 255],
}

#: Label languages and the columns each reads, first non-empty wins: Kazakh falls back to
#: Russian (settlements carry no Kazakh names yet), then to the romanised name.
LABEL_COLUMNS = {"kk": ("name_kk", "name_ru", "name"), "ru": ("name_ru", "name"),
                 "en": ("name",)}


def label_text(df: pd.DataFrame, lang: str = "kk") -> pd.Series:
    """The label of each row in ``lang`` (``kk``, ``ru`` or ``en``), with fallbacks.

    >>> label_text(pd.DataFrame({"name": ["Lakeside"], "name_ru": ["Озёрный"]}), "kk").tolist()
    ['Озёрный']
    """
    if lang not in LABEL_COLUMNS:
        raise ValueError(f"label language {lang!r} is not known: use one of "
                         f"{', '.join(LABEL_COLUMNS)}")
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
    """A colour for each distinct value: the known palette first, then stable fallbacks.

    >>> categorical_colors(["agro", "zinc"], SECTOR_COLORS)["agro"]
    [120, 198, 121, 255]
    """
    known = known or {}
    out, i = {}, 0
    for v in sorted({str(v) for v in values if v is not None and v == v}):
        key = re.sub(r"[^0-9a-z]+", "_", v.strip().lower()).strip("_")
        if key in known:
            out[v] = list(known[key])
        else:
            out[v] = list(_FALLBACK[i % len(_FALLBACK)])
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
        return colors, [{"label": "no data", "color": NO_DATA + [200]}]
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
                       "color": ramp[j] + [230]})
    if len(ok) < len(v):
        legend.append({"label": "no data", "color": NO_DATA + [200]})
    return colors, legend


def _short(x: float) -> str:
    """Compact numbers for legends: 1.2k, 3.4M, 5.6bn."""
    if not math.isfinite(x):
        return "–"
    for div, suffix in ((1e9, "bn"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


def accuracy_label(accuracy=None, synthetic=None) -> str:
    """The accuracy word a tooltip shows for a row.

    Uses the ``accuracy`` column where a layer has one; otherwise the ``synthetic`` flag,
    which every row carries. A row with neither is "unknown", never silently "real".

    >>> accuracy_label("approximate", False), accuracy_label(None, True)
    ('approximate', 'synthetic')
    """
    if isinstance(accuracy, str) and accuracy:
        return accuracy
    if synthetic is None or (isinstance(synthetic, float) and math.isnan(synthetic)):
        return "unknown"
    return "synthetic" if bool(synthetic) else "real"


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
