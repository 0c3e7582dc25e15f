"""BISON's subset filter: which GBIF records it keeps, and the SQL each engine receives."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from airflow_provider_bio.core.bison_subset import athena_snapshot_ddl, athena_subset_ctas, subset_select

KEPT_WHERE = (
    "decimallatitude IS NOT NULL AND decimallongitude IS NOT NULL AND countrycode = 'US' "
    "AND occurrencestatus = 'PRESENT' "
    "AND taxonrank IN ('SPECIES', 'SUBSPECIES', 'VARIETY', 'FORM', 'INFRASPECIFIC_NAME', 'INFRASUBSPECIFIC_NAME') "
    "AND basisofrecord IN ('HUMAN_OBSERVATION', 'OBSERVATION', 'OCCURRENCE', 'PRESERVED_SPECIMEN')"
)
COLUMNS = (
    "gbifid, datasetkey, species, taxonrank, scientificname, countrycode, stateprovince, occurrencestatus, "
    "publishingorgkey, day, month, year, taxonkey, specieskey, basisofrecord, decimallongitude, decimallatitude"
)


def record(gbifid: int, **changes: object) -> dict[str, object]:
    """A record the subset keeps, with ``changes`` applied."""
    kept = {
        "gbifid": gbifid,
        "datasetkey": "d1",
        "species": "Apis mellifera",
        "taxonrank": "SPECIES",
        "scientificname": "Apis mellifera L.",
        "countrycode": "US",
        "stateprovince": "Alabama",
        "occurrencestatus": "PRESENT",
        "publishingorgkey": "p1",
        "day": 1,
        "month": 2,
        "year": 2024,
        "taxonkey": 1341976,
        "specieskey": 1341976,
        "basisofrecord": "HUMAN_OBSERVATION",
        "decimallongitude": -86.5,
        "decimallatitude": 32.5,
        "eventdate": None,
    }
    return kept | changes


RECORDS = [
    record(1),
    record(2, taxonrank="VARIETY", basisofrecord="PRESERVED_SPECIMEN"),
    record(3, taxonrank="INFRASUBSPECIFIC_NAME", basisofrecord="OCCURRENCE"),
    record(4, taxonrank="GENUS"),
    record(5, basisofrecord="FOSSIL_SPECIMEN"),
    record(6, basisofrecord="MATERIAL_CITATION"),
    record(7, occurrencestatus="ABSENT"),
    record(8, countrycode="CA"),
    record(9, decimallatitude=None),
    record(10, decimallongitude=None),
    record(11, countrycode=None),
]


def test_the_subset_keeps_us_present_records_with_coordinates_at_species_rank_or_below() -> None:
    connection = duckdb.connect()
    connection.register("snapshot", pa.Table.from_pylist(RECORDS))
    rows = connection.execute(subset_select("snapshot")).fetchall()
    assert [row[0] for row in rows] == [1, 2, 3]
    assert rows[0][-1] == "1341976 Apis mellifera"


def test_the_subset_has_bisons_17_columns_then_taxonkey_species() -> None:
    assert subset_select("snapshot") == (
        f"SELECT {COLUMNS}, CAST(taxonkey AS varchar) || ' ' || species AS taxonkey_species "
        f"FROM snapshot WHERE {KEPT_WHERE}"
    )


def test_athena_reads_the_snapshot_through_a_ddl_table_and_writes_parquet_with_the_same_filter() -> None:
    assert athena_snapshot_ddl("bison.gbif_2024_02_01", "s3://gbif/occurrence/2024-02-01/occurrence.parquet/") == (
        "CREATE EXTERNAL TABLE IF NOT EXISTS bison.gbif_2024_02_01 (`gbifid` bigint, `datasetkey` string, "
        "`species` string, `taxonrank` string, `scientificname` string, `countrycode` string, "
        "`stateprovince` string, `occurrencestatus` string, `publishingorgkey` string, `day` int, `month` int, "
        "`year` int, `taxonkey` int, `specieskey` int, `basisofrecord` string, `decimallongitude` double, "
        "`decimallatitude` double) STORED AS PARQUET "
        "LOCATION 's3://gbif/occurrence/2024-02-01/occurrence.parquet/'"
    )
    assert athena_subset_ctas("bison.subset_2024_02_01", "bison.gbif_2024_02_01", "s3://out/2024-02-01/subset/") == (
        "CREATE TABLE bison.subset_2024_02_01 WITH (format = 'PARQUET', write_compression = 'SNAPPY', "
        "external_location = 's3://out/2024-02-01/subset/') AS "
        f"SELECT {COLUMNS}, CAST(taxonkey AS varchar) || ' ' || species AS taxonkey_species "
        f"FROM bison.gbif_2024_02_01 WHERE {KEPT_WHERE}"
    )


def test_quotes_in_a_location_are_escaped() -> None:
    assert athena_snapshot_ddl("t", "s3://b/it's/").endswith("LOCATION 's3://b/it''s/'")
