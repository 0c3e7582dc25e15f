"""DynamoDB calls of a table copy: one scan segment's pages, and batch writes that finish."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

#: BatchWriteItem takes at most 25 puts.
BATCH_SIZE = 25
#: Attempts at one batch's unprocessed items before the copy fails (the Glue job needed 35 retries).
MAX_BATCH_ATTEMPTS = 35


def backoff(seconds: float) -> None:
    """Wait before re-sending unprocessed items."""
    time.sleep(seconds)


class DynamoCopyHook(AwsBaseHook):
    """Scan and batch-write DynamoDB items in their typed (AttributeValue) form."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "dynamodb"
        super().__init__(*args, **kwargs)

    def scan_segment(
        self, table: str, segment: int, total_segments: int, page_size: int = 1000
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the items of one parallel-scan segment, a page at a time, consistently read.

        A page is at most ``page_size`` items (besides DynamoDB's own 1 MB), so memory does not
        depend on the table's size.
        """
        paginator = self.get_conn().get_paginator("scan")
        pages = paginator.paginate(
            TableName=table,
            Segment=segment,
            TotalSegments=total_segments,
            ConsistentRead=True,
            PaginationConfig={"PageSize": page_size},
        )
        for page in pages:
            yield page.get("Items", [])

    def write_batch(
        self, table: str, items: list[dict[str, Any]], base_delay: float = 0.05
    ) -> list[tuple[dict[str, Any], str]]:
        """Put up to 25 items, re-sending UnprocessedItems with exponential backoff and jitter.

        DynamoDB refuses a whole batch when one of its items is refused (over 400 KB, say): the
        batch is then sent again one item at a time, so every other item is still written.

        :return: the items DynamoDB refused, each with its reason.
        :raises RuntimeError: when items are still unprocessed after ``MAX_BATCH_ATTEMPTS``.
        """
        client = self.get_conn()
        try:
            self._put_until_processed(client, table, items, base_delay)
        except client.exceptions.ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ValidationException":
                raise
            if len(items) == 1:
                return [(items[0], err.response["Error"].get("Message", "ValidationException"))]
            return [refused for item in items for refused in self.write_batch(table, [item], base_delay)]
        return []

    @staticmethod
    def _put_until_processed(client: Any, table: str, items: list[dict[str, Any]], base_delay: float) -> None:
        requests = [{"PutRequest": {"Item": item}} for item in items]
        for attempt in range(MAX_BATCH_ATTEMPTS):
            answer = client.batch_write_item(RequestItems={table: requests})
            requests = answer.get("UnprocessedItems", {}).get(table, [])
            if not requests:
                return
            backoff(min(5.0, base_delay * 2**attempt) * random.uniform(0.5, 1.0))
        raise RuntimeError(
            f"{len(requests)} items still unprocessed after {MAX_BATCH_ATTEMPTS} BatchWriteItem attempts"
        )

    def table_identity(self, table: str) -> dict[str, Any] | None:
        """Which table answers to ``table`` now (its id and creation time), or ``None`` when none does.

        A table deleted and created again under the same name has another id.
        """
        client = self.get_conn()
        try:
            description = client.describe_table(TableName=table)["Table"]
        except client.exceptions.ResourceNotFoundException:
            return None
        return {"name": table, "id": description.get("TableId"), "created": str(description.get("CreationDateTime"))}


class _PlainDeserializer(TypeDeserializer):
    """boto3's deserializer, giving binary values as ``bytes`` (not its ``Binary`` wrapper)."""

    def _deserialize_b(self, value: bytes) -> bytes:
        return bytes(value)


_DESERIALIZER, _SERIALIZER = _PlainDeserializer(), TypeSerializer()


def to_plain(typed: dict[str, Any]) -> dict[str, Any]:
    """An item in DynamoDB's typed form as Python values (sets as sets, binary as bytes)."""
    return {name: _DESERIALIZER.deserialize(value) for name, value in typed.items()}


def to_typed(item: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`to_plain`."""
    return {name: _SERIALIZER.serialize(value) for name, value in item.items()}
