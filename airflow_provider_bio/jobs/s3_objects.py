"""Streaming S3 writes that never leave a partial object visible (used by the BGZF worker).

Imports boto3 types only; the client is handed in, so the worker runs with whatever
credentials the container has (its task role), never a stored key.
"""

from __future__ import annotations

import math
import threading
from datetime import datetime
from typing import Any

#: S3's smallest part (except the last) is 5 MiB; 8 MiB keeps request counts low with flat memory.
MIN_PART_SIZE = 8 << 20
#: S3 accepts at most 10,000 parts per upload.
MAX_PARTS = 10_000


def part_size_for(expected_size: int) -> int:
    """Part size that keeps an object of about ``expected_size`` bytes under S3's part limit, with headroom."""
    return max(MIN_PART_SIZE, math.ceil(expected_size * 1.25 / (MAX_PARTS - 1)))


#: Multipart uploads started by this process and not yet completed or aborted: upload id -> (bucket, key).
_IN_FLIGHT: dict[str, tuple[str, str]] = {}
_IN_FLIGHT_LOCK = threading.Lock()
_STOPPING = threading.Event()


class Stopping(Exception):
    """The process is stopping (SIGTERM): no new upload or part is started."""


def abort_in_flight(s3: Any) -> list[tuple[str, str]]:
    """Stop starting uploads and abort every multipart upload of this process still open (on SIGTERM).

    :param s3: a boto3 S3 client.
    :return: the (bucket, key) of each upload aborted.
    """
    _STOPPING.set()
    with _IN_FLIGHT_LOCK:
        uploads = dict(_IN_FLIGHT)
        _IN_FLIGHT.clear()
    aborted = []
    for upload_id, (bucket, key) in uploads.items():
        try:
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            aborted.append((bucket, key))
        except Exception:  # best effort while stopping; the next run and the lifecycle rule catch the rest
            pass
    return aborted


def abort_stale_uploads(s3: Any, bucket: str, key: str, started_before: datetime) -> int:
    """Abort the incomplete multipart uploads of exactly ``key`` begun before ``started_before``.

    A worker killed mid-upload (SIGKILL, a lost host) leaves its upload open; the next run that
    writes the same key throws it away before writing. Uploads begun since ``started_before``
    (this run's own) are left alone.

    :param s3: a boto3 S3 client.
    :param bucket: the bucket.
    :param key: the key about to be written.
    :param started_before: when this run started (timezone-aware).
    :return: how many uploads were aborted.
    """
    aborted = 0
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket, Prefix=key):
        for upload in page.get("Uploads", []):
            if upload["Key"] != key or upload["Initiated"] >= started_before:
                continue
            with _IN_FLIGHT_LOCK:
                if upload["UploadId"] in _IN_FLIGHT:
                    continue
            s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
            aborted += 1
    return aborted


def etag_of(response: dict[str, Any]) -> str:
    """An object's ETag without its quotes."""
    return str(response["ETag"]).strip('"')


def quoted(etag: str) -> str:
    """An ETag as an ``If-Match`` header wants it."""
    return f'"{etag}"'


class ObjectWriter:
    """Write one S3 object from a stream of byte strings.

    Bytes are gathered into parts; an object that fits one part is sent with a single PutObject,
    anything larger through a multipart upload that is completed only by :meth:`close` and
    aborted by :meth:`abort`, so readers see the whole new object or the old one, never a piece.

    :param s3: a boto3 S3 client.
    :param bucket: destination bucket.
    :param key: destination key.
    :param part_size: bytes per part.
    :param if_none_match: write only if no object is at ``key`` (``If-None-Match: *``).
    :param if_match: write only if the object at ``key`` still has this ETag (``If-Match``).
        Either condition is checked by S3 when the object becomes visible (PutObject or
        CompleteMultipartUpload), so a writer that got there first is never replaced.
    :param object_arguments: passed to PutObject / CreateMultipartUpload (ContentType, Metadata, ...).
    """

    def __init__(
        self,
        s3: Any,
        bucket: str,
        key: str,
        part_size: int = MIN_PART_SIZE,
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
        **object_arguments: Any,
    ):
        if if_none_match and if_match:
            raise ValueError("if_none_match and if_match exclude each other")
        self._conditions: dict[str, str] = (
            {"IfNoneMatch": "*"} if if_none_match else {"IfMatch": quoted(if_match)} if if_match else {}
        )
        self._s3 = s3
        self._bucket = bucket
        self._key = key
        self._part_size = part_size
        self._object_arguments = object_arguments
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.size = 0

    def write(self, data: bytes) -> None:
        """Add bytes; a part is uploaded each time ``part_size`` bytes have gathered."""
        self._buffer += data
        self.size += len(data)
        if len(self._buffer) >= self._part_size:
            self._upload_part()

    def close(self) -> str:
        """Make the object visible; return its ETag."""
        if self._upload_id is None:
            response = self._s3.put_object(
                Bucket=self._bucket,
                Key=self._key,
                Body=bytes(self._buffer),
                **self._conditions,
                **self._object_arguments,
            )
            self._buffer.clear()
            return etag_of(response)
        if self._buffer:
            self._upload_part()
        response = self._s3.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
            **self._conditions,
        )
        self._forget()
        return etag_of(response)

    def abort(self) -> None:
        """Throw away the parts uploaded so far (after a failure); nothing becomes visible."""
        if self._upload_id is not None:
            upload_id = self._upload_id
            self._forget()
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=upload_id)
        self._buffer.clear()

    def _forget(self) -> None:
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT.pop(self._upload_id or "", None)
        self._upload_id = None

    def _upload_part(self) -> None:
        if _STOPPING.is_set():
            raise Stopping(f"stopping: s3://{self._bucket}/{self._key} not written")
        if self._upload_id is None:
            response = self._s3.create_multipart_upload(Bucket=self._bucket, Key=self._key, **self._object_arguments)
            self._upload_id = response["UploadId"]
            with _IN_FLIGHT_LOCK:
                _IN_FLIGHT[self._upload_id] = (self._bucket, self._key)
            if _STOPPING.is_set():  # SIGTERM's sweep ran while the upload was being created
                self.abort()
                raise Stopping(f"stopping: s3://{self._bucket}/{self._key} not written")
        number = len(self._parts) + 1
        response = self._s3.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=bytes(self._buffer)
        )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
        self._buffer.clear()
