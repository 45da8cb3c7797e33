"""twin/raster: the derived surfaces, the registry, and vetting users' GeoTIFFs."""

from __future__ import annotations

import numpy as np
import pytest

from tests.common import point_lonlat, square_lonlat
from twin import Twin
from twin.errors import MissingCRS, TwinError
from twin.raster import (
    InvalidPoint,
    OutsideRaster,
    RasterFormatError,
    RasterNotFound,
    RasterTooLarge,
    add_raster,
    build_rasters,
    get_raster,
    list_rasters,
    population_density,
    raster_dir,
    suitability,
    value_at,
)

rasterio = pytest.importorskip("rasterio")
# affine 3 deprecates the `*` operator that rasterio and rio-tiler still use internally; our
# own code uses `@`. Only that message is allowed, nothing else.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Use `@` matmul instead of `\\*` mul operator:PendingDeprecationWarning")

RES = 25.0  # fine enough that the small twin's COGs have overviews (800 x 400 cells)


def build_small(tmp_path, resolution: float = RES) -> Twin:
    """The small twin saved in tmp_path with its surfaces built, as `twin build` does."""
    from tests.common import make_small_twin

    tw = make_small_twin()
    path = tmp_path / "small.gpkg"
    build_rasters(tw, path, resolution=resolution)
    tw.save(path)
    return Twin.open(path)


def write_tif(path, data, *, crs="EPSG:3857", transform=None, nodata=None, driver="GTiff"):
    """A plain GeoTIFF of ``data`` (bands, rows, cols)."""
    from affine import Affine

    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    transform = transform or Affine(30.0, 0, 7_770_000.0, 0, -30.0, 6_790_000.0)
    with rasterio.open(path, "w", driver=driver, width=data.shape[2], height=data.shape[1],
                       count=data.shape[0], dtype=data.dtype, crs=crs, transform=transform,
                       nodata=nodata) as dst:
        dst.write(data)
    return path


@pytest.fixture(scope="module")
def _built_once(tmp_path_factory):
    return build_small(tmp_path_factory.mktemp("raster")).path


@pytest.fixture
def built(_built_once, tmp_path):
    """A private copy of the built small twin (tests add, replace and delete rasters)."""
    import shutil

    shutil.copy(_built_once, tmp_path / "small.gpkg")
    shutil.copytree(raster_dir(_built_once), raster_dir(tmp_path / "small.gpkg"))
    return Twin.open(tmp_path / "small.gpkg")


# -- surfaces -----------------------------------------------------------------------------
def test_density_integrates_to_the_settlements_population(small_twin):
    s = population_density(small_twin, resolution=100)
    valid = s.data[s.data != s.nodata]
    cell_km2 = 0.1 * 0.1
    # 5,000 + 1,200 people, both towns well inside the region: every person is on the grid.
    assert valid.sum() * cell_km2 == pytest.approx(6200, rel=1e-5)
    assert s.meta["derived"] is True and "Gaussian kernel" in s.meta["method"]
    assert s.meta["units"] == "people/km2"


def test_density_peaks_at_a_settlement_and_fades(built):
    town = built["settlements"].geometry.iloc[0]
    at = value_at(built, "population_density", town.x, town.y)["values"][0]
    far = point_lonlat(9_500, 9_500)  # 6.4 km away, beyond 3 sigma (1.3 km) of Westtown
    assert at > 500
    assert value_at(built, "population_density", far.x, far.y)["values"][0] == 0


def test_cells_outside_the_region_are_nodata(built):
    # The region is 20 x 10 km from (0, 0); the grid pads it by one cell on each side.
    p = point_lonlat(-RES / 2, 5_000)
    assert value_at(built, "population_density", p.x, p.y)["values"] == [None]


