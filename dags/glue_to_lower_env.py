"""glue_to_<env>: copy production's table and documents into a lower environment, emails obfuscated.

One DAG per entry of ``lower_environments.json`` beside this file (or the file named by
``GLUE_TO_LOWER_ENV_CONFIG``): adding an environment is adding an entry. Order: deploy
flags off, delete the environment's tables and search domains (saving the domains'
configuration), recreate the empty table and the search domains as they were (or, with
``redeploy_dag_id``, run the team's deploy DAG), streams off (moving the stream processors
onto the recreated table's stream), the table copy and the documents sync side by side,
streams on, wait for the processors to drain, migrate flag on. Before any of it, ``check_run``
refuses a conf of the wrong shape and a scheduled run that starts more than ``late_run_hours``
(6 unless the entry says otherwise) after its scheduled time, unless its conf has
``confirm_late_run``; manual runs are not held to the schedule. A failed step is retried or
cleared on its own; nothing before it reruns. A ``dry_run`` conf runs every step as a preview:
each reports what it would do, with its counts, and writes nothing.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.standard.operators.python import PythonOperator, ShortCircuitOperator
from airflow.sdk import DAG, Param, chain
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_bio.operators.deploy_flags import SetDeployFlagsOperator
from airflow_provider_bio.operators.dynamodb_copy import DynamoGlueCopyOperator
from airflow_provider_bio.operators.persistence import DeletePersistenceOperator, RecreateDynamoTableOperator
from airflow_provider_bio.operators.s3_sync import S3SyncOperator
from airflow_provider_bio.operators.search_domains import RecreateSearchDomainsOperator
from airflow_provider_bio.operators.stream_processors import ToggleStreamProcessorsOperator
from airflow_provider_bio.sensors.stream_processors import StreamProcessorsDrainedSensor

CONFIG = Path(os.environ.get("GLUE_TO_LOWER_ENV_CONFIG", Path(__file__).with_name("lower_environments.json")))


def documents_wanted(sync_documents: bool) -> bool:
    """Let the documents sync run unless the trigger's conf turned it off."""
    return bool(sync_documents)


#: How many hours after its scheduled time a scheduled run may start and still run its steps.
DEFAULT_LATE_RUN_HOURS = 6.0
#: The conf's fields: each is a boolean.
FIELDS = ("dry_run", "sync_documents", "confirm_late_run")


def check_run(dag_id: str, late_run_hours: float, **context) -> None:
    """Refuse a conf of the wrong shape, and a scheduled run that starts too long after its time.

    Runs first, before any AWS call; a refusal fails the task at once (no retry).

    :param dag_id: the DAG, for the message's trigger command.
    :param late_run_hours: how late after its scheduled time a scheduled run may start.
    :raises AirflowFailException: naming the bad fields, or the lateness and ``confirm_late_run``.
    """
    dag_run = context["dag_run"]
    given = dict(dag_run.conf or {})
    values = {**context["params"], **given}
    unknown = sorted(set(given) - set(FIELDS))
    problems = [f"unknown field(s) {unknown}; known: {list(FIELDS)}"] if unknown else []
    problems += [
        f"{name}: {values.get(name)!r} is not true or false" for name in FIELDS if type(values.get(name)) is not bool
    ]
    if problems:
        raise AirflowFailException(f"Invalid {dag_id} conf: " + "; ".join(problems))
    if str(dag_run.run_type) not in ("scheduled", "DagRunType.SCHEDULED") or values["dry_run"]:
        return
    scheduled = getattr(dag_run, "run_after", None) or dag_run.data_interval_end or dag_run.logical_date
    started = dag_run.start_date or pendulum.now("UTC")
    late = started - scheduled
    if late > timedelta(hours=late_run_hours) and not values["confirm_late_run"]:
        raise AirflowFailException(
            f"{dag_id}: this scheduled run starts {late} after its scheduled time {scheduled.isoformat()}, more than "
            f"the {late_run_hours:g} hours its late_run_hours allows (e.g. the DAG was unpaused late), so it "
            "deletes and overwrites nothing. To copy now anyway, trigger it with the Param confirm_late_run: "
            f"airflow dags trigger {dag_id} --conf '{{\"confirm_late_run\": true}}' (or tick confirm_late_run in "
            "the trigger form)"
        )


