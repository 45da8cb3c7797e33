"""Vector tiles: tile math against mercantile, the NumPy MVT encoder against independent
decoders (mapbox_vector_tile and GDAL's MVT driver), the tile cache and the over-dense policy.
"""

from __future__ import annotations

import math

import geopandas as gpd
import mapbox_vector_tile
import mercantile
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from layers.mvt import encode_layer, encode_values, varint_bytes
from layers.tile_math import (
    lonlat_to_mercator,
    tile_bounds,
    tile_bounds_lonlat,
    tiles_for_bounds,
    to_mercator,
    valid_tile,
)
from layers.vector_tiles import EXTENT, TILE_LAYERS, TileLayer, TileSource, tile_layer
from tests.common import make_small_twin

# -- a synthetic many-parcel twin ----------------------------------------------------------


def grid_twin(nx: int = 60, ny: int = 40, *, west=69.2, south=51.4, cell=0.01):
    """The small twin with its parcels replaced by an ``nx`` x ``ny`` grid of lon/lat
    rectangles (with gaps), holes in every 7th, and varied properties."""
    tw = make_small_twin()
    geoms, ids = [], []
    for j in range(ny):
        for i in range(nx):
            x0, y0 = west + i * cell, south + j * cell
            g = shapely.box(x0, y0, x0 + cell * 0.8, y0 + cell * 0.8)
            k = j * nx + i
            if k % 7 == 0:
                g = g.difference(shapely.box(x0 + cell * 0.3, y0 + cell * 0.3,
                                             x0 + cell * 0.5, y0 + cell * 0.5))
            geoms.append(g)
            ids.append(k + 1)
    n = len(ids)
    uses = np.array(["residential", "agricultural", "industrial", "commercial"])
    parcels = gpd.GeoDataFrame(
        {"id": np.array(ids, dtype=np.int64),
         "district_id": np.where(np.arange(n) % 2 == 0, "west", "east"),
         "land_use": uses[np.arange(n) % 4],
         "area_ha": np.round(np.linspace(0.5, 90.0, n), 3),
         "source": ["tests"] * n, "synthetic": [True] * n},
        geometry=geoms, crs=4326,
    )
    tw.add_layer("parcels", parcels)
    return tw


@pytest.fixture(scope="module")
def gtwin():
    return grid_twin()


# -- tile math -----------------------------------------------------------------------------


@given(z=st.integers(0, 20), fx=st.floats(0, 1, exclude_max=True),
       fy=st.floats(0, 1, exclude_max=True))
@settings(max_examples=200, deadline=None)
def test_tile_bounds_match_mercantile(z, fx, fy):
    x, y = int(fx * (1 << z)), int(fy * (1 << z))
    ours = tile_bounds(z, x, y)
    ref = mercantile.xy_bounds(x, y, z)
    assert np.allclose(ours, (ref.left, ref.bottom, ref.right, ref.top), atol=1e-6)
    ll = tile_bounds_lonlat(z, x, y)
    refll = mercantile.bounds(x, y, z)
    assert np.allclose(ll, (refll.west, refll.south, refll.east, refll.north), atol=1e-9)


@given(lon=st.floats(-179.9, 179.9), lat=st.floats(-85, 85), z=st.integers(0, 18))
@settings(max_examples=200, deadline=None)
def test_projection_and_tile_lookup_match_mercantile(lon, lat, z):
    x, y = lonlat_to_mercator(np.array([lon]), np.array([lat]))
    rx, ry = mercantile.xy(lon, lat)
    assert math.isclose(x[0], rx, abs_tol=1e-6) and math.isclose(y[0], ry, abs_tol=1e-6)
    t = mercantile.tile(lon, lat, z)
    x0, y0, x1, y1 = tiles_for_bounds((lon, lat, lon, lat), z)
    # On a tile edge the two may pick neighbours; inside, they agree.
    assert abs(x0 - t.x) <= 1 and abs(y0 - t.y) <= 1 and (x0, y0) == (x1, y1)


def test_valid_tile_rejects_out_of_range_without_overflow():
    assert valid_tile(0, 0, 0) and valid_tile(24, 2**24 - 1, 0)
    assert not valid_tile(-1, 0, 0) and not valid_tile(25, 0, 0)
    assert not valid_tile(3, 8, 0) and not valid_tile(3, 0, -1)
    assert not valid_tile(10**18, 0, 0)


