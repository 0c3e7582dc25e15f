"""AWS Batch on moto for the BGZF worker's tests: a job queue, and a stand-in for the container."""

from __future__ import annotations

import json
from typing import Any

import boto3

from airflow_provider_bio.jobs import bgzip_worker


def create_job_queue(queue: str, definition: str, region: str) -> None:
    """A job queue on an unmanaged compute environment, and the worker's job definition (moto, no Docker)."""
    role = boto3.client("iam", region_name=region).create_role(RoleName="batch", AssumeRolePolicyDocument="{}")
    batch = boto3.client("batch", region_name=region)
    environment = batch.create_compute_environment(
        computeEnvironmentName="bgzip", type="UNMANAGED", state="ENABLED", serviceRole=role["Role"]["Arn"]
    )
    batch.create_job_queue(
        jobQueueName=queue,
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment["computeEnvironmentArn"]}],
    )
    batch.register_job_definition(
        jobDefinitionName=definition,
        type="container",
        containerProperties={"image": "bgzip-worker:latest", "vcpus": 2, "memory": 4096},
    )


class WorkerContainer:
    """A ``before-call.batch.SubmitJob`` handler running each submitted command as the container would.

    moto's Batch without Docker marks a job finished without running it; this runs the worker
    first, so manifests, reports and files are real.

    :param s3: a client made outside any call recorder, so the container's calls are not counted
        as the submitter's; None runs the worker's ``main`` with a client of its own.
    """

    def __init__(self, s3: Any = None) -> None:
        self.s3 = s3
        self.commands: list[list[str]] = []

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        command = json.loads(params["body"])["containerOverrides"]["command"]
        self.commands.append(command)
        if self.s3 is None:
            bgzip_worker.main(command)
            return
        arguments = bgzip_worker.parser().parse_args(command)
        keys = bgzip_worker.read_manifest(self.s3, arguments.manifest)
        report = bgzip_worker.run(arguments.action, self.s3, arguments.bucket, keys, log=lambda line: None)
        bgzip_worker.write_report(self.s3, arguments.report, report)
