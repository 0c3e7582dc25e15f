"""The BGZF worker: the AWS Batch container's entry point, also runnable on a laptop.

::

    python -m airflow_provider_bio.jobs.bgzip_worker ACTION --bucket BUCKET
        (--prefix PREFIX | --manifest s3://bucket/key.json | --manifest ./keys.json)
        [--workers 8] [--threads N] [--level 6] [--report s3://bucket/report.json]
        [--keep-compressed] [--dry-run]

ACTION is ``compress``, ``verify``, ``delete-originals`` or ``decompress`` (see
:mod:`airflow_provider_bio.jobs.bgzip_files`). With ``--prefix`` it covers every ``.json``
under the prefix (every ``.json.gz`` for ``decompress``); a manifest is a JSON list of the
originals' keys. ``--workers`` files are handled at once; their BGZF blocks are compressed on
``--threads`` threads (default: one per CPU the process may use).

Credentials come from boto3's default chain: in Batch, the job's task role.

Writes a report (every file's outcome, then totals) to ``--report`` when given and prints
one line per file; exits 1 when any file failed, 2 on bad arguments, 0 otherwise.

On SIGTERM (what AWS Batch sends when a job is terminated, e.g. by the operator's ``on_kill``)
the worker aborts its multipart uploads in flight, so no incomplete upload is left behind,
and exits 143 without a report. A worker killed outright (SIGKILL) cannot: the next run
aborts the incomplete uploads of each key it writes before writing it, and the data bucket's
lifecycle rule (``docs/iam/bioindex_data_bucket_lifecycle.json``) removes any left over.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_bio.core.bgzf import DEFAULT_LEVEL
from airflow_provider_bio.core.bioindex_plan import ACTIONS, check_keys, check_worker_options
from airflow_provider_bio.core.bounded import bounded_map
from airflow_provider_bio.jobs.bgzip_files import BgzipFiles, FileResult, originals_under
from airflow_provider_bio.jobs.s3_objects import abort_in_flight

#: Exit code after SIGTERM: 128 + the signal number, as a shell reports it.
TERMINATED_EXIT = 128 + signal.SIGTERM
#: What the report's ``summary`` counts.
STATUSES = ("done", "skipped", "dry-run", "failed")


@dataclass
class Report:
    """Every file's outcome for one worker run.

    :param action: the worker action.
    :param bucket: the bucket.
    :param files: one result per file, in completion order.
    """

    action: str
    bucket: str
    files: list[FileResult] = field(default_factory=list)

    @property
    def failed(self) -> list[FileResult]:
        return [result for result in self.files if result.status == "failed"]

    def summary(self) -> dict[str, int]:
        """Files per status, and bytes read and written."""
        counts = Counter(result.status for result in self.files)
        return {
            "files": len(self.files),
            **{status: counts[status] for status in STATUSES},
            "bytes_in": sum(result.bytes_in for result in self.files),
            "bytes_out": sum(result.bytes_out for result in self.files),
        }

    def to_dict(self) -> dict[str, Any]:
        """The report as written: action, bucket, summary, files."""
        return {
            "action": self.action,
            "bucket": self.bucket,
            # Set by AWS Batch in the container: lets the operator tell this job's report from an older one.
            "batch_job_id": os.environ.get("AWS_BATCH_JOB_ID"),
            "summary": self.summary(),
            "files": [result.to_dict() for result in self.files],
        }


def parser() -> argparse.ArgumentParser:
    """The command line."""
    parsed = argparse.ArgumentParser(prog="bgzip_worker", description=__doc__.split("\n")[0])
    parsed.add_argument("action", choices=ACTIONS)
    parsed.add_argument("--bucket", required=True, help="bucket holding the files")
    where = parsed.add_mutually_exclusive_group(required=True)
    where.add_argument("--prefix", help="every .json under this key prefix (.json.gz for decompress)")
    where.add_argument("--manifest", help="JSON list of the originals' keys: s3://bucket/key or a local path")
    parsed.add_argument("--workers", type=int, default=8, help="files handled at once (default 8)")
    parsed.add_argument(
        "--threads", type=int, default=len(os.sched_getaffinity(0)), help="compression threads (default: usable CPUs)"
    )
    parsed.add_argument("--level", type=int, default=DEFAULT_LEVEL, help="htslib level: -1 or 0-9 (default 6)")
    parsed.add_argument("--report", help="where to write the JSON report: s3://bucket/key or a local path")
    parsed.add_argument("--keep-compressed", action="store_true", help="decompress: keep .gz and .gzi")
    parsed.add_argument("--dry-run", action="store_true", help="delete nothing; report what would be deleted")
    return parsed


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key)."""
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket or not key:
        raise ValueError(f"{uri!r} is not an s3://bucket/key URI")
    return bucket, key


