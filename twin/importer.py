"""Read a user's layer from GeoJSON, GeoPackage, zipped Shapefile or GeoParquet."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio

from .errors import ImportFormatError, TwinFileError

__all__ = ["read_user_layer", "SUPPORTED_SUFFIXES"]

SUPPORTED_SUFFIXES = (".geojson", ".json", ".gpkg", ".zip", ".parquet", ".geoparquet")


def read_user_layer(path: str | os.PathLike, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read one layer of vector data from a file a user brings.

    Parameters
    ----------
    path : path
        A ``.geojson``/``.json``, ``.gpkg``, zipped Shapefile (``.zip``) or GeoParquet
        (``.parquet``/``.geoparquet``) file.
    layer : str, optional
        The layer to read from a multi-layer GeoPackage. Required when there is more than one.
    """
    path = Path(path)
    if not path.is_file():
        raise TwinFileError(f"{str(path)!r} does not exist: check the path")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise ImportFormatError(
            f"{path.name!r}: unsupported format {suffix or '(no suffix)'!r}: give a GeoJSON, "
            "GeoPackage, zipped Shapefile (.zip) or GeoParquet file"
        )
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
