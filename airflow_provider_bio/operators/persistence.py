"""A lower environment's persistence: delete its tables and search domains, recreate an empty table."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_bio.core.domain_shape import domain_shape
from airflow_provider_bio.operators import guard
from airflow_provider_bio.operators.base import AWS_TEMPLATE_FIELDS, AwsLateHookOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Seconds between two checks while a deletion is blocked or in progress.
POLL_SECONDS = 10.0
#: Task state store key of the deleted domains' configurations: ``{name: CreateDomain arguments}``.
DELETED_DOMAINS_KEY = "deleted_domain_shapes"


class DeletePersistenceOperator(AwsLateHookOperator):
    """Delete DynamoDB tables and OpenSearch domains, and wait until they are gone.

    A table whose deletion is blocked (replicas being removed, the table still updating) is
    retried until ``timeout_seconds``; a missing table or domain counts as deleted. Before the
    first write, and in a dry run too, the guard (:mod:`airflow_provider_bio.operators.guard`)
    refuses names matching ``protected`` (case-insensitively), an undefined connection, and a
    connection whose real account is protected or not ``expected_account``. ``dry_run`` lists
    what exists and would go.

    Each domain's configuration (:func:`~airflow_provider_bio.core.domain_shape.domain_shape`) is
    saved in the task state store before the domain is deleted, so a retry or a clear after the
    domain is gone still knows it. The result's ``domain_shapes`` holds the configuration of every
    named domain deleted by this or an earlier try: what a later step recreates them from.

    :param tables: DynamoDB tables to delete. (templated)
    :param domains: OpenSearch domains to delete. (templated)
    :param protected: shell patterns never deleted, case-insensitive (default ``("*prod*",)``).
    :param expected_account: the account ``aws_conn_id`` must reach (the environment's ``account_id``).
    :param protected_accounts: account ids never touched.
    :param dry_run: report, delete nothing. (templated)
    :param timeout_seconds: how long to keep trying (OpenSearch deletions take about 30 minutes).
    """

    aws_hook_class_path = "airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook"
    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "tables", "domains", "dry_run")

    def __init__(
        self,
        *,
        tables: Sequence[str] = (),
        domains: Sequence[str] = (),
        protected: Sequence[str] = ("*prod*",),
        expected_account: str | None = None,
        protected_accounts: Sequence[str] = (),
        dry_run: bool = False,
        timeout_seconds: float = 3600.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.tables = tables
        self.domains = domains
        self.protected = protected
        self.expected_account = expected_account
        self.protected_accounts = protected_accounts
        self.dry_run = dry_run
        self.timeout_seconds = timeout_seconds

    def _client(self, service: str) -> Any:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        return AwsBaseHook(**(self._hook_parameters | {"client_type": service})).conn

    def execute(self, context: Context) -> dict[str, Any]:
        guard.check(
            self,
            conn_id=self.aws_conn_id,
            action="delete",
            resources={"table": self.tables, "domain": self.domains},
            protected=self.protected,
            expected_account=self.expected_account,
            protected_accounts=self.protected_accounts,
        )
        dynamodb, opensearch = self._client("dynamodb"), self._client("opensearch")
        existing_tables = [t for t in self.tables if self._table_exists(dynamodb, t)]
        existing_domains = [d for d in self.domains if self._domain_exists(opensearch, d)]
        if self.dry_run:
            self.log.info("dry run: would delete tables %s and domains %s", existing_tables, existing_domains)
            return {"tables": existing_tables, "domains": existing_domains, "dry_run": True}
        deadline = time.monotonic() + self.timeout_seconds
        shapes = self._save_domain_shapes(context, opensearch, existing_domains)
        for table in existing_tables:
            self._delete_table(dynamodb, table, deadline)
        for domain in existing_domains:
            opensearch.delete_domain(DomainName=domain)
        for table in existing_tables:
            dynamodb.get_waiter("table_not_exists").wait(
                TableName=table,
                WaiterConfig={"Delay": POLL_SECONDS, "MaxAttempts": int(self.timeout_seconds // POLL_SECONDS) + 1},
            )
        for domain in existing_domains:
            while self._domain_exists(opensearch, domain):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"OpenSearch domain {domain} still exists after {self.timeout_seconds} s")
                time.sleep(POLL_SECONDS)
        self.log.info("Deleted tables %s and domains %s", existing_tables, existing_domains)
        return {"tables": existing_tables, "domains": existing_domains, "domain_shapes": shapes}

    def _save_domain_shapes(self, context: Context, opensearch: Any, domains: list[str]) -> dict[str, Any]:
        """Save the configuration of ``domains`` (about to be deleted) beside what earlier tries saved.

        :return: the saved configurations of the operator's domains, by name.
        """
        from airflow.sdk.execution_time.context import NEVER_EXPIRE

        store = context.get("task_state_store")
        if store is None:
            self.log.warning("No task state store (Airflow < 3.3?): a retry forgets the deleted domains' configuration")
        saved = dict(store.get(DELETED_DOMAINS_KEY) or {}) if store is not None else {}
        for domain in domains:
            saved[domain] = domain_shape(opensearch.describe_domain(DomainName=domain)["DomainStatus"])
        if store is not None and domains:
            store.set(DELETED_DOMAINS_KEY, saved, retention=NEVER_EXPIRE)
        return {domain: saved[domain] for domain in self.domains if domain in saved}

    def _delete_table(self, dynamodb: Any, table: str, deadline: float) -> None:
        while True:
            try:
                dynamodb.delete_table(TableName=table)
                return
            except dynamodb.exceptions.ResourceNotFoundException:
                return
            except dynamodb.exceptions.ClientError as err:
                code = err.response["Error"]["Code"]
                if code not in ("ResourceInUseException", "ValidationException") or time.monotonic() > deadline:
                    raise
                self.log.info("Deletion of %s is blocked (%s); trying again", table, err.response["Error"]["Message"])
                time.sleep(POLL_SECONDS)

    @staticmethod
    def _table_exists(dynamodb: Any, table: str) -> bool:
        try:
            dynamodb.describe_table(TableName=table)
        except dynamodb.exceptions.ResourceNotFoundException:
            return False
        return True

    @staticmethod
    def _domain_exists(opensearch: Any, domain: str) -> bool:
        """A domain exists until OpenSearch no longer describes it (it shows ``Deleted`` while going)."""
        try:
            opensearch.describe_domain(DomainName=domain)
        except opensearch.exceptions.ResourceNotFoundException:
            return False
        return True


class RecreateDynamoTableOperator(AwsLateHookOperator):
    """Create an empty destination table shaped like the source: keys, indexes, billing, stream.

    The stand-in for "redeploy" when the lower environment's table was deleted. The source is
    described with ``aws_conn_id``, the table created with ``dest_aws_conn_id`` (or the same).
    An existing destination table is left as it is. Before the first write, and in a dry run
    too, the guard (:mod:`airflow_provider_bio.operators.guard`) checks the destination's name
    and the account the destination's connection really reaches.

    :param source_table: the table to copy the shape of. (templated)
    :param destination_table: the table to create. (templated)
    :param dest_aws_conn_id: the destination's connection, when another account. (templated)
    :param protected: shell patterns never recreated, case-insensitive (default ``("*prod*",)``).
    :param expected_account: the account the destination's connection must reach.
    :param protected_accounts: account ids never touched.
    :param dry_run: report the shape the table would be created with; create nothing. (templated)
    """

    aws_hook_class_path = "airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook"
    template_fields: Sequence[str] = (
        *AWS_TEMPLATE_FIELDS,
        "source_table",
        "destination_table",
        "dest_aws_conn_id",
        "dry_run",
    )

    def __init__(
        self,
        *,
        source_table: str,
        destination_table: str,
        dest_aws_conn_id: str | None = None,
        protected: Sequence[str] = ("*prod*",),
        expected_account: str | None = None,
        protected_accounts: Sequence[str] = (),
        dry_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run
        self.source_table = source_table
        self.destination_table = destination_table
        self.dest_aws_conn_id = dest_aws_conn_id
        self.protected = protected
        self.expected_account = expected_account
        self.protected_accounts = protected_accounts

    @property
    def _hook_parameters(self) -> dict[str, Any]:
        return {**super()._hook_parameters, "client_type": "dynamodb"}

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        same_credentials = self.dest_aws_conn_id in (None, self.aws_conn_id)
        if same_credentials and self.destination_table == self.source_table:
            raise ValueError("destination_table is the source table")
        guard.check(
            self,
            conn_id=self.aws_conn_id if same_credentials else self.dest_aws_conn_id,
            action="recreate",
            resources={"destination_table": [self.destination_table]},
            protected=self.protected,
            expected_account=self.expected_account,
            protected_accounts=self.protected_accounts,
        )
        source = self.hook.conn
        destination = (
            source
            if same_credentials
            else AwsBaseHook(**(self._hook_parameters | {"aws_conn_id": self.dest_aws_conn_id})).conn
        )
        if self.dry_run:
            shape = table_shape(source.describe_table(TableName=self.source_table)["Table"])
            self.log.info("dry run: once deleted, would create %s empty, shaped %s", self.destination_table, shape)
            return {"dry_run": True, "would_create": self.destination_table, "shape": shape}
        try:
            destination.describe_table(TableName=self.destination_table)
            self.log.info("%s exists already: left as it is", self.destination_table)
            return {"created": False}
        except destination.exceptions.ResourceNotFoundException:
            pass
        shape = table_shape(source.describe_table(TableName=self.source_table)["Table"])
        destination.create_table(TableName=self.destination_table, **shape)
        destination.get_waiter("table_exists").wait(TableName=self.destination_table)
        self.log.info("Created %s shaped like %s", self.destination_table, self.source_table)
        return {"created": True}


def table_shape(description: dict[str, Any]) -> dict[str, Any]:
    """CreateTable arguments reproducing a DescribeTable answer's keys, indexes, billing and stream."""
    on_demand = description.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST"

    def throughput(source: dict[str, Any]) -> dict[str, Any]:
        if on_demand:
            return {}
        given = source.get("ProvisionedThroughput", {})
        return {
            "ProvisionedThroughput": {
                "ReadCapacityUnits": given.get("ReadCapacityUnits") or 1,
                "WriteCapacityUnits": given.get("WriteCapacityUnits") or 1,
            }
        }

    shape: dict[str, Any] = {
        "KeySchema": description["KeySchema"],
        "AttributeDefinitions": description["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST" if on_demand else "PROVISIONED",
        **throughput(description),
    }
    indexes = [
        {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"], **throughput(i)}
        for i in description.get("GlobalSecondaryIndexes", [])
    ]
    if indexes:
        shape["GlobalSecondaryIndexes"] = indexes
    local = [
        {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
        for i in description.get("LocalSecondaryIndexes", [])
    ]
    if local:
        shape["LocalSecondaryIndexes"] = local
    stream = description.get("StreamSpecification")
    if stream and stream.get("StreamEnabled"):
        shape["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    return shape