def read_manifest(s3: Any, source: str) -> list[str]:
    """Load a manifest from S3 or a local file.

    :param s3: a boto3 S3 client.
    :param source: ``s3://bucket/key`` or a path.
    """
    if source.startswith("s3://"):
        bucket, key = split_s3_uri(source)
        text = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    else:
        with open(source, "rb") as handle:
            text = handle.read()
    return check_keys(json.loads(text), f"manifest {source}")


def write_report(s3: Any, target: str, report: Report) -> None:
    """Write the report to S3 or a local file."""
    body = json.dumps(report.to_dict(), indent=1).encode()
    if target.startswith("s3://"):
        bucket, key = split_s3_uri(target)
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    else:
        with open(target, "wb") as handle:
            handle.write(body)


def run(
    action: str,
    s3: Any,
    bucket: str,
    keys: Iterable[str],
    *,
    workers: int = 8,
    threads: int = 2,
    level: int = DEFAULT_LEVEL,
    keep_compressed: bool = False,
    dry_run: bool = False,
    log: Any = print,
) -> Report:
    """Apply an action to every key, ``workers`` files at a time; one file's failure stops no other.

    :param action: one of :data:`ACTIONS`.
    :param s3: a boto3 S3 client.
    :param bucket: the bucket.
    :param keys: the originals' keys, drawn lazily.
    :param workers: files at once.
    :param threads: compression threads shared by those files.
    :param level: htslib level.
    :param keep_compressed: ``decompress`` keeps ``.gz``/``.gzi``.
    :param dry_run: deleting actions delete nothing.
    :param log: receives one line per file.
    """
    report = Report(action, bucket)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bgzf") as pool:
        files = BgzipFiles(s3, bucket, pool, level=level, keep_compressed=keep_compressed, dry_run=dry_run)
        for _, finished in bounded_map(files.action(action), keys, workers):
            result = finished.result()
            report.files.append(result)
            log(f"{result.status:8} {result.key}  {result.detail}")
    return report


def s3_client(workers: int, threads: int) -> Any:
    """A boto3 S3 client with standard retries and a connection per worker."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 10}, max_pool_connections=workers + threads + 4)
    return boto3.client("s3", config=config)


def on_sigterm(s3: Any) -> Any:
    """A SIGTERM handler: abort this process's multipart uploads in flight, then exit at once.

    The exit skips waiting for the file threads (Batch kills the container 30 s after SIGTERM);
    they start no new upload once the abort has begun.
    """

    def handler(number: int, frame: object) -> None:
        aborted = abort_in_flight(s3)
        print(
            f"SIGTERM: aborted {len(aborted)} upload(s) in flight: "
            + ", ".join(f"s3://{bucket}/{key}" for bucket, key in aborted),
            file=sys.stderr,
            flush=True,
        )
        sys.stdout.flush()
        os._exit(TERMINATED_EXIT)

    return handler


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    command = parser()
    arguments = command.parse_args(argv)
    try:
        check_worker_options(
            arguments.action,
            level=arguments.level,
            workers=arguments.workers,
            threads=arguments.threads,
            keep_compressed=arguments.keep_compressed,
            dry_run=arguments.dry_run,
            spelled=lambda name: "--" + name.replace("_", "-"),
        )
    except ValueError as error:
        command.error(str(error))
    s3 = s3_client(arguments.workers, arguments.threads)
    previous = signal.signal(signal.SIGTERM, on_sigterm(s3))
    try:
        return _main(command, arguments, s3)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(command: argparse.ArgumentParser, arguments: argparse.Namespace, s3: Any) -> int:
    try:
        keys: Iterable[str] = (
            read_manifest(s3, arguments.manifest)
            if arguments.manifest
            else originals_under(s3, arguments.bucket, arguments.prefix, arguments.action)
        )
    except ValueError as error:
        command.error(str(error))
    report = run(
        arguments.action,
        s3,
        arguments.bucket,
        keys,
        workers=arguments.workers,
        threads=arguments.threads,
        level=arguments.level,
        keep_compressed=arguments.keep_compressed,
        dry_run=arguments.dry_run,
    )
    if arguments.report:
        write_report(s3, arguments.report, report)
    print(json.dumps({"action": arguments.action, **report.summary()}))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
