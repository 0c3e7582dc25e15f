"""A moto server on 127.0.0.1 standing in for AWS, and the small demo world the DAGs run against."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer

REGION = "us-west-2"
DEMO_FUNCTION = "taxon-indexing-lambda-demo-index_taxons"
DEMO_BUCKET = "bio-demo-heatmap-batch-jobs"
DEMO_INPUT_KEY = "input_files/2026-11-21_demo.json"
#: The demo input, in the Glue job's format: 4 pipeline runs x 3 backgrounds + 2 x 2 overlapping.
DEMO_INPUT = {
    "job_params": [
        {"pipeline_run_ids": [101, 102, 103, 104], "background_ids": [7, 8, 9]},
        {"pipeline_run_ids": [104, 105], "background_ids": [9, 10]},
    ],
    "concurrency": 50,
    "skip": [],
}
#: The demo's obfuscation secret (the HMAC key of the email pseudonyms), a stand-in for the one
#: production keeps in an Airflow Variable; ``make demo`` and ``make airflow`` set it unless given.
DEMO_OBFUSCATION_SECRET = "demo-only-obfuscation-secret-never-use-it-elsewhere"
OBFUSCATION_SECRET_VARIABLE = "lower_env_obfuscation_secret"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


@contextmanager
def moto_server() -> Iterator[str]:
    """Run a moto server on 127.0.0.1 at a free port; yield its URL and stop it on exit.

    Lambda runs in moto's no-Docker mode: an invocation answers 200 with its own payload.
    """
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        requests.post(f"{url}/moto-api/config", json={"lambda": {"use_docker": False}}, timeout=10)
        yield url
    finally:
        server.stop()


def die_with_parent() -> None:
    """In a child process (``preexec_fn``): ask Linux to end it when the parent dies, even by SIGKILL."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@contextmanager
