"""Planning bio-index compression runs: the run conf, which indexes, and chunks of files by size.

The conf schema feeds the ``bioindex_compress``/``bioindex_decompress`` Params (the UI form
and the REST API reject bad conf at trigger time) and :func:`validate_conf`, which the plan
task runs again, with the checks that span fields, before any AWS call.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_bio.core.s3_sync import parse_s3_uri
from airflow_provider_bio.core.schema_patterns import whole

#: The worker's actions.
ACTIONS = ("compress", "verify", "delete-originals", "decompress")
#: Actions that delete objects (and so have a dry run).
DELETING_ACTIONS = ("delete-originals", "decompress")
#: Airflow's default ``max_map_length``: no plan may produce more mapped task instances.
MAX_CHUNKS = 1024
DEFAULT_CHUNK_GIB = 20.0
DEFAULT_CHUNK_FILES = 2000

_BUCKET = {"type": "string", "pattern": whole(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")}
_INDEX = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "prefix"],
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "prefix": {"type": "string", "minLength": 1, "pattern": whole(r"[^/\n].*/")},
    },
}
_GLOBS = {"type": "array", "items": {"type": "string", "minLength": 1}}

#: Field name -> (default, JSON schema, what a valid value looks like).
FIELDS: dict[str, tuple[Any, dict[str, Any], str]] = {
    "bucket": (None, _BUCKET, "the S3 bucket the bio-index reads, e.g. dig-bio-index"),
    "indexes": (
        [],
        {"type": "array", "minItems": 1, "items": _INDEX},
        'a non-empty list of {"name": index name, "prefix": "key/prefix/"} (prefixes end with "/")',
    ),
    "include": (["*"], _GLOBS, 'index-name patterns to take, e.g. ["gene*"] (default: all)'),
    "exclude": ([], _GLOBS, 'index-name patterns to leave out, e.g. ["*-test"]'),
    "chunk_gib": (
        DEFAULT_CHUNK_GIB,
        {"type": "number", "exclusiveMinimum": 0, "maximum": 1024},
        "GiB of files per Batch job, more than 0 and at most 1024",
    ),
    "dry_run": (False, {"type": "boolean"}, "true to list and plan only"),
}
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["bucket", "indexes"],
    "properties": {name: schema for name, (_, schema, _) in FIELDS.items()},
}


@dataclass(frozen=True)
class IndexTarget:
    """One bio-index: its name in ``__Indexes``, its key prefix, and the prefixes under it that are not its.

    ``exclude`` holds the prefixes of the other known indexes nested inside ``prefix`` that the
    run did not select: their files belong to them, and their flags say how they are read.
    """

    name: str
    prefix: str
    exclude: tuple[str, ...] = ()

    def owns(self, key: str) -> bool:
        """Whether ``key`` is one of this index's files (under its prefix, not under an excluded one)."""
        return key.startswith(self.prefix) and not key.startswith(self.exclude)

    def as_entry(self) -> dict[str, Any]:
        """The ``{"index", "prefix", "exclude"}`` object the marking and locking steps take."""
        return {"index": self.name, "prefix": self.prefix, "exclude": list(self.exclude)}


@dataclass(frozen=True)
class BioIndexConf:
    """A validated run conf."""

    bucket: str
    indexes: tuple[IndexTarget, ...]
    chunk_bytes: int
    dry_run: bool


