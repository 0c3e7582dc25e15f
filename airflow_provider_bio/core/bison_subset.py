"""BISON's subset of a GBIF occurrence snapshot: one definition, rendered for Athena and for DuckDB.

The filter and the columns are BISON's own (US records with coordinates, present, at species
rank or below, of four observation or specimen kinds). Both engines take their SQL from
:data:`SUBSET_FILTER` and :data:`SUBSET_COLUMNS`, so the two cannot drift apart; the SQL is the
common subset of Trino (Athena) and DuckDB.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Ranks kept: species and every rank below it.
RANKS = ("SPECIES", "SUBSPECIES", "VARIETY", "FORM", "INFRASPECIFIC_NAME", "INFRASUBSPECIFIC_NAME")
#: Kinds of record kept: fossil, living, machine, material sample and material citation records are dropped.
BASES_OF_RECORD = ("HUMAN_OBSERVATION", "OBSERVATION", "OCCURRENCE", "PRESERVED_SPECIMEN")

#: The columns kept, with their type in GBIF's parquet snapshot (Hive DDL names).
SUBSET_COLUMNS: tuple[tuple[str, str], ...] = (
    ("gbifid", "bigint"),
    ("datasetkey", "string"),
    ("species", "string"),
    ("taxonrank", "string"),
    ("scientificname", "string"),
    ("countrycode", "string"),
    ("stateprovince", "string"),
    ("occurrencestatus", "string"),
    ("publishingorgkey", "string"),
    ("day", "int"),
    ("month", "int"),
    ("year", "int"),
    ("taxonkey", "int"),
    ("specieskey", "int"),
    ("basisofrecord", "string"),
    ("decimallongitude", "double"),
    ("decimallatitude", "double"),
)

#: The one column the subset adds: species names repeat across taxa, so lists key on both.
TAXONKEY_SPECIES = "CAST(taxonkey AS varchar) || ' ' || species AS taxonkey_species"


@dataclass(frozen=True)
class SubsetFilter:
    """BISON's record filter.

    :param country: the ``countrycode`` kept.
    :param status: the ``occurrencestatus`` kept.
    :param ranks: the ``taxonrank`` values kept.
    :param bases: the ``basisofrecord`` values kept.
    """

    country: str = "US"
    status: str = "PRESENT"
    ranks: tuple[str, ...] = RANKS
    bases: tuple[str, ...] = BASES_OF_RECORD

    def where(self) -> str:
        """The filter as one SQL predicate."""
        return " AND ".join(
            [
                "decimallatitude IS NOT NULL",
                "decimallongitude IS NOT NULL",
                f"countrycode = {_literal(self.country)}",
                f"occurrencestatus = {_literal(self.status)}",
                f"taxonrank IN ({', '.join(map(_literal, self.ranks))})",
                f"basisofrecord IN ({', '.join(map(_literal, self.bases))})",
            ]
        )


SUBSET_FILTER = SubsetFilter()


def subset_select(source: str, subset: SubsetFilter = SUBSET_FILTER) -> str:
    """The subset as one ``SELECT`` over ``source`` (a table name or a DuckDB table function call).

    :param source: what the query reads from, inserted as given.
    :param subset: the filter.
    """
    columns = ", ".join(name for name, _ in SUBSET_COLUMNS)
    return f"SELECT {columns}, {TAXONKEY_SPECIES} FROM {source} WHERE {subset.where()}"


def athena_snapshot_ddl(table: str, location: str) -> str:
    """Athena DDL for an external table over a GBIF snapshot's parquet: no crawler needed.

    Parquet columns are read by name, so declaring only the columns the subset reads is enough.

    :param table: ``database.table`` to create (if it does not exist).
    :param location: the snapshot's ``s3://.../occurrence.parquet/`` prefix.
    """
    columns = ", ".join(f"`{name}` {kind}" for name, kind in SUBSET_COLUMNS)
    return f"CREATE EXTERNAL TABLE IF NOT EXISTS {table} ({columns}) STORED AS PARQUET LOCATION {_literal(location)}"


def athena_subset_ctas(table: str, source: str, location: str, subset: SubsetFilter = SUBSET_FILTER) -> str:
    """Athena CTAS writing the subset as parquet under ``location``.

    :param table: ``database.table`` the CTAS creates (its data is the subset).
    :param source: ``database.table`` of the snapshot (see :func:`athena_snapshot_ddl`).
    :param location: an empty ``s3://`` prefix for the parquet files.
    :param subset: the filter.
    """
    return (
        f"CREATE TABLE {table} WITH (format = 'PARQUET', write_compression = 'SNAPPY', "
        f"external_location = {_literal(location)}) AS {subset_select(source, subset)}"
    )


def _literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
