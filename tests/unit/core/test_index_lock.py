"""The lock per bio-index: taken once, kept by its owner, refused to others, taken over when expired, released."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from airflow_provider_bio.core.index_lock import IndexLock, LockRefused, lock_key

BUCKET = "dig-bio-index"
KEY = "_bioindex-locks/genes.lock"
OWNER = "bioindex_compress/manual__1"
OTHER = "bioindex_decompress/manual__2"
T0 = 1767225600.0  # 2026-01-01T00:00:00+00:00
HOUR = 3600.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Contended:
    """A boto3 S3 client where something happens just before each of this run's next writes.

    Each item of ``before_writes`` is either a lock record another run writes first (so this
    run's conditional write loses the race), or a ClientError this run's write fails with.
    """

    def __init__(self, s3: Any, before_writes: list[dict[str, Any] | ClientError]) -> None:
        self.s3, self.before_writes, self.reads = s3, list(before_writes), 0

    def _before_write(self) -> None:
        if self.before_writes:
            item = self.before_writes.pop(0)
            if isinstance(item, ClientError):
                raise item
            self.s3.put_object(Bucket=BUCKET, Key=KEY, Body=json.dumps(item).encode())

    def get_object(self, **kwargs: Any) -> Any:
        self.reads += 1
        return self.s3.get_object(**kwargs)

    def put_object(self, **kwargs: Any) -> Any:
        self._before_write()
        return self.s3.put_object(**kwargs)

    def delete_object(self, **kwargs: Any) -> Any:
        self._before_write()
        return self.s3.delete_object(**kwargs)


def client_error(code: str, operation: str = "PutObject") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "test"}}, operation)


@pytest.fixture(scope="module")
def bucket() -> Iterator[Any]:
    """One moto S3 client and bucket for the module (making a client is the slow part)."""
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def s3(bucket: Any) -> Iterator[Any]:
    """The bucket, with no lock in it."""
    bucket.delete_object(Bucket=BUCKET, Key=KEY)
    yield bucket
    bucket.delete_object(Bucket=BUCKET, Key=KEY)


def lock_of(s3: Any, key: str = KEY) -> dict[str, Any] | None:
    try:
        return json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def our_lock(taken_at: str, expires: float, expires_at: str) -> dict[str, Any]:
    """The lock record this run writes for the genes index."""
    return {
        "owner": OWNER,
        "index": "genes",
        "prefix": "genes/",
        "taken_at": taken_at,
        "expires": expires,
        "expires_at": expires_at,
    }


def plant(s3: Any, record: dict[str, Any] | bytes) -> str:
    """Write a lock as another run (or a damaged object) would; return its ETag."""
    body = record if isinstance(record, bytes) else json.dumps(record).encode()
    return s3.put_object(Bucket=BUCKET, Key=KEY, Body=body)["ETag"]


def locker(s3: Any, owner: str = OWNER, clock: Clock | None = None, ttl: float = 10 * HOUR, **kwargs: Any) -> IndexLock:
    return IndexLock(s3, BUCKET, owner, ttl_seconds=ttl, clock=clock or Clock(), **kwargs)


@pytest.mark.parametrize(
    ("prefix", "key"),
    [
        ("genes/", "_bioindex-locks/genes.lock"),
        ("genes/rare/", "_bioindex-locks/genes/rare.lock"),
        ("x", "_bioindex-locks/x.lock"),
        ("variants/chrX/", "_bioindex-locks/variants/chrX.lock"),
    ],
)
def test_the_lock_key_is_the_prefix_without_its_last_slash_under_the_lock_folder(prefix: str, key: str) -> None:
    assert lock_key(prefix) == key


def test_a_free_index_is_locked_with_its_owner_and_expiry(s3: Any) -> None:
    logged: list[tuple[Any, ...]] = []
    locker(s3, log=lambda *args: logged.append(args)).hold("genes", "genes/")
    assert lock_of(s3) == our_lock("2026-01-01T00:00:00+00:00", T0 + 10 * HOUR, "2026-01-01T10:00:00+00:00")
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ContentType"] == "application/json"
    assert logged == [("Took the lock of %s: s3://%s/%s", "genes", BUCKET, KEY)]


def test_the_default_lock_lasts_a_day_on_the_system_clock(s3: Any) -> None:
    before = time.time()
    IndexLock(s3, BUCKET, OWNER).hold("genes", "genes/")
    after = time.time()
    assert before + 86400 <= lock_of(s3)["expires"] <= after + 86400


@pytest.mark.parametrize("ttl", [0, -1])
def test_a_lock_that_would_never_last_is_refused(ttl: float) -> None:
    with pytest.raises(ValueError, match=f"ttl_seconds must be more than 0; got {ttl}"):
        IndexLock(object(), BUCKET, OWNER, ttl_seconds=ttl)


def test_a_lock_of_a_fraction_of_a_second_is_allowed(s3: Any) -> None:
    locker(s3, ttl=0.5).hold("genes", "genes/")
    assert lock_of(s3)["expires"] == T0 + 0.5


def test_another_runs_live_lock_is_refused_naming_the_owner_and_expiry_and_left_alone(s3: Any) -> None:
    etag = plant(s3, {"owner": OTHER, "expires": T0 + 1, "expires_at": "2026-01-01T00:00:01+00:00"})
    with pytest.raises(LockRefused) as refused:
        locker(s3).hold("genes", "genes/")
    assert str(refused.value) == (
        f"genes (genes/) is locked by {OTHER} until 2026-01-01T00:00:01+00:00 (s3://{BUCKET}/{KEY}): "
        "a bioindex_compress or bioindex_decompress run is working on it; "
        "wait for that run to finish, then trigger this one again"
    )
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"] == etag


@pytest.mark.parametrize(
    ("record", "until"),
    [
        ({"owner": OTHER, "expires": T0 + HOUR}, "until 2026-01-01T01:00:00+00:00 "),
        ({"owner": OTHER, "expires": T0 + HOUR, "expires_at": "2026-01-01T01:00:00Z"}, "until 2026-01-01T01:00:00Z "),
        (b"{not json", "locked by unreadable lock (b'{not json') until never "),
        (b"[1, 2]", "locked by unreadable lock (b'[1, 2]') until never "),
        (b"x" * 100, f"locked by unreadable lock (b'{'x' * 80}') until never "),
    ],
    ids=["no expires_at", "as the lock states it", "not json", "not an object", "long"],
)
def test_the_expiry_of_a_lock_is_named_as_the_lock_states_it_or_from_what_is_there(
    s3: Any, record: dict[str, Any] | bytes, until: str
) -> None:
    """A damaged lock object is never taken over: it names itself, and the run is refused."""
    plant(s3, record)
    with pytest.raises(LockRefused, match=re.escape(until)):
        locker(s3).hold("genes", "genes/")


@pytest.mark.parametrize("expires", [T0, T0 - 1])
def test_an_expired_lock_of_another_run_is_taken_over(s3: Any, expires: float) -> None:
    plant(s3, {"owner": OTHER, "expires": expires, "expires_at": "then"})
    logged: list[tuple[Any, ...]] = []
    locker(s3, log=lambda *args: logged.append(args)).hold("genes", "genes/")
    assert lock_of(s3) == our_lock("2026-01-01T00:00:00+00:00", T0 + 10 * HOUR, "2026-01-01T10:00:00+00:00")
    assert logged == [("Took over the expired lock of %s from %s (expired %s)", "genes", OTHER, "then")]


def test_a_lock_without_an_expiry_counts_as_expired(s3: Any) -> None:
    plant(s3, {"owner": OTHER})
    locker(s3).hold("genes", "genes/")
    assert lock_of(s3)["owner"] == OWNER


def test_the_owner_keeps_its_lock_untouched_while_more_than_half_its_time_is_left(s3: Any) -> None:
    clock = Clock()
    locker(s3, clock=clock).hold("genes", "genes/")
    etag = s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"]
    clock.now = T0 + 5 * HOUR - 1  # 5 h + 1 s left of 10 h
    locker(s3, clock=clock).hold("genes", "genes/")
    assert s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"] == etag
    assert lock_of(s3)["expires"] == T0 + 10 * HOUR


@pytest.mark.parametrize(
    ("elapsed", "taken_at", "expires_at"),
    [
        (5 * HOUR, "2026-01-01T05:00:00+00:00", "2026-01-01T15:00:00+00:00"),
        (9 * HOUR, "2026-01-01T09:00:00+00:00", "2026-01-01T19:00:00+00:00"),
        (11 * HOUR, "2026-01-01T11:00:00+00:00", "2026-01-01T21:00:00+00:00"),
    ],
)
def test_the_owner_taking_its_lock_again_pushes_the_expiry_on(
    s3: Any, elapsed: float, taken_at: str, expires_at: str
) -> None:
    """A retry or a clear of the same run, with half or less of the lock's time left (or none), renews it."""
    clock = Clock()
    locker(s3, clock=clock).hold("genes", "genes/")
    clock.now = T0 + elapsed
    logged: list[tuple[Any, ...]] = []
    locker(s3, clock=clock, log=lambda *args: logged.append(args)).hold("genes", "genes/")
    assert lock_of(s3) == our_lock(taken_at, T0 + elapsed + 10 * HOUR, expires_at)
    assert logged == []


def test_of_two_runs_racing_for_a_free_index_the_loser_is_refused(s3: Any) -> None:
    rival = Contended(s3, [{"owner": OTHER, "expires": T0 + HOUR}])
    with pytest.raises(LockRefused, match=f"locked by {OTHER}"):
        locker(rival).hold("genes", "genes/")
    assert lock_of(s3)["owner"] == OTHER


def test_of_two_runs_taking_over_an_expired_lock_the_loser_is_refused(s3: Any) -> None:
    plant(s3, {"owner": "bioindex_compress/manual__crashed", "expires": T0 - 1})
    rival = Contended(s3, [{"owner": OTHER, "expires": T0 + HOUR}])
    with pytest.raises(LockRefused, match=f"locked by {OTHER}"):
        locker(rival).hold("genes", "genes/")
    assert lock_of(s3)["owner"] == OTHER


def test_a_renewal_that_loses_a_race_reads_the_lock_again(s3: Any) -> None:
    plant(s3, {"owner": OWNER, "expires": T0 + HOUR})
    rival = Contended(s3, [{"owner": OWNER, "expires": T0 + 2 * HOUR}])
    locker(rival).hold("genes", "genes/")
    assert lock_of(s3)["expires"] == T0 + 10 * HOUR
    assert rival.reads == 2


@pytest.mark.parametrize("code", ["PreconditionFailed", "ConditionalRequestConflict", "412", "409"])
def test_a_lost_conditional_write_is_tried_again(s3: Any, code: str) -> None:
    contended = Contended(s3, [client_error(code)])
    locker(contended).hold("genes", "genes/")
    assert lock_of(s3)["owner"] == OWNER
    assert contended.reads == 2


def test_a_lock_that_keeps_changing_is_given_up_after_five_reads(s3: Any) -> None:
    contended = Contended(s3, [client_error("PreconditionFailed")] * 6)
    with pytest.raises(LockRefused) as refused:
        locker(contended).hold("genes", "genes/")
    assert str(refused.value) == f"genes (genes/): the lock s3://{BUCKET}/{KEY} kept changing; try again"
    assert contended.reads == 5
    assert lock_of(s3) is None


def test_a_write_failing_for_another_reason_is_raised(s3: Any) -> None:
    with pytest.raises(ClientError, match="AccessDenied"):
        locker(Contended(s3, [client_error("AccessDenied")])).hold("genes", "genes/")


@pytest.mark.parametrize("code", ["NoSuchKey", "404"])
def test_a_missing_lock_reads_as_free(s3: Any, code: str) -> None:
    class Missing(Contended):
        def get_object(self, **kwargs: Any) -> Any:
            self.reads += 1
            if self.reads == 1:
                raise client_error(code, "GetObject")
            return self.s3.get_object(**kwargs)

    locker(Missing(s3, [])).hold("genes", "genes/")
    assert lock_of(s3)["owner"] == OWNER


def test_a_lock_that_cannot_be_read_is_an_error(s3: Any) -> None:
    with pytest.raises(ClientError, match="NoSuchBucket"):
        IndexLock(s3, "no-such-bucket", OWNER).hold("genes", "genes/")


def test_the_owner_releases_its_lock(s3: Any) -> None:
    locker(s3).hold("genes", "genes/")
    logged: list[tuple[Any, ...]] = []
    assert locker(s3, log=lambda *args: logged.append(args)).release("genes", "genes/") is True
    assert lock_of(s3) is None
    assert logged == [("Released the lock of %s", "genes")]


@pytest.mark.parametrize(
    ("record", "named"),
    [
        ({"owner": OTHER, "expires": T0 + HOUR}, OTHER),
        ({"owner": OTHER, "expires": T0 - HOUR}, OTHER),
        (None, "no lock"),
    ],
    ids=["live", "expired", "none"],
)
def test_a_lock_this_run_does_not_hold_is_not_released(s3: Any, record: dict[str, Any] | None, named: str) -> None:
    if record:
        plant(s3, record)
    logged: list[tuple[Any, ...]] = []
    assert locker(s3, log=lambda *args: logged.append(args)).release("genes", "genes/") is False
    assert lock_of(s3) == record
    assert logged == [("%s: no lock of this run to release (%s)", "genes", named)]


def test_a_release_racing_a_change_of_the_lock_leaves_it(s3: Any) -> None:
    plant(s3, {"owner": OWNER, "expires": T0 + HOUR})
    newer = {"owner": OTHER, "expires": T0 + 2 * HOUR}
    assert locker(Contended(s3, [newer])).release("genes", "genes/") is False
    assert lock_of(s3) == newer


@pytest.mark.parametrize("code", ["ConditionalRequestConflict", "409"])
def test_a_release_losing_a_conflict_reports_nothing_released(s3: Any, code: str) -> None:
    plant(s3, {"owner": OWNER, "expires": T0 + HOUR})
    assert locker(Contended(s3, [client_error(code, "DeleteObject")])).release("genes", "genes/") is False
    assert lock_of(s3)["owner"] == OWNER


def test_a_release_failing_for_another_reason_is_raised(s3: Any) -> None:
    plant(s3, {"owner": OWNER, "expires": T0 + HOUR})
    with pytest.raises(ClientError, match="AccessDenied"):
        locker(Contended(s3, [client_error("AccessDenied", "DeleteObject")])).release("genes", "genes/")


def test_the_default_log_is_silent(s3: Any) -> None:
    """Taking, taking over and releasing work without a log given."""
    plant(s3, {"owner": OTHER, "expires": T0 - 1})
    lock = IndexLock(s3, BUCKET, OWNER, clock=Clock())
    lock.hold("genes", "genes/")
    assert lock.release("genes", "genes/") is True
    assert lock.release("genes", "genes/") is False
    lock.hold("genes", "genes/")
    assert lock_of(s3)["owner"] == OWNER
