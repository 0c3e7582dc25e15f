"""Index creation and the alias swap against a local HTTP server that records the requests."""

from __future__ import annotations

import pytest
from airflow.sdk import Connection
from structlog.testing import capture_logs

from airflow_provider_bio.core.search_indexes import fresh_index_bodies
from airflow_provider_bio.operators.search_index import EnsureSearchIndexesOperator, SwapSearchAliasesOperator
from tests.support.connections import only_connections
from tests.support.http_recorder import recording_server

FRESH = {"scored_taxon_counts": "scored_taxon_counts-v6", "pipeline_runs": "pipeline_runs-v6"}


def _cluster(existing: set[str], aliases: dict[str, list[str]]):
    def respond(method, path, body):
        name = path.strip("/")
        if method == "PUT":
            if name in existing:
                return 400, {"error": {"type": "resource_already_exists_exception"}}
            existing.add(name)
            return 200, {"acknowledged": True}
        if method == "GET" and name.startswith("_alias/"):
            alias = name.split("/", 1)[1]
            if alias not in aliases:
                return 404, {"error": "alias missing"}
            return 200, {index: {"aliases": {alias: {}}} for index in aliases[alias]}
        if method == "POST" and name == "_aliases":
            return 200, {"acknowledged": True}
        return 500, {"error": f"unexpected {method} {path}"}

    return respond


@pytest.fixture
def search_conn(monkeypatch):
    def use(url):
        monkeypatch.setenv("AIRFLOW_CONN_SEARCH_TEST", url)
        return "search_test"

    return use


def test_fresh_indexes_are_created_and_existing_ones_kept(search_conn):
    with recording_server(_cluster({"pipeline_runs-v6"}, {})) as server:
        operator = EnsureSearchIndexesOperator(
            task_id="create_indexes", indexes=fresh_index_bodies(FRESH), search_conn_id=search_conn(server.url)
        )
        assert operator.execute({}) == ["scored_taxon_counts-v6"]
    puts = {r.path: r.body for r in server.requests if r.method == "PUT"}
    assert puts["/scored_taxon_counts-v6"]["settings"]["number_of_shards"] == 4
    assert puts["/pipeline_runs-v6"]["mappings"]["properties"]["is_complete"] == {"type": "boolean"}


def test_nothing_requested_means_no_request(search_conn):
    with recording_server(_cluster(set(), {})) as server:
        conn = search_conn(server.url)
        assert EnsureSearchIndexesOperator(task_id="c", indexes={}, search_conn_id=conn).execute({}) == []
        assert SwapSearchAliasesOperator(task_id="s", aliases={}, search_conn_id=conn).execute({}) == []
    assert server.requests == []


def test_aliases_move_in_one_atomic_request(search_conn):
    cluster = _cluster(set(), {"scored_taxon_counts": ["scored_taxon_counts-v5"]})
    with recording_server(cluster) as server:
        SwapSearchAliasesOperator(task_id="swap", aliases=FRESH, search_conn_id=search_conn(server.url)).execute({})
    writes = [r for r in server.requests if r.method != "GET"]
    assert len(writes) == 1 and writes[0].path == "/_aliases"
    assert writes[0].body == {
        "actions": [
            {"remove": {"index": "scored_taxon_counts-v5", "alias": "scored_taxon_counts"}},
            {"add": {"index": "scored_taxon_counts-v6", "alias": "scored_taxon_counts"}},
            {"add": {"index": "pipeline_runs-v6", "alias": "pipeline_runs"}},
        ]
    }


def test_a_cluster_error_fails_the_task_with_its_answer(search_conn):
    with recording_server(lambda method, path, body: (503, {"error": "cluster_block_exception"})) as server:
        operator = EnsureSearchIndexesOperator(
            task_id="c", indexes=fresh_index_bodies(FRESH), search_conn_id=search_conn(server.url)
        )
        with pytest.raises(RuntimeError, match=r"503.*cluster_block_exception"):
            operator.execute({})


def test_both_operators_use_the_search_default_connection_unless_told(monkeypatch):
    cluster = _cluster(set(), {})
    with recording_server(cluster) as server:
        monkeypatch.setenv("AIRFLOW_CONN_SEARCH_DEFAULT", server.url)
        assert EnsureSearchIndexesOperator(task_id="c", indexes={"taxa-v2": {}}).execute({}) == ["taxa-v2"]
        assert SwapSearchAliasesOperator(task_id="s", aliases={"taxa": "taxa-v2"}).execute({}) == [
            {"add": {"index": "taxa-v2", "alias": "taxa"}}
        ]
    assert [(r.method, r.path) for r in server.requests] == [
        ("PUT", "/taxa-v2"),
        ("GET", "/_alias/taxa"),
        ("POST", "/_aliases"),
    ]


def _operator_logs(logs: list[dict]) -> list[str]:
    """The log lines the operators themselves write (Airflow's own warnings left out)."""
    return [log["event"] for log in logs if "Task Runner" not in str(log["event"])]


def test_each_requested_index_is_logged_as_created_or_already_existing(search_conn):
    with recording_server(_cluster({"pipeline_runs-v6"}, {})) as server:
        operator = EnsureSearchIndexesOperator(
            task_id="create_indexes", indexes=fresh_index_bodies(FRESH), search_conn_id=search_conn(server.url)
        )
        with capture_logs() as logs:
            operator.execute({})
    assert _operator_logs(logs) == ["created scored_taxon_counts-v6", "already exists: pipeline_runs-v6"]


def test_nothing_requested_is_logged_as_such():
    with capture_logs() as logs:
        EnsureSearchIndexesOperator(task_id="c", indexes={}).execute({})
        SwapSearchAliasesOperator(task_id="s", aliases={}).execute({})
    assert _operator_logs(logs) == ["No fresh indexes requested", "No alias swap requested"]


def test_the_alias_move_is_logged_with_its_actions(search_conn):
    cluster = _cluster(set(), {"taxa": ["taxa-v1"]})
    with recording_server(cluster) as server:
        operator = SwapSearchAliasesOperator(
            task_id="swap", aliases={"taxa": "taxa-v2"}, search_conn_id=search_conn(server.url)
        )
        with capture_logs() as logs:
            operator.execute({})
    assert _operator_logs(logs) == [
        "Aliases moved: [{'remove': {'index': 'taxa-v1', 'alias': 'taxa'}}, "
        "{'add': {'index': 'taxa-v2', 'alias': 'taxa'}}]"
    ]


def test_both_operators_default_to_the_connection_named_search_default_exactly(monkeypatch):
    """Connection ids are case-sensitive outside environment variables: the default is ``search_default``."""
    cluster = _cluster(set(), {})
    with recording_server(cluster) as server:
        port = int(server.url.rsplit(":", 1)[1])
        only_connections(
            monkeypatch, Connection(conn_id="search_default", conn_type="http", host="127.0.0.1", port=port)
        )
        assert EnsureSearchIndexesOperator(task_id="c", indexes={"taxa-v2": {}}).execute({}) == ["taxa-v2"]
        SwapSearchAliasesOperator(task_id="s", aliases={"taxa": "taxa-v2"}).execute({})
    assert [(r.method, r.path) for r in server.requests] == [
        ("PUT", "/taxa-v2"),
        ("GET", "/_alias/taxa"),
        ("POST", "/_aliases"),
    ]
