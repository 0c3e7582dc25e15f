"""AWS Glue (PySpark) job: copy a DynamoDB table into another, usually in another account, emails obfuscated.

Uploaded by DynamoGlueCopyOperator (``engine="glue"``) together with a zip of
``airflow_provider_bio.core`` passed as ``--extra-py-files``, so the transform is the very
function the local engine runs. Everything but :func:`main` runs without Glue, for tests.

Arguments (Glue's ``--name value`` form):

- ``--source_table``, ``--destination_table``
- ``--destination_role_arn``: role assumed for the write (``dynamodb.sts.roleArn``); ``none`` to write as the job
- ``--splits``: scan splits (from the worker count)
- ``--write_throughput_percent``, ``--output_retries`` (the original needed 35 under throttling)
- ``--obfuscation``: JSON ``{"domain", "email_keys", "prefixed_keys"}``
- ``--result_s3_uri``: where the job writes ``{"read", "written", "transformed", ...}`` as JSON
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from airflow_provider_bio.core.obfuscation import ObfuscationCounts, ObfuscationSettings, obfuscate_item

REQUIRED = (
    "source_table",
    "destination_table",
    "destination_role_arn",
    "splits",
    "write_throughput_percent",
    "output_retries",
    "obfuscation",
    "result_s3_uri",
)


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
            "result_s3_uri": given["result_s3_uri"],
            # Glue passes every run its id: the counts name the run that wrote them.
            "job_run_id": given.get("JOB_RUN_ID"),
        }
    except ValueError as err:
        raise ValueError(f"malformed job argument: {err}") from err
    if not 0 < arguments["write_throughput_percent"] <= 1.5:
        raise ValueError("--write_throughput_percent must be in (0, 1.5]")
    return arguments


def settings_from(arguments: dict[str, Any]) -> ObfuscationSettings:
    """The transform's settings from ``--obfuscation``."""
    obfuscation = arguments["obfuscation"]
    return ObfuscationSettings(
        domain=obfuscation["domain"],
        email_keys=tuple(obfuscation.get("email_keys", ("email",))),
        prefixed_keys=obfuscation.get("prefixed_keys", {"pk": "user-email|"}),
    )


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
    settings = settings_from(arguments)
    read_options, write_options = connection_options(arguments)
    spark_context = SparkContext.getOrCreate()
    glue = GlueContext(spark_context)
    source = glue.create_dynamic_frame.from_options(connection_type="dynamodb", connection_options=read_options)
    frame = source.toDF()
    emails, prefixed, non_string, transformed = (spark_context.accumulator(0) for _ in range(4))

    def transform(row: Any) -> Any:
        item, counts = obfuscate_item(row.asDict(recursive=True), settings)
        emails.add(counts.emails)
        prefixed.add(counts.prefixed)
        non_string.add(counts.non_string_emails)
        transformed.add(int(bool(counts.emails or counts.prefixed)))
        return item

    rows = frame.rdd.map(transform)
    output = glue.spark_session.createDataFrame(rows, schema=frame.schema).cache()
    written = output.count()
    glue.write_dynamic_frame_from_options(
        frame=DynamicFrame.fromDF(output, glue, "obfuscated"),
        connection_type="dynamodb",
        connection_options=write_options,
    )
    counts = ObfuscationCounts(emails.value, prefixed.value, non_string.value)
    result = {
        "read": frame.count(),
        "written": written,
        "transformed": transformed.value,
        **vars(counts),
        "glue_job_run_id": arguments["job_run_id"],
    }
    bucket, _, key = arguments["result_s3_uri"].removeprefix("s3://").partition("/")
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(result).encode())


if __name__ == "__main__":
    main()
