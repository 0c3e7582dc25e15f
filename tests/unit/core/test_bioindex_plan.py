"""Planning bio-index runs: the conf's refusals name the field and the fix; chunks respect every limit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_provider_bio.core.bioindex_plan import (
    FIELDS,
    IndexTarget,
    check_keys,
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
