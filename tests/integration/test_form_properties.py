"""Any conf a DAG's Params accept either plans or is refused by the DAG's own validation: no deeper traceback."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_bio.core import bioindex_plan, taxon_conf, taxon_index
from tests.conftest import REPO

EDGE_STRINGS = st.sampled_from(["", "v6", "v6\n", "123456", "s3://bucket/in.json", "s3://bucket/in.json\n", "a b"])
NUMBERS = st.one_of(st.integers(-1, 300), st.sampled_from([0.0, 1.0, 4.0, 4.5, 200.0, 1e5]), st.booleans())
IDS = st.lists(st.one_of(st.integers(0, 5), st.sampled_from([1.0, 2.5, "1"])), max_size=3)
PAIRS = st.lists(st.fixed_dictionaries({"background_ids": IDS, "pipeline_run_ids": IDS}), max_size=2)


def _accepted(dag, conf):
    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(dag.params)
    try:
        params.update(conf)
        return params.validate()
    except ParamValidationError:
        return None


def _dag(file, dag_id):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags" / file)).dags[dag_id]


TAXONS = st.fixed_dictionaries(
    {"lambda_function_name": st.sampled_from(["taxon-indexing", "f\n", "123456"])},
    optional={
        "job_params": st.one_of(st.none(), PAIRS),
        "input_s3_uri": st.one_of(st.none(), EDGE_STRINGS),
        "concurrency": NUMBERS,
        "chunk_size": NUMBERS,
        "index_suffix": st.one_of(st.none(), EDGE_STRINGS),
        "scored_taxon_counts_index_name": st.one_of(st.none(), EDGE_STRINGS),
        "create_indexes": st.one_of(st.booleans(), EDGE_STRINGS),
        "swap_aliases": st.booleans(),
    },
)


@settings(max_examples=80, deadline=None)
@given(conf=TAXONS)
def test_batch_index_taxons_plans_any_accepted_conf_or_refuses_it_naming_a_field(conf):
    accepted = _accepted(_dag("batch_index_taxons.py", "batch_index_taxons"), conf)
    if accepted is None:
        return
    try:
        plan = taxon_conf.validate_conf(accepted)
    except taxon_conf.ConfError as err:
        assert any(name in str(err) for name in taxon_conf.FIELDS)
        return
    # what the chunks are handed is what they expect: ints (a 4.0 ended in a TypeError deeper in)
    assert type(plan.chunk_size) is int and type(plan.concurrency) is int
    pairs = taxon_index.expand_pairs(plan.job_params or [])
    assert all(type(i) is int for pair in pairs for i in pair)
    chunks = taxon_index.plan_chunks(pairs, chunk_size=plan.chunk_size, concurrency=plan.concurrency)
    assert sum(len(chunk.pairs) for chunk in chunks) == len(pairs)


BUCKETS = st.sampled_from(["dig-bio-index", "123456", "0x10", "1e5", "dig-bio-index\n", "Bad_Bucket"])
INDEXES = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["genes", "genes\n", "123"]), "prefix": EDGE_STRINGS | st.just("g/")}
    ),
    max_size=2,
)


@settings(max_examples=80, deadline=None)
@given(
    conf=st.fixed_dictionaries(
        {"bucket": BUCKETS},
        optional={
            "indexes": INDEXES,
            "include": st.lists(EDGE_STRINGS, max_size=2),
            "exclude": st.lists(EDGE_STRINGS, max_size=2),
            "chunk_gib": NUMBERS,
            "dry_run": st.one_of(st.booleans(), EDGE_STRINGS),
        },
    )
)
def test_bioindex_plans_any_accepted_conf_or_refuses_it_naming_a_field(conf):
    from airflow.sdk.definitions._internal.templater import NativeEnvironment

    from dags.bioindex import BUCKET

    accepted = _accepted(_dag("bioindex.py", "bioindex_compress"), conf)
    if accepted is None:
        return
    try:
        plan = bioindex_plan.validate_conf(accepted, served_bucket=accepted["bucket"])
    except ValueError as err:
        assert any(name in str(err) for name in (*bioindex_plan.FIELDS, "include", "exclude"))
        return
    # every step after the plan is handed the bucket through the template, as a string
    assert NativeEnvironment().from_string(BUCKET).render(params=accepted) == plan.bucket
    files = [(index.name, f"{index.prefix}part.json", 10) for index in plan.indexes]
    assert len(bioindex_plan.plan_chunks(files, chunk_bytes=plan.chunk_bytes)) == len(plan.indexes)
