"""The RIIS list: reading its CSV, which names still need GBIF, and the lookup the annotation joins on."""

from __future__ import annotations

import pytest

from airflow_provider_bio.core.bison_riis import RiisRecord, match_taxonkey, names_to_match, read_riis, riis_lookup

CSV = (
    "locality,scientificName,scientificNameAuthorship,kingdom,taxonRank,establishmentMeans,"
    "degreeOfEstablishment,occurrenceID,GBIF_taxonKey\n"
    "L48,Apis mellifera,Linnaeus,Animalia,species,introduced,invasive (category D2),riis-0002,1341976\n"
    'HI,"Lantana camara",L.,Plantae,species,introduced,"widespread invasive (category E)",riis-0001,2925303\n'
)


def test_read_riis_keeps_the_columns_the_join_needs() -> None:
    assert read_riis(CSV) == [
        RiisRecord("riis-0002", "L48", "Animalia", "Apis mellifera", "invasive (category D2)"),
        RiisRecord("riis-0001", "HI", "Plantae", "Lantana camara", "widespread invasive (category E)"),
    ]


def test_a_csv_without_a_needed_column_is_refused_naming_it() -> None:
    text = CSV.replace("occurrenceID", "occurrence_id").replace("kingdom", "regnum")
    with pytest.raises(ValueError, match="lacks the column\\(s\\) occurrenceID, kingdom"):
        read_riis(text)


def test_an_unknown_locality_is_refused_naming_its_line() -> None:
    text = CSV + "PR,Felis catus,L.,Animalia,species,introduced,invasive,riis-0003,1\n"
    with pytest.raises(ValueError, match="line 4: locality 'PR' is not one of AK, HI, L48"):
        read_riis(text)


def test_only_names_not_answered_before_are_asked_once_each() -> None:
    records = [*read_riis(CSV), RiisRecord("riis-0009", "AK", "Animalia", "Apis mellifera", "x")]
    assert names_to_match(records, {}) == [("Apis mellifera", "Animalia"), ("Lantana camara", "Plantae")]
    assert names_to_match(records, {("Apis mellifera", "Animalia"): None}) == [("Lantana camara", "Plantae")]


@pytest.mark.parametrize(
    ("answer", "taxonkey"),
    [
        ({"usageKey": 5, "status": "ACCEPTED", "matchType": "EXACT", "acceptedUsageKey": 9}, 5),
        ({"usageKey": 5, "status": "SYNONYM", "matchType": "EXACT", "acceptedUsageKey": 9}, 9),
        ({"usageKey": 5, "status": "DOUBTFUL", "matchType": "FUZZY"}, 5),
        ({"matchType": "NONE", "usageKey": 5}, None),
        ({"matchType": "HIGHERRANK"}, None),
    ],
)
def test_a_match_resolves_to_the_accepted_usage(answer: dict[str, object], taxonkey: int | None) -> None:
    assert match_taxonkey(answer) == taxonkey


def test_the_lookup_is_keyed_by_taxon_and_locality_and_the_lowest_occurrence_id_wins_a_tie() -> None:
    records = [
        RiisRecord("riis-0007", "L48", "Animalia", "Apis mellifera", "invasive (category D2)"),
        RiisRecord("riis-0003", "L48", "Animalia", "Apis mellifica", "established (category C3)"),
        RiisRecord("riis-0005", "HI", "Animalia", "Apis mellifera", "widespread invasive (category E)"),
        RiisRecord("riis-0009", "AK", "Plantae", "Nomen nudum", "invasive"),
    ]
    taxonkeys = {
        ("Apis mellifera", "Animalia"): 1341976,
        ("Apis mellifica", "Animalia"): 1341976,
        ("Nomen nudum", "Plantae"): None,
    }
    assert riis_lookup(records, taxonkeys) == {
        (1341976, "L48"): ("riis-0003", "established (category C3)"),
        (1341976, "HI"): ("riis-0005", "widespread invasive (category E)"),
    }
