"""The steps of ``bison_monthly``: GBIF's monthly snapshot subset to the US, annotated, summarised.

Every step after the first reads the run's resolved configuration (the first step's return
value, a :class:`~airflow_provider_bio.core.bison_conf.BisonRun` as a dict) and writes under
``{output_uri}/{snapshot}/``. Each step overwrites its own outputs, so a retry or a clear
redoes exactly that step; an annotate task redoes only its own chunk's files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_bio.core.bison_conf import BisonRun, ConfError, validate_conf
from airflow_provider_bio.core.bison_summaries import SUMMARY_COLUMNS
from airflow_provider_bio.operators.base import AWS_TEMPLATE_FIELDS, AwsLateHookOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Species-match calls in flight at once (GBIF's public API answers 429 when pressed; the hook retries those).
DEFAULT_GBIF_CONCURRENCY = 8


class BisonConfOperator(BaseOperator):
    """Validate the run's conf before any AWS call and return the resolved run (see ``BisonRun``)."""

    def execute(self, context: Context) -> dict[str, Any]:
        run_day = context.get("logical_date") or context["dag_run"].run_after
        try:
            run = validate_conf({**context["params"], **(context["dag_run"].conf or {})}, run_day)
        except ConfError as error:
            raise AirflowFailException(str(error)) from error
        self.log.info("Snapshot %s from %s into %s (engine %s)", run.snapshot, run.gbif_uri, run.under(), run.engine)
        return run.as_dict()


