"""A PostGIS twin's layers in and out of the database: as CSV through ``COPY`` (Arrow
writes and parses it in C; geometries as hex (E)WKB), because row-by-row inserts of a
million parcels take minutes. The tables are plain PostGIS tables, typed from the frame,
so PostGIS tools, QGIS and ``ST_AsMVT`` read them as they are."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from ..errors import TwinFileError

if TYPE_CHECKING:  # imported where used: a server binds before the data stack is imported
    import geopandas as gpd
    import pandas as pd

__all__ = ["read_layer", "write_layer", "pg_type"]


def pg_type(s: pd.Series) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(s):
        return "boolean"
    if pd.api.types.is_integer_dtype(s):
        return "integer" if s.dtype.itemsize <= 4 and str(s.dtype) != "uint32" else "bigint"
    if pd.api.types.is_float_dtype(s):
        return "real" if s.dtype.itemsize == 4 else "double precision"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "timestamptz" if getattr(s.dtype, "tz", None) is not None else "timestamp"
    kind = pd.api.types.infer_dtype(s, skipna=True)
    if kind in ("string", "empty", "unicode"):
        return "text"
    raise TwinFileError(f"column {s.name!r} holds {kind} values, which a twin layer cannot "
                        "store: convert it to text or numbers")


def write_layer(conn, table, gdf: gpd.GeoDataFrame) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import shapely
    from psycopg import sql

    geom = gdf.geometry.name
    cols = [c for c in gdf.columns if c != geom]
    if "fid" in cols:
        raise TwinFileError("a layer column is called 'fid', the name a twin keeps for a "
                            "row's place: rename it")
    types = {c: pg_type(gdf[c]) for c in cols}
    ddl = sql.SQL("CREATE TABLE {} (fid bigint PRIMARY KEY{}, geometry geometry(Geometry, "
                  "4326))").format(table, sql.SQL("").join(
                      sql.SQL(", {} {}").format(sql.Identifier(c), sql.SQL(types[c]))
                      for c in cols))
    conn.execute(ddl)
    values = np.asarray(gdf.geometry.values)
    ewkb = shapely.to_wkb(shapely.set_srid(values, 4326), hex=True, include_srid=True)
    arrays = [pa.array(np.arange(len(gdf), dtype=np.int64))]
    arrays += [pa.array(gdf[c], from_pandas=True) for c in cols]
    arrays.append(pa.array(ewkb, type=pa.string()))
    names = ["fid", *cols, "geometry"]
    buf = io.BytesIO()
    # quoting all strings keeps '' apart from NULL (an unquoted empty field)
    pacsv.write_csv(pa.table(arrays, names=[f"c{i}" for i in range(len(names))]), buf,
                    pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        table, sql.SQL(", ").join(map(sql.Identifier, names)))
    with conn.cursor().copy(copy) as cp:
        view = buf.getbuffer()
        for i in range(0, len(view), 1 << 20):
            cp.write(view[i:i + (1 << 20)])
    conn.execute(sql.SQL("CREATE INDEX ON {} USING gist (geometry)").format(table))


_ARROW = {"bigint": "int64", "integer": "int32", "smallint": "int16",
          "double precision": "float64", "real": "float32", "boolean": "bool",
          "text": "string", "character varying": "string",
          "timestamp without time zone": "timestamp", "timestamp with time zone": "timestamptz"}


def read_layer(conn, schema: str, name: str, where: str,
               columns: set[str] | None = None, as_wkb: bool = False):
    import geopandas as gpd
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import shapely
    from psycopg import sql

    cols = [(c, t) for c, t in conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = "
        "%s AND table_name = %s ORDER BY ordinal_position", (schema, name)).fetchall()
        if c not in ("fid", "geometry") and (columns is None or c in columns)]
    if not cols and not conn.execute("SELECT to_regclass(%s) IS NOT NULL",
                                     (f'"{schema}"."{name}"',)).fetchone()[0]:
        raise TwinFileError(f"{where} lists layer {name!r} but holds no such table: push "
                            "the twin again (`twin push`)")
    types = {}
    for c, t in cols:
        kind = _ARROW.get(t, "string")
        types[c] = {"timestamp": pa.timestamp("us"), "timestamptz": pa.timestamp("us", "UTC"),
                    "string": pa.string()}.get(kind) or pa.from_numpy_dtype(np.dtype(kind))
    select = sql.SQL("COPY (SELECT {}{}encode(ST_AsBinary(geometry), 'hex') FROM {} ORDER BY "
                     "fid) TO STDOUT (FORMAT csv)").format(
        sql.SQL(", ").join(map(sql.Identifier, [c for c, _ in cols])),
        sql.SQL(", ") if cols else sql.SQL(""), sql.Identifier(schema, name))
    buf = io.BytesIO()
    with conn.cursor().copy(select) as cp:
        for chunk in cp:
            buf.write(chunk)
    names = [c for c, _ in cols] + ["__wkb"]
    if buf.tell() == 0:
        table = pa.table({c: pa.array([], type=types[c]) for c, _ in cols})
        wkb: list = []
    else:
        buf.seek(0)
        table = pacsv.read_csv(buf, pacsv.ReadOptions(column_names=names),
                               pacsv.ParseOptions(newlines_in_values=True),
                               pacsv.ConvertOptions(
                                   column_types={**types, "__wkb": pa.string()},
                                   true_values=["t"], false_values=["f"], null_values=[""],
                                   strings_can_be_null=True,
                                   quoted_strings_can_be_null=False))
        wkb = table.column("__wkb").to_numpy(zero_copy_only=False)
        table = table.drop(["__wkb"])
    df = table.to_pandas()
    if as_wkb:  # bytes, no geometry objects (Store.read_columns)
        return df.assign(geometry=[None if h is None else bytes.fromhex(h) for h in wkb])
    geometry = shapely.from_wkb(np.asarray(wkb, dtype=object)) if len(wkb) else []
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geometry, index=df.index, crs=4326),
                            crs=4326)

