"""Batch taxon indexing: one mapped GlueTaxonIndexOperator per chunk of (pipeline run, background) pairs.

The operator replaces the ``batch-taxon-indexing`` Glue job (hence its name; it needs no Glue):
it invokes the taxon-indexing Lambda once per pair, with a bounded number of invocations in
flight, and remembers which pairs were confirmed in the task state store so that a retry or a
"Clear" of the chunk invokes only the pairs still unconfirmed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from airflow.configuration import conf as airflow_conf
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException
from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_exponential

from airflow_provider_bio.core.bounded import bounded_map
from airflow_provider_bio.core.resume import Verdict, fingerprint
from airflow_provider_bio.core.search_indexes import fresh_index_bodies
from airflow_provider_bio.core.taxon_conf import ConfError, TaxonIndexConf, parse_input_file, validate_conf
from airflow_provider_bio.core.taxon_index import (
    Outcome,
    Pair,
    decode_confirmed,
    encode_confirmed,
    expand_pairs,
    invocation_payload,
    judge_response,
    pairs_fingerprint,
    plan_chunks,
)
from airflow_provider_bio.core.taxon_report import build_report
from airflow_provider_bio.links.lambda_function import LambdaFunctionLink
from airflow_provider_bio.operators.base import AWS_TEMPLATE_FIELDS, AwsLateHookOperator
from airflow_provider_bio.operators.resume import StepMemory
from airflow_provider_bio.operators.search_index import EnsureSearchIndexesOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Task state store key holding a chunk's confirmed pairs.
PROGRESS_KEY = "confirmed_pairs"
#: Seconds between two saves of progress while a chunk runs (and once more at its end).
SAVE_EVERY_SECONDS = 1.0
#: First wait before re-invoking after a ``TransportError``; doubles on each try, at most 30 s.
TRANSPORT_BACKOFF_SECONDS = 2.0
#: The Lambda may run up to 900 s; a RequestResponse call waits for it.
LAMBDA_READ_TIMEOUT_SECONDS = 905


class GlueTaxonIndexOperator(AwsLateHookOperator):
    """Index a chunk of (pipeline_run_id, background_id) pairs through the taxon-indexing Lambda.

    Each pair is one RequestResponse invocation; it is confirmed only by a 200 without
    ``FunctionError``. Throttles and connection failures are retried by botocore (standard mode,
    with backoff); a ``TransportError`` from the Lambda is re-invoked with exponential backoff.
    Any other error is recorded with its ``errorType``/``errorMessage`` and the chunk moves on,
    stopping early after ``max_consecutive_failures`` failures in a row. Confirmed pairs are saved
    in the task state store; the task fails naming every pair left unconfirmed, and pushes its
    result (XCom key ``chunk_result``) either way.

    :param pairs: the chunk's ``[pipeline_run_id, background_id]`` pairs. (templated)
    :param lambda_function_name: the taxon-indexing Lambda's name or ARN. (templated)
    :param chunk_number: this chunk's 1-based position, for logs and the UI label.
    :param chunk_count: how many chunks the run has.
    :param max_in_flight: invocations in flight at once for this chunk.
    :param scored_taxon_counts_index_name: index the Lambda writes taxon counts to; left out of
        the payload when empty (the Lambda's default applies). (templated)
    :param pipeline_runs_index_name: index the Lambda marks pairs complete in; left out when
        empty. (templated)
    :param transport_error_tries: invocations of a pair that answers ``TransportError`` before it
        counts as failed.
    :param max_consecutive_failures: failed pairs in a row after which the chunk stops invoking.
    :param search_conn_id: the HTTP connection of the cluster the Lambda writes to. With it and the
        index names, confirmed pairs are reused only while those indexes are the ones they were
        written to (an index deleted and recreated since starts the chunk over); without, they
        are reused while the chunk's arguments are unchanged.
    """

    aws_hook_class_path = "airflow.providers.amazon.aws.hooks.lambda_function.LambdaHook"
    template_fields: Sequence[str] = (
        *AWS_TEMPLATE_FIELDS,
        "pairs",
        "lambda_function_name",
        "scored_taxon_counts_index_name",
        "pipeline_runs_index_name",
    )
    operator_extra_links = (LambdaFunctionLink(),)
    ui_color = "#f9c915"

    def __init__(
        self,
        *,
        pairs: list[list[int]],
        lambda_function_name: str,
        chunk_number: int = 1,
        chunk_count: int = 1,
        max_in_flight: int = 20,
        scored_taxon_counts_index_name: str | None = None,
        pipeline_runs_index_name: str | None = None,
        transport_error_tries: int = 5,
        max_consecutive_failures: int = 5,
        search_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.search_conn_id = search_conn_id
        self.pairs = pairs
        self.lambda_function_name = lambda_function_name
        self.chunk_number = chunk_number
        self.chunk_count = chunk_count
        self.max_in_flight = max_in_flight
        self.scored_taxon_counts_index_name = scored_taxon_counts_index_name
        self.pipeline_runs_index_name = pipeline_runs_index_name
        self.transport_error_tries = transport_error_tries
        self.max_consecutive_failures = max_consecutive_failures

    @property
    def _hook_parameters(self) -> dict[str, Any]:
        config = {
            "max_pool_connections": self.max_in_flight,
            "read_timeout": LAMBDA_READ_TIMEOUT_SECONDS,
            "connect_timeout": 10,
            "retries": {"mode": "standard", "total_max_attempts": 6},
        }
        return {**super()._hook_parameters, "config": config | (self.botocore_config or {})}

    def _check_arguments(self) -> list[Pair]:
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {self.max_in_flight}")
        if not self.lambda_function_name:
            raise ValueError("lambda_function_name is empty: name the taxon-indexing Lambda")
        pairs = [tuple(pair) for pair in self.pairs]
        bad = [pair for pair in pairs if len(pair) != 2 or not all(isinstance(i, int) and i > 0 for i in pair)]
        if bad:
            raise ValueError(f"pairs must be [pipeline_run_id, background_id] positive integers; bad: {bad[:5]}")
        return pairs  # type: ignore[return-value]

    def execute(self, context: Context) -> dict[str, Any]:
        pairs = self._check_arguments()
        label = f"chunk {self.chunk_number}/{self.chunk_count}"
        memory = StepMemory(
            context,
            PROGRESS_KEY,
            {
                "pairs": pairs_fingerprint(pairs),
                "function": self.lambda_function_name,
                "indexes": [self.scored_taxon_counts_index_name, self.pipeline_runs_index_name],
            },
            self.log,
        )
        world = self._indexes_identity()
        verdict, remembered = memory.recall(phase_of=None, world_now=lambda: world)
        confirmed = decode_confirmed(remembered.value, len(pairs)) if verdict is Verdict.REUSE else set()
        todo = [position for position in range(len(pairs)) if position not in confirmed]
        self.log.info(
            "%s: %d pairs, %d confirmed by earlier tries, %d to invoke with %d in flight",
            label,
            len(pairs),
            len(confirmed),
            len(todo),
            self.max_in_flight,
        )
        LambdaFunctionLink.persist(
            context=context,
            operator=self,
            region_name=self.hook.conn_region_name,
            aws_partition=self.hook.conn_partition,
            function_name=self.lambda_function_name,
        )
        started_at = time.time()
        failures: dict[int, Outcome] = {}
        save = lambda: memory.remember(encode_confirmed(confirmed, len(pairs)), world)  # noqa: E731
        invoked = self._invoke_all(pairs, todo, confirmed, failures, save)
        save()
        unattempted = [position for position in todo if position not in confirmed and position not in failures]
        result = {
            "chunk": self.chunk_number,
            "pairs": len(pairs),
            "confirmed": len(confirmed),
            "invocations": invoked,
            "failed": [
                {"pair": list(pairs[p]), "error_type": o.error_type, "error_message": o.error_message}
                for p, o in sorted(failures.items())
            ],
            "unattempted": [list(pairs[p]) for p in unattempted],
            "started_at": started_at,
            "finished_at": time.time(),
        }
        context["ti"].xcom_push(key="chunk_result", value=result)
        self.log.info("%s: %d/%d confirmed, %d invocations", label, len(confirmed), len(pairs), invoked)
        if len(confirmed) < len(pairs):
            named = [f"{f['pair']} {f['error_type']}: {f['error_message']}" for f in result["failed"]]
            named += [f"{pair} not invoked (stopped after failures in a row)" for pair in result["unattempted"]]
            raise RuntimeError(
                f"{label}: {len(pairs) - len(confirmed)} of {len(pairs)} pairs unconfirmed; retry or clear "
                "this chunk to invoke only those:\n" + "\n".join(named)
            )
        return result

    def _invoke_all(
        self,
        pairs: list[Pair],
        todo: list[int],
        confirmed: set[int],
        failures: dict[int, Outcome],
        save: Callable[[], None],
    ) -> int:
        """Invoke the ``todo`` positions with a bounded number in flight; return invocations made."""
        client = self.hook.conn  # built once, before the threads share it
        invocations = 0
        in_a_row = 0
        last_save = time.monotonic()
        calls = bounded_map(
            lambda position: self._invoke_pair(client, pairs[position]),
            todo,
            self.max_in_flight,
            stop=lambda: in_a_row >= self.max_consecutive_failures,
        )
        for position, future in calls:
            outcome, attempts = future.result()
            invocations += attempts
            if outcome.confirmed:
                confirmed.add(position)
                in_a_row = 0
            else:
                failures[position] = outcome
                in_a_row += 1
                self.log.warning("pair %s failed: %s: %s", pairs[position], outcome.error_type, outcome.error_message)
                if in_a_row == self.max_consecutive_failures:
                    self.log.error("%d failures in a row: invoking no more pairs in this try", in_a_row)
            if time.monotonic() - last_save >= SAVE_EVERY_SECONDS:
                save()
                last_save = time.monotonic()
        return invocations

    def _invoke_pair(self, client: Any, pair: Pair) -> tuple[Outcome, int]:
        """Invoke one pair, re-invoking on ``TransportError``; return the outcome and attempts made."""
        from botocore.exceptions import BotoCoreError, ClientError

        payload = json.dumps(
            invocation_payload(
                pair,
                scored_taxon_counts_index_name=self.scored_taxon_counts_index_name,
                pipeline_runs_index_name=self.pipeline_runs_index_name,
            )
        ).encode()

        def invoke_once() -> Outcome:
            try:
                response = client.invoke(
                    FunctionName=self.lambda_function_name, InvocationType="RequestResponse", Payload=payload
                )
            except ClientError as err:
                error = err.response.get("Error", {})
                return Outcome(False, error.get("Code", "ClientError"), error.get("Message", str(err)))
            except BotoCoreError as err:
                return Outcome(False, type(err).__name__, str(err))
            return judge_response(response["StatusCode"], response.get("FunctionError"), response["Payload"].read())

        retrying = Retrying(
            retry=retry_if_result(lambda outcome: outcome.retryable),
            stop=stop_after_attempt(self.transport_error_tries),
            wait=wait_exponential(multiplier=TRANSPORT_BACKOFF_SECONDS, max=30),
            retry_error_callback=lambda state: state.outcome.result(),
        )
        outcome = retrying(invoke_once)
        return outcome, retrying.statistics.get("attempt_number", 1)

    def _indexes_identity(self) -> str:
        """The indexes this chunk writes to, as they are now (their uuids), when they can be looked at."""
        names = [name for name in (self.scored_taxon_counts_index_name, self.pipeline_runs_index_name) if name]
        if not (self.search_conn_id and names):
            return fingerprint({"unchecked": names})
        from airflow_provider_bio.hooks.search_index import SearchIndexHook

        hook = SearchIndexHook(search_conn_id=self.search_conn_id)
        return fingerprint({name: hook.index_identity(name) for name in names})


def run_conf(context: Context) -> TaxonIndexConf:
    """Validate a batch_index_taxons run's Params merged with its trigger conf.

    :raises AirflowFailException: naming each bad field (unknown keys included) and the fix; a
        bad conf is not retried.
    """
    try:
        return validate_conf({**context["params"], **(context["dag_run"].conf or {})})
    except ConfError as err:
        raise AirflowFailException(str(err)) from err


class CreateTaxonIndexesOperator(EnsureSearchIndexesOperator):
    """Create the fresh indexes a run asks for (``create_indexes`` with ``index_suffix``), if any.

    It reads the run's conf itself, so it runs beside planning rather than after it. Takes the
    arguments of EnsureSearchIndexesOperator except ``indexes``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(indexes={}, **kwargs)

    def execute(self, context: Context) -> list[str]:
        conf = run_conf(context)
        self.indexes = fresh_index_bodies(conf.fresh_indexes) if conf.create_indexes else {}
        return super().execute(context)


class PlanTaxonIndexOperator(AwsLateHookOperator):
    """Validate a ``batch_index_taxons`` run's conf and split its pairs into chunks.

    Runs before any Lambda is invoked: a bad conf fails here, naming each field and the fix, with
    no AWS call made. With ``input_s3_uri`` the pairs come from a file in the Glue job's format
    (read with ``s3:GetObject``). Returns the chunks (one GlueTaxonIndexOperator kwargs dict
    each, to map over) and pushes the XCom ``swap_aliases`` (alias -> index, empty unless asked).

    :param search_conn_id: the cluster's HTTP connection, handed to every chunk so that it checks
        its remembered pairs against the indexes they were written to.
    """

    aws_hook_class_path = "airflow.providers.amazon.aws.hooks.s3.S3Hook"

    def __init__(self, *, search_conn_id: str = "search_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.search_conn_id = search_conn_id

    def execute(self, context: Context) -> list[dict[str, Any]]:
        conf = run_conf(context)
        job_params = conf.job_params
        if conf.input_s3_uri:
            bucket, key = self.hook.parse_s3_url(conf.input_s3_uri)
            job_params, warnings = parse_input_file(self.hook.read_key(key, bucket), conf.input_s3_uri)
            for warning in warnings:
                self.log.warning(warning)
        pairs = expand_pairs(job_params or [])
        chunks = plan_chunks(
            pairs,
            chunk_size=conf.chunk_size,
            concurrency=conf.concurrency,
            max_chunks=airflow_conf.getint("core", "max_map_length"),
        )
        shared = {
            "lambda_function_name": conf.lambda_function_name,
            "scored_taxon_counts_index_name": conf.scored_taxon_counts_index_name,
            "pipeline_runs_index_name": conf.pipeline_runs_index_name,
            "search_conn_id": self.search_conn_id,
        }
        ti = context["ti"]
        ti.xcom_push(key="swap_aliases", value=conf.fresh_indexes if conf.swap_aliases else {})
        self.log.info(
            "%d unique pairs in %d chunks, %d invocations in flight per chunk",
            len(pairs),
            len(chunks),
            chunks[0].max_in_flight if chunks else 0,
        )
        return [chunk.as_operator_kwargs() | shared for chunk in chunks]


class TaxonIndexReportOperator(BaseOperator):
    """Report a run's totals over every chunk, and fail when any pair is unconfirmed.

    Meant to run whatever the chunks did (``trigger_rule="all_done"``). Logs pairs, chunks,
    confirmed, failed pairs with their errors, wall time and invocations per second, and returns
    the report as a dict.

    :param plan_task_id: the PlanTaxonIndexOperator task, whose return value lists the chunks.
    :param chunk_task_id: the mapped GlueTaxonIndexOperator task.
    """

    def __init__(self, *, plan_task_id: str, chunk_task_id: str, **kwargs: Any) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.plan_task_id = plan_task_id
        self.chunk_task_id = chunk_task_id

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        chunks = ti.xcom_pull(task_ids=self.plan_task_id)
        if chunks is None:
            raise RuntimeError(f"{self.plan_task_id} left no plan: see its log (usually an invalid conf)")
        results = (
            ti.xcom_pull(task_ids=self.chunk_task_id, key="chunk_result", map_indexes=list(range(len(chunks))))
            if chunks
            else []
        )
        report = build_report([chunk["pairs"] for chunk in chunks], results)
        self.log.info("batch_index_taxons report\n%s", report.summary())
        if report.unconfirmed:
            raise RuntimeError(
                f"{report.unconfirmed} of {report.pairs} pairs unconfirmed; retry or clear the failed "
                "chunk instances to invoke only those"
            )
        return asdict(report) | {"invocations_per_second": report.invocations_per_second}
