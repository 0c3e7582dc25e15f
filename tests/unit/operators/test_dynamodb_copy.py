"""DynamoGlueCopyOperator's local engine on moto: every item copied, emails obfuscated, guards first."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws
from structlog.testing import capture_logs

from airflow_provider_bio.hooks import dynamodb_copy
from airflow_provider_bio.operators.dynamodb_copy import DynamoGlueCopyOperator
from tests.support.airflow_context import make_context
from tests.support.botocore_events import client_events, http_response, recorded_calls

SOURCE, DESTINATION = "efcms-source-alpha", "efcms-test-alpha"
SECRET = os.environ["AIRFLOW_VAR_LOWER_ENV_OBFUSCATION_SECRET"]  # set by tests/conftest.py


def pseudonym(address):
    """The expected stand-in, computed here: HMAC-SHA256 of the lower-cased address with the secret."""
    return hmac.new(SECRET.encode(), address.lower().encode(), hashlib.sha256).hexdigest() + "@example.com"


def _create(dynamodb, name):
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def _fill(resource, count):
    """``count`` source items, each with three addresses, a third of them with one in the key too."""
    with resource.Table(SOURCE).batch_writer() as batch:
        for n in range(count):
            batch.put_item(
                Item={
                    "pk": f"user-email|person{n}@court.gov" if n % 3 == 0 else f"case|{n}",
                    "sk": f"item|{n}",
                    "email": f"person{n}@court.gov",
                    "contact": {"email": f"home{n}@mail.org", "list": [{"email": f"x{n}@y.z"}, Decimal(n)]},
                    "count": Decimal(n),
                    "flags": {"a", "b"},
                    "blob": b"\x00\x01",
                }
            )


def _tables(items: int):
    with mock_aws():
        resource = boto3.resource("dynamodb", region_name="us-west-2")
        for name in (SOURCE, DESTINATION):
            _create(resource.meta.client, name)
        _fill(resource, items)
        yield resource


@pytest.fixture
def tables():
    yield from _tables(230)


@pytest.fixture
def few_tables():
    """30 source items: more than one batch of 25, few enough to copy quickly."""
    yield from _tables(30)


def _copy(**kwargs):
    defaults = {
        "task_id": "copy",
        "source_table": SOURCE,
        "destination_table": DESTINATION,
        "obfuscation_domain": "example.com",
        "aws_conn_id": None,
        "scan_segments": 4,
    }
    return DynamoGlueCopyOperator(**(defaults | kwargs)).execute(make_context())


def test_every_item_arrives_with_no_raw_email_left(tables):
    result = _copy()
    assert result["read"] == result["written"] == 230
    assert result["emails"] == 230 * 3 + 77 and result["transformed"] == 230
    assert result["addresses_outside_domain"] == 0 and result["not_written"] == 0
    copied = {item["sk"]: item for item in tables.Table(DESTINATION).scan()["Items"]}
    assert len(copied) == 230
    dump = json.dumps(tables.Table(DESTINATION).scan()["Items"], default=repr)
    assert "@court.gov" not in dump and "@mail.org" not in dump and "@y.z" not in dump
    item = copied["item|3"]
    assert item["pk"] == "user-email|" + pseudonym("person3@court.gov")
    assert (
        item["contact"]["list"][1] == Decimal(3) and item["flags"] == {"a", "b"} and item["blob"].value == b"\x00\x01"
    )


def test_unprocessed_items_are_sent_again(tables, monkeypatch):
    waits = []
    monkeypatch.setattr(dynamodb_copy, "backoff", waits.append)
    calls = {"n": 0}

    def leave_unprocessed(params, **_):
        # The first three BatchWriteItem calls write nothing and hand every item back.
        calls["n"] += 1
        if calls["n"] <= 3:
            return http_response(200, {}), {"UnprocessedItems": json.loads(params["body"])["RequestItems"]}
        return None

    with client_events({"before-call.dynamodb.BatchWriteItem": leave_unprocessed}):
        result = _copy(scan_segments=1)
    assert result["written"] == 230 and len(tables.Table(DESTINATION).scan()["Items"]) == 230
    assert len(waits) == 3 and waits[0] < waits[2]  # backed off, longer each time


def test_a_copy_onto_its_source_or_production_is_refused_before_any_aws_call():
    with recorded_calls() as calls:
        with pytest.raises(ValueError, match="is the source table"):
            _copy(destination_table=SOURCE)
        with pytest.raises(ValueError, match="protected pattern"):
            _copy(destination_table="efcms-prod-alpha")
        with pytest.raises(ValueError, match="protected_accounts"):
            _copy(expected_account="111122223333", protected_accounts=["111122223333"])
        with pytest.raises(ValueError, match="domain"):
            _copy(obfuscation_domain="")
    assert calls == []


def test_scan_pages_are_bounded_so_memory_does_not_follow_the_table(tables):
    with recorded_calls() as calls:
        _copy(scan_segments=2)
    scans = [call for call in calls if call.operation == "Scan"]
    assert scans and all(call.params["Limit"] <= 1000 and call.params["ConsistentRead"] for call in scans)
    assert {call.params["Segment"] for call in scans} == {0, 1}


def test_no_secret_no_copy_and_no_aws_call(monkeypatch):
    monkeypatch.delenv("AIRFLOW_VAR_LOWER_ENV_OBFUSCATION_SECRET")
    with recorded_calls() as calls, pytest.raises(ValueError) as refused:
        _copy()
    message = str(refused.value)
    assert "lower_env_obfuscation_secret" in message and "obfuscation_secret_variable" in message
    assert "AIRFLOW_VAR_LOWER_ENV_OBFUSCATION_SECRET" in message
    assert calls == []


def test_leaks_of_every_kind_are_rewritten_alike_in_keys_and_gsi_keys(tables):
    source = tables.Table(SOURCE)
    source.put_item(
        Item={
            "pk": "USER-EMAIL|Jane@Court.gov",
            "sk": "user-email|jane@court.gov",
            "gsi1pk": "User-Email|JANE@court.gov",
            "EMAIL": {"jane@court.gov", "joe@court.gov"},
            "pendingEmail": ["new@court.gov"],
            "contactInfo": {"serviceEmail": "svc@court.gov", "joe@home.org": "friend"},
            "notes": "Call Jane (jane@court.gov) or jörg@bücher.de",
            "parties": {"x", "p@court.gov"},
            "blob": b"cc: jane@court.gov",
        }
    )
    _copy(scan_segments=1)
    jane = pseudonym("jane@court.gov")
    item = tables.Table(DESTINATION).get_item(Key={"pk": f"USER-EMAIL|{jane}", "sk": f"user-email|{jane}"})["Item"]
    assert item["gsi1pk"] == f"User-Email|{jane}"
    assert item["EMAIL"] == {jane, pseudonym("joe@court.gov")} and item["pendingEmail"] == [pseudonym("new@court.gov")]
    assert item["contactInfo"] == {"serviceEmail": pseudonym("svc@court.gov"), pseudonym("joe@home.org"): "friend"}
    assert item["notes"] == f"Call Jane ({jane}) or {pseudonym('jörg@bücher.de')}"
    assert item["parties"] == {"x", pseudonym("p@court.gov")}
    assert item["blob"].value == f"cc: {jane}".encode()


def test_an_item_grown_past_400_kb_is_named_and_the_rest_of_its_batch_written(tables):
    # 6,000 short addresses: 42 KB in production, about 470 KB once each is a 76-character stand-in.
    tables.Table(SOURCE).put_item(Item={"pk": "case|big", "sk": "notes|1", "notes": " ".join(["a@b.c"] * 6000)})
    with pytest.raises(RuntimeError, match=r"1 items could not be written.*pk=case\|big, sk=notes\|1"):
        _copy(scan_segments=1)  # one segment: the big item shares its batch with 24 others
    assert tables.Table(DESTINATION).scan(Select="COUNT")["Count"] == 230


def test_dynamodb_refusing_one_item_does_not_lose_its_batch(tables):
    hook = dynamodb_copy.DynamoCopyHook(aws_conn_id=None, region_name="us-west-2")
    items = [{"pk": {"S": f"p{n}"}, "sk": {"S": "s"}} for n in range(5)]
    items[2]["body"] = {"S": "x" * 410_000}
    refused = hook.write_batch(DESTINATION, items)
    assert [item["pk"]["S"] for item, _ in refused] == ["p2"]
    assert tables.Table(DESTINATION).scan(Select="COUNT")["Count"] == 4


def test_an_address_left_in_the_destination_fails_the_run_naming_item_and_attribute_only(tables):
    tables.Table(DESTINATION).put_item(
        Item={"pk": "case|stale", "sk": "old", "contact": {"emails": ["ok", "Stale.Person@court.gov"]}}
    )
    with pytest.raises(RuntimeError) as failed:
        _copy()
    message = str(failed.value)
    assert "1 addresses outside @example.com" in message and "pk=case|stale, sk=old (contact.emails[1])" in message
    assert "Stale.Person" not in message and "court.gov" not in message


def _operator(**kwargs):
    defaults = {
        "task_id": "copy",
        "source_table": SOURCE,
        "destination_table": DESTINATION,
        "obfuscation_domain": "example.com",
        "aws_conn_id": None,
    }
    return DynamoGlueCopyOperator(**(defaults | kwargs))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"destination_table": ""}, "destination_table is empty"),
        ({"scan_segments": 0}, "scan_segments must be between 1 and 1000, got 0"),
        ({"scan_segments": 1001}, "scan_segments must be between 1 and 1000, got 1001"),
        ({"engine": "spark"}, r"engine must be one of \('local', 'glue'\), got 'spark'"),
        ({"engine": "glue", "script_location": "s3://bio-glue/p/"}, "glue_job_name None is not a Glue job name"),
        (
            {"engine": "glue", "glue_job_name": "j" * 256, "script_location": "s3://bio-glue/p/"},
            "is not a Glue job name",
        ),
        ({"engine": "glue", "glue_job_name": "job"}, "script_location"),
        (
            {
                "engine": "glue",
                "glue_job_name": "job",
                "script_location": "s3://bio-glue/p/",
                "update_job_definition": True,
            },
            "update_job_definition needs job_role_arn",
        ),
        (
            {
                "engine": "glue",
                "glue_job_name": "job",
                "script_location": "s3://bio-glue/p/",
                "write_throughput_percent": 0,
            },
            r"write_throughput_percent must be in \(0, 1.5\]",
        ),
        (
            {
                "engine": "glue",
                "glue_job_name": "job",
                "script_location": "s3://bio-glue/p/",
                "write_throughput_percent": 1.51,
            },
            r"write_throughput_percent must be in \(0, 1.5\]",
        ),
    ],
)
def test_bad_arguments_are_refused_naming_the_argument_before_any_aws_call(kwargs, message):
    with recorded_calls() as calls, pytest.raises(ValueError, match=message):
        _operator(**kwargs).execute(make_context())
    assert calls == []


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"scan_segments": 1}, id="one-segment"),
        pytest.param({"scan_segments": 1000}, id="a-thousand-segments"),
        pytest.param({"destination_table": SOURCE, "dest_aws_conn_id": "lower_env"}, id="same-name-other-account"),
        pytest.param(
            {
                "engine": "glue",
                "glue_job_name": "efcms.glue-copy_2",
                "script_location": "s3://bio-glue/p/",
                "write_throughput_percent": 1.5,
            },
            id="glue-at-the-throughput-limit",
        ),
        pytest.param(
            {"engine": "glue", "glue_job_name": "j" * 255, "script_location": "s3://bio-glue/p/"},
            id="glue-longest-job-name",
        ),
    ],
)
def test_arguments_at_the_limits_are_accepted(kwargs):
    settings = _operator(email_keys=["email", "contactEmail"], **kwargs)._check_arguments()
    assert settings.domain == "example.com"
    assert settings.email_keys == ("email", "contactEmail")
    assert settings.secret == SECRET.encode()


@pytest.mark.parametrize(
    ("secret", "accepted"),
    [("s" * 15, False), ("s" * 16, True)],
)
def test_the_secret_must_hold_at_least_16_bytes(monkeypatch, secret, accepted):
    monkeypatch.setenv("AIRFLOW_VAR_COPY_SECRET", secret)
    operator = _operator(obfuscation_secret_variable="copy_secret")
    if accepted:
        assert operator._check_arguments().secret == secret.encode()
    else:
        with pytest.raises(ValueError, match=r"'copy_secret' .* at least 16 bytes.*AIRFLOW_VAR_COPY_SECRET"):
            operator._check_arguments()


def test_no_secret_variable_named_is_refused():
    with pytest.raises(ValueError, match=r"Variable None .*AIRFLOW_VAR_NAME\)"):
        _operator(obfuscation_secret_variable=None)._check_arguments()


def test_clients_get_a_connection_per_thread_and_adaptive_retries_unless_configured_otherwise():
    assert _operator(scan_segments=4)._hook_parameters == {
        "aws_conn_id": None,
        "region_name": None,
        "verify": None,
        "config": {"max_pool_connections": 8, "retries": {"mode": "adaptive", "max_attempts": 10}},
    }
    given = _operator(botocore_config={"retries": {"mode": "standard"}}, region_name="us-east-1")
    assert given._hook_parameters["config"] == {"max_pool_connections": 16, "retries": {"mode": "standard"}}
    assert given._hook_parameters["region_name"] == "us-east-1"


def test_defaults():
    operator = _operator()
    assert operator.scan_segments == 8 and operator.engine == "local"
    assert operator.obfuscation_secret_variable == "lower_env_obfuscation_secret"
    assert operator.email_keys == ("email",) and operator.protected_tables == ("*prod*",)
    assert operator.glue_secret_parameter == "/None/obfuscation-secret"
    assert (operator.waiter_delay, operator.waiter_max_attempts) == (60, 2880)
    assert (operator.worker_type, operator.number_of_workers) == ("G.1X", 20)
    assert (operator.write_throughput_percent, operator.output_retries) == (0.1, 35)
    assert operator.wait_for_completion is True and operator.dry_run is False
    assert operator.progress_every_seconds == 30.0
    assert operator.update_job_definition is False
    assert _operator(glue_secret_parameter="/given").glue_secret_parameter == "/given"


def test_a_dry_run_reports_the_source_count_and_writes_nothing(few_tables):
    with recorded_calls() as calls:
        result = _copy(dry_run=True)
    assert result == {"dry_run": True, "source_items": 30, "destination_table": DESTINATION}
    assert {call.operation for call in calls} <= {"GetCallerIdentity", "DescribeTable"}
    assert few_tables.Table(DESTINATION).scan(Select="COUNT")["Count"] == 0


def test_a_dry_run_says_what_would_be_copied_where_and_how(few_tables):
    def table_size(parsed, **_):
        parsed["Table"]["TableSizeBytes"] = 4096  # moto reports 0; DynamoDB updates it every six hours

    with client_events({"after-call.dynamodb.DescribeTable": table_size}), capture_logs() as logs:
        _copy(dry_run=True)
    reports = [log["event"] for log in logs if log["event"].startswith("dry run")]
    assert reports == [
        f"dry run: would copy about 30 items (4096 bytes) of {SOURCE} into {DESTINATION} "
        "with the local engine, emails obfuscated to @example.com"
    ]


def test_a_dry_run_of_a_protected_destination_is_refused_too():
    with recorded_calls() as calls, pytest.raises(ValueError, match="protected pattern"):
        _copy(destination_table="efcms-prod-beta", dry_run=True)
    assert calls == []


def test_an_item_without_an_address_is_copied_unchanged_and_not_counted_as_transformed(few_tables):
    few_tables.Table(SOURCE).put_item(Item={"pk": "case|plain", "sk": "docket|1", "title": "no address here"})
    result = _copy(scan_segments=2)
    assert (result["read"], result["written"], result["transformed"]) == (31, 31, 30)
    assert result["emails"] == 30 * 3 + 10
    assert result["not_written"] == 0 and result["not_written_keys"] == []
    plain = few_tables.Table(DESTINATION).get_item(Key={"pk": "case|plain", "sk": "docket|1"})["Item"]
    assert plain == {"pk": "case|plain", "sk": "docket|1", "title": "no address here"}


@pytest.mark.parametrize(("refused", "cut"), [(20, False), (21, True)])
def test_items_left_out_are_counted_and_at_most_20_named(few_tables, monkeypatch, refused, cut):
    """Every item left out (here: the first ones found too large) is counted; the error names 20 of them."""
    from airflow_provider_bio.operators import dynamodb_copy as operator_module

    too_large = {f"item|{n}" for n in range(refused)}
    monkeypatch.setattr(operator_module, "too_large", lambda item: item["sk"] in too_large)
    with pytest.raises(RuntimeError) as failed:
        _copy(scan_segments=1)  # one segment: the refused items share batches
    message = str(failed.value)
    assert message.startswith(f"{refused} items could not be written, over DynamoDB's 400 KB")
    assert message.count("sk=item|") == 20
    assert message.endswith(" ...") is cut
    assert "pk=case|1, sk=item|1" in message
    assert few_tables.Table(DESTINATION).scan(Select="COUNT")["Count"] == 30 - refused


@pytest.mark.parametrize(("leaks", "cut"), [(20, False), (21, True)])
def test_addresses_left_in_the_destination_are_counted_and_at_most_20_named(few_tables, leaks, cut):
    with few_tables.Table(DESTINATION).batch_writer() as batch:
        for n in range(leaks):
            batch.put_item(Item={"pk": f"case|stale{n:02}", "sk": "old", "note": f"p{n}@court.gov"})
    with pytest.raises(RuntimeError) as failed:
        _copy()
    message = str(failed.value)
    assert message.startswith(
        f"{leaks} addresses outside @example.com are left in {DESTINATION}, in {leaks} attributes: "
    )
    assert "pk=case|stale00, sk=old (note); pk=case|stale01, sk=old (note)" in message
    assert message.count("(note)") == 20
    assert message.endswith(" ...") is cut


class _Clock:
    """``time`` as the operator module sees it: the copy starts at 100 s and every later reading is 102 s."""

    def __init__(self) -> None:
        self.readings = iter([100.0])

    def monotonic(self) -> float:
        return next(self.readings, 102.0)

    @staticmethod
    def sleep(seconds: float) -> None:
        import time

        time.sleep(seconds)


def test_the_log_says_what_is_copied_and_how_far_the_copy_got(few_tables, monkeypatch):
    from airflow_provider_bio.operators import dynamodb_copy as operator_module

    monkeypatch.setattr(operator_module, "time", _Clock())
    with capture_logs() as logs:
        _copy(scan_segments=2)
    events = [log["event"] for log in logs]
    assert f"Copying {SOURCE} to {DESTINATION} in 2 segments, emails obfuscated to @example.com" in events
    # 30 items in 2 s (the clock above); each item holds three addresses, every third a fourth in its key.
    assert [event for event in events if event.startswith("progress")] == [
        "progress: read 30, written 30 (15 items/s), 30 items transformed, 100 emails obfuscated"
    ]
    assert f"post-copy check of {DESTINATION}: 0 addresses outside @example.com" in events


def test_progress_is_logged_every_progress_every_seconds_while_the_copy_runs(few_tables, monkeypatch):
    import time

    from airflow_provider_bio.operators import dynamodb_copy as operator_module

    monkeypatch.setattr(operator_module, "time", _Clock())

    def slow_write(**_):
        time.sleep(0.3)  # the copy is still going at the first look, 0.2 s in

    with client_events({"before-call.dynamodb.BatchWriteItem": slow_write}), capture_logs() as logs:
        _copy(scan_segments=1, progress_every_seconds=1)
    progress = [log["event"] for log in logs if log["event"].startswith("progress")]
    # One line once the clock has moved 2 s past the start (then it stands still), and the final one.
    assert len(progress) == 2 and progress[0].startswith("progress: read ")
    assert progress[1] == "progress: read 30, written 30 (15 items/s), 30 items transformed, 100 emails obfuscated"


def _refuse_item_2(params: dict[str, Any], **_: Any) -> Any:
    """DynamoDB refuses any batch holding item|2, as it refuses one holding an item over 400 KB."""
    requests = json.loads(params["body"])["RequestItems"][DESTINATION]
    if any(request["PutRequest"]["Item"]["sk"] == {"S": "item|2"} for request in requests):
        error = {"Code": "ValidationException", "Message": "Item size has exceeded the maximum allowed size"}
        return http_response(400, {}), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}
    return None


def test_the_log_names_each_item_left_out_and_why(few_tables, monkeypatch):
    from airflow_provider_bio.operators import dynamodb_copy as operator_module

    monkeypatch.setattr(operator_module, "too_large", lambda item: item["sk"] == "item|1")

    with (
        client_events({"before-call.dynamodb.BatchWriteItem": _refuse_item_2}),
        capture_logs() as logs,
        pytest.raises(RuntimeError, match="2 items could not be written"),
    ):
        _copy(scan_segments=1)
    assert [log["event"] for log in logs if log["log_level"] == "error"] == [
        "not written, over 400 KB once obfuscated: pk=case|1, sk=item|1",
        "not written, DynamoDB refused it (Item size has exceeded the maximum allowed size): pk=case|2, sk=item|2",
    ]


def test_the_log_names_each_address_left_in_the_destination(few_tables):
    with few_tables.Table(DESTINATION).batch_writer() as batch:
        for n in (1, 0):
            batch.put_item(Item={"pk": f"case|stale{n}", "sk": "old", "note": f"p{n}@court.gov"})
    with capture_logs() as logs, pytest.raises(RuntimeError):
        _copy()
    events = [log["event"] for log in logs]
    assert f"post-copy check of {DESTINATION}: 2 addresses outside @example.com" in events
    assert [log["event"] for log in logs if log["log_level"] == "error"] == [
        "address outside @example.com left in pk=case|stale0, sk=old (note)",
        "address outside @example.com left in pk=case|stale1, sk=old (note)",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"destination_table": ""}, "destination_table is empty: name the lower environment's table"),
        (
            {"engine": "glue", "glue_job_name": "job"},
            "script_location: '' is not an s3://bucket[/prefix] URI (bucket names are lowercase)",
        ),
        (
            {
                "engine": "glue",
                "glue_job_name": "job",
                "script_location": "s3://bio-glue/p/",
                "update_job_definition": True,
            },
            "update_job_definition needs job_role_arn, the role the Glue job runs as",
        ),
        (
            {
                "engine": "glue",
                "glue_job_name": "job",
                "script_location": "s3://bio-glue/p/",
                "write_throughput_percent": 2,
            },
            "write_throughput_percent must be in (0, 1.5]",
        ),
    ],
)
def test_a_bad_argument_is_refused_with_a_message_saying_what_to_give(kwargs, message):
    with pytest.raises(ValueError) as refused:
        _operator(**kwargs).execute(make_context())
    assert str(refused.value) == message


def test_items_are_written_in_batches_of_25(few_tables):
    with recorded_calls() as calls:
        _copy(scan_segments=1)
    batches = [call.params["RequestItems"][DESTINATION] for call in calls if call.operation == "BatchWriteItem"]
    assert [len(batch) for batch in batches] == [25, 5]


def test_a_copy_into_another_account_writes_and_checks_through_the_destination_connection(few_tables, monkeypatch):
    """Read with aws_conn_id, write and check with dest_aws_conn_id (a role in the lower account)."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    lower = "222233334444"
    role = {"conn_type": "aws", "extra": {"role_arn": f"arn:aws:iam::{lower}:role/lower-env-writer"}}
    monkeypatch.setenv("AIRFLOW_CONN_LOWER_ENV", json.dumps(role))
    lower_dynamodb = AwsBaseHook(aws_conn_id="lower_env", client_type="dynamodb", region_name="us-west-2").conn
    _create(lower_dynamodb, DESTINATION)
    # An address in the source account's table of that name: the post-copy check must not read it.
    few_tables.Table(DESTINATION).put_item(Item={"pk": "case|stale", "sk": "old", "note": "p@court.gov"})
    result = _copy(dest_aws_conn_id="lower_env", expected_account=lower, region_name="us-west-2")
    assert (result["read"], result["written"], result["addresses_outside_domain"]) == (30, 30, 0)
    assert lower_dynamodb.scan(TableName=DESTINATION, Select="COUNT")["Count"] == 30
    assert few_tables.Table(DESTINATION).scan(Select="COUNT")["Count"] == 1  # the source account's, untouched


