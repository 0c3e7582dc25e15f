"""BISON's subset, annotate and aggregate steps over parquet, for the local engine and the Batch worker.

Each step streams record batches through DuckDB or Arrow, so memory stays bounded whatever the
snapshot's size. Paths are ``bucket/key`` paths of a pyarrow filesystem (``S3FileSystem`` in a
run, ``LocalFileSystem`` in tests). DuckDB is used without extensions: it reads and writes
through Arrow, never through its own S3 support (which it would download at run time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import duckdb
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as ds
import pyarrow.fs as pa_fs
import pyarrow.parquet as pq

from airflow_provider_bio.core.bison_annotate import PolygonLayer, annotate
from airflow_provider_bio.core.bison_subset import subset_select
from airflow_provider_bio.core.bison_summaries import SUMMARY_COLUMNS, summary_query

#: Rows per record batch streamed between DuckDB and Arrow, and rows per written parquet file.
BATCH_ROWS = 100_000
ROWS_PER_FILE = 5_000_000


def subset(filesystem: pa_fs.FileSystem, snapshot: str, output: str) -> int:
    """Write BISON's subset of the snapshot's parquet under ``output``; return the rows kept.

    :param filesystem: where both paths are.
    :param snapshot: the snapshot's ``occurrence.parquet/`` folder.
    :param output: an empty folder for the subset's parquet files.
    """
    connection = duckdb.connect()
    connection.register("snapshot", ds.dataset(snapshot, format="parquet", filesystem=filesystem))
    reader = connection.sql(subset_select("snapshot")).to_arrow_reader(BATCH_ROWS)
    kept = 0

    def counted(batches: pa.RecordBatchReader) -> pa.RecordBatchReader:
        def stream():
            nonlocal kept
            for batch in batches:
                kept += batch.num_rows
                yield batch

        return pa.RecordBatchReader.from_batches(batches.schema, stream())

    ds.write_dataset(
        counted(reader),
        output,
        format="parquet",
        filesystem=filesystem,
        basename_template="part-{i}.parquet",
        max_rows_per_file=ROWS_PER_FILE,
        max_rows_per_group=BATCH_ROWS,
        existing_data_behavior="delete_matching",
    )
    return kept


def annotate_files(
    filesystem: pa_fs.FileSystem,
    files: Sequence[str],
    output: str,
    counties: PolygonLayer,
    aiannh: PolygonLayer,
    riis: Mapping[tuple[int, str], tuple[str, str]],
) -> dict[str, int]:
    """Annotate each subset file into a file of the same name under ``output``; return the counts.

    Files are read one record batch at a time, so memory is bounded by the batch, not the file.

    :param filesystem: where the files are.
    :param files: subset parquet files (one chunk of the mapped step).
    :param output: the folder for annotated files.
    :param counties: the county layer.
    :param aiannh: the AIANNH layer.
    :param riis: the RIIS lookup (see :func:`~airflow_provider_bio.core.bison_riis.riis_lookup`).
    :return: ``records``, ``in_no_county`` and ``in_aiannh`` counts.
    """
    counts = {"records": 0, "in_no_county": 0, "in_aiannh": 0}
    for path in files:
        source = pq.ParquetFile(path, filesystem=filesystem)
        target = f"{output.rstrip('/')}/{path.rsplit('/', 1)[-1]}"
        writer = None
        try:
            for batch in source.iter_batches(batch_size=BATCH_ROWS):
                annotated = annotate(pa.Table.from_batches([batch]), counties, aiannh, riis)
                if writer is None:
                    writer = pq.ParquetWriter(target, annotated.schema, filesystem=filesystem)
                writer.write_table(annotated)
                counts["records"] += annotated.num_rows
                counts["in_no_county"] += annotated.column("census_state").null_count
                counts["in_aiannh"] += annotated.num_rows - annotated.column("aiannh_geoid").null_count
        finally:
            if writer is not None:
                writer.close()
    return counts


def aggregate(filesystem: pa_fs.FileSystem, annotated: str, summary: str, output: str) -> dict[str, int]:
    """Write the nine summaries as ``{summary}/{name}.parquet`` and ``{output}/{name}.csv``; return their row counts.

    :param filesystem: where the folders are.
    :param annotated: the folder of annotated parquet files.
    :param summary: the folder for the parquet summaries.
    :param output: the folder for the CSV summaries.
    """
    connection = duckdb.connect()
    connection.register("annotated", ds.dataset(annotated, format="parquet", filesystem=filesystem))
    rows = {}
    for name in SUMMARY_COLUMNS:
        table = connection.sql(summary_query(name, "annotated")).to_arrow_table()
        pq.write_table(table, f"{summary.rstrip('/')}/{name}.parquet", filesystem=filesystem)
        with filesystem.open_output_stream(f"{output.rstrip('/')}/{name}.csv") as stream:
            pa_csv.write_csv(table, stream)
        rows[name] = table.num_rows
    return rows
