"""Data in: the committed sources of the default Akmola twin, turned into GeoDataFrames.

``geodata`` never imports ``twin``. Each function reads the committed files in
``geodata/sources/`` and ``geodata/config.yaml`` and returns a plain GeoDataFrame in EPSG:4326
(lon/lat) whose every row carries ``source`` and ``synthetic`` (and mostly ``accuracy``).
``twin.default`` assembles them into a validated ``Twin``. What is real, approximate or
synthetic, and why, is in ``geodata/SOURCES.md``.

>>> from geodata import build_layers
>>> layers = build_layers(parcels=1_000)          # doctest: +SKIP
>>> sorted(layers)                                # doctest: +SKIP
['context', 'districts', 'industrial_zones', 'parcels', 'project_sites', ...]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import geopandas as gpd
import numpy as np
import shapely
from tqdm import tqdm

from ._common import HERE, default_twin_fingerprint, fingerprint, load_config, read_yaml
from ._metric import EQUAL_AREA
from .boundaries import context, districts, region
from .features import industrial_zones, lakes, protected_areas, rivers
from .parcels import LAND_USES, parcels
from .places import locate, settlements
from .projects import project_sites

__all__ = [
    "build_layers",
    "generators",
    "LAND_USES",
    "ANALYSIS_CRS",
    "MANIFEST",
    "indicator_registry",
    "plan_regulations",
    "fingerprint",
    "default_twin_fingerprint",
    "load_config",
    "region",
    "context",
    "districts",
    "settlements",
    "industrial_zones",
    "protected_areas",
    "lakes",
    "rivers",
    "project_sites",
    "parcels",
    "locate",
    "tidy_layer",
]

#: The default twin's analysis CRS: the equal-area CRS the build measures in.
ANALYSIS_CRS = EQUAL_AREA
#: The default twin's manifest: its name, title, CRS, registry, regulations and the layers
#: read from committed files (``twin.default`` builds the rest with :func:`build_layers`).
MANIFEST = HERE / "twin.yaml"


def indicator_registry() -> dict:
    """The default twin's indicator registry document (``indicators.yaml``)."""
    import copy

    return copy.deepcopy(read_yaml("indicators.yaml"))


def plan_regulations() -> dict:
    """The default twin's plan regulations document (``regulations.yaml``)."""
    import copy

    return copy.deepcopy(read_yaml("regulations.yaml"))


def tidy_layer(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Geometry last, and one polygon type per layer.

    A GeoPackage layer has one geometry type, so a layer mixing Polygon and MultiPolygon
    comes back all-Multi; promoting here keeps a saved twin's content hash equal to the
    built one's.
    """
    geoms = np.asarray(gdf.geometry.values)
    types = shapely.get_type_id(geoms)
    poly, multi = shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON
    if (types == multi).any() and (types == poly).any():
        geoms = geoms.copy()
        geoms[types == poly] = [shapely.MultiPolygon([g]) for g in geoms[types == poly]]
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    return gpd.GeoDataFrame(gdf[cols].reset_index(drop=True), geometry=list(geoms),
                            crs=gdf.crs)


def generators(parcels: int | None = None, progress: bool = False
               ) -> dict[str, Callable[[Mapping[str, gpd.GeoDataFrame]], gpd.GeoDataFrame]]:
    """The makers of the default twin's generated layers (the ``generated:`` entries of
    ``twin.yaml``), in build order.

    Each takes the layers built so far (any mapping of layer names to GeoDataFrames, such
    as a twin being built) and returns its layer in EPSG:4326.
    """
    from .parcels import parcels as make_parcels

    return {
        "districts": lambda ly: districts(ly["region"]),
        "settlements": lambda ly: settlements(ly["districts"]),
        "industrial_zones": lambda ly: industrial_zones(ly["districts"], ly["context"]),
        "protected_areas": lambda ly: protected_areas(ly["region"]),
        "lakes": lambda ly: lakes(ly["region"]),
        "rivers": lambda ly: rivers(ly["region"]),
        "project_sites": lambda ly: project_sites(ly["districts"], ly["settlements"],
                                                  ly["industrial_zones"], ly["lakes"]),
        "parcels": lambda ly: make_parcels(ly["districts"], ly["settlements"],
                                           ly["industrial_zones"], ly["protected_areas"],
                                           ly["lakes"], parcels, progress=progress),
    }


def build_layers(parcels: int | None = None, progress: bool = False
                 ) -> dict[str, gpd.GeoDataFrame]:
    """Build every layer of the default Akmola twin from the committed sources.

    Parameters
    ----------
    parcels : int, optional
        Number of synthetic parcels (default ``config.yaml: parcels.default_count``).
    progress : bool
        Show a tqdm bar over the steps (and one over the parcels).

    Returns
    -------
    dict of str to GeoDataFrame
        Layers in dependency order, each in EPSG:4326. Deterministic: the same sources and
        config give the same data.
    """
    out: dict[str, gpd.GeoDataFrame] = {"region": region(), "context": context()}
    makers = generators(parcels, progress)
    for name, make in tqdm(makers.items(), desc="default twin", unit="layer",
                           disable=not progress):
        out[name] = tidy_layer(make(out))
    return {k: tidy_layer(out[k]) for k in ("region", "context", "districts", "settlements",
                                            "industrial_zones", "protected_areas", "lakes",
                                            "rivers", "project_sites", "parcels")}
