"""Outputs of a plan version: a GeoPackage export and a Markdown report with a static map.

Both are written atomically (``twin.store.atomic_path``): a crash leaves any earlier file
whole. matplotlib is imported inside :func:`write_report` only, and draws through the Agg
canvas directly, so no global backend is switched.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from ..crs import to_storage
from ..store import GPKG_OPTIONS, atomic_path, write_table
from .buffers import sanitary_zones, water_protection
from .regulations import ZONE_TYPES

__all__ = ["export_plan", "write_report", "ZONE_COLOURS"]

#: Map colours of the zone types (the usual land-use palette: yellow housing, red centres,
#: purple industry, grey infrastructure, greens for open and protected land).
ZONE_COLOURS = {
    "residential": "#f6d55c",
    "public_business": "#e4572e",
    "industrial": "#8e6bbf",
    "infrastructure": "#9e9e9e",
    "recreational": "#8fd18f",
    "agricultural": "#f3efd9",
    "special": "#6d4c41",
    "protected": "#2e7d32",
    "reserve": "#cfd8dc",
}


def _zones_with_rules(plan, v) -> gpd.GeoDataFrame:
    z = plan.zones(v)
    regs = plan.regulations(v)
    r = pd.DataFrame(
        [
            {
                "zone_type": t,
                "label": regs[t].label,
                "max_far": regs[t].max_far,
                "max_floors": regs[t].max_floors,
                "min_green_share": regs[t].min_green_share,
                "permitted_sectors": ", ".join(regs[t].permitted_sectors),
            }
            for t in ZONE_TYPES
        ]
    )
    return z.merge(r, on="zone_type", how="left")


def _findings_layer(plan, v) -> gpd.GeoDataFrame:
    f = plan.compliance(v)
    sites = plan.twin["project_sites"][["id", "name", "geometry"]].rename(
        columns={"id": "site_id", "name": "site_name"}
    )
    g = sites.merge(f, on="site_id", how="inner")
    g["affected"] = g["affected"].map(lambda t: ", ".join(t))
    return gpd.GeoDataFrame(g, geometry="geometry", crs=plan.twin["project_sites"].crs)


def export_plan(plan, path, version: int | None = None) -> Path:
    """Write a plan version to one GeoPackage: zones (with their regulations), sanitary
    protection zones, water protection zones, protected areas and findings as layers; land
    balance, compliance and capacity summaries, regulations and history as tables."""
    v = plan._check(version)
    path = Path(path)
    regs = plan.regulations(v)
    layers = {"zones": _zones_with_rules(plan, v)}
    if "project_sites" in plan.twin:
        layers["sanitary_zones"] = to_storage(
            sanitary_zones(plan.twin["project_sites"], regs, crs=plan.crs)
        )
        layers["findings"] = _findings_layer(plan, v)
    water = plan.twin.water()
    if water is not None:
        layers["water_protection"] = to_storage(water_protection(water, regs, crs=plan.crs))
    if "protected_areas" in plan.twin:
        layers["protected_areas"] = plan.twin["protected_areas"]
    tables = {
        "land_balance": plan.land_balance(v),
        "plan_history": plan.versions(),
        "regulations": _regulations_table(regs),
    }
    if "project_sites" in plan.twin:
        tables["compliance_summary"] = plan.compliance_summary(v)
    if "parcels" in plan.twin:
        tables["capacity_summary"] = plan.capacity_summary(v)
    with atomic_path(path, suffix=".gpkg") as tmp:
        for name, gdf in layers.items():
            polygonal = gdf.geom_type.isin(["Polygon", "MultiPolygon"]).all()
            # one geometry type per layer: GIS clients dislike Polygon/MultiPolygon mixes
            pyogrio.write_dataframe(
                gdf, tmp, layer=name, driver="GPKG", promote_to_multi=bool(polygonal) or None,
                dataset_options=GPKG_OPTIONS,
            )
        conn = sqlite3.connect(tmp)
        try:
            with conn:
                for name, df in tables.items():
                    write_table(conn, name, df)
        finally:
            conn.close()
    return path


def _regulations_table(regs) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "zone_type": t,
                "label": regs[t].label,
                "max_far": regs[t].max_far,
                "max_floors": regs[t].max_floors,
                "min_green_share": regs[t].min_green_share,
                "permitted_sectors": ", ".join(regs[t].permitted_sectors) or "(none)",
                "source": "; ".join(f"{k}: {s}" for k, s in regs[t].source.items())
                or "(not given)",
            }
            for t in ZONE_TYPES
        ]
    )


def _md(df: pd.DataFrame, floats: str = "{:,.1f}") -> str:
    """A DataFrame as a GitHub-flavoured Markdown table (no tabulate dependency)."""

    def cell(x):
        if isinstance(x, (float, np.floating)):
            return "" if np.isnan(x) else floats.format(x)
        if isinstance(x, (int, np.integer)):
            return f"{int(x):,}"
        return str(x).replace("|", "\\|").replace("\n", " ")

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = (
        "|"
        + "|".join("---:" if pd.api.types.is_numeric_dtype(df[c]) else "---" for c in df.columns)
        + "|"
    )
    body = ["| " + " | ".join(cell(x) for x in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def _draw_map(plan, v, findings: pd.DataFrame, target: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    z = plan.zones(v, metric=True)
    fig = Figure(figsize=(10, 8), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    z.plot(ax=ax, color=z["zone_type"].map(ZONE_COLOURS).fillna("#ffffff"), linewidth=0)
    plan.twin.metric("districts").boundary.plot(ax=ax, color="#555555", linewidth=0.5)
    water = plan.twin.water(metric=True)
    if water is not None:
        water.plot(ax=ax, color="#4a90d9", linewidth=0.8)
    handles = [
        Patch(facecolor=ZONE_COLOURS[t], edgecolor="#999999", label=t)
        for t in ZONE_TYPES
        if (z["zone_type"] == t).any()
    ]
    if "project_sites" in plan.twin:
        s = plan.twin.metric("project_sites")
        worst = (
            findings.assign(o=findings["severity"].map({"error": 0, "warning": 1, "info": 2}))
            .groupby("site_id")["o"]
            .min()
        )
        o = s["id"].astype(str).map(worst).fillna(3)
        for level, colour, label in [
            (3, "#37474f", "compliant"),
            (2, "#1e88e5", "info"),
            (1, "#fb8c00", "warning"),
            (0, "#d50000", "error"),
        ]:
            sel = s[o == level]
            if len(sel):
                sel.plot(
                    ax=ax, color=colour, markersize=9, edgecolor="white", linewidth=0.3, zorder=3
                )
                handles.append(Patch(facecolor=colour, label=f"site: {label}"))
    ax.legend(handles=handles, loc="lower left", fontsize=7, frameon=True)
    ax.set_axis_off()
    ax.set_title(
        f"{plan.twin.title}: general plan {plan.id!r} v{v} — functional zones and "
        "project compliance",
        fontsize=10,
    )
    fig.text(0.01, 0.01, _map_note(plan.twin, z), fontsize=7, color="#555555")
    fig.tight_layout()
    with atomic_path(target, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")


def _share(tw, layer: str, what: str) -> str:
    """How much of a layer is made up, in words ("all", "12 of 40" or nothing), from the
    twin's summary of it (a million parcels are not read to count them)."""
    summary = tw.layer_summary(layer)
    n, syn = summary["count"], summary["synthetic"] or 0
    return "" if not syn else f"all {what} synthetic" if syn == n else \
        f"{syn:,} of {n:,} {what} synthetic"