def test_a_progress_line_counts_what_is_copied_so_far_over_the_time_since_the_start(few_tables, monkeypatch):
    """A line once progress_every_seconds have passed (the clock reads exactly that), counting the
    pages done: here the first page of 10 items, the second held back until the line is logged."""
    import functools
    import threading
    import time

    from airflow_provider_bio.operators import dynamodb_copy as operator_module

    page_held, release = threading.Event(), threading.Event()

    class Clock(_Clock):
        def __init__(self) -> None:
            super().__init__()
            self.sleeps = 0
            self.asked: list[float] = []

        def sleep(self, seconds: float) -> None:
            self.asked.append(seconds)
            self.sleeps += 1
            if self.sleeps == 1:
                assert page_held.wait(10)  # the first page is counted once the second is asked for
            else:
                release.set()
                time.sleep(0.01)

    def hold_the_second_page(params, **_):
        if "ExclusiveStartKey" in json.loads(params["body"]) and not release.is_set():
            page_held.set()
            assert release.wait(10)

    scan = dynamodb_copy.DynamoCopyHook.scan_segment
    monkeypatch.setattr(dynamodb_copy.DynamoCopyHook, "scan_segment", functools.partialmethod(scan, page_size=10))
    clock = Clock()
    monkeypatch.setattr(operator_module, "time", clock)
    with client_events({"before-call.dynamodb.Scan": hold_the_second_page}), capture_logs() as logs:
        _copy(scan_segments=1, progress_every_seconds=2)
    progress = [log["event"] for log in logs if log["event"].startswith("progress")]
    assert len(clock.asked) >= 2 and set(clock.asked) == {0.2}  # the copy is looked at every 0.2 s
    assert len(progress) == 2
    assert progress[0].startswith("progress: read 10, written 10 (5 items/s), 10 items transformed, ")
    assert progress[1] == "progress: read 30, written 30 (15 items/s), 30 items transformed, 100 emails obfuscated"


