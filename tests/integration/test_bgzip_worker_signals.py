"""A worker stopped mid-upload leaves no incomplete multipart upload behind.

The worker runs as a subprocess against a moto server on 127.0.0.1. A hook in the child
(``WORKER`` below) holds the upload after its first part and says so in a file, so the
signal always lands mid-upload.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import pytest

from airflow_provider_bio.jobs import bgzip_worker, s3_objects
from scripts.local_aws import REGION, aws_environment, moto_server

BUCKET = "bio-index-signals"  # made unique per test by the fixture: moto's state outlives a server here
ROOT = Path(__file__).resolve().parents[2]

# Runs the worker with parts of 5 MiB, pausing after the first part is uploaded.
WORKER = """
import sys, time
from pathlib import Path
from airflow_provider_bio.jobs import bgzip_worker, s3_objects
s3_objects.MIN_PART_SIZE = 5 << 20
upload = s3_objects.ObjectWriter._upload_part
def held(self):
    upload(self)
    Path(sys.argv[1]).write_text("uploading")
    time.sleep(60)
s3_objects.ObjectWriter._upload_part = held
sys.exit(bgzip_worker.main(sys.argv[2:]))
"""


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "BUCKET", f"bio-index-signals-{uuid.uuid4().hex[:12]}")
    with moto_server() as url:
        s3 = boto3.client("s3", endpoint_url=url, region_name=REGION, aws_access_key_id="t", aws_secret_access_key="t")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket=BUCKET, Key="g/big.json", Body=os.urandom(11 << 20))
        yield url, s3


def start_worker(url: str, marker: Path) -> subprocess.Popen:
    environment = {**os.environ, **aws_environment(url), "AWS_DEFAULT_REGION": REGION, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", WORKER, str(marker), "compress", "--bucket", BUCKET, "--prefix", "g/"]
    worker = subprocess.Popen(command, env=environment, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert worker.poll() is None, worker.communicate()
        assert time.monotonic() < deadline, "the worker never started its upload"
        time.sleep(0.05)
    return worker


def uploads(s3) -> list[str]:
    return [upload["Key"] for upload in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]


def test_sigterm_mid_upload_aborts_it_and_exits_non_zero(server, tmp_path: Path) -> None:
    url, s3 = server
    worker = start_worker(url, tmp_path / "marker")
    assert uploads(s3) == ["g/big.json.gz"]
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=20)
    assert worker.returncode == 143, stderr
    assert f"SIGTERM: aborted 1 upload(s) in flight: s3://{BUCKET}/g/big.json.gz".encode() in stderr
    assert uploads(s3) == []
    assert "g/big.json.gz" not in {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}


def test_after_sigkill_mid_upload_the_next_run_aborts_the_stale_upload(server, tmp_path: Path, monkeypatch) -> None:
    url, s3 = server
    worker = start_worker(url, tmp_path / "marker")
    worker.kill()
    worker.communicate(timeout=20)
    assert uploads(s3) == ["g/big.json.gz"]  # nothing can run on SIGKILL
    monkeypatch.setattr(s3_objects, "MIN_PART_SIZE", 5 << 20)
    report = bgzip_worker.run("compress", s3, BUCKET, ["g/big.json"], log=lambda line: None)
    assert [result.status for result in report.files] == ["done"]
    assert uploads(s3) == []
