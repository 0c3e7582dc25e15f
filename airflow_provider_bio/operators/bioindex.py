"""The bio-index steps around the BGZF worker: plan a run's chunks, and flip an index's ``compressed`` flag."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_bio.core.bioindex_plan import BioIndexConf, gib, plan_chunks, validate_conf
from airflow_provider_bio.operators.base import AWS_TEMPLATE_FIELDS, AwsLateHookOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

#: What each direction lists under an index prefix.
SUFFIXES = {"compress": ".json", "decompress": ".json.gz"}


def run_conf(context: Context, work_location: str | None) -> BioIndexConf:
    """Validate a bioindex run's Params merged with its trigger conf.

    :raises AirflowFailException: naming each bad field and the fix; a bad conf is not retried.
    """
    try:
        return validate_conf({**context["params"], **(context["dag_run"].conf or {})}, work_location=work_location)
    except ValueError as error:
        raise AirflowFailException(str(error)) from error


class PlanBioIndexChunksOperator(AwsLateHookOperator):
    """Validate the run's conf, list the chosen indexes' files and split them into chunks by size.

    Returns one ``{"keys": [...], "chunk_label": ...}`` per chunk (for ``expand_kwargs`` of a
    :class:`~airflow_provider_bio.operators.bgzip.BgzipBatchOperator`) and pushes the chosen
    indexes that hold files as XCom ``indexes`` (``{"index", "prefix"}`` each, for the marking
    step: an index with nothing to compress or restore keeps its flag). A
    ``dry_run`` conf logs the plan and returns no chunks.

    :param direction: ``compress`` (lists ``.json``) or ``decompress`` (lists ``.json.gz``; the
        chunks name the originals to restore).
    :param work_location: where the worker's manifests and reports go; refused inside an index prefix.
    """

    aws_hook_class_path = "airflow.providers.amazon.aws.hooks.s3.S3Hook"

    def __init__(self, *, direction: str, work_location: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if direction not in SUFFIXES:
            raise ValueError(f"direction must be 'compress' or 'decompress'; got {direction!r}")
        self.direction = direction
        self.work_location = work_location

    def execute(self, context: Context) -> list[dict[str, Any]]:
        conf = run_conf(context, self.work_location)
        suffix = SUFFIXES[self.direction]
        files: list[tuple[str, str, int]] = []
        found_in: list[dict[str, str]] = []
        paginator = self.hook.get_conn().get_paginator("list_objects_v2")
        for index in conf.indexes:
            found = 0
            for page in paginator.paginate(Bucket=conf.bucket, Prefix=index.prefix):
                for item in page.get("Contents", []):
                    if item["Key"].endswith(suffix):
                        files.append((index.name, item["Key"].removesuffix(".gz"), int(item["Size"])))
                        found += 1
            self.log.info("%s: %d %s files under s3://%s/%s", index.name, found, suffix, conf.bucket, index.prefix)
            if found:
                found_in.append({"index": index.name, "prefix": index.prefix})
            else:
                self.log.warning(
                    "%s: no %s files under %s; its flag is left as it is", index.name, suffix, index.prefix
                )
        chunks = plan_chunks(files, chunk_bytes=conf.chunk_bytes)
        total = sum(size for _, _, size in files)
        self.log.info("%d files, %s, in %d chunks", len(files), gib(total), len(chunks))
        planned = [chunk.as_kwargs(number, len(chunks)) for number, chunk in enumerate(chunks, 1)]
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
    """

    aws_hook_class_path = "airflow.providers.amazon.aws.hooks.s3.S3Hook"
    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "indexes", "bucket")

    def __init__(
        self,
        *,
        indexes: list[dict[str, str]] | str,
        compressed: bool,
        bucket: str,
        bioindex_conn_id: str = "bioindex_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.indexes = indexes
        self.compressed = compressed
        self.bucket = bucket
        self.bioindex_conn_id = bioindex_conn_id

    def _missing(self, prefix: str) -> list[str]:
        """What the bucket lacks under ``prefix`` for the flag's new value to be true."""
        present: set[str] = set()
        for page in self.hook.get_conn().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            present.update(item["Key"] for item in page.get("Contents", []))
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

        if not isinstance(self.indexes, list) or not all({"index", "prefix"} <= set(i) for i in self.indexes):
            raise ValueError(f'indexes must be a list of {{"index", "prefix"}} objects; got {self.indexes!r}')
        for entry in self.indexes:
            missing = self._missing(entry["prefix"])
            if missing:
                raise RuntimeError(
                    f"{entry['index']} is not marked {'compressed' if self.compressed else 'uncompressed'}: "
                    f"s3://{self.bucket} lacks {len(missing)} of the files it would be read from, e.g. "
                    f"{', '.join(missing[:5])}; run the steps before this one again"
                )
        hook = BioIndexHook(self.bioindex_conn_id)
        for entry in self.indexes:
            hook.set_compressed(entry["index"], entry["prefix"], self.compressed)
        return [entry["index"] for entry in self.indexes]
