"""Validation at the edge: each bad input raises its named error with a helpful message."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, Point, Polygon

import twin
from twin import (
    CoordinateRangeError,
    EmptyGeometry,
    GeometryTypeError,
    InvalidGeometry,
    LayerNotFound,
    MissingColumn,
    MissingCRS,
    SchemaError,
    TwinError,
)
from twin.schema import LayerSchema, validate_layer

BOWTIE = Polygon([(69.0, 52.0), (69.1, 52.1), (69.1, 52.0), (69.0, 52.1)])


def towns(geoms, crs="EPSG:4326", **extra):
    data = {"id": [f"t{i}" for i in range(len(geoms))], "name": ["x"] * len(geoms),
            "source": ["test"] * len(geoms), "synthetic": [True] * len(geoms), **extra}
    return gpd.GeoDataFrame(data, geometry=list(geoms), crs=crs)


def test_missing_crs_names_the_layer_and_the_fix(small_twin):
    with pytest.raises(MissingCRS, match=r"layer 'wells' has no CRS.*set_crs"):
        small_twin.add_layer("wells", towns([Point(69, 52)], crs=None))


def test_out_of_range_coordinates_say_lat_lon_are_swapped(small_twin):
    g = towns([Point(52.0, 169.0)])  # y out of range; as (lat, lon) it would be valid
    with pytest.raises(CoordinateRangeError, match=r"'t0'.*swapped.*\(lon, lat\)"):
        small_twin.add_layer("wells", g)


def test_swapped_coordinates_inside_degree_range_are_caught_against_the_region(small_twin):
    # Akmola swapped (lat, lon) = (52, 70) is still a valid lon/lat pair: only the region
    # can tell.
    region = small_twin["region"].total_bounds
    lon, lat = (region[0] + region[2]) / 2, (region[1] + region[3]) / 2
    small_twin.add_layer("wells", towns([Point(lon, lat)]))
    with pytest.raises(CoordinateRangeError, match=r"layer 'wells2'.*swapped"):
        small_twin.add_layer("wells2", towns([Point(lat, lon)]))


def test_metres_declared_as_degrees_are_flagged():
    with pytest.raises(CoordinateRangeError, match="not degrees"):
        validate_layer(towns([Point(500_000, 5_700_000)]), LayerSchema("w", ("Point",)))


def test_invalid_geometry_reports_reason_and_location():
    s = LayerSchema("fields", ("Polygon", "MultiPolygon"))
    with pytest.raises(InvalidGeometry, match=r"'fields'.*'t0'.*Self-intersection.*repair=True"):
        validate_layer(towns([BOWTIE]), s)


def test_repair_applies_make_valid_and_reports_how_many(small_twin):
    report = small_twin.add_layer(
        "fields", towns([BOWTIE, BOWTIE, Point(69, 52).buffer(0.01)]),
        schema=LayerSchema("fields", ("Polygon", "MultiPolygon")), repair=True,
    )
    assert report.repaired == 2
    assert report.repaired_ids == ("t0", "t1")
    assert "repaired 2" in str(report)
    assert small_twin["fields"].is_valid.all()
    assert set(small_twin["fields"].geom_type) <= {"Polygon", "MultiPolygon"}


def test_empty_geometry_is_refused():
    s = LayerSchema("w", ("Point",))
    with pytest.raises(EmptyGeometry, match=r"'w'.*'t1'.*empty"):
        validate_layer(towns([Point(69, 52), Point()]), s)


def test_missing_geometry_is_refused():
    s = LayerSchema("w", ("Point",))
    g = towns([Point(69, 52), None])
    with pytest.raises(EmptyGeometry, match="'t1'"):
        validate_layer(g, s)


def test_wrong_geometry_type_names_what_was_expected():
    s = LayerSchema("w", ("Point",))
    with pytest.raises(GeometryTypeError, match=r"'t0'.*LineString.*only Point"):
        validate_layer(towns([LineString([(69, 52), (70, 52)])]), s)


def test_missing_required_column_lists_what_is_needed(small_twin):
    sites = small_twin["project_sites"].drop(columns=["sector"])
    with pytest.raises(MissingColumn, match=r"'project_sites'.*'sector'"):
        small_twin.add_layer("project_sites", sites)


def test_optional_columns_may_be_absent_but_not_of_another_kind(small_twin):
    # what analyses only read where present (figures, kinds, centres) is not demanded...
    sites = small_twin["project_sites"].drop(columns=["investment_kzt", "status"])
    small_twin.add_layer("project_sites", sites)
    d = small_twin["districts"][["id", "name", "source", "synthetic", "geometry"]]
    small_twin.add_layer("districts", d)
    # ...but a column that is there must hold its kind
    with pytest.raises(SchemaError, match=r"'area_km2' should hold float.*twin import"):
        small_twin.add_layer("districts", d.assign(area_km2="large"))


def test_provenance_columns_are_always_required():
    g = towns([Point(69, 52)]).drop(columns=["synthetic"])
    with pytest.raises(MissingColumn, match="'synthetic'"):
        validate_layer(g, LayerSchema("w", ("Point",)))


def test_unknown_layer_names_what_exists(small_twin):
    with pytest.raises(LayerNotFound, match=r"no layer 'parcel'.*parcels"):
        small_twin["parcel"]
    # A LayerNotFound is still a KeyError for callers that catch built-ins.
    with pytest.raises(KeyError):
        small_twin.layer("nope")


def test_duplicate_ids_are_refused():
    g = towns([Point(69, 52), Point(69.1, 52)])
    g["id"] = ["a", "a"]
    with pytest.raises(twin.SchemaError, match="duplicate"):
        validate_layer(g, LayerSchema("w", ("Point",)))


def test_every_error_is_a_twin_error_and_a_builtin():
    for cls, builtin in [(LayerNotFound, KeyError), (InvalidGeometry, ValueError),
                         (twin.CRSError, ValueError), (GeometryTypeError, TypeError),
                         (twin.TwinFileError, OSError)]:
        assert issubclass(cls, TwinError) and issubclass(cls, builtin)


def test_projected_input_is_stored_as_lonlat(small_twin):
    metric = small_twin.metric("settlements")
    g = towns(list(metric.geometry), crs=small_twin.analysis_crs)
    small_twin.add_layer("wells", g)
    stored = small_twin["wells"]
    assert stored.crs.to_epsg() == 4326
    np.testing.assert_allclose(
        stored.geometry.x, small_twin["settlements"].geometry.x, atol=1e-9
    )
