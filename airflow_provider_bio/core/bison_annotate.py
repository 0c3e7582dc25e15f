"""BISON's annotation of subset records: the county and AIANNH area each point falls in, then RIIS status.

Point-in-polygon is "intersects": a point on a polygon's edge is in it. A point on a boundary
shared by two polygons gets the polygon whose ``GEOID`` sorts first, every run: polygons are
tried in ``GEOID`` order and a point keeps the first one it is in. Points in no polygon keep
nulls.

Each polygon is prepared once and tested only against the points inside its bounding box,
found by a binary search over the points sorted by longitude; no geometry is built per point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely

#: RIIS localities: Alaska and Hawaii have their own lists, everything else is the lower 48.
RIIS_OWN_REGIONS = ("AK", "HI")
RIIS_MAINLAND = "L48"
PRESUMED_NATIVE = "presumed_native"


@dataclass(frozen=True)
class PolygonLayer:
    """Polygons with their attributes, in the order a shared boundary is decided by.

    :param geometries: shapely polygons or multipolygons (EPSG:4326, like GBIF's coordinates).
    :param attributes: column name -> one value per polygon.
    """

    geometries: np.ndarray
    attributes: Mapping[str, Sequence[str]]

    @classmethod
    def from_table(cls, table: pa.Table, order_by: str, geometry: str = "geometry") -> PolygonLayer:
        """A layer from an Arrow table with a WKB geometry column, ordered by ``order_by``.

        :param table: the layer (e.g. read from GeoParquet).
        :param order_by: the column that decides shared boundaries (lowest first), e.g. ``GEOID``.
        :param geometry: the WKB geometry column.
        :raises ValueError: naming a missing column, or a geometry that is not a polygon.
        """
        for column in (order_by, geometry):
            if column not in table.column_names:
                raise ValueError(f"layer has no {column!r} column; it has {', '.join(table.column_names)}")
        table = table.sort_by(order_by)
        geometries = shapely.from_wkb(table.column(geometry).to_numpy(zero_copy_only=False))
        kinds = set(shapely.get_type_id(geometries).tolist()) - {3, 6}
        if kinds:
            raise ValueError(f"layer geometries must be polygons or multipolygons; found type ids {sorted(kinds)}")
        attributes = {name: table.column(name).to_pylist() for name in table.column_names if name != geometry}
        return cls(geometries, attributes)

    def locate(self, longitude: np.ndarray, latitude: np.ndarray) -> np.ndarray:
        """For each point, the index of the first polygon it is in, or -1.

        :param longitude: the points' x, as float64.
        :param latitude: the points' y, as float64.
        """
        found = np.full(len(longitude), -1, dtype=np.int64)
        order = np.argsort(longitude, kind="stable")
        by_x = longitude[order]
        shapely.prepare(self.geometries)
        for index, (x0, y0, x1, y1) in enumerate(shapely.bounds(self.geometries)):
            start, stop = np.searchsorted(by_x, (x0, x1), side="left")[0], np.searchsorted(by_x, x1, side="right")
            candidates = order[start:stop]
            y = latitude[candidates]
            candidates = candidates[(y >= y0) & (y <= y1)]
            candidates = candidates[found[candidates] < 0]
            if len(candidates):
                inside = shapely.intersects_xy(self.geometries[index], longitude[candidates], latitude[candidates])
                found[candidates[inside]] = index
        return found

    def column(self, name: str, located: np.ndarray) -> pa.Array:
        """Attribute ``name`` of each located polygon, null where a point is in none."""
        values = pa.array(self.attributes[name], type=pa.string())
        return values.take(pa.array(located, mask=located < 0))


def riis_regions(states: pa.Array) -> pa.Array:
    """The RIIS locality of each record: its state when AK or HI, L48 for other states, null for none."""
    own = pc.is_in(states, value_set=pa.array(RIIS_OWN_REGIONS))
    return pc.if_else(own, states, pc.if_else(pc.is_null(states), pa.scalar(None, pa.string()), RIIS_MAINLAND))


def annotate(
    records: pa.Table,
    counties: PolygonLayer,
    aiannh: PolygonLayer,
    riis: Mapping[tuple[int, str], tuple[str, str]],
) -> pa.Table:
    """``records`` with BISON's annotation columns appended.

    :param records: subset rows with ``decimallongitude``, ``decimallatitude`` and ``taxonkey``.
    :param counties: the census county layer (``STUSPS``, ``NAMELSAD``), ordered by ``GEOID``.
    :param aiannh: the AIANNH layer (``NAMELSAD``, ``GEOID``), ordered by ``GEOID``.
    :param riis: (GBIF taxon key, RIIS locality) -> (RIIS occurrence id, degree of establishment).
    :return: the rows with ``census_state``, ``census_county``, ``state_county``, ``aiannh_name``,
        ``aiannh_geoid``, ``riis_region``, ``riis_occurrence_id`` and ``riis_assessment``. A record
        in no county has null region and assessment; a record in a county whose taxon is not
        listed for its region is ``presumed_native``.
    """
    x = records.column("decimallongitude").to_numpy(zero_copy_only=False).astype(np.float64)
    y = records.column("decimallatitude").to_numpy(zero_copy_only=False).astype(np.float64)
    in_county = counties.locate(x, y)
    in_area = aiannh.locate(x, y)
    state = counties.column("STUSPS", in_county)
    county = counties.column("NAMELSAD", in_county)
    region = riis_regions(state)
    occurrence_ids, assessments = _riis_status(records.column("taxonkey"), region, riis)
    columns = {
        "census_state": state,
        "census_county": county,
        "state_county": pc.binary_join_element_wise(state, county, " "),
        "aiannh_name": aiannh.column("NAMELSAD", in_area),
        "aiannh_geoid": aiannh.column("GEOID", in_area),
        "riis_region": region,
        "riis_occurrence_id": occurrence_ids,
        "riis_assessment": assessments,
    }
    for name, values in columns.items():
        records = records.append_column(name, values)
    return records


def _riis_status(
    taxonkeys: pa.ChunkedArray, regions: pa.Array, riis: Mapping[tuple[int, str], tuple[str, str]]
) -> tuple[pa.Array, pa.Array]:
    """RIIS occurrence id and assessment per record, looked up once per distinct (taxon, region)."""
    keys = pc.binary_join_element_wise(pc.cast(taxonkeys, pa.string()).combine_chunks(), regions, "|")
    distinct = pc.unique(keys)
    occurrence_ids: list[str | None] = []
    assessments: list[str | None] = []
    for key in distinct.to_pylist():
        taxonkey, _, region = (key or "").partition("|")
        listed = riis.get((int(taxonkey), region)) if key is not None else None
        occurrence_ids.append(listed[0] if listed else None)
        assessments.append(listed[1] if listed else PRESUMED_NATIVE if key is not None else None)
    position = pc.index_in(keys, value_set=distinct)
    return pa.array(occurrence_ids, pa.string()).take(position), pa.array(assessments, pa.string()).take(position)
