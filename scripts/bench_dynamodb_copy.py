"""DynamoGlueCopyOperator's local engine against a naive scan-then-put-one-item loop, on one moto server.

20,000 items (``BENCH_DYNAMO_ITEMS`` to change), moto in its own process. Also the engine's
peak Python memory (tracemalloc) for half the table and for all of it: flat means
it does not grow with the table.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from typing import Any

import boto3

from scripts.local_aws import FAKE_CREDENTIALS, REGION, moto_server_process

ITEMS = int(os.environ.get("BENCH_DYNAMO_ITEMS", "20000"))
KEYS = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
    "BillingMode": "PAY_PER_REQUEST",
}


class _Ti:
    def xcom_push(self, key: str, value: Any) -> None:
        pass


def _item(n: int) -> dict[str, Any]:
    return {
        "pk": {"S": f"user-email|u{n}@court.gov" if n % 4 == 0 else f"case|{n}"},
        "sk": {"S": f"entry|{n}"},
        "email": {"S": f"u{n}@court.gov"},
        "contact": {"M": {"email": {"S": f"u{n}@home.org"}, "notes": {"S": "x" * 200}}},
    }


def _fill(client: Any, table: str, count: int) -> None:
    client.create_table(TableName=table, **KEYS)
    for start in range(0, count, 25):
        batch = [{"PutRequest": {"Item": _item(n)}} for n in range(start, min(start + 25, count))]
        client.batch_write_item(RequestItems={table: batch})


def naive_copy(client: Any, source: str, destination: str) -> int:
    """The loop the engine replaces: scan everything into memory, then put one item at a time."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    from airflow_provider_bio.core.obfuscation import ObfuscationSettings, obfuscate_item

    settings = ObfuscationSettings("example.com")
    items = [item for page in client.get_paginator("scan").paginate(TableName=source) for item in page["Items"]]
    deserializer, serializer = TypeDeserializer(), TypeSerializer()
    for typed in items:
        item, _ = obfuscate_item({k: deserializer.deserialize(v) for k, v in typed.items()}, settings)
        client.put_item(TableName=destination, Item={k: serializer.serialize(v) for k, v in item.items()})
    return len(items)


def engine_copy(source: str, destination: str) -> dict[str, Any]:
    from airflow_provider_bio.operators.dynamodb_copy import DynamoGlueCopyOperator

    return DynamoGlueCopyOperator(
        task_id="bench",
        source_table=source,
        destination_table=destination,
        obfuscation_domain="example.com",
        aws_conn_id=None,
        region_name=REGION,
    ).execute({"ti": _Ti()})


def main() -> int:
    import airflow_provider_bio.hooks.dynamodb_copy  # noqa: F401 - imported before timing, as at task start

    with moto_server_process() as endpoint:
        os.environ.update(FAKE_CREDENTIALS | {"AWS_ENDPOINT_URL": endpoint})
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
        _fill(client, "bench-source", ITEMS)
        _fill(client, "bench-half", ITEMS // 2)
        _fill(client, "bench-warm-up", 100)
        for table in ("bench-naive", "bench-engine", "bench-engine-half", "bench-warm-up-copy"):
            client.create_table(TableName=table, **KEYS)
        engine_copy("bench-warm-up", "bench-warm-up-copy")  # loads service models and clients once
        started = time.monotonic()
        naive = naive_copy(client, "bench-source", "bench-naive")
        naive_seconds = time.monotonic() - started
        tracemalloc.start()
        engine_copy("bench-half", "bench-engine-half")
        half_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        tracemalloc.start()
        started = time.monotonic()
        result = engine_copy("bench-source", "bench-engine")
        engine_seconds = time.monotonic() - started
        full_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    assert naive == result["written"] == ITEMS, (naive, result)
    print(f"naive scan-then-put: {ITEMS} items in {naive_seconds:.1f} s = {ITEMS / naive_seconds:.0f} items/s")
    print(
        f"local engine: {ITEMS} items in {engine_seconds:.1f} s = {ITEMS / engine_seconds:.0f} items/s, "
        f"{naive_seconds / engine_seconds:.1f}x the naive loop (target >= 3x)"
    )
    print(
        f"local engine peak Python memory: {half_peak:.1f} MiB for {ITEMS // 2} items, {full_peak:.1f} MiB for "
        f"{ITEMS} (target: flat in table size)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
