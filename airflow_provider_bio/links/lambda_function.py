"""Console link to the Lambda function a task invokes."""

from __future__ import annotations

from airflow.providers.amazon.aws.links.base_aws import BASE_AWS_CONSOLE_LINK, BaseAwsLink


class LambdaFunctionLink(BaseAwsLink):
    """The invoked function's page (monitoring and logs tabs) in the AWS Lambda console."""

    name = "Lambda Function"
    key = "bio_lambda_function"
    format_str = BASE_AWS_CONSOLE_LINK + "/lambda/home?region={region_name}#/functions/{function_name}"