class BisonStepOperator(AwsLateHookOperator):
    """A step of one ``bison_monthly`` run, reading and writing S3 through an Airflow AWS connection.

    :param run: the run's resolved configuration, the conf step's return value. (templated)
    """

    aws_hook_class_path = "airflow_provider_bio.hooks.arrow_s3.ArrowS3Hook"
    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "run")

    def __init__(self, *, run: dict[str, Any] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run = run

    @property
    def bison(self) -> BisonRun:
        if not isinstance(self.run, dict):
            raise ValueError(f"run must be the conf step's result (a dict); got {self.run!r}")
        return BisonRun(**self.run)

    def read_bytes(self, uri: str) -> bytes | None:
        """The object at ``uri``, or ``None`` when there is none."""
        bucket, key = self.hook.parse_s3_url(uri)
        if not self.hook.check_for_key(key, bucket):
            return None
        return self.hook.get_conn().get_object(Bucket=bucket, Key=key)["Body"].read()

    def read_json(self, uri: str) -> Any | None:
        """The JSON document at ``uri``, or ``None`` when there is none."""
        raw = self.read_bytes(uri)
        return None if raw is None else json.loads(raw)

    def write_json(self, uri: str, value: Any) -> None:
        bucket, key = self.hook.parse_s3_url(uri)
        self.hook.load_bytes(json.dumps(value).encode(), key, bucket, replace=True)

    def listing(self, uri: str) -> list[tuple[str, int]]:
        """``(s3 uri, size)`` of every object under a prefix, in key order; folder markers (keys ending
        in ``/``, which Arrow writes) are left out."""
        bucket, prefix = self.hook.parse_s3_url(uri)
        return [
            (f"s3://{bucket}/{item['Key']}", int(item["Size"]))
            for item in self.hook.iter_file_metadata(prefix, bucket)
            if not item["Key"].endswith("/")
        ]


class ResolveRiisOperator(BisonStepOperator):
    """Resolve the RIIS master list's names to GBIF taxon keys; write the lookup the annotation joins on.

    Answers are kept in ``{output_uri}/riis/taxonkeys.json`` across months and RIIS versions, so
    only names never asked before go to GBIF. The lookup is written per RIIS version (the CSV's
    SHA-256) to ``{output_uri}/riis/{version}/lookup.json``; a version already resolved costs one
    read. Answers are saved even when a later name fails, so a retry asks only what is left.

    :param riis_uri: the RIIS master list CSV. (templated)
    :param gbif_conn_id: the HTTP connection to GBIF's API.
    :param concurrency: species-match calls in flight at once.
    """

    template_fields: Sequence[str] = (*BisonStepOperator.template_fields, "riis_uri")

    def __init__(
        self,
        *,
        riis_uri: str,
        gbif_conn_id: str = "gbif_default",
        concurrency: int = DEFAULT_GBIF_CONCURRENCY,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.riis_uri = riis_uri
        self.gbif_conn_id = gbif_conn_id
        self.concurrency = concurrency

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_bio.core.bison_riis import names_to_match, read_riis, riis_lookup

        run = self.bison
        raw = self.read_bytes(self.riis_uri)
        if raw is None:
            raise AirflowFailException(f"riis_uri: no RIIS list at {self.riis_uri}")
        version = hashlib.sha256(raw).hexdigest()[:16]
        records = read_riis(raw.decode("utf-8-sig"))
        lookup_uri = f"{run.output_uri}/riis/{version}/lookup.json"
        if self.read_json(lookup_uri) is not None:
            self.log.info("RIIS version %s (%d rows) is resolved already: %s", version, len(records), lookup_uri)
            return {"lookup_uri": lookup_uri, "version": version, "rows": len(records), "asked": 0}
        cache_uri = f"{run.output_uri}/riis/taxonkeys.json"
        known = {(name, kingdom): key for name, kingdom, key in self.read_json(cache_uri) or []}
        asking = names_to_match(records, known)
        self.log.info("RIIS version %s: %d rows, %d names to ask GBIF", version, len(records), len(asking))
        if run.dry_run:
            return {"lookup_uri": None, "version": version, "rows": len(records), "asked": 0, "to_ask": len(asking)}
        try:
            self._ask(asking, known)
        finally:
            self.write_json(cache_uri, sorted([name, kingdom, key] for (name, kingdom), key in known.items()))
        lookup = riis_lookup(records, known)
        self.write_json(lookup_uri, sorted([key, locality, *listed] for (key, locality), listed in lookup.items()))
        unmatched = sum(1 for record in records if known.get(record.name) is None)
        self.log.info("%d (taxon, locality) pairs listed; %d rows without a GBIF match", len(lookup), unmatched)
        return {"lookup_uri": lookup_uri, "version": version, "rows": len(records), "asked": len(asking)}

    def _ask(self, names: list[tuple[str, str]], known: dict[tuple[str, str], int | None]) -> None:
        """Ask GBIF for each name, keeping every answer in ``known``; raise after all were tried if any failed."""
        from airflow_provider_bio.core.bison_riis import match_taxonkey
        from airflow_provider_bio.core.bounded import bounded_map
        from airflow_provider_bio.hooks.gbif import GbifSpeciesHook

        gbif = GbifSpeciesHook(self.gbif_conn_id)
        failed = []
        for (name, kingdom), answer in bounded_map(lambda pair: gbif.match(*pair), names, self.concurrency):
            if answer.exception() is not None:
                failed.append(f"{name} ({kingdom}): {answer.exception()}")
            else:
                known[(name, kingdom)] = match_taxonkey(answer.result())
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(names)} names were not resolved: " + "; ".join(failed[:10]))


class BisonSubsetOperator(BisonStepOperator):
    """Write BISON's subset of the snapshot under ``{output_uri}/{snapshot}/subset/`` (DuckDB, in-process).

    A dry run lists the snapshot's files and writes nothing.
    """

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_bio.hooks.arrow_s3 import arrow_path
        from airflow_provider_bio.jobs.bison_steps import subset

        run = self.bison
        files = self.listing(run.gbif_uri)
        size = sum(size for _, size in files)
        self.log.info("Snapshot %s: %d files, %.1f GiB", run.gbif_uri, len(files), size / 2**30)
        if not files:
            raise AirflowFailException(f"the snapshot {run.gbif_uri} has no files")
        if run.dry_run:
            return {"snapshot_files": len(files), "snapshot_bytes": size, "kept": None}
        kept = subset(self.hook.filesystem(), arrow_path(run.gbif_uri), arrow_path(run.under("subset")))
        self.log.info("Kept %d records in %s", kept, run.under("subset"))
        return {"snapshot_files": len(files), "snapshot_bytes": size, "kept": kept}


class PlanAnnotateChunksOperator(BisonStepOperator):
    """Split the subset's files into chunks of about ``chunk_mib`` each, one mapped annotate task per chunk."""

    def execute(self, context: Context) -> list[dict[str, Any]]:
        from airflow_provider_bio.core.bioindex_plan import plan_chunks

        run = self.bison
        if run.dry_run:
            self.log.info("Dry run: nothing was subset, nothing to annotate")
            return []
        files = [("annotate", uri, size) for uri, size in self.listing(run.under("subset"))]
        if not files:
            raise AirflowFailException(f"the subset {run.under('subset')} has no files: did the subset step run?")
        chunks = plan_chunks(files, chunk_bytes=run.chunk_mib * 2**20)
        planned = [chunk.as_kwargs(number, len(chunks)) for number, chunk in enumerate(chunks, 1)]
        for entry in planned:
            self.log.info("  %s", entry["chunk_label"])
        return [{"files": entry["keys"], "chunk_label": entry["chunk_label"]} for entry in planned]


class BisonAnnotateOperator(BisonStepOperator):
    """Annotate one chunk of subset files into ``{output_uri}/{snapshot}/annotated/`` (in-process).

    :param files: the chunk's subset files (``s3://`` URIs).
    :param riis: the RIIS step's result (its ``lookup_uri``). (templated)
    :param counties_uri: the census county layer, GeoParquet with ``STUSPS``, ``NAMELSAD``,
        ``GEOID`` and a WKB ``geometry``. (templated)
    :param aiannh_uri: the AIANNH layer, GeoParquet with ``NAMELSAD``, ``GEOID`` and ``geometry``. (templated)
    :param chunk_label: how the UI names this chunk (``map_index_template="{{ task.chunk_label }}"``).
    """

    template_fields: Sequence[str] = (*BisonStepOperator.template_fields, "riis", "counties_uri", "aiannh_uri")

    def __init__(
        self,
        *,
        files: list[str],
        riis: dict[str, Any] | str,
        counties_uri: str,
        aiannh_uri: str,
        chunk_label: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.files = files
        self.riis = riis
        self.counties_uri = counties_uri
        self.aiannh_uri = aiannh_uri
        self.chunk_label = chunk_label

    def execute(self, context: Context) -> dict[str, int]:
        import pyarrow.parquet as pq

        from airflow_provider_bio.core.bison_annotate import PolygonLayer
        from airflow_provider_bio.hooks.arrow_s3 import arrow_path
        from airflow_provider_bio.jobs.bison_steps import annotate_files

        run = self.bison
        if not isinstance(self.riis, dict) or not self.riis.get("lookup_uri"):
            raise ValueError(f"riis must be the RIIS step's result with a lookup_uri; got {self.riis!r}")
        lookup = self.read_json(self.riis["lookup_uri"])
        if lookup is None:
            raise AirflowFailException(f"the RIIS lookup {self.riis['lookup_uri']} is missing; clear resolve_riis")
        filesystem = self.hook.filesystem()
        layers = {}
        for name, uri in (("counties", self.counties_uri), ("aiannh", self.aiannh_uri)):
            layers[name] = PolygonLayer.from_table(pq.read_table(arrow_path(uri), filesystem=filesystem), "GEOID")
        counts = annotate_files(
            filesystem,
            [arrow_path(uri) for uri in self.files],
            arrow_path(run.under("annotated")),
            layers["counties"],
            layers["aiannh"],
            {(key, locality): (occurrence_id, assessment) for key, locality, occurrence_id, assessment in lookup},
        )
        self.log.info("%s: %s", self.chunk_label or "chunk", counts)
        return counts


class BisonAggregateOperator(BisonStepOperator):
    """Write the nine summaries: ``summary/{name}.parquet`` and ``output/{name}.csv`` under the snapshot."""

    def execute(self, context: Context) -> dict[str, int]:
        from airflow_provider_bio.hooks.arrow_s3 import arrow_path
        from airflow_provider_bio.jobs.bison_steps import aggregate

        run = self.bison
        if run.dry_run:
            return {}
        rows = aggregate(
            self.hook.filesystem(),
            arrow_path(run.under("annotated")),
            arrow_path(run.under("summary")),
            arrow_path(run.under("output")),
        )
        for name, count in rows.items():
            self.log.info("%s: %d rows", name, count)
        return rows


class BisonReportOperator(BisonStepOperator):
    """Check every step's output and write the run's figures to ``{output_uri}/{snapshot}/report.json``.

    Fails, naming what is missing, when the subset kept nothing, a chunk annotated nothing, or a
    summary is missing or empty.

    :param subset: the subset step's result. (templated)
    :param annotated: the annotate tasks' results, one per chunk. (templated)
    :param summaries: the aggregate step's result. (templated)
    """

    template_fields: Sequence[str] = (*BisonStepOperator.template_fields, "subset", "annotated", "summaries")

    def __init__(self, *, subset: Any, annotated: Any, summaries: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.subset = subset
        self.annotated = annotated
        self.summaries = summaries

    def execute(self, context: Context) -> dict[str, Any]:
        run = self.bison
        if run.dry_run:
            self.log.info("Dry run: %s", self.subset)
            return {"dry_run": True, **(self.subset or {})}
        chunks = list(self.annotated or [])
        problems = []
        if not (self.subset or {}).get("kept"):
            problems.append(f"the subset of {run.gbif_uri} kept no record")
        if not chunks or any(not chunk.get("records") for chunk in chunks):
            problems.append("a chunk annotated no record (or no chunk ran)")
        present = {uri.rsplit("/", 1)[-1]: size for uri, size in self.listing(run.under("summary"))}
        missing = [name for name in SUMMARY_COLUMNS if not present.get(f"{name}.parquet")]
        empty = [name for name in SUMMARY_COLUMNS if not (self.summaries or {}).get(name)]
        if missing:
            problems.append(f"summaries missing: {', '.join(missing)}")
        if empty:
            problems.append(f"summaries empty: {', '.join(empty)}")
        records = sum(chunk.get("records", 0) for chunk in chunks)
        report = {
            "snapshot": run.snapshot,
            "snapshot_files": (self.subset or {}).get("snapshot_files"),
            "kept_by_subset": (self.subset or {}).get("kept"),
            "annotated": records,
            "in_no_county": sum(chunk.get("in_no_county", 0) for chunk in chunks),
            "in_aiannh": sum(chunk.get("in_aiannh", 0) for chunk in chunks),
            "summary_rows": dict(self.summaries or {}),
            "problems": problems,
        }
        self.write_json(f"{run.under()}report.json", report)
        if problems:
            raise AirflowFailException("bison_monthly " + run.snapshot + ": " + "; ".join(problems))
        self.log.info("Report: %s", json.dumps(report))
        return report
