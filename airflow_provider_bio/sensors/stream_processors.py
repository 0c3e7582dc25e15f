"""StreamProcessorsDrainedSensor: wait until the stream processors have caught up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator

from airflow_provider_bio.operators.base import AWS_TEMPLATE_FIELDS, AwsLateHookOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class StreamProcessorsDrainedSensor(AwsLateHookOperator, BaseSensorOperator):
    """Succeed once every stream processor's ``IteratorAge`` has stayed low for a steady period.

    Lambda publishes ``AWS/Lambda IteratorAge`` (ms between a record's arrival in the stream
    and its processing) for stream-triggered functions. Processing has drained when, for
    ``steady_seconds`` after the sensor started, no minute's maximum exceeded
    ``max_iterator_age_ms`` in any region. Minutes without data count as drained (no records
    waiting), which is why the window only opens when the sensor starts: right after the
    streams are turned on it must first see a quiet, steady period.

    :param function_names: the stream-processing functions. (templated)
    :param regions: their regions. (templated)
    :param max_iterator_age_ms: the age below which a processor counts as caught up.
    :param steady_seconds: how long every processor must stay below it.
    """

    aws_hook_class_path = "airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook"
    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "function_names", "regions")

    def __init__(
        self,
        *,
        function_names: Sequence[str],
        regions: Sequence[str],
        max_iterator_age_ms: float = 5000.0,
        steady_seconds: int = 600,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.function_names = function_names
        self.regions = regions
        self.max_iterator_age_ms = max_iterator_age_ms
        self.steady_seconds = steady_seconds

    def poke(self, context: Context) -> bool:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        now = datetime.now(timezone.utc)
        watching_since = context["ti"].start_date or now
        if now - watching_since < timedelta(seconds=self.steady_seconds):
            self.log.info("Watching since %s: waiting for %d s of steady data", watching_since, self.steady_seconds)
        if self.steady_seconds < 0:
            raise ValueError(f"steady_seconds must be at least 0, got {self.steady_seconds}")
        worst = 0.0
        for region in self.regions:
            cloudwatch = AwsBaseHook(
                **(self._hook_parameters | {"region_name": region, "client_type": "cloudwatch"})
            ).conn
            for function in self.function_names:
                datapoints = cloudwatch.get_metric_statistics(
                    Namespace="AWS/Lambda",
                    MetricName="IteratorAge",
                    Dimensions=[{"Name": "FunctionName", "Value": function}],
                    StartTime=now - timedelta(seconds=max(self.steady_seconds, 60)),
                    EndTime=now,
                    Period=60,
                    Statistics=["Maximum"],
                )["Datapoints"]
                worst = max([worst, *(point["Maximum"] for point in datapoints)])
        self.log.info("Largest iterator age over the last %d s: %.0f ms", max(self.steady_seconds, 60), worst)
        return worst <= self.max_iterator_age_ms and now - watching_since >= timedelta(seconds=self.steady_seconds)
