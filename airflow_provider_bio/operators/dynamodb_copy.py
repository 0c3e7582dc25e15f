"""DynamoGlueCopyOperator: copy a DynamoDB table into a lower environment, emails obfuscated."""

from __future__ import annotations

import io
import json
import re
import threading
import time
import zipfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf
from airflow.providers.amazon.aws.links.glue import GlueJobRunDetailsLink

from airflow_provider_bio.core import glue_states
from airflow_provider_bio.core.guards import account_of_arn, check_account
from airflow_provider_bio.core.obfuscation import (
    DEFAULT_EMAIL_KEYS,
    MIN_SECRET_BYTES,
    ObfuscationCounts,
    ObfuscationSettings,
    addresses_outside,
    item_key,
    obfuscate_item,
    too_large,
)
from airflow_provider_bio.core.resume import Phase, Verdict, fingerprint
from airflow_provider_bio.core.s3_sync import parse_s3_uri
from airflow_provider_bio.operators import guard
from airflow_provider_bio.operators.base import AWS_TEMPLATE_FIELDS, AwsLateHookOperator
from airflow_provider_bio.operators.resume import StepMemory

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
#: Task state store key of the Glue run a task started, so a retry reattaches instead of copying twice.
GLUE_RUN_KEY = "glue_job_run"
ENGINES = ("local", "glue")
#: Keys of refused or leaking items named in an error (the log names them all).
NAMED_IN_ERRORS = 20

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_bio.hooks.dynamodb_copy import DynamoCopyHook


@dataclass
class CopyCounts:
    """Items read, written and changed by the transform, plus what the transform rewrote."""

    read: int = 0
    written: int = 0
    transformed: int = 0
    emails: int = 0
    #: items over DynamoDB's 400 KB once obfuscated, or otherwise refused by DynamoDB
    not_written: int = 0


