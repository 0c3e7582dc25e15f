"""Totals for a batch taxon indexing run, built from what each chunk reported."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunReport:
    """What a run achieved, over every chunk of its plan.

    :param pairs: pairs in the plan.
    :param chunks: chunks in the plan.
    :param confirmed: pairs the Lambda confirmed (across every try).
    :param failed: pairs whose last invocation failed, with the Lambda's error.
    :param unattempted: pairs never invoked (a chunk stopped early, or never ran).
    :param invocations: Lambda invocations made by the chunks' latest tries.
    :param wall_seconds: first chunk start to last chunk end, over the latest tries.
    """

    pairs: int
    chunks: int
    confirmed: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    unattempted: list[list[int]] = field(default_factory=list)
    invocations: int = 0
    wall_seconds: float = 0.0

    @property
    def unconfirmed(self) -> int:
        """Pairs still to index."""
        return self.pairs - self.confirmed

    @property
    def invocations_per_second(self) -> float:
        """Invocation rate over the wall time."""
        return self.invocations / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def summary(self, max_listed: int = 20) -> str:
        """A few human lines: totals first, then up to ``max_listed`` failed pairs."""
        lines = [
            f"pairs {self.pairs} · chunks {self.chunks} · confirmed {self.confirmed} · "
            f"failed {len(self.failed)} · not attempted {len(self.unattempted)}",
            f"wall time {self.wall_seconds:.1f} s · {self.invocations} invocations · "
            f"{self.invocations_per_second:.1f} invocations/s",
        ]
        for failure in self.failed[:max_listed]:
            lines.append(
                f"  failed pipeline_run_id={failure['pair'][0]} background_id={failure['pair'][1]}: "
                f"{failure['error_type']}: {failure['error_message']}"
            )
        if len(self.failed) > max_listed:
            lines.append(f"  ... and {len(self.failed) - max_listed} more failed pairs")
        return "\n".join(lines)


def build_report(
    chunk_pairs: Sequence[Sequence[Sequence[int]]], results: Sequence[Mapping[str, Any] | None]
) -> RunReport:
    """Combine chunk results into a run report.

    :param chunk_pairs: each planned chunk's pairs, in chunk order.
    :param results: each chunk's latest result (see GlueTaxonIndexOperator), or None for a chunk
        that left none (it never ran, or died before reporting): its pairs count as not attempted.
    """
    confirmed = invocations = 0
    failed: list[dict[str, Any]] = []
    unattempted: list[list[int]] = []
    starts: list[float] = []
    ends: list[float] = []
    for pairs, result in zip(chunk_pairs, results, strict=True):
        if not result:
            unattempted.extend(list(pair) for pair in pairs)
            continue
        confirmed += result["confirmed"]
        invocations += result["invocations"]
        failed.extend(result["failed"])
        unattempted.extend(result["unattempted"])
        starts.append(result["started_at"])
        ends.append(result["finished_at"])
    return RunReport(
        pairs=sum(len(pairs) for pairs in chunk_pairs),
        chunks=len(chunk_pairs),
        confirmed=confirmed,
        failed=failed,
        unattempted=unattempted,
        invocations=invocations,
        wall_seconds=(max(ends) - min(starts)) if starts else 0.0,
    )
