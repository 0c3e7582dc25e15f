"""Which scheme SearchIndexHook speaks for each way of writing the search connection."""

from __future__ import annotations

import json

import pytest

from airflow_provider_bio.hooks.search_index import SearchIndexHook

README_URI = "https://user:pass@search.example:443"
README_JSON = json.dumps(
    {
        "conn_type": "http",
        "host": "search.example",
        "port": 443,
        "schema": "https",
        "login": "user",
        "password": "pass",
    }
)


@pytest.mark.parametrize(
    ("conn", "base_url"),
    [
        pytest.param(README_URI, "https://search.example:443", id="README's URI form"),
        pytest.param(README_JSON, "https://search.example:443", id="README's JSON form"),
        pytest.param(
            json.dumps({"conn_type": "http", "host": "search.example", "login": "u", "password": "p"}),
            "https://search.example",
            id="a password and no scheme: TLS",
        ),
        pytest.param(
            json.dumps({"conn_type": "http", "host": "search.example", "extra": {"scheme": "https"}}),
            "https://search.example",
            id="an https extra",
        ),
        pytest.param("http://127.0.0.1:9200", "http://127.0.0.1:9200", id="no credentials, plain http as written"),
        pytest.param("https://search.example:443", "https://search.example:443", id="an https URI, no credentials"),
        pytest.param(
            json.dumps({"conn_type": "HTTPS", "host": "search.example"}), "https://search.example", id="type HTTPS"
        ),
        pytest.param(
            json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": 9200, "schema": "es"}),
            "http://127.0.0.1:9200",
            id="a schema that is no scheme is ignored",
        ),
        pytest.param(
            json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": 9200, "schema": "http", "password": "p"}),
            "http://127.0.0.1:9200",
            id="schema http stated on purpose",
        ),
    ],
)
def test_the_base_url_has_the_documented_scheme(monkeypatch, conn, base_url):
    monkeypatch.setenv("AIRFLOW_CONN_SEARCH_DEFAULT", conn)
    hook = SearchIndexHook()
    hook.get_conn()
    assert hook.base_url == base_url


def _error(kind: str, index: str) -> dict:
    cause = {"type": kind, "reason": f"{kind} for [{index}]", "index": index}
    return {"error": {"root_cause": [cause], **cause}, "status": 400}


