"""The one rule for reusing remembered work, case by case."""

from __future__ import annotations

from datetime import datetime

import pytest

from airflow_provider_bio.core.resume import Phase, Remembered, Verdict, decide, fingerprint, reason

ARGS = fingerprint({"table": "efcms-test-alpha"})
WORLD = fingerprint({"table_id": "a"})
JOB = Remembered("jr_1", ARGS, WORLD, 1)


@pytest.mark.parametrize(
    ("remembered", "arguments", "phase", "world_now", "expected"),
    [
        (None, ARGS, None, WORLD, Verdict.START),
        (JOB, fingerprint({"table": "efcms-mig-alpha"}), Phase.ACTIVE, WORLD, Verdict.START),
        (JOB, ARGS, Phase.ACTIVE, fingerprint({"table_id": "b"}), Verdict.REATTACH),
        (JOB, ARGS, Phase.SUCCEEDED, WORLD, Verdict.REUSE),
        (JOB, ARGS, Phase.SUCCEEDED, fingerprint({"table_id": "b"}), Verdict.START),
        (JOB, ARGS, Phase.SUCCEEDED, None, Verdict.START),
        (Remembered("jr_1", ARGS, None, 1), ARGS, Phase.SUCCEEDED, None, Verdict.START),
        (JOB, ARGS, Phase.ENDED, WORLD, Verdict.START),
        (JOB, ARGS, None, WORLD, Verdict.REUSE),
        (JOB, ARGS, None, fingerprint({"table_id": "b"}), Verdict.START),
    ],
    ids=[
        "nothing-remembered",
        "other-arguments",
        "running",
        "succeeded-world-unchanged",
        "succeeded-world-changed",
        "succeeded-world-unreadable",
        "succeeded-never-confirmed",
        "failed",
        "progress-world-unchanged",
        "progress-world-changed",
    ],
)
def test_the_rule(remembered, arguments, phase, world_now, expected):
    assert decide(remembered, arguments, phase, world_now) is expected


def test_fingerprints_ignore_key_order_and_see_every_value():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1, "b": [1, 2]}) != fingerprint({"a": 1, "b": [2, 1]})


def test_what_is_stored_reads_back_and_older_formats_are_no_memory():
    assert Remembered.from_json(JOB.to_json()) == JOB
    assert Remembered.from_json("jr_1") is None  # an id stored bare by an older release
    assert Remembered.from_json({"job_id": "x", "chunk": "y"}) is None


def test_fingerprints_are_the_sha256_of_the_sorted_json():
    """Pinned digests (``sha256sum`` of the JSON text), so a stored fingerprint still matches after an upgrade."""
    assert fingerprint({"b": [1, 2], "a": 1}) == "e6f20bdc3757e5e7be4e316deff4196f19cf5954ffc76b1896228680fcdef66c"
    # values JSON cannot hold are written as their str()
    assert (
        fingerprint({"at": datetime(2026, 1, 1)}) == "a7e5b3649b140deff39c19c38f147ca41f3c47e4ee529ebb624ffc3f36c9a4f0"
    )


def test_what_is_stored_is_plain_json_with_every_field():
    assert JOB.to_json() == {"value": "jr_1", "arguments": ARGS, "world": WORLD, "try_number": 1}
    assert Remembered.from_json({"value": {"done": [1]}, "arguments": "x"}) == Remembered(
        {"done": [1]}, "x", None, None
    )
    assert Remembered.from_json({"arguments": "x"}) is None


def test_phases_and_verdicts_are_the_words_logged_and_stored():
    assert [phase.value for phase in Phase] == ["active", "succeeded", "ended"]
    assert [verdict.value for verdict in Verdict] == ["reattach", "reuse", "start"]


@pytest.mark.parametrize(
    ("remembered", "arguments", "phase", "world_now", "expected"),
    [
        (None, ARGS, None, WORLD, "nothing remembered"),
        (JOB, fingerprint({"table": "other"}), Phase.ACTIVE, WORLD, "it was given other arguments"),
        (JOB, ARGS, Phase.ACTIVE, None, "it is still running"),
        (JOB, ARGS, Phase.ENDED, WORLD, "it did not succeed"),
        (Remembered("jr_1", ARGS), ARGS, Phase.SUCCEEDED, WORLD, "nothing was recorded to confirm its result against"),
        (JOB, ARGS, None, None, "the world no longer shows what it wrote (changed or recreated since)"),
        (JOB, ARGS, Phase.SUCCEEDED, WORLD, "it succeeded and the world still shows what it wrote"),
    ],
)
def test_the_reason_logged_for_each_verdict(remembered, arguments, phase, world_now, expected):
    assert reason(remembered, arguments, phase, world_now) == expected