def _map_note(tw, zones) -> str:
    """The map's footnote, from the data: which zone extents and districts are not real."""
    parts = []
    syn_ha = zones.loc[zones["synthetic"].astype(bool), "area_ha"].sum()
    if syn_ha > 0:
        parts.append(f"zone extents {syn_ha / zones['area_ha'].sum():.0%} synthetic (assumed "
                     "rules, see the report)")
    d = tw["districts"]
    if "accuracy" in d and (d["accuracy"] == "approximate").any():
        parts.append("district boundaries approximate")
    elif d["synthetic"].astype(bool).any():
        parts.append(_share(tw, "districts", "districts"))
    return "; ".join([*parts, "equal-area projection"]).capitalize() + "."


def write_report(plan, out_dir, version: int | None = None, max_rows: int = 60) -> Path:
    """Write ``report.md`` with tables, ``map.png``, and CSVs of the findings, land balance
    and capacity into ``out_dir``; returns the report's path."""
    v = plan._check(version)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tw = plan.twin
    regs = plan.regulations(v)
    zones = plan.zones(v)
    has_sites = "project_sites" in tw
    f = plan.compliance(v) if has_sites else pd.DataFrame(columns=["severity", "site_id"])
    lb = plan.land_balance(v)

    def csv(name, df):
        with atomic_path(out / name, suffix=".csv") as tmp:
            df.to_csv(tmp, index=False)

    _draw_map(plan, v, f, out / "map.png")
    fcsv = f.assign(affected=f["affected"].map(", ".join)) if len(f) else f
    csv("findings.csv", fcsv)
    csv("land_balance.csv", lb)

    lines = [f"# General plan {plan.id!r}, version {v} — {tw.title}", ""]
    syn = zones.groupby("synthetic")["area_ha"].sum()
    lines += [
        f"Twin data version {tw.version}; regulations from `{regs.origin}`. "
        f"Zones: {len(zones)} in {zones['district_id'].nunique()} districts, "
        f"{syn.get(False, 0):,.0f} ha derived from twin layers (industrial zones, protected "
        f"areas) and {syn.get(True, 0):,.0f} ha with a synthetic extent (settlement discs and "
        "the agricultural remainder: assumed rules, see the `basis` column of the export).",
        "",
        "![Functional zones and project compliance](map.png)",
        "",
    ]
    if plan.unavailable:
        lines += ["## Not available with this twin's layers", "",
                  *[f"- {why}" for why in plan.unavailable.values()], ""]

    lines += [
        "## Land balance by district",
        "",
        "Hectares of each zone type; the share of the district in brackets. Each row "
        "sums to the district's area (closure = Σ zones / district area − 1).",
        "",
    ]
    wide = lb.pivot_table(
        index=["district_id"], columns="zone_type", values="area_ha", aggfunc="sum"
    ).reindex(columns=list(ZONE_TYPES))
    share = lb.pivot_table(
        index=["district_id"], columns="zone_type", values="share", aggfunc="sum"
    ).reindex(columns=list(ZONE_TYPES))
    used = [t for t in ZONE_TYPES if wide[t].sum() > 0]
    names = dict(zip(tw["districts"]["id"].astype(str), tw["districts"]["name"], strict=True))
    tab = pd.DataFrame({"district": [names.get(d, d) for d in wide.index]})
    for t in used:
        tab[t] = [f"{a:,.0f} ({s:.1%})" for a, s in zip(wide[t], share[t], strict=True)]
    closure = lb.groupby("district_id")["closure"].first().reindex(wide.index)
    tab["area ha"] = (
        lb.groupby("district_id")["district_area_ha"].first().reindex(wide.index).to_numpy()
    )
    tab["closure"] = [f"{c:.2e}" for c in closure]
    lines += [_md(tab, "{:,.0f}"), ""]

    if has_sites:
        summ = plan.compliance_summary(v, findings=f)
        n_sites = len(tw["project_sites"])
        n_syn = int(tw["project_sites"]["synthetic"].astype(bool).sum())
        bad = f[f["severity"] == "error"]["site_id"].nunique()
        warn = f[f["severity"] == "warning"]["site_id"].nunique()
        lines += [
            "## Compliance of project sites",
            "",
            f"{n_sites} sites checked: {bad} with errors (a norm forbids it), {warn} "
            "with warnings (the plan must change first). All findings are in "
            "`findings.csv`."
            + (f" {n_syn} of the {n_sites} sites are synthetic (made up, flagged "
               "`synthetic` in the twin), so their findings illustrate the check rather "
               "than describe real projects." if n_syn else ""),
            "",
            "### By district",
            "",
            _md(summ.drop(columns=["district_id"]), "{:,.1f}"),
            "",
            "### Findings",
            "",
        ]
        shown = f.head(max_rows)
        lines += [_md(shown[["site_id", "district_id", "severity", "rule", "message"]]), ""]
        if len(f) > max_rows:
            lines += [f"… and {len(f) - max_rows} more in `findings.csv`.", ""]

    if "parcels" in tw:
        cap = plan.capacity_summary(v)
        csv("capacity.csv", cap)
        ct = (
            cap.pivot_table(
                index="district_id",
                columns="zone_type",
                values="max_floor_area_m2",
                aggfunc="sum",
                fill_value=0,
            )
            / 1e6
        )
        ct.insert(0, "total", ct.sum(axis=1))
        ct = ct.reset_index()
        ct["district_id"] = ct["district_id"].map(lambda d: names.get(d, d))
        made_up = _share(tw, "parcels", "parcels")
        lines += [
            "## Building capacity",
            "",
            "Maximum floor area (million m²) = Σ parcel area × max FAR of its zone, by "
            "district and zone type" + (f" ({made_up})." if made_up else "."),
            "",
            _md(ct.rename(columns={"district_id": "district"}), "{:,.2f}"),
            "",
        ]

    lines += [
        "## Regulations",
        "",
        f"From {regs.origin}. Values marked `assumed` are editable "
        "defaults, not cited norms: give the twin your own (`regulations:` in its "
        "manifest, or Twin.set_regulations).",
        "",
        _md(_regulations_table(regs), "{:g}"),
        "",
        f"Sanitary protection zones by hazard class (m): "
        f"{', '.join(f'{k} {d:,.0f}' for k, d in regs.sanitary_m.items())}; water "
        f"protection zone {regs.water_zone_m:g} m, strip {regs.water_strip_m:g} m.",
        "",
    ]

    lines += [
        "## Versions",
        "",
        _md(plan.versions()[["version", "kind", "description", "created_utc"]]),
        "",
    ]
    if v > 1:
        lines += [
            "### Changes since version 1",
            "",
            *[f"- {x}" for x in plan.diff(1, v).lines()],
            "",
        ]
    target = out / "report.md"
    with atomic_path(target, suffix=".md") as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")
    return target
