"""BgzipBatchOperator: run the BGZF worker over one chunk of files, as an AWS Batch job or in-process."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf
from airflow.providers.amazon.aws.links.batch import BatchJobDetailsLink
from airflow.providers.amazon.aws.links.logs import CloudWatchEventsLink

from airflow_provider_bio.core.bgzf import DEFAULT_LEVEL
from airflow_provider_bio.core.bioindex_plan import check_keys, check_worker_options
from airflow_provider_bio.core.resume import Phase, Verdict, fingerprint
from airflow_provider_bio.core.s3_sync import parse_s3_uri
from airflow_provider_bio.operators.base import AWS_TEMPLATE_FIELDS, AwsLateHookOperator
from airflow_provider_bio.operators.resume import StepMemory

if TYPE_CHECKING:
    from airflow.sdk import Context

ENGINES = ("batch", "local")
#: Task state store key of the Batch job this task instance submitted.
BATCH_JOB_KEY = "bgzip_batch_job_id"
#: Batch job states from which the job may still succeed: a retry waits for it.
ACTIVE = frozenset({"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"})
WORKER_MODULE = "airflow_provider_bio.jobs.bgzip_worker"
#: Failed files named in the task's error; the rest are in the report.
FAILURES_SHOWN = 10


class BgzipBatchOperator(AwsLateHookOperator):
    """Compress, verify, delete the originals of, or decompress one chunk of a bio-index's JSON files.

    With ``engine="batch"`` the chunk's keys are written to a manifest under
    ``work_location`` and the worker (:mod:`airflow_provider_bio.jobs.bgzip_worker`, the
    image's entry point) is submitted as an AWS Batch job; the task waits synchronously or,
    with ``deferrable``, in the triggerer through the amazon provider's ``BatchJobTrigger``.
    The job id is kept in the task state store: a retry of this task reattaches to the job it
    submitted while that job is queued, running or succeeded and was given the same chunk, and
    submits again otherwise (the worker skips files already done). ``on_kill`` terminates the job. The worker's
    report (every file's outcome) is written under ``work_location`` and read back; the task
    fails naming the failed files.

    With ``engine="local"`` the worker runs in the task's own process with the Airflow AWS
    connection: for development, the demo and small prefixes.

    :param action: ``compress``, ``verify``, ``delete-originals`` or ``decompress``. (templated)
    :param bucket: the bucket holding the files. (templated)
    :param keys: the originals' keys (``.json``) of this chunk; not templated, so any key is taken as it is.
    :param prefix: instead of ``keys``: every ``.json`` under this prefix. (templated)
    :param engine: ``batch`` or ``local``.
    :param job_queue: batch: the job queue. (templated)
    :param job_definition: batch: the worker's job definition (name, name:revision or ARN). (templated)
    :param work_location: batch: ``s3://bucket/prefix/`` for manifests and reports, outside
        every index's prefix. (templated)
    :param workers: files handled at once by the worker.
    :param threads: compression threads; default one per CPU of the container (batch) or 2 (local).
    :param level: htslib compression level, -1 or 0-9.
    :param keep_compressed: ``decompress`` keeps ``.gz``/``.gzi`` (the rollback removes them after
        marking the index uncompressed).
    :param dry_run: deleting actions delete nothing and report what they would delete.
    :param chunk_label: how the UI names this chunk (``map_index_template="{{ task.chunk_label }}"``).
    :param wait_for_completion: batch: wait for the job to finish.
    :param deferrable: batch: wait in the triggerer instead of a worker slot.
    :param waiter_delay: batch: seconds between status checks.
    :param waiter_max_attempts: batch: status checks before giving up.
    """

    aws_hook_class_path = "airflow.providers.amazon.aws.hooks.batch_client.BatchClientHook"
    template_fields: Sequence[str] = (
        *AWS_TEMPLATE_FIELDS,
        "action",
        "bucket",
        "prefix",
        "job_queue",
        "job_definition",
        "work_location",
    )
    operator_extra_links = (BatchJobDetailsLink(), CloudWatchEventsLink())

    def __init__(
        self,
        *,
        action: str,
        bucket: str,
        keys: list[str] | None = None,
        prefix: str | None = None,
        engine: str = "batch",
        job_queue: str | None = None,
        job_definition: str | None = None,
        work_location: str | None = None,
        workers: int = 8,
        threads: int | None = None,
        level: int = DEFAULT_LEVEL,
        keep_compressed: bool = False,
        dry_run: bool = False,
        chunk_label: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        waiter_delay: int = 30,
        waiter_max_attempts: int = 2880,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.action = action
        self.bucket = bucket
        self.keys = keys
        self.prefix = prefix
        self.engine = engine
        self.job_queue = job_queue
        self.job_definition = job_definition
        self.work_location = work_location
        self.workers = workers
        self.threads = threads
        self.level = level
        self.keep_compressed = keep_compressed
        self.dry_run = dry_run
        self.chunk_label = chunk_label
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts
        self.job_id: str | None = None

    def _check_arguments(self) -> None:
        """Refuse bad arguments before any AWS call, naming the argument and the fix."""
        check_worker_options(
            self.action,
            level=self.level,
            workers=self.workers,
            threads=self.threads,
            keep_compressed=self.keep_compressed,
            dry_run=self.dry_run,
        )
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be 'batch' or 'local'; got {self.engine!r}")
        if (self.keys is None) == (self.prefix is None):
            raise ValueError("give exactly one of keys (the chunk's .json keys) or prefix")
        if self.keys is not None:
            check_keys(self.keys, "keys")
        if not self.bucket:
            raise ValueError("bucket is required")
        if self.engine == "batch":
            missing = [name for name in ("job_queue", "job_definition", "work_location") if not getattr(self, name)]
            if missing:
                raise ValueError(f"engine='batch' needs {', '.join(missing)} (or use engine='local')")
            parse_s3_uri(self.work_location or "", "work_location")

    def execute(self, context: Context) -> dict[str, Any]:
        self._check_arguments()
        if self.keys == []:
            from airflow_provider_bio.jobs.bgzip_worker import Report

            return self._finish(Report(self.action, self.bucket).to_dict(), None)  # nothing to do
        if self.engine == "local":
            return self._run_local()
        return self._run_batch(context)

    # local engine

    def _run_local(self) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from airflow_provider_bio.jobs.bgzip_files import originals_under
        from airflow_provider_bio.jobs.bgzip_worker import run

        s3 = S3Hook(**self._hook_parameters).get_conn()
        keys = self.keys if self.keys is not None else originals_under(s3, self.bucket, self.prefix or "", self.action)
        report = run(
            self.action,
            s3,
            self.bucket,
            keys,
            workers=self.workers,
            threads=self.threads or 2,
            level=self.level,
            keep_compressed=self.keep_compressed,
            dry_run=self.dry_run,
            log=self.log.info,
        )
        return self._finish(report.to_dict(), None)

    # batch engine

    def _memory(self, context: Context) -> StepMemory:
        """The Batch job this task instance submitted, remembered with the work it was given."""
        work = [self.action, self.bucket, self.keys, self.prefix, self.level, self.keep_compressed, self.dry_run]
        return StepMemory(context, BATCH_JOB_KEY, work, self.log)

    def _job_phase(self, job_id: str) -> Phase:
        jobs = self.hook.client.describe_jobs(jobs=[job_id])["jobs"]
        status = jobs[0]["status"] if jobs else "gone"
        if status in ACTIVE:
            return Phase.ACTIVE
        return Phase.SUCCEEDED if status == "SUCCEEDED" else Phase.ENDED

    def _chunk_world(self) -> str:
        """The chunk's files as they are now: every original, ``.gz`` and ``.gzi`` with its ETag.

        One listing per folder of the chunk (a prefix chunk: its prefix), so a rollback, a
        recompression or a deletion since the job ran shows as a change.
        """
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        s3 = S3Hook(**self._hook_parameters).get_conn()
        if self.keys is None:
            wanted, folders = None, [self.prefix or ""]
        else:
            wanted = {f"{key}{suffix}" for key in self.keys for suffix in ("", ".gz", ".gz.gzi")}
            folders = sorted({key.rpartition("/")[0] + "/" if "/" in key else "" for key in self.keys})
            folders = [f for f in folders if not any(f != other and f.startswith(other) for other in folders)]
        found: dict[str, str] = {}
        for folder in folders:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder):
                for item in page.get("Contents", []):
                    if wanted is None or item["Key"] in wanted:
                        found[item["Key"]] = item["ETag"]
        return fingerprint(sorted(found.items()))

    def _run_batch(self, context: Context) -> dict[str, Any]:
        memory = self._memory(context)
        verdict, remembered = memory.recall(phase_of=self._job_phase, world_now=self._chunk_world)
        if verdict is Verdict.START:
            self.job_id = self._submit(context)
            memory.remember(self.job_id)
        else:
            self.job_id = remembered.value
        if verdict is Verdict.REUSE:
            return self._batch_result(context)
        BatchJobDetailsLink.persist(
            context=context,
            operator=self,
            region_name=self.hook.conn_region_name,
            aws_partition=self.hook.conn_partition,
            job_id=self.job_id,
        )
        if self.deferrable:
            from airflow.providers.amazon.aws.triggers.batch import BatchJobTrigger

            self.defer(
                trigger=BatchJobTrigger(
                    job_id=self.job_id,
                    waiter_delay=self.waiter_delay,
                    waiter_max_attempts=self.waiter_max_attempts,
                    aws_conn_id=self.aws_conn_id,
                    region_name=self.region_name,
                    verify=self.verify,
                    botocore_config=self.botocore_config,
                ),
                method_name="execute_complete",
            )
        if not self.wait_for_completion:
            return {"action": self.action, "job_id": self.job_id}
        from botocore.exceptions import WaiterError

        try:
            self.hook.get_waiter("batch_job_complete").wait(
                jobs=[self.job_id], WaiterConfig={"Delay": self.waiter_delay, "MaxAttempts": self.waiter_max_attempts}
            )
        except WaiterError as error:
            return self._batch_result(context, failure=str(error))
        return self._batch_result(context)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Finish after the deferred wait: read the job's report whatever the event, fail with the reason."""
        saved = self._memory(context).saved()
        self.job_id = (event or {}).get("job_id") or (saved.value if saved else None)
        if not event or event.get("status") != "success":
            return self._batch_result(context, failure=f"the trigger reported {event}")
        return self._batch_result(context)

    def on_kill(self) -> None:
        """Terminate the Batch job this task submitted."""
        if self.job_id:
            self.hook.terminate_job(self.job_id, "Airflow task killed")
            self.log.info("Terminated Batch job %s", self.job_id)

    def _location(self, context: Context, kind: str) -> tuple[str, str]:
        """Bucket and key of this task instance's manifest or report: one per DAG, run, task and map
        index, so DAGs sharing a work location and a schedule never read each other's."""
        location = parse_s3_uri(self.work_location or "", "work_location")
        map_index = getattr(context.get("ti"), "map_index", -1)
        name = self.task_id if map_index in (None, -1) else f"{self.task_id}-{map_index}"
        return location.bucket, f"{location.prefix}{kind}/{self.dag_id}/{context['run_id']}/{name}.json"

    def _submit(self, context: Context) -> str:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        command = [self.action, "--bucket", self.bucket, "--workers", str(self.workers), "--level", str(self.level)]
        if self.keys is not None:
            bucket, key = self._location(context, "manifests")
            S3Hook(**self._hook_parameters).load_bytes(json.dumps(self.keys).encode(), key, bucket, replace=True)
            command += ["--manifest", f"s3://{bucket}/{key}"]
        else:
            command += ["--prefix", self.prefix or ""]
        report_bucket, report_key = self._location(context, "reports")
        S3Hook(**self._hook_parameters).delete_objects(report_bucket, [report_key])  # no older try's report
        command += ["--report", f"s3://{report_bucket}/{report_key}"]
        if self.threads:
            command += ["--threads", str(self.threads)]
        command += ["--keep-compressed"] * self.keep_compressed + ["--dry-run"] * self.dry_run
        map_index = getattr(context.get("ti"), "map_index", -1)
        name = re.sub(r"[^A-Za-z0-9_-]", "-", f"bgzip-{self.action}-{self.dag_id}-{self.task_id}-{map_index}")[:128]
        response = self.hook.client.submit_job(
            jobName=name,
            jobQueue=self.job_queue,
            jobDefinition=self.job_definition,
            containerOverrides={"command": command},
        )
        self.log.info("Submitted Batch job %s: %s", response["jobId"], " ".join(command))
        return response["jobId"]

    def _batch_result(self, context: Context, failure: str | None = None) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        self._persist_logs_link(context)
        bucket, key = self._location(context, "reports")
        s3 = S3Hook(**self._hook_parameters)
        report = json.loads(s3.read_key(key, bucket)) if s3.check_for_key(key, bucket) else None
        if report is not None and report.get("batch_job_id") not in (None, self.job_id):
            report = None  # an older job's
        if report is None:
            job = self.hook.get_job_description(self.job_id) if self.job_id else {}
            reason = failure or f"job {job.get('status')}: {job.get('statusReason', 'no reason given')}"
            raise RuntimeError(
                f"Batch job {self.job_id} wrote no report to s3://{bucket}/{key} ({reason}); "
                "see the job's logs (extra link)"
            )
        result = self._finish(report, self.job_id)
        self._memory(context).confirm(self._chunk_world())  # what a later try or clear checks the job against
        return result

    def _persist_logs_link(self, context: Context) -> None:
        if not self.job_id:
            return
        logs = self.hook.get_job_all_awslogs_info(self.job_id)
        if logs:
            CloudWatchEventsLink.persist(
                context=context,
                operator=self,
                region_name=self.hook.conn_region_name,
                aws_partition=self.hook.conn_partition,
                **logs[0],
            )

    def _finish(self, report: dict[str, Any], job_id: str | None) -> dict[str, Any]:
        """Log the worker's totals; fail naming the failed files, or return the totals."""
        summary = report["summary"]
        self.log.info("%s: %s", self.action, summary)
        failed = [entry for entry in report["files"] if entry["status"] == "failed"]
        if failed:
            shown = "; ".join(f"{entry['key']}: {entry['detail']}" for entry in failed[:FAILURES_SHOWN])
            more = f" (and {len(failed) - FAILURES_SHOWN} more in the report)" if len(failed) > FAILURES_SHOWN else ""
            raise RuntimeError(f"{self.action}: {len(failed)} of {summary['files']} files failed: {shown}{more}")
        return {"action": self.action, "job_id": job_id, **summary}
