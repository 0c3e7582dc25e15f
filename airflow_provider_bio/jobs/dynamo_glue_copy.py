"""AWS Glue (PySpark) job: copy a DynamoDB table into another, usually in another account, emails obfuscated.

Uploaded by DynamoGlueCopyOperator (``engine="glue"``) together with a zip of
``airflow_provider_bio.core`` passed as ``--extra-py-files``, so the transform is the very
function the local engine runs. Everything but :func:`main` runs without Glue, for tests.

Arguments (Glue's ``--name value`` form):

- ``--source_table``, ``--destination_table``
- ``--destination_role_arn``: role assumed for the write (``dynamodb.sts.roleArn``); ``none`` to write as the job
- ``--splits``: scan splits (from the worker count)
- ``--write_throughput_percent``, ``--output_retries`` (the original needed 35 under throttling)
- ``--obfuscation``: JSON ``{"domain", "email_keys"}``
- ``--obfuscation_secret_parameter``: the SSM SecureString holding the HMAC secret (read with
  decryption; the secret itself is never a job argument, which whoever can read the run would see)
- ``--key_attributes``: JSON list of the table's key attributes, which name the items not written
- ``--result_s3_uri``: where the job writes ``{"read", "written", "transformed", "emails",
  "not_written", "not_written_keys"}`` as JSON

An item over DynamoDB's 400 KB once obfuscated is left out (the connector would fail the whole
write for it), counted and named by its key; every other item is written.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_bio.core.obfuscation import (
    DEFAULT_EMAIL_KEYS,
    ObfuscationCounts,
    ObfuscationSettings,
    item_key,
    obfuscate_item,
    too_large,
)

REQUIRED = (
    "source_table",
    "destination_table",
    "destination_role_arn",
    "splits",
    "write_throughput_percent",
    "output_retries",
    "obfuscation",
    "obfuscation_secret_parameter",
    "key_attributes",
    "result_s3_uri",
)
#: Keys of the items not written kept in the result (the count is exact).
NAMED_KEYS = 1000


def parse_arguments(argv: Sequence[str]) -> dict[str, Any]:
    """Read the job's ``--name value`` arguments (Glue adds its own, which are ignored).

    :raises ValueError: naming a missing or malformed argument.
    """
    given: dict[str, str] = {}
    for index, word in enumerate(argv):
        if word.startswith("--") and index + 1 < len(argv):
            given[word[2:]] = argv[index + 1]
    missing = [name for name in REQUIRED if name not in given]
    if missing:
        raise ValueError(f"missing job arguments: {', '.join('--' + name for name in missing)}")
    try:
        arguments: dict[str, Any] = {
            "source_table": given["source_table"],
            "destination_table": given["destination_table"],
            "destination_role_arn": None if given["destination_role_arn"] == "none" else given["destination_role_arn"],
            "splits": int(given["splits"]),
            "write_throughput_percent": float(given["write_throughput_percent"]),
            "output_retries": int(given["output_retries"]),
            "obfuscation": json.loads(given["obfuscation"]),
            "obfuscation_secret_parameter": given["obfuscation_secret_parameter"],
            "key_attributes": tuple(json.loads(given["key_attributes"])),
            "result_s3_uri": given["result_s3_uri"],
            # Glue passes every run its id: the counts name the run that wrote them.
            "job_run_id": given.get("JOB_RUN_ID"),
        }
    except ValueError as err:
        raise ValueError(f"malformed job argument: {err}") from err
    if not 0 < arguments["write_throughput_percent"] <= 1.5:
        raise ValueError("--write_throughput_percent must be in (0, 1.5]")
    return arguments


def read_secret(arguments: dict[str, Any], ssm: Any) -> bytes:
    """The HMAC secret, from the SSM SecureString ``--obfuscation_secret_parameter``."""
    name = arguments["obfuscation_secret_parameter"]
    return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"].encode("utf-8")


def settings_from(arguments: dict[str, Any], secret: bytes) -> ObfuscationSettings:
    """The transform's settings from ``--obfuscation`` and the secret."""
    obfuscation = arguments["obfuscation"]
    return ObfuscationSettings(
        domain=obfuscation["domain"],
        email_keys=tuple(obfuscation.get("email_keys", DEFAULT_EMAIL_KEYS)),
        secret=secret,
    )


@dataclass(frozen=True)
class Transformed:
    """One item through the transform: the item, what was rewritten, and whether it can be written."""

    item: dict[str, Any]
    emails: int
    too_large: bool


def transform(item: dict[str, Any], settings: ObfuscationSettings) -> Transformed:
    """What the job does to every item: the shared transform, then DynamoDB's size limit."""
    new_item, counts = obfuscate_item(item, settings)
    return Transformed(new_item, counts.emails, too_large(new_item))


def result_of(
    read: int, written: int, refused: list[Transformed], counts: dict[str, int], arguments: dict[str, Any]
) -> dict[str, Any]:
    """The counts the job writes to ``--result_s3_uri``; ``refused`` are the items not written."""
    domain = arguments["obfuscation"]["domain"]
    keys = sorted(item_key(t.item, arguments["key_attributes"], domain) for t in refused)
    return {
        "read": read,
        "written": written,
        **counts,
        "not_written": len(keys),
        "not_written_keys": keys[:NAMED_KEYS],
        "glue_job_run_id": arguments["job_run_id"],
    }


def connection_options(arguments: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The DynamoDB connector's read and write options."""
    read = {"dynamodb.input.tableName": arguments["source_table"], "dynamodb.splits": str(arguments["splits"])}
    write = {
        "dynamodb.output.tableName": arguments["destination_table"],
        "dynamodb.throughput.write.percent": str(arguments["write_throughput_percent"]),
        "dynamodb.output.retry": str(arguments["output_retries"]),
    }
    if arguments["destination_role_arn"]:
        write["dynamodb.sts.roleArn"] = arguments["destination_role_arn"]
    return read, write


def main() -> None:  # runs inside Glue only
    import boto3
    from awsglue.context import GlueContext
    from awsglue.dynamicframe import DynamicFrame
    from pyspark.context import SparkContext

    arguments = parse_arguments(sys.argv)
    settings = settings_from(arguments, read_secret(arguments, boto3.client("ssm")))
    read_options, write_options = connection_options(arguments)
    spark_context = SparkContext.getOrCreate()
    glue = GlueContext(spark_context)
    source = glue.create_dynamic_frame.from_options(connection_type="dynamodb", connection_options=read_options)
    frame = source.toDF()
    emails, transformed_items = (spark_context.accumulator(0) for _ in range(2))

    def count(row: Any) -> Transformed:
        result = transform(row.asDict(recursive=True), settings)
        emails.add(result.emails)
        transformed_items.add(int(bool(result.emails)))
        return result

    results = frame.rdd.map(count).cache()
    rows = results.filter(lambda t: not t.too_large).map(lambda t: t.item)
    output = glue.spark_session.createDataFrame(rows, schema=frame.schema).cache()
    written = output.count()
    refused = results.filter(lambda t: t.too_large).collect()
    glue.write_dynamic_frame_from_options(
        frame=DynamicFrame.fromDF(output, glue, "obfuscated"),
        connection_type="dynamodb",
        connection_options=write_options,
    )
    counts = {"transformed": transformed_items.value, **vars(ObfuscationCounts(emails.value))}
    result = result_of(frame.count(), written, refused, counts, arguments)
    bucket, _, key = arguments["result_s3_uri"].removeprefix("s3://").partition("/")
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(result).encode())


if __name__ == "__main__":
    main()
