"""SetDeployFlagsOperator: the lower environment's deploy flags (``migrate``, table versions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_bio.operators import guard
from airflow_provider_bio.operators.base import AWS_TEMPLATE_FIELDS, AwsLateHookOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class SetDeployFlagsOperator(AwsLateHookOperator):
    """Write deploy flags to a deploy table row each, or to SSM parameters.

    With ``deploy_table`` each flag is the item ``{pk: name, sk: name, current: value}`` (the
    ``efcms-deploy-<env>`` layout); otherwise each is the String parameter ``<ssm_prefix>/<name>``.
    Before the first write, and in a dry run too, the guard
    (:mod:`airflow_provider_bio.operators.guard`) refuses a deploy table or prefix matching
    ``protected`` (case-insensitively), an undefined connection, and a connection whose real
    account is protected or not ``expected_account``.

    :param flags: flag name -> value, e.g. ``{"migrate": "false"}``. (templated)
    :param deploy_table: the deploy table, or None to use SSM. (templated)
    :param ssm_prefix: the parameters' path prefix when there is no deploy table. (templated)
    :param protected: shell patterns of deploy tables and prefixes never written, case-insensitive
        (default ``("*prod*",)``).
    :param expected_account: the account ``aws_conn_id`` must reach (the environment's ``account_id``).
    :param protected_accounts: account ids never touched.
    :param dry_run: read each flag's current value and report what would change; write nothing. (templated)
    """

    aws_hook_class_path = "airflow.providers.amazon.aws.hooks.base_aws.AwsBaseHook"
    template_fields: Sequence[str] = (*AWS_TEMPLATE_FIELDS, "flags", "deploy_table", "ssm_prefix", "dry_run")

    def __init__(
        self,
        *,
        flags: Mapping[str, str],
        deploy_table: str | None = None,
        ssm_prefix: str | None = None,
        protected: Sequence[str] = ("*prod*",),
        expected_account: str | None = None,
        protected_accounts: Sequence[str] = (),
        dry_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dry_run = dry_run
        self.flags = flags
        self.deploy_table = deploy_table
        self.ssm_prefix = ssm_prefix
        self.protected = protected
        self.expected_account = expected_account
        self.protected_accounts = protected_accounts

    @property
    def _hook_parameters(self) -> dict[str, Any]:
        return {**super()._hook_parameters, "client_type": "dynamodb" if self.deploy_table else "ssm"}

    def execute(self, context: Context) -> dict[str, Any]:
        if not self.flags:
            raise ValueError("flags is empty: name at least one flag to set")
        if bool(self.deploy_table) == bool(self.ssm_prefix):
            raise ValueError(
                "give exactly one of deploy_table (a DynamoDB row per flag) or ssm_prefix (SSM parameters)"
            )
        guard.check(
            self,
            conn_id=self.aws_conn_id,
            action="set deploy flags in",
            resources={"deploy table": [self.deploy_table]} if self.deploy_table else {"ssm_prefix": [self.ssm_prefix]},
            protected=self.protected,
            expected_account=self.expected_account,
            protected_accounts=self.protected_accounts,
        )
        client = self.hook.conn
        if self.dry_run:
            current = {name: self._current(client, name) for name in self.flags}
            for name, value in self.flags.items():
                self.log.info("dry run: would set %s = %s (now %s)", name, value, current[name])
            return {"dry_run": True, "would_set": {n: str(v) for n, v in self.flags.items()}, "current": current}
        for name, value in self.flags.items():
            if self.deploy_table:
                item = {"pk": {"S": name}, "sk": {"S": name}, "current": {"S": str(value)}}
                client.put_item(TableName=self.deploy_table, Item=item)
            else:
                client.put_parameter(
                    Name=f"{self.ssm_prefix.rstrip('/')}/{name}", Value=str(value), Type="String", Overwrite=True
                )
            self.log.info("%s = %s", name, value)
        return {name: str(value) for name, value in self.flags.items()}

    def _current(self, client: Any, name: str) -> str | None:
        """A flag's value now, or ``None`` when it is not set."""
        if self.deploy_table:
            item = client.get_item(TableName=self.deploy_table, Key={"pk": {"S": name}, "sk": {"S": name}}).get("Item")
            return item["current"]["S"] if item else None
        try:
            return client.get_parameter(Name=f"{self.ssm_prefix.rstrip('/')}/{name}")["Parameter"]["Value"]
        except client.exceptions.ParameterNotFound:
            return None
