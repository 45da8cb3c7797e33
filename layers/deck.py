"""pydeck views of a twin: districts in 3D, project columns, zones, parcels and labels.

Everything here works on a closed network. The basemap is the twin's own layers (region,
districts, lakes, rivers, settlements), never a tile service, so no token and no internet
are needed.
HTML output inlines the deck.gl bundle that ships with pydeck and a bundled Latin + Cyrillic
font, so a ``twin map --out`` file opens anywhere, including from a USB stick.

Parcels are never inlined: a region holds up to a million of them. They come as an
``MVTLayer`` from the twin's own tile endpoint (``parcels_url``), so they only draw where a
server runs; a standalone file says so in its legend.

Examples
--------
>>> from layers.deck import twin_deck, write_html          # doctest: +SKIP
>>> deck = twin_deck(tw, color_by="investment_kzt")        # doctest: +SKIP
>>> write_html(deck, "region.html")                        # doctest: +SKIP
"""

from __future__ import annotations

import html
import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pydeck as pdk
import shapely

from twin.errors import AnalysisUnavailable
from twin.schema import WATER_LAYERS

from . import style
from .district_figures import (
    COLOR_BY,
    RELATIVE_HEIGHT,
    color_title,
    default_color_by,
    district_values,
    height_fraction,
)
from .offline_html import FIT_SIZE, MVT_LOADER_REF, TwinDeck, bundle_path, to_html, write_html

__all__ = [
    "COLOR_BY",
    "TwinDeck",
    "bundle_path",
    "district_values",
    "district_layer",
    "parcel_layer",
    "project_layers",
    "reference_layers",
    "settlement_layers",
    "to_html",
    "twin_deck",
    "write_html",
    "zone_layers",
]

# Heights as fractions of the region's extent, so a 20 km test twin and a ~700 km region
# look alike: for the latter, districts rise up to ~37 km and project columns up to ~73 km
# above them, tall enough to read at pitch 45, low enough not to hide the neighbours.
DISTRICT_MAX_ELEVATION = 0.06
COLUMN_MAX_ELEVATION = 0.12
COLUMN_RADIUS = 0.004
# ~100 m in degrees: invisible at regional zoom, and it keeps a single-file map small.
_SIMPLIFY_DEG = 0.001


# --------------------------------------------------------------------------- data helpers


