"""RecreateSearchDomainsOperator: bring back the OpenSearch domains a reset deleted, as they were."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow_provider_bio.operators import guard
from airflow_provider_bio.operators.base import AWS_TEMPLATE_FIELDS, AwsLateHookOperator
from airflow_provider_bio.operators.persistence import POLL_SECONDS

if TYPE_CHECKING:
    from airflow.sdk import Context


class RecreateSearchDomainsOperator(AwsLateHookOperator):
    """Create each named OpenSearch domain that does not exist from its saved configuration, and wait.

    The stand-in for "redeploy" for the search domains a
    :class:`~airflow_provider_bio.operators.persistence.DeletePersistenceOperator` deleted: its
    result's ``domain_shapes`` are the configurations. An existing domain is left as it is; one
    still being deleted is waited for, then created. Every domain is waited for until it is
    created and no longer processing. A missing domain without a saved configuration fails the
    task, naming it, after the others are created. Before the first write, and in a dry run
    too, the guard (:mod:`airflow_provider_bio.operators.guard`) refuses names matching
    ``protected`` (case-insensitively), an undefined connection, and a connection whose real
    account is protected or not ``expected_account``.

    :param domains: the domains that must exist afterwards. (templated)
    :param domain_shapes: CreateDomain arguments (without ``DomainName``) by domain name. (templated)
    :param protected: shell patterns never recreated, case-insensitive (default ``("*prod*",)``).
    :param expected_account: the account ``aws_conn_id`` must reach (the environment's ``account_id``).
    :param protected_accounts: account ids never touched.
    :param timeout_seconds: how long to wait for the domains (creating one takes 15-30 minutes).
    :param dry_run: report which domains exist now and which would be created; create nothing. (templated)
    """

    aws_hook_class_path = "airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook"
    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "domains", "domain_shapes", "dry_run")

    def __init__(
        self,
        *,
        domains: Sequence[str],
        domain_shapes: Mapping[str, dict[str, Any]],
        protected: Sequence[str] = ("*prod*",),
        expected_account: str | None = None,
        protected_accounts: Sequence[str] = (),
        timeout_seconds: float = 3600.0,
        dry_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run
        self.domains = domains
        self.domain_shapes = domain_shapes
        self.protected = protected
        self.expected_account = expected_account
        self.protected_accounts = protected_accounts
        self.timeout_seconds = timeout_seconds

    @property
    def _hook_parameters(self) -> dict[str, Any]:
        return {**super()._hook_parameters, "client_type": "opensearch"}

    def execute(self, context: Context) -> dict[str, Any]:
        names = list(dict.fromkeys([*self.domains, *self.domain_shapes]))
        guard.check(
            self,
            conn_id=self.aws_conn_id,
            action="recreate",
            resources={"domain": names},
            protected=self.protected,
            expected_account=self.expected_account,
            protected_accounts=self.protected_accounts,
        )
        opensearch = self.hook.conn
        if self.dry_run:
            existing = [name for name in names if _status(opensearch, name) is not None]
            self.log.info(
                "dry run: once deleted, would create again %s from the configuration saved before the deletion",
                existing,
            )
            return {"dry_run": True, "would_create": existing, "missing": [n for n in names if n not in existing]}
        deadline = time.monotonic() + self.timeout_seconds
        created, unknown = [], []
        for name in names:
            status = self._wait(opensearch, name, deadline, until=_gone_or_live)
            if status is not None:
                continue
            if name not in self.domain_shapes:
                unknown.append(name)
                continue
            opensearch.create_domain(DomainName=name, **self.domain_shapes[name])
            created.append(name)
        ready = [name for name in names if name not in unknown]
        for name in ready:
            self._wait(opensearch, name, deadline, until=partial(_ready, name))
        self.log.info("Created domains %s; %s are ready", created, ready)
        if unknown:
            raise RuntimeError(
                f"search domains {unknown} do not exist and no configuration of theirs was saved when they were "
                "deleted: create them (deploy the environment), then clear this task"
            )
        return {"created": created, "ready": ready}

    def _wait(
        self, opensearch: Any, name: str, deadline: float, until: Callable[[dict[str, Any] | None], bool]
    ) -> dict[str, Any] | None:
        """Describe ``name`` until ``until(status)`` holds; return that status (``None``: no such domain)."""
        while True:
            status = _status(opensearch, name)
            if until(status):
                return status
            if time.monotonic() > deadline:
                raise TimeoutError(f"search domain {name} is not ready after {self.timeout_seconds} s: {status}")
            self.log.info("Waiting for search domain %s (processing, or still being deleted)", name)
            time.sleep(POLL_SECONDS)


def _status(opensearch: Any, name: str) -> dict[str, Any] | None:
    try:
        return opensearch.describe_domain(DomainName=name)["DomainStatus"]
    except opensearch.exceptions.ResourceNotFoundException:
        return None


def _ready(name: str, status: dict[str, Any] | None) -> bool:
    if status is None:
        raise RuntimeError(f"search domain {name} vanished while it was being created: clear this task")
    return bool(status.get("Created", True)) and not status.get("Processing") and not status.get("Deleted")


def _gone_or_live(status: dict[str, Any] | None) -> bool:
    return status is None or not status.get("Deleted")