def test_pages_whose_every_item_is_too_large_send_no_batch_and_are_all_counted(few_tables, monkeypatch):
    """Three pages of 10 items, none writable: no empty BatchWriteItem; all 30 counted, not the last page's 10."""
    import functools

    from airflow_provider_bio.operators import dynamodb_copy as operator_module

    scan = dynamodb_copy.DynamoCopyHook.scan_segment
    monkeypatch.setattr(dynamodb_copy.DynamoCopyHook, "scan_segment", functools.partialmethod(scan, page_size=10))
    monkeypatch.setattr(operator_module, "too_large", lambda item: True)
    with recorded_calls() as calls, pytest.raises(RuntimeError) as failed:
        _copy(scan_segments=1)
    assert str(failed.value).startswith("30 items could not be written, over DynamoDB's 400 KB")
    assert "BatchWriteItem" not in {call.operation for call in calls}


def test_the_log_names_the_item_dynamodb_refused_after_others_left_out(few_tables, monkeypatch):
    from airflow_provider_bio.operators import dynamodb_copy as operator_module

    monkeypatch.setattr(operator_module, "too_large", lambda item: item["sk"] in {"item|1", "item|4"})

    with (
        client_events({"before-call.dynamodb.BatchWriteItem": _refuse_item_2}),
        capture_logs() as logs,
        pytest.raises(RuntimeError, match="3 items could not be written"),
    ):
        _copy(scan_segments=1)
    assert sorted(log["event"] for log in logs if log["log_level"] == "error") == [
        "not written, DynamoDB refused it (Item size has exceeded the maximum allowed size): pk=case|2, sk=item|2",
        "not written, over 400 KB once obfuscated: pk=case|1, sk=item|1",
        "not written, over 400 KB once obfuscated: pk=case|4, sk=item|4",
    ]


def test_the_rate_of_a_copy_shorter_than_a_second(few_tables, monkeypatch):
    from airflow_provider_bio.operators import dynamodb_copy as operator_module

    class HalfSecondClock(_Clock):
        """The copy starts at 100 s and every later reading is 100.5 s."""

        def monotonic(self) -> float:
            return next(self.readings, 100.5)

    monkeypatch.setattr(operator_module, "time", HalfSecondClock())
    with capture_logs() as logs:
        _copy(scan_segments=1)
    assert [log["event"] for log in logs if log["event"].startswith("progress")] == [
        "progress: read 30, written 30 (60 items/s), 30 items transformed, 100 emails obfuscated"
    ]
