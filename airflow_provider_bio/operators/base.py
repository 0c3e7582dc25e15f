"""The base of this provider's AWS operators: the amazon provider's arguments, its hooks imported late.

It takes the same four arguments as the amazon provider's ``AwsBaseOperator`` (``aws_conn_id``,
``region_name``, ``verify``, ``botocore_config``), templated the same way, and builds the same
hooks. The one difference: the hook class is named by its import path and imported when the task
runs, not when the DAG file is parsed. Importing an amazon hook imports boto3 (about 0.4 s on
these machines), and every DAG file is parsed again and again; a task pays it once.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from functools import cached_property
from typing import Any, ClassVar

from airflow.sdk import BaseOperator

AWS_TEMPLATE_FIELDS = ("aws_conn_id", "botocore_config", "region_name", "verify")


class AwsLateHookOperator(BaseOperator):
    """An operator that talks to AWS through one amazon provider hook, imported at run time.

    Subclasses set ``aws_hook_class_path`` (e.g.
    ``"airflow.providers.amazon.aws.hooks.lambda_function.LambdaHook"``) and may extend
    ``_hook_parameters``.

    :param aws_conn_id: the Airflow AWS connection. With ``None``, or a connection id that is not
        defined, boto3's default chain applies (environment credentials, ``AWS_ENDPOINT_URL``...).
        (templated)
    :param region_name: the AWS region; boto3's default when not given. (templated)
    :param verify: whether to verify SSL certificates, or a CA bundle path. (templated)
    :param botocore_config: keyword arguments for ``botocore.config.Config``. (templated)
    """

    aws_hook_class_path: ClassVar[str]
    template_fields: Sequence[str] = AWS_TEMPLATE_FIELDS

    def __init__(
        self,
        *,
        aws_conn_id: str | None = "aws_default",
        region_name: str | None = None,
        verify: bool | str | None = None,
        botocore_config: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name
        self.verify = verify
        self.botocore_config = botocore_config

    @property
    def _hook_parameters(self) -> dict[str, Any]:
        return {
            "aws_conn_id": self.aws_conn_id,
            "region_name": self.region_name,
            "verify": self.verify,
            "config": self.botocore_config,
        }

    @cached_property
    def hook(self) -> Any:
        """The amazon provider hook, built on first use."""
        module, _, name = self.aws_hook_class_path.rpartition(".")
        return getattr(importlib.import_module(module), name)(**self._hook_parameters)
