"""AWS Glue job run states: one table, used by every Glue step of this provider."""

from __future__ import annotations

SUCCEEDED = "SUCCEEDED"
#: A run in one of these may still write: another must not start beside it.
ACTIVE = frozenset({"STARTING", "RUNNING", "STOPPING", "WAITING"})
