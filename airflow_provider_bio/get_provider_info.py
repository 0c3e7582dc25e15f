"""Provider registration read by Airflow's providers manager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any

from airflow_provider_bio import __version__


def get_provider_info() -> dict[str, Any]:
    """Describe the provider: its package, operators, sensors, hooks and extra links."""
    return {
        "package-name": "airflow-provider-bio",
        "name": "Bio batch jobs",
        "description": "Operators and DAGs for long AWS batch work: taxon indexing, S3 sync, table copies, BGZF.",
        "versions": [__version__],
        "operators": [
            {
                "integration-name": "Taxon indexing",
                "python-modules": [
                    "airflow_provider_bio.operators.taxon_index",
                    "airflow_provider_bio.operators.search_index",
                ],
            },
            {"integration-name": "Amazon S3 sync", "python-modules": ["airflow_provider_bio.operators.s3_sync"]},
            {
                "integration-name": "Lower-environment copies",
                "python-modules": [
                    "airflow_provider_bio.operators.dynamodb_copy",
                    "airflow_provider_bio.operators.deploy_flags",
                    "airflow_provider_bio.operators.persistence",
                    "airflow_provider_bio.operators.search_domains",
                    "airflow_provider_bio.operators.redeploy",
                    "airflow_provider_bio.operators.stream_processors",
                ],
            },
            {
                "integration-name": "Bio-index BGZF compression",
                "python-modules": ["airflow_provider_bio.operators.bgzip", "airflow_provider_bio.operators.bioindex"],
            },
            {"integration-name": "BISON monthly pipeline", "python-modules": ["airflow_provider_bio.operators.bison"]},
        ],
        "sensors": [
            {
                "integration-name": "Lower-environment copies",
                "python-modules": ["airflow_provider_bio.sensors.stream_processors"],
            }
        ],
        "hooks": [
            {
                "integration-name": "OpenSearch / Elasticsearch (HTTP)",
                "python-modules": ["airflow_provider_bio.hooks.search_index"],
            },
            {"integration-name": "Amazon S3 sync", "python-modules": ["airflow_provider_bio.hooks.s3_sync"]},
            {
                "integration-name": "Lower-environment copies",
                "python-modules": ["airflow_provider_bio.hooks.dynamodb_copy"],
            },
            {
                "integration-name": "Bio-index BGZF compression",
                "python-modules": ["airflow_provider_bio.hooks.bioindex"],
            },
            {
                "integration-name": "BISON monthly pipeline",
                "python-modules": ["airflow_provider_bio.hooks.arrow_s3", "airflow_provider_bio.hooks.gbif"],
            },
        ],
        "extra-links": ["airflow_provider_bio.links.lambda_function.LambdaFunctionLink"],
    }
