"""BISON's point-in-polygon and RIIS annotation, against hand-placed points and polygons."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import shapely

from airflow_provider_bio.core.bison_annotate import PolygonLayer, annotate, riis_regions


def layer(rows: list[tuple[str, ...]], names: tuple[str, ...]) -> PolygonLayer:
    """A layer from (attribute..., box) rows; boxes are (x0, y0, x1, y1)."""
    table = pa.table(
        {
            **{name: [row[i] for row in rows] for i, name in enumerate(names)},
            "geometry": [shapely.to_wkb(shapely.box(*row[-1])) for row in rows],
        }
    )
    return PolygonLayer.from_table(table, order_by="GEOID")


# Two counties of one state side by side, listed out of GEOID order; an Alaska and a Hawaii county.
COUNTIES = layer(
    [
        ("02", "Baldwin County", "01003", (1, 0, 2, 1)),
        ("01", "Autauga County", "01001", (0, 0, 1, 1)),
        ("AK", "Nome Census Area", "02180", (-170, 60, -160, 70)),
        ("HI", "Maui County", "15009", (-157, 20, -155, 21)),
    ],
    ("STUSPS", "NAMELSAD", "GEOID"),
)
# Two overlapping areas: their overlap belongs to the lower GEOID.
AIANNH = layer(
    [("Zuni Area", "4420", (0.2, 0.2, 0.8, 0.8)), ("Acoma Area", "0010", (0.5, 0.5, 1.5, 0.9))],
    ("NAMELSAD", "GEOID"),
)


def locate(layer: PolygonLayer, points: list[tuple[float, float]], name: str) -> list[str | None]:
    x = np.array([p[0] for p in points], dtype=np.float64)
    y = np.array([p[1] for p in points], dtype=np.float64)
    return layer.column(name, layer.locate(x, y)).to_pylist()


def test_each_point_gets_the_polygon_it_is_in_and_none_outside_every_polygon() -> None:
    points = [(0.5, 0.5), (1.5, 0.5), (-165, 65), (-156, 20.5), (5, 5), (-1, 0.5)]
    assert locate(COUNTIES, points, "NAMELSAD") == [
        "Autauga County",
        "Baldwin County",
        "Nome Census Area",
        "Maui County",
        None,
        None,
    ]


def test_a_point_on_a_shared_boundary_goes_to_the_lower_geoid_whatever_the_layers_order() -> None:
    reversed_counties = layer(
        [("01", "Autauga County", "01001", (0, 0, 1, 1)), ("02", "Baldwin County", "01003", (1, 0, 2, 1))][::-1],
        ("STUSPS", "NAMELSAD", "GEOID"),
    )
    points = [(1.0, 0.5), (1.0, 0.0), (1.0, 1.0)]
    assert locate(COUNTIES, points, "GEOID") == ["01001", "01001", "01001"]
    assert locate(reversed_counties, points, "GEOID") == ["01001", "01001", "01001"]


def test_a_point_on_an_outer_edge_or_corner_is_inside() -> None:
    assert locate(COUNTIES, [(0.0, 0.0), (2.0, 1.0), (0.0, 0.3)], "GEOID") == ["01001", "01003", "01001"]


def test_overlapping_areas_give_their_overlap_to_the_lower_geoid() -> None:
    points = [(0.6, 0.6), (0.3, 0.3), (1.2, 0.6), (0.1, 0.1)]
    assert locate(AIANNH, points, "NAMELSAD") == ["Acoma Area", "Zuni Area", "Acoma Area", None]


def test_a_layer_without_the_ordering_column_is_refused_by_name() -> None:
    table = pa.table({"NAME": ["x"], "geometry": [shapely.to_wkb(shapely.box(0, 0, 1, 1))]})
    with pytest.raises(ValueError, match="layer has no 'GEOID' column; it has NAME, geometry"):
        PolygonLayer.from_table(table, order_by="GEOID")


def test_a_layer_of_points_is_refused() -> None:
    table = pa.table({"GEOID": ["1"], "geometry": [shapely.to_wkb(shapely.Point(0, 0))]})
    with pytest.raises(ValueError, match=r"polygons or multipolygons; found type ids \[0\]"):
        PolygonLayer.from_table(table, order_by="GEOID")


def test_riis_regions_are_ak_and_hi_by_name_l48_for_other_states_and_null_for_none() -> None:
    states = pa.array(["AK", "HI", "CA", None, "PR"])
    assert riis_regions(states).to_pylist() == ["AK", "HI", "L48", None, "L48"]


def test_annotate_adds_census_aiannh_and_riis_columns() -> None:
    records = pa.table(
        {
            "gbifid": [1, 2, 3, 4, 5, 6],
            "taxonkey": [100, 100, 100, 200, 100, 300],
            "decimallongitude": [0.6, 1.5, -165.0, -156.0, 9.0, 1.0],
            "decimallatitude": [0.6, 0.5, 65.0, 20.5, 9.0, 0.2],
        }
    )
    riis = {
        (100, "L48"): ("riis-1", "invasive (category D2)"),
        (100, "HI"): ("riis-2", "established (category C3)"),
        (200, "HI"): ("riis-3", "widespread invasive (category E)"),
    }
    annotated = annotate(records, COUNTIES, AIANNH, riis).to_pydict()
    assert annotated["gbifid"] == [1, 2, 3, 4, 5, 6]
    assert annotated["census_state"] == ["01", "02", "AK", "HI", None, "01"]
    assert annotated["census_county"] == [
        "Autauga County",
        "Baldwin County",
        "Nome Census Area",
        "Maui County",
        None,
        "Autauga County",
    ]
    assert annotated["state_county"] == [
        "01 Autauga County",
        "02 Baldwin County",
        "AK Nome Census Area",
        "HI Maui County",
        None,
        "01 Autauga County",
    ]
    # (1.5, 0.5) is the Acoma area's corner: on its edge, so in it.
    assert annotated["aiannh_name"] == ["Acoma Area", "Acoma Area", None, None, None, None]
    assert annotated["aiannh_geoid"] == ["0010", "0010", None, None, None, None]
    assert annotated["riis_region"] == ["L48", "L48", "AK", "HI", None, "L48"]
    assert annotated["riis_occurrence_id"] == ["riis-1", "riis-1", None, "riis-3", None, None]
    assert annotated["riis_assessment"] == [
        "invasive (category D2)",
        "invasive (category D2)",
        "presumed_native",
        "widespread invasive (category E)",
        None,
        "presumed_native",
    ]