def test_suitability_is_zero_on_constraints_and_higher_near_settlements(small_twin):
    import geopandas as gpd

    szz = gpd.GeoDataFrame({"id": ["z"], "synthetic": [True]},
                           geometry=[square_lonlat(8_000, 2_000, 1_000)], crs=4326)
    s = suitability(small_twin, resolution=100,
                    constraints={"protected_areas": small_twin["protected_areas"],
                                 "sanitary_zones": szz})

    def at(x, y):
        col, row = ~s.transform @ (x, y)
        return float(s.data[int(row), int(col)])

    assert at(2_000, 2_000) == 0  # inside the protected area (1-3 km square)
    assert at(8_500, 2_500) == 0  # inside the sanitary zone passed in
    assert at(5_050, 5_050) > at(9_050, 9_050) > 0  # next to Westtown beats 5.6 km away
    assert 0 <= s.data[s.data != s.nodata].min() and s.data.max() <= 1
    assert "sanitary_zones" in s.meta["method"] and s.meta["constraints"] == [
        "protected_areas", "sanitary_zones"]


def test_suitability_says_the_twin_has_no_roads(small_twin):
    s = suitability(small_twin, resolution=200)
    assert "not scored (no such layer in the twin): roads" in s.meta["method"]


def test_suitability_refuses_a_constraint_without_crs(small_twin):
    import geopandas as gpd

    bad = gpd.GeoDataFrame(geometry=[square_lonlat(0, 0, 100)])
    with pytest.raises(MissingCRS, match="no CRS"):
        suitability(small_twin, resolution=200, constraints={"zones": bad})


# -- COGs and the registry -----------------------------------------------------------------
def test_built_rasters_are_cogs_with_overviews_and_honest_tags(built):
    assert [r.name for r in list_rasters(built)] == ["population_density", "suitability"]
    for info in list_rasters(built):
        assert info.path.parent == raster_dir(built.path)
        with rasterio.open(info.path) as src:
            assert src.driver == "GTiff"
            assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert src.overviews(1), "a COG needs overviews for low zooms"
            assert src.block_shapes[0] == (256, 256)
            tags = src.tags()
            assert tags["derived"] == "true" and tags["method"] == info.method
            assert src.crs == built.analysis_crs  # equal-area: every cell is RES² m²
        assert info.derived and info.synthetic  # the small twin's rows are synthetic


def test_builds_are_deterministic(tmp_path):
    # The same layers give the same bytes, so a file's version (its hash) is a cache key.
    a = build_small(tmp_path / "a", resolution=200)
    b = build_small(tmp_path / "b", resolution=200)
    assert [r.version for r in list_rasters(a)] == [r.version for r in list_rasters(b)]


def test_registry_is_saved_with_the_twin(built):
    again = Twin.open(built.path)
    assert [r.to_dict() for r in list_rasters(again)] == [
        r.to_dict() for r in list_rasters(built)]


def test_unknown_raster_is_a_key_error_naming_the_known_ones(built):
    with pytest.raises(RasterNotFound, match="population_density, suitability") as e:
        get_raster(built, "../../etc/passwd")
    assert isinstance(e.value, KeyError) and isinstance(e.value, TwinError)


def test_registry_row_cannot_point_outside_the_sidecar(built):
    rows = built.tables["rasters"]
    rows.loc[rows["name"] == "suitability", "file"] = "../small.gpkg"
    with pytest.raises(RasterNotFound, match="unusable file name"):
        get_raster(built, "suitability")


@pytest.mark.parametrize("which", ["path", "tiles_path"])
def test_a_deleted_cache_file_is_unpacked_again_from_the_twin_file(built, which):
    path = getattr(get_raster(built, "suitability"), which)
    before = path.read_bytes()
    path.unlink()
    assert getattr(get_raster(built, "suitability"), which).read_bytes() == before


@pytest.mark.parametrize("which", ["path", "tiles_path"])
def test_bytes_gone_from_file_and_cache_say_how_to_rebuild(built, which):
    import sqlite3

    path = getattr(get_raster(built, "suitability"), which)
    conn = sqlite3.connect(built.path)
    with conn:
        conn.execute("DELETE FROM twin_files WHERE name = ?", (f"rasters/{path.name}",))
    conn.close()
    path.unlink()
    with pytest.raises(RasterNotFound, match="twin build"):
        get_raster(built, "suitability")


