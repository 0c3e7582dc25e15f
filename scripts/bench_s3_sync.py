"""``python -m scripts.bench_s3_sync``: S3SyncOperator against ``aws s3 sync`` and the raw CopyObject floor.

A source bucket of OBJECTS objects (1-64 KiB, fixed seed) on a local moto server, synced to fresh
destination buckets in two setups: "bare moto" (clients talk to moto directly) and "30 ms proxy"
(through :func:`scripts.latency_proxy.latency_proxy`, a round trip like a real region's). In each:

a. the raw floor: CopyObject for every object at CONCURRENCY in flight, nothing else (no
   listing, no planning): no sync can beat it;
b. the AWS CLI v1, ``aws s3 sync``, then its no-op rerun on the unchanged tree;
c. S3SyncOperator at CONCURRENCY in flight, then its no-op rerun.

Then the planner alone: peak memory of ``plan_sync`` over synthetic listings of PLANNER_KEYS keys
a side, which should stay flat whatever the number of keys.

Targets: the operator within 1.1x of the raw floor on bare moto; at most 0.3x the CLI's wall time
through the proxy; a no-op rerun that copies nothing, no slower than the CLI's rerun; the planner
flat, under 100 MiB. ``BENCH_S3_OBJECTS`` overrides OBJECTS for a quick try.

moto runs in this process (a thread), so it shares this interpreter's GIL with the clients
measured here, but not with the CLI, which runs in its own process.
"""

from __future__ import annotations

import logging
import os
import random
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from airflow_provider_bio.core.s3_sync import S3Object, plan_sync
from scripts.latency_proxy import latency_proxy
from scripts.local_aws import FAKE_CREDENTIALS, REGION, moto_server_process

REPO = Path(__file__).resolve().parent.parent
AWS_CLI = str(REPO / ".tools/awscli/bin/aws")
OBJECTS = int(os.environ.get("BENCH_S3_OBJECTS", "2000"))
CONCURRENCY = 64
LATENCY = 0.030
PROXY_LABEL = f"{LATENCY * 1000:.0f} ms proxy"
SEED = 20261121
PREFIXES = ("assemblies", "indexes/taxa", "reads/raw", "reports")
MIN_SIZE, MAX_SIZE = 1024, 64 * 1024
SOURCE_BUCKET = "bench-sync-source"
PLANNER_KEYS = (200_000, 20_000)
CLI_TIMEOUT = 600
#: Targets.
FLOOR_TARGET = 1.1
PROXY_CLI_TARGET = 0.3
MEMORY_TARGET_MIB = 100


@dataclass
class Setup:
    """One way of reaching moto.

    :param label: printed name, e.g. ``bare moto``.
    :param slug: short name used in the destination buckets' names.
    :param endpoint: the URL clients use.
    """

    label: str
    slug: str
    endpoint: str

    def bucket(self, kind: str) -> str:
        """The destination bucket for one kind of measurement (``raw``, ``cli`` or ``op``)."""
        return f"bench-sync-{kind}-{self.slug}"


@dataclass
class Timings:
    """Wall seconds measured in one setup."""

    floor: float
    cli: float
    cli_rerun: float
    operator: float
    operator_rerun: float


class _Ti:
    """The task instance the operator pushes XComs to: it drops them."""

    def xcom_push(self, key: str, value: Any) -> None:
        pass


class PoolFullCounter(logging.Filter):
    """Count urllib3's "Connection pool is full" warnings, keeping them out of the output.

    urllib3 logs one each time a client with fewer pooled connections than threads drops a connection.
    """

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Connection pool is full"):
            self.count += 1
            return False
        return True


POOL_FULL = PoolFullCounter()


# -- the source tree ------------------------------------------------------------------------------


def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client on ``endpoint`` with the fake credentials and CONCURRENCY pooled connections."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(max_pool_connections=CONCURRENCY),
    )


def create_bucket(client: Any, name: str) -> None:
    """Create bucket ``name`` in REGION."""
    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})


