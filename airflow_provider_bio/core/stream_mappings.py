"""Which Lambda event-source mappings read a deleted table's stream, and their copies on the new one.

A recreated DynamoDB table has a new stream (a new ``LatestStreamArn``), and an event-source
mapping's ``EventSourceArn`` cannot be changed: a mapping left on the old stream reads nothing
ever again. It is replaced by a mapping on the new stream with the same settings.
"""

from __future__ import annotations

from typing import Any

#: Settings of a DynamoDB stream mapping carried over to its replacement.
CARRIED_OVER = (
    "BatchSize",
    "MaximumBatchingWindowInSeconds",
    "ParallelizationFactor",
    "FilterCriteria",
    "DestinationConfig",
    "MaximumRecordAgeInSeconds",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "TumblingWindowInSeconds",
    "FunctionResponseTypes",
)


def _pruned(value: Any) -> Any:
    """``value`` without empty entries at any depth (``{"OnSuccess": {}}`` is no destination)."""
    if isinstance(value, dict):
        kept = {key: _pruned(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in (None, {}, [])}
    return value


def stream_table_arn(arn: str) -> str | None:
    """The table ARN of a DynamoDB stream ARN, or ``None`` for any other ARN.

    :param arn: e.g. ``arn:aws:dynamodb:us-east-1:222233334444:table/efcms-test-alpha/stream/2026-01-01T00:00:00.000``.
    :return: e.g. ``arn:aws:dynamodb:us-east-1:222233334444:table/efcms-test-alpha``.
    """
    table_arn, separator, label = arn.partition("/stream/")
    parts = table_arn.split(":")
    if not separator or not label or len(parts) != 6 or parts[2] != "dynamodb" or not parts[5].startswith("table/"):
        return None
    return table_arn


def table_name_of(table_arn: str) -> str:
    """``efcms-test-alpha`` for ``arn:aws:dynamodb:REGION:ACCOUNT:table/efcms-test-alpha``."""
    return table_arn.partition(":table/")[2]


def reads_old_stream(event_source_arn: str, table_arn: str, current_stream_arn: str) -> bool:
    """Whether a mapping's source is a stream of the table other than its current one.

    :param event_source_arn: the mapping's ``EventSourceArn``.
    :param table_arn: the table's ``TableArn``.
    :param current_stream_arn: the table's ``LatestStreamArn``.
    """
    return stream_table_arn(event_source_arn) == table_arn and event_source_arn != current_stream_arn


def replacement(mapping: dict[str, Any], stream_arn: str, function: str) -> dict[str, Any]:
    """CreateEventSourceMapping arguments copying ``mapping`` onto ``stream_arn``.

    The copy starts disabled (the caller turns processing on when the table is ready) and reads
    the stream from its oldest record (``TRIM_HORIZON``), so every record written since the
    table was recreated is processed. It is for the same function version or alias.

    :param mapping: a GetEventSourceMapping / ListEventSourceMappings entry.
    :param stream_arn: the stream the copy reads.
    :param function: the function's name, as the mappings are listed by.
    """
    settings = _pruned({key: mapping.get(key) for key in CARRIED_OVER})
    arn_parts = mapping["FunctionArn"].split(":")
    qualifier = f":{arn_parts[7]}" if len(arn_parts) == 8 else ""
    return {
        "FunctionName": f"{function}{qualifier}",
        "EventSourceArn": stream_arn,
        "StartingPosition": "TRIM_HORIZON",
        "Enabled": False,
        **settings,
    }
