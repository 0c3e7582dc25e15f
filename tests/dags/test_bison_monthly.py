"""bison_monthly end to end on a moto server and a GBIF stand-in, checked against summaries worked out by hand."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests

from scripts.gbif_standin import gbif_standin
from scripts.local_aws import FAKE_CREDENTIALS, moto_server
from tests.conftest import REPO
from tests.support import bison

INVASIVE = "invasive (category D2)"
NATIVE = "presumed_native"
CONF = {"snapshot": bison.SNAPSHOT, "gbif_uri": bison.GBIF_URI}


@pytest.fixture
def world(airflow_db: str, tmp_path, monkeypatch) -> Iterator[dict[str, Any]]:
    from airflow.dag_processing.dagbag import DagBag

    with moto_server() as endpoint, gbif_standin(bison.MATCHES) as gbif:
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)  # moto's state is per process, not per server
        for name, value in {
            **FAKE_CREDENTIALS,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AIRFLOW_CONN_GBIF_DEFAULT", gbif.connection_uri)
        config = tmp_path / "bison.json"
        bison.provision(endpoint, config)
        monkeypatch.setenv("BISON_CONFIG", str(config))
        dag = DagBag(dag_folder=str(REPO / "dags" / "bison_monthly.py")).dags["bison_monthly"]
        for task in dag.tasks:  # a failure fails the test at once instead of waiting for a retry
            if task.task_id == "annotate":
                task.partial_kwargs["retries"] = 0
            else:
                task.retries = 0
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        yield {"dag": dag, "s3": s3, "gbif": gbif}


def read_csv(s3: Any, name: str) -> list[list[str]]:
    body = s3.get_object(Bucket="bison-test", Key=f"monthly/{bison.SNAPSHOT}/output/{name}.csv")["Body"].read()
    return list(csv.reader(io.StringIO(body.decode())))


def test_a_run_writes_the_nine_summaries_worked_out_by_hand(world: dict[str, Any]) -> None:
    run = world["dag"].test(run_conf=CONF)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert set(states.values()) == {"success"}, states
    s3 = world["s3"]

    assert read_csv(s3, "state_counts") == [
        ["census_state", "occ_count", "species_count"],
        ["AK", "1", "1"],
        ["AL", "5", "4"],
        ["HI", "1", "1"],
    ]
    assert read_csv(s3, "county_counts") == [
        ["state_county", "occ_count", "species_count"],
        ["AK Nome Census Area", "1", "1"],
        ["AL Autauga County", "3", "2"],
        ["AL Baldwin County", "2", "2"],
        ["HI Maui County", "1", "1"],
    ]
    assert read_csv(s3, "aiannh_counts") == [["aiannh_name", "occ_count", "species_count"], ["Acoma Area", "2", "2"]]
    assert read_csv(s3, "state_x_species_list") == [
        ["census_state", "taxonkey_species", "taxonkey", "species", "riis_assessment", "occ_count"],
        ["AK", "1341976 Apis mellifera", "1341976", "Apis mellifera", "established (category C3)", "1"],
        ["AL", "1341976 Apis mellifera", "1341976", "Apis mellifera", INVASIVE, "2"],
        ["AL", "2925303 Lantana camara", "2925303", "Lantana camara", INVASIVE, "1"],
        ["AL", "7000 Quercus alba", "7000", "Quercus alba", NATIVE, "1"],
        ["AL", "8000 Quercus alba", "8000", "Quercus alba", NATIVE, "1"],
        ["HI", "2925303 Lantana camara", "2925303", "Lantana camara", "widespread invasive (category E)", "1"],
    ]
    assert read_csv(s3, "county_x_species_list")[1:3] == [
        [
            "AK Nome Census Area",
            "1341976 Apis mellifera",
            "1341976",
            "Apis mellifera",
            "established (category C3)",
            "1",
        ],
        ["AL Autauga County", "1341976 Apis mellifera", "1341976", "Apis mellifera", INVASIVE, "2"],
    ]
    assert read_csv(s3, "aiannh_x_species_list") == [
        ["aiannh_name", "taxonkey_species", "taxonkey", "species", "riis_assessment", "occ_count"],
        ["Acoma Area", "1341976 Apis mellifera", "1341976", "Apis mellifera", INVASIVE, "1"],
        ["Acoma Area", "7000 Quercus alba", "7000", "Quercus alba", NATIVE, "1"],
    ]
    assert read_csv(s3, "state_x_riis_counts") == [
        ["census_state", "riis_assessment", "occ_count", "species_count"],
        ["AK", "established (category C3)", "1", "1"],
        ["AL", INVASIVE, "3", "2"],
        ["AL", NATIVE, "2", "2"],
        ["HI", "widespread invasive (category E)", "1", "1"],
    ]
    assert read_csv(s3, "county_x_riis_counts") == [
        ["state_county", "riis_assessment", "occ_count", "species_count"],
        ["AK Nome Census Area", "established (category C3)", "1", "1"],
        ["AL Autauga County", INVASIVE, "2", "1"],
        ["AL Autauga County", NATIVE, "1", "1"],
        ["AL Baldwin County", INVASIVE, "1", "1"],
        ["AL Baldwin County", NATIVE, "1", "1"],
        ["HI Maui County", "widespread invasive (category E)", "1", "1"],
    ]
    assert read_csv(s3, "aiannh_x_riis_counts") == [
        ["aiannh_name", "riis_assessment", "occ_count", "species_count"],
        ["Acoma Area", INVASIVE, "1", "1"],
        ["Acoma Area", NATIVE, "1", "1"],
    ]
    report = json.loads(s3.get_object(Bucket="bison-test", Key=f"monthly/{bison.SNAPSHOT}/report.json")["Body"].read())
    assert (report["kept_by_subset"], report["annotated"], report["in_no_county"], report["in_aiannh"]) == (8, 8, 1, 2)
    assert report["problems"] == []


def test_a_second_month_asks_gbif_only_for_names_it_never_asked(world: dict[str, Any]) -> None:
    world["dag"].test(run_conf=CONF)
    assert sorted(world["gbif"].asked) == sorted(
        [
            ("Apis mellifera", "Animalia"),
            ("Lantana camara", "Plantae"),
            ("Lantana strigosa", "Plantae"),
            ("Nomen ignotum", "Plantae"),
        ]
    )
    assert set(world["gbif"].asked.values()) == {1}
    world["s3"].put_object(
        Bucket="bison-test",
        Key="reference/riis.csv",
        Body=(bison.RIIS_CSV + "L48,Felis catus,L.,Animalia,species,introduced,invasive,riis-6,\n").encode(),
    )
    world["dag"].test(run_conf=CONF)
    assert world["gbif"].asked[("Felis catus", "Animalia")] == 1
    assert sum(world["gbif"].asked.values()) == 5
