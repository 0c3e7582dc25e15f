"""What the BGZF worker does to one file: compress, verify, delete the original, decompress.

For an original ``<key>`` (a ``.json`` file of the bio-index) the compressed pair is
``<key>.gz`` (BGZF) and ``<key>.gz.gzi`` (its index), side by side, as htslib's ``bgzip -i``
writes them. The ``.gzi`` is written last and carries, as S3 metadata, what the pair was made
from: the original's ETag, size, SHA-256 and content type, and the ``.gz``'s ETag. Later steps
check the pair against that record:

- ``bgzf-verified`` (a tag on the ``.gzi``): the ``.gz`` ETag that :meth:`BgzipFiles.verify`
  found complete and equal to the original. ``compress`` skips such files; ``delete-originals``
  trusts it while every ETag still matches, and verifies in full otherwise.

A pair made elsewhere (htslib's ``bgzip -i``, as the jobs before this worker did) has no
record: ``compress`` checks it against the original and, when it matches, keeps it and writes
the record, instead of compressing again.
- ``bgzf-restored`` (a tag on the ``.gz``): the ETag of the original that ``decompress``
  wrote back, so a second run knows the restore is done.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from airflow_provider_bio.core.bgzf import DEFAULT_LEVEL, BgzfError, BgzfWriter, GziIndex, decompress_stream
from airflow_provider_bio.jobs.s3_objects import ObjectWriter, abort_stale_uploads, etag_of, part_size_for, quoted

READ_SIZE = 1 << 20
VERIFIED_TAG = "bgzf-verified"
RESTORED_TAG = "bgzf-restored"


def is_missing(error: ClientError) -> bool:
    """Whether S3 answered that the object does not exist."""
    return error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


def is_precondition_failed(error: ClientError) -> bool:
    """Whether S3 refused a conditional request (``If-Match``/``If-None-Match``) because the object changed."""
    return error.response.get("Error", {}).get("Code") in ("412", "PreconditionFailed", "ConditionalRequestConflict")


def write_condition(state: ObjectState | None) -> dict[str, Any]:
    """ObjectWriter conditions that replace exactly the object found (or create one where none was)."""
    return {"if_match": state.etag} if state else {"if_none_match": True}


def put_condition(state: ObjectState | None) -> dict[str, str]:
    """PutObject conditions that replace exactly the object found (or create one where none was)."""
    return {"IfMatch": quoted(state.etag)} if state else {"IfNoneMatch": "*"}


class FileFailure(Exception):
    """One file could not be handled; the message says why and what to do."""


@dataclass
class FileResult:
    """One line of the worker's report.

    :param key: the original's key.
    :param action: the worker action.
    :param status: ``done``, ``skipped``, ``dry-run`` or ``failed``.
    :param detail: what happened, or why it failed.
    :param bytes_in: bytes read.
    :param bytes_out: bytes written.
    :param seconds: time spent on the file.
    """

    key: str
    action: str
    status: str
    detail: str
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The report line."""
        return asdict(self)


@dataclass(frozen=True)
class ObjectState:
    """An object's ETag, size and content type from a HEAD, plus its user metadata."""

    etag: str
    size: int
    content_type: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class SourceRecord:
    """What the ``.gzi`` metadata says the pair was made from."""

    etag: str
    size: int
    sha256: str
    content_type: str
    gz_etag: str

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> SourceRecord | None:
        """Read the record; None when the ``.gzi`` was not written by this worker (e.g. by htslib)."""
        try:
            return cls(
                etag=metadata["source-etag"],
                size=int(metadata["source-size"]),
                sha256=metadata["source-sha256"],
                content_type=metadata.get("source-content-type", "application/json"),
                gz_etag=metadata["bgzf-etag"],
            )
        except (KeyError, ValueError):
            return None

    def to_metadata(self) -> dict[str, str]:
        """The record as S3 user metadata."""
        return {
            "source-etag": self.etag,
            "source-size": str(self.size),
            "source-sha256": self.sha256,
            "source-content-type": self.content_type,
            "bgzf-etag": self.gz_etag,
        }


