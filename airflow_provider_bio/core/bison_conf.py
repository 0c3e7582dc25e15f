"""The ``bison_monthly`` run configuration: its JSON schema, defaults and the resolved run plan.

The same schema feeds the DAG's Params (the trigger form and the REST API reject bad conf at
trigger time) and :func:`validate_conf`, which the first task runs before any AWS call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from jsonschema import Draft7Validator

from airflow_provider_bio.core.schema_patterns import whole

GBIF_OPEN_DATA = "s3://gbif-open-data-us-east-1/occurrence/{snapshot}/occurrence.parquet/"
#: Where subset, annotate and aggregate run. ``local``: DuckDB and in-process annotation.
ENGINES = ("local",)
_S3_PREFIX = whole(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?")

#: Field name -> (default, JSON schema, what a valid value looks like).
FIELDS: dict[str, tuple[Any, dict[str, Any], str]] = {
    "snapshot": (
        None,
        {"type": ["string", "null"], "pattern": whole(r"\d{4}-(0[1-9]|1[0-2])-01")},
        "a GBIF snapshot date YYYY-MM-01; empty for the run's month",
    ),
    "gbif_uri": (
        GBIF_OPEN_DATA,
        {"type": "string", "pattern": _S3_PREFIX},
        "the snapshot's s3:// parquet prefix; {snapshot} is replaced by the snapshot date",
    ),
    "output_uri": (
        None,
        {"type": ["string", "null"], "pattern": _S3_PREFIX},
        "the project's s3://bucket/prefix; each snapshot's outputs go under {output_uri}/{snapshot}/",
    ),
    "engine": (
        "local",
        {"type": "string", "enum": list(ENGINES)},
        "local (DuckDB and in-process annotation)",
    ),
    "chunk_mib": (
        512,
        {"type": "integer", "minimum": 1, "maximum": 65536},
        "an integer from 1 to 65536: MiB of subset parquet per mapped annotate task",
    ),
    "keep_snapshots": (
        3,
        {"type": "integer", "minimum": 1, "maximum": 120},
        "an integer from 1 to 120: snapshots whose outputs are kept; older ones are deleted after this run's summaries",
    ),
    "dry_run": (
        False,
        {"type": "boolean"},
        "true to report what the run would read and write, and write nothing",
    ),
}
CONF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {name: schema for name, (_, schema, _) in FIELDS.items()},
}


class ConfError(ValueError):
    """A run configuration that cannot be used; the message names each bad field and the fix."""


@dataclass(frozen=True)
class BisonRun:
    """One run's resolved configuration.

    :param snapshot: the GBIF snapshot date, ``YYYY-MM-01``.
    :param gbif_uri: the snapshot's parquet prefix (``{snapshot}`` replaced).
    :param output_uri: the project prefix, without a trailing slash.
    :param engine: ``local``.
    :param chunk_mib: MiB of subset parquet per annotate task.
    :param keep_snapshots: snapshots whose outputs are kept.
    :param dry_run: write nothing.
    """

    snapshot: str
    gbif_uri: str
    output_uri: str
    engine: str
    chunk_mib: int
    keep_snapshots: int
    dry_run: bool

    def under(self, *parts: str) -> str:
        """A URI under this snapshot's outputs, e.g. ``under("subset")`` -> ``.../2024-02-01/subset/``."""
        return "/".join([self.output_uri, self.snapshot, *parts]) + "/"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def snapshot_of(day: date) -> str:
    """The snapshot of ``day``'s month: GBIF publishes one on the 1st."""
    return f"{day.year:04d}-{day.month:02d}-01"


def validate_conf(conf: Mapping[str, Any], run_day: date) -> BisonRun:
    """Check a run's conf (Params merged with the trigger's conf) and resolve it.

    :param conf: the run's parameters.
    :param run_day: the run's logical date, whose month is the default snapshot.
    :raises ConfError: naming every bad field and what a good value looks like.
    """
    values = {name: default for name, (default, _, _) in FIELDS.items()} | dict(conf)
    problems = []
    for error in sorted(Draft7Validator(CONF_SCHEMA).iter_errors(values), key=lambda e: list(map(str, e.path))):
        field = ".".join(map(str, error.path))
        if field in FIELDS:
            problems.append(f"{field}: {error.message}; expected {FIELDS[field][2]}")
        else:
            unknown = sorted(set(values) - set(FIELDS))
            problems.append(f"unknown field(s) {unknown}; remove them (known: {', '.join(FIELDS)})")
    if values.get("output_uri") is None:
        problems.append(f"output_uri: is required; expected {FIELDS['output_uri'][2]}")
    if problems:
        raise ConfError("Invalid bison_monthly conf:\n- " + "\n- ".join(problems))
    snapshot = values["snapshot"] or snapshot_of(run_day)
    gbif_uri = values["gbif_uri"].replace("{snapshot}", snapshot)
    if re.search(r"[{}]", gbif_uri):
        raise ConfError(
            f"Invalid bison_monthly conf:\n- gbif_uri: {gbif_uri!r} has a placeholder other than {{snapshot}}"
        )
    return BisonRun(
        snapshot=snapshot,
        gbif_uri=gbif_uri.rstrip("/") + "/",
        output_uri=values["output_uri"].rstrip("/"),
        engine=values["engine"],
        chunk_mib=int(values["chunk_mib"]),
        keep_snapshots=int(values["keep_snapshots"]),
        dry_run=bool(values["dry_run"]),
    )