def _clean(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(v) else float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v


def _features(gdf: gpd.GeoDataFrame, props: pd.DataFrame) -> dict:
    """A GeoJSON FeatureCollection with simplified, 5-decimal geometries (~1 m)."""
    geoms = np.asarray(gdf.geometry.values)
    poly = np.isin(shapely.get_type_id(geoms), [3, 6])
    geoms = geoms.copy()
    geoms[poly] = shapely.simplify(geoms[poly], _SIMPLIFY_DEG, preserve_topology=True)
    feats = []
    records = props.to_dict(orient="records")
    for g, p in zip(geoms, records, strict=True):
        gj = json.loads(shapely.to_geojson(shapely.set_precision(g, 1e-5)))
        feats.append({"type": "Feature", "geometry": gj,
                      "properties": {k: _clean(v) for k, v in p.items()}})
    return {"type": "FeatureCollection", "features": feats}


def _fmt(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return "–" if not math.isfinite(v) else f"{v:,.1f}"
    return str(v)


def _tip(title: str, row: dict, fields: list[str], accuracy: str, note: str = "") -> str:
    """Tooltip HTML: a title, the attributes, and always the row's accuracy."""
    lines = [f"<b>{html.escape(str(title))}</b>"]
    for f in fields:
        if f in row and row[f] is not None and row[f] == row[f] and row[f] != "":
            lines.append(f"{html.escape(f)}: {html.escape(_fmt(row[f]))}")
    text = style.ACCURACY_TEXT.get(accuracy, "unknown accuracy")
    lines.append(f"<i>data: {html.escape(text)}</i>")
    if note:
        lines.append(f"<i>{html.escape(note)}</i>")
    return "<br/>".join(lines)


def _accuracy(gdf: pd.DataFrame) -> pd.Series:
    acc = gdf["accuracy"] if "accuracy" in gdf else pd.Series(None, index=gdf.index)
    syn = gdf["synthetic"] if "synthetic" in gdf else pd.Series(None, index=gdf.index)
    return pd.Series([style.accuracy_label(a, s) for a, s in zip(acc, syn, strict=True)],
                     index=gdf.index)


_LITERAL = ("font_family", "character_set", "size_units", "radius_units", "line_width_units",
            "width_units")


def _layer(type_: str, data, id: str, **props) -> pdk.Layer:
    """A pydeck layer whose plain string props stay strings.

    pydeck turns every string keyword into a JavaScript expression; font names and the
    character set must reach deck.gl verbatim, so they are set after construction.
    """
    literal = {k: props.pop(k) for k in _LITERAL if k in props}
    layer = pdk.Layer(type_, data=data, id=id, **props)
    for k, v in literal.items():
        setattr(layer, k, v)
    return layer


# --------------------------------------------------------------------------- layer builders


def reference_layers(twin) -> list[pdk.Layer]:
    """The offline basemap: the region's outline, Astana (context), lakes and rivers."""
    out = []
    region = twin["region"]
    out.append(_layer("GeoJsonLayer", _features(region, region[["name"]]), "region",
                      filled=True, stroked=True, get_fill_color=style.BASE["region_fill"],
                      get_line_color=style.BASE["region_line"], line_width_min_pixels=2,
                      pickable=False))
    if "context" in twin:
        c = twin["context"]
        props = c[["name", "kind"]].assign(
            tw_tip=[_tip(n, {"kind": k}, ["kind"], a, "not part of the region")
                    for n, k, a in zip(c["name"], c["kind"], _accuracy(c), strict=True)])
        out.append(_layer("GeoJsonLayer", _features(c, props), "context", filled=True,
                          stroked=True, get_fill_color=style.BASE["context_fill"],
                          get_line_color=[120, 120, 120, 255], line_width_min_pixels=1,
                          pickable=True))
    for name in WATER_LAYERS:
        if name not in twin:
            continue
        w = twin[name]
        props = w[["name", "kind"]].assign(
            tw_tip=[_tip(n, {"kind": k}, ["kind"], a)
                    for n, k, a in zip(w["name"], w["kind"], _accuracy(w), strict=True)])
        out.append(_layer("GeoJsonLayer", _features(w, props), name, filled=True,
                          stroked=True, get_fill_color=style.BASE["water"],
                          get_line_color=style.BASE["water"],
                          line_width_min_pixels=2 if name == "rivers" else 1, pickable=True))
    return out


def extent_m(twin) -> float:
    """The region's larger side in metres (local equirectangular, fine for scaling)."""
    x0, y0, x1, y1 = twin["region"].total_bounds
    k = 111_320.0
    return max((x1 - x0) * k * math.cos(math.radians((y0 + y1) / 2)), (y1 - y0) * k, 1.0)


def _district_heights(twin, values: pd.Series, extruded: bool,
                      relative: bool = False) -> pd.Series:
    if not extruded:
        return pd.Series(0.0, index=values.index)
    return height_fraction(values, relative) * DISTRICT_MAX_ELEVATION * extent_m(twin)


def _values(twin, color_by) -> tuple[pd.Series, str, pd.DataFrame]:
    agg = district_values(twin)
    if color_by is None:
        color_by = default_color_by(agg)
    if isinstance(color_by, pd.Series):
        return color_by.reindex(agg.index), str(color_by.name or "value"), agg
    if color_by not in agg.columns:
        if color_by in COLOR_BY:  # a known colouring the twin has no data for
            raise AnalysisUnavailable(
                f"twin {twin.name!r} cannot colour districts by {color_by!r}: "
                + ("it holds no score observations; ingest some (`twin score ingest`)"
                   if color_by == "score" else "it has no project_sites layer")
                + f", or colour by one of {', '.join(k for k in COLOR_BY if k in agg)}")
        raise ValueError(f"color_by={color_by!r} is not a district aggregate: use one of "
                         f"{', '.join(COLOR_BY)} or pass a pd.Series indexed by district id")
    return agg[color_by], color_title(color_by, agg), agg


def district_layer(twin, color_by=None, *, extruded: bool = True, classes=None):
    """Districts coloured (quantile classes) and extruded by a district value.

    ``classes`` replaces the quantile classes: a function of the values returning
    ``(colours, legend classes)`` as :func:`layers.style.sequential_classes` does (a
    scenario's changes use classes centred on zero). Returns ``(layer, legend_classes,
    heights)``; ``heights`` (metres, by district id) lets other layers stand on top of the
    extruded districts.
    """
    d = twin["districts"]
    idc = twin.schema("districts").id_column
    values, title, agg = _values(twin, color_by)
    color_key = color_by if isinstance(color_by, str) else (
        default_color_by(agg) if color_by is None else None)
    relative = color_key in RELATIVE_HEIGHT
    colors, legend = (classes or style.sequential_classes)(values)
    heights = _district_heights(twin, values, extruded, relative=relative)
    acc = _accuracy(d)
    key = d[idc].to_numpy()
    props = pd.DataFrame({
        "id": key, "name": d["name"].to_numpy(),
        "name_ru": d.get("name_ru", pd.Series("", index=d.index)).to_numpy(),
        "name_kk": d.get("name_kk", pd.Series("", index=d.index)).to_numpy(),
        "value": values.reindex(key).to_numpy(),
        "tw_fill": colors.reindex(key).to_numpy(),
        "tw_elev": heights.reindex(key).to_numpy(),
    })
    tips = []
    for i, k in enumerate(key):
        row = {**d.iloc[i].drop(labels=[d.geometry.name]).to_dict(),
               **agg.loc[k].to_dict(), title: values.get(k)}
        n_syn, n = int(row.get("synthetic_projects", 0)), int(row.get("projects", 0))
        notes = [f"investment and jobs sum {n} project rows, {n_syn} of them synthetic"
                 if n else ""]
        share = row.get("score_synthetic")
        if share is not None and share == share:
            notes.append(f"score from observations {share:.0%} synthetic")
        fields = ["kind", "centre", "area_km2", title, "population", "investment_kzt",
                  "jobs", "projects"]
        if not title.startswith(COLOR_BY["score"]):
            fields.insert(4, "score")
        tips.append(_tip(f"{row['name']} · {row.get('name_kk', '')}", row, fields,
                         acc.iloc[i], "; ".join(x for x in notes if x)))
    props["tw_tip"] = tips
    layer = _layer("GeoJsonLayer", _features(d, props), "districts", filled=True,
                   stroked=True, extruded=extruded, wireframe=extruded,
                   get_fill_color="properties.tw_fill", get_elevation="properties.tw_elev",
                   get_line_color=style.BASE["district_line"], line_width_min_pixels=1,
                   opacity=0.85, pickable=True, auto_highlight=True,
                   highlight_color=[255, 255, 255, 90])
    note = ("height: lowest to highest" if relative else "height ∝ value") if extruded else ""
    return layer, {"title": title, "classes": legend, "height": note}, heights


def _on_top(gdf: pd.DataFrame, heights: pd.Series) -> np.ndarray:
    if "district_id" not in gdf:
        return np.zeros(len(gdf))
    return gdf["district_id"].map(heights).fillna(0).to_numpy(float)


def project_layers(twin, heights: pd.Series | None = None, *, extruded: bool = True):
    """Project sites as columns: height by investment (square root, so that the 7 large
    projects do not flatten the 226 small ones), colour by sector. Pipeline projects get
    their own layer: square, translucent, outlined columns.

    Returns ``(layers, sector_colors)``.
    """
    if "project_sites" not in twin:
        return [], {}
    p = twin["project_sites"]
    heights = heights if heights is not None else pd.Series(dtype=float)
    inv = pd.to_numeric(p.get("investment_kzt", pd.Series(0, index=p.index)),
                        errors="coerce").fillna(0).clip(lower=0)
    top = float(inv.max()) or 1.0
    sectors = style.categorical_colors(p["sector"], style.SECTOR_COLORS)
    acc = _accuracy(p)
    pipe = style.is_pipeline(p.get("status", pd.Series("", index=p.index)))
    base = _on_top(p, heights)
    ext = extent_m(twin)
    df = pd.DataFrame({
        "name": p["name"].to_numpy(), "sector": p["sector"].to_numpy(),
        "status": p.get("status", pd.Series("", index=p.index)).to_numpy(),
        "accuracy": acc.to_numpy(),
        "lon": p.geometry.x.to_numpy(), "lat": p.geometry.y.to_numpy(),
        "z": base + ext * 1e-4,
        "elev": np.sqrt(inv.to_numpy() / top) * COLUMN_MAX_ELEVATION * ext if extruded
        else np.zeros(len(p)),
        "color": [sectors[str(s)] for s in p["sector"]],
    })
    fields = ["sector", "status", "investment_kzt", "jobs", "start_year", "end_year",
              "hazard_class", "district_id"]
    df["tw_tip"] = [_tip(r["name"], r, fields, a, "planned (pipeline) project" if pl else "")
                    for r, a, pl in zip(p.drop(columns=p.geometry.name).to_dict("records"),
                                        acc, pipe, strict=True)]
    common = dict(get_position=["lon", "lat", "z"], get_elevation="elev",
                  radius=COLUMN_RADIUS * ext, extruded=extruded, pickable=True,
                  auto_highlight=True)
    layers = [_layer("ColumnLayer", df[~pipe.to_numpy()], "project_sites", disk_resolution=12,
                     get_fill_color="color", **common)]
    if pipe.any():
        # Square, translucent, white-outlined: reads as "not built yet" in 2D and 3D alike.
        layers.append(_layer("ColumnLayer", df[pipe.to_numpy()], "pipeline_projects",
                             disk_resolution=4, angle=45, get_fill_color="[color[0], color[1],"
                             " color[2], 110]", stroked=True, wireframe=True,
                             get_line_color=style.BASE["pipeline"], line_width_min_pixels=2,
                             **{**common, "radius": COLUMN_RADIUS * ext * 1.6}))
    return layers, sectors


def zone_layers(twin) -> list[pdk.Layer]:
    """Industrial zones and protected areas, flat, with their official figures."""
    out = []
    for name, color, fields in (
        ("protected_areas", style.BASE["protected"], ["kind", "official_area_ha", "area_ha"]),
        ("industrial_zones", style.BASE["industrial"], ["district_id", "area_ha"]),
    ):
        if name not in twin:
            continue
        g = twin[name]
        acc = _accuracy(g)
        rows = g.drop(columns=g.geometry.name).to_dict("records")
        props = g[["name"]].assign(
            tw_tip=[_tip(r["name"], r, fields, a) for r, a in zip(rows, acc, strict=True)])
        out.append(_layer("GeoJsonLayer", _features(g, props), name, filled=True,
                          stroked=True, get_fill_color=color,
                          get_line_color=color[:3] + [255], line_width_min_pixels=2,
                          pickable=True))
    return out


def land_use_expression(field: str = "land_use") -> str:
    """A deck.gl JSON expression colouring an MVT feature by its land use or zone.

    pydeck cannot ship a Python function to the browser, so the palette becomes a chain of
    conditionals that deck.gl's expression evaluator understands.
    """
    expr = "[170, 170, 170, 160]"
    for k, c in reversed(style.LAND_USE_COLORS.items()):
        expr = f"properties.{field} === '{k}' ? {c} : ({expr})"
    return expr


def parcel_layer(parcels_url: str, *, field: str = "land_use", min_zoom: int = 5,
                 max_zoom: int = 16) -> pdk.Layer:
    """Parcels as vector tiles from the twin's own endpoint.

    ``parcels_url`` is an XYZ template such as ``http://127.0.0.1:8000/tiles/parcels/{z}/{x}/
    {y}.mvt``. The tile server thins and simplifies per zoom, which is what lets a million
    parcels draw at regional zoom.
    """
    layer = _layer("MVTLayer", parcels_url, "parcels", min_zoom=min_zoom, max_zoom=max_zoom,
                   get_fill_color=land_use_expression(field),
                   # No outlines: at regional zoom they double the geometry and show as noise.
                   get_line_color=[90, 90, 90, 120], line_width_min_pixels=0.5, stroked=False,
                   filled=True, pickable=True, unique_id_property="id", binary=False,
                   load_options={"worker": False})
    # pydeck's deck.gl bundle only has loaders.gl's worker MVT loader, whose worker comes from
    # a CDN; the page registers our main-thread loader (assets/mvt-loader.js) under this name.
    layer.loaders = [MVT_LOADER_REF]
    return layer


def _text_layer(df: pd.DataFrame, id: str, *, size: int, color: list[int],
                offset: int) -> pdk.Layer:
    # A pale box behind each label keeps it legible over dark and pale districts alike; an
    # SDF halo at 11-14 px came out as white glyphs with a thin dark rim in deck.gl 9.
    layer = _layer("TextLayer", df, id, get_position=["lon", "lat", "z"], get_text="label",
                   get_size=size, size_units="pixels", get_color=color,
                   get_pixel_offset=[0, offset], background=True,
                   get_background_color=[255, 255, 255, 190], background_padding=[3, 1, 3, 1],
                   billboard=True, pickable=False,
                   # Labels stay readable in front of the 3D columns and prisms.
                   parameters={"depthCompare": "always", "depthWriteEnabled": False},
                   font_family=style.FONT_FAMILY, character_set=style.CHARACTER_SET)
    layer.font_settings = {"fontSize": 32}
    return layer


def settlement_layers(twin, heights: pd.Series | None = None, *,
                      lang: str = "kk") -> list[pdk.Layer]:
    """Settlements as dots (area by population), settlement and district labels.

    ``lang`` picks the label language (``kk``, ``ru``, ``en``; see
    :data:`layers.style.LABEL_COLUMNS`). The TextLayers get the bundled font and a
    character set covering Cyrillic, Kazakh letters included, because deck.gl's default
    atlas is ASCII only.
    """
    heights = heights if heights is not None else pd.Series(dtype=float)
    lift = extent_m(twin) * 5e-4
    out = []
    if "settlements" in twin:
        s = twin["settlements"]
        acc = _accuracy(s)
        df = pd.DataFrame({
            "label": style.label_text(s, lang).to_numpy(),
            "population": s["population"].to_numpy(),
            "lon": s.geometry.x.to_numpy(), "lat": s.geometry.y.to_numpy(),
            "z": _on_top(s, heights) + lift,
            # Dot area grows with population; pixel limits keep villages visible.
            "r": np.sqrt(s["population"].clip(lower=0).to_numpy(float)) * 12 + 800,
            # which label wins where two would overlap: the larger place (as on /map)
            "priority": s["population"].fillna(0).clip(lower=0).to_numpy(float),
        })
        rows = s.drop(columns=s.geometry.name).to_dict("records")
        df["tw_tip"] = [_tip(r["name"], r, ["name_ru", "population", "district_id"], a)
                        for r, a in zip(rows, acc, strict=True)]
        out.append(_layer("ScatterplotLayer", df, "settlements",
                          get_position=["lon", "lat", "z"], get_radius="r",
                          radius_min_pixels=2, radius_max_pixels=14,
                          get_fill_color=style.BASE["settlement"], stroked=True,
                          get_line_color=[255, 255, 255, 255], line_width_min_pixels=1,
                          pickable=True))
        out.append(_text_layer(df.drop(columns="tw_tip"), "settlement_labels", size=11,
                               color=[20, 20, 20, 255], offset=-13))
    d = twin["districts"]
    if "kind" in d:
        # A city's name is already on its settlement label; printing it twice only clutters.
        d = d[d["kind"].astype(str).str.lower() != "city"]
    pts = d.geometry.representative_point()
    idc = twin.schema("districts").id_column
    dl = pd.DataFrame({"label": style.label_text(d, lang).to_numpy(),
                       "lon": pts.x.to_numpy(), "lat": pts.y.to_numpy(),
                       "z": d[idc].map(heights).fillna(0).to_numpy(float) + lift,
                       # district names before villages', as on /map
                       "priority": np.full(len(d), 40_000.0)})
    out.append(_text_layer(dl, "district_labels", size=14, color=[70, 40, 110, 255], offset=0))
    return out


# --------------------------------------------------------------------------- the whole view


# Tilting pushes the far edge away, so a pitched view backs off this much zoom and moves
# south by this share of the region's height (pages refitting the camera apply the same).
TILT_ZOOM_BACK, TILT_SOUTH = 0.15, 0.08


def _tilt(twin, pitch: float) -> tuple[float, float]:
    """(zoom to back off, degrees of latitude to move south) for a view of ``pitch``."""
    if not pitch:
        return 0.0, 0.0
    _, y0, _, y1 = twin["region"].total_bounds
    return TILT_ZOOM_BACK, TILT_SOUTH * float(y1 - y0)


def _view_state(twin, *, pitch: float, width: int = 1280, height: int = 800) -> pdk.ViewState:
    """Fit the region's bounds into a ``width`` x ``height`` viewport (Web Mercator)."""
    x0, y0, x1, y1 = twin["region"].total_bounds

    def merc(lat):
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    zx = math.log2(width / 512 * 360 / max(x1 - x0, 1e-6))
    zy = math.log2(height / 512 * 2 * math.pi / max(merc(y1) - merc(y0), 1e-9))
    # The camera sits a little east of the centre because the legend covers the map's right
    # edge.
    back, south = _tilt(twin, pitch)
    zoom = min(zx, zy) - 0.1 - back
    lat = (y0 + y1) / 2 - south
    lon = (x0 + x1) / 2 + 0.06 * (x1 - x0)
    return pdk.ViewState(longitude=lon, latitude=lat,
                         zoom=round(zoom, 2), pitch=pitch, bearing=0 if not pitch else -12,
                         min_zoom=3, max_zoom=16)


def twin_deck(twin, *, color_by=None, parcels_url: str | None = None,
              extruded: bool = True, pitch: float | None = None, lang: str = "kk",
              title: str | None = None, classes=None) -> TwinDeck:
    """A 3D view of a twin as a ``pydeck.Deck`` (rendered offline).

    Parameters
    ----------
    twin : twin.Twin
        The twin to draw; it needs ``region`` and ``districts``, and draws whichever of
        ``context``, ``lakes``, ``rivers``, ``protected_areas``, ``industrial_zones``,
        ``project_sites`` and ``settlements`` it has.
    color_by : str or pandas.Series, optional
        District colour and height: one of :data:`COLOR_BY`, or a Series indexed by district id
        (a scenario's delta, say). Default: the region score where the twin has score
        observations (its legend says when they are synthetic), else population.
    parcels_url : str, optional
        XYZ template of the parcel vector tiles, e.g. the API's
        ``http://host/tiles/parcels/{z}/{x}/{y}.mvt``. Without it parcels are left out.
    extruded : bool
        3D districts and columns; ``False`` gives a flat 2D map.
    pitch : float, optional
        Camera tilt in degrees; defaults to 45 when extruded, else 0.
    lang : str
        Label language: ``kk`` (Kazakh, falling back to Russian where a row has no Kazakh
        name), ``ru`` or ``en`` (romanised names).
    classes : callable, optional
        How district values become colours (see :func:`district_layer`); default quantiles.

    Examples
    --------
    >>> from twin.sample import make_small_twin
    >>> deck = twin_deck(make_small_twin())
    >>> [layer.id for layer in deck.layers][:3]
    ['region', 'districts', 'protected_areas']
    """
    pitch = (45.0 if extruded else 0.0) if pitch is None else pitch
    layers = reference_layers(twin)
    dlayer, dlegend, heights = district_layer(twin, color_by, extruded=extruded,
                                              classes=classes)
    layers.insert(1, dlayer)
    if parcels_url:
        layers.append(parcel_layer(parcels_url))
    layers += zone_layers(twin)
    plist, sectors = project_layers(twin, heights, extruded=extruded)
    layers += plist
    layers += settlement_layers(twin, heights, lang=lang)
    deck = TwinDeck(
        layers=layers,
        views=[pdk.View(type="MapView", controller=True)],
        map_provider=None,
        map_style=None,
        # fitted to a notebook's map; pages refit the zoom to their own size
        initial_view_state=_view_state(twin, pitch=pitch, width=FIT_SIZE[0],
                                       height=FIT_SIZE[1]),
        tooltip={"html": "{tw_tip}",
                 "style": {"backgroundColor": "rgba(255,255,255,0.95)", "color": "#222",
                           "fontFamily": style.FONT_FAMILY, "fontSize": "12px",
                           "border": "1px solid #999", "maxWidth": "340px"}},
        parameters={"clearColor": [c / 255 for c in style.BASE["background"]] + [1]},
    )
    deck.title = title or f"{twin.title} — {'3D' if extruded else '2D'} view"
    back, south = _tilt(twin, pitch)
    deck.fit = {"bounds": [float(v) for v in twin["region"].total_bounds],
                "zoom_back": back, "south": south}
    deck.legend = {
        "districts": dlegend,
        "synthetic_share": style.synthetic_shares(twin),
        "sectors": sectors,
        "has_pipeline": any(layer.id == "pipeline_projects" for layer in plist),
        "extruded": extruded,
        "parcels": bool(parcels_url),
        "provenance": dict(twin.provenance),
        "attribution": style.attributions(twin),
        "zone_layers": [n for n in ("protected_areas", "industrial_zones") if n in twin],
        "accuracy_note": style.accuracy_note(twin),
    }
    return deck
