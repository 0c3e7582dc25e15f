"""The bison_monthly conf: defaults, the snapshot of the run's month, and errors naming the field."""

from __future__ import annotations

from datetime import date

import pytest

from airflow_provider_bio.core.bison_conf import BisonRun, ConfError, validate_conf

RUN_DAY = date(2026, 12, 2)


def test_defaults_read_the_run_months_snapshot_from_gbifs_open_data() -> None:
    assert validate_conf({"output_uri": "s3://bison-project/monthly/"}, RUN_DAY) == BisonRun(
        snapshot="2026-12-01",
        gbif_uri="s3://gbif-open-data-us-east-1/occurrence/2026-12-01/occurrence.parquet/",
        output_uri="s3://bison-project/monthly",
        engine="local",
        chunk_mib=512,
        keep_snapshots=3,
        dry_run=False,
    )


def test_a_given_snapshot_and_uri_are_used_and_outputs_sit_under_the_snapshot() -> None:
    run = validate_conf(
        {
            "output_uri": "s3://out",
            "snapshot": "2024-02-01",
            "gbif_uri": "s3://mirror/{snapshot}/occ",
            "chunk_mib": 4.0,
        },
        RUN_DAY,
    )
    assert run.gbif_uri == "s3://mirror/2024-02-01/occ/"
    assert run.under("subset") == "s3://out/2024-02-01/subset/"
    assert run.chunk_mib == 4 and isinstance(run.chunk_mib, int)


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({}, "output_uri: is required; expected the project's s3://bucket/prefix"),
        ({"output_uri": "bucket/prefix"}, "output_uri: 'bucket/prefix' does not match"),
        ({"output_uri": "s3://out", "snapshot": "2024-02-02"}, "snapshot: '2024-02-02' does not match"),
        ({"output_uri": "s3://out", "snapshot": "2024-13-01"}, "snapshot: '2024-13-01' does not match"),
        ({"output_uri": "s3://out", "engine": "redshift"}, "engine: 'redshift' is not one of ['local']"),
        ({"output_uri": "s3://out", "chunk_mib": 0}, "chunk_mib: 0 is less than the minimum of 1"),
        ({"output_uri": "s3://out", "keep_snapshots": 0}, "keep_snapshots: 0 is less than the minimum of 1"),
        ({"output_uri": "s3://out", "dry_run": "yes"}, "dry_run: 'yes' is not of type 'boolean'"),
        ({"output_uri": "s3://out", "bucket": "x"}, "unknown field(s) ['bucket']; remove them"),
        (
            {"output_uri": "s3://out", "gbif_uri": "s3://gbif/{month}/"},
            "gbif_uri: 's3://gbif/{month}/' has a placeholder",
        ),
    ],
)
def test_bad_conf_is_refused_naming_the_field_and_the_fix(conf: dict[str, object], message: str) -> None:
    with pytest.raises(ConfError) as refused:
        validate_conf(conf, RUN_DAY)
    assert message in str(refused.value)
    assert str(refused.value).startswith("Invalid bison_monthly conf:\n- ")


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(ConfError) as refused:
        validate_conf({"engine": "x", "chunk_mib": -1}, RUN_DAY)
    assert str(refused.value).count("\n- ") == 3
