from __future__ import annotations

import random
import re

import pytest

from airflow_provider_bio.core.taxon_index import (
    CONFIRMED,
    Chunk,
    Outcome,
    decode_confirmed,
    encode_confirmed,
    expand_pairs,
    invocation_payload,
    judge_response,
    pairs_fingerprint,
    plan_chunks,
)


def test_expand_pairs_runs_outer_backgrounds_inner_and_drops_repeats():
    job_params = [
        {"pipeline_run_ids": [1, 2], "background_ids": [7, 8]},
        {"pipeline_run_ids": [2, 3], "background_ids": [8]},
    ]
    assert expand_pairs(job_params) == [(1, 7), (1, 8), (2, 7), (2, 8), (3, 8)]


def test_chunks_cover_every_pair_once_in_order():
    pairs = [(pr, bg) for pr in range(1, 51) for bg in (1, 2, 3)]
    chunks = plan_chunks(pairs, chunk_size=40, concurrency=20)
    assert [pair for chunk in chunks for pair in chunk.pairs] == pairs
    assert [len(chunk.pairs) for chunk in chunks] == [40, 40, 40, 30]
    assert [(chunk.number, chunk.count) for chunk in chunks] == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_a_short_last_chunk_holds_the_rest():
    pairs = [(i, 1) for i in range(1, 21)]
    chunks = plan_chunks(pairs, chunk_size=7, concurrency=9)
    assert [list(chunk.pairs) for chunk in chunks] == [pairs[0:7], pairs[7:14], pairs[14:20]]
    assert [(chunk.number, chunk.count) for chunk in chunks] == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize("concurrency", [1, 2, 3, 20, 21, 200])
def test_parallel_chunks_never_exceed_the_run_concurrency(concurrency):
    pairs = [(i, 1) for i in range(1, 301)]
    chunks = plan_chunks(pairs, chunk_size=10, concurrency=concurrency, parallel_chunks=2)
    running_at_once = min(2, len(chunks))
    assert running_at_once * chunks[0].max_in_flight <= concurrency
    assert chunks[0].max_in_flight >= 1


def test_concurrency_one_keeps_the_run_in_one_chunk():
    chunks = plan_chunks([(i, 1) for i in range(1, 100)], chunk_size=10, concurrency=1)
    assert len(chunks) == 1 and chunks[0].max_in_flight == 1


def test_chunk_count_never_exceeds_max_map_length():
    pairs = [(i, 1) for i in range(1, 10_001)]
    chunks = plan_chunks(pairs, chunk_size=1, concurrency=20, max_chunks=1024)
    assert len(chunks) <= 1024
    assert sum(len(chunk.pairs) for chunk in chunks) == len(pairs)


@pytest.mark.parametrize(("chunk_size", "concurrency"), [(0, 5), (5, 0)])
def test_plan_rejects_non_positive_settings(chunk_size, concurrency):
    with pytest.raises(ValueError, match="must be at least 1"):
        plan_chunks([(1, 1)], chunk_size=chunk_size, concurrency=concurrency)


def test_payload_leaves_out_index_names_that_are_not_given():
    assert invocation_payload((5, 9)) == {"pipeline_run_id": 5, "background_id": 9}
    assert invocation_payload((5, 9), scored_taxon_counts_index_name="stc-v6", pipeline_runs_index_name=None) == {
        "pipeline_run_id": 5,
        "background_id": 9,
        "scored_taxon_counts_index_name": "stc-v6",
    }


def test_only_a_200_without_function_error_confirms():
    assert judge_response(200, None, b'{"success": true}').confirmed
    failed = judge_response(200, "Unhandled", b'{"errorType": "ValueError", "errorMessage": "no such run"}')
    assert (failed.confirmed, failed.error_type, failed.error_message) == (False, "ValueError", "no such run")
    assert not failed.retryable
    assert judge_response(200, "Unhandled", b'{"errorType": "TransportError", "errorMessage": "x"}').retryable
    odd = judge_response(500, None, b"not json")
    assert (odd.confirmed, odd.error_type, odd.error_message) == (False, "HTTP500", "not json")


def test_confirmed_bitmap_round_trips():
    rng = random.Random(7)
    size = 10_001
    confirmed = {rng.randrange(size) for _ in range(3000)}
    assert decode_confirmed(encode_confirmed(confirmed, size), size) == confirmed


def test_fingerprint_tells_chunks_apart():
    assert re.fullmatch(r"[0-9a-f]{16}", pairs_fingerprint([(1, 2), (3, 4)]))
    assert pairs_fingerprint([(1, 2), (3, 4)]) != pairs_fingerprint([(1, 2), (3, 5)])
    assert pairs_fingerprint([(1, 2), (3, 4)]) != pairs_fingerprint([(3, 4), (1, 2)])


def test_a_chunk_becomes_the_keyword_arguments_of_one_mapped_operator():
    chunk = Chunk(number=2, count=3, pairs=((1, 7), (1, 8)), max_in_flight=10)
    assert chunk.as_operator_kwargs() == {
        "chunk_number": 2,
        "chunk_count": 3,
        "pairs": [[1, 7], [1, 8]],
        "max_in_flight": 10,
    }


