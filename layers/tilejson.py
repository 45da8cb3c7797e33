"""TileJSON 3.0.0 of a layer's vector tiles: what the live endpoint and an archive carry.

One builder for both ``/tiles/{layer}.json`` (api/routers/tiles.py) and the metadata of a
PMTiles archive (:mod:`layers.pmtiles_export`), so that a client reads the same field types,
credits and zooms whichever way it gets the tiles.

Examples
--------
>>> from twin.sample import make_small_twin
>>> doc = tilejson(make_small_twin(), "parcels", bounds=(69.0, 51.0, 70.0, 52.0))
>>> doc["vector_layers"][0]["fields"]["area_ha"], doc["minzoom"], doc["maxzoom"]
('Number', 5, 16)
"""

from __future__ import annotations

from .style import attributions
from .vector_tiles import EXTENT, tile_layer

__all__ = ["tile_fields", "tile_attribution", "tilejson"]

_KIND = {"str": "String", "int": "Number", "float": "Number", "bool": "Boolean"}


def tile_fields(tw, name: str) -> dict[str, str]:
    """The properties a tile of layer ``name`` carries, with their TileJSON types."""
    gdf, schema = tw.layer(name), tw.schema(name)
    kinds = schema.kinds  # required and optional declared columns
    return {c: _KIND.get(kinds.get(c, "str"), "String")
            for c in tile_layer(name).properties if c in gdf.columns}


def tile_attribution(tw, name: str) -> str:
    """What a map of layer ``name`` must credit: the layer's own sources (a derived layer
    credits the twin's), and whether some rows are made up, from the twin's provenance."""
    if name in tw.derived_layers or name not in tw.provenance:
        credit = "; ".join(attributions(tw)) or tw.title
    else:
        credit = tw.provenance[name].split(";", 1)[0].strip()
    if tw[name]["synthetic"].astype(bool).any():
        credit += " (rows marked synthetic=true are made up)"
    return credit


def tilejson(tw, name: str, *, bounds, tiles: list[str] | None = None,
             minzoom: int | None = None, maxzoom: int | None = None) -> dict:
    """TileJSON 3.0.0 of layer ``name`` (JSON-ready).

    ``minzoom``/``maxzoom`` default to the layer's tile range; ``tiles`` (URL templates) is
    left out for an archive, whose reader knows where its tiles are.
    """
    tl = tile_layer(name)
    lo = tl.minzoom if minzoom is None else minzoom
    hi = tl.maxzoom if maxzoom is None else maxzoom
    description = tw.schema(name).description or f"Layer {name}"
    w, s, e, n = (float(v) for v in bounds)
    doc = {
        "tilejson": "3.0.0",
        "name": name,
        "description": description,
        "version": tw.data_version(name),
        "attribution": tile_attribution(tw, name),
        "scheme": "xyz",
        **({"tiles": tiles} if tiles is not None else {}),
        "minzoom": lo,
        "maxzoom": hi,
        "bounds": [w, s, e, n],
        "center": [(w + e) / 2, (s + n) / 2, min(max(lo, 6), hi)],
        "vector_layers": [{"id": name, "description": description, "minzoom": lo,
                           "maxzoom": hi, "fields": tile_fields(tw, name)}],
        "extent": EXTENT,
    }
    return doc
