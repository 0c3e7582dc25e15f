"""An Arrow S3 filesystem that reaches S3 the way an Airflow AWS connection does."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from airflow.providers.amazon.aws.hooks.s3 import S3Hook


class ArrowS3Hook(S3Hook):
    """The amazon provider's S3 hook, plus a ``pyarrow.fs.S3FileSystem`` with the same credentials,
    region and endpoint (``endpoint_url`` in the connection's extra, or ``AWS_ENDPOINT_URL``).

    Parquet is read and written through Arrow, which streams it in record batches; boto3 is
    still used for everything else (listing, deleting, small JSON objects).
    """

    def filesystem(self) -> Any:
        """A ``pyarrow.fs.S3FileSystem`` for this connection's account and endpoint."""
        from pyarrow import fs

        credentials = self.get_session().get_credentials().get_frozen_credentials()
        endpoint = urlsplit(self.get_conn().meta.endpoint_url)
        # AWS's own endpoints are left to Arrow, which follows a bucket to its region.
        custom = {} if endpoint.netloc.endswith(".amazonaws.com") else {"endpoint_override": endpoint.netloc}
        return fs.S3FileSystem(
            access_key=credentials.access_key,
            secret_key=credentials.secret_key,
            session_token=credentials.token,
            region=self.conn_region_name or "us-east-1",
            scheme=endpoint.scheme,
            **custom,
        )


def arrow_path(uri: str) -> str:
    """``s3://bucket/key`` as the ``bucket/key`` path Arrow's S3 filesystem takes.

    :raises ValueError: for anything but an ``s3://`` URI with a bucket.
    """
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"expected an s3://bucket/key URI; got {uri!r}")
    return f"{parts.netloc}{parts.path}".rstrip("/")
