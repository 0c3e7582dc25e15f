"""S3SyncOperator: ``aws s3 sync`` between buckets, inside Airflow, resumable and concurrent."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_bio.core.bounded import bounded_map, prefetched
from airflow_provider_bio.core.s3_sync import (
    COPY,
    DELETE,
    S3Location,
    SpooledPlan,
    Step,
    check_filters,
    parse_s3_uri,
    plan_sync,
)
from airflow_provider_bio.operators import guard
from airflow_provider_bio.operators.base import AWS_TEMPLATE_FIELDS, AwsLateHookOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_bio.hooks.s3_sync import CopyOptions, S3SyncHook

STORAGE_CLASSES = (
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
)
#: Planned keys listed in a dry run's result (the log lists every one).
DRY_RUN_LISTED = 10_000
DELETE_BATCH = 1000
#: Listed objects held ahead of the plan, per side: two pages.
LISTING_BUFFER = 2000
#: Failed keys kept in the result (the log names every one).
FAILURES_LISTED = 1000


@dataclass
class Tally:
    """Objects and bytes of one kind of outcome."""

    objects: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        self.objects += 1
        self.bytes += size


@dataclass
class SyncResult:
    """What a sync did; returned as a dict (the task's XCom)."""

    copied: Tally = field(default_factory=Tally)
    deleted: Tally = field(default_factory=Tally)
    skipped: Tally = field(default_factory=Tally)
    failed: Tally = field(default_factory=Tally)
    errors: list[dict[str, str]] = field(default_factory=list)

    def fail(self, key: str, action: str, error: str, size: int = 0) -> None:
        self.failed.add(size)
        if len(self.errors) < FAILURES_LISTED:
            self.errors.append({"key": key, "action": action, "error": error})


class S3SyncOperator(AwsLateHookOperator):
    """Make a destination ``s3://bucket/prefix`` match a source one, the way ``aws s3 sync`` does.

    An object is copied when the destination lacks it, when the sizes differ, or when the source
    is newer (``size_only`` keeps only the first two rules). Filters follow the CLI's
    ``--exclude``/``--include``: ``[("exclude", "*"), ("include", "*.pdf")]`` keeps only PDFs;
    patterns match keys relative to the roots; later filters win. Copies are server-side
    (CopyObject, or UploadPartCopy parts above ``multipart_threshold``, so objects over 5 GiB
    work) and carry content type, metadata and readable tags. With ``dest_aws_conn_id`` set to
    another connection (another account), objects are streamed through the worker instead,
    one part in memory at a time.

    Unlike the CLI, zero-byte "folder" keys ending in ``/`` are copied like any object, and a
    delete sync refuses to run when the source lists nothing (unless ``allow_empty_source``),
    when it would delete more than ``max_delete_fraction`` of the destination, or when the
    destination matches ``protected_destinations``. Every copy and delete is attempted; the task
    then fails if any failed, naming them. A rerun copies only what is still missing or stale.

    :param source: ``s3://bucket[/prefix]`` to read. (templated)
    :param destination: ``s3://bucket[/prefix]`` to write. (templated)
    :param delete: delete destination objects that have no source counterpart (after filters).
    :param dry_run: plan, log and return the exact plan; write nothing. (templated)
    :param size_only: copy only objects whose size differs or that are missing.
    :param filters: ``(kind, pattern)`` pairs, ``kind`` being ``include`` or ``exclude``. (templated)
    :param allow_empty_source: let a delete sync run when the source lists nothing.
    :param max_delete_fraction: the largest share of the destination's objects a sync may delete (0 to 1).
    :param protected_destinations: shell patterns of ``s3://bucket/prefix/`` destinations a delete
        sync refuses, case-insensitive; pass ``()`` to allow every destination. With them, a delete
        sync (a dry run too) passes the guard (:mod:`airflow_provider_bio.operators.guard`): an
        undefined destination connection, or one whose real account is in ``protected_accounts``
        or is not ``expected_account``, is refused before the first write.
    :param expected_account: the account the destination's connection must reach.
    :param protected_accounts: account ids a delete sync never writes.
    :param dest_aws_conn_id: the destination's AWS connection when it differs from ``aws_conn_id``
        (the source's); objects are then streamed through the worker. (templated)
    :param storage_class: storage class of the written objects (S3's default when None).
    :param sse_kms_key_id: KMS key to encrypt written objects with (``aws:kms``).
    :param multipart_threshold: objects above this many bytes are copied in parts (the CLI's 8 MiB).
    :param multipart_chunksize: part size in bytes (the CLI's 8 MiB; raised to stay within 10,000 parts).
    :param max_in_flight: objects (or delete batches of 1,000 keys) in progress at once.
    :param progress_every_seconds: seconds between two progress lines in the log.
    """

    aws_hook_class_path = "airflow_provider_bio.hooks.s3_sync.S3SyncHook"
    template_fields: Sequence[str] = (
        *AWS_TEMPLATE_FIELDS,
        "source",
        "destination",
        "filters",
        "dest_aws_conn_id",
        "dry_run",
    )
    ui_color = "#7fb3d5"

    def __init__(
        self,
        *,
        source: str,
        destination: str,
        delete: bool = False,
        dry_run: bool = False,
        size_only: bool = False,
        filters: Sequence[Sequence[str]] = (),
        allow_empty_source: bool = False,
        max_delete_fraction: float = 0.5,
        protected_destinations: Sequence[str] = ("*prod*",),
        expected_account: str | None = None,
        protected_accounts: Sequence[str] = (),
        dest_aws_conn_id: str | None = None,
        storage_class: str | None = None,
        sse_kms_key_id: str | None = None,
        multipart_threshold: int = 8 * 1024**2,
        multipart_chunksize: int = 8 * 1024**2,
        max_in_flight: int = 64,
        progress_every_seconds: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.destination = destination
        self.delete = delete
        self.dry_run = dry_run
        self.size_only = size_only
        self.filters = filters
        self.allow_empty_source = allow_empty_source
        self.max_delete_fraction = max_delete_fraction
        self.protected_destinations = protected_destinations
        self.expected_account = expected_account
        self.protected_accounts = protected_accounts
        self.dest_aws_conn_id = dest_aws_conn_id
        self.storage_class = storage_class
        self.sse_kms_key_id = sse_kms_key_id
        self.multipart_threshold = multipart_threshold
        self.multipart_chunksize = multipart_chunksize
        self.max_in_flight = max_in_flight
        self.progress_every_seconds = progress_every_seconds

    @property
    def _hook_parameters(self) -> dict[str, Any]:
        # One HTTP connection per object in flight (and the parts of one large copy), retries
        # with backoff for S3's 503 SlowDown; the user's botocore_config wins.
        config = {"max_pool_connections": self.max_in_flight + 8, "retries": {"mode": "standard"}}
        return {**super()._hook_parameters, "config": config | (self.botocore_config or {})}

    # -- checks made before any AWS call ------------------------------------------------------

    def _check_arguments(self) -> tuple[S3Location, S3Location, list[tuple[str, str]]]:
        source = parse_s3_uri(self.source, "source")
        destination = parse_s3_uri(self.destination, "destination")
        if source.contains(destination) or destination.contains(source):
            raise ValueError(
                f"source {source.uri} and destination {destination.uri} overlap; sync between disjoint prefixes"
            )
        filters = check_filters(self.filters)
        if not 0 <= self.max_delete_fraction <= 1:
            raise ValueError(f"max_delete_fraction must be between 0 and 1, got {self.max_delete_fraction}")
        if self.storage_class and self.storage_class not in STORAGE_CLASSES:
            raise ValueError(f"storage_class {self.storage_class!r} is not one of {', '.join(STORAGE_CLASSES)}")
        if not 5 * 1024**2 <= self.multipart_chunksize <= 5 * 1024**3:
            raise ValueError("multipart_chunksize must be between 5 MiB and 5 GiB (S3's part size limits)")
        if not 0 < self.multipart_threshold <= 5 * 1024**3:
            raise ValueError("multipart_threshold must be positive and at most 5 GiB (CopyObject's limit)")
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {self.max_in_flight}")
        if self.delete:  # names first (no AWS call), then the account the destination's connection reaches
            guard.check(
                self,
                conn_id=self.aws_conn_id if self.dest_aws_conn_id is None else self.dest_aws_conn_id,
                action="delete sync into",
                resources={"destination": [destination.uri]},
                protected=self.protected_destinations,
                protected_field="protected_destinations",
                expected_account=self.expected_account,
                protected_accounts=self.protected_accounts,
            )
        return source, destination, filters

    # -- orchestration ---------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_bio.hooks.s3_sync import CopyOptions, S3SyncHook

        source, destination, filters = self._check_arguments()
        source_hook: S3SyncHook = self.hook
        streamed = self.dest_aws_conn_id not in (None, self.aws_conn_id)
        destination_hook = (
            S3SyncHook(**(self._hook_parameters | {"aws_conn_id": self.dest_aws_conn_id})) if streamed else source_hook
        )
        options = CopyOptions(
            self.storage_class, self.sse_kms_key_id, self.multipart_threshold, self.multipart_chunksize
        )

        def plan() -> Iterator[Step]:
            # Each listing fetches its next page while the copies of the current one run.
            return plan_sync(
                prefetched(source_hook.iter_objects(source), LISTING_BUFFER),
                prefetched(destination_hook.iter_objects(destination), LISTING_BUFFER),
                delete=self.delete,
                size_only=self.size_only,
                filters=filters,
            )

        self.log.info(
            "Syncing %s to %s (%s%s)",
            source.uri,
            destination.uri,
            "streamed through the worker" if streamed else "server-side copies",
            ", deleting extra objects" if self.delete else "",
        )

        def run(steps: Iterator[Step]) -> SyncResult:
            return self._run(steps, source, destination, source_hook, destination_hook, options, streamed)

        # A delete sync decides whether it may run and then runs from one listing, kept on disk:
        # a source emptied or changed between two listings can never slip past the checks.
        if not self.delete:
            return self._sync(plan(), None, run)
        with SpooledPlan(plan()) as steps:
            refusal = steps.delete_refusal(
                source.uri,
                destination.uri,
                allow_empty_source=self.allow_empty_source,
                max_delete_fraction=self.max_delete_fraction,
            )
            return self._sync(steps, refusal, run)

    def _sync(
        self, steps: Iterable[Step], refusal: str | None, run: Callable[[Iterator[Step]], SyncResult]
    ) -> dict[str, Any]:
        """Preview or run the plan; a refused delete sync fails, its dry run too, with the same reason."""
        if self.dry_run:
            preview = self._dry_run(iter(steps))
            if refusal:
                raise RuntimeError(f"dry run: the sync would be refused: {refusal}")
            return preview
        if refusal:
            raise RuntimeError(refusal)
        started = time.monotonic()
        result = run(iter(steps))
        summary = self._summary(result, time.monotonic() - started)
        if result.failed.objects:
            for error in result.errors:
                self.log.error("%s %s failed: %s", error["action"], error["key"], error["error"])
            raise RuntimeError(
                f"{result.failed.objects} objects failed (every other copy and delete was done); "
                f"rerun to retry only those: {[e['key'] for e in result.errors[:20]]}"
            )
        return summary

    def _dry_run(self, steps: Iterator[Step]) -> dict[str, Any]:
        planned: dict[str, list[str]] = {COPY: [], DELETE: []}
        counts = {COPY: Tally(), DELETE: Tally(), "skip": Tally()}
        for step in steps:
            size = step.obj.size
            counts[step.action].add(size)
            if step.action != "skip":
                self.log.info("dry run: would %s %s (%s)", step.action, step.key, step.reason)
                if len(planned[step.action]) < DRY_RUN_LISTED:
                    planned[step.action].append(step.key)
        summary = {f"would_{action}": vars(tally) for action, tally in counts.items()}
        self.log.info("dry run: nothing written; plan %s", summary)
        return {"dry_run": True, **summary, "copy_keys": planned[COPY], "delete_keys": planned[DELETE]}

    def _run(
        self,
        steps: Iterator[Step],
        source: S3Location,
        destination: S3Location,
        source_hook: S3SyncHook,
        destination_hook: S3SyncHook,
        options: CopyOptions,
        streamed: bool,
    ) -> SyncResult:
        result = SyncResult()

        def work() -> Iterator[list[Step]]:
            """Copies one by one, deletes in batches; skips are only counted."""
            batch: list[Step] = []
            for step in steps:
                if step.action == COPY:
                    yield [step]
                elif step.action == DELETE:
                    batch.append(step)
                    if len(batch) == DELETE_BATCH:
                        yield batch
                        batch = []
                else:
                    result.skipped.add(step.obj.size)
            if batch:
                yield batch

        def do(unit: list[Step]) -> dict[str, str]:
            if unit[0].action == DELETE:
                return destination_hook.delete_keys(destination, [step.key for step in unit])
            obj = unit[0].obj
            if streamed:
                destination_hook.copy_object_streamed(source_hook, source, destination, obj, options)
            else:
                source_hook.copy_object_server_side(source, destination, obj, options)
            return {}

        last_progress = started = time.monotonic()
        for unit, future in bounded_map(do, work(), self.max_in_flight):
            error = future.exception()
            said = f"{type(error).__name__}: {error}"
            if unit[0].action == COPY:
                size = unit[0].obj.size
                if error:
                    result.fail(unit[0].key, COPY, said, size)
                else:
                    result.copied.add(size)
            else:
                failed = dict.fromkeys((step.key for step in unit), said) if error else future.result()
                for step in unit:
                    if step.key in failed:
                        result.fail(step.key, DELETE, failed[step.key], step.obj.size)
                    else:
                        result.deleted.add(step.obj.size)
            if time.monotonic() - last_progress >= self.progress_every_seconds:
                last_progress = time.monotonic()
                self._log_progress(result, last_progress - started)
        return result

    def _log_progress(self, result: SyncResult, seconds: float) -> None:
        self.log.info(
            "progress: copied %d objects (%.1f MiB, %.1f MiB/s, %.0f objects/s), deleted %d, skipped %d, failed %d",
            result.copied.objects,
            result.copied.bytes / 1024**2,
            result.copied.bytes / 1024**2 / seconds,
            result.copied.objects / seconds,
            result.deleted.objects,
            result.skipped.objects,
            result.failed.objects,
        )

    def _summary(self, result: SyncResult, seconds: float) -> dict[str, Any]:
        self._log_progress(result, max(seconds, 1e-9))
        return {
            "copied": vars(result.copied),
            "deleted": vars(result.deleted),
            "skipped": vars(result.skipped),
            "failed": vars(result.failed),
            "errors": result.errors,
            "seconds": round(seconds, 3),
        }
