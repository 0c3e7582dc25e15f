"""Minimal stand-ins for what Airflow hands an operator's ``execute`` at run time."""

from __future__ import annotations

import json
from typing import Any


class FakeTaskStateStore:
    """The task state store's get/set, keeping values as JSON like Airflow's metastore backend.

    ``retention`` records the retention each key was last set with (``None`` when none was given).
    """

    def __init__(self) -> None:
        self.saved: dict[str, str] = {}
        self.retention: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return json.loads(self.saved[key]) if key in self.saved else default

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        self.saved[key] = json.dumps(value)
        self.retention[key] = retention


class FakeTaskInstance:
    """Collects XComs pushed by the operator."""

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = json.loads(json.dumps(value))


def make_context(store: FakeTaskStateStore | None = None) -> dict[str, Any]:
    """A context holding a task instance and a task state store (one per task instance, across tries)."""
    return {
        "ti": FakeTaskInstance(),
        "task_state_store": store if store is not None else FakeTaskStateStore(),
        "run_id": "manual__2026-11-21T05:00:00+00:00",
    }
