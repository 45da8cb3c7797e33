"""Read a user's layer from GeoJSON, GeoPackage, zipped Shapefile, GeoParquet or a CSV
table with longitude and latitude columns."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from .errors import ImportFormatError, MissingColumn, TwinFileError

__all__ = ["read_user_layer", "SUPPORTED_SUFFIXES", "LON_NAMES", "LAT_NAMES"]

SUPPORTED_SUFFIXES = (".geojson", ".json", ".gpkg", ".zip", ".parquet", ".geoparquet",
                      ".csv")
#: Column names a CSV's coordinates are found under when none are named (case-insensitive).
LON_NAMES = ("lon", "lng", "long", "longitude", "x")
LAT_NAMES = ("lat", "latitude", "y")


def read_user_layer(path: str | os.PathLike, layer: str | None = None, *,
                    lon: str | None = None, lat: str | None = None,
                    crs=None) -> gpd.GeoDataFrame:
    """Read one layer of vector data from a file a user brings.

    Parameters
    ----------
    path : path
        A ``.geojson``/``.json``, ``.gpkg``, zipped Shapefile (``.zip``), GeoParquet
        (``.parquet``/``.geoparquet``) or ``.csv`` file.
    layer : str, optional
        The layer to read from a multi-layer GeoPackage (or the Shapefile in a zip).
        Required when there is more than one.
    lon, lat : str, optional
        A CSV's coordinate columns (default: the first of :data:`LON_NAMES` and
        :data:`LAT_NAMES` it has). Its other columns are read as text, so that nothing is
        lost to type guessing; ``twin.conform`` converts them.
    crs : optional
        The CRS of a CSV's coordinates (default EPSG:4326, lon/lat), or of a file that
        declares none (a Shapefile without ``.prj``); a file's own CRS wins otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise TwinFileError(f"{str(path)!r} does not exist: check the path")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ImportFormatError(
            f"{path.name!r}: unsupported format {suffix or '(no suffix)'!r}: give a GeoJSON, "
            "GeoPackage, zipped Shapefile (.zip), GeoParquet or CSV (with lon/lat columns) "
            "file"
        )
    if suffix == ".csv":
        return _read_csv(path, lon, lat, crs)
    gdf = _read_vector(path, suffix, layer)
    if gdf.crs is None and crs is not None:
        gdf = gdf.set_crs(crs)
    return gdf


def _read_csv(path: Path, lon: str | None, lat: str | None, crs) -> gpd.GeoDataFrame:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""],
                         encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as e:
        raise ImportFormatError(f"could not read {path.name!r} as CSV: {e}") from e

    def find(given, names, what):
        if given is not None:
            if given not in df.columns:
                raise MissingColumn(f"{path.name!r} has no column {given!r} for the {what}; "
                                    f"it has {', '.join(df.columns)}")
            return given
        lower = {c.lower().strip(): c for c in df.columns}
        for n in names:
            if n in lower:
                return lower[n]
        raise MissingColumn(
            f"{path.name!r} has no {what} column (looked for {', '.join(names)}); it has "
            f"{', '.join(df.columns)}: name it with lon=/lat= (`lon:`/`lat:` in a manifest)"
        )

    xcol, ycol = find(lon, LON_NAMES, "longitude"), find(lat, LAT_NAMES, "latitude")
    xy = df[[xcol, ycol]].apply(lambda s: pd.to_numeric(s.str.strip(), errors="coerce"))
    bad = xy.isna().any(axis=1).to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)[:5] + 1
        raise ImportFormatError(
            f"{path.name!r}: {int(bad.sum())} row(s) have no readable {xcol}/{ycol} "
            f"(rows {', '.join(map(str, rows))}"
            + (" and more" if bad.sum() > 5 else "") + "): give each row numeric coordinates "
            "(a decimal point, not a comma), or drop the row"
        )
    geom = gpd.points_from_xy(xy[xcol].to_numpy(float), xy[ycol].to_numpy(float))
    return gpd.GeoDataFrame(df.drop(columns=[xcol, ycol]), geometry=geom,
                            crs=crs if crs is not None else 4326)


def _read_vector(path: Path, suffix: str, layer: str | None) -> gpd.GeoDataFrame:
    try:
        if suffix in (".parquet", ".geoparquet"):
            return gpd.read_parquet(path)
        if suffix == ".zip":
            with zipfile.ZipFile(path) as z:
                shps = [n for n in z.namelist() if n.lower().endswith(".shp")]
            if not shps:
                raise ImportFormatError(
                    f"{path.name!r} holds no .shp file: zip the Shapefile's .shp, .shx, .dbf "
                    "and .prj together"
                )
            if len(shps) > 1 and layer is None:
                raise ImportFormatError(
                    f"{path.name!r} holds several Shapefiles ({', '.join(shps)}): pass "
                    "layer= with the one to read"
                )
            inner = layer if layer and layer.lower().endswith(".shp") else (
                next((s for s in shps if Path(s).stem == layer), None) if layer else shps[0]
            )
            if inner is None:
                raise ImportFormatError(f"{path.name!r} has no Shapefile named {layer!r}")
            return pyogrio.read_dataframe(f"/vsizip/{path.resolve()}/{inner}")
        if suffix == ".gpkg":
            names = [n for n, _ in pyogrio.list_layers(path)]
            if layer is None and len(names) > 1:
                raise ImportFormatError(
                    f"{path.name!r} holds {len(names)} layers ({', '.join(names)}): pass "
                    "layer= with the one to read"
                )
            if layer is not None and layer not in names:
                raise ImportFormatError(
                    f"{path.name!r} has no layer {layer!r}; it has {', '.join(names)}"
                )
            return pyogrio.read_dataframe(path, layer=layer or names[0])
        return pyogrio.read_dataframe(path)
    except ImportFormatError:
        raise
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
            zipfile.BadZipFile, ValueError, OSError) as e:
        raise ImportFormatError(f"could not read {path.name!r}: {e}") from e
