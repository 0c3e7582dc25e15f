from __future__ import annotations

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
