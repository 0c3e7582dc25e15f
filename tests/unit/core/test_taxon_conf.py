from __future__ import annotations

import json

import pytest

from airflow_provider_bio.core.taxon_conf import FIELDS, ConfError, parse_input_file, validate_conf

GOOD = {
    "lambda_function_name": "taxon-indexing-lambda-sandbox-index_taxons",
    "job_params": [{"background_ids": [1, 2], "pipeline_run_ids": [10]}],
}


def test_defaults_fill_what_is_left_out():
    conf = validate_conf(GOOD)
    assert (conf.concurrency, conf.chunk_size) == (20, 1000)
    assert conf.scored_taxon_counts_index_name is None and conf.pipeline_runs_index_name is None


def test_index_suffix_names_the_fresh_indexes():
    conf = validate_conf(GOOD | {"index_suffix": "v6", "create_indexes": True, "swap_aliases": True})
    assert conf.scored_taxon_counts_index_name == "scored_taxon_counts-v6"
    assert conf.fresh_indexes == {"scored_taxon_counts": "scored_taxon_counts-v6", "pipeline_runs": "pipeline_runs-v6"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"job_params": []}, "job_params"),
        ({"job_params": [{"background_ids": [0], "pipeline_run_ids": [1]}]}, "job_params[0].background_ids[0]"),
        ({"job_params": [{"background_ids": [1], "pipeline_run_ids": [1], "skip": 1}]}, "job_params[0]"),
        ({"job_params": [{"background_ids": [1]}]}, "job_params[0]"),
        ({"job_params": [{"background_ids": ["1"], "pipeline_run_ids": [1]}]}, "job_params[0].background_ids[0]"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 10_000}, "concurrency"),
        ({"concurrency": True}, "concurrency"),
        ({"input_s3_uri": "https://bucket/key"}, "input_s3_uri"),
        ({"lambda_function_name": ""}, "lambda_function_name"),
        ({"create_indexes": True}, "create_indexes"),
        ({"swap_aliases": True}, "swap_aliases"),
        ({"index_suffix": "v6", "pipeline_runs_index_name": "pipeline_runs-v5"}, "pipeline_runs_index_name"),
        ({"concurency": 5}, "unknown field"),
    ],
)
def test_bad_conf_names_the_field(change, field):
    with pytest.raises(ConfError) as raised:
        validate_conf(GOOD | change)
    assert field in str(raised.value)


def test_pairs_come_from_exactly_one_source():
    with pytest.raises(ConfError, match="exactly one"):
        validate_conf(GOOD | {"input_s3_uri": "s3://bucket/input_files/x.json"})
    with pytest.raises(ConfError, match="exactly one"):
        validate_conf({"lambda_function_name": "f"})


def test_input_file_in_the_glue_format_is_read_and_skip_is_ignored_with_a_warning():
    text = json.dumps({"job_params": GOOD["job_params"], "concurrency": 50, "skip": [3, 0]})
    job_params, warnings = parse_input_file(text, "s3://b/k.json")
    assert job_params == GOOD["job_params"]
    assert any("'skip' is ignored" in w and "retrying or clearing" in w for w in warnings)


@pytest.mark.parametrize(
    ("text", "message"),
    [("{not json", "is not JSON"), ('{"job_params": [{"background_ids": [-1], "pipeline_run_ids": [1]}]}', "[-1]")],
)
def test_bad_input_file_is_rejected(text, message):
    with pytest.raises(ConfError) as raised:
        parse_input_file(text, "s3://b/k.json")
    assert message in str(raised.value) or "background_ids[0]" in str(raised.value)


def _params_refuse(name, value) -> bool:
    """Whether the DAG's Param for ``name`` (built from the same schema) refuses ``value`` at trigger time."""
    from airflow.sdk import Param
    from airflow.sdk.exceptions import ParamValidationError

    default, schema, _ = FIELDS[name]
    try:
        Param(default, **schema).resolve(value)
    except ParamValidationError:
        return True
    return False


@pytest.mark.parametrize(
    "change",
    [
        {"index_suffix": "v6\n"},
        {"lambda_function_name": "taxon-indexing\n"},
        {"scored_taxon_counts_index_name": "scored_taxon_counts-v6\n"},
        {"pipeline_runs_index_name": "pipeline_runs-v6\n"},
        {"input_s3_uri": "s3://bucket/input.json\n", "job_params": None},
    ],
    ids=lambda change: next(iter(change)),
)
def test_a_trailing_newline_is_refused_by_the_form_and_by_the_plan(change):
    name, value = next(iter(change.items()))
    assert _params_refuse(name, value)
    with pytest.raises(ConfError, match=name):
        validate_conf(GOOD | change)


@pytest.mark.parametrize("name", ["chunk_size", "concurrency"])
def test_a_whole_number_written_as_a_float_is_taken_as_an_int(name):
    assert not _params_refuse(name, 4.0)  # JSON schema's integer counts 4.0 as 4
    conf = validate_conf(GOOD | {name: 4.0})
    assert getattr(conf, name) == 4 and type(getattr(conf, name)) is int
    assert _params_refuse(name, 4.5)


