"""glue_to_<env>'s wait_for_draining in a real ``dag.test()`` run: reschedule mode, a non-zero window, moto.

Every other task is marked successful, so the run is the sensor's own: it pokes, is rescheduled
(the task starts afresh, with a new start date, on every poke) and must still see its steady
window through.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from airflow_provider_bio.sensors import stream_processors
from scripts.local_aws import LOWER_ENV_DEMO
from tests.conftest import REPO

REGION = LOWER_ENV_DEMO["streams"]["regions"][0]
FUNCTION = LOWER_ENV_DEMO["streams"]["functions"][0]
STEADY = timedelta(seconds=3)


@pytest.mark.usefixtures("airflow_db")
def test_a_steady_window_longer_than_a_poke_is_waited_out_in_reschedule_mode(tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session

    config = json.loads(json.dumps(LOWER_ENV_DEMO))
    config["streams"]["steady_seconds"] = int(STEADY.total_seconds())
    path = tmp_path / "envs.json"
    path.write_text(json.dumps({"demo": config}))
    monkeypatch.setenv("GLUE_TO_LOWER_ENV_CONFIG", str(path))
    dag = DagBag(dag_folder=str(REPO / "dags" / "glue_to_lower_env.py")).dags["glue_to_demo"]
    sensor = dag.get_task("wait_for_draining")
    assert sensor.mode == "reschedule"
    sensor.poke_interval = 1
    sensor.timeout = 30  # the old sensor fails here instead of waiting for ever
    with mock_aws():
        # Processed promptly a minute ago: under the bound, so drained.
        boto3.client("cloudwatch", region_name=REGION).put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[
                {
                    "MetricName": "IteratorAge",
                    "Dimensions": [{"Name": "FunctionName", "Value": FUNCTION}],
                    "Timestamp": datetime.now(timezone.utc) - timedelta(seconds=50),
                    "Value": 200,
                }
            ],
        )
        clock_reads: list[datetime] = []

        class RecordedClock(datetime):
            @classmethod
            def now(cls, tz=None):
                clock_reads.append(datetime.now(tz))
                return clock_reads[-1]

        monkeypatch.setattr(stream_processors, "datetime", RecordedClock)
        run = dag.test(mark_success_pattern="(?!wait_for_draining$).*")
    ti = run.get_task_instance("wait_for_draining")
    assert (run.state, ti.state, ti.try_number) == ("success", "success", 1)
    with create_session() as session:
        reschedules = session.scalars(TaskReschedule.stmt_for_task_instance(ti, descending=False)).all()
    # Reschedule mode really happened, and every poke started the task afresh.
    assert len(reschedules) >= 2
    assert ti.start_date > reschedules[-1].start_date > reschedules[0].start_date
    # It succeeded only once the window, opened at the first poke, was over: the sensor's own
    # first and last reading of the clock are a whole window apart.
    assert clock_reads[-1] - clock_reads[0] >= STEADY
