"""The ``aws s3 sync`` planner: a merge of two key-ordered listings into copy, delete and skip steps.

S3 lists keys in UTF-8 byte order, which for valid strings is Python's code point order, so
both listings arrive sorted and the plan is one pass over them: memory stays flat whatever the
number of keys. The rules follow the AWS CLI's ``sync``:

- an object is copied when the destination lacks it, when the sizes differ, or when the source
  is newer than the destination copy (``size_only`` drops the time rule; ``exact_timestamps``
  only changes downloads, as in the CLI, so it has no effect between buckets);
- filters are ``("exclude" | "include", pattern)`` pairs matched with shell patterns against the
  key relative to the sync root; later filters win; everything is included by default; they
  apply to both sides, so an excluded destination object is never deleted;
- with ``delete``, destination objects that have no source counterpart are deleted.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase

COPY = "copy"
DELETE = "delete"
SKIP = "skip"
FILTER_KINDS = ("include", "exclude")
_S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:/(?P<prefix>.*))?$")


@dataclass(frozen=True, slots=True)
class S3Object:
    """One listed object.

    :param key: the key relative to the sync root (the URI's prefix).
    :param size: bytes.
    :param last_modified: when S3 last wrote it (timezone-aware).
    """

    key: str
    size: int
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class Step:
    """One planned step for a relative key.

    :param action: ``copy``, ``delete`` or ``skip``.
    :param key: the key relative to both sync roots.
    :param obj: the source object for a copy or a skip, the destination object for a delete.
    :param reason: why: ``missing``, ``size``, ``newer``, ``unchanged`` or ``no source``.
    """

    action: str
    key: str
    obj: S3Object
    reason: str


@dataclass(frozen=True)
class S3Location:
    """A parsed ``s3://bucket/prefix`` sync root; ``prefix`` is empty or ends with ``/``."""

    bucket: str
    prefix: str

    @property
    def uri(self) -> str:
        """The location as an ``s3://`` URI."""
        return f"s3://{self.bucket}/{self.prefix}"

    def contains(self, other: S3Location) -> bool:
        """True when ``other`` lies inside this location (same bucket, prefix under this one)."""
        return self.bucket == other.bucket and other.prefix.startswith(self.prefix)


def has_control_character(key: str) -> bool:
    """Whether ``key`` holds a C0 control character or DEL, which S3's XML bodies cannot carry as they are."""
    return any(ord(character) < 0x20 or ord(character) == 0x7F for character in key)


def parse_s3_uri(uri: str, field: str) -> S3Location:
    """Parse a sync root the way the CLI reads it: the prefix is a folder, so it ends with ``/``.

    :param uri: ``s3://bucket`` or ``s3://bucket/prefix``.
    :param field: the argument's name, for the error message.
    :raises ValueError: naming ``field`` when the URI is not an S3 bucket URI.
    """
    match = _S3_URI.match(str(uri))
    if not match:
        raise ValueError(f"{field}: {uri!r} is not an s3://bucket[/prefix] URI (bucket names are lowercase)")
    prefix = match["prefix"] or ""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return S3Location(match["bucket"], prefix)


def check_filters(filters: Sequence[Sequence[str]]) -> list[tuple[str, str]]:
    """Validate ``[(kind, pattern), ...]`` filters, returning them as tuples.

    :raises ValueError: naming the bad entry.
    """
    checked = []
    for index, entry in enumerate(filters):
        if len(entry) != 2 or entry[0] not in FILTER_KINDS or not isinstance(entry[1], str) or not entry[1]:
            raise ValueError(
                f"filters[{index}]: {entry!r} must be a pair like ('exclude', '*.tmp') with kind include or exclude"
            )
        checked.append((entry[0], entry[1]))
    return checked


def included(key: str, filters: Sequence[tuple[str, str]]) -> bool:
    """Apply filters to a relative key: the last matching filter decides; included by default."""
    verdict = True
    for kind, pattern in filters:
        if fnmatchcase(key, pattern):
            verdict = kind == "include"
    return verdict


def _needs_copy(source: S3Object, destination: S3Object, size_only: bool) -> str | None:
    if source.size != destination.size:
        return "size"
    if not size_only and source.last_modified > destination.last_modified:
        return "newer"
    return None


def plan_sync(
    source: Iterable[S3Object],
    destination: Iterable[S3Object],
    *,
    delete: bool = False,
    size_only: bool = False,
    filters: Sequence[tuple[str, str]] = (),
) -> Iterator[Step]:
    """Merge two key-ordered listings into steps, one per relative key, in key order.

    :param source: the source objects, sorted by key.
    :param destination: the destination objects, sorted by key.
    :param delete: plan deletes for destination objects with no source counterpart.
    :param size_only: copy only when sizes differ (or the destination lacks the object).
    :param filters: ``(kind, pattern)`` pairs, see the module docstring.
    :raises ValueError: when a listing is out of order (the merge would be wrong).
    """
    sources = _ordered((o for o in source if included(o.key, filters)), "source")
    destinations = _ordered((o for o in destination if included(o.key, filters)), "destination")
    src = next(sources, None)
    dst = next(destinations, None)
    while src is not None or dst is not None:
        if dst is None or (src is not None and src.key < dst.key):
            yield Step(COPY, src.key, src, "missing")
            src = next(sources, None)
        elif src is None or dst.key < src.key:
            if delete:
                yield Step(DELETE, dst.key, dst, "no source")
            dst = next(destinations, None)
        else:
            reason = _needs_copy(src, dst, size_only)
            yield Step(COPY, src.key, src, reason) if reason else Step(SKIP, src.key, src, "unchanged")
            src = next(sources, None)
            dst = next(destinations, None)


def _ordered(objects: Iterable[S3Object], side: str) -> Iterator[S3Object]:
    previous = None
    for obj in objects:
        if previous is not None and obj.key <= previous:
            raise ValueError(f"{side} listing is not in key order: {previous!r} then {obj.key!r}")
        previous = obj.key
        yield obj


class SpooledPlan:
    """A plan listed once and kept on disk, so a delete sync decides and deletes from one listing.

    Iterating spools every step to a temporary file while counting what the safety rules need;
    iterating again reads the same steps back. Memory stays flat; the disk holds about 100
    bytes a key.

    :param steps: the plan, as :func:`plan_sync` yields it.
    """

    def __init__(self, steps: Iterable[Step]) -> None:
        self.sources = self.deletes = self.destination_objects = 0
        self._file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (closed with the plan)
        for step in steps:
            if step.action == DELETE:
                self.deletes += 1
                self.destination_objects += 1
            else:
                self.sources += 1
                self.destination_objects += step.reason != "missing"
            obj = step.obj
            row = [step.action, step.key, step.reason, obj.key, obj.size, obj.last_modified.isoformat()]
            self._file.write(json.dumps(row) + "\n")

    def __iter__(self) -> Iterator[Step]:
        self._file.seek(0)
        for line in self._file:
            action, key, reason, obj_key, size, modified = json.loads(line)
            yield Step(action, key, S3Object(obj_key, size, datetime.fromisoformat(modified)), reason)

    def __enter__(self) -> SpooledPlan:
        return self

    def __exit__(self, *_: object) -> None:
        self._file.close()

    def delete_refusal(
        self, source_uri: str, destination_uri: str, *, allow_empty_source: bool, max_delete_fraction: float
    ) -> str | None:
        """Why a delete sync of this plan must not run, or ``None`` when it may."""
        if self.sources == 0 and not allow_empty_source:
            return (
                f"source {source_uri} lists no objects (after filters): a delete sync would empty "
                f"{destination_uri}; pass allow_empty_source=True if that is intended"
            )
        if self.deletes > max_delete_fraction * self.destination_objects:
            return (
                f"the sync would delete {self.deletes} of {self.destination_objects} objects in {destination_uri}, "
                f"over max_delete_fraction={max_delete_fraction}; check the roots, or raise max_delete_fraction"
            )
        return None