def test_to_mercator_matches_pyproj():
    from pyproj import Transformer

    pts = shapely.points([[69.0, 51.0], [73.5, 54.2], [-120, -60]])
    ours = shapely.get_coordinates(to_mercator(pts))
    tr = Transformer.from_crs(4326, 3857, always_xy=True)
    ref = np.column_stack(tr.transform([69.0, 73.5, -120], [51.0, 54.2, -60]))
    assert np.allclose(ours, ref, atol=1e-3)


# -- the encoder ---------------------------------------------------------------------------


@given(st.lists(st.integers(0, 2**63), min_size=1, max_size=50))
def test_varints_round_trip(values):
    from google.protobuf.internal.decoder import _DecodeVarint

    buf = varint_bytes(np.array(values, dtype=np.uint64)).tobytes()
    pos, out = 0, []
    while pos < len(buf):
        v, pos = _DecodeVarint(buf, pos)
        out.append(v)
    assert out == values


def _decode(data: bytes) -> dict:
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})


def test_encoder_every_geometry_type_and_value_kind():
    g = np.array([
        shapely.Point(3, 4),
        shapely.MultiPoint([(1, 1), (5, 5)]),
        shapely.LineString([(0, 0), (10, 10), (10, 10), (20, 0)]),
        shapely.MultiLineString([[(0, 0), (5, 0)], [(9, 9), (9, 20)]]),
        shapely.box(10, 10, 100, 100),
        shapely.Polygon([(0, 0), (50, 0), (50, 50), (0, 50)],
                        [[(10, 10), (20, 10), (20, 20), (10, 20)]]),
        shapely.MultiPolygon([shapely.box(0, 0, 5, 5), shapely.box(200, 200, 300, 300)]),
        shapely.box(0, 0, 0.2, 0.2),  # collapses to nothing: dropped
        shapely.Polygon(),  # empty: dropped
    ])
    n = len(g)
    cols = [encode_values("i", np.arange(n) - 3),
            encode_values("s", ["a", "b", "a", None, "ä", "c", "d", "e", "f"]),
            encode_values("f", [1.5, 2.5, np.nan, 0.0, 1e300, -2.0, 3.0, 4.0, 5.0]),
            encode_values("b", np.array([True, False] * 4 + [True]))]
    data = encode_layer("L", g, rows=np.arange(n), columns=cols, ids=np.arange(n) + 10)
    feats = {f["id"]: f for f in _decode(data)["L"]["features"]}
    assert sorted(feats) == [10, 11, 12, 13, 14, 15, 16]
    assert feats[10]["geometry"] == {"type": "Point", "coordinates": [3, 4]}
    assert feats[12]["geometry"]["coordinates"] == [[0, 0], [10, 10], [20, 0]]
    assert feats[13]["geometry"]["type"] == "MultiLineString"
    assert feats[16]["geometry"]["type"] == "MultiPolygon"
    assert feats[12]["properties"] == {"i": -1, "s": "a", "b": True}  # NaN is left out
    assert "s" not in feats[13]["properties"] and feats[14]["properties"]["f"] == 1e300
    assert feats[14]["properties"]["s"] == "ä" and feats[11]["properties"]["b"] is False
    hole = shapely.geometry.shape(feats[15]["geometry"])
    assert hole.is_valid and hole.area == 2500 - 100
    # Winding (MVT 2.1): exteriors have a positive surveyor's area in tile coordinates,
    # which shapely's y-up is_ccw reads as counter-clockwise; holes the opposite.
    rings = feats[15]["geometry"]["coordinates"]
    assert shapely.LinearRing(rings[0]).is_ccw and not shapely.LinearRing(rings[1]).is_ccw


@given(st.lists(st.tuples(st.integers(-64, 4160), st.integers(-64, 4160),
                          st.integers(1, 500), st.integers(1, 500)), min_size=1, max_size=30),
       st.lists(st.tuples(st.integers(-64, 4160), st.integers(-64, 4160)), min_size=1,
                max_size=30))
@settings(max_examples=60, deadline=None)
def test_encoder_round_trips_integer_geometries(boxes, points):
    """Integer boxes and points survive encode → independent decode exactly."""
    polys = [shapely.box(x, y, x + w, y + h) for x, y, w, h in boxes]
    pts = [shapely.Point(x, y) for x, y in points]
    g = np.array(polys + pts, dtype=object)
    ids = np.arange(len(g))
    data = encode_layer("L", g, rows=ids, ids=ids, columns=[encode_values("k", ids * 3)])
    feats = {f["id"]: f for f in _decode(data)["L"]["features"]}
    assert sorted(feats) == ids.tolist()
    for i, src in enumerate(g):
        out = shapely.geometry.shape(feats[i]["geometry"])
        assert out.equals(src), (src, out)
        assert feats[i]["properties"] == {"k": 3 * i}


