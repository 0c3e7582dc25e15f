"""BISON's nine summaries of annotated records, as SQL both Athena and DuckDB run.

Per region kind (state, county, AIANNH area): occurrence and species counts, the species list
with RIIS status, and counts per RIIS status. Records in no region of a kind are left out of
that kind's summaries (they are counted by the report instead). Rows are ordered, so the CSVs
are the same every run.
"""

from __future__ import annotations

#: Region kind -> the annotated column that names the region (county names repeat across
#: states, so counties are keyed by ``state_county``).
REGION_KEYS = {"state": "census_state", "county": "state_county", "aiannh": "aiannh_name"}

#: Summary name -> its columns, in order.
SUMMARY_COLUMNS: dict[str, tuple[str, ...]] = {}
for _kind, _key in REGION_KEYS.items():
    SUMMARY_COLUMNS[f"{_kind}_counts"] = (_key, "occ_count", "species_count")
    SUMMARY_COLUMNS[f"{_kind}_x_species_list"] = (
        _key,
        "taxonkey_species",
        "taxonkey",
        "species",
        "riis_assessment",
        "occ_count",
    )
    SUMMARY_COLUMNS[f"{_kind}_x_riis_counts"] = (_key, "riis_assessment", "occ_count", "species_count")


def summary_query(name: str, source: str) -> str:
    """The ``SELECT`` of summary ``name`` over the annotated records in ``source``.

    :param name: one of :data:`SUMMARY_COLUMNS`.
    :param source: a table name or table function call holding the annotated records.
    :raises KeyError: for an unknown summary name.
    """
    columns = SUMMARY_COLUMNS[name]
    key = columns[0]
    grouped = [column for column in columns if column not in ("occ_count", "species_count")]
    measures = {"occ_count": "COUNT(*) AS occ_count", "species_count": "COUNT(DISTINCT taxonkey) AS species_count"}
    selected = ", ".join(measures.get(column, column) for column in columns)
    group = ", ".join(grouped)
    return f"SELECT {selected} FROM {source} WHERE {key} IS NOT NULL GROUP BY {group} ORDER BY {group}"
