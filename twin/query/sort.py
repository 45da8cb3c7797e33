"""Sort orders (``sortby``): parse ``+name,-area_ha`` against a collection's sortables and
order row positions in a total, repeatable order, so that pages never overlap or skip.

Examples
--------
>>> parse_sortby("-area_ha, name", {"area_ha": "float", "name": "str"})
(('area_ha', False), ('name', True))
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .errors import SortError

__all__ = ["parse_sortby", "sort_rows", "MAX_SORT_KEYS"]

MAX_SORT_KEYS = 8


def parse_sortby(text: str, sortables: dict[str, str]) -> tuple[tuple[str, bool], ...]:
    """``[+|-]property[,...]`` as ``((property, ascending), ...)``.

    A ``+`` that arrived unescaped in a URL reads as a space; it counts as ``+``.
    """
    keys: list[tuple[str, bool]] = []
    for part in text.split(","):
        item = part.strip()
        ascending = True
        if item[:1] in "+-" and item:
            ascending = item[0] == "+"
            item = item[1:].strip()
        if not item:
            raise SortError(f"sortby {text!r} has an empty entry: give "
                            "[+|-]property[,...], e.g. sortby=-area_ha,id")
        if item not in sortables:
            raise SortError(f"cannot sort by {item!r}: the sortables are "
                            f"{', '.join(sortables)} (see the collection's /sortables)")
        if any(k == item for k, _ in keys):
            raise SortError(f"sortby names {item!r} twice: name it once")
        keys.append((item, ascending))
    if len(keys) > MAX_SORT_KEYS:
        raise SortError(f"sortby names {len(keys)} properties; at most {MAX_SORT_KEYS}")
    return tuple(keys)


def sort_rows(gdf, rows: np.ndarray, keys, id_column: str) -> np.ndarray:
    """``rows`` (positions in ``gdf``) ordered by ``keys``, then by the unique id, so the
    order is total. Missing values sort last in either direction."""
    if not keys:
        return rows
    cols = [k for k, _ in keys]
    asc = [a for _, a in keys]
    if id_column not in cols:
        cols.append(id_column)
        asc.append(True)
    frame = pd.DataFrame({f"k{i}": gdf[c].to_numpy()[rows] for i, c in enumerate(cols)})
    order = frame.sort_values(list(frame.columns), ascending=asc, kind="stable",
                              na_position="last").index.to_numpy()
    return rows[order]