def moto_server_process() -> Iterator[str]:
    """Like :func:`moto_server`, but in a process of its own, so its CPU is not shared with the caller's.

    Benchmarks use it: an in-process server competes with the code it measures for one GIL.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.post(f"{url}/moto-api/config", json={"lambda": {"use_docker": False}}, timeout=2)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def aws_environment(endpoint_url: str) -> dict[str, str]:
    """Environment variables that point boto3's default chain (and so the DAGs) at ``endpoint_url``."""
    return {**FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": endpoint_url}


def _client(service: str, endpoint_url: str | None):
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client(service, endpoint_url=endpoint_url, region_name=REGION, **keys)


@dataclass(frozen=True)
class DemoWorld:
    """What :func:`provision_demo_world` created."""

    function_name: str
    input_s3_uri: str


def create_echo_function(endpoint_url: str | None, name: str) -> None:
    """Create a Lambda function (echoing its event under moto's no-Docker mode); None means in-process moto."""
    role = _client("iam", endpoint_url).create_role(
        RoleName=f"{name}-role"[:64],
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return {'success': True, 'params': event}\n")
    _client("lambda", endpoint_url).create_function(
        FunctionName=name, Runtime="python3.11", Role=role, Handler="handler.handler", Code={"ZipFile": code.getvalue()}
    )


def provision_demo_world(endpoint_url: str) -> DemoWorld:
    """Create the taxon-indexing Lambda stand-in and an S3 bucket holding an input file."""
    create_echo_function(endpoint_url, DEMO_FUNCTION)
    s3 = _client("s3", endpoint_url)
    s3.create_bucket(Bucket=DEMO_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=DEMO_BUCKET, Key=DEMO_INPUT_KEY, Body=json.dumps(DEMO_INPUT).encode())
    return DemoWorld(function_name=DEMO_FUNCTION, input_s3_uri=f"s3://{DEMO_BUCKET}/{DEMO_INPUT_KEY}")


def airflow_environment(airflow_home: str, repo: str, api_port: int = 8080) -> dict[str, str]:
    """Environment for an embedded Airflow (SQLite) that loads this repo's DAGs.

    :param api_port: where ``airflow standalone`` serves the UI and the execution API.
    """
    return {
        **os.environ,
        # airflow standalone starts its components as `airflow ...` from PATH: this environment's.
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]),
        "AIRFLOW_HOME": airflow_home,
        "AIRFLOW__CORE__DAGS_FOLDER": os.path.join(repo, "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        **obfuscation_secret_environment(),
    }


def obfuscation_secret_environment() -> dict[str, str]:
    """The Airflow Variable of the obfuscation secret as an environment variable (the caller's own
    ``AIRFLOW_VAR_LOWER_ENV_OBFUSCATION_SECRET`` if set, else the demo's)."""
    name = f"AIRFLOW_VAR_{OBFUSCATION_SECRET_VARIABLE.upper()}"
    return {name: os.environ.get(name) or DEMO_OBFUSCATION_SECRET}


#: A glue_to_<env> configuration entry for the local world below (local copy engine, one region).
LOWER_ENV_DEMO = {
    "schedule": None,
    "source": {"aws_conn_id": None, "table": "efcms-source-alpha", "documents": "s3://efcms-source-documents"},
    "destination": {
        "aws_conn_id": None,
        "table": "efcms-demo-alpha",
        "delete_tables": ["efcms-demo-alpha"],
        "search_domains": ["efcms-search-demo"],
        "documents": "s3://efcms-demo-documents",
        "deploy_table": "efcms-deploy-demo",
        "table_versions": {"source": "alpha", "destination": "alpha"},
    },
    "streams": {"functions": ["streams_demo_blue"], "regions": [REGION], "steady_seconds": 0},
    "copy": {
        "engine": "local",
        "obfuscation_domain": "example.com",
        "obfuscation_secret_variable": OBFUSCATION_SECRET_VARIABLE,
        "scan_segments": 2,
    },
    "protected": {"tables": ["*prod*"], "accounts": []},
}


#: The demo's search domain, as deployed: what glue_to_demo deletes and recreates.
LOWER_ENV_DEMO_DOMAIN = {
    "EngineVersion": "OpenSearch_2.11",
    "ClusterConfig": {"InstanceType": "r6g.large.search", "InstanceCount": 2, "ZoneAwarenessEnabled": False},
    "EBSOptions": {"EBSEnabled": True, "VolumeType": "gp3", "VolumeSize": 20},
}


def _deliver_stream_records_without_docker() -> None:
    """Make moto's no-Docker Lambda take DynamoDB stream records without starting a container.

    Its no-Docker backend inherits the delivery of stream records from the Docker one, which runs
    the function in a container (pulling an image from the internet when Docker is there). Records
    are taken as delivered instead, as its no-Docker invoke answers. Applied once per process.
    """
    from moto.awslambda_simple.models import LambdaSimpleBackend

    def send_dynamodb_items(self: Any, function_arn: str, items: list[Any], source: str) -> str:
        return "Simple Lambda happy path OK"

    LambdaSimpleBackend.send_dynamodb_items = send_dynamodb_items  # type: ignore[method-assign]


def provision_lower_env_world(endpoint_url: str | None, items: int = 40) -> None:
    """A source table (streamed, with nested emails), a stale lower table (streamed), a deploy table,
    a search domain, two documents buckets and a stream processor reading the lower table's
    stream: what glue_to_demo works on."""
    _deliver_stream_records_without_docker()
    dynamodb = _client("dynamodb", endpoint_url)
    keys = {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    stream = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    dynamodb.create_table(TableName="efcms-source-alpha", StreamSpecification=stream, **keys)
    # Last month's copy, streamed like the source: deleted, then recreated with a new stream.
    lower = dynamodb.create_table(TableName="efcms-demo-alpha", StreamSpecification=stream, **keys)
    dynamodb.create_table(TableName="efcms-deploy-demo", **keys)
    for n in range(items):
        item = {
            "pk": {"S": f"user-email|u{n}@court.gov"},
            "sk": {"S": "user"},
            "email": {"S": f"u{n}@court.gov"},
            "contact": {"M": {"email": {"S": f"u{n}@home.org"}, "city": {"S": "Springfield"}}},
        }
        dynamodb.put_item(TableName="efcms-source-alpha", Item=item)
    _client("opensearch", endpoint_url).create_domain(DomainName="efcms-search-demo", **LOWER_ENV_DEMO_DOMAIN)
    s3 = _client("s3", endpoint_url)
    for bucket in ("efcms-source-documents", "efcms-demo-documents"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="efcms-source-documents", Key="case/1.pdf", Body=b"%PDF")
    s3.put_object(Bucket="efcms-demo-documents", Key="stale.pdf", Body=b"old")
    create_echo_function(endpoint_url, "streams_demo_blue")
    _client("lambda", endpoint_url).create_event_source_mapping(
        EventSourceArn=lower["TableDescription"]["LatestStreamArn"],
        FunctionName="streams_demo_blue",
        StartingPosition="LATEST",
        BatchSize=50,
    )


#: What bioindex_compress works on in the demo: two indexes of JSON-lines files in one bucket.
BIOINDEX_DEMO_BUCKET = "dig-bio-index-demo"
BIOINDEX_DEMO_INDEXES = [
    {"name": "gene-associations", "prefix": "gene-associations/"},
    {"name": "variants", "prefix": "variants/"},
]


def bioindex_demo_lines(index: str, part: int, records: int) -> bytes:
    """A JSON-lines file like the bio-index's (fixed content per index and part)."""
    return "".join(
        json.dumps(
            {"varId": f"{part + 1}:{1000 + 37 * n}:A:G", "gene": f"{index[:4].upper()}{n % 97}", "pValue": n / 7e5}
        )
        + "\n"
        for n in range(records)
    ).encode()


def provision_bioindex_world(endpoint_url: str | None, home: str, parts: int = 3) -> dict[str, Any]:
    """The demo's bio-index: a bucket of ``.json`` files, an ``__Indexes`` table in SQLite, the DAG config.

    :return: ``{"config": path, "database": path, "files": {key: bytes}}``; the config uses the
        local engine and the SQLite database as the bio-index connection ``bioindex_demo``.
    """
    s3 = _client("s3", endpoint_url)
    s3.create_bucket(Bucket=BIOINDEX_DEMO_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    files = {}
    for index in BIOINDEX_DEMO_INDEXES:
        for part in range(parts):
            key = f"{index['prefix']}part-{part:05d}.json"
            files[key] = bioindex_demo_lines(index["name"], part, records=20_000 * (part + 1))
            s3.put_object(Bucket=BIOINDEX_DEMO_BUCKET, Key=key, Body=files[key], ContentType="application/json")
    database = os.path.join(home, "bioindex.sqlite")
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE __Indexes (name TEXT, prefix TEXT, compressed BOOLEAN)")
        db.executemany(
            "INSERT INTO __Indexes VALUES (?, ?, 0)", [(i["name"], i["prefix"]) for i in BIOINDEX_DEMO_INDEXES]
        )
    config = os.path.join(home, "bioindex.json")
    with open(config, "w") as handle:
        json.dump(
            {
                "bucket": BIOINDEX_DEMO_BUCKET,
                "indexes": BIOINDEX_DEMO_INDEXES,
                "aws_conn_id": None,
                "bioindex_conn_id": "bioindex_demo",
                "engine": "local",
                "workers": 4,
            },
            handle,
        )
    return {"config": config, "database": database, "files": files}
