"""bison_monthly: GBIF's monthly US occurrences annotated with counties, AIANNH areas and RIIS status.

Runs on the 2nd of each month at 00:00 UTC (GBIF publishes its snapshot on the 1st), one run at a
time, and by hand with a conf checked by the form (see ``FIELDS`` in
:mod:`airflow_provider_bio.core.bison_conf`). Settings of the deployment (the project bucket, the
RIIS list, the county and AIANNH layers, the connections) come from ``bison_monthly.json`` beside
this file, or the file named by ``BISON_CONFIG``.

conf -> wait_for_snapshot -> resolve_riis -> subset -> plan_chunks -> annotate (one task per
chunk of subset files) -> aggregate -> report. Each step overwrites its own outputs under
``{output_uri}/{snapshot}/``: a failed step, or one annotate chunk, is retried or cleared alone.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk import DAG, Param
from airflow.timetables.trigger import CronTriggerTimetable

from airflow_provider_bio.core.bison_conf import FIELDS
from airflow_provider_bio.operators.bison import (
    BisonAggregateOperator,
    BisonAnnotateOperator,
    BisonConfOperator,
    BisonReportOperator,
    BisonSubsetOperator,
    PlanAnnotateChunksOperator,
    ResolveRiisOperator,
)

CONFIG = json.loads(Path(os.environ.get("BISON_CONFIG", Path(__file__).with_name("bison_monthly.json"))).read_text())
DEFAULTS = {"output_uri": CONFIG["output_uri"]}
AWS = {"aws_conn_id": CONFIG.get("aws_conn_id", "aws_default")}
RUN = "{{ ti.xcom_pull(task_ids='conf') }}"

with DAG(
    dag_id="bison_monthly",
    schedule=CronTriggerTimetable("0 0 2 * *", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,
    params={
        name: Param(DEFAULTS.get(name, default), description=described, **schema)
        for name, (default, schema, described) in FIELDS.items()
    },
    default_args={"retries": 2, "retry_delay": timedelta(minutes=5)},
    tags=["bio", "bison"],
    doc_md=__doc__,
) as bison_monthly:
    conf = BisonConfOperator(task_id="conf", retries=0)
    wait = S3KeySensor(
        task_id="wait_for_snapshot",
        bucket_key="{{ ti.xcom_pull(task_ids='conf')['gbif_uri'] }}*",
        wildcard_match=True,
        deferrable=True,
        poke_interval=3600,
        timeout=7 * 24 * 3600,
        **AWS,
    )
    riis = ResolveRiisOperator(
        task_id="resolve_riis",
        run=RUN,
        riis_uri=CONFIG["riis_uri"],
        gbif_conn_id=CONFIG.get("gbif_conn_id", "gbif_default"),
        **AWS,
    )
    subset = BisonSubsetOperator(task_id="subset", run=RUN, **AWS)
    chunks = PlanAnnotateChunksOperator(task_id="plan_chunks", run=RUN, **AWS)
    annotate = BisonAnnotateOperator.partial(
        task_id="annotate",
        run=RUN,
        riis=riis.output,
        counties_uri=CONFIG["counties_uri"],
        aiannh_uri=CONFIG["aiannh_uri"],
        map_index_template="{{ task.chunk_label }}",
        **AWS,
    ).expand_kwargs(chunks.output)
    summaries = BisonAggregateOperator(task_id="aggregate", run=RUN, **AWS)
    report = BisonReportOperator(
        task_id="report",
        run=RUN,
        subset=subset.output,
        annotated=annotate.output,
        summaries=summaries.output,
        trigger_rule="none_failed",
        **AWS,
    )
    conf >> wait >> riis >> subset >> chunks >> annotate >> summaries >> report
