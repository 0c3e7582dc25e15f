"""The ``batch_index_taxons`` run configuration: its JSON schema and the checks that span fields.

The same schema feeds the DAG's Params (so the UI form and the REST API reject bad conf at
trigger time) and :func:`validate_conf`, which the plan task runs before any AWS call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft7Validator

from airflow_provider_bio.core.schema_patterns import whole

#: Upper bound of ``concurrency``: each in-flight invocation holds one worker thread and one HTTP
#: connection for up to the Lambda's 900 s, and AWS accounts start with 1,000 concurrent Lambda
#: executions shared by every function.
MAX_CONCURRENCY = 200
DEFAULT_CONCURRENCY = 20
DEFAULT_CHUNK_SIZE = 1000
MAX_CHUNK_SIZE = 100_000


_POSITIVE_IDS = {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 1}}
JOB_PARAMS_ITEM = {
    "type": "object",
    "additionalProperties": False,
    "required": ["background_ids", "pipeline_run_ids"],
    "properties": {"background_ids": _POSITIVE_IDS, "pipeline_run_ids": _POSITIVE_IDS},
}
_INDEX_NAME = {"type": ["string", "null"], "pattern": whole(r"[a-z0-9][a-z0-9._-]*"), "maxLength": 200}
#: Fields whose schema type is ``integer``: JSON schema counts 4.0 as the integer 4, so they are
#: turned into ints once valid (``range``, slicing and thread pools refuse floats).
INTEGER_FIELDS = ("concurrency", "chunk_size")

#: Field name -> (default, JSON schema, what a valid value looks like).
FIELDS: dict[str, tuple[Any, dict[str, Any], str]] = {
    "job_params": (
        None,
        # [] is "not given": it is what the trigger form's list editor leaves once touched.
        {"type": ["array", "null"], "items": JOB_PARAMS_ITEM},
        'a non-empty list of {"background_ids": [positive int, ...], "pipeline_run_ids": [positive int, ...]}',
    ),
    "input_s3_uri": (
        None,
        {"type": ["string", "null"], "pattern": whole(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/\S+")},
        "an s3://bucket/key URI of an input file in the Glue job's JSON format",
    ),
    "concurrency": (
        DEFAULT_CONCURRENCY,
        {"type": "integer", "minimum": 1, "maximum": MAX_CONCURRENCY},
        f"an integer from 1 to {MAX_CONCURRENCY}: Lambda invocations in flight at once for the run",
    ),
    "chunk_size": (
        DEFAULT_CHUNK_SIZE,
        {"type": "integer", "minimum": 1, "maximum": MAX_CHUNK_SIZE},
        f"an integer from 1 to {MAX_CHUNK_SIZE}: pairs per mapped chunk (raised if chunks would exceed 1024)",
    ),
    "lambda_function_name": (
        None,
        {"type": "string", "pattern": whole(r"[A-Za-z0-9_:.-]{1,170}")},
        "the taxon-indexing Lambda's name or ARN, e.g. taxon-indexing-lambda-sandbox-index_taxons",
    ),
    "scored_taxon_counts_index_name": (
        None,
        _INDEX_NAME,
        "a lowercase index or alias name; leave empty for the Lambda's default",
    ),
    "pipeline_runs_index_name": (
        None,
        _INDEX_NAME,
        "a lowercase index or alias name; leave empty for the Lambda's default",
    ),
    "create_indexes": (
        False,
        {"type": "boolean"},
        "true to create scored_taxon_counts-<index_suffix> and pipeline_runs-<index_suffix> first",
    ),
    "index_suffix": (
        None,
        {"type": ["string", "null"], "pattern": whole(r"[a-z0-9][a-z0-9_-]{0,63}")},
        "a lowercase suffix such as v6, naming the fresh indexes",
    ),
    "swap_aliases": (
        False,
        {"type": "boolean"},
        "true to point the scored_taxon_counts and pipeline_runs aliases at the fresh indexes at the end",
    ),
}

CONF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {name: schema for name, (_, schema, _) in FIELDS.items()},
    "required": ["lambda_function_name"],
}
INPUT_FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["job_params"],
    "properties": {
        "job_params": {"type": "array", "minItems": 1, "items": JOB_PARAMS_ITEM},
        "concurrency": {"type": "integer", "minimum": 1},
        "skip": {"type": "array", "items": {"type": "integer", "minimum": 0}},
    },
}
INDEX_PREFIXES = ("scored_taxon_counts", "pipeline_runs")


class ConfError(ValueError):
    """A run configuration that cannot be used; the message names each bad field and the fix."""


@dataclass(frozen=True)
class TaxonIndexConf:
    """A validated run configuration (see :data:`FIELDS` for each field's meaning)."""

    lambda_function_name: str
    concurrency: int
    chunk_size: int
    job_params: list[dict[str, list[int]]] | None = None
    input_s3_uri: str | None = None
    scored_taxon_counts_index_name: str | None = None
    pipeline_runs_index_name: str | None = None
    create_indexes: bool = False
    index_suffix: str | None = None
    swap_aliases: bool = False

    @property
    def fresh_indexes(self) -> dict[str, str]:
        """Alias -> the suffixed index this run fills, when ``index_suffix`` is set."""
        if not self.index_suffix:
            return {}
        return {prefix: f"{prefix}-{self.index_suffix}" for prefix in INDEX_PREFIXES}


def _problems(validator: Draft7Validator, document: Any, where: str) -> list[str]:
    problems = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        field = f"{where}{path}".lstrip(".") or where or "conf"
        top = next((p for p in error.absolute_path if isinstance(p, str)), None)
        if error.validator == "additionalProperties" and not path:
            unknown = sorted(set(document) - set(error.schema.get("properties", {})))
            problems.append(f"{field}: unknown field(s) {unknown}; remove them (known: {sorted(FIELDS)})")
            continue
        hint = FIELDS[top][2] if where == "" and top in FIELDS else None
        problems.append(f"{field}: {error.message}" + (f"; expected {hint}" if hint else ""))
    return problems


def validate_conf(conf: Mapping[str, Any]) -> TaxonIndexConf:
    """Check a run's conf (Params merged with the trigger's conf) and return it typed.

    :param conf: the run's parameters.
    :raises ConfError: naming every bad field and what a good value looks like.
    """
    values = {name: default for name, (default, _, _) in FIELDS.items()} | dict(conf)
    if values["job_params"] == []:
        values["job_params"] = None
    problems = _problems(Draft7Validator(CONF_SCHEMA), values, "")
    if not problems:
        if (values["job_params"] is None) == (values["input_s3_uri"] is None):
            problems.append("job_params / input_s3_uri: give exactly one of them (the pairs, or a file of them)")
        suffix = values["index_suffix"]
        for flag in ("create_indexes", "swap_aliases"):
            if values[flag] and not suffix:
                problems.append(f"{flag}: needs index_suffix (e.g. v6) to name the fresh indexes")
        if suffix:
            for prefix in INDEX_PREFIXES:
                field = f"{prefix}_index_name"
                if values[field] not in (None, f"{prefix}-{suffix}"):
                    problems.append(
                        f"{field}: {values[field]!r} differs from {prefix}-{suffix} that index_suffix "
                        "names; leave it empty or drop index_suffix"
                    )
    if problems:
        raise ConfError("Invalid batch_index_taxons conf:\n- " + "\n- ".join(problems))
    if suffix:
        for prefix in INDEX_PREFIXES:
            values[f"{prefix}_index_name"] = f"{prefix}-{suffix}"
    for name in INTEGER_FIELDS:
        values[name] = int(values[name])
    if values["job_params"] is not None:
        values["job_params"] = _int_ids(values["job_params"])
    return TaxonIndexConf(**values)


def _int_ids(job_params: list[dict[str, list[Any]]]) -> list[dict[str, list[int]]]:
    """Valid ``job_params`` with their ids as ints (JSON schema takes 3.0 for the integer 3)."""
    return [{key: [int(i) for i in ids] for key, ids in item.items()} for item in job_params]


def parse_input_file(text: str, uri: str) -> tuple[list[dict[str, list[int]]], list[str]]:
    """Read an input file in the Glue job's format: ``{"job_params": [...], "concurrency", "skip"}``.

    :param text: the file's content.
    :param uri: where it came from, for messages.
    :return: the ``job_params`` and warnings about fields this DAG does not use.
    :raises ConfError: when the file is not JSON or its ``job_params`` are invalid.
    """
    try:
        document = json.loads(text)
    except ValueError as err:
        raise ConfError(f"input_s3_uri: {uri} is not JSON ({err}); fix the file or pass job_params") from err
    problems = _problems(Draft7Validator(INPUT_FILE_SCHEMA), document, f"input_s3_uri file {uri}")
    if problems:
        raise ConfError("Invalid input file:\n- " + "\n- ".join(problems))
    warnings = []
    if document.get("skip"):
        warnings.append(
            f"{uri}: 'skip' is ignored; confirmed pairs are remembered per chunk, so retrying or "
            "clearing a failed chunk replaces skip arrays"
        )
    if "concurrency" in document:
        warnings.append(f"{uri}: 'concurrency' is ignored; the run's concurrency conf applies")
    return _int_ids(document["job_params"]), warnings
