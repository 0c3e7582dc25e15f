"""glue_to_<env> with ``{"dry_run": true}``: every step previews what it would do, and nothing is written."""

from __future__ import annotations

import boto3
import pytest

from tests.support.botocore_events import recorded_calls
from tests.support.lower_env import demo_world

#: API operations that change something; a dry run makes none of them.
WRITES = (
    "Put", "Delete", "Create", "Update", "BatchWrite", "Copy", "Start", "Upload", "Complete", "Abort", "Tag",
    "Invoke", "Submit", "Terminate", "Stop",
)  # fmt: skip


@pytest.mark.usefixtures("airflow_db")
def test_a_dry_run_previews_every_step_with_its_counts_and_writes_nothing(tmp_path, monkeypatch):
    """Case: the dry run stopped after previewing the deletions, though it said it previewed the sync."""
    with demo_world(tmp_path, monkeypatch) as dag:
        with recorded_calls() as calls:
            run = dag.test(run_conf={"dry_run": True})
        tis = {ti.task_id: ti for ti in run.get_task_instances()}
        assert run.state == "success"
        assert {task: ti.state for task, ti in tis.items()} == dict.fromkeys(dag.task_ids, "success")
        writes = sorted({call.operation for call in calls if call.operation.startswith(WRITES)})
        assert writes == []

        def preview(task_id):
            value = tis[task_id].xcom_pull(task_ids=task_id)
            assert value["dry_run"] is True, task_id
            return value

        assert preview("flags_off")["would_set"]["migrate"] == "false"
        assert preview("delete_persistence") == {
            "tables": ["efcms-demo-alpha"],
            "domains": ["efcms-search-demo"],
            "dry_run": True,
        }
        assert preview("recreate_table")["would_create"] == "efcms-demo-alpha"
        assert preview("recreate_domains")["would_create"] == ["efcms-search-demo"]
        assert len(preview("streams_off")["would_toggle"]) == 1
        assert preview("copy_table")["source_items"] == 40
        sync = preview("sync_documents")
        assert (sync["copy_keys"], sync["delete_keys"]) == (["case/1.pdf"], ["stale.pdf"])
        assert preview("migrate_on")["would_set"] == {"migrate": "true"}

        s3 = boto3.client("s3", region_name="us-west-2")
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="efcms-demo-documents")["Contents"]] == ["stale.pdf"]
        mappings = boto3.client("lambda", region_name="us-west-2").list_event_source_mappings()["EventSourceMappings"]
        assert {m["State"] for m in mappings} == {"Enabled"}
