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
