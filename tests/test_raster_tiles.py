"""layers/raster_tiles: PNG tiles match rasterio's own read of the same area, through the
documented colormap, with nodata transparent."""

from __future__ import annotations

import io

import numpy as np
import pytest

from tests.common import make_small_twin
from tests.test_raster import build_small, write_tif
from twin.raster import OutsideRaster, add_raster, get_raster

rasterio = pytest.importorskip("rasterio")
mercantile = pytest.importorskip("mercantile")
pytestmark = pytest.mark.filterwarnings(
    "ignore:Use `@` matmul instead of `\\*` mul operator:PendingDeprecationWarning")

from layers.raster_tiles import (  # noqa: E402  (after the importorskip guards)
    TILE_SIZE,
    RasterTileSource,
    colorize,
    colormap_lut,
    tilejson,
)

TILE = mercantile.tile(69.87, 51.94, 12)  # over the small twin's Westtown


def decode(png: bytes) -> np.ndarray:
    from PIL import Image

    im = Image.open(io.BytesIO(png))
    assert im.format == "PNG" and im.size == (TILE_SIZE, TILE_SIZE)
    return np.asarray(im.convert("RGBA"))


@pytest.fixture(scope="module")
def aligned(tmp_path_factory):
    """A user raster in EPSG:3857 whose pixels are exactly the z12 tiles' pixels.

    It covers the 2x2 tiles from TILE, holds distinct values and a nodata block, so a tile
    read can be compared with a plain windowed read cell for cell.
    """
    from affine import Affine

    d = tmp_path_factory.mktemp("aligned")
    tw = make_small_twin()
    tw.save(d / "small.gpkg")
    b = mercantile.xy_bounds(TILE)
    px = (b.right - b.left) / TILE_SIZE
    rng = np.random.default_rng(7)
    data = rng.uniform(0, 100, (2 * TILE_SIZE, 2 * TILE_SIZE)).astype("float32")
    data[40:90, 100:220] = -9999  # a nodata block inside TILE
    src = write_tif(d / "aligned.tif", data, crs="EPSG:3857", nodata=-9999,
                    transform=Affine(px, 0, b.left, 0, -px, b.top))
    info = add_raster(tw, "aligned", src, colormap="viridis", vmin=10, vmax=90)
    return tw, info, src


@pytest.fixture(scope="module")
def surfaces(tmp_path_factory):
    return build_small(tmp_path_factory.mktemp("surfaces"))


def windowed_read(info, tile) -> np.ma.MaskedArray:
    from rasterio.windows import from_bounds

    b = mercantile.xy_bounds(tile)
    with rasterio.open(info.path) as src:
        win = from_bounds(b.left, b.bottom, b.right, b.top, src.transform)
        return src.read(1, window=win.round_offsets().round_lengths(), masked=True)


def test_tile_values_equal_a_windowed_read(aligned):
    _, info, _ = aligned
    got = RasterTileSource().data(info, TILE.z, TILE.x, TILE.y)
    want = windowed_read(info, TILE)
    assert got.shape == (1, TILE_SIZE, TILE_SIZE) and want.shape == (TILE_SIZE, TILE_SIZE)
    np.testing.assert_array_equal(np.ma.getmaskarray(got[0]), np.ma.getmaskarray(want))
    assert np.ma.getmaskarray(want).sum() == 50 * 120
    np.testing.assert_array_equal(got[0].compressed(), want.compressed())


def test_png_is_the_windowed_read_through_the_colormap(aligned):
    from rio_tiler.colormap import cmap

    _, info, _ = aligned
    rgba = decode(RasterTileSource().png(info, TILE.z, TILE.x, TILE.y))
    want = windowed_read(info, TILE)
    mask = np.ma.getmaskarray(want)
    # The contract, written out independently of layers.raster_tiles.colorize:
    idx = np.floor((np.clip(want.data.astype("float64"), 10, 90) - 10) / 80 * 255)
    table = cmap.get("viridis")
    expected = np.array([table[int(i)] for i in idx.ravel()], dtype="uint8").reshape(
        TILE_SIZE, TILE_SIZE, 4)
    assert (rgba[..., 3][mask] == 0).all(), "nodata must be fully transparent"
    assert (rgba[..., 3][~mask] == 255).all()
    np.testing.assert_array_equal(rgba[~mask][:, :3], expected[~mask][:, :3])


