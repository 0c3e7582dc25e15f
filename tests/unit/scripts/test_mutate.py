"""make mutate: which modules a change mutates, and the kill rate read from mutmut's results."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from scripts import mutate
from scripts.mutate import forget_test_map, module_globs, read_equivalents, read_scores, retest_unkilled, run_mutmut

CORE = "airflow_provider_bio.core.plan"


def write_results(mutants: Path, package: str, module: str, verdicts: dict[str, int | None]) -> Path:
    """Write a module's verdicts the way mutmut keeps them (exit code per mutant name)."""
    meta = mutants / "airflow_provider_bio" / package / f"{module}.py.meta"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps({"exit_code_by_key": verdicts, "durations_by_key": {}}))
    return meta


@pytest.fixture
def mutants(tmp_path: Path) -> Path:
    # mutmut's exit codes: 1 killed, 0 survived, 33 no test covers it, 36 timeout, None not run yet.
    write_results(
        tmp_path,
        "core",
        "plan",
        {
            f"{CORE}.x_a__mutmut_1": 1,
            f"{CORE}.x_a__mutmut_2": 0,
            f"{CORE}.x_a__mutmut_3": 33,
            f"{CORE}.x_a__mutmut_4": 36,
            f"{CORE}.x_a__mutmut_5": None,
            f"{CORE}.x_a__mutmut_6": 0,
            f"{CORE}.x_a__mutmut_7": 1,
        },
    )
    write_results(tmp_path, "operators", "copy", {"airflow_provider_bio.operators.copy.x_b__mutmut_1": 0})
    write_results(tmp_path, "jobs", "worker", {"airflow_provider_bio.jobs.worker.x_c__mutmut_1": 0})
    return tmp_path


def test_changed_files_map_to_their_modules_mutants() -> None:
    changed = [
        "airflow_provider_bio/core/s3_sync.py",
        "airflow_provider_bio/operators/bgzip.py",
        "airflow_provider_bio/hooks/__init__.py",
        "airflow_provider_bio/jobs/bgzip_worker.py",
        "tests/unit/core/test_s3_sync.py",
    ]
    assert module_globs(changed) == ["airflow_provider_bio.core.s3_sync.*", "airflow_provider_bio.operators.bgzip.*"]


def test_kill_rate_counts_timeouts_as_kills_and_untested_mutants_as_survivors(mutants: Path) -> None:
    equivalents = {f"{CORE}.x_a__mutmut_6": "log text only", f"{CORE}.x_a__mutmut_7": "stale entry"}
    scores = read_scores(equivalents, mutants)

    core = scores["core"]
    # 7 mutants, 1 not run yet, 1 equivalent that survived: 5 count, of which 3 were caught.
    assert (core.killed, core.scored) == (3, 5)
    assert core.rate == pytest.approx(0.6)
    assert core.survivors == [f"{CORE}.x_a__mutmut_2", f"{CORE}.x_a__mutmut_3"]
    assert core.equivalent == [f"{CORE}.x_a__mutmut_6"]
    assert scores["operators"].rate == 0.0
    assert set(scores) == {"core", "hooks", "operators"}


def test_a_package_none_of_whose_mutants_ran_has_no_rate(tmp_path: Path) -> None:
    write_results(tmp_path, "hooks", "s3", {"airflow_provider_bio.hooks.s3.x_d__mutmut_1": None})

    scores = read_scores({}, tmp_path)

    # Neither 100 % nor 0 %: a run limited to other packages says nothing about this one.
    assert scores["hooks"].rate is None
    assert scores["hooks"].rate_text == "not run"
    assert scores["core"].rate is None


def test_survivors_are_tried_again_and_kills_are_kept(mutants: Path) -> None:
    retest_unkilled([], mutants)

    verdicts = json.loads((mutants / "airflow_provider_bio/core/plan.py.meta").read_text())["exit_code_by_key"]
    assert [verdicts[f"{CORE}.x_a__mutmut_{n}"] for n in range(1, 8)] == [1, None, None, 36, None, None, 1]


def test_a_run_of_one_module_keeps_the_other_modules_survivors(mutants: Path) -> None:
    retest_unkilled(["airflow_provider_bio.operators.copy.*"], mutants)

    scores = read_scores({}, mutants)
    assert scores["core"].survivors == [f"{CORE}.x_a__mutmut_2", f"{CORE}.x_a__mutmut_3", f"{CORE}.x_a__mutmut_6"]
    assert scores["core"].statuses["not checked"] == 1
    assert scores["operators"].statuses["not checked"] == 1


def test_each_run_rebuilds_which_tests_reach_which_function(mutants: Path) -> None:
    """A test map kept from an earlier run misses today's tests reaching a new function."""
    (mutants / "mutmut-stats.json").write_text(json.dumps({"tests_by_mangled_function_name": {}}))

    forget_test_map(mutants)

    assert not (mutants / "mutmut-stats.json").exists()
    assert (mutants / "airflow_provider_bio/core/plan.py.meta").exists()
    forget_test_map(mutants)  # nothing to forget: no error


def test_equivalents_file_gives_each_mutant_its_reason(tmp_path: Path) -> None:
    listing = tmp_path / "equivalent_mutants.txt"
    listing.write_text(f"# a comment\n\n{CORE}.x_a__mutmut_6   only the log message changes\n")

    assert read_equivalents(listing) == {f"{CORE}.x_a__mutmut_6": "only the log message changes"}


class FakeMutmut:
    """A mutmut process: ``waits`` are what successive ``wait()`` calls do (raise or return a code)."""

    def __init__(self, *waits: int | type[BaseException]) -> None:
        self.waits = list(waits)
        self.killed = False

    def __call__(self, command: list[str], cwd: Path) -> FakeMutmut:
        return self

    def wait(self) -> int:
        outcome = self.waits.pop(0)
        if isinstance(outcome, int):
            return outcome
        raise outcome()

    def kill(self) -> None:
        self.killed = True


def test_ctrl_c_waits_for_mutmut_to_save_its_verdicts_instead_of_killing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    process = FakeMutmut(KeyboardInterrupt, 0)
    monkeypatch.setattr(mutate.subprocess, "Popen", process)

    assert run_mutmut(["mutmut", "run"]) is True
    assert process.waits == [] and not process.killed


def test_a_failed_mutmut_run_is_an_error_not_a_report(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mutate.subprocess, "Popen", FakeMutmut(1))

    with pytest.raises(subprocess.CalledProcessError):
        run_mutmut(["mutmut", "run"])
    monkeypatch.setattr(mutate.subprocess, "Popen", FakeMutmut(0))
    assert run_mutmut(["mutmut", "run"]) is False
