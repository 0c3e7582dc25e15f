"""The one rule for reusing remembered work, case by case."""

from __future__ import annotations

import pytest

from airflow_provider_bio.core.resume import Phase, Remembered, Verdict, decide, fingerprint

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