@dataclass(frozen=True)
class PairState:
    """The ``.gz`` and ``.gzi`` beside an original, as found."""

    gz: ObjectState | None
    gzi: ObjectState | None
    tags: dict[str, str]

    @property
    def record(self) -> SourceRecord | None:
        return SourceRecord.from_metadata(self.gzi.metadata) if self.gzi else None

    def made_from(self, original: ObjectState) -> bool:
        """Both objects exist and the record says they were made from this very original."""
        record = self.record
        return bool(self.gz and record and record.etag == original.etag and record.gz_etag == self.gz.etag)

    def verified_for(self, original: ObjectState | None) -> bool:
        """``verify`` passed for the current ``.gz`` and the original has not changed since."""
        record = self.record
        return bool(
            self.gz
            and record
            and self.tags.get(VERIFIED_TAG) == self.gz.etag
            and (original is None or record.etag == original.etag)
        )


class BgzipFiles:
    """The four file actions over one bucket.

    :param s3: a boto3 S3 client (the container's task role).
    :param bucket: the bucket holding the files.
    :param pool: threads the BGZF blocks are compressed on, shared by the files in flight.
    :param level: htslib compression level.
    :param keep_compressed: ``decompress`` restores and verifies but leaves ``.gz``/``.gzi`` in
        place (the rollback DAG removes them only after marking the index uncompressed).
    :param dry_run: deleting actions report what they would do and write or delete nothing.
    :param started: when the run started: incomplete multipart uploads of the keys this run writes
        that began earlier are a killed run's leftovers and are aborted before writing.
    """

    def __init__(
        self,
        s3: Any,
        bucket: str,
        pool: Executor,
        *,
        level: int = DEFAULT_LEVEL,
        keep_compressed: bool = False,
        dry_run: bool = False,
        started: datetime | None = None,
    ) -> None:
        self.s3 = s3
        self.started = started or datetime.now(timezone.utc)
        self.bucket = bucket
        self.pool = pool
        self.level = level
        self.keep_compressed = keep_compressed
        self.dry_run = dry_run

    def action(self, name: str) -> Callable[[str], FileResult]:
        """The per-file function for a worker action, wrapped to time it and turn failures into results."""
        method = {
            "compress": self.compress,
            "verify": self.verify,
            "delete-originals": self.delete_original,
            "decompress": self.decompress,
        }[name]

        def run(key: str) -> FileResult:
            started = time.monotonic()
            try:
                result = method(key)
            except (FileFailure, BgzfError) as error:
                result = FileResult(key, name, "failed", str(error))
            except ClientError as error:
                result = FileResult(key, name, "failed", f"S3 error: {error}")
            except Exception as error:  # a dropped connection, a timeout...: this file fails, the others go on
                result = FileResult(key, name, "failed", f"{type(error).__name__}: {error}")
            result.seconds = round(time.monotonic() - started, 3)
            return result

        return run

    # compress

    def compress(self, key: str) -> FileResult:
        """Write ``<key>.gz`` and ``<key>.gz.gzi``, leaving the original; skip a verified pair."""
        original = self._head(key)
        if original is None:
            raise FileFailure(f"s3://{self.bucket}/{key} does not exist")
        pair = self._pair(key)
        if pair.made_from(original):
            if pair.verified_for(original):
                return FileResult(key, "compress", "skipped", "already compressed and verified")
            try:
                read = self._verify_pair(key, original, pair)
                return FileResult(key, "compress", "skipped", "already compressed; verified now", bytes_in=read)
            except (FileFailure, BgzfError):
                pass  # a damaged pair is rewritten below
        elif pair.gz is not None and pair.gzi is not None and pair.record is None:
            try:
                return self._adopt(key, original, pair)
            except (FileFailure, BgzfError):
                pass  # not the original's: rewritten below
        return self._compress(key, original, pair)

    def _adopt(self, key: str, original: ObjectState, pair: PairState) -> FileResult:
        """Keep a pair made elsewhere (htslib's ``bgzip -i``) once it checks out against the original.

        Its ``.gzi`` is written again, same bytes, with the record this worker's pairs carry.
        """
        assert pair.gz is not None and pair.gzi is not None
        read, sha256 = self._check_pair(key, original, pair)
        index = self.s3.get_object(Bucket=self.bucket, Key=f"{key}.gz.gzi", IfMatch=quoted(pair.gzi.etag))["Body"]
        record = SourceRecord(original.etag, original.size, sha256, original.content_type, pair.gz.etag)
        self.s3.put_object(
            Bucket=self.bucket,
            Key=f"{key}.gz.gzi",
            Body=index.read(),
            ContentType="application/octet-stream",
            Metadata=record.to_metadata(),
            Tagging=f"{VERIFIED_TAG}={pair.gz.etag}",
            **put_condition(pair.gzi),
        )
        return FileResult(key, "compress", "skipped", "a pair made elsewhere checked out and was kept", bytes_in=read)

    def _compress(self, key: str, original: ObjectState, pair: PairState) -> FileResult:
        """Write the pair; each write replaces only the object found at the start (or creates one)."""
        digest = hashlib.sha256()
        abort_stale_uploads(self.s3, self.bucket, f"{key}.gz", self.started)
        gz = ObjectWriter(
            self.s3,
            self.bucket,
            f"{key}.gz",
            part_size_for(original.size),
            ContentType="application/gzip",
            **write_condition(pair.gz),
        )
        try:
            with BgzfWriter(gz.write, level=self.level, pool=self.pool) as writer:
                body = self.s3.get_object(Bucket=self.bucket, Key=key, IfMatch=quoted(original.etag))["Body"]
                for chunk in iter(lambda: body.read(READ_SIZE), b""):
                    digest.update(chunk)
                    writer.write(chunk)
            if writer.summary.uncompressed_size != original.size:
                raise FileFailure(
                    f"read {writer.summary.uncompressed_size} bytes of s3://{self.bucket}/{key} "
                    f"but it holds {original.size}; run compress again"
                )
            gz_etag = gz.close()
        except ClientError as error:
            gz.abort()
            if is_precondition_failed(error):
                raise FileFailure(
                    f"{key}.gz was written by someone else during compress; left it, run compress again"
                ) from error
            raise
        except BaseException:
            gz.abort()
            raise
        record = SourceRecord(original.etag, original.size, digest.hexdigest(), original.content_type, gz_etag)
        try:
            self.s3.put_object(
                Bucket=self.bucket,
                Key=f"{key}.gz.gzi",
                Body=writer.summary.index.to_bytes(),
                ContentType="application/octet-stream",
                Metadata=record.to_metadata(),
                **put_condition(pair.gzi),
            )
        except BaseException:
            # no .gz without its index; conditional, so a .gz written since by someone else stays
            self.s3.delete_object(Bucket=self.bucket, Key=f"{key}.gz", IfMatch=quoted(gz_etag))
            raise
        return FileResult(
            key,
            "compress",
            "done",
            f"{original.size} -> {writer.summary.compressed_size} bytes",
            bytes_in=original.size,
            bytes_out=writer.summary.compressed_size,
        )

    # verify

    def verify(self, key: str) -> FileResult:
        """Check the pair: valid BGZF, a ``.gzi`` matching its blocks, the original's bytes; tag it verified."""
        original = self._head(key)
        read = self._verify_pair(key, original, self._pair(key))
        return FileResult(key, "verify", "done", "BGZF, .gzi and content match the original", bytes_in=read)

    def _verify_pair(self, key: str, original: ObjectState | None, pair: PairState) -> int:
        """Check the pair, then tag its ``.gzi`` verified for the current ``.gz``; return the bytes read."""
        read, _ = self._check_pair(key, original, pair)
        assert pair.gz is not None
        self._tag(key, pair, {VERIFIED_TAG: pair.gz.etag})
        return read

    def _check_pair(self, key: str, original: ObjectState | None, pair: PairState) -> tuple[int, str]:
        """Check a pair against its record or the original; return the bytes read and the content's SHA-256."""
        if pair.gz is None or pair.gzi is None:
            raise FileFailure(f"{key}.gz and {key}.gz.gzi must both exist; run compress")
        record = pair.record
        if record is None and original is None:
            raise FileFailure(
                f"{key}.gz.gzi records no hash of the original (not written by this worker) and {key} is gone, "
                "so there is nothing to verify against"
            )
        if record and original and record.etag != original.etag:
            raise FileFailure(f"{key} changed since it was compressed (ETag {original.etag}); run compress again")
        digest = hashlib.sha256()
        body = self.s3.get_object(Bucket=self.bucket, Key=f"{key}.gz", IfMatch=quoted(pair.gz.etag))["Body"]
        summary = decompress_stream(body.read, digest.update)
        stored = self.s3.get_object(Bucket=self.bucket, Key=f"{key}.gz.gzi", IfMatch=quoted(pair.gzi.etag))["Body"]
        if GziIndex.from_bytes(stored.read()) != summary.index:
            raise FileFailure(f"{key}.gz.gzi does not match the blocks of {key}.gz; run compress again")
        expected_size, expected_sha256 = (
            (record.size, record.sha256) if record else self._hash_original(key, original)  # type: ignore[arg-type]
        )
        if summary.uncompressed_size != expected_size or digest.hexdigest() != expected_sha256:
            raise FileFailure(
                f"{key}.gz decompresses to {summary.uncompressed_size} bytes that differ from the original "
                f"({expected_size} bytes); run compress again"
            )
        return summary.compressed_size, expected_sha256

    def _hash_original(self, key: str, original: ObjectState) -> tuple[int, str]:
        digest = hashlib.sha256()
        body = self.s3.get_object(Bucket=self.bucket, Key=key, IfMatch=quoted(original.etag))["Body"]
        size = 0
        for chunk in iter(lambda: body.read(READ_SIZE), b""):
            digest.update(chunk)
            size += len(chunk)
        return size, digest.hexdigest()

    # delete-originals

    def delete_original(self, key: str) -> FileResult:
        """Delete the original, only when its pair verifies (a current verified tag, or a full check now)."""
        original = self._head(key)
        if original is None:
            return FileResult(key, "delete-originals", "skipped", "already deleted")
        pair = self._pair(key)
        how = "verified earlier"
        if not pair.verified_for(original):
            self._verify_pair(key, original, pair)
            how = "verified now"
        if self.dry_run:
            return FileResult(key, "delete-originals", "dry-run", f"would delete ({how})")
        self.s3.delete_object(Bucket=self.bucket, Key=key, IfMatch=quoted(original.etag))
        return FileResult(key, "delete-originals", "done", f"deleted ({how})")

    # decompress

    def decompress(self, key: str) -> FileResult:
        """Restore ``key`` from ``<key>.gz``, verify it, then remove ``.gz`` and ``.gzi`` (unless kept)."""
        original = self._head(key)
        pair = self._pair(key)
        if pair.gz is None:
            if original is None:
                raise FileFailure(f"neither {key} nor {key}.gz exists")
            return FileResult(key, "decompress", "skipped", "no compressed copy; the original is in place")
        record = pair.record
        restored_etag = self._tags(f"{key}.gz").get(RESTORED_TAG)
        restored = original is not None and (
            (record is not None and original.etag == record.etag) or original.etag == restored_etag
        )
        if original is not None and not restored:
            raise FileFailure(f"{key} exists and is not the file {key}.gz was made from; refusing to overwrite it")
        if self.dry_run:
            would = "" if restored else f"would restore {key}, "
            kept = "keep" if self.keep_compressed else "delete"
            return FileResult(key, "decompress", "dry-run", f"{would}would {kept} .gz and .gzi")
        bytes_in = bytes_out = 0
        detail = "the original was in place"
        if not restored:
            bytes_in, bytes_out = self._restore(key, pair, record)
            detail = f"restored {bytes_out} bytes"
        if self.keep_compressed:
            return FileResult(key, "decompress", "done", f"{detail}; .gz and .gzi kept", bytes_in, bytes_out)
        pair_objects = [{"Key": f"{key}.gz", "ETag": quoted(pair.gz.etag)}]
        if pair.gzi is not None:
            pair_objects.append({"Key": f"{key}.gz.gzi", "ETag": quoted(pair.gzi.etag)})
        response = self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": pair_objects, "Quiet": True})
        errors = response.get("Errors", [])
        if errors:
            raise FileFailure(
                "could not delete "
                + ", ".join(f"{error['Key']} ({error.get('Code')})" for error in errors)
                + "; run decompress again"
            )
        return FileResult(key, "decompress", "done", f"{detail}; .gz and .gzi deleted", bytes_in, bytes_out)

    def _restore(self, key: str, pair: PairState, record: SourceRecord | None) -> tuple[int, int]:
        assert pair.gz is not None
        digest = hashlib.sha256()
        expected = record.size if record else pair.gz.size * 20  # no record: assume at most 20:1
        content_type = record.content_type if record else "application/json"
        abort_stale_uploads(self.s3, self.bucket, key, self.started)
        # only where no original is: a new original put by someone during the restore is kept
        target = ObjectWriter(
            self.s3, self.bucket, key, part_size_for(expected), if_none_match=True, ContentType=content_type
        )

        def sink(data: bytes) -> None:
            digest.update(data)
            target.write(data)

        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=f"{key}.gz", IfMatch=quoted(pair.gz.etag))["Body"]
            summary = decompress_stream(body.read, sink)
            if record and (summary.uncompressed_size != record.size or digest.hexdigest() != record.sha256):
                raise FileFailure(f"{key}.gz does not decompress to the original its .gzi records; nothing restored")
            etag = target.close()
        except ClientError as error:
            target.abort()
            if is_precondition_failed(error):
                raise FileFailure(
                    f"{key} was written by someone else during the restore; kept it and {key}.gz, restored nothing"
                ) from error
            raise
        except BaseException:
            target.abort()
            raise
        self.s3.put_object_tagging(
            Bucket=self.bucket, Key=f"{key}.gz", Tagging={"TagSet": [{"Key": RESTORED_TAG, "Value": etag}]}
        )
        return summary.compressed_size, summary.uncompressed_size

    # S3 state

    def _head(self, key: str) -> ObjectState | None:
        try:
            response = self.s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if is_missing(error):
                return None
            raise
        return ObjectState(
            etag=etag_of(response),
            size=int(response["ContentLength"]),
            content_type=response.get("ContentType") or "application/json",
            metadata=dict(response.get("Metadata") or {}),
        )

    def _pair(self, key: str) -> PairState:
        gz = self._head(f"{key}.gz")
        gzi = self._head(f"{key}.gz.gzi")
        return PairState(gz, gzi, self._tags(f"{key}.gz.gzi") if gzi is not None else {})

    def _tags(self, key: str) -> dict[str, str]:
        try:
            tag_set = self.s3.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"]
        except ClientError as error:
            if is_missing(error):
                return {}
            raise
        return {tag["Key"]: tag["Value"] for tag in tag_set}

    def _tag(self, key: str, pair: PairState, tags: dict[str, str]) -> None:
        merged = {**pair.tags, **tags}
        self.s3.put_object_tagging(
            Bucket=self.bucket,
            Key=f"{key}.gz.gzi",
            Tagging={"TagSet": [{"Key": name, "Value": value} for name, value in merged.items()]},
        )


def originals_under(s3: Any, bucket: str, prefix: str, action: str) -> Iterator[str]:
    """The originals' keys an action covers under a prefix: every ``.json``, or for ``decompress`` every ``.json.gz``.

    :param s3: a boto3 S3 client.
    :param bucket: the bucket.
    :param prefix: the key prefix.
    :param action: the worker action.
    """
    suffix = ".json.gz" if action == "decompress" else ".json"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith(suffix):
                yield item["Key"][: -len(".gz")] if action == "decompress" else item["Key"]
