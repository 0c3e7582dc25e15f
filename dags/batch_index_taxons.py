"""Re-index taxons into Elasticsearch/OpenSearch: one Lambda invocation per (pipeline run, background).

Trigger it manually with a conf (the form in the UI, or the REST API). A failed chunk is fixed by
retrying or clearing that mapped instance: it re-invokes only its unconfirmed pairs.
See the README's "batch_index_taxons" section for the conf and an example.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_bio.core.taxon_conf import FIELDS
from airflow_provider_bio.core.taxon_index import PARALLEL_CHUNKS
from airflow_provider_bio.operators.search_index import SwapSearchAliasesOperator
from airflow_provider_bio.operators.taxon_index import (
    CreateTaxonIndexesOperator,
    GlueTaxonIndexOperator,
    PlanTaxonIndexOperator,
    TaxonIndexReportOperator,
)

with DAG(
    dag_id="batch_index_taxons",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={name: Param(default, description=hint, **schema) for name, (default, schema, hint) in FIELDS.items()},
    doc_md=__doc__,
    tags=["bio", "taxon-indexing"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30), "retry_exponential_backoff": True},
):
    plan = PlanTaxonIndexOperator(task_id="plan", retries=0)
    create_indexes = CreateTaxonIndexesOperator(task_id="create_indexes")
    chunks = GlueTaxonIndexOperator.partial(
        task_id="index_chunk",
        max_active_tis_per_dagrun=PARALLEL_CHUNKS,
        map_index_template="chunk {{ task.chunk_number }}/{{ task.chunk_count }} · {{ task.pairs | length }} pairs",
    ).expand_kwargs(plan.output)
    # The report runs whatever the chunks did; the alias swap only when every chunk succeeded,
    # that is when every pair is confirmed. Neither waits for the other.
    report = TaxonIndexReportOperator(task_id="report", plan_task_id="plan", chunk_task_id="index_chunk", retries=0)
    swap_aliases = SwapSearchAliasesOperator(task_id="swap_aliases", aliases=plan.output["swap_aliases"])

    create_indexes >> chunks >> [report, swap_aliases]