@pytest.mark.parametrize(
    ("status", "answer", "created"),
    [
        pytest.param(200, {"acknowledged": True, "index": "taxa-v2"}, True, id="created"),
        pytest.param(400, _error("resource_already_exists_exception", "taxa-v2"), False, id="already exists"),
    ],
)
def test_ensure_index_tells_created_from_already_there(monkeypatch, status, answer, created):
    from tests.support.http_recorder import recording_server

    with recording_server(lambda method, path, body: (status, answer)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_SEARCH_DEFAULT", server.url)
        assert SearchIndexHook().ensure_index("taxa-v2", {"mappings": {}}) is created
    assert [(r.method, r.path) for r in server.requests] == [("PUT", "/taxa-v2")]


def test_ensure_index_raises_on_a_rejected_mapping(monkeypatch):
    """Only "already exists" is a harmless 400: a mapping the cluster refuses is neither created nor existing."""
    from tests.support.http_recorder import recording_server

    answer = _error("mapper_parsing_exception", "taxa-v2")
    answer["error"]["reason"] = "no handler for type [no-such-type] " * 20  # longer than the 500 shown
    mappings = {"mappings": {"properties": {"name": {"type": "no-such-type"}}}}
    with recording_server(lambda method, path, body: (400, answer)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_SEARCH_DEFAULT", server.url)
        with pytest.raises(RuntimeError) as raised:
            SearchIndexHook().ensure_index("taxa-v2", mappings)
    assert str(raised.value) == f"PUT /taxa-v2 answered 400: {json.dumps(answer)[:500]}"
    assert "mapper_parsing_exception" in str(raised.value)
    assert [(r.method, r.path, r.body) for r in server.requests] == [("PUT", "/taxa-v2", mappings)]


def test_ensure_index_raises_on_a_cluster_error_naming_the_request(monkeypatch):
    from tests.support.http_recorder import recording_server

    answer = {"error": "cluster_block_exception", "status": 503}
    with recording_server(lambda method, path, body: (503, answer)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_SEARCH_DEFAULT", server.url)
        with pytest.raises(RuntimeError) as raised:
            SearchIndexHook().ensure_index("taxa-v2", {})
    assert str(raised.value) == f"PUT /taxa-v2 answered 503: {json.dumps(answer)}"


def test_index_identity_names_each_index_behind_a_name_with_its_uuid_and_creation_date(monkeypatch):
    from tests.support.http_recorder import recording_server
    from tests.support.search_cluster import FakeCluster

    cluster = FakeCluster(
        indexes={"taxa-v1": "uuid-1", "taxa-v2": "uuid-2"},
        created={"taxa-v1": "1700000000000", "taxa-v2": "1800000000000"},
        aliases={"taxa": {"taxa-v2", "taxa-v1"}},
    )
    with recording_server(cluster) as server:
        monkeypatch.setenv("AIRFLOW_CONN_SEARCH_DEFAULT", server.url)
        hook = SearchIndexHook()
        assert hook.index_identity("taxa") == {
            "taxa-v1": {"uuid": "uuid-1", "creation_date": "1700000000000"},
            "taxa-v2": {"uuid": "uuid-2", "creation_date": "1800000000000"},
        }
        assert hook.index_identity("taxa-v2") == {"taxa-v2": {"uuid": "uuid-2", "creation_date": "1800000000000"}}
        assert hook.index_identity("genes") is None
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/taxa/_settings"),
        ("GET", "/taxa-v2/_settings"),
        ("GET", "/genes/_settings"),
    ]


def test_alias_targets_are_sorted_and_a_missing_alias_has_none(monkeypatch):
    from tests.support.http_recorder import recording_server
    from tests.support.search_cluster import FakeCluster

    cluster = FakeCluster(aliases={"taxa": {"taxa-v2", "taxa-v1"}})
    with recording_server(cluster) as server:
        monkeypatch.setenv("AIRFLOW_CONN_SEARCH_DEFAULT", server.url)
        hook = SearchIndexHook()
        assert hook.alias_targets("taxa") == ["taxa-v1", "taxa-v2"]
        assert hook.alias_targets("genes") == []
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/_alias/taxa"), ("GET", "/_alias/genes")]


def test_alias_updates_go_in_one_post_with_a_json_body(monkeypatch):
    from tests.support.http_recorder import recording_server

    actions = [{"add": {"index": "taxa-v2", "alias": "taxa"}}]
    with recording_server(lambda method, path, body: (200, {"acknowledged": True})) as server:
        monkeypatch.setenv("AIRFLOW_CONN_SEARCH_DEFAULT", server.url)
        SearchIndexHook().update_aliases(actions)
    assert [(r.method, r.path, r.body) for r in server.requests] == [("POST", "/_aliases", {"actions": actions})]


@pytest.mark.parametrize(
    ("call", "path"),
    [
        pytest.param(lambda hook: hook.alias_targets("taxa"), "GET /_alias/taxa", id="alias_targets"),
        pytest.param(lambda hook: hook.index_identity("taxa"), "GET /taxa/_settings", id="index_identity"),
        pytest.param(lambda hook: hook.update_aliases([]), "POST /_aliases", id="update_aliases"),
    ],
)
def test_an_error_answer_is_raised_with_the_request_and_the_answer(monkeypatch, call, path):
    from tests.support.http_recorder import recording_server

    answer = {"error": "illegal_argument_exception", "reason": "r" * 600}  # longer than the 500 shown
    with recording_server(lambda method, p, body: (400, answer)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_SEARCH_DEFAULT", server.url)
        with pytest.raises(RuntimeError) as raised:
            call(SearchIndexHook())
    assert str(raised.value) == f"{path} answered 400: {json.dumps(answer)[:500]}"


def test_bodies_are_sent_as_json_whatever_headers_the_connection_carries(monkeypatch):
    """Elasticsearch refuses a body whose Content-Type is not JSON (406)."""
    from tests.support.http_recorder import recording_server

    with recording_server(lambda method, path, body: (200, {"acknowledged": True})) as server:
        conn = {"conn_type": "http", "host": "127.0.0.1", "port": server.url.rsplit(":", 1)[1]}
        monkeypatch.setenv("AIRFLOW_CONN_SEARCH_DEFAULT", json.dumps(conn | {"extra": {"Content-Type": "text/plain"}}))
        SearchIndexHook().ensure_index("taxa-v2", {"mappings": {}})
        SearchIndexHook().update_aliases([])
    assert [(r.method, r.content_type) for r in server.requests] == [
        ("PUT", "application/json"),
        ("POST", "application/json"),
    ]


def test_the_hook_uses_the_connection_it_is_given(monkeypatch):
    from tests.support.http_recorder import recording_server

    with recording_server(lambda method, path, body: (200, {"acknowledged": True})) as server:
        monkeypatch.setenv("AIRFLOW_CONN_SEARCH_OTHER", server.url)
        assert SearchIndexHook(search_conn_id="search_other").ensure_index("taxa-v2", {}) is True
    assert len(server.requests) == 1
