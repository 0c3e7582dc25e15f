"""The one guard every destructive step calls before its first write: it asks AWS, not the config.

:func:`check` refuses (:class:`GuardRefusal`, both a
:class:`~airflow_provider_bio.core.guards.ProtectedTargetError` and Airflow's fail-now exception,
so a refusal is not retried), in this order and before any write:

1. a resource whose name matches a protected pattern, case-insensitively (no AWS call);
2. a configured ``expected_account`` that is itself in ``protected_accounts`` (no AWS call);
3. a connection id that is not defined: Airflow's AWS hook would silently fall back to the
   worker's default credentials, which may be production's. ``conn_id=None`` is an explicit
   choice of boto3's default chain and is allowed;
4. a connection whose real account (``sts:GetCallerIdentity`` through that connection) is in
   ``protected_accounts``, or differs from ``expected_account``.

A dry run calls it too and is refused with the same error. The account is asked once per
connection per task: the answer is kept on the operator, and every try of a task runs its own
copy of the operator (``prepare_for_execution``), so nothing is kept across tasks or tries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_bio.core.guards import (
    ProtectedTargetError,
    check_account,
    check_configured_account,
    check_names,
)

#: Operator attribute holding this task's answers: connection id -> account id.
_CACHE_ATTRIBUTE = "_guard_accounts"


class GuardRefusal(AirflowFailException, ProtectedTargetError):
    """A refusal inside a task: it fails the task at once, since every retry would be refused alike."""


def check(
    operator: Any,
    *,
    conn_id: str | None,
    action: str,
    resources: Mapping[str, Iterable[str]],
    protected: Sequence[str] = (),
    protected_field: str = "protected",
    expected_account: str | None = None,
    protected_accounts: Sequence[str] = (),
) -> str:
    """Refuse a destructive step on a protected resource or account; return the account it reaches.

    :param operator: the running operator (its ``region_name``, ``verify``, ``botocore_config`` are used
        to ask STS, and it keeps the answer for the rest of the task).
    :param conn_id: the Airflow AWS connection that writes; ``None`` for boto3's default credentials.
    :param action: what the step would do, e.g. ``delete``, ``recreate``, ``write``, for messages.
    :param resources: kind -> names, ``s3://`` URIs or ARNs the step touches, e.g. ``{"table": [...]}``.
    :param protected: shell patterns of resources never touched, matched case-insensitively.
    :param protected_field: the operator argument holding ``protected``, for messages.
    :param expected_account: the account the connection must reach, when configured.
    :param protected_accounts: account ids never touched.
    :raises ProtectedTargetError: naming the field, the resource and the fix.
    :return: the account id the connection reaches.
    """
    try:
        resources = {kind: list(names) for kind, names in resources.items()}
        check_names(resources, protected, action=action, field=protected_field)
        check_configured_account(expected_account, protected_accounts)
        described = ", ".join(f"{kind} {', '.join(names)}" for kind, names in resources.items() if names) or "resources"
        account = account_of(operator, conn_id)
        check_account(
            account,
            conn_id=conn_id,
            resource=described,
            action=action,
            expected_account=expected_account,
            protected_accounts=protected_accounts,
        )
    except ProtectedTargetError as refusal:
        raise GuardRefusal(str(refusal)) from None
    return account


def account_of(operator: Any, conn_id: str | None) -> str:
    """The AWS account ``conn_id`` really reaches, asked once per connection per task.

    :param operator: the running operator, which keeps the answers.
    :param conn_id: an Airflow AWS connection id, or ``None`` for boto3's default credentials.
    :raises ProtectedTargetError: when ``conn_id`` names no defined connection.
    """
    cache: dict[str | None, str] = vars(operator).setdefault(_CACHE_ATTRIBUTE, {})
    if conn_id not in cache:
        _require_connection(conn_id)
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        hook = AwsBaseHook(
            aws_conn_id=conn_id,
            client_type="sts",
            region_name=getattr(operator, "region_name", None),
            verify=getattr(operator, "verify", None),
            config=getattr(operator, "botocore_config", None),
        )
        cache[conn_id] = hook.account_id
        operator.log.info("guard: connection %r reaches AWS account %s", conn_id, cache[conn_id])
    return cache[conn_id]


def _require_connection(conn_id: str | None) -> None:
    """Fail when ``conn_id`` is not a defined connection (``None`` chooses boto3's default chain)."""
    if conn_id is None:
        return
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ProtectedTargetError(
            f"AWS connection {conn_id!r} is not defined: a destructive step never falls back to the worker's "
            f"default credentials; define {conn_id!r}, or pass aws_conn_id=None to choose the default chain"
        ) from None
