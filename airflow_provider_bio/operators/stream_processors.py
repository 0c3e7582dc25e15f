"""ToggleStreamProcessorsOperator: turn the stream-processing Lambdas' event-source mappings off or on.

Given the table they process, it first moves mappings left on a deleted table's stream to the
recreated table's stream (see :mod:`airflow_provider_bio.core.stream_mappings`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_bio.core.stream_mappings import reads_old_stream, replacement, stream_table_arn, table_name_of
from airflow_provider_bio.operators import guard
from airflow_provider_bio.operators.base import AWS_TEMPLATE_FIELDS, AwsLateHookOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Event-source mapping states once a toggle has taken effect.
SETTLED = {True: "Enabled", False: "Disabled"}


class ToggleStreamProcessorsOperator(AwsLateHookOperator):
    """Enable or disable every event-source mapping of the named functions, in every named region.

    The table's stream itself is untouched: records written while a mapping is off are
    processed when it is on again, within the stream's 24-hour retention. Waits until each
    mapping reports ``Enabled``/``Disabled``.

    With ``table``, each mapping on a stream of that table other than its current one (the table
    was deleted and recreated) is first replaced by a mapping on the current stream with the same
    settings, reading from the oldest record, disabled: then toggled like the others. A mapping
    already on the current stream, or on another table's stream, is left as it is. When the table
    has no stream in a region while mappings there read an old one of it, the task fails naming them.

    Before the first write, and in a dry run too, the guard
    (:mod:`airflow_provider_bio.operators.guard`) refuses functions or a table matching
    ``protected`` (case-insensitively), an undefined connection, and a connection whose real
    account is protected or not ``expected_account``.

    :param function_names: e.g. ``["streams_test_blue", "streams_test_green"]``. (templated)
    :param regions: regions holding the functions, e.g. ``["us-east-1", "us-west-1"]``. (templated)
    :param enabled: True to turn processing on, False to turn it off.
    :param table: the DynamoDB table the functions process, e.g. ``efcms-test-alpha``. (templated)
    :param timeout_seconds: how long to wait for the mappings to settle.
    :param protected: shell patterns of functions and tables never toggled, case-insensitive
        (default ``("*prod*",)``).
    :param expected_account: the account ``aws_conn_id`` must reach (the environment's ``account_id``).
    :param protected_accounts: account ids never touched.
    :param dry_run: report the mappings that would be toggled; change nothing. (templated)
    """

    aws_hook_class_path = "airflow.providers.amazon.aws.hooks.lambda_function.LambdaHook"
    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "function_names", "regions", "table", "dry_run")

    def __init__(
        self,
        *,
        function_names: Sequence[str],
        regions: Sequence[str],
        enabled: bool,
        table: str | None = None,
        timeout_seconds: float = 600.0,
        protected: Sequence[str] = ("*prod*",),
        expected_account: str | None = None,
        protected_accounts: Sequence[str] = (),
        dry_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run
        self.function_names = function_names
        self.regions = regions
        self.enabled = enabled
        self.table = table
        self.timeout_seconds = timeout_seconds
        self.protected = protected
        self.expected_account = expected_account
        self.protected_accounts = protected_accounts

    def execute(self, context: Context) -> list[str] | dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.lambda_function import LambdaHook

        if not self.function_names or not self.regions:
            raise ValueError("function_names and regions must both name at least one entry")
        guard.check(
            self,
            conn_id=self.aws_conn_id,
            action="enable" if self.enabled else "disable",
            resources={"function": self.function_names, "table": [self.table] if self.table else []},
            protected=self.protected,
            expected_account=self.expected_account,
            protected_accounts=self.protected_accounts,
        )
        if self.dry_run:
            return self._preview()
        toggled = []
        for region in self.regions:
            client = LambdaHook(**(self._hook_parameters | {"region_name": region})).conn
            table = self._describe_table(region) if self.table else None
            for function in self.function_names:
                if self.table:
                    self._follow_current_stream(client, function, region, table)
                for mapping in _mappings(client, function):
                    client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=self.enabled)
                    self._wait_state(client, mapping["UUID"], SETTLED[self.enabled])
                    toggled.append(f"{region}:{function}:{mapping['UUID']}")
        if not toggled:
            raise RuntimeError(
                f"no event-source mappings found for {list(self.function_names)} in {list(self.regions)}"
            )
        self.log.info("%s %d mappings: %s", SETTLED[self.enabled], len(toggled), toggled)
        return toggled

    def _preview(self) -> dict[str, Any]:
        """The mappings a real run would toggle; with ``table``, those it would move to the table's
        current stream (after the table is recreated every one of them reads an old stream)."""
        from airflow.providers.amazon.aws.hooks.lambda_function import LambdaHook

        found = []
        for region in self.regions:
            client = LambdaHook(**(self._hook_parameters | {"region_name": region})).conn
            for function in self.function_names:
                found += [f"{region}:{function}:{m['UUID']}" for m in _mappings(client, function)]
        self.log.info("dry run: would %s %d mappings: %s", "enable" if self.enabled else "disable", len(found), found)
        return {"dry_run": True, "would_toggle": found}

    def _describe_table(self, region: str) -> dict[str, Any] | None:
        """The table's description in ``region``; ``None`` when it does not exist there."""
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        parameters = self._hook_parameters | {"region_name": region, "client_type": "dynamodb"}
        dynamodb = AwsBaseHook(**parameters).conn
        try:
            return dynamodb.describe_table(TableName=self.table)["Table"]
        except dynamodb.exceptions.ResourceNotFoundException:
            return None

    def _follow_current_stream(self, client: Any, function: str, region: str, table: dict[str, Any] | None) -> None:
        """Replace ``function``'s mappings on an old stream of the table by mappings on its current stream."""
        streamed = table is not None and table.get("StreamSpecification", {}).get("StreamEnabled")
        current = table["LatestStreamArn"] if streamed else None
        mappings = _mappings(client, function)
        if current is None:
            stuck = [
                m["UUID"] for m in mappings if table_name_of(stream_table_arn(m["EventSourceArn"]) or "") == self.table
            ]
            if stuck:
                raise RuntimeError(
                    f"{self.table} has no stream in {region}, yet mappings {stuck} of {function} read an old stream "
                    f"of it: recreate the table with its stream in {region}, then clear this task"
                )
            return
        for old in [m for m in mappings if reads_old_stream(m["EventSourceArn"], table["TableArn"], current)]:
            if not any(m["EventSourceArn"] == current and m["FunctionArn"] == old["FunctionArn"] for m in mappings):
                new = client.create_event_source_mapping(**replacement(old, current, function))
                mappings.append(new)
                self._wait_state(client, new["UUID"], "Disabled")
            if old.get("State") != "Deleting":  # an earlier try may have asked already
                client.delete_event_source_mapping(UUID=old["UUID"])
            self._wait_deleted(client, old["UUID"])
            self.log.info(
                "%s:%s: mapping %s on %s moved to %s", region, function, old["UUID"], old["EventSourceArn"], current
            )

    def _wait_state(self, client: Any, uuid: str, state: str) -> None:
        deadline = time.monotonic() + self.timeout_seconds
        while client.get_event_source_mapping(UUID=uuid)["State"] != state:
            if time.monotonic() > deadline:
                raise TimeoutError(f"mapping {uuid} did not become {state} in {self.timeout_seconds} s")
            time.sleep(2)

    def _wait_deleted(self, client: Any, uuid: str) -> None:
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            try:
                client.get_event_source_mapping(UUID=uuid)
            except client.exceptions.ResourceNotFoundException:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"mapping {uuid} was not deleted in {self.timeout_seconds} s")
            time.sleep(2)


def _mappings(client: Any, function: str) -> list[dict[str, Any]]:
    pages = client.get_paginator("list_event_source_mappings").paginate(FunctionName=function)
    return [mapping for page in pages for mapping in page["EventSourceMappings"]]
