"""Clearing a finished DAG run and running it again, as a user does with "Clear" in the UI.

``dag.test()`` clears the task instances of its logical date (what "Clear" on a whole run
does) and then deletes the run and creates a new one, which a real clear never does: the
run's task state store would go with it. :func:`clear_and_rerun` keeps the run.
"""

from __future__ import annotations

from typing import Any
from unittest import mock


def clear_and_rerun(dag: Any, logical_date: Any) -> Any:
    """Clear every task instance of the finished run at ``logical_date`` and run them again.

    :return: the same DAG run, finished again.
    """
    from airflow.models import dagrun
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    def same_run(*, dag: Any, logical_date: Any, session: Any, **_: Any) -> Any:
        run = session.scalar(
            select(dagrun.DagRun).where(dagrun.DagRun.dag_id == dag.dag_id, dagrun.DagRun.logical_date == logical_date)
        )
        run.state = DagRunState.RUNNING
        session.commit()
        run.dag = dag
        return run

    with mock.patch.object(dagrun, "get_or_create_dagrun", same_run):
        return dag.test(logical_date=logical_date, run_after=logical_date)
