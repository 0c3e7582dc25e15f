"""BioIndexHook: the bio-index's HTTP endpoint or its __Indexes table, chosen by the connection type."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from airflow_provider_bio.hooks.bioindex import BioIndexHook, check_names
from tests.support.http_recorder import recording_server


@pytest.fixture
def sql_index(tmp_path: Path, monkeypatch) -> Path:
    database = tmp_path / "bioindex.sqlite"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE __Indexes (name TEXT, prefix TEXT, compressed BOOLEAN)")
        db.executemany("INSERT INTO __Indexes VALUES (?, ?, 0)", [("genes", "genes/"), ("genes", "genes-v2/")])
    monkeypatch.setenv("AIRFLOW_CONN_BIOINDEX_SQL", json.dumps({"conn_type": "sqlite", "host": str(database)}))
    return database


def flags(database: Path) -> dict[tuple[str, str], int]:
    with sqlite3.connect(database) as db:
        return {(name, prefix): flag for name, prefix, flag in db.execute("SELECT * FROM __Indexes")}


def test_http_posts_to_the_set_compressed_endpoint(monkeypatch) -> None:
    with recording_server(lambda method, path, body: (200, {"ok": True})) as server:
        monkeypatch.setenv("AIRFLOW_CONN_BIOINDEX_HTTP", server.url)
        BioIndexHook("bioindex_http").set_compressed("gene associations", "gene-associations/", True)
    [request] = server.requests
    assert request.method == "POST"
    assert request.path == (
        "/api/bio/bgcompress/set-compressed/gene%20associations?prefix=gene-associations%2F&compressed=true"
    )


def test_http_refusal_is_an_error_with_the_answer(monkeypatch) -> None:
    with recording_server(lambda method, path, body: (404, {"detail": "no such index"})) as server:
        monkeypatch.setenv("AIRFLOW_CONN_BIOINDEX_HTTP", server.url)
        with pytest.raises(RuntimeError, match=r"answered 404.*no such index"):
            BioIndexHook("bioindex_http").set_compressed("genes", "genes/", False)


def test_sql_updates_exactly_the_row_of_name_and_prefix(sql_index: Path) -> None:
    with capture_logs() as logs:
        BioIndexHook("bioindex_sql").set_compressed("genes", "genes-v2/", True)
    assert flags(sql_index) == {("genes", "genes/"): 0, ("genes", "genes-v2/"): 1}
    assert "Bio-index genes (prefix genes-v2/) marked compressed=True" in [entry["event"] for entry in logs]
    BioIndexHook("bioindex_sql").set_compressed("genes", "genes-v2/", True)  # again: no change, no error
    assert flags(sql_index)[("genes", "genes-v2/")] == 1


def test_sql_refuses_an_index_it_does_not_have(sql_index: Path) -> None:
    with pytest.raises(
        RuntimeError, match=r"0 rows for name=.genes. prefix=.gene/. \(expected 1\); check the index name"
    ):
        BioIndexHook("bioindex_sql").set_compressed("genes", "gene/", True)
    assert set(flags(sql_index).values()) == {0}


def test_a_database_error_is_raised_naming_the_database_the_row_and_what_to_do(sql_index: Path) -> None:
    with sqlite3.connect(sql_index) as db:
        db.execute("DROP TABLE __Indexes")
    with pytest.raises(RuntimeError) as raised:
        BioIndexHook("bioindex_sql").set_compressed("genes", "genes/", False)
    assert str(raised.value) == (
        f"the bio-index database (sqlite connection 'bioindex_sql', {sql_index}:None) failed while setting "
        "compressed=False for name='genes' prefix='genes/': OperationalError: no such table: __Indexes. The flag "
        "may or may not have changed; setting it again is safe once the database answers"
    )


def test_http_quotes_a_slash_in_the_index_name(monkeypatch) -> None:
    with recording_server(lambda method, path, body: (200, {"ok": True})) as server:
        monkeypatch.setenv("AIRFLOW_CONN_BIOINDEX_HTTP", server.url)
        BioIndexHook("bioindex_http").set_compressed("genes/v2", "genes-v2/", False)
    [request] = server.requests
    assert request.path == "/api/bio/bgcompress/set-compressed/genes%2Fv2?prefix=genes-v2%2F&compressed=false"


def test_http_400_is_an_error_showing_the_first_500_characters_of_the_answer(monkeypatch) -> None:
    detail = "d" * 600
    with recording_server(lambda method, path, body: (400, {"detail": detail})) as server:
        monkeypatch.setenv("AIRFLOW_CONN_BIOINDEX_HTTP", server.url)
        with pytest.raises(RuntimeError) as raised:
            BioIndexHook("bioindex_http").set_compressed("genes", "genes/", True)
    answer = json.dumps({"detail": detail})[:500]
    assert str(raised.value) == (
        f"POST /api/bio/bgcompress/set-compressed/genes?prefix=genes%2F&compressed=true answered 400: {answer}"
    )


@pytest.mark.parametrize(
    ("index", "prefix", "message"),
    [
        pytest.param("g" * 201, "genes/", r"bad index name 'g{201}': expected 1 to 200 ASCII", id="long name"),
        pytest.param("gen\0es", "genes/", r"bad index name 'gen\\x00es'", id="NUL in name"),
        pytest.param("genes", "p" * 1024 + "/", r"bad prefix 'p{1024}/': expected 1 to 1024 ASCII", id="long prefix"),
        pytest.param("genes", "gènes/", r"bad prefix 'gènes/': expected 1 to 1024 ASCII", id="non-ASCII prefix"),
    ],
)
def test_names_the_bio_index_cannot_hold_are_refused(index: str, prefix: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_names(index, prefix)


def test_names_at_the_column_sizes_are_taken() -> None:
    check_names("g" * 200, "p" * 1023 + "/")
