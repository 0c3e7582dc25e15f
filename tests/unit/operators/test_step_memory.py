"""StepMemory: what a resumable step stores between tries, when it reuses it, and what it logs about it."""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import BaseOperator
from airflow.sdk.execution_time.context import NEVER_EXPIRE
from structlog.testing import capture_logs

from airflow_provider_bio.core.resume import Phase, Remembered, Verdict
from airflow_provider_bio.operators.resume import StepMemory
from tests.support.airflow_context import FakeTaskStateStore

ARGUMENTS = {"table": "efcms-test-alpha", "segments": 4}
#: The arguments' fingerprint, computed here: SHA-256 of their JSON with sorted keys.
FINGERPRINT = hashlib.sha256(json.dumps(ARGUMENTS, sort_keys=True).encode()).hexdigest()


def _memory(store: FakeTaskStateStore | None, try_number: int = 3, arguments: Any = ARGUMENTS) -> StepMemory:
    context = {"ti": SimpleNamespace(try_number=try_number)}
    if store is not None:
        context["task_state_store"] = store
    return StepMemory(context, "glue_job", arguments, BaseOperator(task_id="step").log)


class _World:
    """The world's fingerprint now, counting how often it is looked at."""

    def __init__(self, now: str | None) -> None:
        self.now, self.looks = now, 0

    def __call__(self) -> str | None:
        self.looks += 1
        return self.now


def _events(logs: list[dict[str, Any]]) -> list[str]:
    return [str(log["event"]) for log in logs if "outside of the Task Runner" not in str(log["event"])]


def test_a_step_remembers_its_work_with_its_arguments_world_and_try_never_to_expire():
    store = FakeTaskStateStore()
    _memory(store).remember("jr_1", "world-1")
    assert store.get("glue_job") == {"value": "jr_1", "arguments": FINGERPRINT, "world": "world-1", "try_number": 3}
    assert store.retention == {"glue_job": NEVER_EXPIRE}


def test_confirming_records_the_world_and_keeps_what_was_remembered():
    store = FakeTaskStateStore()
    _memory(store, try_number=2).remember("jr_1")
    _memory(store, try_number=5).confirm("world-2")
    assert store.get("glue_job") == {"value": "jr_1", "arguments": FINGERPRINT, "world": "world-2", "try_number": 2}
    assert store.retention == {"glue_job": NEVER_EXPIRE}


def test_confirming_with_nothing_remembered_stores_nothing():
    store = FakeTaskStateStore()
    _memory(store).confirm("world-2")
    assert store.saved == {}


def test_without_a_task_state_store_a_step_warns_and_starts_afresh_every_try():
    with capture_logs() as logs:
        memory = _memory(None)
        memory.remember("jr_1", "world-1")
        memory.confirm("world-1")
        assert memory.recall(None, _World("world-1")) == (Verdict.START, None)
    assert _events(logs) == ["No task state store (Airflow < 3.3?): a retry starts glue_job afresh"]


def test_a_step_with_a_task_state_store_does_not_warn():
    with capture_logs() as logs:
        _memory(FakeTaskStateStore())
    assert _events(logs) == []


def test_nothing_remembered_starts_afresh_without_a_word_or_a_look():
    world = _World("world-1")
    with capture_logs() as logs:
        assert _memory(FakeTaskStateStore()).recall(lambda job: Phase.ACTIVE, world) == (Verdict.START, None)
    assert _events(logs) == [] and world.looks == 0


@pytest.mark.parametrize(
    ("phase", "world_now", "verdict", "why", "looks"),
    [
        pytest.param(Phase.ACTIVE, "world-1", Verdict.REATTACH, "it is still running", 0, id="running"),
        pytest.param(Phase.ENDED, "world-1", Verdict.START, "it did not succeed", 0, id="ended"),
        pytest.param(
            Phase.SUCCEEDED,
            "world-1",
            Verdict.REUSE,
            "it succeeded and the world still shows what it wrote",
            1,
            id="succeeded-world-same",
        ),
        pytest.param(
            Phase.SUCCEEDED,
            "world-2",
            Verdict.START,
            "the world no longer shows what it wrote (changed or recreated since)",
            1,
            id="succeeded-world-changed",
        ),
    ],
)
def test_a_remembered_job_is_judged_by_its_phase_then_the_world_and_the_verdict_is_logged(
    phase, world_now, verdict, why, looks
):
    store = FakeTaskStateStore()
    _memory(store, try_number=2).remember("jr_1", "world-1")
    asked = []
    world = _World(world_now)

    def phase_of(job: str) -> Phase:
        asked.append(job)
        return phase

    with capture_logs() as logs:
        result = _memory(store).recall(phase_of, world)
    assert result == (verdict, Remembered("jr_1", FINGERPRINT, "world-1", 2))
    assert asked == ["jr_1"] and world.looks == looks
    assert _events(logs) == [f"glue_job remembered from try 2: {verdict.value} ({why})"]


def test_remembered_progress_is_judged_by_the_world_alone():
    store = FakeTaskStateStore()
    _memory(store, try_number=1).remember([1, 2], "world-1")
    world = _World("world-1")
    with capture_logs() as logs:
        verdict, remembered = _memory(store).recall(None, world)
    assert (verdict, remembered.value, world.looks) == (Verdict.REUSE, [1, 2], 1)
    assert _events(logs) == [
        "glue_job remembered from try 1: reuse (it succeeded and the world still shows what it wrote)"
    ]


def test_work_with_no_world_recorded_starts_afresh_without_looking_at_the_world():
    store = FakeTaskStateStore()
    _memory(store, try_number=1).remember("jr_1")
    world = _World(None)
    with capture_logs() as logs:
        verdict, _ = _memory(store).recall(lambda job: Phase.SUCCEEDED, world)
    assert (verdict, world.looks) == (Verdict.START, 0)
    assert _events(logs) == [
        "glue_job remembered from try 1: start (nothing was recorded to confirm its result against)"
    ]


def test_work_done_for_other_arguments_starts_afresh_without_asking_the_service_or_the_world():
    store = FakeTaskStateStore()
    _memory(store, try_number=1, arguments={"table": "efcms-test-beta"}).remember("jr_1", "world-1")
    asked, world = [], _World("world-1")
    with capture_logs() as logs:
        verdict, _ = _memory(store).recall(lambda job: asked.append(job) or Phase.SUCCEEDED, world)
    assert (verdict, asked, world.looks) == (Verdict.START, [], 0)
    assert _events(logs) == ["glue_job remembered from try 1: start (it was given other arguments)"]
