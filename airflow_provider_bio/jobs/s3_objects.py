"""Streaming S3 writes that never leave a partial object visible (used by the BGZF worker).

Imports boto3 types only; the client is handed in, so the worker runs with whatever
credentials the container has (its task role), never a stored key.
"""

from __future__ import annotations

import math
from typing import Any

#: S3's smallest part (except the last) is 5 MiB; 8 MiB keeps request counts low with flat memory.
MIN_PART_SIZE = 8 << 20
#: S3 accepts at most 10,000 parts per upload.
MAX_PARTS = 10_000


def part_size_for(expected_size: int) -> int:
    """Part size that keeps an object of about ``expected_size`` bytes under S3's part limit, with headroom."""
    return max(MIN_PART_SIZE, math.ceil(expected_size * 1.25 / (MAX_PARTS - 1)))


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
    :param object_arguments: passed to PutObject / CreateMultipartUpload (ContentType, Metadata, ...).
    """

    def __init__(self, s3: Any, bucket: str, key: str, part_size: int = MIN_PART_SIZE, **object_arguments: Any):
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
                Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer), **self._object_arguments
            )
            self._buffer.clear()
            return etag_of(response)
        if self._buffer:
            self._upload_part()
        response = self._s3.complete_multipart_upload(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, MultipartUpload={"Parts": self._parts}
        )
        self._upload_id = None
        return etag_of(response)

    def abort(self) -> None:
        """Throw away the parts uploaded so far (after a failure); nothing becomes visible."""
        if self._upload_id is not None:
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)
            self._upload_id = None
        self._buffer.clear()

    def _upload_part(self) -> None:
        if self._upload_id is None:
            response = self._s3.create_multipart_upload(Bucket=self._bucket, Key=self._key, **self._object_arguments)
            self._upload_id = response["UploadId"]
        number = len(self._parts) + 1
        response = self._s3.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=bytes(self._buffer)
        )
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
        self._buffer.clear()