def test_float_ids_that_are_whole_numbers_are_taken_as_ints():
    conf = validate_conf(GOOD | {"job_params": [{"background_ids": [1.0, 2], "pipeline_run_ids": [10.0]}]})
    assert conf.job_params == [{"background_ids": [1, 2], "pipeline_run_ids": [10]}]
    assert all(type(i) is int for item in conf.job_params for ids in item.values() for i in ids)
    job_params, _ = parse_input_file('{"job_params": [{"background_ids": [3.0], "pipeline_run_ids": [4]}]}', "s3://b/k")
    assert job_params == [{"background_ids": [3], "pipeline_run_ids": [4]}]
    assert type(job_params[0]["background_ids"][0]) is int


def test_an_empty_job_params_list_is_not_given():
    """The trigger form's list editor leaves [] once touched; with input_s3_uri the run goes on."""
    assert not _params_refuse("job_params", [])
    conf = validate_conf({"lambda_function_name": "f", "job_params": [], "input_s3_uri": "s3://bucket/in.json"})
    assert conf.job_params is None and conf.input_s3_uri == "s3://bucket/in.json"
    with pytest.raises(ConfError, match="exactly one"):
        validate_conf({"lambda_function_name": "f", "job_params": []})


def test_every_bad_field_is_listed_once_in_name_order_with_what_a_good_value_looks_like():
    with pytest.raises(ConfError) as raised:
        validate_conf(GOOD | {"concurrency": 0, "chunk_size": 0})
    assert str(raised.value) == (
        "Invalid batch_index_taxons conf:\n"
        "- chunk_size: 0 is less than the minimum of 1; expected an integer from 1 to 100000: pairs per mapped chunk "
        "(raised if chunks would exceed 1024)\n"
        "- concurrency: 0 is less than the minimum of 1; expected an integer from 1 to 200: Lambda invocations in "
        "flight at once for the run"
    )


def test_unknown_fields_are_named_with_the_known_ones_before_the_other_problems():
    with pytest.raises(ConfError) as raised:
        validate_conf(GOOD | {"concurency": 1, "chunk_sise": 2, "chunk_size": 0})
    assert str(raised.value) == (
        "Invalid batch_index_taxons conf:\n"
        "- conf: unknown field(s) ['chunk_sise', 'concurency']; remove them (known: ['chunk_size', 'concurrency', "
        "'create_indexes', 'index_suffix', 'input_s3_uri', 'job_params', 'lambda_function_name', "
        "'pipeline_runs_index_name', 'scored_taxon_counts_index_name', 'swap_aliases'])\n"
        "- chunk_size: 0 is less than the minimum of 1; expected an integer from 1 to 100000: pairs per mapped chunk "
        "(raised if chunks would exceed 1024)"
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"job_params": None}, "job_params / input_s3_uri: give exactly one of them (the pairs, or a file of them)"),
        (
            {"index_suffix": "v6", "scored_taxon_counts_index_name": "x"},
            "scored_taxon_counts_index_name: 'x' differs from scored_taxon_counts-v6 that index_suffix names; "
            "leave it empty or drop index_suffix",
        ),
        ({"swap_aliases": True}, "swap_aliases: needs index_suffix (e.g. v6) to name the fresh indexes"),
        ({"create_indexes": True, "index_suffix": ""}, "index_suffix: '' does not match"),
    ],
)
def test_checks_that_span_fields_say_how_to_fix_them(change, problem):
    with pytest.raises(ConfError) as raised:
        validate_conf(GOOD | change)
    assert str(raised.value).startswith("Invalid batch_index_taxons conf:\n- " + problem)


def test_an_index_name_equal_to_the_suffixed_one_is_accepted():
    conf = validate_conf(
        GOOD | {"index_suffix": "v6", "pipeline_runs_index_name": "pipeline_runs-v6", "create_indexes": True}
    )
    assert (conf.pipeline_runs_index_name, conf.scored_taxon_counts_index_name, conf.create_indexes) == (
        "pipeline_runs-v6",
        "scored_taxon_counts-v6",
        True,
    )
    assert validate_conf(GOOD).fresh_indexes == {}


def test_each_problem_of_an_input_file_is_named_with_the_file():
    text = '{"job_params": [{"background_ids": [-1], "pipeline_run_ids": [1]}], "concurrency": 0}'
    with pytest.raises(ConfError) as raised:
        parse_input_file(text, "s3://b/k.json")
    assert str(raised.value) == (
        "Invalid input file:\n"
        "- input_s3_uri file s3://b/k.json.concurrency: 0 is less than the minimum of 1\n"
        "- input_s3_uri file s3://b/k.json.job_params[0].background_ids[0]: -1 is less than the minimum of 1"
    )
    with pytest.raises(ConfError) as raised:
        parse_input_file("[]", "s3://b/k.json")
    assert str(raised.value) == "Invalid input file:\n- input_s3_uri file s3://b/k.json: [] is not of type 'object'"


@pytest.mark.parametrize(
    ("extra", "warnings"),
    [
        ({}, []),
        ({"skip": []}, []),
        ({"concurrency": 5}, ["s3://b/k.json: 'concurrency' is ignored; the run's concurrency conf applies"]),
    ],
)
def test_an_input_file_warns_only_about_fields_it_uses(extra, warnings):
    text = json.dumps({"job_params": GOOD["job_params"]} | extra)
    assert parse_input_file(text, "s3://b/k.json") == (GOOD["job_params"], warnings)
