"""When a step may reuse work it remembers: one rule for every resumable step of this provider.

A step remembers a job it started (a Glue run, a Batch job) or the progress it made (a chunk's
confirmed pairs) together with what that work was for: the arguments it was given and a
fingerprint of the world it read and wrote (the destination table's identity, the chunk's
objects and their ETags, the target indexes' identities). Memory is a hint and the world is the
truth, so the remembered work is reused only

- while the job is still running and was given the same arguments (reattach), or
- when it succeeded and the world, looked at now, still shows what the work left there.

Anything else (other arguments, a failed or vanished job, a table deleted and recreated since,
files restored by a rollback, nothing recorded to check against) starts the work afresh.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any


def fingerprint(value: Any) -> str:
    """A stable SHA-256 of a JSON-shaped value (keys sorted), for arguments and world states."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


class Phase(str, Enum):
    """Where a remembered job stands, in the words every step's service maps to."""

    ACTIVE = "active"
    SUCCEEDED = "succeeded"
    ENDED = "ended"  # failed, stopped, timed out, or no longer known to the service


class Verdict(str, Enum):
    """What a step does with what it remembers."""

    REATTACH = "reattach"  # the job still runs: wait for it
    REUSE = "reuse"  # it succeeded and the world confirms it: take its result
    START = "start"  # start afresh


@dataclass(frozen=True)
class Remembered:
    """A remembered job or progress, with what it was for.

    :param value: the job id, or the progress itself (JSON-shaped).
    :param arguments: fingerprint of the arguments the work was given.
    :param world: fingerprint of what the work read and wrote, as last seen; ``None`` while
        nothing has been recorded to check it against.
    :param try_number: the task try that started the work.
    """

    value: Any
    arguments: str
    world: str | None = None
    try_number: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, saved: Any) -> Remembered | None:
        """Read back what :meth:`to_json` stored; anything else (an older format) is no memory."""
        if not isinstance(saved, dict) or "arguments" not in saved or "value" not in saved:
            return None
        return cls(saved["value"], saved["arguments"], saved.get("world"), saved.get("try_number"))


def decide(remembered: Remembered | None, arguments: str, phase: Phase | None, world_now: str | None) -> Verdict:
    """The rule above, as a pure function.

    :param remembered: what the step remembers, if anything.
    :param arguments: fingerprint of the arguments the step has now.
    :param phase: where the remembered job stands now (``None`` when there is no job to ask about,
        as for progress: then only the world decides).
    :param world_now: fingerprint of the world as it is now, or ``None`` when it cannot be looked at.
    """
    if remembered is None or remembered.arguments != arguments:
        return Verdict.START
    if phase is Phase.ACTIVE:
        return Verdict.REATTACH
    if phase in (None, Phase.SUCCEEDED) and remembered.world is not None and remembered.world == world_now:
        return Verdict.REUSE
    return Verdict.START


def reason(remembered: Remembered | None, arguments: str, phase: Phase | None, world_now: str | None) -> str:
    """Why :func:`decide` said what it said, for the task's log."""
    if remembered is None:
        return "nothing remembered"
    if remembered.arguments != arguments:
        return "it was given other arguments"
    if phase is Phase.ACTIVE:
        return "it is still running"
    if phase is Phase.ENDED:
        return "it did not succeed"
    if remembered.world is None:
        return "nothing was recorded to confirm its result against"
    if remembered.world != world_now:
        return "the world no longer shows what it wrote (changed or recreated since)"
    return "it succeeded and the world still shows what it wrote"
