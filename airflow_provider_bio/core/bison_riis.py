"""The US Register of Introduced and Invasive Species (RIIS), resolved to GBIF taxon keys.

Each RIIS row names a taxon (``scientificName`` in a ``kingdom``) for one locality (AK, HI or
L48). GBIF's species-match API turns the name into a usage; a synonym is followed to its
accepted usage, so a RIIS name and a GBIF record of the same taxon meet on one key. Answers are
kept per (name, kingdom): a new RIIS version re-asks only the names it adds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: The RIIS columns the pipeline reads (the master list has more).
RIIS_REQUIRED_COLUMNS = ("occurrenceID", "locality", "kingdom", "scientificName", "degreeOfEstablishment")
RIIS_LOCALITIES = ("AK", "HI", "L48")


@dataclass(frozen=True)
class RiisRecord:
    """One RIIS row.

    :param occurrence_id: ``occurrenceID``.
    :param locality: ``locality``: AK, HI or L48.
    :param kingdom: ``kingdom``, which narrows the name match.
    :param scientific_name: ``scientificName``.
    :param assessment: ``degreeOfEstablishment``, e.g. ``invasive (category D2)``.
    """

    occurrence_id: str
    locality: str
    kingdom: str
    scientific_name: str
    assessment: str

    @property
    def name(self) -> tuple[str, str]:
        """What is asked of the species-match API: (scientific name, kingdom)."""
        return (self.scientific_name, self.kingdom)


def read_riis(text: str) -> list[RiisRecord]:
    """The RIIS master list from its CSV text.

    :param text: the CSV, with a header row naming at least :data:`RIIS_REQUIRED_COLUMNS`.
    :raises ValueError: naming missing columns, or the line of a row with an unknown locality.
    """
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in RIIS_REQUIRED_COLUMNS if column not in (reader.fieldnames or ())]
    if missing:
        raise ValueError(f"RIIS CSV lacks the column(s) {', '.join(missing)}; its header is {reader.fieldnames}")
    records = []
    for row in reader:
        if row["locality"] not in RIIS_LOCALITIES:
            allowed = ", ".join(RIIS_LOCALITIES)
            raise ValueError(f"RIIS CSV line {reader.line_num}: locality {row['locality']!r} is not one of {allowed}")
        records.append(
            RiisRecord(
                row["occurrenceID"],
                row["locality"],
                row["kingdom"],
                row["scientificName"],
                row["degreeOfEstablishment"],
            )
        )
    return records


def names_to_match(records: Iterable[RiisRecord], known: Mapping[tuple[str, str], int | None]) -> list[tuple[str, str]]:
    """The distinct (name, kingdom) pairs not answered yet, in first-seen order.

    :param records: the RIIS rows.
    :param known: earlier answers, kept in S3 between runs (``None`` is an answer: no match).
    """
    return list(dict.fromkeys(record.name for record in records if record.name not in known))


def match_taxonkey(match: Mapping[str, object]) -> int | None:
    """The GBIF taxon key one species-match answer resolves a name to, or ``None``.

    An accepted usage gives its own key; a synonym (or any usage that is not accepted) with an
    ``acceptedUsageKey`` gives the accepted key (BISON's rule: RIIS names meet records on the
    accepted taxon); a match of type ``NONE``, or without a usage, gives ``None``.

    :param match: the JSON object ``/v1/species/match`` returned.
    """
    if match.get("matchType") == "NONE" or match.get("usageKey") is None:
        return None
    accepted = match.get("acceptedUsageKey")
    if match.get("status") != "ACCEPTED" and accepted is not None:
        return int(str(accepted))
    return int(str(match["usageKey"]))


def riis_lookup(
    records: Iterable[RiisRecord], taxonkeys: Mapping[tuple[str, str], int | None]
) -> dict[tuple[int, str], tuple[str, str]]:
    """(GBIF taxon key, locality) -> (RIIS occurrence id, assessment), for the annotation's join.

    Two RIIS rows that resolve to the same key in one locality (synonyms listed apart) keep the
    row with the lowest ``occurrenceID``, the same every run.

    :param records: the RIIS rows.
    :param taxonkeys: (name, kingdom) -> resolved taxon key, or ``None`` when GBIF has no match.
    """
    lookup: dict[tuple[int, str], tuple[str, str]] = {}
    for record in sorted(records, key=lambda record: record.occurrence_id):
        key = taxonkeys.get(record.name)
        if key is not None:
            lookup.setdefault((key, record.locality), (record.occurrence_id, record.assessment))
    return lookup
