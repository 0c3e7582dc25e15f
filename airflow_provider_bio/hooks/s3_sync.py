"""S3 calls of a bucket-to-bucket sync: list a root, copy one object (server-side or streamed), delete keys.

Built on the amazon provider's S3Hook (its connection handling and ``iter_file_metadata``
listing). Each method is one object's worth of work and keeps no state between calls.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from botocore.exceptions import ClientError

from airflow_provider_bio.core.s3_sync import S3Location, S3Object, has_control_character

#: The AWS CLI's defaults: objects above 8 MiB are copied in 8 MiB parts.
DEFAULT_MULTIPART_THRESHOLD = 8 * 1024**2
DEFAULT_MULTIPART_CHUNKSIZE = 8 * 1024**2
#: S3's limits on multipart uploads.
MIN_PART_SIZE = 5 * 1024**2
MAX_PART_SIZE = 5 * 1024**3
MAX_PARTS = 10_000
#: Parts of one large object copied at once.
PART_CONCURRENCY = 8
#: Copies of one object started again when its source changes mid-copy, before it fails.
COPY_ATTEMPTS = 3
#: Headers that travel with an object and must be set again on a multipart or streamed copy.
CARRIED_HEADERS = ("ContentType", "CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage", "Expires")


class SourceChangedError(RuntimeError):
    """The source object was overwritten during every attempt to copy it."""

    def __init__(self, uri: str) -> None:
        super().__init__(f"{uri} changed during each of {COPY_ATTEMPTS} copy attempts; not copied")


def _version_of(head: dict[str, Any]) -> dict[str, str]:
    """``VersionId`` pinning the version a HEAD described, when its bucket keeps versions."""
    version = head.get("VersionId")
    return {"VersionId": version} if version and version != "null" else {}


def _source_changed(error: ClientError) -> bool:
    """Whether a copy failed because its source is no longer the version it started from.

    ``412`` is the code botocore gives a bodiless answer (a HEAD); ``NoSuchVersion``, a pinned
    version deleted since the copy started.
    """
    return error.response["Error"].get("Code") in ("PreconditionFailed", "412", "NoSuchVersion")


@dataclass(frozen=True)
class CopyOptions:
    """How objects are written at the destination.

    :param storage_class: e.g. ``STANDARD_IA``; None keeps S3's default (STANDARD).
    :param sse_kms_key_id: a KMS key id or ARN to encrypt with (``aws:kms``); None for the bucket default.
    :param multipart_threshold: objects larger than this are copied in parts.
    :param multipart_chunksize: the preferred part size (raised so a copy never needs over 10,000 parts).
    """

    storage_class: str | None = None
    sse_kms_key_id: str | None = None
    multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD
    multipart_chunksize: int = DEFAULT_MULTIPART_CHUNKSIZE

    def destination_args(self) -> dict[str, str]:
        """Arguments every write at the destination carries."""
        args = {}
        if self.storage_class:
            args["StorageClass"] = self.storage_class
        if self.sse_kms_key_id:
            args |= {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.sse_kms_key_id}
        return args

    def part_size(self, size: int) -> int:
        """The part size for an object of ``size`` bytes."""
        return max(self.multipart_chunksize, math.ceil(size / MAX_PARTS))


class S3SyncHook(S3Hook):
    """S3 calls for :class:`~airflow_provider_bio.operators.s3_sync.S3SyncOperator`."""

    def iter_objects(self, root: S3Location) -> Iterator[S3Object]:
        """List every object under ``root`` in key order, with keys relative to it.

        Keys are asked for URL-encoded, as the AWS CLI does: S3 writes them raw into its XML
        otherwise, where control characters are invalid or (``\\r``) turned into others.
        """
        cut = len(root.prefix)
        pages = (
            self.get_conn()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=root.bucket, Prefix=root.prefix, EncodingType="url")  # pages of 1,000 keys
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield S3Object(unquote(item["Key"])[cut:], item["Size"], item["LastModified"])

    def _readable_tags(self, client: Any, bucket: str, key: str) -> str | None:
        """The object's tags as a ``Tagging`` argument, or None when it has none or they are not readable."""
        try:
            tags = client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
        except ClientError as err:
            if err.response["Error"]["Code"] not in ("AccessDenied", "NotImplemented"):
                raise
            self.log.warning("Tags of s3://%s/%s are not readable (%s): copied without them", bucket, key, err)
            return None
        return urlencode([(tag["Key"], tag["Value"]) for tag in tags]) if tags else None

    def copy_object_server_side(
        self, source: S3Location, destination: S3Location, obj: S3Object, options: CopyOptions
    ) -> None:
        """Copy one object inside S3: CopyObject, or UploadPartCopy parts above the threshold.

        Content type, metadata and tags are carried over. Every part of a multipart copy is
        pinned to the source version read at its start (its VersionId when the bucket is
        versioned, and ``CopySourceIfMatch`` on its ETag): a source overwritten mid-copy fails
        the parts, the upload is aborted and the object copied again from its new version, up to
        :data:`COPY_ATTEMPTS` times. A failed multipart copy is aborted, so nothing half-written is left.
        """
        client = self.get_conn()
        copy_source = {"Bucket": source.bucket, "Key": source.prefix + obj.key}
        target = {"Bucket": destination.bucket, "Key": destination.prefix + obj.key}
        if obj.size <= options.multipart_threshold:
            # CopyObject carries the metadata, content type and tags (its directives default to COPY).
            client.copy_object(CopySource=copy_source, **target, **options.destination_args())
            return
        for _ in range(COPY_ATTEMPTS):
            try:
                self._copy_parts(client, source, copy_source, target, options)
                return
            except ClientError as error:
                if not _source_changed(error):
                    raise
                self.log.warning(
                    "s3://%s/%s changed during its copy: copying it again", source.bucket, copy_source["Key"]
                )
        raise SourceChangedError(f"s3://{source.bucket}/{copy_source['Key']}")

    def _copy_parts(
        self,
        client: Any,
        source: S3Location,
        copy_source: dict[str, str],
        target: dict[str, str],
        options: CopyOptions,
    ) -> None:
        """One multipart server-side copy of the source's current version; aborted when it fails."""
        head = client.head_object(**copy_source)
        pinned = copy_source | _version_of(head)
        upload_args = self._carried(head) | options.destination_args()
        tagging = self._readable_tags(client, source.bucket, copy_source["Key"])
        if tagging:
            upload_args["Tagging"] = tagging
        size = head["ContentLength"]
        upload_id = client.create_multipart_upload(**target, **upload_args)["UploadId"]
        try:
            part_size = options.part_size(size)
            ranges = [(start, min(start + part_size, size) - 1) for start in range(0, size, part_size)]

            def copy_part(number_and_range: tuple[int, tuple[int, int]]) -> dict[str, Any]:
                number, (first, last) = number_and_range
                answer = client.upload_part_copy(
                    **target,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=pinned,
                    CopySourceIfMatch=head["ETag"],
                    CopySourceRange=f"bytes={first}-{last}",
                )
                return {"PartNumber": number, "ETag": answer["CopyPartResult"]["ETag"]}

            with ThreadPoolExecutor(max_workers=PART_CONCURRENCY) as parts_pool:
                parts = list(parts_pool.map(copy_part, enumerate(ranges, start=1)))
            client.complete_multipart_upload(**target, UploadId=upload_id, MultipartUpload={"Parts": parts})
        except BaseException:
            client.abort_multipart_upload(**target, UploadId=upload_id)
            raise

    def copy_object_streamed(
        self,
        source_hook: S3SyncHook,
        source: S3Location,
        destination: S3Location,
        obj: S3Object,
        options: CopyOptions,
    ) -> None:
        """Copy one object through this worker, reading with ``source_hook``'s credentials and writing with ours.

        Memory stays within one part (or one object below the multipart threshold). Each part
        is a ranged GetObject pinned to the version read at the start (VersionId when versioned,
        ``IfMatch`` on its ETag): a source overwritten mid-copy aborts the upload and the object
        is copied again from its new version, up to :data:`COPY_ATTEMPTS` times. A failed
        multipart upload is aborted.
        """
        reader = source_hook.get_conn()
        writer = self.get_conn()
        source_key = {"Bucket": source.bucket, "Key": source.prefix + obj.key}
        target = {"Bucket": destination.bucket, "Key": destination.prefix + obj.key}
        for _ in range(COPY_ATTEMPTS):
            head = reader.head_object(**source_key)
            pinned = source_key | _version_of(head) | {"IfMatch": head["ETag"]}
            upload_args = self._carried(head) | options.destination_args()
            tagging = source_hook._readable_tags(reader, source.bucket, source.prefix + obj.key)
            if tagging:
                upload_args["Tagging"] = tagging
            size = head["ContentLength"]
            try:
                if size <= options.multipart_threshold:
                    body = reader.get_object(**pinned)["Body"]
                    try:
                        writer.put_object(**target, Body=body.read(), **upload_args)
                    finally:
                        body.close()
                    return
                upload_id = writer.create_multipart_upload(**target, **upload_args)["UploadId"]
                try:
                    parts = []
                    part_size = options.part_size(size)
                    for number, first in enumerate(range(0, size, part_size), start=1):
                        last = min(first + part_size, size) - 1
                        body = reader.get_object(**pinned, Range=f"bytes={first}-{last}")["Body"]
                        try:
                            data = body.read()
                        finally:
                            body.close()
                        etag = writer.upload_part(**target, UploadId=upload_id, PartNumber=number, Body=data)["ETag"]
                        parts.append({"PartNumber": number, "ETag": etag})
                    writer.complete_multipart_upload(**target, UploadId=upload_id, MultipartUpload={"Parts": parts})
                    return
                except BaseException:
                    writer.abort_multipart_upload(**target, UploadId=upload_id)
                    raise
            except ClientError as error:
                if not _source_changed(error):
                    raise
                self.log.warning(
                    "s3://%s/%s changed during its copy: copying it again", source.bucket, source_key["Key"]
                )
        raise SourceChangedError(f"s3://{source.bucket}/{source_key['Key']}")

    def delete_keys(self, root: S3Location, keys: list[str]) -> dict[str, str]:
        """Delete up to 1,000 relative keys; return key -> error for each failure.

        One DeleteObjects call for the keys an XML body can carry; a key holding a control
        character (which XML 1.0 forbids, or turns ``\\r`` into ``\\n``) is deleted on its own
        with DeleteObject, as the AWS CLI deletes every key.
        """
        client = self.get_conn()
        batched = [key for key in keys if not has_control_character(root.prefix + key)]
        failed: dict[str, str] = {}
        if batched:
            answer = client.delete_objects(
                Bucket=root.bucket, Delete={"Objects": [{"Key": root.prefix + key} for key in batched], "Quiet": True}
            )
            cut = len(root.prefix)
            failed = {error["Key"][cut:]: f"{error['Code']}: {error['Message']}" for error in answer.get("Errors", [])}
        for key in (key for key in keys if has_control_character(root.prefix + key)):
            try:
                client.delete_object(Bucket=root.bucket, Key=root.prefix + key)
            except ClientError as error:
                failed[key] = f"{error.response['Error']['Code']}: {error.response['Error'].get('Message', '')}"
        return failed

    @staticmethod
    def _carried(answer: dict[str, Any]) -> dict[str, Any]:
        carried = {header: answer[header] for header in CARRIED_HEADERS if answer.get(header)}
        carried["Metadata"] = answer.get("Metadata", {})
        return carried
