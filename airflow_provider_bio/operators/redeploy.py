"""RedeployOperator: the team's own deploy DAG, triggered and waited for, with a dry run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class RedeployOperator(TriggerDagRunOperator):
    """Trigger a deploy DAG that recreates what a lower environment's reset deleted, and wait for it.

    Takes TriggerDagRunOperator's arguments, and:

    :param dry_run: report which DAG would be triggered; trigger nothing. (templated)
    """

    template_fields: Sequence[str] = (*TriggerDagRunOperator.template_fields, "dry_run")

    def __init__(self, *, dry_run: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run

    def execute(self, context: Context) -> Any:
        if self.dry_run:
            self.log.info("dry run: would trigger %s and wait for it", self.trigger_dag_id)
            return {"dry_run": True, "would_trigger": self.trigger_dag_id}
        return super().execute(context)
