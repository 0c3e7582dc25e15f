"""``make demo``: run batch_index_taxons, glue_to_demo and bioindex_compress end to end on SQLite Airflow and moto.

Creates a temporary AIRFLOW_HOME, starts moto on 127.0.0.1, provisions the demo world, runs the
DAG with ``airflow dags test``, prints a short summary and removes everything it started.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

from airflow_provider_bio.core.bgzf import GziIndex, read_range
from scripts.local_aws import (
    BIOINDEX_DEMO_BUCKET,
    LOWER_ENV_DEMO,
    REGION,
    airflow_environment,
    aws_environment,
    moto_server,
    provision_bioindex_world,
    provision_demo_world,
    provision_lower_env_world,
)

REPO = Path(__file__).resolve().parent.parent
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, check=False)


def _xcom(env: dict[str, str], dag_id: str, task_id: str) -> dict | None:
    """Read a task's return value from the demo's metadata database."""
    script = (
        "import json\n"
        "from airflow.models.xcom import XComModel\n"
        "from airflow.utils.session import create_session\n"
        "with create_session() as s:\n"
        f"    row = s.query(XComModel).filter_by(dag_id={dag_id!r}, task_id={task_id!r}, key='return_value')"
        ".order_by(XComModel.timestamp.desc()).first()\n"
        "    print(json.dumps(XComModel.deserialize_value(row) if row else None))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def glue_to_demo(env: dict[str, str], endpoint: str, home: str) -> int:
    """Run glue_to_demo (local copy engine) on the same moto server and check the destination."""
    provision_lower_env_world(endpoint)
    config = Path(home, "lower_environments.json")
    config.write_text(json.dumps({"demo": LOWER_ENV_DEMO}))
    env = env | {"GLUE_TO_LOWER_ENV_CONFIG": str(config)}
    started = time.monotonic()
    run = _run(["dags", "test", "glue_to_demo"], env)
    elapsed = time.monotonic() - started
    copied = _xcom(env, "glue_to_demo", "copy_table")
    synced = _xcom(env, "glue_to_demo", "sync_documents")
    if run.returncode or not copied or not synced:
        print(run.stdout[-4000:], run.stderr[-4000:], file=sys.stderr)
        print("glue_to_demo FAILED", file=sys.stderr)
        return 1
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION, **keys)
    # The copy's own post-copy check: addresses outside the stand-in domain left in the destination.
    raw = copied["addresses_outside_domain"]
    stream = dynamodb.describe_table(TableName=LOWER_ENV_DEMO["destination"]["table"])["Table"]["LatestStreamArn"]
    mappings = boto3.client("lambda", endpoint_url=endpoint, region_name=REGION, **keys).list_event_source_mappings()
    on_new_stream = [m for m in mappings["EventSourceMappings"] if m["EventSourceArn"] == stream]
    domains = boto3.client("opensearch", endpoint_url=endpoint, region_name=REGION, **keys)
    restored = [d for d in LOWER_ENV_DEMO["destination"]["search_domains"] if domains.describe_domain(DomainName=d)]
    print(
        f"glue_to_demo: items copied {copied['written']} of {copied['read']} · emails obfuscated "
        f"{copied['emails']} · addresses outside @{LOWER_ENV_DEMO['copy']['obfuscation_domain']} left in the "
        f"destination {raw} · documents copied "
        f"{synced['copied']['objects']}, deleted {synced['deleted']['objects']} · search domains recreated "
        f"{len(restored)} · stream processors on the new table's stream {len(on_new_stream)} of "
        f"{len(mappings['EventSourceMappings'])} · {elapsed:.1f} s for the whole DAG run"
    )
    return 1 if raw or len(on_new_stream) != len(mappings["EventSourceMappings"]) else 0


def bioindex_demo(env: dict[str, str], endpoint: str, home: str) -> int:
    """Run bioindex_compress (local engine) and read ranges back through the .gzi, ours and htslib's way."""
    world = provision_bioindex_world(endpoint, home)
    env = env | {
        "BIOINDEX_CONFIG": world["config"],
        "AIRFLOW_CONN_BIOINDEX_DEMO": json.dumps({"conn_type": "sqlite", "host": world["database"]}),
    }
    conf = {"bucket": BIOINDEX_DEMO_BUCKET, "chunk_gib": 0.005}
    started = time.monotonic()
    run = _run(["dags", "test", "bioindex_compress", "--conf", json.dumps(conf)], env)
    elapsed = time.monotonic() - started
    if run.returncode:
        print(run.stdout[-4000:], run.stderr[-4000:], file=sys.stderr)
        print("bioindex_compress FAILED", file=sys.stderr)
        return 1
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, **keys)
    listed = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket=BIOINDEX_DEMO_BUCKET).get("Contents", [])}
    originals_left = [key for key in world["files"] if key in listed]
    compressed = sum(listed.get(f"{key}.gz", 0) for key in world["files"])
    with sqlite3.connect(world["database"]) as db:
        marked = [name for name, flag in db.execute("SELECT name, compressed FROM __Indexes") if flag]
    key, original = max(world["files"].items(), key=lambda item: len(item[1]))
    blob = s3.get_object(Bucket=BIOINDEX_DEMO_BUCKET, Key=f"{key}.gz")["Body"].read()
    gzi = s3.get_object(Bucket=BIOINDEX_DEMO_BUCKET, Key=f"{key}.gz.gzi")["Body"].read()
    offset, length = len(original) // 3, 5000
    ours = read_range(lambda s, e: blob[s:e], GziIndex.from_bytes(gzi), offset, length)
    checks = [f"our reader {'matches' if ours == original[offset : offset + length] else 'DIFFERS'}"]
    if shutil.which("bgzip"):
        folder = Path(home, "bgzip-check")
        folder.mkdir()
        (folder / "f.json.gz").write_bytes(blob)
        (folder / "f.json.gz.gzi").write_bytes(gzi)
        theirs = subprocess.run(
            ["bgzip", "-b", str(offset), "-s", str(length), str(folder / "f.json.gz")], capture_output=True, check=False
        ).stdout
        checks.append(
            f"htslib's bgzip -b/-s {'matches' if theirs == original[offset : offset + length] else 'DIFFERS'}"
        )
    total = sum(len(body) for body in world["files"].values())
    print(
        f"bioindex_compress: files {len(world['files'])} · {total / 1e6:.1f} MB -> {compressed / 1e6:.1f} MB "
        f"({total / max(compressed, 1):.1f}x) · originals left {len(originals_left)} · marked compressed "
        f"{', '.join(sorted(marked))} · range {offset}+{length} of {key}: {', '.join(checks)} · "
        f"{elapsed:.1f} s for the whole DAG run"
    )
    return 1 if originals_left or len(marked) != 2 or any("DIFFERS" in check for check in checks) else 0


