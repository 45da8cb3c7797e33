"""Raster surfaces of the twin: build them, register them, and vet the rasters users bring.

Every raster is a Cloud-Optimized GeoTIFF (tiled, DEFLATE, internal overviews), ``NAME.tif``,
plus ``NAME.web.tif``, the same values resampled once onto WebMercatorQuad's grid for tiles
(:func:`write_web_cog`). Both are stored byte for byte inside the twin file, so a saved or
copied GeoPackage carries its rasters, and are read from copies unpacked on first use into
the cache folder ``<twin file>.rasters/`` (:mod:`~twin.raster.storage`). The twin lists them
in its ``rasters`` attribute table (:data:`RASTER_TABLE`), so a raster is always looked up by
a registered name and never by a path a user typed.

Two surfaces are derived from the layers when the twin is built (:func:`build_rasters`):

- ``population_density``: people per km², a Gaussian kernel around each settlement scaled
  to its population (:func:`population_density`);
- ``suitability``: development suitability 0..1, zero on the constraints (protected areas,
  water and the plan's sanitary and water protection zones, :func:`plan_constraints`; any
  mapping can be passed in), higher near settlements, industrial zones and roads where a
  ``roads`` layer exists (:func:`suitability`).

Both are computed on one grid in the twin's equal-area analysis CRS, so every cell has the
same area and a density integrates to people. rasterio is imported inside the functions
that need it, so ``import twin`` stays light.

The package has four modules: :mod:`~twin.raster.registry` (what a raster is, where its
file lives, reading a value), :mod:`~twin.raster.storage` (its bytes inside the twin file
and their unpacked copies), :mod:`~twin.raster.surfaces` (the derived surfaces) and
:mod:`~twin.raster.user` (rasters users add).
"""

from .registry import (
    COLORMAPS,
    NAME_RE,
    RASTER_TABLE,
    InvalidPoint,
    OutsideRaster,
    RasterError,
    RasterFormatError,
    RasterInfo,
    RasterNotFound,
    RasterTooLarge,
    Surface,
    get_raster,
    list_rasters,
    raster_dir,
    save_registry,
    value_at,
    write_cog,
    write_web_cog,
)
from .surfaces import (
    build_rasters,
    default_constraints,
    plan_constraints,
    population_density,
    suitability,
)
from .user import MAX_BANDS, MAX_BYTES, MAX_PIXELS, add_raster, check_user_raster

__all__ = [
    "RASTER_TABLE", "NAME_RE", "COLORMAPS", "MAX_PIXELS", "MAX_BANDS", "MAX_BYTES",
    "RasterInfo", "Surface", "RasterError", "RasterNotFound", "RasterFormatError",
    "RasterTooLarge", "OutsideRaster", "InvalidPoint", "raster_dir", "list_rasters",
    "get_raster", "save_registry", "write_cog", "write_web_cog", "value_at", "build_rasters",
    "population_density", "suitability", "default_constraints", "plan_constraints",
    "check_user_raster", "add_raster",
]
