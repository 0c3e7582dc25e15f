"""StreamProcessorsDrainedSensor's steady window across reschedule-mode pokes, bad minutes and retries.

Each poke runs the way reschedule mode runs it: a fresh task start (``ti.start_date`` is the
poke's own start), with the window's start surviving only in the task state store. The clock is
a stand-in moved by the test; CloudWatch is moto.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from airflow_provider_bio.sensors import stream_processors
from airflow_provider_bio.sensors.stream_processors import StreamProcessorsDrainedSensor
from tests.support.airflow_context import FakeTaskStateStore, make_context
from tests.support.botocore_events import recorded_calls

REGION = "us-west-2"
FUNCTION = "streams_test_blue"
# A whole minute, an hour ago, so every timestamp below is in the past and minute-aligned.
BASE = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(hours=1)


class Clock:
    """What ``datetime.now`` answers inside the sensor module, moved by the test."""

    now = BASE


class _Datetime(datetime):
    @classmethod
    def now(cls, tz=None):
        return Clock.now


class RescheduledTaskInstance:
    """A task instance in reschedule mode: each poke is a fresh start of the same try."""

    def __init__(self, try_number: int) -> None:
        self.try_number = try_number

    @property
    def start_date(self) -> datetime:
        return Clock.now


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    monkeypatch.setattr(stream_processors, "datetime", _Datetime)
    Clock.now = BASE
    return Clock


@pytest.fixture
def aws():
    with mock_aws():
        yield


def _sensor(steady_seconds=120):
    return StreamProcessorsDrainedSensor(
        task_id="drained",
        function_names=[FUNCTION],
        regions=[REGION],
        max_iterator_age_ms=1000,
        steady_seconds=steady_seconds,
        aws_conn_id=None,
    )


def _iterator_age(ms, at):
    boto3.client("cloudwatch", region_name=REGION).put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {
                "MetricName": "IteratorAge",
                "Dimensions": [{"Name": "FunctionName", "Value": FUNCTION}],
                "Timestamp": at,
                "Value": ms,
            }
        ],
    )


def _poke_at(seconds, store, try_number=1):
    """Poke as a fresh reschedule-mode start of ``try_number``, ``seconds`` after BASE."""
    Clock.now = BASE + timedelta(seconds=seconds)
    context = make_context(store) | {"ti": RescheduledTaskInstance(try_number)}
    return _sensor().poke(context)


def test_a_quiet_window_of_the_full_length_succeeds_across_reschedules(aws):
    store = FakeTaskStateStore()
    _iterator_age(200, at=BASE + timedelta(seconds=20))
    assert [_poke_at(s, store) for s in (10, 70, 129, 130)] == [False, False, False, True]


def test_a_minute_over_the_bound_inside_the_window_starts_it_again(aws):
    store = FakeTaskStateStore()
    assert not _poke_at(10, store)  # the window opens at BASE+10
    _iterator_age(90_000, at=BASE + timedelta(seconds=70))  # the minute BASE+60 is bad
    assert not _poke_at(90, store)  # sees it: the window starts again at BASE+90
    # BASE+140 would close the first window (130 s); it sees the bad minute again, restarting at BASE+140.
    assert not _poke_at(140, store)
    # The bad minute is behind the window now, but the window is 110 s old.
    assert not _poke_at(250, store)
    assert _poke_at(260, store)  # 120 s without a bad minute since BASE+140


def test_a_minute_over_the_bound_seen_late_still_counts(aws):
    store = FakeTaskStateStore()
    assert not _poke_at(10, store)
    assert not _poke_at(70, store)
    _iterator_age(90_000, at=BASE + timedelta(seconds=15))  # published late, for the first minute
    assert not _poke_at(130, store)  # the window would be 120 s old: restarted instead
    assert not _poke_at(249, store)
    assert _poke_at(250, store)


def test_a_new_try_opens_a_new_window(aws):
    store = FakeTaskStateStore()  # the store outlives the try, as Airflow's does
    assert not _poke_at(10, store, try_number=1)  # window of try 1 opens at BASE+10
    assert not _poke_at(140, store, try_number=2)  # try 1's window would be 130 s old; try 2's opens
    assert not _poke_at(259, store, try_number=2)
    assert _poke_at(260, store, try_number=2)


def test_a_negative_window_is_refused_before_any_aws_call():
    with recorded_calls() as calls, pytest.raises(ValueError, match="at least 0"):
        _sensor(steady_seconds=-1).poke(make_context() | {"ti": RescheduledTaskInstance(1)})
    assert calls == []
