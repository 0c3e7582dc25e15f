from __future__ import annotations

import pytest

from airflow_provider_bio.core.taxon_report import build_report


def _result(confirmed, failed=(), unattempted=(), invocations=None, start=100.0, end=110.0):
    return {
        "confirmed": confirmed,
        "failed": list(failed),
        "unattempted": list(unattempted),
        "invocations": confirmed + len(failed) if invocations is None else invocations,
        "started_at": start,
        "finished_at": end,
    }


def test_report_adds_up_chunks_and_lists_failures():
    failure = {"pair": [3, 1], "error_type": "ValueError", "error_message": "boom"}
    report = build_report(
        [[[1, 1], [2, 1]], [[3, 1], [4, 1]]],
        [_result(2, start=100, end=105), _result(1, failed=[failure], start=101, end=108)],
    )
    assert (report.pairs, report.chunks, report.confirmed, report.unconfirmed) == (4, 2, 3, 1)
    assert report.failed == [failure]
    assert report.wall_seconds == 8
    assert report.invocations_per_second == 4 / 8
    assert "ValueError: boom" in report.summary()


def test_a_chunk_that_left_no_result_counts_as_not_attempted():
    report = build_report([[[1, 1]], [[2, 1], [3, 1]]], [_result(1), None])
    assert report.unattempted == [[2, 1], [3, 1]]
    assert report.unconfirmed == 2


def _failure(pair):
    return {"pair": pair, "error_type": "TransportError", "error_message": "unreachable"}


def test_the_summary_gives_totals_then_the_failed_pairs():
    report = build_report([[[1, 7], [2, 8], [3, 9]]], [_result(1, failed=[_failure([2, 8]), _failure([3, 9])])])
    assert report.summary(max_listed=1) == (
        "pairs 3 · chunks 1 · confirmed 1 · failed 2 · not attempted 0\n"
        "wall time 10.0 s · 3 invocations · 0.3 invocations/s\n"
        "  failed pipeline_run_id=2 background_id=8: TransportError: unreachable\n"
        "  ... and 1 more failed pairs"
    )


def test_the_summary_lists_twenty_failed_pairs_by_default():
    pairs = [[n, 1] for n in range(21)]
    report = build_report([pairs], [_result(0, failed=[_failure(pair) for pair in pairs])])
    lines = report.summary().splitlines()
    assert len(lines) == 2 + 20 + 1
    assert lines[-1] == "  ... and 1 more failed pairs"
    report = build_report([pairs[:20]], [_result(0, failed=[_failure(pair) for pair in pairs[:20]])])
    assert len(report.summary().splitlines()) == 2 + 20


def test_chunks_after_one_without_a_result_still_count():
    report = build_report([[[1, 1]], [[2, 1]], [[3, 1]]], [None, _result(1, start=50, end=60), None])
    assert (report.confirmed, report.unattempted, report.invocations) == (1, [[1, 1], [3, 1]], 1)
    assert report.wall_seconds == 10


def test_a_run_where_no_chunk_reported_took_no_time():
    report = build_report([[[1, 1]]], [None])
    assert (report.wall_seconds, report.invocations_per_second) == (0.0, 0.0)
    assert "wall time 0.0 s · 0 invocations · 0.0 invocations/s" in report.summary()


def test_results_must_match_the_planned_chunks():
    with pytest.raises(ValueError):
        build_report([[[1, 1]], [[2, 1]]], [_result(1)])
