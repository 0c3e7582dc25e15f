"""The task state store side of :mod:`airflow_provider_bio.core.resume`, shared by every resumable step.

The store is scoped to one task instance of one DAG run (map index included) and, unlike XCom,
survives retries and clears. :class:`StepMemory` keeps one remembered job or progress under a
key, with the arguments it was for and the world it was last confirmed against, and answers
"may I reuse it?" through :func:`~airflow_provider_bio.core.resume.decide`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow.sdk.execution_time.context import NEVER_EXPIRE

from airflow_provider_bio.core.resume import Phase, Remembered, Verdict, decide, fingerprint, reason

if TYPE_CHECKING:
    from logging import Logger

    from airflow.sdk import Context


class StepMemory:
    """One remembered job (or progress) of a task instance, with what it was for.

    :param context: the task's context (its ``task_state_store`` and ``ti``).
    :param key: the store key.
    :param arguments: what the step was asked to do now, JSON-shaped; fingerprinted.
    :param log: where verdicts are logged.
    """

    def __init__(self, context: Context, key: str, arguments: Any, log: Logger) -> None:
        self.store = context.get("task_state_store")
        ti = context.get("ti")
        self.try_number: int | None = getattr(ti, "try_number", None)
        self.key = key
        self.arguments = fingerprint(arguments)
        self.log = log
        if self.store is None:
            log.warning("No task state store (Airflow < 3.3?): a retry starts %s afresh", key)

    def saved(self) -> Remembered | None:
        """What is stored, whatever it was for."""
        return Remembered.from_json(self.store.get(self.key)) if self.store is not None else None

    def recall(
        self,
        phase_of: Callable[[Any], Phase] | None,
        world_now: Callable[[], str | None],
    ) -> tuple[Verdict, Remembered | None]:
        """Decide whether the remembered work may be reused, asking the world only when it matters.

        :param phase_of: asks the service where the remembered job stands; ``None`` for progress.
        :param world_now: the fingerprint of the world now (the step's own check).
        :return: the verdict and the remembered work (``None`` when there is none).
        """
        remembered = self.saved()
        if remembered is None or remembered.arguments != self.arguments:
            verdict, phase, world = Verdict.START, None, None
        else:
            phase = phase_of(remembered.value) if phase_of is not None else None
            wants_world = phase is not Phase.ACTIVE and phase is not Phase.ENDED and remembered.world is not None
            world = world_now() if wants_world else None
            verdict = decide(remembered, self.arguments, phase, world)
        if remembered is not None:
            self.log.info(
                "%s remembered from try %s: %s (%s)",
                self.key,
                remembered.try_number,
                verdict.value,
                reason(remembered, self.arguments, phase, world),
            )
        return verdict, remembered

    def remember(self, value: Any, world: str | None = None) -> None:
        """Store ``value`` as this try's work, for the current arguments."""
        if self.store is not None:
            remembered = Remembered(value, self.arguments, world, self.try_number)
            self.store.set(self.key, remembered.to_json(), retention=NEVER_EXPIRE)

    def confirm(self, world: str) -> None:
        """Record the world the stored work was confirmed against (after it succeeded)."""
        remembered = self.saved()
        if self.store is not None and remembered is not None:
            confirmed = Remembered(remembered.value, remembered.arguments, world, remembered.try_number)
            self.store.set(self.key, confirmed.to_json(), retention=NEVER_EXPIRE)