def build(env: str, cfg: dict) -> DAG:
    """The glue_to_<env> DAG for one configuration entry."""
    source, dest, streams, copy, protected = (cfg[k] for k in ("source", "destination", "streams", "copy", "protected"))
    preview = {"dry_run": "{{ params.dry_run }}"}  # every step previews what it would do, writing nothing
    # Every destructive step asks AWS which account its connection reaches and refuses production's.
    accounts = {"expected_account": dest.get("account_id"), "protected_accounts": protected["accounts"]}
    guarded = {"protected": protected["tables"], **accounts, **preview}
    lower = {"aws_conn_id": dest["aws_conn_id"], **guarded}
    with DAG(
        dag_id=f"glue_to_{env}",
        schedule=cfg["schedule"],
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        render_template_as_native_obj=True,
        params={
            "dry_run": Param(
                False,
                type="boolean",
                description="every step reports what it would do, with its counts; nothing is written",
            ),
            "sync_documents": Param(True, type="boolean", description="false to skip the documents sync"),
            "confirm_late_run": Param(
                False,
                type="boolean",
                description="true to run the steps even though a scheduled run starts long after its time",
            ),
        },
        default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
        tags=["bio", "lower-environment"],
        doc_md=__doc__,
    ) as dag:
        checked = PythonOperator(
            task_id="check_run",
            python_callable=check_run,
            op_kwargs={"dag_id": f"glue_to_{env}", "late_run_hours": cfg.get("late_run_hours", DEFAULT_LATE_RUN_HOURS)},
            retries=0,
        )
        flags_off = SetDeployFlagsOperator(
            task_id="flags_off",
            flags={
                "migrate": "false",
                "source-table-version": dest["table_versions"]["source"],
                "destination-table-version": dest["table_versions"]["destination"],
            },
            deploy_table=dest["deploy_table"],
            **lower,
        )
        reset = DeletePersistenceOperator(
            task_id="delete_persistence",
            tables=dest["delete_tables"],
            domains=dest["search_domains"],
            **lower,
        )
        if dest.get("redeploy_dag_id"):
            # Imported only for entries that use it: the module is slow to import at every parse.
            from airflow_provider_bio.operators.redeploy import RedeployOperator

            recreate = [
                RedeployOperator(
                    task_id="redeploy",
                    trigger_dag_id=dest["redeploy_dag_id"],
                    wait_for_completion=True,
                    poke_interval=60,
                    **preview,
                )
            ]
        else:
            recreate = [
                RecreateDynamoTableOperator(
                    task_id="recreate_table",
                    source_table=source["table"],
                    destination_table=dest["table"],
                    aws_conn_id=source["aws_conn_id"],
                    dest_aws_conn_id=dest["aws_conn_id"],
                    **guarded,
                ),
                RecreateSearchDomainsOperator(
                    task_id="recreate_domains",
                    domains=dest["search_domains"],
                    domain_shapes="{{ ti.xcom_pull(task_ids='delete_persistence').get('domain_shapes', {}) }}",
                    **lower,
                ),
            ]
        streams_off = ToggleStreamProcessorsOperator(
            task_id="streams_off",
            function_names=streams["functions"],
            regions=streams["regions"],
            enabled=False,
            table=dest["table"],
            **lower,
        )
        copy_table = DynamoGlueCopyOperator(
            task_id="copy_table",
            source_table=source["table"],
            destination_table=dest["table"],
            aws_conn_id=source["aws_conn_id"],
            dest_aws_conn_id=dest["aws_conn_id"],
            protected_tables=protected["tables"],
            retries=3,
            **accounts,
            **copy,
            **preview,
        )
        skip_sync = ShortCircuitOperator(
            task_id="sync_documents_wanted",
            python_callable=documents_wanted,
            op_args=["{{ params.sync_documents }}"],
            ignore_downstream_trigger_rules=False,
        )
        sync_documents = S3SyncOperator(
            task_id="sync_documents",
            source=source["documents"],
            destination=dest["documents"],
            delete=True,
            max_delete_fraction=1.0,
            aws_conn_id=source["aws_conn_id"],
            dest_aws_conn_id=dest["aws_conn_id"],
            protected_destinations=protected["tables"],
            retries=5,
            **accounts,
            **preview,
        )
        streams_on = ToggleStreamProcessorsOperator(
            task_id="streams_on",
            function_names=streams["functions"],
            regions=streams["regions"],
            enabled=True,
            trigger_rule="none_failed",
            **lower,
        )
        drained = StreamProcessorsDrainedSensor(
            task_id="wait_for_draining",
            function_names=streams["functions"],
            regions=streams["regions"],
            steady_seconds=streams.get("steady_seconds", 600),
            poke_interval=60,
            mode="reschedule",
            timeout=6 * 3600,
            aws_conn_id=dest["aws_conn_id"],
            **preview,
        )
        flags_on = SetDeployFlagsOperator(
            task_id="migrate_on", flags={"migrate": "true"}, deploy_table=dest["deploy_table"], **lower
        )

        chain(checked, flags_off, reset, *recreate, streams_off)
        streams_off >> [copy_table, skip_sync]
        skip_sync >> sync_documents
        [copy_table, sync_documents] >> streams_on >> drained >> flags_on
    return dag


for _env, _cfg in json.loads(CONFIG.read_text()).items():
    globals()[f"glue_to_{_env}"] = build(_env, _cfg)
