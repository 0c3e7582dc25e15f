"""Refusals a copy into a lower environment makes before any AWS call."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase


def check_copy_target(
    *,
    source_table: str,
    destination_table: str,
    same_credentials: bool,
    protected_tables: Sequence[str],
    destination_account: str | None = None,
    protected_accounts: Sequence[str] = (),
) -> None:
    """Refuse a table copy whose destination is its source or a protected table or account.

    :param source_table: the table read.
    :param destination_table: the table written.
    :param same_credentials: both sides use the same connection (so the same account).
    :param protected_tables: shell patterns of tables never written (e.g. ``*-prod-*``).
    :param destination_account: the destination's AWS account id, when the configuration knows it.
    :param protected_accounts: account ids never written.
    :raises ValueError: naming the argument that protects the target and how to proceed.
    """
    if not destination_table:
        raise ValueError("destination_table is empty: name the lower environment's table")
    if same_credentials and destination_table == source_table:
        raise ValueError(f"destination_table {destination_table!r} is the source table: nothing would be copied")
    for pattern in protected_tables:
        if fnmatchcase(destination_table, pattern):
            raise ValueError(
                f"destination_table {destination_table!r} matches protected pattern {pattern!r}: it is never "
                "written; change protected_tables only if this table is not production"
            )
    if destination_account and destination_account in protected_accounts:
        raise ValueError(
            f"destination account {destination_account} is in protected_accounts: production is never written"
        )
