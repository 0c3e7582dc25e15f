"""batch_index_taxons loaded from dags/, on in-process moto with the Lambda stand-in, retries fast."""

from __future__ import annotations

from datetime import timedelta

import pytest
from moto import mock_aws

from airflow_provider_bio.operators import taxon_index
from scripts.local_aws import create_echo_function
from tests.conftest import REPO

FUNCTION = "taxon-indexing-lambda-test-index_taxons"
CONF = {
    "lambda_function_name": FUNCTION,
    "job_params": [{"pipeline_run_ids": [1, 2, 3], "background_ids": [1, 2, 3, 4]}],
    "chunk_size": 4,
    "concurrency": 4,
}


@pytest.fixture
def dag(airflow_db, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setattr(taxon_index, "TRANSPORT_BACKOFF_SECONDS", 0)
    dag = DagBag(dag_folder=str(REPO / "dags" / "batch_index_taxons.py")).dags["batch_index_taxons"]
    chunk = dag.get_task("index_chunk")
    chunk.partial_kwargs["retries"] = 1
    chunk.partial_kwargs["retry_delay"] = timedelta(0)
    chunk.partial_kwargs["retry_exponential_backoff"] = False
    with mock_aws(config={"lambda": {"use_docker": False}}):
        create_echo_function(None, FUNCTION)
        yield dag
