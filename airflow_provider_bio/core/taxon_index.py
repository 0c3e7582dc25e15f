"""Planning for batch taxon indexing: pairs, chunks, payloads and how a Lambda answer is judged.

A *pair* is ``(pipeline_run_id, background_id)``; the taxon-indexing Lambda indexes one pair per
invocation. Pairs are expanded from the seed's ``job_params`` format, de-duplicated, and split
into contiguous chunks; each chunk becomes one mapped task instance.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

Pair = tuple[int, int]

#: Airflow's default ``[core] max_map_length``: a plan never yields more chunks than this.
DEFAULT_MAX_CHUNKS = 1024
#: Mapped chunk instances that may run at once within one DAG run (``max_active_tis_per_dagrun``).
PARALLEL_CHUNKS = 2


def expand_pairs(job_params: Iterable[Mapping[str, Sequence[int]]]) -> list[Pair]:
    """Expand ``job_params`` entries into unique pairs, in a deterministic order.

    For each entry, every pipeline run is combined with every background (pipeline run outer,
    background inner, as the original Glue job did). A pair seen before is dropped, so the first
    occurrence fixes its position.

    :param job_params: entries of ``{"background_ids": [...], "pipeline_run_ids": [...]}``.
    :return: the unique ``(pipeline_run_id, background_id)`` pairs.
    """
    seen: dict[Pair, None] = {}
    for entry in job_params:
        for pipeline_run_id in entry["pipeline_run_ids"]:
            for background_id in entry["background_ids"]:
                seen.setdefault((int(pipeline_run_id), int(background_id)), None)
    return list(seen)


@dataclass(frozen=True)
class Chunk:
    """One mapped instance's share of the work.

    :param number: 1-based position among the run's chunks.
    :param count: how many chunks the run has.
    :param pairs: the pairs this chunk invokes, in order.
    :param max_in_flight: invocations this chunk may have in flight at once.
    """

    number: int
    count: int
    pairs: tuple[Pair, ...]
    max_in_flight: int

    def as_operator_kwargs(self) -> dict[str, object]:
        """Return the keyword arguments one mapped GlueTaxonIndexOperator instance receives."""
        return {
            "chunk_number": self.number,
            "chunk_count": self.count,
            "pairs": [list(pair) for pair in self.pairs],
            "max_in_flight": self.max_in_flight,
        }


def plan_chunks(
    pairs: Sequence[Pair],
    *,
    chunk_size: int,
    concurrency: int,
    max_chunks: int = DEFAULT_MAX_CHUNKS,
    parallel_chunks: int = PARALLEL_CHUNKS,
) -> list[Chunk]:
    """Split pairs into contiguous chunks whose combined in-flight invocations respect ``concurrency``.

    Up to ``parallel_chunks`` chunks run at once, so each gets ``concurrency // parallel_chunks``
    invocations in flight. With ``concurrency`` below ``parallel_chunks`` the whole run is one
    chunk, which is the only way to keep fewer invocations in flight than chunks could run.
    ``chunk_size`` grows when needed so the plan never exceeds ``max_chunks`` instances.

    :param pairs: the de-duplicated pairs, in order.
    :param chunk_size: the preferred number of pairs per chunk.
    :param concurrency: the most Lambda invocations in flight at once for the whole run.
    :param max_chunks: the most mapped instances allowed (Airflow's ``max_map_length``).
    :param parallel_chunks: how many chunk instances the DAG lets run at once.
    :return: the chunks, numbered from 1.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if not pairs:
        return []
    if concurrency < parallel_chunks:
        size = len(pairs)
        per_chunk = concurrency
    else:
        size = max(chunk_size, math.ceil(len(pairs) / max_chunks))
        per_chunk = concurrency // parallel_chunks
    count = math.ceil(len(pairs) / size)
    return [
        Chunk(
            number=index + 1,
            count=count,
            pairs=tuple(pairs[index * size : (index + 1) * size]),
            max_in_flight=per_chunk,
        )
        for index in range(count)
    ]


def invocation_payload(
    pair: Pair,
    *,
    scored_taxon_counts_index_name: str | None = None,
    pipeline_runs_index_name: str | None = None,
) -> dict[str, object]:
    """Build the taxon-indexing Lambda's event for one pair.

    Index names that are not given are left out (the Lambda then uses its own defaults); they are
    never sent as null, which the Lambda's schema rejects.
    """
    payload: dict[str, object] = {"pipeline_run_id": pair[0], "background_id": pair[1]}
    if scored_taxon_counts_index_name:
        payload["scored_taxon_counts_index_name"] = scored_taxon_counts_index_name
    if pipeline_runs_index_name:
        payload["pipeline_runs_index_name"] = pipeline_runs_index_name
    return payload


@dataclass(frozen=True)
class Outcome:
    """How one invocation ended.

    :param confirmed: the Lambda answered 200 without a ``FunctionError``.
    :param error_type: the Lambda's ``errorType`` (or the client error's code) when not confirmed.
    :param error_message: the matching message.
    """

    confirmed: bool
    error_type: str | None = None
    error_message: str | None = None

    @property
    def retryable(self) -> bool:
        """A ``TransportError`` from the Lambda (Elasticsearch unreachable) is worth another try."""
        return self.error_type == "TransportError"


CONFIRMED = Outcome(confirmed=True)


def judge_response(status_code: int, function_error: str | None, payload: bytes) -> Outcome:
    """Decide whether a RequestResponse invocation confirmed its pair.

    :param status_code: the Invoke API's ``StatusCode``.
    :param function_error: the Invoke API's ``FunctionError`` (``Unhandled``/``Handled``) or None.
    :param payload: the function's response body.
    """
    if status_code == 200 and not function_error:
        return CONFIRMED
    error_type = function_error or f"HTTP{status_code}"
    message = payload.decode("utf-8", errors="replace")
    try:
        body = json.loads(payload) if payload else None
    except ValueError:
        body = None
    if isinstance(body, dict):
        error_type = str(body.get("errorType") or error_type)
        message = str(body.get("errorMessage") or message)
    return Outcome(confirmed=False, error_type=error_type, error_message=message[:1000])


def pairs_fingerprint(pairs: Sequence[Pair]) -> str:
    """Identify a chunk's exact pairs, so saved progress is only reused for the same chunk."""
    digest = hashlib.sha256(json.dumps([list(pair) for pair in pairs]).encode())
    return digest.hexdigest()[:16]


def encode_confirmed(confirmed: Iterable[int], size: int) -> str:
    """Pack confirmed positions of a chunk into a base64 bitmap (one bit per pair).

    A chunk of 100,000 pairs packs into under 17 kB, well inside the task state store's
    64 kB default value limit.
    """
    bits = bytearray(math.ceil(size / 8))
    for position in confirmed:
        bits[position // 8] |= 1 << (position % 8)
    return base64.b64encode(bytes(bits)).decode("ascii")


def decode_confirmed(encoded: str, size: int) -> set[int]:
    """Unpack :func:`encode_confirmed`'s bitmap into positions below ``size``."""
    bits = base64.b64decode(encoded)
    return {position for position in range(min(size, len(bits) * 8)) if bits[position // 8] >> (position % 8) & 1}