def test_tile_copy_row_cannot_point_outside_the_sidecar(built):
    rows = built.tables["rasters"]
    rows.loc[rows["name"] == "suitability", "tiles_file"] = "../../x.web.tif"
    with pytest.raises(RasterNotFound, match="unusable file name"):
        get_raster(built, "suitability")


def test_value_at_checks_the_point(built):
    with pytest.raises(InvalidPoint):
        value_at(built, "suitability", 200, 10)
    with pytest.raises(OutsideRaster) as e:
        value_at(built, "suitability", 10, 10)
    assert isinstance(e.value, LookupError)


# -- users' rasters ------------------------------------------------------------------------
def test_add_raster_stores_a_cog_and_registers_it(built, tmp_path):
    src = write_tif(tmp_path / "in.tif", np.arange(300 * 400, dtype="float32").reshape(300, 400),
                    nodata=-1.0)
    info = add_raster(built, "elevation", src, units="m", source="survey")
    assert info.path.resolve() == (raster_dir(built.path).resolve()
                                   / f"elevation.{info.version}.tif")
    assert not info.derived and info.units == "m" and info.source == "survey"
    with rasterio.open(get_raster(built, "elevation").path) as cog:
        assert cog.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert cog.nodata == -1.0
        np.testing.assert_array_equal(cog.read(1), np.arange(120_000).reshape(300, 400))
    # saved into the twin file at once: a fresh open sees it
    assert "elevation" in [r.name for r in list_rasters(Twin.open(built.path))]


def test_first_raster_of_a_twin_reopens_with_its_flags(small_twin, tmp_path):
    # A twin with no rasters yet: the registry starts empty, so its first row is built in
    # object columns. Reopened, an observed user raster must still say so.
    small_twin.save(tmp_path / "plain.gpkg")
    src = write_tif(tmp_path / "in.tif", np.arange(100, dtype="float32").reshape(10, 10))
    add_raster(small_twin, "observed", src, units="m", synthetic=False)
    back = get_raster(Twin.open(tmp_path / "plain.gpkg"), "observed")
    assert (back.derived, back.synthetic) == (False, False)
    assert (back.width, back.height, back.units) == (10, 10, "m")
    assert back.vmin == pytest.approx(1.98) and back.vmax == pytest.approx(97.02)
    add_raster(small_twin, "made_up", src, synthetic=True)
    assert get_raster(Twin.open(tmp_path / "plain.gpkg"), "made_up").synthetic is True


def test_a_name_cannot_be_taken_twice_without_replace(built, tmp_path):
    src = write_tif(tmp_path / "in.tif", np.ones((10, 10), dtype="uint8"))
    with pytest.raises(RasterFormatError, match="already has a raster"):
        add_raster(built, "suitability", src)
    assert add_raster(built, "suitability", src, replace=True).derived is False


@pytest.mark.parametrize("name", ["../evil", "Elevation", "", "a" * 64, "x.tif", "1st"])
def test_unusable_names_are_refused(built, tmp_path, name):
    src = write_tif(tmp_path / "in.tif", np.ones((10, 10), dtype="uint8"))
    with pytest.raises(RasterFormatError, match="not usable"):
        add_raster(built, name, src)


def test_a_vrt_is_refused_before_gdal_reads_it(built, tmp_path):
    target = write_tif(tmp_path / "secret.tif", np.ones((10, 10), dtype="uint8"))
    vrt = tmp_path / "points_elsewhere.tif"  # a VRT hiding behind a .tif suffix
    vrt.write_text(
        f'<VRTDataset rasterXSize="10" rasterYSize="10"><SRS>EPSG:3857</SRS>'
        f'<VRTRasterBand dataType="Byte" band="1"><SimpleSource><SourceFilename>{target}'
        f'</SourceFilename></SimpleSource></VRTRasterBand></VRTDataset>')
    with pytest.raises(RasterFormatError, match="not a GeoTIFF") as e:
        add_raster(built, "vrt", vrt)
    assert isinstance(e.value, ValueError)
    assert not (raster_dir(built.path) / "vrt.tif").exists()