def test_tiles_at_the_raster_edge(aligned):
    _, info, _ = aligned
    src = RasterTileSource()
    corner = mercantile.Tile(TILE.x + 1, TILE.y + 1, TILE.z)  # the raster's far corner
    assert decode(src.png(info, corner.z, corner.x, corner.y))[..., 3].min() == 255
    with pytest.raises(OutsideRaster, match="outside raster 'aligned'"):
        src.png(info, TILE.z, TILE.x - 2, TILE.y)


def test_the_tile_copy_is_the_surface_resampled_once(surfaces):
    # NAME.web.tif holds the analysis grid's values, nearest-neighbour, on WebMercatorQuad.
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    info = get_raster(surfaces, "suitability")
    with rasterio.open(info.tiles_path) as web, rasterio.open(info.path) as src:
        assert web.crs.to_epsg() == 3857
        assert web.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG" and web.overviews(1)
        assert web.tags()["method"] == info.method  # the metadata travels with the copy
        with WarpedVRT(src, crs=web.crs, transform=web.transform, width=web.width,
                       height=web.height, resampling=Resampling.nearest) as vrt:
            want = vrt.read(1, masked=True)
        got = web.read(1, masked=True)
    assert (np.ma.getmaskarray(got) == np.ma.getmaskarray(want)).mean() > 0.999
    both = ~np.ma.getmaskarray(got) & ~np.ma.getmaskarray(want)
    assert np.isclose(got.data[both], want.data[both]).mean() > 0.999


@pytest.mark.parametrize("z", [10, 11, 12])  # the copy has two overviews
def test_tile_of_a_derived_surface_is_a_window_of_its_tile_copy(surfaces, z):
    # At the copy's own zoom (z12 for 25 m cells) a tile is a window of it; each zoom below
    # is a window of the next overview. Cell for cell, mask included.
    import math

    from rasterio.windows import from_bounds

    info = get_raster(surfaces, "suitability")
    tile = mercantile.tile(69.87, 51.94, z)
    got = RasterTileSource().data(info, tile.z, tile.x, tile.y)[0]
    b = mercantile.xy_bounds(tile)
    with rasterio.open(info.tiles_path) as web:
        native = round(math.log2(2 * 20037508.342789244 / (web.res[0] * TILE_SIZE)))
        level = native - z - 1  # -1: full resolution
    kw = {} if level < 0 else {"overview_level": level}
    with rasterio.open(info.tiles_path, **kw) as web:
        win = from_bounds(b.left, b.bottom, b.right, b.top, web.transform)
        want = web.read(1, window=win.round_offsets().round_lengths(), masked=True,
                        boundless=True)
    assert want.shape == (TILE_SIZE, TILE_SIZE)
    np.testing.assert_array_equal(np.ma.getmaskarray(got), np.ma.getmaskarray(want))
    assert (~np.ma.getmaskarray(got)).sum() > 1_000
    np.testing.assert_array_equal(got.compressed(), want.compressed())


def test_a_lonlat_raster_without_nodata_is_transparent_around_it(tmp_path):
    # A user's 3-band EPSG:4326 GeoTIFF with no nodata value: the tile copy gets an alpha
    # band, so the tile is transparent beyond the raster and opaque on it; band 1 is drawn.
    from affine import Affine

    tw = make_small_twin()
    tw.save(tmp_path / "t.gpkg")
    data = np.stack([np.full((100, 100), v, "uint8") for v in (50, 150, 250)])
    src = write_tif(tmp_path / "ll.tif", data, crs="EPSG:4326",
                    transform=Affine(0.001, 0, 69.86, 0, -0.001, 51.95))
    info = add_raster(tw, "lonlat", src, vmin=0, vmax=100, colormap="greys")
    tile = mercantile.tile(69.86, 51.95, 13)  # holds the raster's north-west corner
    rs = RasterTileSource()
    rgba = decode(rs.png(info, tile.z, tile.x, tile.y))
    alpha = rgba[..., 3]
    assert (alpha == 0).any() and (alpha == 255).any() and set(np.unique(alpha)) == {0, 255}
    lut = colormap_lut("greys")
    assert (rgba[alpha == 255] == lut[int(np.floor(50 / 100 * 255))]).all()
    assert rs.data(info, tile.z, tile.x, tile.y).shape[0] == 3  # alpha is not a band