def validate_conf(
    conf: Mapping[str, Any],
    *,
    work_location: str | None = None,
    known: Sequence[Mapping[str, str]] = (),
    served_bucket: str | None = None,
) -> BioIndexConf:
    """Check a run conf; select the indexes by include/exclude.

    Each chosen index leaves out the prefixes of the known indexes nested inside it that were
    not chosen (``IndexTarget.exclude``): their files are theirs, and their flags stay true.

    :param conf: the DAG run's conf (Params already merged in).
    :param work_location: ``s3://bucket/prefix/`` where manifests and reports go; it must not lie
        inside an index's prefix, or its ``.json`` files would be taken for the index's.
    :param known: every index the deployment knows (``{"name", "prefix"}`` each), besides the
        conf's own ``indexes``: a conf listing fewer indexes still leaves the others' files alone.
    :param served_bucket: the bucket the bio-index serves its files from (the deployment's
        ``bucket``); a conf naming another bucket is refused, since the flags this run sets
        describe the served bucket's files, not a copy's.
    :raises ValueError: naming each bad field and what a valid value looks like.
    """
    from jsonschema import Draft7Validator  # here, so the worker image needs no jsonschema

    errors = sorted(Draft7Validator(SCHEMA).iter_errors(dict(conf)), key=lambda error: list(error.path))
    if errors:
        problems = []
        for error in errors:
            field = error.path[0] if error.path else None
            if field in FIELDS:
                problems.append(f"{field}: {error.message}; expected {FIELDS[field][2]}")
            else:
                problems.append(f"{error.message}; allowed fields: {', '.join(FIELDS)}")
        raise ValueError("invalid conf: " + " | ".join(problems))
    values = {name: conf.get(name, default) for name, (default, _, _) in FIELDS.items()}
    indexes = [IndexTarget(entry["name"], entry["prefix"]) for entry in values["indexes"]]
    names = [index.name for index in indexes]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"indexes: names appear twice: {', '.join(duplicates)}; list each index once")
    if served_bucket is not None and values["bucket"] != served_bucket:
        raise ValueError(
            f"bucket: {values['bucket']} is not the bucket the bio-index serves its files from ({served_bucket}, "
            "the deployment's bucket in bioindex.json); its flags describe that bucket's files, so a run "
            f"against {values['bucket']} would mark indexes it did not change. Run against {served_bucket}, "
            "or run a deployment whose settings (BIOINDEX_CONFIG) name this bucket and its own bio-index"
        )
    chosen = select_indexes(indexes, values["include"], values["exclude"])
    for first in chosen:
        for second in chosen:
            if first is not second and second.prefix.startswith(first.prefix):
                raise ValueError(
                    f"indexes: prefix {second.prefix!r} of {second.name} lies inside {first.prefix!r} of {first.name}; "
                    "one run would handle its files twice: run them separately"
                )
    if work_location:
        work = parse_s3_uri(work_location, "work_location")
        inside = [
            index.name for index in chosen if work.bucket == values["bucket"] and work.prefix.startswith(index.prefix)
        ]
        if inside:
            raise ValueError(
                f"work_location {work_location} lies inside the prefix of {', '.join(inside)}: its manifests would "
                "be compressed as index files; move work_location outside every index prefix"
            )
    prefixes = {index.prefix for index in chosen}
    others = sorted({entry["prefix"] for entry in [*known, *values["indexes"]]} - prefixes)
    chosen = [
        IndexTarget(
            index.name, index.prefix, tuple(p for p in others if p != index.prefix and p.startswith(index.prefix))
        )
        for index in chosen
    ]
    return BioIndexConf(
        values["bucket"], tuple(chosen), math.ceil(values["chunk_gib"] * 2**30), bool(values["dry_run"])
    )


def select_indexes(indexes: Sequence[IndexTarget], include: Iterable[str], exclude: Iterable[str]) -> list[IndexTarget]:
    """The indexes whose name matches an include pattern and no exclude pattern, in the given order.

    :raises ValueError: nothing is selected (naming the indexes there are).
    """
    include, exclude = list(include), list(exclude)
    chosen = [
        index
        for index in indexes
        if any(fnmatch.fnmatchcase(index.name, pattern) for pattern in include)
        and not any(fnmatch.fnmatchcase(index.name, pattern) for pattern in exclude)
    ]
    if not chosen:
        raise ValueError(
            f"include {include} and exclude {exclude} select no index; the indexes are: "
            f"{', '.join(index.name for index in indexes)}"
        )
    return chosen


