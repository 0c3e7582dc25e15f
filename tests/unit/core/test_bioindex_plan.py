"""Planning bio-index runs: the conf's refusals name the field and the fix; chunks respect every limit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_bio.core.bioindex_plan import (
    FIELDS,
    IndexTarget,
    check_keys,
    check_worker_options,
    gib,
    plan_chunks,
    select_indexes,
    validate_conf,
)

INDEXES = [{"name": "genes", "prefix": "genes/"}, {"name": "genes-test", "prefix": "genes-test/"}]
CONF = {"bucket": "dig-bio-index", "indexes": INDEXES}


def test_include_and_exclude_pick_indexes_by_name_in_order() -> None:
    conf = validate_conf(CONF | {"exclude": ["*-test"]})
    assert conf.indexes == (IndexTarget("genes", "genes/"),)
    assert conf.chunk_bytes == 20 * 2**30 and conf.dry_run is False


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"bucket": "Bad_Bucket"}, "bucket: .*expected the S3 bucket"),
        ({"indexes": [{"name": "x", "prefix": "no-slash"}]}, 'indexes: .*prefixes end with "/"'),
        ({"indexes": [{"name": "x", "prefix": "/abs/"}]}, "indexes: "),
        ({"chunk_gib": 0}, "chunk_gib: .*more than 0"),
        ({"surprise": 1}, "allowed fields: bucket, indexes"),
        ({"include": ["nothing*"]}, r"select no index; the indexes are: genes, genes-test"),
        ({"indexes": [*INDEXES, INDEXES[0]]}, "names appear twice: genes"),
        ({"indexes": [{"name": "a", "prefix": "a/"}, {"name": "b", "prefix": "a/b/"}]}, "lies inside 'a/' of a"),
    ],
)
def test_bad_conf_is_refused_naming_the_field_and_the_fix(conf, message) -> None:
    with pytest.raises(ValueError, match=message):
        validate_conf(CONF | conf)


def test_work_location_inside_an_index_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="move work_location outside every index prefix"):
        validate_conf(CONF, work_location="s3://dig-bio-index/genes/_work/")
    with pytest.raises(ValueError, match="inside the prefix of genes"):
        validate_conf(CONF, work_location="s3://dig-bio-index/genes")  # the worker would write under genes/
    assert validate_conf(CONF, work_location="s3://other-bucket/genes/_work/")


def test_select_keeps_the_given_order() -> None:
    targets = [IndexTarget(n, f"{n}/") for n in ("c", "a", "b")]
    assert [t.name for t in select_indexes(targets, ["*"], ["a"])] == ["c", "b"]


FILES = st.lists(
    st.tuples(st.sampled_from(["genes", "variants"]), st.integers(0, 10**6)),
    max_size=300,
).map(lambda items: sorted(((index, f"{index}/f{n}.json", size) for n, (index, size) in enumerate(items))))


@given(files=FILES, chunk_bytes=st.integers(1, 3 * 10**6), chunk_files=st.integers(1, 50), limit=st.integers(1, 40))
def test_chunks_keep_order_and_indexes_apart_within_every_limit(files, chunk_bytes, chunk_files, limit) -> None:
    if len({index for index, _, _ in files}) > limit:
        with pytest.raises(ValueError, match="run fewer indexes at once"):
            plan_chunks(files, chunk_bytes=chunk_bytes, chunk_files=chunk_files, max_chunks=limit)
        return
    chunks = plan_chunks(files, chunk_bytes=chunk_bytes, chunk_files=chunk_files, max_chunks=limit)
    assert [key for chunk in chunks for key in chunk.keys] == [key for _, key, _ in files]
    assert len(chunks) <= limit
    sizes = {key: size for _, key, size in files}
    for chunk in chunks:
        assert {index for index, key, _ in files if key in chunk.keys} == {chunk.index}
        assert chunk.size == sum(sizes[key] for key in chunk.keys)
    if len(_plain := plan_chunks(files, chunk_bytes=chunk_bytes, chunk_files=chunk_files, max_chunks=10**9)) <= limit:
        assert chunks == _plain  # limits are raised only when the plan would not fit
        for chunk in chunks:
            assert len(chunk.keys) <= chunk_files
            assert chunk.size <= chunk_bytes or len(chunk.keys) == 1


def test_chunk_labels_name_the_index_count_and_size() -> None:
    [chunk] = plan_chunks([("genes", "genes/a.json", 3 * 2**30)], chunk_bytes=2**40)
    assert chunk.as_kwargs(1, 4) == {"keys": ["genes/a.json"], "chunk_label": "genes 1/4 · 1 files · 3.0 GiB"}


@pytest.mark.parametrize(("keys", "message"), [("a.json", "JSON list"), (["a.json", "b.json.gz"], "originals' keys")])
def test_keys_must_name_originals(keys, message) -> None:
    with pytest.raises(ValueError, match=message):
        check_keys(keys, "keys")


def test_a_chosen_index_leaves_out_known_indexes_nested_in_it_that_were_not_chosen() -> None:
    known = [{"name": "genes-rare", "prefix": "genes/rare/"}, {"name": "other", "prefix": "other/"}]
    conf = validate_conf(CONF | {"exclude": ["*-test"]}, known=known)
    [genes] = conf.indexes
    assert genes.exclude == ("genes/rare/",)
    assert genes.owns("genes/a.json") and not genes.owns("genes/rare/a.json")


def test_a_bucket_other_than_the_served_one_is_refused() -> None:
    with pytest.raises(ValueError, match="bucket: dig-bio-index-copy is not the bucket the bio-index serves"):
        validate_conf(CONF | {"bucket": "dig-bio-index-copy"}, served_bucket="dig-bio-index")
    assert validate_conf(CONF, served_bucket="dig-bio-index")


@pytest.mark.parametrize(
    ("change", "field"),
    [({"bucket": "dig-bio-index\n"}, "bucket"), ({"indexes": [{"name": "genes", "prefix": "genes/\n"}]}, "indexes")],
    ids=["bucket", "prefix"],
)
def test_a_trailing_newline_is_refused_by_the_form_and_by_the_plan(change, field) -> None:
    from airflow.sdk import Param
    from airflow.sdk.exceptions import ParamValidationError

    good = {"bucket": "dig-bio-index", "indexes": [{"name": "genes", "prefix": "genes/"}]}
    with pytest.raises(ParamValidationError):
        Param(None, **FIELDS[field][1]).resolve(change[field])
    with pytest.raises(ValueError, match=field):
        validate_conf(good | change)


def test_an_index_target_is_handed_on_as_an_entry_with_its_excluded_prefixes() -> None:
    target = IndexTarget("genes", "genes/", ("genes/rare/", "genes/test/"))
    assert target.as_entry() == {"index": "genes", "prefix": "genes/", "exclude": ["genes/rare/", "genes/test/"]}
    assert IndexTarget("variants", "variants/").as_entry() == {
        "index": "variants",
        "prefix": "variants/",
        "exclude": [],
    }


@pytest.mark.parametrize(("chunk_gib", "chunk_bytes"), [(1, 2**30), (0.5, 2**29), (1e-9, 2), (1024, 2**40)], ids=str)
def test_chunk_gib_is_rounded_up_to_whole_bytes(chunk_gib: float, chunk_bytes: int) -> None:
    assert validate_conf(CONF | {"chunk_gib": chunk_gib}).chunk_bytes == chunk_bytes


def test_a_dry_run_and_the_bucket_are_kept() -> None:
    conf = validate_conf(CONF | {"dry_run": True})
    assert conf.dry_run is True and conf.bucket == "dig-bio-index"
    assert conf.indexes == (IndexTarget("genes", "genes/"), IndexTarget("genes-test", "genes-test/"))


@pytest.mark.parametrize(
    "change",
    [
        {"bucket": "abc"},
        {"bucket": "a" * 63},
        {"bucket": "my.bucket-1"},
        {"indexes": [{"name": "g" * 200, "prefix": "a/"}]},
        {"indexes": [{"name": "g", "prefix": "a b/c/"}]},
        {"include": []},
        {"exclude": ["genes-test"]},
        {"chunk_gib": 1024},
    ],
    ids=[
        "shortest bucket",
        "longest bucket",
        "dotted bucket",
        "long name",
        "spaced prefix",
        "no include",
        "exclude",
        "max chunk",
    ],
)
def test_values_at_the_limits_are_accepted(change: dict) -> None:
    if change.get("include") == []:
        with pytest.raises(ValueError, match="select no index"):  # valid conf, but nothing included
            validate_conf(CONF | change)
        return
    assert validate_conf(CONF | change).indexes


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bucket": "ab"}, "bucket: 'ab' does not match"),
        ({"bucket": "a" * 64}, "bucket: "),
        ({"bucket": "-abc"}, "bucket: "),
        ({"bucket": "abc-"}, "bucket: "),
        ({"bucket": 5}, "bucket: 5 is not of type 'string'"),
        ({"indexes": []}, r"indexes: \[\] should be non-empty; expected a non-empty list of"),
        ({"indexes": [{"name": "", "prefix": "a/"}]}, "indexes: '' should be non-empty"),
        ({"indexes": [{"name": "g" * 201, "prefix": "a/"}]}, "indexes: .* is too long"),
        ({"indexes": [{"name": "g", "prefix": "a/", "extra": 1}]}, "indexes: Additional properties"),
        ({"indexes": [{"name": "g"}]}, "indexes: 'prefix' is a required property"),
        ({"indexes": [{"prefix": "a/"}]}, "indexes: 'name' is a required property"),
        ({"indexes": [{"name": "g", "prefix": "/"}]}, "indexes: '/' does not match"),
        ({"indexes": [{"name": "g", "prefix": "\na/"}]}, "indexes: "),
        ({"include": [""]}, "include: '' should be non-empty; expected index-name patterns to take"),
        ({"include": "genes"}, "include: 'genes' is not of type 'array'"),
        ({"exclude": [""]}, "exclude: '' should be non-empty; expected index-name patterns to leave out"),
        ({"chunk_gib": 1024.5}, "chunk_gib: 1024.5 is greater than the maximum of 1024"),
        ({"chunk_gib": -1}, "chunk_gib: .*; expected GiB of files per Batch job"),
        ({"dry_run": "yes"}, "dry_run: 'yes' is not of type 'boolean'; expected true to list and plan only"),
    ],
)
def test_each_field_is_checked_against_its_schema(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match="^invalid conf: " + message):
        validate_conf(CONF | change)


@pytest.mark.parametrize("missing", ["bucket", "indexes"])
def test_a_conf_without_a_required_field_is_refused_listing_the_fields(missing: str) -> None:
    conf = {name: value for name, value in CONF.items() if name != missing}
    with pytest.raises(ValueError) as refused:
        validate_conf(conf)
    assert str(refused.value) == (
        f"invalid conf: '{missing}' is a required property; "
        "allowed fields: bucket, indexes, include, exclude, chunk_gib, dry_run"
    )


def test_every_bad_field_is_named_at_once_in_field_order() -> None:
    with pytest.raises(ValueError) as refused:
        validate_conf({"bucket": "B", "indexes": [], "dry_run": 1, "chunk_gib": 0})
    assert [problem.split(":")[0] for problem in str(refused.value).removeprefix("invalid conf: ").split(" | ")] == [
        "bucket",
        "chunk_gib",
        "dry_run",
        "indexes",
    ]


def test_names_listed_twice_are_named_once_each_in_order() -> None:
    indexes = [{"name": n, "prefix": f"{n}{i}/"} for i, n in enumerate(["b", "a", "b", "c", "a"])]
    with pytest.raises(ValueError) as refused:
        validate_conf(CONF | {"indexes": indexes})
    assert str(refused.value) == "indexes: names appear twice: a, b; list each index once"


def test_a_nested_index_is_refused_only_when_both_are_chosen() -> None:
    indexes = [{"name": "b", "prefix": "a/b/"}, {"name": "a", "prefix": "a/"}]
    with pytest.raises(ValueError) as refused:
        validate_conf(CONF | {"indexes": indexes})
    assert str(refused.value) == (
        "indexes: prefix 'a/b/' of b lies inside 'a/' of a; one run would handle its files twice: run them separately"
    )
    [chosen] = validate_conf(CONF | {"indexes": indexes, "include": ["a"]}).indexes
    assert chosen == IndexTarget("a", "a/", ("a/b/",))


def test_the_work_location_is_checked_only_against_chosen_indexes_in_the_served_bucket() -> None:
    with pytest.raises(ValueError) as refused:
        validate_conf(CONF, work_location="s3://dig-bio-index/genes-test/work/")
    assert str(refused.value) == (
        "work_location s3://dig-bio-index/genes-test/work/ lies inside the prefix of genes-test: its manifests would "
        "be compressed as index files; move work_location outside every index prefix"
    )
    assert validate_conf(CONF | {"include": ["genes"]}, work_location="s3://dig-bio-index/genes-test/work/")
    assert validate_conf(CONF, work_location="s3://dig-bio-index/work/genes/")
    with pytest.raises(ValueError, match=r"^work_location: 'https://dig-bio-index/work/' is not an s3://"):
        validate_conf(CONF, work_location="https://dig-bio-index/work/")


def test_known_and_listed_indexes_nested_in_a_chosen_one_are_excluded_in_order() -> None:
    known = [
        {"name": "z", "prefix": "genes/z/"},
        {"name": "rare", "prefix": "genes/rare/"},
        {"name": "genes", "prefix": "genes/"},
        {"name": "elsewhere", "prefix": "other/genes/"},
    ]
    indexes = [*INDEXES, {"name": "genes-a", "prefix": "genes/a/"}]
    conf = validate_conf(CONF | {"indexes": indexes, "include": ["genes", "genes-test"]}, known=known)
    assert conf.indexes == (
        IndexTarget("genes", "genes/", ("genes/a/", "genes/rare/", "genes/z/")),
        IndexTarget("genes-test", "genes-test/"),
    )


def test_the_served_bucket_is_not_required_when_not_given() -> None:
    assert validate_conf(CONF | {"bucket": "any-bucket"}).bucket == "any-bucket"
    with pytest.raises(ValueError) as refused:
        validate_conf(CONF | {"bucket": "a-copy"}, served_bucket="dig-bio-index")
    assert str(refused.value) == (
        "bucket: a-copy is not the bucket the bio-index serves its files from (dig-bio-index, the deployment's "
        "bucket in bioindex.json); its flags describe that bucket's files, so a run against a-copy would mark "
        "indexes it did not change. Run against dig-bio-index, or run a deployment whose settings "
        "(BIOINDEX_CONFIG) name this bucket and its own bio-index"
    )


def test_the_refusal_to_select_nothing_names_the_patterns_and_every_index() -> None:
    targets = [IndexTarget("genes", "genes/"), IndexTarget("variants", "variants/")]
    with pytest.raises(ValueError) as refused:
        select_indexes(targets, iter(["gene*"]), iter(["genes"]))
    assert str(refused.value) == (
        "include ['gene*'] and exclude ['genes'] select no index; the indexes are: genes, variants"
    )
    assert select_indexes(targets, ["GENES", "variants"], []) == [targets[1]]  # patterns are case-sensitive


@pytest.mark.parametrize(
    ("size", "label"),
    [
        (0, "0 MiB"),
        (1, "1 MiB"),
        (2**20, "1 MiB"),
        (2**20 + 1, "2 MiB"),
        (2**30 - 1, "1024 MiB"),
        (2**30, "1.0 GiB"),
        (int(3.26 * 2**30), "3.3 GiB"),
    ],
)
def test_sizes_are_labelled_in_mib_below_a_gib(size: int, label: str) -> None:
    assert gib(size) == label


def test_chunks_close_at_the_byte_limit_and_at_the_file_limit() -> None:
    files = [("g", "a", 4), ("g", "b", 6), ("g", "c", 1), ("g", "d", 1), ("g", "e", 1), ("h", "f", 1)]
    chunks = plan_chunks(files, chunk_bytes=10, chunk_files=2)
    assert [(c.index, c.keys, c.size) for c in chunks] == [
        ("g", ("a", "b"), 10),
        ("g", ("c", "d"), 2),
        ("g", ("e",), 1),
        ("h", ("f",), 1),
    ]
    assert plan_chunks([], chunk_bytes=10) == []


def test_a_chunk_holds_2000_files_by_default() -> None:
    files = [("g", f"k{n}", 1) for n in range(2001)]
    assert [len(chunk.keys) for chunk in plan_chunks(files, chunk_bytes=10**9)] == [2000, 1]


def test_limits_double_together_until_the_plan_fits() -> None:
    files = [("g", f"k{n}", 1) for n in range(9)]
    chunks = plan_chunks(files, chunk_bytes=1, chunk_files=100, max_chunks=3)
    assert [len(chunk.keys) for chunk in chunks] == [4, 4, 1]
    chunks = plan_chunks(files, chunk_bytes=100, chunk_files=1, max_chunks=3)
    assert [len(chunk.keys) for chunk in chunks] == [4, 4, 1]
    assert len(plan_chunks(files, chunk_bytes=1, chunk_files=1, max_chunks=9)) == 9


def test_more_indexes_than_airflow_maps_are_refused_before_chunking() -> None:
    files = [(f"i{n}", f"i{n}/k", 1) for n in range(1025)]
    with pytest.raises(ValueError) as refused:
        plan_chunks(files, chunk_bytes=10)
    assert str(refused.value) == "1025 indexes need at least 1025 chunks, more than 1024; run fewer indexes at once"
    assert len(plan_chunks(files[:1024], chunk_bytes=10)) == 1024
    assert len(plan_chunks([("a", "x", 1), ("b", "y", 1), ("a", "z", 1)], chunk_bytes=10, max_chunks=3)) == 3


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"a.json": 1}, "manifest must be a JSON list of object keys (strings)"),
        (["a.json", 3], "manifest must be a JSON list of object keys (strings)"),
        (["a.json", ""], "manifest must be a JSON list of object keys (strings)"),
        (
            ["a.json", "b.json.gzi", "c.json.gz"],
            "manifest lists compressed objects ('b.json.gzi'...); list the originals' keys "
            "(e.g. data/part-0001.json), the worker finds <key>.gz and <key>.gz.gzi itself",
        ),
    ],
)
def test_bad_keys_are_refused_naming_the_source(keys: object, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        check_keys(keys, "manifest")
    assert str(refused.value) == message


def test_good_keys_are_returned() -> None:
    assert check_keys(["a.json", "b.gz.json"], "manifest") == ["a.json", "b.gz.json"]
    assert check_keys([], "manifest") == []


GOOD_OPTIONS = {"level": 6, "workers": 1, "threads": None, "keep_compressed": False, "dry_run": False}


@pytest.mark.parametrize(
    ("action", "options"),
    [
        ("compress", {}),
        ("verify", {"threads": 1, "level": -1}),
        ("decompress", {"keep_compressed": True, "dry_run": True}),
        ("delete-originals", {"dry_run": True, "level": 0}),
        ("compress", {"level": 9}),
    ],
)
def test_sensible_worker_options_pass(action: str, options: dict) -> None:
    assert check_worker_options(action, **GOOD_OPTIONS | options) is None


@pytest.mark.parametrize(
    ("action", "options", "message"),
    [
        ("gzip", {}, "action must be one of compress, verify, delete-originals, decompress; got 'gzip'"),
        ("compress", {"level": 10}, "level must be -1"),
        ("compress", {"workers": 0}, "--workers and --threads must be at least 1"),
        ("compress", {"threads": 0}, "--workers and --threads must be at least 1"),
        ("delete-originals", {"keep_compressed": True}, "--keep-compressed applies to decompress only"),
        ("compress", {"dry_run": True}, "--dry-run applies to delete-originals and decompress only"),
        ("verify", {"dry_run": True}, "--dry-run applies to delete-originals and decompress only"),
    ],
)
def test_worker_options_that_make_no_sense_are_refused_as_the_caller_spells_them(
    action: str, options: dict, message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        check_worker_options(action, **GOOD_OPTIONS | options, spelled=lambda name: "--" + name.replace("_", "-"))
    assert str(refused.value).startswith(message)


def test_worker_options_are_named_as_is_by_default() -> None:
    with pytest.raises(ValueError, match=r"^keep_compressed applies to decompress only$"):
        check_worker_options("compress", **GOOD_OPTIONS | {"keep_compressed": True})


def test_the_refusal_counts_each_index_once_however_many_files_it_has() -> None:
    files = [("a", "a/1", 1), ("a", "a/2", 1), ("b", "b/1", 1), ("b", "b/2", 1), ("c", "c/1", 1)]
    with pytest.raises(ValueError) as refused:
        plan_chunks(files, chunk_bytes=10, max_chunks=2)
    assert str(refused.value) == "3 indexes need at least 3 chunks, more than 2; run fewer indexes at once"
    assert [chunk.index for chunk in plan_chunks(files[:4], chunk_bytes=10, max_chunks=2)] == ["a", "b"]
