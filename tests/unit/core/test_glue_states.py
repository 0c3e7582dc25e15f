"""Glue job run states, as the resumable Glue steps read them."""

from __future__ import annotations

import pytest

from airflow_provider_bio.core.glue_states import phase
from airflow_provider_bio.core.resume import Phase


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("STARTING", Phase.ACTIVE),
        ("RUNNING", Phase.ACTIVE),
        ("STOPPING", Phase.ACTIVE),
        ("WAITING", Phase.ACTIVE),
        ("SUCCEEDED", Phase.SUCCEEDED),
        ("FAILED", Phase.ENDED),
        ("STOPPED", Phase.ENDED),
        ("TIMEOUT", Phase.ENDED),
        ("ERROR", Phase.ENDED),
        ("EXPIRED", Phase.ENDED),
        ("succeeded", Phase.ENDED),
    ],
)
def test_a_run_may_still_write_only_in_an_active_state(state: str, expected: Phase) -> None:
    assert phase(state) is expected
