from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_bio.core.bounded import bounded_map, prefetched
from airflow_provider_bio.core.s3_sync import (
    S3Object,
    SpooledPlan,
    check_filters,
    has_control_character,
    included,
    parse_s3_uri,
    plan_sync,
)

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


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("a\x00b", True),
        ("tab\there", True),
        ("\x1f", True),
        ("del\x7f", True),
        ("space ok", False),
        ("~tilde", False),
        ("é\x80", False),
        ("", False),
    ],
)
def test_control_characters_are_the_c0_range_and_del(key, expected):
    assert has_control_character(key) is expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [("s3://bkt", "s3://bkt/"), ("s3://bkt/docs", "s3://bkt/docs/"), ("s3://bkt/a/b/", "s3://bkt/a/b/")],
)
def test_a_location_prints_as_a_folder_uri(uri, expected):
    assert parse_s3_uri(uri, "source").uri == expected


@pytest.mark.parametrize(("bucket", "valid"), [("abc", True), ("ab", False), ("a" * 63, True), ("a" * 64, False)])
def test_bucket_names_are_3_to_63_characters(bucket, valid):
    if valid:
        assert parse_s3_uri(f"s3://{bucket}/x", "source").bucket == bucket
    else:
        with pytest.raises(ValueError, match=rf"^source: 's3://{bucket}/x' is not an s3://bucket\[/prefix\] URI"):
            parse_s3_uri(f"s3://{bucket}/x", "source")


def test_a_missing_uri_names_the_field():
    with pytest.raises(ValueError, match=r"^destination: None is not an s3://bucket"):
        parse_s3_uri(None, "destination")


def test_filters_come_back_as_pairs_and_a_bad_one_is_named_by_position():
    assert check_filters([["exclude", "*.tmp"], ("include", "a/*")]) == [("exclude", "*.tmp"), ("include", "a/*")]
    with pytest.raises(ValueError, match=r"^filters\[1\]: \('exclude', 3\) must be a pair like"):
        check_filters([("include", "*"), ("exclude", 3)])
    with pytest.raises(ValueError, match=r"^filters\[0\]"):
        check_filters([("exclude", "*", "x")])


def test_an_include_that_matches_last_brings_a_key_back():
    assert included("a.txt", [("exclude", "*"), ("include", "*.txt")])
    assert not included("a.txt", [("include", "*.txt"), ("exclude", "*")])
    assert not included("a.txt", [("exclude", "*.txt"), ("include", "*.pdf")])


def test_a_sync_without_delete_leaves_extra_destination_objects_alone():
    assert plan([obj("b")], [obj("a"), obj("b"), obj("c")]) == [("skip", "b", "unchanged")]
    assert plan([], [obj("a")]) == []
    assert plan([obj("a"), obj("b")], []) == [("copy", "a", "missing"), ("copy", "b", "missing")]


def test_size_only_still_copies_what_the_destination_lacks():
    assert plan([obj("a", age=-5), obj("b")], [obj("b", age=5)], size_only=True) == [
        ("copy", "a", "missing"),
        ("skip", "b", "unchanged"),
    ]


def test_steps_carry_the_source_object_or_for_a_delete_the_destination_one():
    source, destination = [obj("a", 1), obj("b", 2), obj("c", 3)], [obj("b", 2), obj("c", 4), obj("d", 5)]
    steps = list(plan_sync(source, destination, delete=True))
    assert [(s.action, s.key, s.obj) for s in steps] == [
        ("copy", "a", source[0]),
        ("skip", "b", source[1]),
        ("copy", "c", source[2]),
        ("delete", "d", destination[2]),
    ]


@pytest.mark.parametrize("side", ["source", "destination"])
def test_a_listing_with_a_repeated_or_backward_key_is_refused_naming_the_side(side):
    listings = {"source": [], "destination": []}
    listings[side] = [obj("a"), obj("b"), obj("b")]
    with pytest.raises(ValueError, match=f"^{side} listing is not in key order: 'b' then 'b'$"):
        plan(listings["source"], listings["destination"], delete=True)
    listings[side] = [obj("b"), obj("a")]
    with pytest.raises(ValueError, match=f"^{side} listing is not in key order: 'b' then 'a'$"):
        plan(listings["source"], listings["destination"], delete=True)


def spooled(source, destination, **kwargs):
    return SpooledPlan(plan_sync(source, destination, delete=True, **kwargs))


def test_a_spooled_plan_counts_what_the_delete_rules_need_and_reads_back_the_same_steps():
    source = [obj("a", 1), obj("b", 2, age=9), obj("c", 3)]
    destination = [obj("b", 2), obj("c", 3), obj("d", 4), obj("e", 5)]
    expected = list(plan_sync(source, destination, delete=True))
    with spooled(source, destination) as steps:
        assert (steps.sources, steps.deletes, steps.destination_objects) == (3, 2, 4)
        assert list(steps) == expected
        assert list(steps) == expected  # a second pass reads the same steps
        assert [(s.action, s.key, s.reason, s.obj.size) for s in steps] == [
            ("copy", "a", "missing", 1),
            ("copy", "b", "newer", 2),
            ("skip", "c", "unchanged", 3),
            ("delete", "d", "no source", 4),
            ("delete", "e", "no source", 5),
        ]
        assert next(iter(steps)).obj.last_modified == T0


@pytest.mark.parametrize(
    ("source", "allow_empty_source", "fraction", "refusal"),
    [
        ([], False, 1.0, "source s3://s/ lists no objects (after filters): a delete sync would empty s3://d/"),
        ([], True, 1.0, None),
        ([], True, 0.5, "the sync would delete 2 of 2 objects in s3://d/, over max_delete_fraction=0.5"),
        ([obj("a")], False, 0.5, None),  # 1 of 2: at the limit, allowed
        ([obj("a")], False, 0.49, "the sync would delete 1 of 2 objects in s3://d/, over max_delete_fraction=0.49"),
    ],
)
def test_a_delete_sync_is_refused_when_the_source_is_empty_or_too_much_would_go(
    source, allow_empty_source, fraction, refusal
):
    with spooled(source, [obj("a"), obj("b")]) as steps:
        reason = steps.delete_refusal(
            "s3://s/", "s3://d/", allow_empty_source=allow_empty_source, max_delete_fraction=fraction
        )
    if refusal is None:
        assert reason is None
    else:
        assert reason.startswith(refusal)


def test_a_copy_into_an_empty_destination_counts_no_destination_objects():
    with spooled([obj("a"), obj("b")], []) as steps:
        assert (steps.sources, steps.deletes, steps.destination_objects) == (2, 0, 0)
        assert steps.delete_refusal("s3://s/", "s3://d/", allow_empty_source=False, max_delete_fraction=0.0) is None


def test_a_key_equal_to_the_root_lists_first_as_the_empty_key():
    """An object named exactly like the prefix (a folder marker) has the relative key ''."""
    assert plan([obj(""), obj("a")], [obj("")], delete=True) == [("skip", "", "unchanged"), ("copy", "a", "missing")]
