"""StreamProcessorsDrainedSensor: wait until the stream processors have caught up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator

from airflow_provider_bio.operators.base import AWS_TEMPLATE_FIELDS, AwsLateHookOperator
from airflow_provider_bio.operators.resume import StepMemory

if TYPE_CHECKING:
    from airflow.sdk import Context


class StreamProcessorsDrainedSensor(AwsLateHookOperator, BaseSensorOperator):
    """Succeed once every stream processor's ``IteratorAge`` has stayed low for a steady period.

    Lambda publishes ``AWS/Lambda IteratorAge`` (ms between a record's arrival in the stream
    and its processing) for stream-triggered functions. Processing has drained when, for
    ``steady_seconds``, no minute's maximum exceeded ``max_iterator_age_ms`` in any region.
    Minutes without data count as drained (no records waiting), which is why the window only
    opens at the first poke of a try: right after the streams are turned on it must first see a
    quiet, steady period. The window's start is kept in the task state store (reschedule mode
    restarts the task, and its start date, on every poke); a new try (retry or clear) opens a
    new window, and a minute over the bound, anywhere from the minute the window opened, starts
    it again from that poke.

    :param function_names: the stream-processing functions. (templated)
    :param regions: their regions. (templated)
    :param max_iterator_age_ms: the age below which a processor counts as caught up.
    :param steady_seconds: how long every processor must stay below it (at least 0).
    :param dry_run: report the largest iterator age now and succeed at once, waiting for nothing. (templated)
    """

    aws_hook_class_path = "airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook"
    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "function_names", "regions", "dry_run")

    def __init__(
        self,
        *,
        function_names: Sequence[str],
        regions: Sequence[str],
        max_iterator_age_ms: float = 5000.0,
        steady_seconds: int = 600,
        dry_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run
        self.function_names = function_names
        self.regions = regions
        self.max_iterator_age_ms = max_iterator_age_ms
        self.steady_seconds = steady_seconds

    def poke(self, context: Context) -> bool:
        if self.steady_seconds < 0:
            raise ValueError(f"steady_seconds must be at least 0, got {self.steady_seconds}")
        now = datetime.now(timezone.utc)
        if self.dry_run:
            worst = self._worst_iterator_age(since=now - timedelta(seconds=60), until=now)
            self.log.info(
                "dry run: would wait for %d s with every iterator age under %.0f ms (largest now: %.0f ms)",
                self.steady_seconds,
                self.max_iterator_age_ms,
                worst,
            )
            return True
        memory = StepMemory(
            context,
            "steady_window",
            arguments={
                "function_names": list(self.function_names),
                "regions": list(self.regions),
                "max_iterator_age_ms": self.max_iterator_age_ms,
                "steady_seconds": self.steady_seconds,
                "try_number": context["ti"].try_number,
            },
            log=self.log,
        )
        saved = memory.saved()
        if saved is not None and saved.arguments == memory.arguments:
            window_start = datetime.fromisoformat(saved.value)
        else:
            self.log.info("First poke of try %s: the %d s window opens now", memory.try_number, self.steady_seconds)
            window_start = now
            memory.remember(now.isoformat())
        worst = self._worst_iterator_age(since=min(window_start, now - timedelta(seconds=60)), until=now)
        self.log.info("Window open since %s; largest iterator age in it: %.0f ms", window_start, worst)
        if worst > self.max_iterator_age_ms:
            self.log.info("A minute over %.0f ms: the window starts again now", self.max_iterator_age_ms)
            memory.remember(now.isoformat())
            return False
        return now - window_start >= timedelta(seconds=self.steady_seconds)

    def _worst_iterator_age(self, since: datetime, until: datetime) -> float:
        """The largest per-minute maximum ``IteratorAge`` of any function in any region.

        :param since: the earliest time to look at; the minute holding it counts whole.
        :param until: the latest time to look at.
        """
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

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
                    StartTime=since.replace(second=0, microsecond=0),
                    EndTime=until,
                    Period=60,
                    Statistics=["Maximum"],
                )["Datapoints"]
                worst = max([worst, *(point["Maximum"] for point in datapoints)])
        return worst
