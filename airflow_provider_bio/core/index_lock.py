"""A lock per bio-index: an S3 object with an owner and an expiry, taken with conditional writes.

``bioindex_compress`` and ``bioindex_decompress`` must never work on one index at once (a
restore racing a delete of the originals can lose both copies). Each run takes the lock of
every index it works on before its first write and checks it before every destructive step:

- the object ``_bioindex-locks/<prefix without its last "/">.lock`` in the index's own bucket,
  created only if absent (``PutObject`` with ``If-None-Match: *``), so two takers never both win;
- its owner is ``<dag_id>/<run_id>``: a retry or a clear of the same run takes it again as its
  own (and pushes its expiry on), any other run is refused naming the owner and the expiry;
- an expired lock (a crashed run) is taken over, conditional on its ETag (``If-Match``), so two
  runs taking it over at once cannot both win;
- released (deleted, conditional on its ETag) by its owner at the end of the run.

Lock objects end in ``.lock``, never ``.json``, so no plan takes them for index files. The lock
needs no set-up: a fresh install is safe without a manual step.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

LOCK_PREFIX = "_bioindex-locks/"
DEFAULT_TTL_SECONDS = 24 * 3600
#: Conditional write lost to another writer: read the lock again and decide again.
_RACE_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_ATTEMPTS = 5


class LockRefused(RuntimeError):
    """Another run holds the index's lock."""


def lock_key(prefix: str) -> str:
    """The lock object's key of the index with key prefix ``prefix``."""
    return f"{LOCK_PREFIX}{prefix.rstrip('/')}.lock"


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="seconds")


def _code(error: Exception) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))


class IndexLock:
    """Take, keep and release the locks of bio-indexes in one bucket for one owner.

    :param s3: a boto3 S3 client.
    :param bucket: the bucket the indexes are served from (the locks live there too).
    :param owner: ``<dag_id>/<run_id>`` of the run.
    :param ttl_seconds: how long a lock lasts unless its owner takes it again.
    :param clock: seconds since the epoch (for tests).
    :param log: where taking over and releasing are reported.
    """

    def __init__(
        self,
        s3: Any,
        bucket: str,
        owner: str,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
        log: Callable[..., None] = lambda *args: None,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be more than 0; got {ttl_seconds}")
        self.s3, self.bucket, self.owner = s3, bucket, owner
        self.ttl, self.clock, self.log = ttl_seconds, clock, log

    def _read(self, key: str) -> tuple[dict[str, Any] | None, str | None]:
        from botocore.exceptions import ClientError

        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if _code(error) in ("NoSuchKey", "404"):
                return None, None
            raise
        body = response["Body"].read()
        try:
            record = json.loads(body)
            if not isinstance(record, dict):
                raise ValueError
        except ValueError:
            record = {"owner": f"unreadable lock ({body[:80]!r})", "expires": float("inf")}
        return record, response["ETag"]

    def _write(self, key: str, index: str, prefix: str, **condition: str) -> bool:
        """Write this owner's lock under ``condition``; False when another writer won the race."""
        from botocore.exceptions import ClientError

        now = self.clock()
        record = {
            "owner": self.owner,
            "index": index,
            "prefix": prefix,
            "taken_at": _when(now),
            "expires": now + self.ttl,
            "expires_at": _when(now + self.ttl),
        }
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=json.dumps(record).encode(),
                ContentType="application/json",
                **condition,
            )
        except ClientError as error:
            if _code(error) in _RACE_CODES:
                return False
            raise
        return True

    def hold(self, index: str, prefix: str) -> None:
        """Make sure this owner holds the lock of one index: take it, take it again, or take over an expired one.

        :raises LockRefused: another run holds it and its lock has not expired.
        """
        key = lock_key(prefix)
        for _ in range(_ATTEMPTS):
            record, etag = self._read(key)
            if record is None:
                if self._write(key, index, prefix, IfNoneMatch="*"):
                    self.log("Took the lock of %s: s3://%s/%s", index, self.bucket, key)
                    return
                continue
            expires = float(record.get("expires", 0))
            now = self.clock()
            if record.get("owner") == self.owner:
                if expires - now > self.ttl / 2:
                    return  # ours, and long enough to go
                if self._write(key, index, prefix, IfMatch=etag or ""):
                    return
                continue
            if expires > now:
                raise LockRefused(
                    f"{index} ({prefix}) is locked by {record.get('owner')} until "
                    f"{record.get('expires_at', _when(expires) if expires != float('inf') else 'never')} "
                    f"(s3://{self.bucket}/{key}): a bioindex_compress or bioindex_decompress run is working on it; "
                    "wait for that run to finish, then trigger this one again"
                )
            if self._write(key, index, prefix, IfMatch=etag or ""):
                self.log(
                    "Took over the expired lock of %s from %s (expired %s)",
                    index,
                    record.get("owner"),
                    record.get("expires_at"),
                )
                return
        raise LockRefused(f"{index} ({prefix}): the lock s3://{self.bucket}/{key} kept changing; try again")

    def release(self, index: str, prefix: str) -> bool:
        """Delete the lock of one index if this owner holds it; True when it was released."""
        from botocore.exceptions import ClientError

        key = lock_key(prefix)
        record, etag = self._read(key)
        if record is None or record.get("owner") != self.owner:
            self.log("%s: no lock of this run to release (%s)", index, record.get("owner") if record else "no lock")
            return False
        try:
            self.s3.delete_object(Bucket=self.bucket, Key=key, IfMatch=etag or "")
        except ClientError as error:
            if _code(error) in _RACE_CODES:
                return False
            raise
        self.log("Released the lock of %s", index)
        return True
