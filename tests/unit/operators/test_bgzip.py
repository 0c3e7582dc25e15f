"""BgzipBatchOperator on moto: the Batch job runs the real worker command; submit, wait, reattach, defer, kill.

moto's Batch (without Docker) marks a job SUCCEEDED or FAILED at once without running it; a
``before-call`` hook on SubmitJob (:class:`tests.support.batch.WorkerContainer`) runs the
submitted command through the worker first, as the container would.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import boto3
import pytest
from airflow.providers.amazon.aws.triggers.batch import BatchJobTrigger
from airflow.sdk.exceptions import TaskDeferred
from moto import mock_aws
from structlog.testing import capture_logs

from airflow_provider_bio.core.bgzf import decompress_stream
from airflow_provider_bio.operators.bgzip import BATCH_JOB_KEY, BgzipBatchOperator
from tests.support.airflow_context import FakeTaskStateStore, make_context
from tests.support.batch import WorkerContainer, create_job_queue
from tests.support.botocore_events import client_events, recorded_calls

REGION = "us-west-2"
DATA, WORK = "bio-index-data", "bio-index-work"
QUEUE, DEFINITION = "bgzip-job-queue", "bgzip-worker"
REPORT_KEY = "bgzip/reports/adhoc_airflow/manual__2026-11-21T05:00:00+00:00/compress.json"  # no DAG: Airflow's id


@pytest.fixture
def aws():
    with mock_aws(config={"batch": {"use_docker": False}}):
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in (DATA, WORK):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        for n in range(3):
            s3.put_object(Bucket=DATA, Key=f"genes/part-{n}.json", Body=lines(n))
        create_job_queue(QUEUE, DEFINITION, REGION)
        yield {"s3": s3}


def lines(seed: int) -> bytes:
    return "".join(json.dumps({"gene": f"G{seed}-{n}", "p": n / 3}) + "\n" for n in range(2000)).encode()


def operator(**kwargs) -> BgzipBatchOperator:
    defaults = {
        "task_id": "compress",
        "action": "compress",
        "bucket": DATA,
        "keys": [f"genes/part-{n}.json" for n in range(3)],
        "job_queue": QUEUE,
        "job_definition": DEFINITION,
        "work_location": f"s3://{WORK}/bgzip/",
        "aws_conn_id": None,
        "region_name": REGION,
        "waiter_delay": 0,
        "deferrable": False,
    }
    return BgzipBatchOperator(**(defaults | kwargs))


def restored(s3, key: str) -> bytes:
    parts: list[bytes] = []
    decompress_stream(io.BytesIO(s3.get_object(Bucket=DATA, Key=key)["Body"].read()).read, parts.append)
    return b"".join(parts)


def test_batch_engine_submits_the_worker_with_a_manifest_and_returns_its_report(aws) -> None:
    container = WorkerContainer()
    store = FakeTaskStateStore()
    with client_events({"before-call.batch.SubmitJob": container}):
        result = operator().execute(make_context(store))
    assert result["done"] == 3 and result["failed"] == 0 and result["job_id"] == store.get(BATCH_JOB_KEY)["value"]
    [command] = container.commands
    assert command[:3] == ["compress", "--bucket", DATA]
    manifest = command[command.index("--manifest") + 1]
    assert manifest.startswith(f"s3://{WORK}/bgzip/manifests/")
    assert command[command.index("--report") + 1] == f"s3://{WORK}/{REPORT_KEY}"
    for n in range(3):
        assert restored(aws["s3"], f"genes/part-{n}.json.gz") == lines(n)


def test_a_failed_file_fails_the_task_naming_it(aws) -> None:
    with (
        client_events({"before-call.batch.SubmitJob": WorkerContainer()}),
        pytest.raises(RuntimeError, match=r"compress: 1 of 4 files failed: genes/missing.json: .*does not exist"),
    ):
        operator(keys=[*operator().keys, "genes/missing.json"]).execute(make_context())


def test_a_retry_reattaches_to_the_job_it_submitted_instead_of_submitting_again(aws) -> None:
    store = FakeTaskStateStore()
    container = WorkerContainer()
    with client_events({"before-call.batch.SubmitJob": container}):
        first = operator().execute(make_context(store))
        with recorded_calls() as calls:
            second = operator().execute(make_context(store))
    assert len(container.commands) == 1
    assert "SubmitJob" not in {call.operation for call in calls}
    assert second == first


def test_a_succeeded_job_whose_pairs_were_since_removed_is_not_reused(aws) -> None:
    """A clear after a rollback: the job succeeded, but the world no longer holds its pairs."""
    store = FakeTaskStateStore()
    container = WorkerContainer()
    with client_events({"before-call.batch.SubmitJob": container}):
        first = operator().execute(make_context(store))
        for n in range(3):
            aws["s3"].delete_objects(
                Bucket=DATA,
                Delete={"Objects": [{"Key": f"genes/part-{n}.json.gz"}, {"Key": f"genes/part-{n}.json.gz.gzi"}]},
            )
        again = operator().execute(make_context(store))
    assert len(container.commands) == 2 and again["job_id"] != first["job_id"] and again["done"] == 3
    for n in range(3):
        assert restored(aws["s3"], f"genes/part-{n}.json.gz") == lines(n)


def test_a_retry_after_a_failed_job_submits_again(aws, monkeypatch) -> None:
    store = FakeTaskStateStore()
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")
    with pytest.raises(RuntimeError, match="wrote no report"):
        operator().execute(make_context(store))  # the container died before writing its report
    failed_job = store.get(BATCH_JOB_KEY)["value"]
    monkeypatch.delenv("MOTO_SIMPLE_BATCH_FAIL_AFTER")
    container = WorkerContainer()
    with client_events({"before-call.batch.SubmitJob": container}):
        result = operator().execute(make_context(store))
    assert len(container.commands) == 1
    assert result["job_id"] != failed_job and result["done"] == 3


def test_a_retry_given_a_different_chunk_submits_a_new_job(aws) -> None:
    store = FakeTaskStateStore()
    container = WorkerContainer()
    with client_events({"before-call.batch.SubmitJob": container}):
        operator(keys=["genes/part-0.json"]).execute(make_context(store))
        again = operator(keys=["genes/part-1.json", "genes/part-2.json"]).execute(make_context(store))
    assert len(container.commands) == 2  # e.g. a cleared run whose plan changed: the old job's report does not count
    assert again["files"] == 2 and again["done"] == 2


def test_a_report_left_by_an_older_job_is_not_taken_for_this_one(aws, monkeypatch) -> None:
    store = FakeTaskStateStore()
    with client_events({"before-call.batch.SubmitJob": WorkerContainer()}):
        operator().execute(make_context(store))
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")
    with pytest.raises(RuntimeError, match="wrote no report"):
        operator(keys=["genes/part-0.json"]).execute(make_context(store))  # the new job dies at once


def test_deferrable_hands_the_job_to_the_amazon_batch_trigger(aws) -> None:
    store = FakeTaskStateStore()
    task = operator(deferrable=True, waiter_delay=15, waiter_max_attempts=40)
    with client_events({"before-call.batch.SubmitJob": WorkerContainer()}), pytest.raises(TaskDeferred) as deferred:
        task.execute(make_context(store))
    trigger = deferred.value.trigger
    assert isinstance(trigger, BatchJobTrigger)
    classpath, fields = trigger.serialize()
    assert classpath.endswith("BatchJobTrigger")
    assert fields["job_id"] == store.get(BATCH_JOB_KEY)["value"]
    assert (fields["waiter_delay"], fields["waiter_max_attempts"], fields["region_name"]) == (15, 40, REGION)
    assert deferred.value.method_name == "execute_complete"
    result = task.execute_complete(make_context(store), {"status": "success", "job_id": fields["job_id"]})
    assert result["done"] == 3


def test_execute_complete_after_a_failure_event_reports_the_failed_files(aws) -> None:
    store = FakeTaskStateStore()
    task = operator(deferrable=True, keys=["genes/part-0.json", "genes/nope.json"])
    with client_events({"before-call.batch.SubmitJob": WorkerContainer()}), pytest.raises(TaskDeferred):
        task.execute(make_context(store))
    with pytest.raises(RuntimeError, match=r"genes/nope\.json"):
        task.execute_complete(make_context(store), {"status": "failure", "job_id": store.get(BATCH_JOB_KEY)["value"]})


def test_on_kill_terminates_the_job(aws) -> None:
    with recorded_calls() as calls:
        task = operator(wait_for_completion=False)
        result = task.execute(make_context())
        del calls[:]
        task.on_kill()
    assert [(call.operation, call.params["jobId"]) for call in calls] == [("TerminateJob", result["job_id"])]


def test_local_engine_runs_the_worker_in_process(aws) -> None:
    result = operator(engine="local", job_queue=None, job_definition=None, work_location=None).execute(make_context())
    assert result["done"] == 3 and result["job_id"] is None
    assert restored(aws["s3"], "genes/part-2.json.gz") == lines(2)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"action": "zip"}, "action must be one of"),
        ({"keys": ["a.json.gz"]}, "list the originals' keys"),
        ({"prefix": "genes/"}, "exactly one of keys"),
        ({"job_queue": None}, "engine='batch' needs job_queue"),
        ({"work_location": "bucket-without-scheme"}, "work_location"),
        ({"level": 10}, "level must be -1"),
        ({"dry_run": True}, "dry_run applies to"),
    ],
)
def test_bad_arguments_are_refused_before_any_aws_call(aws, arguments, message) -> None:
    with recorded_calls() as calls, pytest.raises(ValueError, match=message):
        operator(**arguments).execute(make_context())
    assert calls == []


def test_an_empty_chunk_reports_no_files_and_calls_no_aws(aws) -> None:
    with recorded_calls() as calls:
        result = operator(keys=[]).execute(make_context())
    assert (result["files"], result["done"], result["failed"], result["job_id"]) == (0, 0, 0, None)
    assert calls == []


def test_two_dags_sharing_a_work_location_keep_their_reports_apart(aws) -> None:
    from airflow.sdk import DAG

    keys = []
    for dag_id in ("bioindex_compress", "bioindex_compress_copy"):
        with DAG(dag_id=dag_id, schedule=None):
            keys.append(operator()._location(make_context(), "reports")[1])
    assert keys[0] != keys[1] and "/bioindex_compress/" in keys[0] and "/bioindex_compress_copy/" in keys[1]


def submitted(calls) -> dict:
    [submit] = [call.params for call in calls if call.operation == "SubmitJob"]
    return submit


def test_a_prefix_chunk_is_submitted_with_every_worker_option(aws) -> None:
    from airflow.sdk import DAG

    with DAG(dag_id="bioindex_decompress", schedule=None):
        task = operator(
            task_id="restore.decompress",
            action="decompress",
            keys=None,
            prefix="genes/",
            workers=3,
            threads=4,
            level=9,
            keep_compressed=True,
            dry_run=True,
            wait_for_completion=False,
        )
    with recorded_calls() as calls:
        result = task.execute(make_context())
    submit = submitted(calls)
    assert set(result) == {"action", "job_id"} and result["action"] == "decompress"
    assert submit["containerOverrides"]["command"] == [
        "decompress",
        "--bucket",
        DATA,
        "--workers",
        "3",
        "--level",
        "9",
        "--prefix",
        "genes/",
        "--report",
        f"s3://{WORK}/bgzip/reports/bioindex_decompress/manual__2026-11-21T05:00:00+00:00/restore.decompress.json",
        "--threads",
        "4",
        "--keep-compressed",
        "--dry-run",
    ]
    assert (submit["jobName"], submit["jobQueue"], submit["jobDefinition"]) == (
        "bgzip-decompress-bioindex_decompress-restore-decompress--1",
        QUEUE,
        DEFINITION,
    )
    assert "PutObject" not in {call.operation for call in calls}  # no manifest for a prefix


def test_a_mapped_chunk_writes_its_own_manifest_and_report_keys(aws) -> None:
    context = make_context()
    context["ti"].map_index = 7
    with recorded_calls() as calls:
        operator(wait_for_completion=False).execute(context)
    command = submitted(calls)["containerOverrides"]["command"]
    run = "adhoc_airflow/manual__2026-11-21T05:00:00+00:00"
    manifest = f"bgzip/manifests/{run}/compress-7.json"
    assert command == [
        "compress",
        "--bucket",
        DATA,
        "--workers",
        "8",
        "--level",
        "6",
        "--manifest",
        f"s3://{WORK}/{manifest}",
        "--report",
        f"s3://{WORK}/bgzip/reports/{run}/compress-7.json",
    ]
    assert submitted(calls)["jobName"] == "bgzip-compress-adhoc_airflow-compress-7"
    assert json.loads(aws["s3"].get_object(Bucket=WORK, Key=manifest)["Body"].read()) == [
        "genes/part-0.json",
        "genes/part-1.json",
        "genes/part-2.json",
    ]


def test_an_older_tries_report_is_deleted_before_the_job_is_submitted(aws) -> None:
    aws["s3"].put_object(Bucket=WORK, Key=REPORT_KEY, Body=b"{}")
    operator(wait_for_completion=False).execute(make_context())
    assert aws["s3"].list_objects_v2(Bucket=WORK, Prefix="bgzip/reports/").get("KeyCount") == 0


def test_a_long_job_name_is_cut_to_batchs_128_characters(aws) -> None:
    with recorded_calls() as calls:
        operator(task_id="c" * 200, wait_for_completion=False).execute(make_context())
    assert submitted(calls)["jobName"] == ("bgzip-compress-adhoc_airflow-" + "c" * 200)[:128]


def test_the_local_engine_hands_the_worker_its_options(aws, monkeypatch) -> None:
    from airflow_provider_bio.jobs import bgzip_worker

    given = []

    def run(action, s3, bucket, keys, **options):
        given.append((action, bucket, list(keys), options))
        return bgzip_worker.Report(action, bucket)

    monkeypatch.setattr(bgzip_worker, "run", run)
    aws["s3"].put_object(Bucket=DATA, Key="genes/part-0.json.gz", Body=b"x")
    local = {"engine": "local", "job_queue": None, "job_definition": None, "work_location": None}
    operator(**local, action="decompress", keys=None, prefix="genes/", keep_compressed=True, dry_run=True).execute(
        make_context()
    )
    operator(**local, workers=2, threads=5, level=1).execute(make_context())
    assert [(action, bucket, keys) for action, bucket, keys, _ in given] == [
        ("decompress", DATA, ["genes/part-0.json"]),
        ("compress", DATA, ["genes/part-0.json", "genes/part-1.json", "genes/part-2.json"]),
    ]
    options = [{name: value for name, value in o.items() if name != "log"} for *_, o in given]
    assert options == [
        {"workers": 8, "threads": 2, "level": 6, "keep_compressed": True, "dry_run": True},
        {"workers": 2, "threads": 5, "level": 1, "keep_compressed": False, "dry_run": False},
    ]


def test_the_error_names_ten_failed_files_and_counts_the_rest(aws) -> None:
    keys = [f"genes/missing-{n:02}.json" for n in range(12)]
    local = {"engine": "local", "job_queue": None, "job_definition": None, "work_location": None}
    with pytest.raises(RuntimeError) as raised:
        operator(**local, keys=keys).execute(make_context())
    message = str(raised.value)
    assert message.startswith("compress: 12 of 12 files failed: genes/missing-")
    assert message.endswith(" (and 2 more in the report)")
    assert message.count("s3://bio-index-data/genes/missing-") == 10


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"engine": "lambda"}, "engine must be 'batch' or 'local'; got 'lambda'"),
        ({"bucket": ""}, "bucket is required"),
        ({"keys": None}, "give exactly one of keys (the chunk's .json keys) or prefix"),
        ({"prefix": "genes/"}, "give exactly one of keys (the chunk's .json keys) or prefix"),
        (
            {"job_definition": None, "work_location": None},
            "engine='batch' needs job_definition, work_location (or use engine='local')",
        ),
        ({"workers": 0}, "workers and threads must be at least 1"),
        ({"threads": 0}, "workers and threads must be at least 1"),
        ({"keep_compressed": True}, "keep_compressed applies to decompress only"),
        (
            {"keys": ["genes/part-0.json.gz"]},
            "keys lists compressed objects ('genes/part-0.json.gz'...); list the originals' keys "
            "(e.g. data/part-0001.json), the worker finds <key>.gz and <key>.gz.gzi itself",
        ),
        (
            {"work_location": "bucket-without-scheme"},
            "work_location: 'bucket-without-scheme' is not an s3://bucket[/prefix] URI (bucket names are lowercase)",
        ),
    ],
)
def test_more_bad_arguments_are_refused_before_any_aws_call(aws, arguments, message) -> None:
    with recorded_calls() as calls, pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        operator(**arguments).execute(make_context())
    assert calls == []


def test_the_local_engine_needs_no_batch_arguments(aws) -> None:
    local = {"engine": "local", "job_queue": None, "job_definition": None, "work_location": None}
    assert operator(**local, keys=[]).execute(make_context())["files"] == 0


def _deferred_failing_job(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, FakeTaskStateStore, str]:
    """A deferred task whose Batch job fails without writing a report: the task, its store and the job id."""
    store = FakeTaskStateStore()
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")
    task = operator(deferrable=True)
    with pytest.raises(TaskDeferred):
        task.execute(make_context(store))
    return task, store, store.get(BATCH_JOB_KEY)["value"]


def test_execute_complete_without_an_event_reports_the_remembered_job(aws, monkeypatch) -> None:
    _, store, job_id = _deferred_failing_job(monkeypatch)
    with pytest.raises(RuntimeError, match=rf"Batch job {job_id} wrote no report .*\(the trigger reported None\)"):
        operator(deferrable=True).execute_complete(make_context(store), None)


def test_a_job_that_wrote_no_report_is_named_with_the_waiters_failure(aws, monkeypatch) -> None:
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")
    with pytest.raises(
        RuntimeError, match=r"wrote no report to s3://bio-index-work/.* \(Waiter batch_job_complete failed"
    ):
        operator().execute(make_context())


def test_a_job_reported_successful_without_a_report_is_named_with_its_status(aws, monkeypatch) -> None:
    task, store, job_id = _deferred_failing_job(monkeypatch)
    with pytest.raises(RuntimeError, match=rf"Batch job {job_id} wrote no report to s3://.* \(job FAILED: "):
        task.execute_complete(make_context(store), {"status": "success", "job_id": job_id})


def test_on_kill_before_a_job_was_submitted_calls_no_aws(aws) -> None:
    with recorded_calls() as calls:
        operator().on_kill()
    assert calls == []


LOCAL = {"engine": "local", "job_queue": None, "job_definition": None, "work_location": None}


def events(logs: list[dict[str, Any]]) -> list[str]:
    """The formatted messages of captured log entries (some hooks log dicts: left out)."""
    return [entry["event"] for entry in logs if isinstance(entry["event"], str)]


def test_a_local_prefix_run_compresses_only_the_files_under_its_prefix(aws) -> None:
    aws["s3"].put_object(Bucket=DATA, Key="variants/v.json", Body=lines(7))
    result = operator(**LOCAL, keys=None, prefix="genes/").execute(make_context())
    assert (result["files"], result["done"]) == (3, 3)
    listed = {item["Key"] for item in aws["s3"].list_objects_v2(Bucket=DATA, Prefix="variants/")["Contents"]}
    assert listed == {"variants/v.json"}


def test_a_local_run_with_an_empty_prefix_compresses_every_json_in_the_bucket(aws) -> None:
    aws["s3"].put_object(Bucket=DATA, Key="variants/v.json", Body=lines(7))
    result = operator(**LOCAL, keys=None, prefix="").execute(make_context())
    assert (result["files"], result["done"]) == (4, 4)
    assert restored(aws["s3"], "variants/v.json.gz") == lines(7)


def test_the_local_engine_logs_each_files_outcome_in_the_task_log(aws) -> None:
    with capture_logs() as logs:
        operator(**LOCAL).execute(make_context())
    size = len(lines(0))  # every part holds 2000 lines of the same length
    per_file = sorted(event for event in events(logs) if event.startswith("done "))
    assert [event.rsplit(" -> ", 1)[0] for event in per_file] == [
        f"done     genes/part-{n}.json  {size}" for n in range(3)
    ]


def test_on_kill_tells_batch_why_and_logs_the_job_it_terminated(aws) -> None:
    with recorded_calls() as calls:  # the hook's client is made on the first call
        task = operator(wait_for_completion=False)
        job_id = task.execute(make_context())["job_id"]
        with capture_logs() as logs:
            task.on_kill()
    assert [call.params for call in calls if call.operation == "TerminateJob"] == [
        {"jobId": job_id, "reason": "Airflow task killed"}
    ]
    assert f"Terminated Batch job {job_id}" in events(logs)


def test_the_task_logs_the_workers_totals_and_returns_them(aws) -> None:
    with capture_logs() as logs:
        result = operator(keys=[]).execute(make_context())
    totals = {"files": 0, "done": 0, "skipped": 0, "dry-run": 0, "failed": 0, "bytes_in": 0, "bytes_out": 0}
    assert result == {"action": "compress", "job_id": None, **totals}
    assert f"compress: {totals}" in events(logs)


def test_the_error_names_each_failed_file_with_its_reason(aws) -> None:
    keys = ["genes/missing-0.json", "genes/missing-1.json"]
    with pytest.raises(RuntimeError) as raised:
        operator(**LOCAL, keys=keys, workers=1).execute(make_context())
    assert str(raised.value) == (
        "compress: 2 of 2 files failed: genes/missing-0.json: s3://bio-index-data/genes/missing-0.json does not exist; "
        "genes/missing-1.json: s3://bio-index-data/genes/missing-1.json does not exist"
    )


def test_ten_failed_files_are_all_named_and_none_left_to_the_report(aws) -> None:
    keys = [f"genes/missing-{n:02}.json" for n in range(10)]
    with pytest.raises(RuntimeError) as raised:
        operator(**LOCAL, keys=keys).execute(make_context())
    message = str(raised.value)
    assert message.startswith("compress: 10 of 10 files failed: ") and message.endswith(" does not exist")
    assert message.count("s3://bio-index-data/genes/missing-") == 10


def test_by_default_a_deferred_task_checks_the_job_every_30_seconds_for_up_to_24_hours(aws) -> None:
    task = BgzipBatchOperator(
        task_id="compress",
        action="compress",
        bucket=DATA,
        keys=["genes/part-0.json"],
        job_queue=QUEUE,
        job_definition=DEFINITION,
        work_location=f"s3://{WORK}/bgzip/",
        aws_conn_id=None,
        region_name=REGION,
        deferrable=True,
    )
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(make_context())
    _, fields = deferred.value.trigger.serialize()
    assert (fields["waiter_delay"], fields["waiter_max_attempts"]) == (30, 2880)


def test_the_chunk_label_names_the_mapped_task_in_the_ui(aws) -> None:
    from jinja2 import Template

    task = operator(chunk_label="genes 1/3 · 3 files · 1 MiB")
    assert Template("{{ task.chunk_label }}").render(task=task) == "genes 1/3 · 3 files · 1 MiB"


def test_execute_complete_with_no_remembered_job_takes_the_job_from_the_event(aws) -> None:
    store = FakeTaskStateStore()
    with client_events({"before-call.batch.SubmitJob": WorkerContainer()}), pytest.raises(TaskDeferred):
        operator(deferrable=True).execute(make_context(store))
    job_id = store.get(BATCH_JOB_KEY)["value"]
    result = operator(deferrable=True).execute_complete(make_context(), {"status": "success", "job_id": job_id})
    assert (result["job_id"], result["done"]) == (job_id, 3)


def test_execute_complete_with_neither_event_nor_remembered_job_says_so(aws) -> None:
    with pytest.raises(RuntimeError, match=r"^Batch job None wrote no report to s3://.* \(the trigger reported None\)"):
        operator(deferrable=True).execute_complete(make_context(), None)


def test_a_cleared_task_whose_job_failed_after_writing_its_report_submits_again(aws, monkeypatch) -> None:
    """The job wrote a full report but Batch marked it FAILED: a failed job is never reused."""
    store = FakeTaskStateStore()
    container = WorkerContainer()
    monkeypatch.setenv("MOTO_SIMPLE_BATCH_FAIL_AFTER", "0")
    with client_events({"before-call.batch.SubmitJob": container}):
        first = operator(keys=["genes/part-0.json"]).execute(make_context(store))
        again = operator(keys=["genes/part-0.json"]).execute(make_context(store))
    assert len(container.commands) == 2 and again["job_id"] != first["job_id"]


def test_a_retry_whose_job_batch_no_longer_knows_submits_again(aws) -> None:
    store = FakeTaskStateStore()
    container = WorkerContainer()
    with client_events({"before-call.batch.SubmitJob": container}):
        operator(keys=["genes/part-0.json"]).execute(make_context(store))
        store.set(BATCH_JOB_KEY, {**store.get(BATCH_JOB_KEY), "value": "0d2e4f60-0000-4000-8000-000000000000"})
        again = operator(keys=["genes/part-0.json"]).execute(make_context(store))
    assert len(container.commands) == 2 and again["done"] == 0 and again["skipped"] == 1


def listed_prefixes(calls) -> set[str]:
    return {
        call.params["Prefix"] for call in calls if call.operation == "ListObjectsV2" and call.params["Bucket"] == DATA
    }


@pytest.mark.parametrize(
    ("chunk", "folders"),
    [
        pytest.param(
            {"keys": ["genes/part-0.json", "genes/tissue/t.json", "variants/2026/v.json"]},
            {"genes/", "variants/2026/"},
            id="keys: their folders, nested ones once",
        ),
        pytest.param({"keys": ["top.json", "genes/part-0.json"]}, {""}, id="keys at the top: the whole bucket"),
        pytest.param({"keys": None, "prefix": "genes/"}, {"genes/"}, id="prefix"),
        pytest.param({"keys": None, "prefix": ""}, {""}, id="empty prefix"),
    ],
)
def test_the_chunks_files_are_checked_by_listing_only_their_folders(aws, chunk, folders) -> None:
    for key in ("genes/tissue/t.json", "variants/2026/v.json", "top.json"):
        aws["s3"].put_object(Bucket=DATA, Key=key, Body=b'{"gene": "G"}\n')
    with client_events({"before-call.batch.SubmitJob": WorkerContainer()}), recorded_calls() as calls:
        result = operator(**chunk).execute(make_context())
    assert listed_prefixes(calls) == folders
    assert result["failed"] == 0 and result["done"] >= 2


def test_a_batch_prefix_chunk_over_an_empty_prefix_reports_no_files(aws) -> None:
    with client_events({"before-call.batch.SubmitJob": WorkerContainer()}):
        result = operator(keys=None, prefix="nothing-here/").execute(make_context())
    assert (result["files"], result["failed"]) == (0, 0)


def test_a_retry_reuses_the_job_when_only_files_beside_its_chunk_changed(aws) -> None:
    store = FakeTaskStateStore()
    container = WorkerContainer()
    with client_events({"before-call.batch.SubmitJob": container}):
        first = operator(keys=["genes/part-0.json"]).execute(make_context(store))
        aws["s3"].put_object(Bucket=DATA, Key="genes/part-2.json", Body=b"{}\n")  # same folder, not in the chunk
        aws["s3"].put_object(Bucket=DATA, Key="variants/v.json", Body=b"{}\n")
        again = operator(keys=["genes/part-0.json"]).execute(make_context(store))
    assert len(container.commands) == 1 and again == first


def test_a_retry_submits_again_when_an_original_of_its_chunk_was_rewritten(aws) -> None:
    store = FakeTaskStateStore()
    container = WorkerContainer()
    with client_events({"before-call.batch.SubmitJob": container}):
        first = operator(keys=["genes/part-1.json"]).execute(make_context(store))
        aws["s3"].put_object(Bucket=DATA, Key="genes/part-1.json", Body=lines(9))
        again = operator(keys=["genes/part-1.json"]).execute(make_context(store))
    assert len(container.commands) == 2 and again["job_id"] != first["job_id"]
    assert restored(aws["s3"], "genes/part-1.json.gz") == lines(9)


def test_a_job_that_wrote_no_report_is_named_with_batchs_reason(aws, monkeypatch) -> None:
    def reason(parsed: dict[str, Any], **_: Any) -> None:
        for job in parsed.get("jobs", []):
            job["statusReason"] = "Essential container in task exited"

    _, store, job_id = _deferred_failing_job(monkeypatch)
    with client_events({"after-call.batch.DescribeJobs": reason}), pytest.raises(RuntimeError) as raised:
        operator(deferrable=True).execute_complete(make_context(store), {"status": "success", "job_id": job_id})
    assert str(raised.value) == (
        f"Batch job {job_id} wrote no report to s3://{WORK}/{REPORT_KEY} "
        "(job FAILED: Essential container in task exited); see the job's logs (extra link)"
    )


def test_a_job_batch_gives_no_reason_for_is_said_to_have_none(aws, monkeypatch) -> None:
    task, store, job_id = _deferred_failing_job(monkeypatch)
    with pytest.raises(RuntimeError) as raised:
        task.execute_complete(make_context(store), {"status": "success", "job_id": job_id})
    assert str(raised.value) == (
        f"Batch job {job_id} wrote no report to s3://{WORK}/{REPORT_KEY} "
        "(job FAILED: no reason given); see the job's logs (extra link)"
    )


def test_the_task_links_the_batch_job_and_its_log_stream(aws) -> None:
    context = make_context()
    with client_events({"before-call.batch.SubmitJob": WorkerContainer()}):
        job_id = operator(keys=["genes/part-0.json"]).execute(context)["job_id"]
    assert context["ti"].xcoms == {
        "batch_job_details": {"region_name": REGION, "aws_domain": "aws.amazon.com", "job_id": job_id},
        "cloudwatch_events": {
            "region_name": REGION,
            "aws_domain": "aws.amazon.com",
            "awslogs_stream_name": f"{DEFINITION}/default/{job_id}",
            "awslogs_group": "/aws/batch/job",
            "awslogs_region": REGION,
        },
    }


def test_the_deferred_wait_uses_the_tasks_aws_connection_and_client_settings(aws, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_BIO_AWS", json.dumps({"conn_type": "aws"}))
    config = {"retries": {"max_attempts": 3}}
    task = operator(deferrable=True, aws_conn_id="bio_aws", verify=False, botocore_config=config)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(make_context())
    _, fields = deferred.value.trigger.serialize()
    assert (fields["aws_conn_id"], fields["verify"], fields["botocore_config"]) == ("bio_aws", False, config)


def test_the_wait_checks_the_job_every_waiter_delay_up_to_waiter_max_attempts(aws, monkeypatch) -> None:
    """A job that stays RUNNING: three checks seven seconds apart, then the task fails naming the waiter."""
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) > 5:
            raise AssertionError("the waiter did not stop after waiter_max_attempts")

    def running(parsed: dict[str, Any], **_: Any) -> None:
        for job in parsed.get("jobs", []):
            job["status"] = "RUNNING"

    monkeypatch.setattr("botocore.waiter.time.sleep", sleep)
    with (
        client_events({"after-call.batch.DescribeJobs": running}),
        pytest.raises(
            RuntimeError, match=r"wrote no report .*\(Waiter batch_job_complete failed: Max attempts exceeded"
        ),
    ):
        operator(waiter_delay=7, waiter_max_attempts=3).execute(make_context())
    assert slept == [7, 7]


def test_the_submitted_job_is_named_after_the_task_and_logged_with_its_command(aws) -> None:
    with recorded_calls() as calls, capture_logs() as logs:
        job_id = operator(task_id="Compress.Genes", wait_for_completion=False).execute(make_context())["job_id"]
    assert submitted(calls)["jobName"] == "bgzip-compress-adhoc_airflow-Compress-Genes--1"
    run = "adhoc_airflow/manual__2026-11-21T05:00:00+00:00"
    assert (
        f"Submitted Batch job {job_id}: compress --bucket {DATA} --workers 8 --level 6 "
        f"--manifest s3://{WORK}/bgzip/manifests/{run}/Compress.Genes.json "
        f"--report s3://{WORK}/bgzip/reports/{run}/Compress.Genes.json"
    ) in events(logs)


def test_a_report_another_job_wrote_is_not_taken_for_this_jobs(aws) -> None:
    """E.g. a zombie job of an earlier try writing its report after this try's job was submitted."""
    store = FakeTaskStateStore()
    with pytest.raises(TaskDeferred):
        operator(deferrable=True).execute(make_context(store))
    job_id = store.get(BATCH_JOB_KEY)["value"]
    summary = {"files": 3, "done": 3, "skipped": 0, "dry-run": 0, "failed": 0, "bytes_in": 3, "bytes_out": 3}
    older = {"action": "compress", "bucket": DATA, "summary": summary, "files": [], "batch_job_id": "an-older-job"}
    aws["s3"].put_object(Bucket=WORK, Key=REPORT_KEY, Body=json.dumps(older).encode())
    with pytest.raises(
        RuntimeError, match=rf"^Batch job {job_id} wrote no report to s3://{WORK}/{re.escape(REPORT_KEY)} "
    ):
        operator(deferrable=True).execute_complete(make_context(store), {"status": "success", "job_id": job_id})
