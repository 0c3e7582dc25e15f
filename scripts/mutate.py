"""``make mutate``: mutation testing of ``core/``, ``hooks/`` and ``operators/`` with mutmut.

mutmut plants one small bug at a time (a flipped comparison, a changed constant, a dropped
argument) and runs the unit tests that cover the changed function. A mutant no test notices
"survives": a bug of that shape would go unnoticed too.

Usage::

    python -m scripts.mutate                 # every module of the three packages
    python -m scripts.mutate --since main    # only the modules changed since a git ref
    python -m scripts.mutate airflow_provider_bio/core/s3_sync.py ...

Results are kept in ``mutants/`` between runs. A run of every module keeps the kills of unchanged
functions and tries every other verdict again against today's tests; a run naming modules tries
all their mutants again (mutmut re-runs every mutant it is given by name). The report,
``mutants/report.md``, lists each surviving mutant with its diff and gives the kill rate per
package. Timeouts count as killed (the tests noticed). Mutants named in
``scripts/equivalent_mutants.txt`` (equivalent mutants: they cannot change behaviour, each with
its reason) are left out of the rate and listed by name. The exit status is 1 when a package is
below its target, so the command can gate a change.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_bio"
TARGETS = {"core": 0.90, "hooks": 0.80, "operators": 0.80}
EQUIVALENTS = REPO / "scripts" / "equivalent_mutants.txt"
REPORT = REPO / "mutants" / "report.md"
KILLED = {"killed", "timeout", "caught by type check"}


@dataclass
class PackageScore:
    """Mutant counts of one package.

    :param name: the package's folder name under ``airflow_provider_bio``.
    """

    name: str
    statuses: Counter[str] = field(default_factory=Counter)
    survivors: list[str] = field(default_factory=list)
    equivalent: list[str] = field(default_factory=list)

    @property
    def killed(self) -> int:
        return sum(self.statuses[s] for s in KILLED)

    @property
    def scored(self) -> int:
        """Mutants that count: every tested one except the named equivalents."""
        return sum(self.statuses.values()) - len(self.equivalent) - self.statuses["not checked"]

    @property
    def rate(self) -> float | None:
        """Killed over scored mutants; ``None`` when none of the package's mutants has run."""
        return self.killed / self.scored if self.scored else None

    @property
    def rate_text(self) -> str:
        return "not run" if self.rate is None else f"{self.rate:.1%}"


def read_equivalents(path: Path = EQUIVALENTS) -> dict[str, str]:
    """Mutant names with the reason each cannot change behaviour.

    :param path: a text file of ``<mutant name>  <reason>`` lines; ``#`` starts a comment line.
    """
    equivalents = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, reason = line.strip().partition(" ")
            equivalents[name] = reason.strip()
    return equivalents


def module_globs(paths: list[str]) -> list[str]:
    """mutmut's mutant-name patterns for source files (``a/b/c.py`` -> ``a.b.c.*``).

    :param paths: source files under the three mutated packages; others are ignored.
    """
    globs = []
    for path in paths:
        parts = Path(path).with_suffix("").parts
        if len(parts) == 3 and parts[0] == PACKAGE and parts[1] in TARGETS and parts[2] != "__init__":
            globs.append(".".join(parts) + ".*")
    return globs


def changed_since(ref: str) -> list[str]:
    """Source files changed since a git ref, committed or not, plus new untracked ones.

    :param ref: a git ref such as ``main`` or ``HEAD~3``.
    """
    roots = [f"{PACKAGE}/{package}" for package in TARGETS]
    changed = subprocess.run(
        ["git", "diff", "--name-only", ref, "--", *roots], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    untracked = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "--", *roots],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted(set(changed + untracked))


def read_scores(equivalents: dict[str, str], mutants: Path = REPO / "mutants") -> dict[str, PackageScore]:
    """Per-package counts from the results mutmut keeps beside each mutated module.

    :param equivalents: mutant names left out of the rate.
    :param mutants: mutmut's working folder.
    """
    from mutmut.stats import status_by_exit_code

    scores = {name: PackageScore(name) for name in TARGETS}
    for meta in sorted((mutants / PACKAGE).glob("*/*.py.meta")):
        score = scores.get(meta.parent.name)
        if score is None:
            continue
        for mutant, exit_code in json.loads(meta.read_text())["exit_code_by_key"].items():
            status = status_by_exit_code[exit_code]
            score.statuses[status] += 1
            if status in KILLED or status == "not checked":
                continue
            if mutant in equivalents:
                score.equivalent.append(mutant)
            else:
                score.survivors.append(mutant)
    return scores