def test_nodata_outside_the_region_is_transparent(surfaces):
    info = get_raster(surfaces, "population_density")
    z8 = mercantile.tile(69.87, 51.94, 8)  # the 20 km region fills a corner of this tile
    src = RasterTileSource()
    rgba = decode(src.png(info, z8.z, z8.x, z8.y))
    data = src.data(info, z8.z, z8.x, z8.y)[0]
    alpha = rgba[..., 3]
    assert 0 < (alpha == 255).mean() < 0.5
    np.testing.assert_array_equal(alpha == 0, np.ma.getmaskarray(data))


def test_colorize_follows_the_contract():
    class Info:
        colormap, vmin, vmax = "rdylgn", 0.0, 1.0

    values = np.array([[-5.0, 0.0, 0.5, 1.0, 7.0, np.nan]])
    mask = np.array([[False, False, False, False, False, True]])
    out = colorize(values, mask, Info)
    lut = colormap_lut("rdylgn")
    assert (out[0, 0] == lut[0]).all() and (out[0, 1] == lut[0]).all()
    assert (out[0, 2] == lut[127]).all() and (out[0, 3] == lut[255]).all()
    assert (out[0, 4] == lut[255]).all() and out[0, 5, 3] == 0


def test_outside_and_impossible_tiles_raise_outside_raster(aligned):
    _, info, _ = aligned
    src = RasterTileSource()
    for z, x, y in [(12, 0, 0), (25, 0, 0), (3, 8, 0), (3, 0, -1)]:
        with pytest.raises(OutsideRaster) as e:
            src.png(info, z, x, y)
        assert isinstance(e.value, LookupError)


def test_cache_is_keyed_by_the_file_version(aligned, tmp_path):
    tw, _, tif = aligned
    info = add_raster(tw, "probe", tif, vmin=10, vmax=90)
    src = RasterTileSource()
    first = src.png(info, TILE.z, TILE.x, TILE.y)
    assert src.png(info, TILE.z, TILE.x, TILE.y) is first  # served from the cache
    with rasterio.open(tif) as a:
        transform = a.transform
    zeros = write_tif(tmp_path / "zeros.tif", np.zeros((TILE_SIZE, TILE_SIZE), "float32"),
                      crs="EPSG:3857", transform=transform)
    new = add_raster(tw, "probe", zeros, replace=True, vmin=10, vmax=90)
    assert new.version != info.version
    assert src.png(new, TILE.z, TILE.x, TILE.y) != first
    src.close()


def test_tilejson_document(surfaces):
    info = get_raster(surfaces, "population_density")
    src = RasterTileSource()
    doc = tilejson(info, "http://h/raster/population_density/{z}/{x}/{y}.png", src.zooms(info))
    assert doc["tilejson"] == "3.0.0" and doc["scheme"] == "xyz"
    assert doc["tiles"] == ["http://h/raster/population_density/{z}/{x}/{y}.png"]
    assert 0 == doc["minzoom"] < doc["maxzoom"] <= 24
    w, s, e, n = doc["bounds"]
    assert w < doc["center"][0] < e and s < doc["center"][1] < n
    assert doc["colormap"] == {"name": "ylorrd", "vmin": 0.0, "vmax": info.vmax,
                               "units": "people/km2", "scale": "linear",
                               "nodata": "transparent"}
    assert "Gaussian kernel" in doc["description"] and doc["derived"] is True