def test_encoder_empty_layer_is_empty_bytes():
    assert encode_layer("L", np.array([shapely.Point()]), rows=np.array([0]), columns=[]) == b""


def test_encoder_agrees_with_mapbox_vector_tile():
    rng = np.random.default_rng(1)
    xy = rng.integers(0, 4000, size=(300, 2))
    g = shapely.buffer(shapely.points(xy), rng.uniform(5, 80, 300), quad_segs=3)
    ours = _decode(encode_layer("L", g, rows=np.arange(300), ids=np.arange(300),
                                columns=[encode_values("k", np.arange(300) % 5)]))
    ref = _decode(mapbox_vector_tile.encode(
        [{"name": "L", "features": [{"geometry": gg.wkt, "properties": {"k": int(i % 5)},
                                     "id": i} for i, gg in enumerate(g)]}],
        default_options={"y_coord_down": True, "quantize_bounds": None}))
    a = {f["id"]: f for f in ours["L"]["features"]}
    b = {f["id"]: f for f in ref["L"]["features"]}
    assert a.keys() == b.keys()
    for i in a:
        ga, gb = shapely.geometry.shape(a[i]["geometry"]), shapely.geometry.shape(b[i]["geometry"])
        assert shapely.hausdorff_distance(ga, gb) <= 1.5
        assert a[i]["properties"] == b[i]["properties"]


# -- tiles equal the source ----------------------------------------------------------------


