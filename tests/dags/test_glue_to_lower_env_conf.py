"""glue_to_<env>'s conf and schedule checks: wrong types and late scheduled runs stop before any AWS call."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scripts.local_aws import LOWER_ENV_DEMO
from tests.support.botocore_events import recorded_calls
from tests.support.lower_env import demo_world, load_glue_to_dags

SCHEDULED = datetime(2026, 3, 1, 5, tzinfo=timezone.utc)


def _check_run():
    from airflow.sdk.exceptions import AirflowFailException

    dag = load_glue_to_dags()["glue_to_test"]
    task = dag.get_task("check_run")
    return dag, task, AirflowFailException


def _run(run_type="scheduled", late=timedelta(0), conf=None):
    return SimpleNamespace(
        conf=conf or {},
        run_type=run_type,
        run_after=SCHEDULED,
        data_interval_end=SCHEDULED,
        logical_date=SCHEDULED,
        start_date=SCHEDULED + late,
    )


def _call(task, dag_run, params=None):
    defaults = {"dry_run": False, "sync_documents": True, "confirm_late_run": False}
    return task.python_callable(**task.op_kwargs, params=defaults | (params or {}), dag_run=dag_run)


def test_the_check_comes_first_and_is_not_retried():
    dag, task, _ = _check_run()
    assert task.retries == 0 and task.upstream_task_ids == set()
    assert task.downstream_task_ids == {"flags_off"}
    assert set(dag.task_ids) == {"check_run"} | {t.task_id for t in task.get_flat_relatives(upstream=False)}
    assert dag.params["confirm_late_run"] is False


def test_a_scheduled_run_that_starts_days_late_is_refused_naming_confirm_late_run():
    _, task, refused = _check_run()
    with pytest.raises(refused) as raised:
        _call(task, _run(late=timedelta(days=12)))
    message = str(raised.value)
    assert "confirm_late_run" in message and "glue_to_test" in message and "6 hours" in message
    assert "--conf '{\"confirm_late_run\": true}'" in message


@pytest.mark.parametrize(
    ("dag_run", "params"),
    [
        (_run(late=timedelta(hours=5)), {}),
        (_run(late=timedelta(days=12)), {"confirm_late_run": True}),
        (_run(late=timedelta(days=12)), {"dry_run": True}),
        (_run("manual", late=timedelta(days=12)), {}),
    ],
    ids=["within-the-bound", "confirmed", "dry-run", "manual"],
)
def test_these_runs_go_on(dag_run, params):
    _, task, _ = _check_run()
    assert _call(task, dag_run, params) is None


def test_the_bound_is_per_environment_entry(tmp_path, monkeypatch):
    path = tmp_path / "envs.json"
    path.write_text(json.dumps({"demo": LOWER_ENV_DEMO | {"late_run_hours": 48}}))
    task = load_glue_to_dags(path, monkeypatch)["glue_to_demo"].get_task("check_run")
    assert _call(task, _run(late=timedelta(hours=30))) is None


@pytest.mark.parametrize(
    "conf",
    [{"dry_run": "false"}, {"sync_documents": 0}, {"confirm_late_run": [1]}, {"dry-run": True}],
    ids=["string-for-bool", "number-for-bool", "list-for-bool", "unknown-field"],
)
def test_a_conf_of_the_wrong_shape_is_refused_by_the_check(conf):
    _, task, refused = _check_run()
    name = next(iter(conf))
    with pytest.raises(refused, match=name):
        _call(task, _run("manual", conf=conf), {k: v for k, v in conf.items() if k != "dry-run"})


@pytest.mark.usefixtures("airflow_db")
def test_a_misspelt_dry_run_fails_the_run_before_any_aws_call(tmp_path, monkeypatch):
    """Case: {"dry-run": true} passed the form and the steps ran for real."""
    with demo_world(tmp_path, monkeypatch) as dag:
        with recorded_calls() as calls:
            run = dag.test(run_conf={"dry-run": True})
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "failed" and states["check_run"] == "failed"
    assert states["flags_off"] == "upstream_failed"
    assert calls == []


_ANY = st.one_of(
    st.booleans(),
    st.none(),
    st.integers(-2, 2),
    st.floats(allow_nan=False, allow_infinity=False, width=16),
    st.sampled_from(["true", "false", "", "1", "0\n", "123456"]),
    st.lists(st.booleans(), max_size=2),
)
_CONF = st.dictionaries(
    st.sampled_from(["dry_run", "sync_documents", "confirm_late_run", "dry-run", "extra"]), _ANY, max_size=4
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(conf=_CONF, late_hours=st.sampled_from([0, 5, 7, 300]), run_type=st.sampled_from(["manual", "scheduled"]))
def test_any_conf_the_form_accepts_passes_the_check_or_is_refused_by_it(conf, late_hours, run_type):
    from airflow.sdk.exceptions import ParamValidationError

    dag, task, refused = _check_run()
    params = copy.deepcopy(dag.params)
    try:
        params.update(conf)
        resolved = params.validate()
    except ParamValidationError:
        return  # refused at trigger time
    try:
        _call(task, _run(run_type, timedelta(hours=late_hours), conf), resolved)
    except refused:
        return
    # the check passed: what the steps are handed is what they expect
    assert all(type(resolved[name]) is bool for name in ("dry_run", "sync_documents", "confirm_late_run"))
    assert set(conf) <= {"dry_run", "sync_documents", "confirm_late_run"}
