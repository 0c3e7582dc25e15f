"""glue_to_demo run end to end on in-process moto: no production address reaches the lower table.

The source holds every kind of leak (addresses in sets, lists and maps, in key and GSI key
attributes with the prefix in any case, under other names, in free text, as map keys, as set
members, in binary, in Unicode); the expected stand-ins are computed here with ``hmac``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from datetime import timedelta

import boto3
import pytest
from moto import mock_aws

from scripts.local_aws import LOWER_ENV_DEMO, provision_lower_env_world
from tests.support.lower_env import load_glue_to_dags

SECRET = os.environ["AIRFLOW_VAR_LOWER_ENV_OBFUSCATION_SECRET"]  # set by tests/conftest.py
LEAKY = {
    "pk": {"S": "USER-EMAIL|Jane@Court.gov"},
    "sk": {"S": "user-email|jane@court.gov"},
    "gsi1pk": {"S": "User-Email|jane@court.gov"},
    "EMAIL": {"SS": ["jane@court.gov", "joe@court.gov"]},
    "alternateEmail": {"L": [{"S": "alt@home.org"}]},
    "contactInfo": {"M": {"emailAddress": {"S": "joe@home.org"}, "jörg@bücher.de": {"S": "friend"}}},
    "notes": {"S": "Served Jane <jane@court.gov> today"},
    "parties": {"SS": ["x", "p@court.gov"]},
    "blob": {"B": b"cc: jane@court.gov"},
}


def stand_in(address):
    return hmac.new(SECRET.encode(), address.lower().encode(), hashlib.sha256).hexdigest() + "@example.com"


def _run(tmp_path, monkeypatch, extra_items):
    path = tmp_path / "envs.json"
    path.write_text(json.dumps({"demo": LOWER_ENV_DEMO}))
    provision_lower_env_world(None)
    dynamodb = boto3.client("dynamodb", region_name="us-west-2")
    for item in extra_items:
        dynamodb.put_item(TableName="efcms-source-alpha", Item=item)
    dag = load_glue_to_dags(path, monkeypatch)["glue_to_demo"]
    for task in dag.tasks:
        task.retries = 0
        task.retry_delay = timedelta(0)
    run = dag.test()
    return run, {ti.task_id: ti for ti in run.get_task_instances()}, dynamodb


@pytest.mark.usefixtures("airflow_db")
def test_every_kind_of_leak_is_rewritten_and_the_count_of_addresses_left_is_in_the_result(tmp_path, monkeypatch):
    with mock_aws(config={"lambda": {"use_docker": False}}):
        run, tis, dynamodb = _run(tmp_path, monkeypatch, [LEAKY])
        assert run.state == "success", {task: ti.state for task, ti in tis.items()}
        copied = dynamodb.scan(TableName="efcms-demo-alpha")["Items"]
        assert len(copied) == 41
        dump = json.dumps(copied, default=lambda b: b.decode(), ensure_ascii=False)
        assert re.findall(r"@(?!example\.com)", dump) == []
        jane = stand_in("jane@court.gov")
        key = {"pk": {"S": f"USER-EMAIL|{jane}"}, "sk": {"S": f"user-email|{jane}"}}
        item = dynamodb.get_item(TableName="efcms-demo-alpha", Key=key)["Item"]
        assert item["gsi1pk"] == {"S": f"User-Email|{jane}"}
        assert sorted(item["EMAIL"]["SS"]) == sorted([jane, stand_in("joe@court.gov")])
        assert item["alternateEmail"] == {"L": [{"S": stand_in("alt@home.org")}]}
        assert item["contactInfo"] == {
            "M": {"emailAddress": {"S": stand_in("joe@home.org")}, stand_in("jörg@bücher.de"): {"S": "friend"}}
        }
        assert item["notes"] == {"S": f"Served Jane <{jane}> today"}
        assert sorted(item["parties"]["SS"]) == sorted(["x", stand_in("p@court.gov")])
        assert item["blob"] == {"B": f"cc: {jane}".encode()}
        result = tis["copy_table"].xcom_pull(task_ids="copy_table")
        assert result["addresses_outside_domain"] == 0 and result["written"] == result["read"] == 41


@pytest.mark.usefixtures("airflow_db")
def test_an_item_grown_past_400_kb_fails_the_run_naming_it_and_every_other_item_is_written(
    tmp_path, monkeypatch, capfd
):
    big = {"pk": {"S": "case|big"}, "sk": {"S": "notes|1"}, "notes": {"S": " ".join(["a@b.c"] * 6000)}}
    with mock_aws(config={"lambda": {"use_docker": False}}):
        run, tis, dynamodb = _run(tmp_path, monkeypatch, [big])
        assert run.state == "failed" and tis["copy_table"].state == "failed"
        assert dynamodb.scan(TableName="efcms-demo-alpha", Select="COUNT")["Count"] == 40
        out, err = capfd.readouterr()
        assert "1 items could not be written" in out + err and "pk=case|big, sk=notes|1" in out + err
