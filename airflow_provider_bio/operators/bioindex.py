"""The bio-index steps around the BGZF worker: plan a run's chunks, and flip an index's ``compressed`` flag."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_bio.core.bioindex_plan import BioIndexConf, IndexTarget, gib, plan_chunks, validate_conf
from airflow_provider_bio.core.index_lock import DEFAULT_TTL_SECONDS, IndexLock, LockRefused
from airflow_provider_bio.operators.base import AWS_TEMPLATE_FIELDS, AwsLateHookOperator
from airflow_provider_bio.operators.bgzip import BgzipBatchOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

#: What each direction lists under an index prefix.
SUFFIXES = {"compress": ".json", "decompress": ".json.gz"}


def run_conf(
    context: Context,
    work_location: str | None,
    known: list[dict[str, str]] | None = None,
    served_bucket: str | None = None,
) -> BioIndexConf:
    """Validate a bioindex run's Params merged with its trigger conf.

    :raises AirflowFailException: naming each bad field and the fix; a bad conf is not retried.
    """
    try:
        return validate_conf(
            {**context["params"], **(context["dag_run"].conf or {})},
            work_location=work_location,
            known=known or [],
            served_bucket=served_bucket,
        )
    except ValueError as error:
        raise AirflowFailException(str(error)) from error


def index_lock(task: Any, s3: Any, bucket: str, context: Context, ttl_seconds: float) -> IndexLock:
    """The index locks of ``task``'s DAG run (owner ``<dag_id>/<run_id>``) in ``bucket``."""
    owner = f"{task.dag_id}/{context['run_id']}"
    return IndexLock(s3, bucket, owner, ttl_seconds=ttl_seconds, log=task.log.info)


def hold_or_fail(lock: IndexLock, index: str, prefix: str) -> None:
    """Hold one index's lock; another run holding it fails the task without a retry."""
    try:
        lock.hold(index, prefix)
    except LockRefused as error:
        raise AirflowFailException(str(error)) from error


def check_entries(indexes: Any) -> list[dict[str, Any]]:
    """Validate ``{"index", "prefix"[, "exclude"]}`` entries (the plan's XCom ``indexes``)."""
    if not isinstance(indexes, list) or not all(isinstance(i, dict) and {"index", "prefix"} <= set(i) for i in indexes):
        raise ValueError(f'indexes must be a list of {{"index", "prefix"}} objects; got {indexes!r}')
    return indexes


