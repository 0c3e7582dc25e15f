"""ToggleStreamProcessorsOperator: turn the stream-processing Lambdas' event-source mappings off or on."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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

    :param function_names: e.g. ``["streams_test_blue", "streams_test_green"]``. (templated)
    :param regions: regions holding the functions, e.g. ``["us-east-1", "us-west-1"]``. (templated)
    :param enabled: True to turn processing on, False to turn it off.
    :param timeout_seconds: how long to wait for the mappings to settle.
    """

    aws_hook_class_path = "airflow.providers.amazon.aws.hooks.lambda_function.LambdaHook"
    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "function_names", "regions")

    def __init__(
        self,
        *,
        function_names: Sequence[str],
        regions: Sequence[str],
        enabled: bool,
        timeout_seconds: float = 600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.function_names = function_names
        self.regions = regions
        self.enabled = enabled
        self.timeout_seconds = timeout_seconds

    def execute(self, context: Context) -> list[str]:
        from airflow.providers.amazon.aws.hooks.lambda_function import LambdaHook

        if not self.function_names or not self.regions:
            raise ValueError("function_names and regions must both name at least one entry")
        toggled = []
        for region in self.regions:
            client = LambdaHook(**(self._hook_parameters | {"region_name": region})).conn
            for function in self.function_names:
                pages = client.get_paginator("list_event_source_mappings").paginate(FunctionName=function)
                for mapping in (m for page in pages for m in page["EventSourceMappings"]):
                    client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=self.enabled)
                    self._wait_settled(client, mapping["UUID"])
                    toggled.append(f"{region}:{function}:{mapping['UUID']}")
        if not toggled:
            raise RuntimeError(
                f"no event-source mappings found for {list(self.function_names)} in {list(self.regions)}"
            )
        self.log.info("%s %d mappings: %s", SETTLED[self.enabled], len(toggled), toggled)
        return toggled

    def _wait_settled(self, client: Any, uuid: str) -> None:
        deadline = time.monotonic() + self.timeout_seconds
        while client.get_event_source_mapping(UUID=uuid)["State"] != SETTLED[self.enabled]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"mapping {uuid} did not become {SETTLED[self.enabled]} in {self.timeout_seconds} s")
            time.sleep(2)
