"""BISON's nine summaries, run by DuckDB over hand-made annotated records."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from airflow_provider_bio.core.bison_summaries import SUMMARY_COLUMNS, summary_query

INVASIVE = "invasive (category D2)"
NATIVE = "presumed_native"

# (state, state_county, aiannh_name, taxonkey, species, assessment)
ROWS = [
    ("AL", "AL Autauga County", "Acoma Area", 10, "Apis mellifera", INVASIVE),
    ("AL", "AL Autauga County", None, 10, "Apis mellifera", INVASIVE),
    ("AL", "AL Autauga County", None, 20, "Bombus impatiens", NATIVE),
    ("AL", "AL Baldwin County", "Acoma Area", 20, "Bombus impatiens", NATIVE),
    ("AK", "AK Nome Census Area", None, 10, "Apis mellifera", NATIVE),
    (None, None, None, 30, "Outside everything", None),
]
RECORDS = pa.table(
    {
        "census_state": [r[0] for r in ROWS],
        "state_county": [r[1] for r in ROWS],
        "aiannh_name": [r[2] for r in ROWS],
        "taxonkey": [r[3] for r in ROWS],
        "species": [r[4] for r in ROWS],
        "taxonkey_species": [f"{r[3]} {r[4]}" for r in ROWS],
        "riis_assessment": [r[5] for r in ROWS],
    }
)


def run(name: str) -> list[tuple]:
    connection = duckdb.connect()
    connection.register("annotated", RECORDS)
    relation = connection.execute(summary_query(name, "annotated"))
    assert [column[0] for column in relation.description] == list(SUMMARY_COLUMNS[name])
    return relation.fetchall()


def test_there_are_nine_summaries_with_bisons_names() -> None:
    assert sorted(SUMMARY_COLUMNS) == sorted(
        f"{kind}_{table}"
        for kind in ("state", "county", "aiannh")
        for table in ("counts", "x_species_list", "x_riis_counts")
    )


def test_state_counts_count_occurrences_and_distinct_taxa_and_leave_out_records_in_no_state() -> None:
    assert run("state_counts") == [("AK", 1, 1), ("AL", 4, 2)]


def test_county_counts_are_keyed_by_state_and_county() -> None:
    assert run("county_counts") == [
        ("AK Nome Census Area", 1, 1),
        ("AL Autauga County", 3, 2),
        ("AL Baldwin County", 1, 1),
    ]


def test_aiannh_counts() -> None:
    assert run("aiannh_counts") == [("Acoma Area", 2, 2)]


def test_species_lists_carry_the_riis_status_of_each_region() -> None:
    assert run("state_x_species_list") == [
        ("AK", "10 Apis mellifera", 10, "Apis mellifera", NATIVE, 1),
        ("AL", "10 Apis mellifera", 10, "Apis mellifera", INVASIVE, 2),
        ("AL", "20 Bombus impatiens", 20, "Bombus impatiens", NATIVE, 2),
    ]
    assert run("aiannh_x_species_list") == [
        ("Acoma Area", "10 Apis mellifera", 10, "Apis mellifera", INVASIVE, 1),
        ("Acoma Area", "20 Bombus impatiens", 20, "Bombus impatiens", NATIVE, 1),
    ]


def test_riis_counts_per_region_and_status() -> None:
    assert run("state_x_riis_counts") == [("AK", NATIVE, 1, 1), ("AL", INVASIVE, 2, 1), ("AL", NATIVE, 2, 1)]
    assert run("county_x_riis_counts") == [
        ("AK Nome Census Area", NATIVE, 1, 1),
        ("AL Autauga County", INVASIVE, 2, 1),
        ("AL Autauga County", NATIVE, 1, 1),
        ("AL Baldwin County", NATIVE, 1, 1),
    ]


def test_an_unknown_summary_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        summary_query("country_counts", "annotated")
