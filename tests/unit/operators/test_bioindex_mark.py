"""SetBioIndexCompressedOperator sets a flag only when the bucket serves what the flag promises."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import boto3
import pytest
from moto import mock_aws

from airflow_provider_bio.hooks.bioindex import BioIndexHook
from airflow_provider_bio.operators.bioindex import SetBioIndexCompressedOperator
from tests.support.airflow_context import make_context

BUCKET = "bio-index-data"
INDEX = [{"index": "genes", "prefix": "genes/"}]


@pytest.fixture
def world(tmp_path, monkeypatch):
    database = tmp_path / "bioindex.sqlite"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE __Indexes (name TEXT, prefix TEXT, compressed BOOLEAN)")
        db.execute("INSERT INTO __Indexes VALUES ('genes', 'genes/', 0)")
    monkeypatch.setenv("AIRFLOW_CONN_BIOINDEX_TEST", json.dumps({"conn_type": "sqlite", "host": str(database)}))
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-west-2")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        yield {"s3": s3, "database": database}


def flag(database) -> int:
    with sqlite3.connect(database) as db:
        return db.execute("SELECT compressed FROM __Indexes").fetchone()[0]


def mark(compressed: bool, **kwargs: Any) -> list[str]:
    arguments = {"indexes": INDEX, "bioindex_conn_id": "bioindex_test"} | kwargs
    operator = SetBioIndexCompressedOperator(
        task_id="mark", compressed=compressed, bucket=BUCKET, aws_conn_id=None, region_name="us-west-2", **arguments
    )
    return operator.execute(make_context())


def put(s3, *keys: str) -> None:
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")


def test_an_index_whose_pairs_are_gone_is_not_marked_compressed(world):
    put(world["s3"], "genes/a.json", "genes/b.json", "genes/a.json.gz", "genes/a.json.gz.gzi")
    with pytest.raises(RuntimeError, match=r"genes is not marked compressed: .* genes/b\.json\.gz"):
        mark(True)
    assert flag(world["database"]) == 0


def test_an_index_with_no_pair_at_all_is_not_marked_compressed(world):
    with pytest.raises(RuntimeError, match="not marked compressed"):
        mark(True)
    assert flag(world["database"]) == 0


def test_an_index_served_by_its_pairs_is_marked_compressed(world):
    put(world["s3"], "genes/a.json.gz", "genes/a.json.gz.gzi")  # originals already deleted: a retry
    assert mark(True) == ["genes"] and flag(world["database"]) == 1


def test_an_index_whose_originals_are_not_back_is_not_marked_uncompressed(world):
    with sqlite3.connect(world["database"]) as db:
        db.execute("UPDATE __Indexes SET compressed = 1")
    put(world["s3"], "genes/a.json.gz", "genes/a.json.gz.gzi", "genes/b.json.gz", "genes/b.json")
    with pytest.raises(RuntimeError, match=r"not marked uncompressed: .* genes/a\.json"):
        mark(False)
    assert flag(world["database"]) == 1
    put(world["s3"], "genes/a.json")
    assert mark(False) == ["genes"] and flag(world["database"]) == 0


def test_marking_compressed_names_exactly_the_pair_files_the_bucket_lacks(world):
    put(world["s3"], "genes/a.json", "genes/a.json.gz", "genes/a.json.gz.gzi", "genes/b.json")
    with pytest.raises(RuntimeError) as raised:
        mark(True)
    assert str(raised.value) == (
        "genes is not marked compressed: s3://bio-index-data lacks 2 of the files it would be read from, "
        "e.g. genes/b.json.gz, genes/b.json.gz.gzi; run the steps before this one again"
    )


def test_an_index_whose_originals_sit_beside_their_pairs_is_marked_compressed(world):
    put(world["s3"], "genes/a.json", "genes/a.json.gz", "genes/a.json.gz.gzi")  # before the originals are deleted
    assert mark(True) == ["genes"] and flag(world["database"]) == 1


def test_marking_compressed_looks_only_under_the_indexs_prefix(world):
    put(world["s3"], "genes/a.json", "genes/a.json.gz", "genes/a.json.gz.gzi", "variants/v.json")
    assert mark(True) == ["genes"] and flag(world["database"]) == 1


def test_marking_uncompressed_names_exactly_the_originals_the_bucket_lacks(world):
    put(world["s3"], "genes/a.json.gz", "genes/a.json.gz.gzi", "genes/b.json.gz", "genes/b.json")
    with pytest.raises(RuntimeError) as raised:
        mark(False)
    assert str(raised.value) == (
        "genes is not marked uncompressed: s3://bio-index-data lacks 1 of the files it would be read from, "
        "e.g. genes/a.json; run the steps before this one again"
    )


def test_marking_compressed_leaves_out_the_files_of_nested_indexes(world):
    """genes/tissue/ is another index's: its uncompressed file does not stop genes' flag."""
    put(world["s3"], "genes/a.json", "genes/a.json.gz", "genes/a.json.gz.gzi", "genes/tissue/t.json")
    assert mark(True, indexes=[{**INDEX[0], "exclude": ["genes/tissue/"]}]) == ["genes"]
    assert flag(world["database"]) == 1


def test_the_refusal_names_five_of_the_missing_files_and_counts_them_all(world):
    put(world["s3"], "genes/a.json", "genes/b.json", "genes/c.json", "genes/d.json")
    with pytest.raises(RuntimeError) as raised:
        mark(True)
    assert str(raised.value) == (
        "genes is not marked compressed: s3://bio-index-data lacks 8 of the files it would be read from, e.g. "
        "genes/a.json.gz, genes/a.json.gz.gzi, genes/b.json.gz, genes/b.json.gz.gzi, genes/c.json.gz; "
        "run the steps before this one again"
    )


def test_marking_without_a_connection_id_uses_the_bioindex_default_connection(world, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_BIOINDEX_DEFAULT", json.dumps({"conn_type": "sqlite", "host": str(world["database"])})
    )
    asked: list[str] = []
    get_connection = BioIndexHook.get_connection

    def recording(conn_id: str) -> Any:
        asked.append(conn_id)
        return get_connection(conn_id)

    monkeypatch.setattr(BioIndexHook, "get_connection", staticmethod(recording))
    put(world["s3"], "genes/a.json.gz", "genes/a.json.gz.gzi")
    operator = SetBioIndexCompressedOperator(
        task_id="mark", indexes=INDEX, compressed=True, bucket=BUCKET, aws_conn_id=None, region_name="us-west-2"
    )
    assert operator.execute(make_context()) == ["genes"]
    assert asked == ["bioindex_default"] and flag(world["database"]) == 1
