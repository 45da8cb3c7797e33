"""Layers a twin derives from its other layers, and what each is derived from.

A derived layer (the general plan's ``zones``) is stored in the twin file like any other, so
it is served, tiled and exported without recomputing it; the twin remembers that it is
derived (``Twin.derived_layers``) and derives it again when one of its inputs changes. A
layer the caller gives under the same name is data, and is left alone from then on.

>>> from twin.derived import DERIVED
>>> DERIVED["zones"].inputs
('region', 'districts', 'settlements', 'industrial_zones', 'protected_areas')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd

from .errors import LayerNotFound

__all__ = ["DerivedLayer", "DERIVED", "derive", "inputs_of"]


@dataclass(frozen=True)
class DerivedLayer:
    """How one layer is derived: the layers it reads (the region too, whose change moves
    the analysis CRS), the function, and the provenance line it gets."""

    name: str
    inputs: tuple[str, ...]
    make: Callable[[object], gpd.GeoDataFrame]
    provenance: str


def _zones(tw) -> gpd.GeoDataFrame:
    from .plan.zones import zones_for_twin  # lazy: the plan loads only when zones are made

    return zones_for_twin(tw)


DERIVED: dict[str, DerivedLayer] = {
    d.name: d
    for d in [
        DerivedLayer(
            "zones",
            ("region", "districts", "settlements", "industrial_zones", "protected_areas"),
            _zones,
            "derived by the general plan (twin.plan.derive_zones) from the twin's districts, "
            "settlements, industrial zones and protected areas: zones taken from a layer "
            "keep its rows' synthetic flag; settlement zones and the agricultural remainder "
            "follow assumed rules (rows flagged synthetic); licences of its inputs",
        ),
    ]
}


def inputs_of(name: str) -> tuple[str, ...]:
    """The layers derived layer ``name`` is made from (empty for a layer that is not)."""
    d = DERIVED.get(name)
    return d.inputs if d else ()


def derive(tw, name: str) -> tuple[gpd.GeoDataFrame, str]:
    """Layer ``name`` derived from ``tw``, and its provenance line (ending, as every
    provenance line does, with the accuracy of its rows)."""
    d = DERIVED.get(name)
    if d is None:
        raise LayerNotFound(
            f"layer {name!r} is not one a twin can derive: derivable layers are "
            f"{', '.join(DERIVED)}"
        )
    if "districts" not in tw:
        raise LayerNotFound(f"deriving {name!r} needs a 'districts' layer: add one first")
    gdf = d.make(tw)
    syn = gdf["synthetic"].astype(bool)
    rows = ("synthetic rows" if syn.all() else "derived and synthetic rows" if syn.any()
            else "derived rows")
    return gdf, f"{d.provenance}; {rows}"