def main() -> int:
    home = tempfile.mkdtemp(prefix="bio-demo-airflow-")
    try:
        env = airflow_environment(home, str(REPO))
        started = time.monotonic()
        migrated = _run(["db", "migrate"], env)
        if migrated.returncode:
            print(migrated.stdout, migrated.stderr, file=sys.stderr)
            return 1
        print(f"Airflow metadata database ready in {time.monotonic() - started:.1f} s ({home})")
        with moto_server() as endpoint:
            env |= aws_environment(endpoint)
            world = provision_demo_world(endpoint)
            conf = {"input_s3_uri": world.input_s3_uri, "lambda_function_name": world.function_name, "chunk_size": 5}
            print(f"moto on {endpoint}; running batch_index_taxons with conf {json.dumps(conf)}")
            started = time.monotonic()
            run = _run(["dags", "test", "batch_index_taxons", "--conf", json.dumps(conf)], env)
            elapsed = time.monotonic() - started
            report = _xcom(env, "batch_index_taxons", "report")
            if run.returncode or not report:
                print(run.stdout[-4000:], run.stderr[-4000:], file=sys.stderr)
                print("batch_index_taxons FAILED", file=sys.stderr)
                return 1
            print(
                f"batch_index_taxons: pairs {report['pairs']} · chunks {report['chunks']} · "
                f"confirmed {report['confirmed']} · failed {len(report['failed'])} · "
                f"wall time {report['wall_seconds']:.2f} s of invocations, {elapsed:.1f} s for the whole DAG run"
            )
            return glue_to_demo(env, endpoint, home) or bioindex_demo(env, endpoint, home)

    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
