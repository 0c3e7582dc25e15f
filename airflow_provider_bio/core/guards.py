"""The decisions of the guard every destructive step passes: may this resource, in this account, be touched?

Pure: the names and accounts come in, a refusal (:class:`ProtectedTargetError`) or nothing comes out.
Asking AWS which account a connection really reaches is
:mod:`airflow_provider_bio.operators.guard`'s part.

Names are matched case-insensitively against shell patterns (``*prod*`` refuses
``efcms-PROD-alpha``, ``EFCMS-PRODUCTION`` and ``s3://bucket/PROD/docs/``). A resource is matched
whole and, for ``s3://bucket/prefix/`` URIs, by its bucket, and for ARNs by the name after the
resource type (``table/efcms-prod-alpha`` gives ``efcms-prod-alpha``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase

_ARN = re.compile(r"^arn:[\w-]+:[\w-]*:[\w-]*:(?P<account>\d*):(?P<resource>.+)$")
_S3_URI = re.compile(r"^s3://(?P<bucket>[^/]+)(?:/.*)?$", re.IGNORECASE)


class ProtectedTargetError(ValueError):
    """A destructive step refused by the guard: the message names the field, the resource and the fix."""


def names_of(resource: str) -> list[str]:
    """The strings a pattern is matched against: the resource, and its bucket or ARN resource name.

    :param resource: a name, an ``s3://bucket/prefix/`` URI or an ARN.
    """
    names = [resource]
    if uri := _S3_URI.match(resource):
        names.append(uri["bucket"])
    elif arn := _ARN.match(resource):
        names.append(re.split(r"[:/]", arn["resource"], maxsplit=1)[-1])
    return names


def matching_pattern(resource: str, patterns: Iterable[str]) -> str | None:
    """The first of ``patterns`` matching ``resource`` case-insensitively, or ``None``.

    :param resource: a name, an ``s3://bucket/prefix/`` URI or an ARN.
    :param patterns: shell patterns (``*``, ``?``, ``[...]``).
    """
    candidates = [name.casefold() for name in names_of(resource)]
    for pattern in patterns:
        if any(fnmatchcase(candidate, pattern.casefold()) for candidate in candidates):
            return pattern
    return None


def check_names(
    resources: Mapping[str, Iterable[str]], patterns: Sequence[str], *, action: str, field: str = "protected"
) -> None:
    """Refuse when a resource matches a protected pattern.

    :param resources: kind (``table``, ``domain``, ``destination``...) -> the names, URIs or ARNs touched.
    :param patterns: shell patterns of resources never touched, matched case-insensitively.
    :param action: what the step would do, e.g. ``delete``, for the message.
    :param field: the argument holding ``patterns``, for the message.
    :raises ProtectedTargetError: naming the resource, the pattern and ``field``.
    """
    for kind, names in resources.items():
        for name in names:
            pattern = matching_pattern(name, patterns)
            if pattern is not None:
                raise ProtectedTargetError(
                    f"{kind} {name!r} matches protected pattern {pattern!r} of {field} (case-insensitive): "
                    f"refusing to {action} it; remove the pattern from {field} only if this is not production"
                )


def account_of_arn(arn: str) -> str | None:
    """The account id in an ARN (``arn:aws:iam::222233334444:role/x`` gives ``222233334444``), or ``None``."""
    match = _ARN.match(str(arn))
    return match["account"] or None if match else None


def check_configured_account(expected_account: str | None, protected_accounts: Sequence[str]) -> None:
    """Refuse, before asking AWS, a configuration whose expected account is itself protected.

    :param expected_account: the account the step is configured to touch, if any.
    :param protected_accounts: account ids never touched.
    :raises ProtectedTargetError: naming both fields.
    """
    if expected_account and _account(expected_account) in {_account(a) for a in protected_accounts}:
        raise ProtectedTargetError(
            f"expected_account {expected_account} is in protected_accounts: production is never written; "
            "set expected_account to the lower environment's account"
        )


def check_account(
    account: str,
    *,
    conn_id: str | None,
    resource: str,
    action: str,
    expected_account: str | None = None,
    protected_accounts: Sequence[str] = (),
    via: str | None = None,
) -> None:
    """Refuse when the account a connection really reaches is protected, or is not the expected one.

    :param account: the account AWS answered for the connection (``sts:GetCallerIdentity``).
    :param conn_id: the connection asked (``None``: boto3's default credentials), for the message.
    :param resource: what the step would touch, for the message.
    :param action: what the step would do, e.g. ``delete``, for the message.
    :param expected_account: the account the step must reach (the environment's ``account_id``), if known.
    :param protected_accounts: account ids never touched.
    :param via: what reaches ``account`` when it is not a connection (e.g. a role ARN), for the message.
    :raises ProtectedTargetError: naming the connection, the account, the field and the fix.
    """
    reached = _account(account)
    if via is None:
        via = f"connection {conn_id!r}" if conn_id else "boto3's default credentials (aws_conn_id=None)"
    if reached in {_account(a) for a in protected_accounts}:
        raise ProtectedTargetError(
            f"{via} reaches AWS account {reached}, which is in protected_accounts: refusing to {action} "
            f"{resource}; point {via} at the lower environment's account"
        )
    if expected_account and reached != _account(expected_account):
        raise ProtectedTargetError(
            f"{via} reaches AWS account {reached}, not expected_account {_account(expected_account)} (the "
            f"environment's account_id): refusing to {action} {resource}; fix {via} or the account_id"
        )


def _account(account: str | int) -> str:
    return str(account).strip()