def test_other_formats_are_refused(built, tmp_path):
    from PIL import Image

    png = tmp_path / "picture.png"
    Image.new("L", (8, 8)).save(png)
    with pytest.raises(RasterFormatError, match="not a GeoTIFF"):
        add_raster(built, "picture", png)
    truncated = tmp_path / "cut.tif"
    truncated.write_bytes(b"II*\x00" + b"\x00" * 20)
    with pytest.raises(RasterFormatError):
        add_raster(built, "cut", truncated)
    with pytest.raises(RasterFormatError, match="not a file"):
        add_raster(built, "nothing", tmp_path / "missing.tif")


def test_a_raster_without_crs_is_refused(built, tmp_path):
    src = write_tif(tmp_path / "nocrs.tif", np.ones((10, 10), dtype="uint8"), crs=None)
    with pytest.raises(MissingCRS, match="no CRS") as e:
        add_raster(built, "nocrs", src)
    assert isinstance(e.value, ValueError)


def test_size_and_band_limits(built, tmp_path):
    five = write_tif(tmp_path / "five.tif", np.ones((5, 10, 10), dtype="uint8"))
    with pytest.raises(RasterTooLarge, match="5 bands") as e:
        add_raster(built, "five", five)
    assert isinstance(e.value, ValueError)
    big = write_tif(tmp_path / "big.tif", np.ones((100, 100), dtype="uint8"))
    with pytest.raises(RasterTooLarge, match="pixel limit"):
        add_raster(built, "big", big, max_pixels=9_999)
    with pytest.raises(RasterTooLarge, match="MiB"):
        add_raster(built, "big", big, max_bytes=100)


def test_cli_add_raster(built, tmp_path, capsys):
    from twin.cli import main

    src = write_tif(tmp_path / "in.tif", np.ones((20, 20), dtype="float32"))
    assert main(["add-raster", "ones", str(src), "--twin", str(built.path),
                 "--units", "m", "--colormap", "blues"]) == 0
    assert "added raster 'ones'" in capsys.readouterr().out
    info = get_raster(Twin.open(built.path), "ones")
    assert info.colormap == "blues" and info.units == "m"
    vrt = tmp_path / "x.vrt"
    vrt.write_text('<VRTDataset rasterXSize="1" rasterYSize="1"></VRTDataset>')
    assert main(["add-raster", "v", str(vrt), "--twin", str(built.path)]) == 1
    assert "not a GeoTIFF" in capsys.readouterr().err


# -- the default twin ----------------------------------------------------------------------
def test_default_twin_carries_both_surfaces(default_twin):
    assert [r.name for r in list_rasters(default_twin)] == ["population_density", "suitability"]
    pop = get_raster(default_twin, "population_density")
    assert pop.derived and not pop.synthetic  # modelled, from the real settlements
    with rasterio.open(pop.path) as src:
        people = float(src.read(1, masked=True).sum()) * (abs(src.res[0]) / 1000) ** 2
    total = float(default_twin["settlements"]["population"].sum())
    # Only people spread beyond the region's border are lost (towns near Astana).
    assert 0.97 * total <= people <= total * (1 + 1e-6)
    suit = get_raster(default_twin, "suitability")
    assert "sanitary_zones" in suit.method and "water_protection" in suit.method
    assert "not scored (no such layer in the twin): roads" in suit.method
    town = default_twin["settlements"].sort_values("population").geometry.iloc[-1]
    assert value_at(default_twin, "population_density", town.x, town.y)["values"][0] > 1_000