def source_tree() -> dict[str, int]:
    """The source's keys and sizes: OBJECTS keys spread over PREFIXES, random sizes from a fixed seed."""
    rng = random.Random(SEED)
    return {
        f"{PREFIXES[index % len(PREFIXES)]}/part-{index:05d}.bin": rng.randint(MIN_SIZE, MAX_SIZE)
        for index in range(OBJECTS)
    }


def upload_source(client: Any, tree: dict[str, int]) -> float:
    """Create SOURCE_BUCKET and upload ``tree`` (seeded random bytes) at CONCURRENCY in flight; return seconds."""
    create_bucket(client, SOURCE_BUCKET)
    rng = random.Random(SEED)
    bodies = {key: rng.randbytes(size) for key, size in tree.items()}
    started = time.monotonic()
    _in_parallel(lambda key: client.put_object(Bucket=SOURCE_BUCKET, Key=key, Body=bodies[key]), list(tree))
    return time.monotonic() - started


def bucket_contents(client: Any, bucket: str) -> dict[str, int]:
    """Every key of ``bucket`` with its size."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {item["Key"]: item["Size"] for page in pages for item in page.get("Contents", [])}


def _in_parallel(call: Callable[[str], Any], keys: list[str]) -> None:
    """Call ``call(key)`` for every key, CONCURRENCY at once; re-raise the first failure."""
    with ThreadPoolExecutor(CONCURRENCY, thread_name_prefix="bench-s3") as pool:
        for _ in pool.map(call, keys):
            pass


# -- the three contenders ----------------------------------------------------------------------------


def raw_floor(setup: Setup, keys: list[str]) -> float:
    """Seconds for CopyObject alone on every key, CONCURRENCY in flight, into a fresh bucket."""
    client = s3_client(setup.endpoint)
    destination = setup.bucket("raw")
    create_bucket(client, destination)
    source = {"Bucket": SOURCE_BUCKET}
    started = time.monotonic()
    _in_parallel(lambda key: client.copy_object(Bucket=destination, Key=key, CopySource=source | {"Key": key}), keys)
    return time.monotonic() - started


def cli_sync(setup: Setup) -> tuple[float, int]:
    """Run ``aws s3 sync`` from the source to the setup's CLI bucket; return seconds and objects copied.

    The CLI reads no configuration file, only the fake credentials and ``AWS_ENDPOINT_URL``.
    """
    env = os.environ | FAKE_CREDENTIALS | {"AWS_ENDPOINT_URL": setup.endpoint}
    env |= {"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    command = [AWS_CLI, "s3", "sync", f"s3://{SOURCE_BUCKET}", f"s3://{setup.bucket('cli')}"]
    started = time.monotonic()
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT)
    elapsed = time.monotonic() - started
    if run.returncode != 0:
        raise RuntimeError(f"aws s3 sync failed ({run.returncode}): {run.stderr.strip()[-2000:]}")
    copied = sum(line.startswith("copy: ") for line in run.stdout.replace("\r", "\n").splitlines())
    return elapsed, copied


def operator_sync(setup: Setup) -> tuple[float, dict[str, Any]]:
    """Run S3SyncOperator from the source to the setup's operator bucket; return seconds and its result.

    The hook module is imported before timing (a task pays that import once, at start-up, as the
    raw floor's boto3 import is not timed either).
    """
    import airflow_provider_bio.hooks.s3_sync  # noqa: F401
    from airflow_provider_bio.operators.s3_sync import S3SyncOperator

    os.environ.update(FAKE_CREDENTIALS | {"AWS_ENDPOINT_URL": setup.endpoint})
    operator = S3SyncOperator(
        task_id="bench",
        source=f"s3://{SOURCE_BUCKET}",
        destination=f"s3://{setup.bucket('op')}",
        aws_conn_id=None,
        max_in_flight=CONCURRENCY,
    )
    started = time.monotonic()
    result = operator.execute({"ti": _Ti()})
    return time.monotonic() - started, result


def measure(setup: Setup, keys: list[str]) -> Timings:
    """The floor, the operator and the CLI (each run twice: copy, then no-op rerun) in one setup."""
    client = s3_client(setup.endpoint)
    for kind in ("cli", "op"):
        create_bucket(client, setup.bucket(kind))
    floor = raw_floor(setup, keys)
    print(f"{setup.label}: raw floor (CopyObject x {len(keys)}, {CONCURRENCY} in flight) {floor:.2f} s", flush=True)
    # The operator runs right after the floor, the CLI after it: the server drifts as it fills.
    runs = {}
    for attempt in ("first", "rerun"):
        POOL_FULL.count = 0
        seconds, result = operator_sync(setup)
        copied = result["copied"]["objects"]
        assert copied == (len(keys) if attempt == "first" else 0), result
        dropped = f", {POOL_FULL.count} 'connection pool is full' warnings" if POOL_FULL.count else ""
        print(f"{setup.label}: operator {attempt}: {_vs_floor(seconds, floor)}, copied {copied}{dropped}", flush=True)
        runs[f"operator {attempt}"] = seconds
    for attempt in ("first", "rerun"):
        seconds, copied = cli_sync(setup)
        expected = len(keys) if attempt == "first" else 0
        check = "" if copied == expected else f" (WARNING: expected {expected})"
        print(f"{setup.label}: aws s3 sync {attempt}: {_vs_floor(seconds, floor)}, copied {copied}{check}", flush=True)
        runs[f"cli {attempt}"] = seconds
    return Timings(floor, runs["cli first"], runs["cli rerun"], runs["operator first"], runs["operator rerun"])


def _vs_floor(seconds: float, floor: float) -> str:
    """``seconds`` and their ratio to the floor, for a progress line."""
    return f"{seconds:.2f} s = {seconds / floor:.2f}x floor"


# -- the planner alone ----------------------------------------------------------------------------------


def synthetic_listing(start: int, stop: int, space: int, size_bump_every: int, when: datetime) -> Iterator[S3Object]:
    """Objects number ``start`` to ``stop`` of a ``space``-object key layout, in key order.

    :param start: the first object's number (included).
    :param stop: the last object's number (excluded).
    :param space: how many numbers the key layout spans (the same on both sides, so keys match).
    :param size_bump_every: every this many-th object is a byte larger than on the other side (0: none).
    :param when: every object's last-modified time.
    """
    for index in range(start, stop):
        prefix = PREFIXES[index * len(PREFIXES) // space]
        bump = 1 if size_bump_every and index % size_bump_every == 0 else 0
        yield S3Object(f"{prefix}/obj-{index:09d}.bin", 1024 + index % 4096 + bump, when)


def planner_peak(keys: int) -> tuple[float, Counter[str]]:
    """Peak MiB traced while ``plan_sync`` merges two ``keys``-key listings, half of the keys on both sides.

    The destination is newer than the source, and every 7th object differs in size.
    """
    when = datetime(2026, 11, 21, tzinfo=timezone.utc)
    space = keys + keys // 2
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        source = synthetic_listing(0, keys, space, 0, when)
        destination = synthetic_listing(keys // 2, space, space, 7, when + timedelta(hours=1))
        steps = Counter(step.action for step in plan_sync(source, destination, delete=True))
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    return peak / 1024**2, steps


# -- the report ---------------------------------------------------------------------------------------


def check_same_state(client: Any, tree: dict[str, int], setup: Setup) -> None:
    """Warn when the CLI's and the operator's destinations differ (keys and sizes), or differ from the source."""
    cli, operator = (bucket_contents(client, setup.bucket(kind)) for kind in ("cli", "op"))
    if cli == operator == tree:
        print(f"{setup.label}: CLI and operator destinations hold the same {len(tree)} keys and sizes as the source")
        return
    print(
        f"WARNING: {setup.label}: destinations differ: {len(cli)} keys from the CLI, {len(operator)} from the "
        f"operator, {len(tree)} in the source; only CLI: {sorted(cli.keys() - operator.keys())[:5]}, only "
        f"operator: {sorted(operator.keys() - cli.keys())[:5]}, sizes differ: "
        f"{sorted(k for k in cli.keys() & operator.keys() if cli[k] != operator[k])[:5]}"
    )


def report(label: str, timings: Timings) -> None:
    """One summary line for a setup: each contender's seconds and ratios."""
    print(
        f"{label}: raw floor {timings.floor:.1f} s; operator {timings.operator:.1f} s = "
        f"{timings.operator / timings.floor:.2f}x floor; aws s3 sync {timings.cli:.1f} s = "
        f"{timings.cli / timings.floor:.2f}x floor; operator/cli {timings.operator / timings.cli:.2f}x; "
        f"rerun: operator {timings.operator_rerun:.1f} s, cli {timings.cli_rerun:.1f} s "
        f"(operator/cli {timings.operator_rerun / timings.cli_rerun:.2f}x)"
    )


def report_targets(bare: Timings, proxied: Timings) -> None:
    """Each target with the figure it is judged on."""

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    ratio = bare.operator / bare.floor
    print(
        f"target: operator within {FLOOR_TARGET}x of the raw floor on bare moto: {ratio:.2f}x, "
        f"{verdict(ratio <= FLOOR_TARGET)}"
    )
    ratio = proxied.operator / proxied.cli
    print(
        f"target: operator at most {PROXY_CLI_TARGET}x the CLI's wall time through the proxy: {ratio:.2f}x, "
        f"{verdict(ratio <= PROXY_CLI_TARGET)}"
    )
    for label, timings in (("bare moto", bare), (PROXY_LABEL, proxied)):
        ok = timings.operator_rerun <= timings.cli_rerun
        print(
            f"target: no-op rerun copies nothing and is no slower than the CLI's ({label}): operator "
            f"{timings.operator_rerun:.2f} s vs cli {timings.cli_rerun:.2f} s, {verdict(ok)}"
        )


def main() -> int:
    """Run every measurement, print each as it ends, then the summary and the targets."""
    tree = source_tree()
    keys = sorted(tree)
    print(
        f"source: {len(tree)} objects, {sum(tree.values()) / 1024**2:.1f} MiB, {MIN_SIZE // 1024}-"
        f"{MAX_SIZE // 1024} KiB; {CONCURRENCY} in flight; proxy latency {LATENCY * 1000:.0f} ms",
        flush=True,
    )
    os.environ.update(FAKE_CREDENTIALS)
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "ERROR")  # no per-run info lines between the figures
    from airflow_provider_bio.operators.s3_sync import S3SyncOperator  # noqa: F401 - import Airflow before timing

    pool_logger = logging.getLogger("urllib3.connectionpool")
    pool_logger.setLevel(logging.WARNING)
    pool_logger.addFilter(POOL_FULL)

    with moto_server_process() as moto:
        client = s3_client(moto)
        print(f"uploaded the source in {upload_source(client, tree):.1f} s", flush=True)
        bare = Setup("bare moto", "bare", moto)
        bare_timings = measure(bare, keys)
        check_same_state(client, tree, bare)
        with latency_proxy(moto, LATENCY) as proxy:
            proxied = Setup(PROXY_LABEL, "proxy", proxy)
            proxy_timings = measure(proxied, keys)
    print()
    report(bare.label, bare_timings)
    report(proxied.label, proxy_timings)
    report_targets(bare_timings, proxy_timings)
    for keys_a_side in PLANNER_KEYS:
        peak, steps = planner_peak(keys_a_side)
        print(
            f"planner alone, {keys_a_side:,} + {keys_a_side:,} keys: peak {peak:.3f} MiB traced "
            f"(target: flat, under {MEMORY_TARGET_MIB} MiB); steps {dict(sorted(steps.items()))}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
