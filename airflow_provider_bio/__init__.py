"""Airflow operators and DAGs for long AWS batch work: taxon indexing, S3 sync, table copies."""

from __future__ import annotations

__version__ = "0.1.0"
