"""bioindex_compress and bioindex_decompress: BGZF-compress the JSON files behind bio-indexes, or roll back.

Settings of the deployment (bucket, known indexes, Batch queue and job definition, where
manifests and reports go, the bio-index connection) come from ``bioindex.json`` beside this
file, or the file named by ``BIOINDEX_CONFIG``. A run's conf picks the bucket and indexes
(``include``/``exclude`` name patterns over the known ones) and the chunk size; ``dry_run``
lists and plans only.

bioindex_compress, in the safe order: plan chunks by size, compress every chunk (a mapped
Batch job each), verify every chunk, mark each index compressed, and only then delete the
originals. A failed chunk is retried or cleared on its own; deleting never starts unless every
file verified and every mark succeeded.

bioindex_decompress, the rollback: restore every ``.json`` from its ``.gz`` (keeping the
pair), mark each index uncompressed, then delete the ``.gz``/``.gzi`` pairs.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param, TriggerRule

from airflow_provider_bio.core.bioindex_plan import FIELDS
from airflow_provider_bio.operators.bioindex import (
    BioIndexBgzipOperator,
    PlanBioIndexChunksOperator,
    ReleaseBioIndexLocksOperator,
    SetBioIndexCompressedOperator,
)

CONFIG = json.loads(Path(os.environ.get("BIOINDEX_CONFIG", Path(__file__).with_name("bioindex.json"))).read_text())
DEFAULTS = {"bucket": CONFIG["bucket"], "indexes": CONFIG["indexes"]}
#: The run's bucket, a string whatever it looks like: native rendering would read an all-digit
#: bucket such as 123456 as a number (and 0x10 as 16), so the template renders a quoted string.
BUCKET = "{{ params.bucket | tojson }}"
AWS = {"aws_conn_id": CONFIG.get("aws_conn_id", "aws_default")}
#: How long an index's lock lasts unless its run takes it again (every step does).
LOCK = {"lock_ttl_seconds": float(CONFIG.get("lock_hours", 24)) * 3600}
WORKER = {
    **AWS,
    "bucket": BUCKET,
    "engine": CONFIG.get("engine", "batch"),
    "job_queue": CONFIG.get("job_queue"),
    "job_definition": CONFIG.get("job_definition"),
    "work_location": CONFIG.get("work_location"),
    "workers": CONFIG.get("workers", 8),
    "map_index_template": "{{ task.chunk_label }}",
    "retries": 3,
    **LOCK,
}


def params() -> dict[str, Param]:
    """The run conf's form: one Param per field, defaults from the deployment's settings."""
    return {
        name: Param(DEFAULTS.get(name, default), description=described, **schema)
        for name, (default, schema, described) in FIELDS.items()
    }


def bioindex_dag(dag_id: str, doc: str) -> DAG:
    """A manually triggered bioindex DAG."""
    return DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        render_template_as_native_obj=True,
        params=params(),
        default_args={"retries": 1, "retry_delay": timedelta(minutes=2)},
        tags=["bio", "bioindex"],
        doc_md=doc,
    )


def mark(task_id: str, compressed: bool) -> SetBioIndexCompressedOperator:
    """Set the flag of every index the plan chose."""
    return SetBioIndexCompressedOperator(
        task_id=task_id,
        indexes="{{ ti.xcom_pull(task_ids='plan', key='indexes') }}",
        compressed=compressed,
        bucket=BUCKET,
        bioindex_conn_id=CONFIG.get("bioindex_conn_id", "bioindex_default"),
        served_bucket=CONFIG["bucket"],
        lock=True,
        **LOCK,
        **AWS,
        retries=3,
    )


def plan_step(direction: str) -> PlanBioIndexChunksOperator:
    """Validate the conf, take the chosen indexes' locks, and plan the chunks."""
    return PlanBioIndexChunksOperator(
        task_id="plan",
        direction=direction,
        work_location=CONFIG.get("work_location"),
        known_indexes=CONFIG["indexes"],
        served_bucket=CONFIG["bucket"],
        **LOCK,
        **AWS,
    )


def release() -> ReleaseBioIndexLocksOperator:
    """Give back the run's locks however the run went (a teardown: the run's state is its work's)."""
    task = ReleaseBioIndexLocksOperator(
        task_id="release_locks",
        indexes="{{ ti.xcom_pull(task_ids='plan', key='locked') }}",
        bucket=BUCKET,
        **AWS,
        retries=3,
    ).as_teardown()
    task.trigger_rule = TriggerRule.ALL_DONE  # there is no setup task: run once everything is done
    return task


with bioindex_dag("bioindex_compress", __doc__) as bioindex_compress:
    plan = plan_step("compress")
    compress = BioIndexBgzipOperator.partial(task_id="compress", action="compress", **WORKER).expand_kwargs(plan.output)
    verify = BioIndexBgzipOperator.partial(task_id="verify", action="verify", **WORKER).expand_kwargs(plan.output)
    marked = mark("mark_compressed", compressed=True)
    delete = BioIndexBgzipOperator.partial(
        task_id="delete_originals", action="delete-originals", **WORKER
    ).expand_kwargs(plan.output)
    plan >> compress >> verify >> marked >> delete >> release()

with bioindex_dag("bioindex_decompress", __doc__) as bioindex_decompress:
    plan = plan_step("decompress")
    restore = BioIndexBgzipOperator.partial(
        task_id="restore", action="decompress", keep_compressed=True, **WORKER
    ).expand_kwargs(plan.output)
    unmarked = mark("mark_uncompressed", compressed=False)
    remove = BioIndexBgzipOperator.partial(task_id="delete_compressed", action="decompress", **WORKER).expand_kwargs(
        plan.output
    )
    plan >> restore >> unmarked >> remove >> release()