@dataclass(frozen=True)
class Chunk:
    """Files handled by one worker job."""

    index: str
    keys: tuple[str, ...]
    size: int

    def as_kwargs(self, number: int, count: int) -> dict[str, Any]:
        """Keyword arguments for one mapped BgzipBatchOperator, with its label."""
        return {
            "keys": list(self.keys),
            "chunk_label": f"{self.index} {number}/{count} · {len(self.keys)} files · {gib(self.size)}",
        }


def gib(size: int) -> str:
    """A byte count for a label, e.g. ``3.2 GiB`` or ``120 MiB``."""
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{math.ceil(size / 2**20)} MiB"


def plan_chunks(
    files: Sequence[tuple[str, str, int]],
    *,
    chunk_bytes: int,
    chunk_files: int = DEFAULT_CHUNK_FILES,
    max_chunks: int = MAX_CHUNKS,
) -> list[Chunk]:
    """Split ``(index, key, size)`` files into chunks of at most ``chunk_bytes`` and ``chunk_files``.

    Files stay in the given order and chunks never span two indexes. A file larger than
    ``chunk_bytes`` is a chunk of its own. When the limits would give more than ``max_chunks``
    chunks they are raised together until the plan fits, so no run exceeds Airflow's
    ``max_map_length``.

    :raises ValueError: the files span more indexes than ``max_chunks``.
    """
    runs = sum(1 for position, file in enumerate(files) if position == 0 or file[0] != files[position - 1][0])
    if runs > max_chunks:
        raise ValueError(
            f"{runs} indexes need at least {runs} chunks, more than {max_chunks}; run fewer indexes at once"
        )
    while True:
        chunks = _greedy(files, chunk_bytes, chunk_files)
        if len(chunks) <= max_chunks:
            return chunks
        chunk_bytes, chunk_files = chunk_bytes * 2, chunk_files * 2


def _greedy(files: Sequence[tuple[str, str, int]], chunk_bytes: int, chunk_files: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    index, keys, size = "", [], 0
    for file_index, key, file_size in files:
        if keys and (file_index != index or size + file_size > chunk_bytes or len(keys) >= chunk_files):
            chunks.append(Chunk(index, tuple(keys), size))
            keys, size = [], 0
        index = file_index
        keys.append(key)
        size += file_size
    if keys:
        chunks.append(Chunk(index, tuple(keys), size))
    return chunks


def check_keys(keys: Any, source: str) -> list[str]:
    """Validate a chunk's keys: a list of originals (``.json`` files, not their ``.gz``/``.gzi``).

    :param keys: the keys (e.g. a parsed manifest).
    :param source: where they came from, for the error message.
    :raises ValueError: naming the problem and the fix.
    """
    if not isinstance(keys, list) or not all(isinstance(key, str) and key for key in keys):
        raise ValueError(f"{source} must be a JSON list of object keys (strings)")
    compressed = [key for key in keys if key.endswith((".gz", ".gzi"))]
    if compressed:
        raise ValueError(
            f"{source} lists compressed objects ({compressed[0]!r}...); list the originals' keys "
            "(e.g. data/part-0001.json), the worker finds <key>.gz and <key>.gz.gzi itself"
        )
    return keys


def check_worker_options(
    action: str,
    *,
    level: int,
    workers: int,
    threads: int | None,
    keep_compressed: bool,
    dry_run: bool,
    spelled: Callable[[str], str] = lambda name: name,
) -> None:
    """Refuse worker options that make no sense together; shared by the command line and the operator.

    :param spelled: how the caller names an option in messages (``keep_compressed`` or ``--keep-compressed``).
    :raises ValueError: naming the option and what it accepts.
    """
    from airflow_provider_bio.core.bgzf import libdeflate_level

    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}; got {action!r}")
    libdeflate_level(level)
    if workers < 1 or (threads is not None and threads < 1):
        raise ValueError(f"{spelled('workers')} and {spelled('threads')} must be at least 1")
    if keep_compressed and action != "decompress":
        raise ValueError(f"{spelled('keep_compressed')} applies to decompress only")
    if dry_run and action not in DELETING_ACTIONS:
        raise ValueError(f"{spelled('dry_run')} applies to {' and '.join(DELETING_ACTIONS)} only")
