"""DynamoGlueCopyOperator: copy a DynamoDB table into a lower environment, emails obfuscated."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_bio.core.copy_guard import check_copy_target
from airflow_provider_bio.core.obfuscation import (
    DEFAULT_EMAIL_KEYS,
    DEFAULT_PREFIXED_KEYS,
    ObfuscationCounts,
    ObfuscationSettings,
    obfuscate_item,
)
from airflow_provider_bio.operators.base import AWS_TEMPLATE_FIELDS, AwsLateHookOperator

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
    prefixed: int = 0
    non_string_emails: int = 0


class DynamoGlueCopyOperator(AwsLateHookOperator):
    """Copy every item of a DynamoDB table into another table, obfuscating emails on the way.

    The engine scans the source in ``scan_segments`` parallel segments (consistent reads), applies
    :func:`~airflow_provider_bio.core.obfuscation.obfuscate_item` to each item and writes
    BatchWriteItem batches of 25, re-sending unprocessed items with backoff. Memory holds one
    scan page per segment, whatever the table's size. Before any AWS call it refuses a
    destination that is the source, or that matches ``protected_tables`` or
    ``protected_accounts``. Fails when fewer items were written than read.

    :param source_table: the table read (with ``aws_conn_id``). (templated)
    :param destination_table: the table written; it must exist. (templated)
    :param obfuscation_domain: domain of the stand-in addresses, e.g. ``example.com``. (templated)
    :param email_keys: map keys, at any depth, whose string values are emails.
    :param prefixed_keys: top-level attribute -> prefix after which the value is an email
        (default ``{"pk": "user-email|"}``).
    :param dest_aws_conn_id: the destination's connection when it differs (another account). (templated)
    :param destination_account_id: the destination's account id, checked against ``protected_accounts``.
    :param protected_tables: shell patterns of tables never written (default ``("*prod*",)``).
    :param protected_accounts: account ids never written.
    :param scan_segments: parallel scan segments (and writer threads).
    :param progress_every_seconds: seconds between two progress lines in the log.
    """

    aws_hook_class_path = "airflow_provider_bio.hooks.dynamodb_copy.DynamoCopyHook"
    template_fields: Sequence[str] = (
        *AWS_TEMPLATE_FIELDS,
        "source_table",
        "destination_table",
        "obfuscation_domain",
        "dest_aws_conn_id",
    )
    ui_color = "#c9a0dc"

    def __init__(
        self,
        *,
        source_table: str,
        destination_table: str,
        obfuscation_domain: str,
        email_keys: Sequence[str] = DEFAULT_EMAIL_KEYS,
        prefixed_keys: Mapping[str, str] | None = None,
        dest_aws_conn_id: str | None = None,
        destination_account_id: str | None = None,
        protected_tables: Sequence[str] = ("*prod*",),
        protected_accounts: Sequence[str] = (),
        scan_segments: int = 8,
        progress_every_seconds: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source_table = source_table
        self.destination_table = destination_table
        self.obfuscation_domain = obfuscation_domain
        self.email_keys = tuple(email_keys)
        self.prefixed_keys = dict(DEFAULT_PREFIXED_KEYS if prefixed_keys is None else prefixed_keys)
        self.dest_aws_conn_id = dest_aws_conn_id
        self.destination_account_id = destination_account_id
        self.protected_tables = protected_tables
        self.protected_accounts = protected_accounts
        self.scan_segments = scan_segments
        self.progress_every_seconds = progress_every_seconds

    @property
    def _hook_parameters(self) -> dict[str, Any]:
        config = {"max_pool_connections": self.scan_segments * 2, "retries": {"mode": "adaptive", "max_attempts": 10}}
        return {**super()._hook_parameters, "config": config | (self.botocore_config or {})}

    def _check_arguments(self) -> ObfuscationSettings:
        same_credentials = self.dest_aws_conn_id in (None, self.aws_conn_id)
        check_copy_target(
            source_table=self.source_table,
            destination_table=self.destination_table,
            same_credentials=same_credentials,
            protected_tables=self.protected_tables,
            destination_account=self.destination_account_id,
            protected_accounts=self.protected_accounts,
        )
        if not 1 <= self.scan_segments <= 1000:
            raise ValueError(f"scan_segments must be between 1 and 1000, got {self.scan_segments}")
        return ObfuscationSettings(self.obfuscation_domain, self.email_keys, self.prefixed_keys)

    def execute(self, context: Context) -> dict[str, int]:
        settings = self._check_arguments()
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
        lock = threading.Lock()
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.scan_segments, thread_name_prefix="segment") as pool:
            segments = [
                pool.submit(self._copy_segment, reader, writer, settings, segment, counts, lock)
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
        if counts.written != counts.read:
            raise RuntimeError(f"read {counts.read} items but wrote {counts.written}: the copy is incomplete")
        return asdict(counts)

    def _copy_segment(
        self,
        reader: DynamoCopyHook,
        writer: DynamoCopyHook,
        settings: ObfuscationSettings,
        segment: int,
        counts: CopyCounts,
        lock: threading.Lock,
    ) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        deserializer, serializer = TypeDeserializer(), TypeSerializer()
        for page in reader.scan_segment(self.source_table, segment, self.scan_segments):
            rewritten = ObfuscationCounts()
            transformed = 0
            batch = []
            for typed in page:
                item = {key: deserializer.deserialize(value) for key, value in typed.items()}
                new_item, item_counts = obfuscate_item(item, settings)
                rewritten.add(item_counts)
                transformed += bool(item_counts.emails or item_counts.prefixed)
                batch.append({key: serializer.serialize(value) for key, value in new_item.items()})
            for start in range(0, len(batch), 25):
                writer.write_batch(self.destination_table, batch[start : start + 25])
            with lock:
                counts.read += len(page)
                counts.written += len(batch)
                counts.transformed += transformed
                counts.emails += rewritten.emails
                counts.prefixed += rewritten.prefixed
                counts.non_string_emails += rewritten.non_string_emails

    def _log_progress(self, counts: CopyCounts, seconds: float) -> None:
        self.log.info(
            "progress: read %d, written %d (%.0f items/s), %d items transformed, %d emails obfuscated",
            counts.read,
            counts.written,
            counts.written / max(seconds, 1e-9),
            counts.transformed,
            counts.emails + counts.prefixed,
        )
