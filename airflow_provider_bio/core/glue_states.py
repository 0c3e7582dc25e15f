"""AWS Glue job run states: one table, used by every Glue step of this provider."""

from __future__ import annotations

from airflow_provider_bio.core.resume import Phase

SUCCEEDED = "SUCCEEDED"
#: A run in one of these may still write: another must not start beside it.
ACTIVE = frozenset({"STARTING", "RUNNING", "STOPPING", "WAITING"})


def phase(state: str) -> Phase:
    """Where a run in ``state`` stands, for :func:`airflow_provider_bio.core.resume.decide`."""
    if state in ACTIVE:
        return Phase.ACTIVE
    return Phase.SUCCEEDED if state == SUCCEEDED else Phase.ENDED
