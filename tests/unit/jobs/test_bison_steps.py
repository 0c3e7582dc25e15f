"""BISON's steps over parquet files: a snapshot subset, annotated and summarised, checked by hand."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq
import shapely

from airflow_provider_bio.core.bison_annotate import PolygonLayer
from airflow_provider_bio.jobs import bison_steps
from tests.support import bison


def record(gbifid: int, x: float | None, y: float | None, taxonkey: int = 10, **changes: object) -> dict[str, object]:
    """A record the subset keeps, of taxon ``taxonkey``, with ``changes`` applied."""
    return bison.record(gbifid, x, y, taxonkey, f"Species {taxonkey}", **changes)


def polygons(rows: list[tuple[str, ...]], names: tuple[str, ...]) -> PolygonLayer:
    table = pa.table(
        {
            **{name: [row[i] for row in rows] for i, name in enumerate(names)},
            "geometry": [shapely.to_wkb(shapely.box(*row[-1])) for row in rows],
        }
    )
    return PolygonLayer.from_table(table, order_by="GEOID")


COUNTIES = polygons(
    [("AL", "Autauga County", "01001", (0, 0, 1, 1)), ("HI", "Maui County", "15009", (5, 5, 6, 6))],
    ("STUSPS", "NAMELSAD", "GEOID"),
)
AIANNH = polygons([("Acoma Area", "0010", (0, 0, 0.5, 0.5))], ("NAMELSAD", "GEOID"))


def test_a_snapshot_is_subset_annotated_and_summarised(tmp_path: Path) -> None:
    filesystem = pa_fs.LocalFileSystem()
    snapshot = tmp_path / "occurrence.parquet"
    snapshot.mkdir()
    pq.write_table(
        pa.Table.from_pylist(
            [record(1, 0.2, 0.2), record(2, 0.7, 0.7), record(3, 5.5, 5.5, taxonkey=20), record(4, None, 0.5)]
        ),
        snapshot / "000000",
    )
    pq.write_table(
        pa.Table.from_pylist(
            [record(5, 9.0, 9.0), record(6, 0.6, 0.6, occurrencestatus="ABSENT"), record(7, 0.6, 0.6, taxonkey=20)]
        ),
        snapshot / "000001",
    )
    subset, annotated, summary, output = (tmp_path / name for name in ("subset", "annotated", "summary", "output"))
    for folder in (annotated, summary, output):
        folder.mkdir()

    assert bison_steps.subset(filesystem, str(snapshot), str(subset)) == 5
    files = sorted(str(path) for path in subset.iterdir())
    riis = {(20, "L48"): ("riis-1", "invasive (category D2)")}
    counts = bison_steps.annotate_files(filesystem, files, str(annotated), COUNTIES, AIANNH, riis)
    assert counts == {"records": 5, "in_no_county": 1, "in_aiannh": 1}
    rows = bison_steps.aggregate(filesystem, str(annotated), str(summary), str(output))

    assert (output / "state_counts.csv").read_text().splitlines() == [
        '"census_state","occ_count","species_count"',
        '"AL",3,2',
        '"HI",1,1',
    ]
    assert pq.read_table(summary / "state_x_riis_counts.parquet").to_pylist() == [
        {"census_state": "AL", "riis_assessment": "invasive (category D2)", "occ_count": 1, "species_count": 1},
        {"census_state": "AL", "riis_assessment": "presumed_native", "occ_count": 2, "species_count": 1},
        {"census_state": "HI", "riis_assessment": "presumed_native", "occ_count": 1, "species_count": 1},
    ]
    assert pq.read_table(summary / "aiannh_counts.parquet").to_pylist() == [
        {"aiannh_name": "Acoma Area", "occ_count": 1, "species_count": 1}
    ]
    assert rows["county_x_species_list"] == 3