@pytest.mark.parametrize(
    ("concurrency", "parallel_chunks", "sizes", "per_chunk"),
    [
        (20, 2, [4, 4, 2], 10),
        (21, 2, [4, 4, 2], 10),
        (2, 2, [4, 4, 2], 1),
        (1, 2, [10], 1),
        (2, 3, [10], 2),
        (9, 3, [4, 4, 2], 3),
    ],
)
def test_each_chunk_gets_its_share_of_the_run_concurrency(concurrency, parallel_chunks, sizes, per_chunk):
    pairs = [(i, 1) for i in range(10)]
    chunks = plan_chunks(pairs, chunk_size=4, concurrency=concurrency, parallel_chunks=parallel_chunks)
    assert [len(chunk.pairs) for chunk in chunks] == sizes
    assert {chunk.max_in_flight for chunk in chunks} == {per_chunk}


def test_chunks_grow_to_fit_the_map_length():
    pairs = [(i, 1) for i in range(10)]
    assert [len(c.pairs) for c in plan_chunks(pairs, chunk_size=1, concurrency=20, max_chunks=3)] == [4, 4, 2]
    assert [len(c.pairs) for c in plan_chunks(pairs, chunk_size=1, concurrency=20, max_chunks=5)] == [2] * 5
    assert len(plan_chunks([(i, 1) for i in range(1025)], chunk_size=1, concurrency=20)) == 513


def test_no_pairs_make_no_chunks_and_bad_settings_are_named():
    assert plan_chunks([], chunk_size=1, concurrency=1) == []
    with pytest.raises(ValueError, match=r"^chunk_size must be at least 1, got 0$"):
        plan_chunks([], chunk_size=0, concurrency=1)
    with pytest.raises(ValueError, match=r"^concurrency must be at least 1, got -2$"):
        plan_chunks([], chunk_size=1, concurrency=-2)
    assert len(plan_chunks([(1, 1)], chunk_size=1, concurrency=1)) == 1


def test_expand_pairs_takes_ids_as_ints():
    assert expand_pairs([{"pipeline_run_ids": [1.0], "background_ids": ["2"]}]) == [(1, 2)]
    assert all(
        type(i) is int for pair in expand_pairs([{"pipeline_run_ids": [1.0], "background_ids": ["2"]}]) for i in pair
    )


def test_payload_carries_both_index_names_when_given():
    assert invocation_payload((5, 9), scored_taxon_counts_index_name="", pipeline_runs_index_name="pr-v6") == {
        "pipeline_run_id": 5,
        "background_id": 9,
        "pipeline_runs_index_name": "pr-v6",
    }


@pytest.mark.parametrize(
    ("status", "function_error", "payload", "outcome"),
    [
        (200, None, b"", CONFIRMED),
        (200, "", b"", CONFIRMED),
        (200, "Handled", b"", Outcome(False, "Handled", "")),
        (202, None, b"", Outcome(False, "HTTP202", "")),
        (500, None, b'["a list"]', Outcome(False, "HTTP500", '["a list"]')),
        (200, "Unhandled", b'{"errorMessage": "timed out"}', Outcome(False, "Unhandled", "timed out")),
        (200, "Unhandled", b'{"errorType": "KeyError"}', Outcome(False, "KeyError", '{"errorType": "KeyError"}')),
        (
            200,
            "Unhandled",
            b'{"errorType": "", "errorMessage": ""}',
            Outcome(False, "Unhandled", '{"errorType": "", "errorMessage": ""}'),
        ),
        (500, None, b"\xff oops", Outcome(False, "HTTP500", "\ufffd oops")),
    ],
)
def test_how_an_invocation_ended(status, function_error, payload, outcome):
    assert judge_response(status, function_error, payload) == outcome


def test_a_long_error_message_is_cut_at_1000_characters():
    outcome = judge_response(200, "Unhandled", b'{"errorType": "E", "errorMessage": "' + b"x" * 1500 + b'"}')
    assert outcome.error_message == "x" * 1000
    assert judge_response(500, None, b"y" * 1001).error_message == "y" * 1000


def test_only_a_transport_error_is_worth_another_try():
    assert Outcome(False, "TransportError", "x").retryable
    assert not Outcome(False, "TransportErrors", "x").retryable
    assert not CONFIRMED.retryable


def test_the_fingerprint_of_saved_progress_stays_the_same_across_releases():
    """The sha256 of the pairs' JSON, cut to 16 hex digits: progress saved by an older release still matches."""
    assert pairs_fingerprint([(1, 2), (3, 4)]) == "1e258794ed040eaa"


@pytest.mark.parametrize(
    ("confirmed", "size", "encoded"),
    [({0, 3, 8, 15}, 16, "CYE="), ({0, 9}, 10, "AQI="), (set(), 0, ""), (set(), 9, "AAA=")],
)
def test_confirmed_positions_pack_one_bit_each_lowest_bit_first(confirmed, size, encoded):
    assert encode_confirmed(confirmed, size) == encoded
    assert decode_confirmed(encoded, size) == confirmed


def test_decoding_keeps_only_positions_below_the_chunk_size():
    assert decode_confirmed("/w==", 8) == {0, 1, 2, 3, 4, 5, 6, 7}
    assert decode_confirmed("/w==", 3) == {0, 1, 2}
    assert decode_confirmed("/w==", 20) == {0, 1, 2, 3, 4, 5, 6, 7}