class DynamoGlueCopyOperator(AwsLateHookOperator):
    """Copy every item of a DynamoDB table into another table, obfuscating emails on the way.

    Two engines share one transform,
    :func:`~airflow_provider_bio.core.obfuscation.obfuscate_item`:

    - ``engine="local"`` scans the source in ``scan_segments`` parallel segments (consistent
      reads), transforms each item and writes BatchWriteItem batches of 25, re-sending
      unprocessed items with backoff; memory holds one 1,000-item scan page per segment. For small tables,
      development and the demo.
    - ``engine="glue"`` runs the Glue job ``glue_job_name`` whose PySpark script ships in this
      package (``jobs/dynamo_glue_copy.py``, with ``core`` zipped beside it); with
      ``update_job_definition`` both are uploaded under ``script_location`` and the job is
      created or updated. It refuses to start while another run of the job is active, and a
      retry of the task reattaches to the run it started (kept in the task state store) instead
      of starting a second copy. Waits synchronously or deferred (the amazon provider's
      GlueJobCompleteTrigger); the job writes its counts next to the script.

    Before any AWS call it refuses a destination that is the source. Before the first write, and
    in a dry run too, the guard (:mod:`airflow_provider_bio.operators.guard`) refuses a
    destination matching ``protected_tables`` (case-insensitively), an undefined destination
    connection, and a destination connection whose real account is in ``protected_accounts`` or
    is not ``expected_account``; with the glue engine, the account of ``destination_role_arn`` (the
    role the job writes as) is held to the same rules. Fails when fewer items were written than read.

    :param source_table: the table read (with ``aws_conn_id``). (templated)
    :param destination_table: the table written; it must exist. (templated)
    :param obfuscation_domain: domain of the stand-in addresses, e.g. ``example.com``. (templated)
    :param obfuscation_secret_variable: the Airflow Variable holding the HMAC secret of the
        pseudonyms (at least 16 bytes; keep it the same from run to run so joins keep working).
        The task refuses to run without it. Glue engine: written to the SSM SecureString
        ``glue_secret_parameter`` in the source account, which the job reads.
    :param email_keys: map keys (any depth, any case) whose non-empty strings are replaced whole
        even when nothing in them is shaped like an address. Every address-shaped substring of
        every attribute is rewritten whatever its name.
    :param dest_aws_conn_id: the destination's connection when it differs (another account). (templated)
    :param expected_account: the account the destination's connection must reach (the
        environment's ``account_id``).
    :param protected_tables: shell patterns of tables never written, case-insensitive (default ``("*prod*",)``).
    :param protected_accounts: account ids never written.
    :param scan_segments: local engine: parallel scan segments (and writer threads).
    :param progress_every_seconds: local engine: seconds between two progress lines in the log.
    :param engine: ``local`` or ``glue``.
    :param glue_job_name: glue engine: the job's name.
    :param glue_secret_parameter: glue engine: the SSM parameter (SecureString) the secret is
        written to and the job reads (default ``/<glue_job_name>/obfuscation-secret``).
    :param script_location: glue engine: ``s3://bucket/prefix/`` holding the script, the core zip
        and the runs' results.
    :param update_job_definition: glue engine: upload the script and create or update the job first.
    :param job_role_arn: glue engine: the role the job runs as (needed to create or update it).
    :param destination_role_arn: glue engine: the role assumed for the write (cross-account).
    :param worker_type: glue engine: e.g. ``G.1X``.
    :param number_of_workers: glue engine: workers; the scan uses one split per worker.
    :param write_throughput_percent: glue engine: share of the destination's write capacity used.
    :param output_retries: glue engine: the connector's retries of throttled writes.
    :param wait_for_completion: glue engine: wait for the run (else return its id at once).
    :param deferrable: glue engine: wait in the triggerer instead of a worker slot.
    :param waiter_delay: glue engine: seconds between two checks of the run.
    :param waiter_max_attempts: glue engine: checks before giving up (default: 48 hours' worth).
    :param dry_run: check the arguments and report what would be copied (the source's item count
        as DynamoDB keeps it, refreshed about every six hours); start nothing, write nothing. (templated)
    """

    aws_hook_class_path = "airflow_provider_bio.hooks.dynamodb_copy.DynamoCopyHook"
    template_fields: Sequence[str] = (
        *AWS_TEMPLATE_FIELDS,
        "source_table",
        "destination_table",
        "obfuscation_domain",
        "dest_aws_conn_id",
        "script_location",
        "destination_role_arn",
        "dry_run",
    )
    ui_color = "#c9a0dc"
    operator_extra_links = (GlueJobRunDetailsLink(),)

    def __init__(
        self,
        *,
        source_table: str,
        destination_table: str,
        obfuscation_domain: str,
        obfuscation_secret_variable: str = "lower_env_obfuscation_secret",
        email_keys: Sequence[str] = DEFAULT_EMAIL_KEYS,
        dest_aws_conn_id: str | None = None,
        expected_account: str | None = None,
        protected_tables: Sequence[str] = ("*prod*",),
        protected_accounts: Sequence[str] = (),
        scan_segments: int = 8,
        progress_every_seconds: float = 30.0,
        engine: str = "local",
        glue_job_name: str | None = None,
        glue_secret_parameter: str | None = None,
        script_location: str | None = None,
        update_job_definition: bool = False,
        job_role_arn: str | None = None,
        destination_role_arn: str | None = None,
        worker_type: str = "G.1X",
        number_of_workers: int = 20,
        write_throughput_percent: float = 0.1,
        output_retries: int = 35,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        waiter_delay: int = 60,
        waiter_max_attempts: int = 2880,
        dry_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run
        self.source_table = source_table
        self.destination_table = destination_table
        self.obfuscation_domain = obfuscation_domain
        self.obfuscation_secret_variable = obfuscation_secret_variable
        self.email_keys = tuple(email_keys)
        self.dest_aws_conn_id = dest_aws_conn_id
        self.expected_account = expected_account
        self.protected_tables = protected_tables
        self.protected_accounts = protected_accounts
        self.scan_segments = scan_segments
        self.progress_every_seconds = progress_every_seconds
        self.engine = engine
        self.glue_job_name = glue_job_name
        self.glue_secret_parameter = glue_secret_parameter or f"/{glue_job_name}/obfuscation-secret"
        self.script_location = script_location
        self.update_job_definition = update_job_definition
        self.job_role_arn = job_role_arn
        self.destination_role_arn = destination_role_arn
        self.worker_type = worker_type
        self.number_of_workers = number_of_workers
        self.write_throughput_percent = write_throughput_percent
        self.output_retries = output_retries
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.waiter_delay = waiter_delay
        self.waiter_max_attempts = waiter_max_attempts

    @property
    def _hook_parameters(self) -> dict[str, Any]:
        config = {"max_pool_connections": self.scan_segments * 2, "retries": {"mode": "adaptive", "max_attempts": 10}}
        return {**super()._hook_parameters, "config": config | (self.botocore_config or {})}

    def _check_arguments(self) -> ObfuscationSettings:
        if not self.destination_table:
            raise ValueError("destination_table is empty: name the lower environment's table")
        if self.dest_aws_conn_id in (None, self.aws_conn_id) and self.destination_table == self.source_table:
            raise ValueError(
                f"destination_table {self.destination_table!r} is the source table: nothing would be copied"
            )
        if not 1 <= self.scan_segments <= 1000:
            raise ValueError(f"scan_segments must be between 1 and 1000, got {self.scan_segments}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        if self.engine == "glue":
            if not self.glue_job_name or not re.fullmatch(r"[\w.-]{1,255}", self.glue_job_name):
                raise ValueError(f"glue_job_name {self.glue_job_name!r} is not a Glue job name")
            parse_s3_uri(self.script_location or "", "script_location")
            if self.update_job_definition and not self.job_role_arn:
                raise ValueError("update_job_definition needs job_role_arn, the role the Glue job runs as")
            if not 0 < self.write_throughput_percent <= 1.5:
                raise ValueError("write_throughput_percent must be in (0, 1.5]")
        return self._obfuscation_settings()

    def _obfuscation_settings(self) -> ObfuscationSettings:
        """The transform's settings, with the secret read from its Variable; refuses without one."""
        from airflow.sdk import Variable

        name = self.obfuscation_secret_variable
        secret = (Variable.get(name, default=None) or "").encode("utf-8") if name else b""
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f"no obfuscation secret: the Airflow Variable {name!r} (obfuscation_secret_variable) must hold a "
                f"secret of at least {MIN_SECRET_BYTES} bytes, the HMAC key of the pseudonyms; create it once and "
                f"keep it (e.g. `airflow variables set {name} \"$(python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')\"`, or AIRFLOW_VAR_"
                f"{(name or 'NAME').upper()}); an unkeyed hash of an address is reversed with a list of addresses"
            )
        return ObfuscationSettings(self.obfuscation_domain, self.email_keys, secret)

    def execute(self, context: Context) -> dict[str, Any]:
        settings = self._check_arguments()
        self._guard()
        if self.dry_run:
            return self._preview()
        if self.engine == "glue":
            result = self._run_glue(context, settings)
            if "read" not in result:  # not waited for: nothing to check yet
                return result
        else:
            result = self._run_local(settings)
        return self._check_destination(result)

    def _key_attributes(self) -> tuple[str, ...]:
        """The source's key attributes, which name an item in logs and errors."""
        table = self.hook.get_conn().describe_table(TableName=self.source_table)["Table"]
        return tuple(key["AttributeName"] for key in table["KeySchema"])

    def _check_destination(self, result: dict[str, Any]) -> dict[str, Any]:
        """Scan the destination for any address outside the stand-in domain (the transform's own
        matcher) and fail naming the items and attributes (never the address); then fail naming the
        items too large to write. The count of addresses left is in the result."""
        from airflow_provider_bio.hooks.dynamodb_copy import DynamoCopyHook, to_plain

        writer = DynamoCopyHook(**(self._hook_parameters | {"aws_conn_id": self._destination_conn_id}))
        key_attributes = self._key_attributes()
        domain = self.obfuscation_domain
        found: list[tuple[str, str]] = []

        def scan(segment: int) -> list[tuple[str, str]]:
            return [
                (item_key(item, key_attributes, domain), path)
                for page in writer.scan_segment(self.destination_table, segment, self.scan_segments)
                for item in map(to_plain, page)
                for path in addresses_outside(item, domain)
            ]

        with ThreadPoolExecutor(max_workers=self.scan_segments, thread_name_prefix="check") as pool:
            for segment_found in pool.map(scan, range(self.scan_segments)):
                found.extend(segment_found)
        result = {**result, "addresses_outside_domain": len(found)}
        self.log.info("post-copy check of %s: %d addresses outside @%s", self.destination_table, len(found), domain)
        if found:
            named = sorted({f"{key} ({path})" for key, path in found})
            for line in named:
                self.log.error("address outside @%s left in %s", domain, line)
            raise RuntimeError(
                f"{len(found)} addresses outside @{domain} are left in {self.destination_table}, in "
                f"{len(named)} attributes: {'; '.join(named[:NAMED_IN_ERRORS])}"
                + (" ..." if len(named) > NAMED_IN_ERRORS else "")
            )
        if result.get("not_written"):
            keys = result.get("not_written_keys", [])
            raise RuntimeError(
                f"{result['not_written']} items could not be written, over DynamoDB's 400 KB once obfuscated or "
                f"refused by DynamoDB (every other item was written): {'; '.join(keys[:NAMED_IN_ERRORS])}"
                + (" ..." if len(keys) > NAMED_IN_ERRORS else "")
            )
        return result

    def _guard(self) -> None:
        """Refuse, before any write and in a dry run too, a protected destination table or account."""
        guard.check(
            self,
            conn_id=self._destination_conn_id,
            action="write",
            resources={"destination_table": [self.destination_table]},
            protected=self.protected_tables,
            protected_field="protected_tables",
            expected_account=self.expected_account,
            protected_accounts=self.protected_accounts,
        )
        role_account = account_of_arn(self.destination_role_arn or "")
        if self.engine == "glue" and role_account:
            check_account(
                role_account,
                conn_id=None,
                resource=f"destination_table {self.destination_table}",
                action="write",
                expected_account=self.expected_account,
                protected_accounts=self.protected_accounts,
                via=f"destination_role_arn {self.destination_role_arn}",
            )

    def _preview(self) -> dict[str, Any]:
        """What a real run would copy, read from the source's description; nothing is started or written."""
        source = self.hook.get_conn().describe_table(TableName=self.source_table)["Table"]
        items = source.get("ItemCount", 0)
        self.log.info(
            "dry run: would copy about %d items (%d bytes) of %s into %s with the %s engine, emails obfuscated to @%s",
            items,
            source.get("TableSizeBytes", 0),
            self.source_table,
            self.destination_table,
            self.engine,
            self.obfuscation_domain,
        )
        return {"dry_run": True, "source_items": items, "destination_table": self.destination_table}

    # -- the local engine --------------------------------------------------------------------------

    def _run_local(self, settings: ObfuscationSettings) -> dict[str, Any]:
        from airflow_provider_bio.hooks.dynamodb_copy import DynamoCopyHook

        reader: DynamoCopyHook = self.hook
        writer = (
            reader
            if self.dest_aws_conn_id in (None, self.aws_conn_id)
            else DynamoCopyHook(**(self._hook_parameters | {"aws_conn_id": self.dest_aws_conn_id}))
        )
        reader.get_conn(), writer.get_conn()  # built once, before the segment threads share them
        self.log.info(
            "Copying %s to %s in %d segments, emails obfuscated to @%s",
            self.source_table,
            self.destination_table,
            self.scan_segments,
            settings.domain,
        )
        counts = CopyCounts()
        refused: list[str] = []
        key_attributes = self._key_attributes()
        lock = threading.Lock()
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.scan_segments, thread_name_prefix="segment") as pool:
            segments = [
                pool.submit(
                    self._copy_segment, reader, writer, settings, key_attributes, segment, counts, refused, lock
                )
                for segment in range(self.scan_segments)
            ]
            last_progress = started
            while not all(future.done() for future in segments):
                time.sleep(0.2)
                if time.monotonic() - last_progress >= self.progress_every_seconds:
                    last_progress = time.monotonic()
                    self._log_progress(counts, last_progress - started)
            for future in segments:
                future.result()
        self._log_progress(counts, time.monotonic() - started)
        if counts.written + counts.not_written != counts.read:
            raise RuntimeError(f"read {counts.read} items but wrote {counts.written}: the copy is incomplete")
        return {**asdict(counts), "not_written_keys": sorted(refused)}

    def _copy_segment(
        self,
        reader: DynamoCopyHook,
        writer: DynamoCopyHook,
        settings: ObfuscationSettings,
        key_attributes: tuple[str, ...],
        segment: int,
        counts: CopyCounts,
        refused: list[str],
        lock: threading.Lock,
    ) -> None:
        """Copy one scan segment. An item too large once obfuscated is left out and named (every
        other item of its batch is written), and so is any item DynamoDB refuses."""
        from airflow_provider_bio.hooks.dynamodb_copy import to_plain, to_typed

        for page in reader.scan_segment(self.source_table, segment, self.scan_segments):
            rewritten = ObfuscationCounts()
            transformed = written = 0
            left_out: list[str] = []
            for start in range(0, len(page), 25):
                batch = []
                for typed in page[start : start + 25]:
                    new_item, item_counts = obfuscate_item(to_plain(typed), settings)
                    rewritten.add(item_counts)
                    transformed += bool(item_counts.emails)
                    if too_large(new_item):
                        left_out.append(item_key(new_item, key_attributes, settings.domain))
                        self.log.error("not written, over 400 KB once obfuscated: %s", left_out[-1])
                    else:
                        batch.append(to_typed(new_item))
                refusals = writer.write_batch(self.destination_table, batch) if batch else []
                for item, reason in refusals:
                    left_out.append(item_key(to_plain(item), key_attributes, settings.domain))
                    self.log.error("not written, DynamoDB refused it (%s): %s", reason, left_out[-1])
                written += len(batch) - len(refusals)
            with lock:
                counts.read += len(page)
                counts.written += written
                counts.transformed += transformed
                counts.emails += rewritten.emails
                counts.not_written += len(left_out)
                refused.extend(left_out)

    def _log_progress(self, counts: CopyCounts, seconds: float) -> None:
        self.log.info(
            "progress: read %d, written %d (%.0f items/s), %d items transformed, %d emails obfuscated",
            counts.read,
            counts.written,
            counts.written / max(seconds, 1e-9),
            counts.transformed,
            counts.emails,
        )

    # -- the Glue engine ---------------------------------------------------------------------------

    def _glue_hook(self) -> Any:
        from airflow.providers.amazon.aws.hooks.glue import GlueJobHook

        location = parse_s3_uri(self.script_location or "", "script_location")
        return GlueJobHook(
            job_name=self.glue_job_name,
            desc=f"Copy of DynamoDB {self.source_table} with emails obfuscated (airflow-provider-bio)",
            script_location=f"{location.uri}dynamo_glue_copy.py",
            iam_role_arn=self.job_role_arn,
            update_config=True,
            create_job_kwargs={
                "GlueVersion": "4.0",
                "WorkerType": self.worker_type,
                "NumberOfWorkers": self.number_of_workers,
                "Command": {
                    "Name": "glueetl",
                    "ScriptLocation": f"{location.uri}dynamo_glue_copy.py",
                    "PythonVersion": "3",
                },
                "DefaultArguments": {"--extra-py-files": f"{location.uri}airflow_provider_bio_core.zip"},
            },
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            config=self.botocore_config,
        )

    def _glue_arguments(self, settings: ObfuscationSettings, result_uri: str) -> dict[str, str]:
        """The job's arguments. The secret is not one of them (whoever reads the job run would see
        it): the job reads it from the SSM SecureString ``--obfuscation_secret_parameter``."""
        obfuscation = {"domain": settings.domain, "email_keys": list(settings.email_keys)}
        return {
            "--source_table": self.source_table,
            "--destination_table": self.destination_table,
            "--destination_role_arn": self.destination_role_arn or "none",
            "--splits": str(self.number_of_workers),
            "--write_throughput_percent": str(self.write_throughput_percent),
            "--output_retries": str(self.output_retries),
            "--obfuscation": json.dumps(obfuscation),
            "--obfuscation_secret_parameter": self.glue_secret_parameter,
            "--key_attributes": json.dumps(self._key_attributes()),
            "--result_s3_uri": result_uri,
        }

    def _upload_job_files(self) -> None:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        location = parse_s3_uri(self.script_location or "", "script_location")
        s3 = S3Hook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify)
        script = (PACKAGE_ROOT / "jobs" / "dynamo_glue_copy.py").read_bytes()
        s3.load_bytes(script, f"{location.prefix}dynamo_glue_copy.py", location.bucket, replace=True)
        s3.load_bytes(core_bundle(), f"{location.prefix}airflow_provider_bio_core.zip", location.bucket, replace=True)

    def _run_glue(self, context: Context, settings: ObfuscationSettings) -> dict[str, Any]:
        glue = self._glue_hook()
        result_uri = self._result_uri(context)
        arguments = self._glue_arguments(settings, result_uri)
        memory = StepMemory(context, GLUE_RUN_KEY, {"job": self.glue_job_name, "arguments": arguments}, self.log)
        verdict, remembered = memory.recall(
            phase_of=lambda run_id: self._glue_phase(glue, run_id), world_now=self._tables_identity
        )
        if verdict is Verdict.REUSE:
            return self._glue_result(remembered.value, result_uri)
        if verdict is Verdict.REATTACH:
            run_id = remembered.value
        else:
            identity = self._tables_identity()
            run_id = self._start_glue_run(glue, arguments, result_uri, settings.secret)
            memory.remember(run_id, world=identity)
        GlueJobRunDetailsLink.persist(
            context=context,
            operator=self,
            region_name=glue.conn_region_name,
            aws_partition=glue.conn_partition,
            job_name=self.glue_job_name,
            job_run_id=run_id,
        )
        if self.deferrable:
            from airflow.providers.amazon.aws.triggers.glue import GlueJobCompleteTrigger

            self.defer(
                trigger=GlueJobCompleteTrigger(
                    job_name=self.glue_job_name,
                    run_id=run_id,
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
            return {"glue_job_run_id": run_id}
        glue.get_waiter("job_complete").wait(
            JobName=self.glue_job_name,
            RunId=run_id,
            WaiterConfig={"Delay": self.waiter_delay, "MaxAttempts": self.waiter_max_attempts},
        )
        return self._glue_result(run_id, result_uri)

    def _glue_phase(self, glue: Any, run_id: str) -> Phase:
        """Where a remembered Glue run stands; a run Glue no longer knows has ended."""
        try:
            return glue_states.phase(glue.get_job_state(self.glue_job_name, run_id))
        except glue.conn.exceptions.EntityNotFoundException:
            return Phase.ENDED

    def _tables_identity(self) -> str:
        """Which tables the copy reads and writes: their ids change when a table is deleted and recreated."""
        from airflow_provider_bio.hooks.dynamodb_copy import DynamoCopyHook

        writer = DynamoCopyHook(**(self._hook_parameters | {"aws_conn_id": self._destination_conn_id}))
        return fingerprint([self.hook.table_identity(self.source_table), writer.table_identity(self.destination_table)])

    @property
    def _destination_conn_id(self) -> str | None:
        return self.aws_conn_id if self.dest_aws_conn_id is None else self.dest_aws_conn_id

    def _start_glue_run(self, glue: Any, arguments: dict[str, str], result_uri: str, secret: bytes) -> str:
        """Start a new run of the job, refusing beside an active one; no older result can be read for it."""
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        runs = (
            glue.conn.get_job_runs(JobName=self.glue_job_name, MaxResults=50)
            if glue.has_job(self.glue_job_name)
            else {}
        )
        active = [run["Id"] for run in runs.get("JobRuns", []) if run["JobRunState"] in glue_states.ACTIVE]
        if active:
            raise RuntimeError(
                f"Glue job {self.glue_job_name} already has an active run ({', '.join(active)}): a second copy "
                "would write the same table; wait for it or stop it"
            )
        if self.update_job_definition:
            self._upload_job_files()
            glue.create_or_update_glue_job()
        elif not glue.has_job(self.glue_job_name):
            raise RuntimeError(
                f"Glue job {self.glue_job_name} does not exist; pass update_job_definition=True to create it"
            )
        s3 = S3Hook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify)
        bucket, key = s3.parse_s3_url(result_uri)
        s3.delete_objects(bucket, [key])  # an earlier run's counts are never taken for this one's
        self._put_glue_secret(secret)
        run_id = glue.conn.start_job_run(JobName=self.glue_job_name, Arguments=arguments)["JobRunId"]
        self.log.info("Started Glue run %s of %s", run_id, self.glue_job_name)
        return run_id

    def _put_glue_secret(self, secret: bytes) -> None:
        """Write the secret to the SSM SecureString the job reads (in the account the job runs in)."""
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        ssm = AwsBaseHook(
            aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify, client_type="ssm"
        ).get_conn()
        ssm.put_parameter(
            Name=self.glue_secret_parameter,
            Value=secret.decode("utf-8"),
            Type="SecureString",
            Overwrite=True,
            Description="HMAC key of the email pseudonyms of the lower-environment copies (airflow-provider-bio)",
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Finish a deferred Glue copy: check the trigger's event, then the job's counts."""
        if not event or event.get("status") != "success":
            raise RuntimeError(f"Glue run of {self.glue_job_name} did not succeed: {event}")
        return self._check_destination(self._glue_result(event["run_id"], self._result_uri(context)))

    def _result_uri(self, context: Context) -> str:
        """Where the job writes its counts: one file per DAG, run and task, so a retry finds it and
        two DAGs sharing a job and a schedule never read each other's."""
        location = parse_s3_uri(self.script_location or "", "script_location")
        return f"{location.uri}results/{self.dag_id}/{context['run_id']}/{self.task_id}.json"

    def _glue_result(self, run_id: str, result_uri: str) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        s3 = S3Hook(aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify)
        bucket, key = s3.parse_s3_url(result_uri)
        counts = json.loads(s3.read_key(key, bucket)) if s3.check_for_key(key, bucket) else None
        if counts is None or counts.get("glue_job_run_id", run_id) != run_id:
            raise RuntimeError(f"Glue run {run_id} left no counts at {result_uri}: see the run's logs (extra link)")
        self.log.info("Glue run %s: %s", run_id, counts)
        if counts["written"] + counts.get("not_written", 0) != counts["read"]:
            raise RuntimeError(f"Glue run {run_id} read {counts['read']} items but wrote {counts['written']}")
        return {**counts, "glue_job_run_id": run_id}


def core_bundle() -> bytes:
    """A zip of ``airflow_provider_bio.core`` (and the package's ``__init__``), for Glue's ``--extra-py-files``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.write(PACKAGE_ROOT / "__init__.py", "airflow_provider_bio/__init__.py")
        for path in sorted((PACKAGE_ROOT / "core").glob("*.py")):
            bundle.write(path, f"airflow_provider_bio/core/{path.name}")
    return buffer.getvalue()
