"""The naive port, for comparison only: one mapped task per lane, each invoking its pairs one by one."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_bio.operators.taxon_index import GlueTaxonIndexOperator

with DAG(dag_id="naive_fanout", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False):

    @task
    def lanes(params=None) -> list[dict]:
        pairs = [
            [pr, bg]
            for entry in params["job_params"]
            for pr in entry["pipeline_run_ids"]
            for bg in entry["background_ids"]
        ]
        count = params["concurrency"]
        return [{"pairs": pairs[lane::count], "chunk_number": lane + 1, "chunk_count": count} for lane in range(count)]

    GlueTaxonIndexOperator.partial(
        task_id="lane", lambda_function_name="{{ params.lambda_function_name }}", max_in_flight=1
    ).expand_kwargs(lanes())