class PlanBioIndexChunksOperator(AwsLateHookOperator):
    """Validate the run's conf, list the chosen indexes' files and split them into chunks by size.

    Returns one ``{"keys": [...], "chunk_label": ..., "index": ..., "index_prefix": ...}`` per chunk
    (for ``expand_kwargs`` of a :class:`BioIndexBgzipOperator`) and pushes the chosen indexes
    that hold files as XCom ``indexes`` (``{"index", "prefix", "exclude"}`` each, for the marking
    step: an index with nothing to compress or restore keeps its flag). A
    ``dry_run`` conf logs the plan and returns no chunks.

    :param direction: ``compress`` (lists ``.json``) or ``decompress`` (lists ``.json.gz``; the
        chunks name the originals to restore).
    :param work_location: where the worker's manifests and reports go; refused inside an index prefix.
    :param known_indexes: every index the deployment knows (``{"name", "prefix"}``): the files of
        one nested inside a chosen index but not chosen are left out of the plan.
    :param served_bucket: the bucket the bio-index serves; a conf naming another is refused.
    :param lock_ttl_seconds: how long an index's lock lasts unless the run takes it again.

    Before listing (and unless ``dry_run``) the run takes the lock of every chosen index
    (:mod:`airflow_provider_bio.core.index_lock`); another run holding one fails the task, and
    the locks this try took are given back. The locked indexes are pushed as XCom ``locked``
    for the release at the end of the run.
    """

    aws_hook_class_path = "airflow.providers.amazon.aws.hooks.s3.S3Hook"

    def __init__(
        self,
        *,
        direction: str,
        work_location: str | None = None,
        known_indexes: list[dict[str, str]] | None = None,
        served_bucket: str | None = None,
        lock_ttl_seconds: float = DEFAULT_TTL_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if direction not in SUFFIXES:
            raise ValueError(f"direction must be 'compress' or 'decompress'; got {direction!r}")
        self.direction = direction
        self.work_location = work_location
        self.known_indexes = known_indexes
        self.served_bucket = served_bucket
        self.lock_ttl_seconds = lock_ttl_seconds

    def _lock_all(self, context: Context, conf: BioIndexConf) -> None:
        lock = index_lock(self, self.hook.get_conn(), conf.bucket, context, self.lock_ttl_seconds)
        held: list[IndexTarget] = []
        try:
            for index in conf.indexes:
                hold_or_fail(lock, index.name, index.prefix)
                held.append(index)
        except AirflowFailException:
            for index in held:
                lock.release(index.name, index.prefix)
            raise
        context["ti"].xcom_push(key="locked", value=[index.as_entry() for index in held])

    def execute(self, context: Context) -> list[dict[str, Any]]:
        conf = run_conf(context, self.work_location, self.known_indexes, self.served_bucket)
        if not conf.dry_run:
            self._lock_all(context, conf)
        suffix = SUFFIXES[self.direction]
        files: list[tuple[str, str, int]] = []
        found_in: list[dict[str, Any]] = []
        owner_of: dict[str, IndexTarget] = {}
        paginator = self.hook.get_conn().get_paginator("list_objects_v2")
        for index in conf.indexes:
            found = 0
            for page in paginator.paginate(Bucket=conf.bucket, Prefix=index.prefix):
                for item in page.get("Contents", []):
                    if item["Key"].endswith(suffix) and index.owns(item["Key"]):
                        files.append((index.name, item["Key"].removesuffix(".gz"), int(item["Size"])))
                        found += 1
            left_out = f" (leaving out {', '.join(index.exclude)}: indexes of their own)" if index.exclude else ""
            self.log.info(
                "%s: %d %s files under s3://%s/%s%s", index.name, found, suffix, conf.bucket, index.prefix, left_out
            )
            owner_of[index.name] = index
            if found:
                found_in.append(index.as_entry())
            else:
                self.log.warning(
                    "%s: no %s files under %s; its flag is left as it is", index.name, suffix, index.prefix
                )
        chunks = plan_chunks(files, chunk_bytes=conf.chunk_bytes)
        total = sum(size for _, _, size in files)
        self.log.info("%d files, %s, in %d chunks", len(files), gib(total), len(chunks))
        planned = [
            {**chunk.as_kwargs(number, len(chunks)), "index": chunk.index, "index_prefix": owner_of[chunk.index].prefix}
            for number, chunk in enumerate(chunks, 1)
        ]
        for entry in planned:
            self.log.info("  %s", entry["chunk_label"])
        context["ti"].xcom_push(key="indexes", value=found_in)
        if conf.dry_run:
            self.log.info("Dry run: the plan above touches no file")
            return []
        return planned


class SetBioIndexCompressedOperator(AwsLateHookOperator):
    """Mark bio-indexes as read from their ``.gz`` files (``compressed=True``) or their ``.json`` files.

    The flag is set only when the bucket, looked at now, serves what it promises: marking
    compressed needs every ``.json`` under the index's prefix to have its ``.gz`` and ``.gzi``
    (and at least one pair to exist); marking uncompressed needs every ``.json.gz`` to have its
    ``.json``. Otherwise the task fails naming the missing files and no flag changes. Setting the
    flag is idempotent, so a retry marks every index again.

    :param indexes: ``{"index": name, "prefix": key prefix}`` per index, e.g. the plan's XCom
        ``indexes``. (templated)
    :param compressed: the flag's new value.
    :param bucket: the bucket the indexes' files are served from. (templated)
    :param bioindex_conn_id: an HTTP connection to the bio-index service, or a SQL connection to
        its database (see :class:`~airflow_provider_bio.hooks.bioindex.BioIndexHook`).
    :param served_bucket: the bucket the bio-index serves; any other ``bucket`` is refused before
        any call, since the flag would describe files the bio-index does not read.
    :param lock: hold each index's lock (this run's, see :class:`PlanBioIndexChunksOperator`)
        before looking at the bucket and setting the flag.
    :param lock_ttl_seconds: how long an index's lock lasts unless the run takes it again.
    """

    aws_hook_class_path = "airflow.providers.amazon.aws.hooks.s3.S3Hook"
    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "indexes", "bucket")

    def __init__(
        self,
        *,
        indexes: list[dict[str, Any]] | str,
        compressed: bool,
        bucket: str,
        bioindex_conn_id: str = "bioindex_default",
        served_bucket: str | None = None,
        lock: bool = False,
        lock_ttl_seconds: float = DEFAULT_TTL_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.indexes = indexes
        self.compressed = compressed
        self.bucket = bucket
        self.bioindex_conn_id = bioindex_conn_id
        self.served_bucket = served_bucket
        self.lock = lock
        self.lock_ttl_seconds = lock_ttl_seconds

    def _missing(self, prefix: str, exclude: tuple[str, ...] = ()) -> list[str]:
        """What the bucket lacks under ``prefix`` (outside ``exclude``) for the flag's new value to be true."""
        present: set[str] = set()
        for page in self.hook.get_conn().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            present.update(item["Key"] for item in page.get("Contents", []) if not item["Key"].startswith(exclude))
        if self.compressed:
            originals = {key for key in present if key.endswith(".json")}
            missing = sorted(f"{key}{suffix}" for key in originals for suffix in (".gz", ".gz.gzi"))
            missing = [key for key in missing if key not in present]
            return missing or ([] if any(key.endswith(".json.gz") for key in present) else [f"{prefix}*.json.gz"])
        return sorted(
            key.removesuffix(".gz")
            for key in present
            if key.endswith(".json.gz") and key.removesuffix(".gz") not in present
        )

    def execute(self, context: Context) -> list[str]:
        from airflow_provider_bio.hooks.bioindex import BioIndexHook

        indexes = check_entries(self.indexes)
        if self.served_bucket is not None and self.bucket != self.served_bucket:
            raise AirflowFailException(
                f"bucket {self.bucket} is not the bucket the bio-index serves ({self.served_bucket}); "
                "no flag is set for files the bio-index does not read"
            )
        if self.lock:
            lock = index_lock(self, self.hook.get_conn(), self.bucket, context, self.lock_ttl_seconds)
            for entry in indexes:
                hold_or_fail(lock, entry["index"], entry["prefix"])
        for entry in indexes:
            missing = self._missing(entry["prefix"], tuple(entry.get("exclude") or ()))
            if missing:
                raise RuntimeError(
                    f"{entry['index']} is not marked {'compressed' if self.compressed else 'uncompressed'}: "
                    f"s3://{self.bucket} lacks {len(missing)} of the files it would be read from, e.g. "
                    f"{', '.join(missing[:5])}; run the steps before this one again"
                )
        hook = BioIndexHook(self.bioindex_conn_id)
        for entry in indexes:
            hook.set_compressed(entry["index"], entry["prefix"], self.compressed)
        return [entry["index"] for entry in indexes]


class BioIndexBgzipOperator(BgzipBatchOperator):
    """One chunk of one bio-index, run only while this DAG run holds the index's lock.

    A :class:`~airflow_provider_bio.operators.bgzip.BgzipBatchOperator` that first holds (takes,
    takes again as its own, or takes over when expired) the lock of the chunk's index, so a retry
    or a clear of its own run goes on while a run of the other DAG on the same index is refused
    before this step writes or deletes anything.

    :param index: the chunk's index name (from the plan).
    :param index_prefix: the index's key prefix (from the plan).
    :param lock_ttl_seconds: how long an index's lock lasts unless the run takes it again.
    """

    def __init__(
        self,
        *,
        index: str,
        index_prefix: str,
        lock_ttl_seconds: float = DEFAULT_TTL_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.index = index
        self.index_prefix = index_prefix
        self.lock_ttl_seconds = lock_ttl_seconds

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        s3 = S3Hook(**self._hook_parameters).get_conn()
        hold_or_fail(index_lock(self, s3, self.bucket, context, self.lock_ttl_seconds), self.index, self.index_prefix)
        return super().execute(context)


class ReleaseBioIndexLocksOperator(AwsLateHookOperator):
    """Give back the index locks this DAG run holds (a teardown: it runs however the run went).

    A lock another run holds (taken over after this run's expired) is left alone.

    :param indexes: ``{"index", "prefix"}`` per index, e.g. the plan's XCom ``locked``. (templated)
    :param bucket: the bucket the locks live in (the served bucket). (templated)
    """

    aws_hook_class_path = "airflow.providers.amazon.aws.hooks.s3.S3Hook"
    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "indexes", "bucket")

    def __init__(self, *, indexes: list[dict[str, Any]] | str | None, bucket: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.indexes = indexes
        self.bucket = bucket

    def execute(self, context: Context) -> list[str]:
        indexes = check_entries(self.indexes or [])
        if not indexes:
            self.log.info("This run took no lock")
            return []
        lock = index_lock(self, self.hook.get_conn(), self.bucket, context, DEFAULT_TTL_SECONDS)
        return [entry["index"] for entry in indexes if lock.release(entry["index"], entry["prefix"])]