def mutant_diff(mutant: str) -> str:
    """The source change a mutant makes, as a unified diff."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    return get_diff_for_mutant(mutant)


def render_report(scores: dict[str, PackageScore], equivalents: dict[str, str]) -> str:
    """Markdown: the kill rate per package, then every survivor with its diff, then the equivalents."""
    lines = [
        "# Mutation testing",
        "",
        "| package | mutants run | killed | survived | no tests | equivalent | not run | kill rate | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for score in scores.values():
        lines.append(
            f"| {score.name} | {score.scored + len(score.equivalent)} | {score.killed} | {score.statuses['survived']} "
            f"| {score.statuses['no tests']} | {len(score.equivalent)} | {score.statuses['not checked']} "
            f"| {score.rate_text} | {TARGETS[score.name]:.0%} |"
        )
    for score in scores.values():
        if score.survivors:
            lines += ["", f"## Surviving mutants in {score.name}/", ""]
            for mutant in score.survivors:
                lines += [f"### {mutant}", "", "```diff", mutant_diff(mutant), "```", ""]
    lines += ["", "## Equivalent mutants (left out of the rate)", ""]
    lines += [f"- `{name}`: {reason}" for name, reason in equivalents.items()]
    return "\n".join(lines) + "\n"


def retest_unkilled(globs: list[str], mutants: Path = REPO / "mutants") -> None:
    """Forget every verdict but a kill among the mutants about to run, so they are tried against today's tests.

    mutmut keeps a verdict until the mutated function changes; a survivor would otherwise stay
    a survivor after the test that kills it is written. Mutants of modules not in this run keep
    their verdicts: a run of one module leaves the report's other survivors listed.

    :param globs: mutmut's name patterns for this run (see :func:`module_globs`); empty for all.
    :param mutants: mutmut's working folder.
    """
    from mutmut.stats import status_by_exit_code

    for meta in (mutants / PACKAGE).glob("*/*.py.meta"):
        data = json.loads(meta.read_text())
        verdicts = data["exit_code_by_key"]
        for mutant, exit_code in verdicts.items():
            in_run = not globs or any(fnmatch.fnmatchcase(mutant, glob) for glob in globs)
            if in_run and status_by_exit_code[exit_code] not in KILLED:
                verdicts[mutant] = None
        meta.write_text(json.dumps(data))


def forget_test_map(mutants: Path = REPO / "mutants") -> None:
    """Drop mutmut's map of which tests reach which function, so this run rebuilds it from today's tests.

    mutmut otherwise re-traces only tests it has not seen: a function that is new or newly
    called keeps the tests recorded before, and its mutants run against too few tests (they
    survive, or count as untested, though the suite catches them). Rebuilding costs one traced
    run of the unit tests.

    :param mutants: mutmut's working folder.
    """
    (mutants / "mutmut-stats.json").unlink(missing_ok=True)


def run_mutmut(command: list[str]) -> bool:
    """Run mutmut to the end, or until Ctrl-C; True when it was interrupted.

    Ctrl-C reaches mutmut too, which stops its workers and keeps every verdict reached so far;
    this waits for it instead of killing it, so the report still covers what ran.

    :param command: the ``mutmut run`` command line.
    """
    process = subprocess.Popen(command, cwd=REPO)
    try:
        returncode = process.wait()
    except KeyboardInterrupt:
        process.wait()
        return True
    if returncode:
        raise subprocess.CalledProcessError(returncode, command)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", help="source files to mutate (default: all three packages)")
    parser.add_argument("--since", help="mutate only the modules changed since this git ref")
    args = parser.parse_args(argv)

    paths = changed_since(args.since) if args.since else args.paths
    globs = module_globs(paths)
    if (args.since or args.paths) and not globs:
        print("no module of core/, hooks/ or operators/ to mutate")
        return 0
    retest_unkilled(globs)
    forget_test_map()
    mutmut = [str(Path(sys.executable).with_name("mutmut")), "run", *globs]
    interrupted = run_mutmut(mutmut)

    equivalents = read_equivalents()
    scores = read_scores(equivalents)
    REPORT.write_text(render_report(scores, equivalents))
    below = []
    for score in scores.values():
        print(
            f"{score.name:10} kill rate {score.rate_text:>7} ({score.killed} of {score.scored}; "
            f"{len(score.survivors)} survivors, {len(score.equivalent)} equivalent, "
            f"{score.statuses['not checked']} not run)"
        )
        if score.rate is not None and score.rate < TARGETS[score.name]:
            below.append(score.name)
    print(f"report: {REPORT.relative_to(REPO)}")
    if interrupted:
        print("interrupted: the figures cover only the mutants run so far")
    if below:
        print(f"below target: {', '.join(below)}")
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
