"""Every AWS call batch_index_taxons makes is allowed by the shipped least-privilege policy."""

from __future__ import annotations

import json

import boto3

from tests.integration.conftest import CONF
from tests.support.botocore_events import ApiCall, recorded_calls
from tests.support.iam import allowed as policy_allows
from tests.support.iam import load_policy

POLICY = load_policy("batch_index_taxons")
BUCKET = "bio-test-heatmap-batch-jobs"
KEY = "input_files/2026-11-21_retry.json"


def _s3_object(call: ApiCall) -> str:
    return f"arn:aws:s3:::{call.params['Bucket']}/{call.params['Key']}"


def _lambda_function(call: ApiCall) -> str:
    name = call.params["FunctionName"]
    return name if name.startswith("arn:") else f"arn:aws:lambda:us-west-2:123456789012:function:{name}"


#: API operation -> (IAM action it needs, the resource ARN it acts on).
IAM_ACTIONS = {
    ("lambda", "Invoke"): ("lambda:InvokeFunction", _lambda_function),
    ("s3", "GetObject"): ("s3:GetObject", _s3_object),
    ("s3", "HeadObject"): ("s3:GetObject", _s3_object),
}


def allowed(action: str, resource: str) -> bool:
    return policy_allows(POLICY, action, resource)


def test_policy_names_actions_not_wildcards():
    for statement in POLICY["Statement"]:
        assert all("*" not in action for action in statement["Action"]), statement


def test_every_call_of_a_run_from_an_input_file_is_allowed(dag):
    s3 = boto3.client("s3", region_name="us-west-2")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=json.dumps({"job_params": CONF["job_params"], "skip": [1]}))
    conf = {key: value for key, value in CONF.items() if key != "job_params"}
    with recorded_calls() as calls:
        run = dag.test(run_conf=conf | {"input_s3_uri": f"s3://{BUCKET}/{KEY}"})
    assert run.state == "success"
    made = {(call.service, call.operation) for call in calls}
    assert ("lambda", "Invoke") in made and ("s3", "GetObject") in made
    for call in calls:
        mapping = IAM_ACTIONS.get((call.service, call.operation))
        assert mapping, f"{call.service}.{call.operation} is not mapped: add its IAM action here and to the policy"
        action, resource = mapping[0], mapping[1](call)
        assert allowed(action, resource), f"{action} on {resource} is not allowed by the policy"


def test_the_policy_check_rejects_what_the_policy_does_not_allow():
    assert not allowed("lambda:InvokeFunction", "arn:aws:lambda:us-west-2:1:function:other-function")
    assert not allowed("s3:GetObject", "arn:aws:s3:::bio-test-heatmap-batch-jobs/outputs/x.json")
    assert not allowed("s3:PutObject", f"arn:aws:s3:::{BUCKET}/{KEY}")
