from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_bio.core.bounded import bounded_map, prefetched
from airflow_provider_bio.core.s3_sync import S3Object, check_filters, included, parse_s3_uri, plan_sync

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def obj(key, size=10, age=0):
    return S3Object(key, size, T0 + timedelta(seconds=age))


def plan(source, destination, **kwargs):
    return [(step.action, step.key, step.reason) for step in plan_sync(source, destination, **kwargs)]


def test_copies_missing_resized_and_newer_objects_and_skips_the_rest():
    source = [obj("a"), obj("b", size=11), obj("c", age=5), obj("d", age=0)]
    destination = [obj("b"), obj("c", age=1), obj("d", age=3), obj("e")]
    assert plan(source, destination) == [
        ("copy", "a", "missing"),
        ("copy", "b", "size"),
        ("copy", "c", "newer"),
        ("skip", "d", "unchanged"),
    ]


def test_a_destination_copy_as_new_as_the_source_is_unchanged():
    assert plan([obj("a", age=2)], [obj("a", age=2)]) == [("skip", "a", "unchanged")]


def test_size_only_ignores_times():
    assert plan([obj("a", age=9)], [obj("a")], size_only=True) == [("skip", "a", "unchanged")]
    assert plan([obj("a", size=3)], [obj("a")], size_only=True) == [("copy", "a", "size")]


def test_delete_removes_only_objects_without_a_source_counterpart():
    steps = plan([obj("b")], [obj("a"), obj("b"), obj("c")], delete=True)
    assert steps == [("delete", "a", "no source"), ("skip", "b", "unchanged"), ("delete", "c", "no source")]


def test_filters_apply_in_order_with_the_last_match_winning():
    filters = [("exclude", "*"), ("include", "*.pdf"), ("exclude", "tmp/*")]
    assert [k for k in ("a.pdf", "a.txt", "tmp/b.pdf", "x/tmp/c.pdf") if included(k, filters)] == [
        "a.pdf",
        "x/tmp/c.pdf",
    ]
    assert included("anything", [])


def test_excluded_destination_objects_are_not_deleted():
    steps = plan([obj("keep.pdf")], [obj("keep.pdf"), obj("notes.txt")], delete=True, filters=[("exclude", "*.txt")])
    assert steps == [("skip", "keep.pdf", "unchanged")]


def test_unsorted_listing_is_refused():
    with pytest.raises(ValueError, match="not in key order"):
        plan([obj("b"), obj("a")], [])


def test_keys_compare_in_s3_order_for_unicode_and_symbols():
    # S3 lists keys in UTF-8 byte order: upper case before lower, symbols by their byte, non-ASCII last.
    keys = ["A", "B", "a b", "a%2F", "a+b", "z/", "é", "日本"]
    assert [s[1] for s in plan([obj(k) for k in keys], [])] == keys


@pytest.mark.parametrize(
    ("uri", "bucket", "prefix"),
    [("s3://bucket", "bucket", ""), ("s3://bucket/", "bucket", ""), ("s3://b-1.x/docs", "b-1.x", "docs/")],
)
def test_uris_parse_with_the_prefix_as_a_folder(uri, bucket, prefix):
    location = parse_s3_uri(uri, "source")
    assert (location.bucket, location.prefix) == (bucket, prefix)


@pytest.mark.parametrize("uri", ["bucket/key", "s3://Bucket/x", "https://b.s3.amazonaws.com/x", ""])
def test_bad_uris_name_the_field(uri):
    with pytest.raises(ValueError, match="destination"):
        parse_s3_uri(uri, "destination")


def test_prefixes_that_contain_each_other_are_detected():
    docs = parse_s3_uri("s3://bkt/docs", "source")
    assert docs.contains(parse_s3_uri("s3://bkt/docs/sub", "destination"))
    assert not docs.contains(parse_s3_uri("s3://bkt/docs2", "destination"))
    assert not docs.contains(parse_s3_uri("s3://ckt/docs/sub", "destination"))


@pytest.mark.parametrize("bad", [[("skip", "*")], [("exclude",)], [("include", "")]])
def test_malformed_filters_are_named(bad):
    with pytest.raises(ValueError, match=r"filters\[0\]"):
        check_filters(bad)


def test_bounded_map_caps_calls_in_flight_and_yields_every_result():
    running = peak = 0
    lock = threading.Lock()

    def work(item):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        return item * 2

    results = sorted(future.result() for _, future in bounded_map(work, range(40), 4))
    assert results == [i * 2 for i in range(40)]
    assert peak <= 4


def test_bounded_map_stops_starting_new_calls_when_told():
    seen = []
    for item, _ in bounded_map(lambda i: i, range(100), 1, stop=lambda: len(seen) >= 3):
        seen.append(item)
    assert seen == [0, 1, 2]


def test_prefetched_keeps_order_and_bounds_what_it_holds():
    drawn = []

    def slow():
        for i in range(50):
            drawn.append(i)
            yield i

    consumer = prefetched(slow(), 5)
    assert next(consumer) == 0
    time.sleep(0.2)
    assert len(drawn) <= 7  # the one handed over, five buffered, one waiting to be put
    assert list(consumer) == list(range(1, 50))


def test_prefetched_hands_errors_to_the_consumer():
    def broken():
        yield 1
        raise RuntimeError("listing failed")

    consumer = prefetched(broken(), 5)
    assert next(consumer) == 1
    with pytest.raises(RuntimeError, match="listing failed"):
        next(consumer)
