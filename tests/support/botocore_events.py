"""Hooks into every botocore client the code under test creates: record calls, inject failures."""

from __future__ import annotations

import io
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

from botocore.awsrequest import AWSResponse
from botocore.client import ClientCreator


@contextmanager
def client_events(handlers: dict[str, Callable[..., Any]]) -> Iterator[None]:
    """Register ``handlers`` (botocore event name -> handler) on every client created inside."""
    original = ClientCreator.create_client

    def create_client(self: ClientCreator, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        for event, handler in handlers.items():
            client.meta.events.register(event, handler)
        return client

    with mock.patch.object(ClientCreator, "create_client", create_client):
        yield


@dataclass
class ApiCall:
    """One AWS API call as the code under test made it."""

    service: str
    operation: str
    params: dict[str, Any]


@contextmanager
def recorded_calls() -> Iterator[list[ApiCall]]:
    """Record every API call (botocore's ``provide-client-params`` event), whatever the client or thread."""
    calls: list[ApiCall] = []
    lock = threading.Lock()

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        with lock:
            calls.append(ApiCall(model.service_model.service_name, model.name, dict(params)))

    with client_events({"provide-client-params": record}):
        yield calls


class _Raw(io.BytesIO):
    """The raw HTTP body botocore reads: a stream for parsing, ``read`` for streaming payloads."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.getvalue()


def http_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> AWSResponse:
    """An HTTP response with a JSON body, as botocore receives it."""
    return AWSResponse("http://aws.local/", status, headers or {}, _Raw(json.dumps(body).encode()))


def function_error(error_type: str, message: str) -> AWSResponse:
    """An invocation whose function raised (``X-Amz-Function-Error: Unhandled``)."""
    return http_response(200, {"errorType": error_type, "errorMessage": message}, {"X-Amz-Function-Error": "Unhandled"})


def throttled() -> AWSResponse:
    """Lambda's 429 ``TooManyRequestsException``."""
    return http_response(
        429, {"Type": "User", "message": "Rate exceeded"}, {"x-amzn-ErrorType": "TooManyRequestsException"}
    )


@dataclass
class FakeLambdaFaults:
    """Scripted answers per pair, consumed in order; a pair with none left reaches the Lambda (moto).

    A script item is an AWSResponse to answer with, or an exception to raise as the transport's.
    """

    scripts: dict[tuple[int, int], list[Any]] = field(default_factory=dict)
    invocations: Counter[tuple[int, int]] = field(default_factory=Counter)
    payloads: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        payload = json.loads(request.body)
        pair = (payload["pipeline_run_id"], payload["background_id"])
        with self._lock:
            self.invocations[pair] += 1
            self.payloads.append(payload)
            script = self.scripts.get(pair)
            answer = script.pop(0) if script else None
        if isinstance(answer, Exception):
            raise answer
        return answer

    @contextmanager
    def active(self) -> Iterator[FakeLambdaFaults]:
        with client_events({"before-send.lambda.Invoke": self.before_send}):
            yield self
