"""The examples of the CQL2 standard (OGC 21-065r2, clauses 6-7 and Annex B), adapted to
the default twin's queryables, each in both encodings and with a reference selection
computed independently with pandas/shapely.

Literal geometries are built from the twin's own layers (a box around a river bend, a
Astana outline), so the examples select something non-trivial on any twin build.
Examples of classes we do not offer (temporal, arrays, arithmetic, ACCENTI, custom
functions) are in ``REFUSED``: they must answer 400 with a message that says why.

``gappy_sites`` makes some project values missing, so that IS NULL and CQL2's
three-valued logic (a comparison with a missing value is unknown, and so is its NOT)
are exercised: the references spell that logic out with ``known(...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from shapely.geometry import mapping


@dataclass(frozen=True)
class Example:
    std: str  # the standard's example this adapts (cql2-rs/OGC numbering)
    collection: str
    text: str
    json: object
    ref: Callable  # GeoDataFrame -> boolean Series/array


def P(name):  # noqa: N802 - reads like the standard's {"property": ...}
    return {"property": name}


def op(name, *args):
    return {"op": name, "args": list(args)}


def known(s):
    return s.notna().to_numpy()


def gappy_sites(sites):
    """project_sites with missing values: no hazard class where it was blank, and no job
    count for the smallest projects."""
    g = sites.copy()
    g["hazard_class"] = g["hazard_class"].astype(object).where(g["hazard_class"] != "", None)
    g["jobs"] = g["jobs"].astype("Int64").mask(g["jobs"] <= 2)
    return g


def _wkt(g) -> str:
    return shapely.to_wkt(g, rounding_precision=-1)


def _gj(g) -> dict:
    return mapping(g)


def examples(tw) -> list[Example]:
    d, s = tw["districts"], tw["settlements"]
    minx, miny, maxx, maxy = (float(v) for v in tw["region"].total_bounds)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    # A box over the middle of the region; a triangle across its west; a point inside a
    # district; a box across the river Ishim where it bends.
    mid = shapely.box(cx - 1.5, cy - 0.8, cx + 1.5, cy + 0.8)
    tri = shapely.Polygon([(minx, miny), (cx, miny), (minx, maxy), (minx, miny)])
    inside = d.geometry.iloc[8].representative_point()
    inside = shapely.Point(round(inside.x, 6), round(inside.y, 6))
    river = tw["rivers"].geometry.iloc[0]
    bend = river.interpolate(0.5, normalized=True)
    across = shapely.box(bend.x - 0.05, bend.y - 0.05, bend.x + 0.05, bend.y + 0.05)
    # Exact predicates (S_EQUALS, S_TOUCHES) need literals whose coordinates survive the
    # trip through WKT: cql2 0.6 reads 16-17 digit WKT coordinates up to an ulp off, so
    # these use data with short decimals (the Astana outline, GeoNames places).
    astana = tw["context"].geometry.iloc[0]
    pts = list(s.geometry.iloc[:4])
    two_roads = shapely.MultiLineString([[(pts[0].x, pts[0].y), (pts[1].x, pts[1].y)],
                                         [(pts[2].x, pts[2].y), (pts[3].x, pts[3].y)]])
    two_boxes = shapely.MultiPolygon([shapely.box(minx, miny, minx + 1, miny + 1),
                                      shapely.box(maxx - 1, maxy - 1, maxx, maxy)])
    line = shapely.LineString([(minx + 0.5, cy), (maxx - 0.5, cy + 0.3)])
    small_tri = shapely.Polygon([(inside.x, inside.y), (inside.x + 0.01, inside.y),
                                 (inside.x, inside.y + 0.01), (inside.x, inside.y)])
    town = s.loc[s["name"] == "Kokshetau"].geometry.iloc[0]
    bx = (cx - 2, cy - 1, cx + 2, cy + 1)
    bbox_poly = shapely.box(*bx)

    def sindex(g, geom, pred):
        return getattr(g.geometry, pred)(geom).to_numpy()

    E = Example
    out = [
        # -- clause 6: basic CQL2 ---------------------------------------------------------
        E("clause6_02a", "settlements", "name='Kokshetau'", op("=", P("name"), "Kokshetau"),
          lambda g: g["name"] == "Kokshetau"),
        E("clause6_03", "project_sites", "geometry IS NOT NULL",
          op("not", op("isNull", P("geometry"))), lambda g: np.ones(len(g), bool)),
        # -- clause 7: advanced comparison, case-insensitivity, spatial ----------------------
        E("clause7_01", "settlements", "name LIKE 'Zh%'", op("like", P("name"), "Zh%"),
          lambda g: g["name"].str.startswith("Zh")),
        E("clause7_02", "project_sites", "investment_kzt BETWEEN 1000000000.0 and 5e9",
          op("between", P("investment_kzt"), 1e9, 5_000_000_000),
          lambda g: (g["investment_kzt"] >= 1e9) & (g["investment_kzt"] <= 5e9)),
        E("clause7_03a", "settlements", "name IN ('Kokshetau','Stepnyak','Zhaksy','Astana')",
          op("in", P("name"), ["Kokshetau", "Stepnyak", "Zhaksy", "Astana"]),
          lambda g: g["name"].isin(["Kokshetau", "Stepnyak", "Zhaksy"])),
        E("clause7_03b", "project_sites", "start_year NOT IN (2023,2024)",
          op("not", op("in", P("start_year"), [2023, 2024])),
          lambda g: ~g["start_year"].isin([2023, 2024])),
        E("clause7_04", "districts",
          "CASEI(name_kk) IN (CASEI('ЖАҚСЫ АУДАНЫ'),CASEI('Көкшетау'),CASEI('Straße'))",
          op("in", op("casei", P("name_kk")),
             [op("casei", "ЖАҚСЫ АУДАНЫ"), op("casei", "Көкшетау"), op("casei", "Straße")]),
          lambda g: g["name_kk"].isin(["Жақсы ауданы", "Көкшетау"])),
        E("clause7_07", "districts", f"S_INTERSECTS(geometry,POINT({inside.x} {inside.y}))",
          op("s_intersects", P("geometry"), _gj(inside)),
          lambda g: sindex(g, inside, "intersects")),
        E("clause7_10", "rivers", f"S_CROSSES(geometry,{_wkt(across)})",
          op("s_crosses", P("geometry"), _gj(across)),
          lambda g: sindex(g, across, "crosses")),
        E("clause7_16", "settlements", f"S_CROSSES({_wkt(line)}, {_wkt(mid)})",
          op("s_crosses", _gj(line), _gj(mid)),
          lambda g: np.full(len(g), line.crosses(mid))),
        # -- Annex B ----------------------------------------------------------------------
        E("example01", "project_sites", "id = 'named-aluminium'",
          op("=", P("id"), "named-aluminium"), lambda g: g["id"] == "named-aluminium"),
        E("example02", "project_sites", "sector LIKE 'agr%'", op("like", P("sector"), "agr%"),
          lambda g: g["sector"].str.startswith("agr")),
        E("example03", "project_sites", "district_id IN ('kokshetau','burabay','tselinograd')",
          op("in", P("district_id"), ["kokshetau", "burabay", "tselinograd"]),
          lambda g: g["district_id"].isin(["kokshetau", "burabay", "tselinograd"])),
        E("example04", "project_sites",
          "investment_kzt < 1000000000 AND start_year=2025 AND status='implementation'",
          op("and", op("<", P("investment_kzt"), 1_000_000_000),
             op("=", P("start_year"), 2025), op("=", P("status"), "implementation")),
          lambda g: (g["investment_kzt"] < 1e9) & (g["start_year"] == 2025)
          & (g["status"] == "implementation")),
        E("example05a", "project_sites", "start_year=2023 OR start_year=2026",
          op("or", op("=", P("start_year"), 2023), op("=", P("start_year"), 2026)),
          lambda g: g["start_year"].isin([2023, 2026])),
        E("example05b", "project_sites", "start_year IN (2023,2026)",
          op("in", P("start_year"), [2023, 2026]),
          lambda g: g["start_year"].isin([2023, 2026])),
        E("example06a", "project_sites", "jobs BETWEEN 10 AND 100 AND start_year=2025 AND "
          "end_year=2027", op("and", op("between", P("jobs"), 10, 100),
                              op("=", P("start_year"), 2025), op("=", P("end_year"), 2027)),
          lambda g: (known(g["jobs"]) & (g["jobs"].fillna(0) >= 10)
                     & (g["jobs"].fillna(0) <= 100) & (g["start_year"] == 2025)
                     & (g["end_year"] == 2027))),
        E("example06b", "project_sites", "jobs >= 10 AND jobs <= 100 AND start_year=2025 AND "
          "end_year=2027", op("and", op(">=", P("jobs"), 10), op("<=", P("jobs"), 100),
                              op("=", P("start_year"), 2025), op("=", P("end_year"), 2027)),
          lambda g: (known(g["jobs"]) & (g["jobs"].fillna(0) >= 10)
                     & (g["jobs"].fillna(0) <= 100) & (g["start_year"] == 2025)
                     & (g["end_year"] == 2027))),
        E("example07", "project_sites", f"sector LIKE 'agr%' AND S_INTERSECTS(geometry,"
          f"{_wkt(mid)})", op("and", op("like", P("sector"), "agr%"),
                              op("s_intersects", P("geometry"), _gj(mid))),
          lambda g: g["sector"].str.startswith("agr") & sindex(g, mid, "intersects")),
        E("example08", "project_sites", "status='implementation' AND hazard_class='IV' AND "
          f"sector='agro-processing' AND s_intersects(geometry,{_wkt(tri)})",
          op("and", op("=", P("status"), "implementation"), op("=", P("hazard_class"), "IV"),
             op("=", P("sector"), "agro-processing"),
             op("s_intersects", P("geometry"), _gj(tri))),
          lambda g: ((g["status"] == "implementation") & (g["hazard_class"] == "IV")
                     & (g["sector"] == "agro-processing") & sindex(g, tri, "intersects"))),
        E("example09", "settlements", "population>5000", op(">", P("population"), 5000),
          lambda g: g["population"] > 5000),
        E("example10", "settlements", "population <= 2000", op("<=", P("population"), 2000),
          lambda g: g["population"] <= 2000),
        E("example11", "project_sites", "name LIKE '%plant%'", op("like", P("name"), "%plant%"),
          lambda g: g["name"].str.contains("plant", regex=False)),
        E("example12", "districts", "name_ru LIKE 'Ак%'", op("like", P("name_ru"), "Ак%"),
          lambda g: g["name_ru"].str.startswith("Ак")),
        E("example13", "project_sites", "name NOT LIKE '%synthetic%'",
          op("not", op("like", P("name"), "%synthetic%")),
          lambda g: ~g["name"].str.contains("synthetic", regex=False)),
        E("example14", "project_sites", "synthetic = true", op("=", P("synthetic"), True),
          lambda g: g["synthetic"]),
        E("example15", "project_sites", "jobs>100 AND synthetic=false",
          op("and", op(">", P("jobs"), 100), op("=", P("synthetic"), False)),
          lambda g: known(g["jobs"]) & (g["jobs"].fillna(0) > 100) & ~g["synthetic"]),
        E("example16", "project_sites", "synthetic=true AND (jobs>100 OR sector LIKE "
          "'energy%' OR sector LIKE '%mining')",
          op("and", op("=", P("synthetic"), True),
             op("or", op(">", P("jobs"), 100), op("like", P("sector"), "energy%"),
                op("like", P("sector"), "%mining"))),
          lambda g: g["synthetic"] & ((known(g["jobs"]) & (g["jobs"].fillna(0) > 100))
                                      | g["sector"].str.startswith("energy")
                                      | g["sector"].str.endswith("mining"))),
        E("example17", "project_sites", "(jobs>50 AND sector='metallurgy') OR synthetic=false",
          op("or", op("and", op(">", P("jobs"), 50), op("=", P("sector"), "metallurgy")),
             op("=", P("synthetic"), False)),
          lambda g: ((known(g["jobs"]) & (g["jobs"].fillna(0) > 50)
                      & (g["sector"] == "metallurgy")) | ~g["synthetic"])),
        E("example18", "project_sites", "NOT (jobs<100) OR synthetic=false",
          op("or", op("not", op("<", P("jobs"), 100)), op("=", P("synthetic"), False)),
          lambda g: (known(g["jobs"]) & (g["jobs"].fillna(0) >= 100)) | ~g["synthetic"]),
        E("example19", "project_sites", "(name LIKE 'agro%' OR name LIKE 'Agro%') AND jobs<10",
          op("and", op("or", op("like", P("name"), "agro%"), op("like", P("name"), "Agro%")),
             op("<", P("jobs"), 10)),
          lambda g: (g["name"].str.startswith(("agro", "Agro")) & known(g["jobs"])
                     & (g["jobs"].fillna(99) < 10))),
        E("example23", "parcels", f"S_WITHIN(geometry,BBOX({','.join(map(str, bx))}))",
          op("s_within", P("geometry"), {"bbox": list(bx)}),
          lambda g: sindex(g, bbox_poly, "within")),
        E("example24", "districts", f"S_INTERSECTS(geometry,{_wkt(tri)})",
          op("s_intersects", P("geometry"), _gj(tri)), lambda g: sindex(g, tri, "intersects")),
        E("example25", "settlements", f"population>1000 AND S_WITHIN(geometry,BBOX"
          f"({','.join(map(str, bx))}))",
          op("and", op(">", P("population"), 1000),
             op("s_within", P("geometry"), {"bbox": list(bx)})),
          lambda g: (g["population"] > 1000) & sindex(g, bbox_poly, "within")),
        E("example26", "settlements", "CASEI(name) IN (CASEI('KOKSHETAU'),CASEI('zhaksy'))",
          op("in", op("casei", P("name")), [op("casei", "KOKSHETAU"), op("casei", "zhaksy")]),
          lambda g: g["name"].isin(["Kokshetau", "Zhaksy"])),
        E("example28", "project_sites", "CASEI(name) LIKE CASEI('%PLANT%')",
          op("like", op("casei", P("name")), op("casei", "%PLANT%")),
          lambda g: g["name"].str.lower().str.contains("plant", regex=False)),
        E("example29", "project_sites", "\"id\" = 'impl-001'", op("=", P("id"), "impl-001"),
          lambda g: g["id"] == "impl-001"),
        E("example30", "project_sites", "\"id\" <> 'impl-001'", op("<>", P("id"), "impl-001"),
          lambda g: g["id"] != "impl-001"),
        E("example31", "project_sites", "\"jobs\" < 10", op("<", P("jobs"), 10),
          lambda g: known(g["jobs"]) & (g["jobs"].fillna(99) < 10)),
        E("example32", "project_sites", "\"jobs\" > 10", op(">", P("jobs"), 10),
          lambda g: known(g["jobs"]) & (g["jobs"].fillna(0) > 10)),
        E("example33", "project_sites", "\"jobs\" <= 10", op("<=", P("jobs"), 10),
          lambda g: known(g["jobs"]) & (g["jobs"].fillna(99) <= 10)),
        E("example34", "project_sites", "\"jobs\" >= 10", op(">=", P("jobs"), 10),
          lambda g: known(g["jobs"]) & (g["jobs"].fillna(0) >= 10)),
        E("example35", "settlements", "\"name\" LIKE 'Sh%'", op("like", P("name"), "Sh%"),
          lambda g: g["name"].str.startswith("Sh")),
        E("example36", "settlements", "NOT \"name\" LIKE 'Sh%'",
          op("not", op("like", P("name"), "Sh%")), lambda g: ~g["name"].str.startswith("Sh")),
        E("example37", "project_sites", "\"jobs\" BETWEEN 10 AND 20",
          op("between", P("jobs"), 10, 20),
          lambda g: known(g["jobs"]) & g["jobs"].fillna(0).between(10, 20)),
        E("example38", "project_sites", "NOT \"jobs\" BETWEEN 10 AND 20",
          op("not", op("between", P("jobs"), 10, 20)),
          lambda g: known(g["jobs"]) & ~g["jobs"].fillna(0).between(10, 20)),
        E("example39", "project_sites", "\"jobs\" IN (3.0, 8.0, 60.0)",
          op("in", P("jobs"), [3.0, 8.0, 60.0]),
          lambda g: known(g["jobs"]) & g["jobs"].fillna(0).isin([3, 8, 60])),
        E("example40", "project_sites", "NOT \"sector\" IN ('agriculture', 'tourism', 'energy')",
          op("not", op("in", P("sector"), ["agriculture", "tourism", "energy"])),
          lambda g: ~g["sector"].isin(["agriculture", "tourism", "energy"])),
        E("example41", "project_sites", "\"hazard_class\" IS NULL",
          op("isNull", P("hazard_class")), lambda g: ~known(g["hazard_class"])),
        E("example42", "project_sites", "NOT \"hazard_class\" IS NULL",
          op("not", op("isNull", P("hazard_class"))), lambda g: known(g["hazard_class"])),
        E("example43", "project_sites", "(NOT \"name\" LIKE 'Agro%' AND \"jobs\" > 10)",
          op("and", op("not", op("like", P("name"), "Agro%")), op(">", P("jobs"), 10)),
          lambda g: (~g["name"].str.startswith("Agro") & known(g["jobs"])
                     & (g["jobs"].fillna(0) > 10))),
        E("example44", "project_sites", "(\"jobs\" IS NULL OR \"jobs\" BETWEEN 10 AND 20)",
          op("or", op("isNull", P("jobs")), op("between", P("jobs"), 10, 20)),
          lambda g: ~known(g["jobs"]) | g["jobs"].fillna(0).between(10, 20)),
        E("example45", "districts", f"S_INTERSECTS(\"geometry\", BBOX({bx[0]}, {bx[1]}, "
          f"-99999.0, {bx[2]}, {bx[3]}, 100000.0))",
          op("s_intersects", P("geometry"), {"bbox": [bx[0], bx[1], -99999, bx[2], bx[3],
                                                      100000]}),
          lambda g: sindex(g, bbox_poly, "intersects")),
        E("example46", "context", f"S_EQUALS({_wkt(astana)}, \"geometry\")",
          op("s_equals", _gj(astana), P("geometry")),
          lambda g: sindex(g, astana, "geom_equals")),
        E("example47", "districts", f"S_DISJOINT(\"geometry\", {_wkt(two_boxes)})",
          op("s_disjoint", P("geometry"), _gj(two_boxes)),
          lambda g: sindex(g, two_boxes, "disjoint")),
        E("example48", "settlements", f"S_TOUCHES(\"geometry\", {_wkt(two_roads)})",
          op("s_touches", P("geometry"), _gj(two_roads)),
          lambda g: sindex(g, two_roads, "touches")),
        E("example49", "districts", "S_WITHIN(POLYGON Z ((" + ", ".join(
            f"{x} {y} 100.5" for x, y in small_tri.exterior.coords) + ")), \"geometry\")",
          op("s_within", {"type": "Polygon", "coordinates": [
              [[x, y, 100.5] for x, y in small_tri.exterior.coords]]}, P("geometry")),
          lambda g: sindex(g, small_tri, "contains")),
        E("example50", "districts", f"S_OVERLAPS(\"geometry\", BBOX({', '.join(map(str, bx))}))",
          op("s_overlaps", P("geometry"), {"bbox": list(bx)}),
          lambda g: sindex(g, bbox_poly, "overlaps")),
        E("example51", "districts", f"S_CROSSES(\"geometry\", {_wkt(line)})",
          op("s_crosses", P("geometry"), _gj(line)), lambda g: sindex(g, line, "crosses")),
        E("example52", "districts", f"S_CONTAINS(\"geometry\", POINT ({inside.x} {inside.y}))",
          op("s_contains", P("geometry"), _gj(inside)), lambda g: sindex(g, inside, "contains")),
        E("example71", "settlements", "CASEI(\"name\") = CASEI('shchuchinsk')",
          op("=", op("casei", P("name")), op("casei", "shchuchinsk")),
          lambda g: g["name"] == "Shchuchinsk"),
        E("example83", "settlements", f"S_EQUALS(MULTIPOINT (({town.x} {town.y})), "
          "\"geometry\")", op("s_equals", {"type": "MultiPoint", "coordinates": [
              [town.x, town.y]]}, P("geometry")),
          lambda g: sindex(g, town, "geom_equals")),
        E("example86", "districts", "\"kind\" LIKE CASEI('CITY%')",
          op("like", P("kind"), op("casei", "CITY%")), lambda g: g["kind"] == "city"),
        # -- property-property (the conformance class; not an example of the standard) ---
        E("property-property", "project_sites", "start_year = end_year",
          op("=", P("start_year"), P("end_year")),
          lambda g: g["start_year"] == g["end_year"]),
        E("property-property-null", "project_sites", "jobs <> end_year",
          op("<>", P("jobs"), P("end_year")),
          lambda g: known(g["jobs"])),
        E("property-property-text", "districts", "name_kk > name_ru",
          op(">", P("name_kk"), P("name_ru")),
          lambda g: np.array([a > b for a, b in zip(g["name_kk"], g["name_ru"],
                                                    strict=True)])),
        E("property-property-spatial", "settlements", "S_INTERSECTS(geometry, geometry)",
          op("s_intersects", P("geometry"), P("geometry")), lambda g: np.ones(len(g), bool)),
    ]
    return out


#: (standard example, collection, CQL2 text, words the 400's detail must hold)
REFUSED = [
    ("clause6_01", "project_sites", "avg(jobs) < 4", "unknown function"),
    ("clause6_02c", "project_sites", "investment_kzt-150.0 > 0", "arithmetic"),
    ("clause6_02d", "project_sites", "start_year >= date('1970-01-01')", "DATE"),
    ("clause7_05", "settlements", "ACCENTI(name) = ACCENTI('Egindikol')", "ACCENTI"),
    ("clause7_12", "project_sites", "T_INTERSECTS(start_year, INTERVAL('1969-07-16T05:32:00Z',"
     " '1969-07-24T16:50:35Z'))", "temporal"),
    ("clause7_15", "project_sites", "A_CONTAINS(sector, ('energy','logistics'))", "array"),
    ("clause7_18", "rivers", "S_WITHIN(geometry,Buffer(geometry,10,'m'))", "unknown function"),
    ("clause7_19", "protected_areas", "area_ha > (official_area_ha-1)", "arithmetic"),
    ("example20", "project_sites", "T_BEFORE(start_year, DATE('2015-01-01'))", "temporal"),
    ("example54", "project_sites", "T_BEFORE(start_year, TIMESTAMP('2012-08-10T05:30:00Z'))",
     "temporal"),
    ("example68", "districts", "Foo(\"geometry\") = TRUE", "unknown function"),
    ("example78", "project_sites", "1 = (jobs div 2)", "arithmetic"),
    ("example81", "project_sites", "A_EQUALS(('a', TRUE, 1.0, 8), sector)", "array"),
    ("example84", "settlements", "S_EQUALS(GEOMETRYCOLLECTION (POINT (70 52)), geometry)",
     "GeometryCollection"),
]


def selected_ids(g, ex: Example) -> list:
    mask = np.asarray(pd.Series(ex.ref(g)).fillna(False), dtype=bool)
    return sorted(g["id"].to_numpy()[mask].tolist())