def _sample_tiles(tw, name, zooms):
    b = tw.layer(name).total_bounds
    out = []
    for z in zooms:
        x0, y0, x1, y1 = tiles_for_bounds(tuple(b), z)
        xs = sorted({x0, (x0 + x1) // 2, x1})
        ys = sorted({y0, (y0 + y1) // 2, y1})
        out += [(z, x, y) for x in xs for y in ys]
    return out


def _expected(tw, name, z, x, y):
    """Source features intersecting the buffered tile, in tile units (y down)."""
    tl = tile_layer(name)
    minx, miny, maxx, maxy = tile_bounds(z, x, y)
    size = maxx - minx
    pad = size * tl.buffer / EXTENT
    box = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    gdf = tw.layer(name)
    merc = to_mercator(np.asarray(gdf.geometry.values))
    hit = shapely.intersects(merc, box)
    clipped = shapely.clip_by_rect(merc[hit], *box.bounds)
    s = EXTENT / size
    tile_geoms = shapely.transform(
        clipped, lambda c: np.column_stack([(c[:, 0] - minx) * s, (maxy - c[:, 1]) * s]))
    return gdf[hit], tile_geoms


@pytest.mark.parametrize("name", ["parcels", "districts", "settlements"])
def test_decoded_tiles_equal_the_source(gtwin, name):
    src = TileSource(gtwin)
    tl = tile_layer(name)
    zooms = [z for z in (tl.minzoom + 3, 10, 13, tl.maxzoom) if tl.minzoom <= z <= tl.maxzoom]
    checked = 0
    for z, x, y in _sample_tiles(gtwin, name, zooms):
        data = src.tile(name, z, x, y).data
        rows, geoms = _expected(gtwin, name, z, x, y)
        # Features that only touch the buffered tile or shrink below a unit may vanish.
        area = shapely.area(geoms)
        must = set(rows["id"][np.asarray((area >= 2) | (shapely.get_dimensions(geoms) < 2))])
        got = {f["properties"]["id"]: f for f in _decode(data).get(name, {"features": []})
               ["features"]} if data else {}
        assert must <= set(got) <= set(rows["id"]), (z, x, y)
        by_id = dict(zip(rows["id"], geoms, strict=True))
        props = [c for c in tl.properties if c in rows.columns]
        recs = rows.set_index("id", drop=False)
        for fid, f in got.items():
            want = {c: recs.at[fid, c] for c in props}
            want = {k: (v.item() if hasattr(v, "item") else v) for k, v in want.items()}
            assert f["properties"] == want
            if name == "parcels":
                assert f["id"] == fid
            g = shapely.geometry.shape(f["geometry"])
            assert shapely.hausdorff_distance(g, by_id[fid]) <= 1.0 + tl.tolerance(z), (
                name, z, x, y, fid)
            checked += 1
    assert checked > 0


@pytest.mark.gdal
def test_gdal_mvt_driver_reads_our_tiles(gtwin, tmp_path):
    import pyogrio

    if "MVT" not in pyogrio.list_drivers():
        pytest.skip("this GDAL build has no MVT driver")
    src = TileSource(gtwin)
    z, x, y = _sample_tiles(gtwin, "parcels", [12])[4]
    path = tmp_path / f"{z}" / f"{x}" / f"{y}.pbf"
    path.parent.mkdir(parents=True)
    path.write_bytes(src.tile("parcels", z, x, y).data)
    got = pyogrio.read_dataframe(path, layer="parcels", Z=str(z), X=str(x), Y=str(y),
                                 CLIP="NO")
    rows, geoms = _expected(gtwin, "parcels", z, x, y)
    assert set(got["id"]) == set(rows["id"])
    assert set(got["mvt_id"]) == set(rows["id"])
    merged = got.merge(pd.DataFrame(rows.drop(columns="geometry")), on="id",
                       suffixes=("", "_src"))
    for c in ("district_id", "land_use", "area_ha"):
        assert (merged[c] == merged[f"{c}_src"]).all()
    unit = (tile_bounds(z, x, y)[2] - tile_bounds(z, x, y)[0]) / EXTENT
    src_merc = dict(zip(rows["id"], to_mercator(np.asarray(rows.geometry.values)), strict=True))
    minx, miny, maxx, maxy = tile_bounds(z, x, y)
    pad = unit * tile_layer("parcels").buffer
    for fid, g in zip(got["id"], got.geometry, strict=True):
        ref = shapely.clip_by_rect(src_merc[fid], minx - pad, miny - pad, maxx + pad, maxy + pad)
        assert shapely.hausdorff_distance(g, ref) <= 1.0 * unit


# -- policy and cache ----------------------------------------------------------------------


def test_over_dense_tiles_keep_the_largest(gtwin):
    import layers.vector_tiles as vt

    src = TileSource(gtwin)
    name = "parcels"
    z = 9
    x0, y0, _, _ = tiles_for_bounds(tuple(gtwin.layer(name).total_bounds), z)
    full = _decode(src.tile(name, z, x0, y0).data)[name]["features"]
    assert len(full) > 100
    old = vt.TILE_LAYERS[name]
    try:
        vt.TILE_LAYERS[name] = TileLayer(**{**old.__dict__, "max_features": 100})
        src2 = TileSource(gtwin)
        kept = _decode(src2.tile(name, z, x0, y0).data)[name]["features"]
    finally:
        vt.TILE_LAYERS[name] = old
    assert len(kept) == 100
    gdf = gtwin.layer(name)
    merc_area = pd.Series(shapely.area(to_mercator(np.asarray(gdf.geometry.values))),
                          index=gdf["id"])
    kept_ids = {f["id"] for f in kept}
    dropped = {f["id"] for f in full} - kept_ids
    assert kept_ids <= {f["id"] for f in full}
    assert merc_area[list(kept_ids)].min() >= merc_area[list(dropped)].max()


def test_cache_is_keyed_by_data_version(gtwin):
    tw = grid_twin(10, 10)
    src = TileSource(tw)
    z = 12
    x, y = tiles_for_bounds(tuple(tw.layer("parcels").total_bounds), z)[:2]
    a = src.tile("parcels", z, x, y)
    assert src.tile("parcels", z, x, y) is a
    p = tw.layer("parcels").copy()
    p["land_use"] = "forest"
    tw.add_layer("parcels", p)
    b = src.tile("parcels", z, x, y)
    assert b is not a and b.etag != a.etag
    assert {f["properties"]["land_use"] for f in _decode(b.data)["parcels"]["features"]} == {
        "forest"}


def test_tile_source_refuses_bad_tiles_without_work(gtwin):
    src = TileSource(gtwin)
    with pytest.raises(ValueError):
        src.tile("parcels", 30, 0, 0)
    with pytest.raises(ValueError):
        src.tile("parcels", 2, 0, 0)  # below the layer's min zoom
    with pytest.raises(KeyError):
        src.tile("nope", 5, 0, 0)
    assert src._prepared == {}


def test_tile_settings_table_is_sane():
    for name, tl in TILE_LAYERS.items():
        assert 0 <= tl.minzoom <= tl.maxzoom <= 24, name
        assert "id" in tl.properties
        assert tl.tolerance(tl.maxzoom) == 0.0
    assert TILE_LAYERS["parcels"].minzoom <= 6  # the map shows parcels at regional zoom
