"""A small hand-made BISON world on a moto server: a two-file snapshot, box-shaped layers, a RIIS list.

Every record is placed by hand, so the nine summaries can be worked out by hand (see
``tests/dags/test_bison_monthly.py``).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

SNAPSHOT = "2024-02-01"
GBIF_URI = "s3://gbif-mirror/occurrence/{snapshot}/occurrence.parquet/"
OUTPUT_URI = "s3://bison-test/monthly"
APIS, LANTANA = 1341976, 2925303

COUNTIES = [
    ("AL", "Autauga County", "01001", (0, 0, 1, 1)),
    ("AL", "Baldwin County", "01003", (1, 0, 2, 1)),
    ("AK", "Nome Census Area", "02180", (-170, 60, -160, 70)),
    ("HI", "Maui County", "15009", (-157, 20, -155, 21)),
]
AIANNH = [("Acoma Area", "0010", (0.5, 0, 1.5, 0.5))]

RIIS_CSV = (
    "locality,scientificName,scientificNameAuthorship,kingdom,taxonRank,establishmentMeans,"
    "degreeOfEstablishment,occurrenceID,GBIF_taxonKey\n"
    "L48,Apis mellifera,Linnaeus,Animalia,species,introduced,invasive (category D2),riis-1,1341976\n"
    "HI,Lantana camara,L.,Plantae,species,introduced,widespread invasive (category E),riis-2,2925303\n"
    "AK,Apis mellifera,Linnaeus,Animalia,species,introduced,established (category C3),riis-3,1341976\n"
    "L48,Lantana strigosa,Gray,Plantae,species,introduced,invasive (category D2),riis-4,\n"
    "L48,Nomen ignotum,,Plantae,species,introduced,invasive,riis-5,\n"
)
#: GBIF's answers: the synonym resolves to Lantana camara's accepted key; the unknown name matches nothing.
MATCHES: dict[tuple[str, str], dict[str, Any]] = {
    ("Apis mellifera", "Animalia"): {"usageKey": APIS, "status": "ACCEPTED", "matchType": "EXACT"},
    ("Lantana camara", "Plantae"): {"usageKey": LANTANA, "status": "ACCEPTED", "matchType": "EXACT"},
    ("Lantana strigosa", "Plantae"): {
        "usageKey": 999,
        "acceptedUsageKey": LANTANA,
        "status": "SYNONYM",
        "matchType": "EXACT",
    },
}


def record(gbifid: int, x: float | None, y: float | None, taxonkey: int, species: str, **changes: Any) -> dict:
    """A GBIF-shaped record the subset keeps, with ``changes`` applied (columns beyond BISON's too)."""
    kept = {
        "gbifid": gbifid,
        "datasetkey": "d1",
        "species": species,
        "taxonrank": "SPECIES",
        "scientificname": f"{species} L.",
        "countrycode": "US",
        "stateprovince": "somewhere",
        "occurrencestatus": "PRESENT",
        "publishingorgkey": "p1",
        "day": 1,
        "month": 2,
        "year": 2024,
        "taxonkey": taxonkey,
        "specieskey": taxonkey,
        "basisofrecord": "HUMAN_OBSERVATION",
        "decimallongitude": x,
        "decimallatitude": y,
        "recordedby": ["A. Collector", "B. Collector"],
        "eventdate": None,
    }
    return kept | changes


QUERCUS = "Quercus alba"
#: Kept by the subset: 8; in no county: 1 (gbifid 8); in the AIANNH area: 2 (gbifids 2 and 6).
SNAPSHOT_FILES = [
    [
        record(1, 0.25, 0.75, APIS, "Apis mellifera"),
        record(2, 1.0, 0.25, APIS, "Apis mellifera"),  # on the Autauga/Baldwin boundary: Autauga (01001)
        record(3, 1.5, 0.75, LANTANA, "Lantana camara", basisofrecord="PRESERVED_SPECIMEN"),
        record(4, -156.0, 20.5, LANTANA, "Lantana camara", basisofrecord="OCCURRENCE"),
        record(5, -165.0, 65.0, APIS, "Apis mellifera", basisofrecord="OBSERVATION"),
        record(9, None, 0.5, APIS, "Apis mellifera"),
        record(10, 0.5, 0.5, APIS, "Apis mellifera", occurrencestatus="ABSENT"),
        record(11, 0.5, 0.5, 1000, "Apis", taxonrank="GENUS"),
    ],
    [
        record(6, 1.25, 0.25, 7000, QUERCUS, taxonrank="SUBSPECIES"),
        record(7, 0.75, 0.75, 8000, QUERCUS, taxonrank="VARIETY"),
        record(8, 50.0, 50.0, APIS, "Apis mellifera"),  # in no county
        record(12, 0.5, 0.5, APIS, "Apis mellifera", basisofrecord="FOSSIL_SPECIMEN"),
        record(13, 0.5, 0.5, APIS, "Apis mellifera", countrycode="CA"),
        record(14, 0.5, None, APIS, "Apis mellifera"),
    ],
]


def _layer(rows: list[tuple], names: tuple[str, ...]) -> bytes:
    table = pa.table(
        {
            **{name: [row[i] for row in rows] for i, name in enumerate(names)},
            "geometry": [shapely.to_wkb(shapely.box(*row[-1])) for row in rows],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _parquet(rows: list[dict]) -> bytes:
    schema = pa.Table.from_pylist(SNAPSHOT_FILES[0]).schema.set(
        pa.Table.from_pylist(SNAPSHOT_FILES[0]).schema.get_field_index("eventdate"),
        pa.field("eventdate", pa.timestamp("ms")),
    )
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), buffer)
    return buffer.getvalue()


def provision(endpoint_url: str, config_path: Path) -> dict[str, str]:
    """Create the world on the moto server at ``endpoint_url``; write the DAG's config; return it."""
    s3 = boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1")
    for bucket in ("gbif-mirror", "bison-test"):
        s3.create_bucket(Bucket=bucket)
    prefix = f"occurrence/{SNAPSHOT}/occurrence.parquet/"
    for number, rows in enumerate(SNAPSHOT_FILES):
        s3.put_object(Bucket="gbif-mirror", Key=f"{prefix}{number:06d}", Body=_parquet(rows))
    s3.put_object(Bucket="bison-test", Key="reference/riis.csv", Body=RIIS_CSV.encode())
    s3.put_object(
        Bucket="bison-test",
        Key="reference/counties.parquet",
        Body=_layer(COUNTIES, ("STUSPS", "NAMELSAD", "GEOID")),
    )
    s3.put_object(Bucket="bison-test", Key="reference/aiannh.parquet", Body=_layer(AIANNH, ("NAMELSAD", "GEOID")))
    config = {
        "output_uri": OUTPUT_URI,
        "riis_uri": "s3://bison-test/reference/riis.csv",
        "counties_uri": "s3://bison-test/reference/counties.parquet",
        "aiannh_uri": "s3://bison-test/reference/aiannh.parquet",
        "aws_conn_id": None,
        "gbif_conn_id": "gbif_default",
    }
    config_path.write_text(json.dumps(config))
    return config
