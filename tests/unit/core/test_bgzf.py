"""The BGZF codec: round trips around block boundaries, the .gzi layout, ranged reads, damage detection."""

from __future__ import annotations

import io
import json
import os
import struct
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_bio.core.bgzf import (
    BLOCK_DATA_SIZE,
    EOF_BLOCK,
    MAX_BLOCK_SIZE,
    BgzfError,
    BgzfWriter,
    GziIndex,
    decompress_stream,
    iter_blocks,
    read_range,
)

AROUND_BOUNDARIES = st.sampled_from([0, 1, BLOCK_DATA_SIZE - 1, BLOCK_DATA_SIZE, BLOCK_DATA_SIZE + 1])
JSON_LINES = st.lists(
    st.dictionaries(st.text(max_size=6), st.one_of(st.text(max_size=30), st.integers(), st.floats(allow_nan=False))),
    max_size=60,
)


def compress(data: bytes, *, chunk: int = 1 << 20, threads: int = 2, level: int = 6) -> tuple[bytes, GziIndex]:
    out = io.BytesIO()
    with BgzfWriter(out.write, threads=threads, level=level) as writer:
        for start in range(0, len(data), chunk):
            writer.write(data[start : start + chunk])
    return out.getvalue(), writer.summary.index


def decompress(compressed: bytes) -> tuple[bytes, GziIndex]:
    parts: list[bytes] = []
    summary = decompress_stream(io.BytesIO(compressed).read, parts.append)
    return b"".join(parts), summary.index


def fetch_from(compressed: bytes):
    def fetch(start: int, end: int | None) -> bytes:
        return compressed[start:end]

    return fetch


@settings(max_examples=40, deadline=None)
@given(
    body=st.binary(max_size=3 * BLOCK_DATA_SIZE),
    extra=AROUND_BOUNDARIES,
    chunk=st.integers(1, 200_000),
    level=st.sampled_from([-1, 0, 1, 6, 9]),
)
def test_round_trip_of_any_bytes_in_any_write_sizes(body: bytes, extra: int, chunk: int, level: int) -> None:
    data = body + b"x" * extra
    compressed, index = compress(data, chunk=chunk, level=level)
    restored, implied_index = decompress(compressed)
    assert restored == data
    assert implied_index.to_bytes() == index.to_bytes()
    assert compressed.endswith(EOF_BLOCK)


@settings(max_examples=30, deadline=None)
@given(records=JSON_LINES, crlf=st.booleans())
def test_round_trip_of_json_lines_keeps_every_byte_including_crlf(records: list[dict], crlf: bool) -> None:
    newline = "\r\n" if crlf else "\n"
    data = "".join(json.dumps(record) + newline for record in records).encode()
    restored, _ = decompress(compress(data, chunk=7)[0])
    assert restored == data
    assert restored.count(b"\r\n") == (len(records) if crlf else 0)


def test_an_empty_file_is_just_the_eof_block_with_an_empty_index() -> None:
    compressed, index = compress(b"")
    assert compressed == EOF_BLOCK
    assert index.to_bytes() == struct.pack("<Q", 0)
    assert decompress(compressed)[0] == b""


def test_blocks_hold_at_most_the_htslib_block_size_and_fit_64_kib_even_incompressible() -> None:
    data = bytes(range(256)) * 1000 + os.urandom(3 * BLOCK_DATA_SIZE)
    compressed, index = compress(data)
    blocks = list(iter_blocks(io.BytesIO(compressed).read))
    assert all(len(block) <= MAX_BLOCK_SIZE for _, block in blocks)
    # one index entry per block start after the first, none for the EOF block
    assert len(index) == len(blocks) - 2
    assert list(index.uncompressed) == [BLOCK_DATA_SIZE * n for n in range(1, len(blocks) - 1)]
    assert list(index.compressed) == [offset for offset, _ in blocks[1:-1]]


def test_gzi_layout_is_a_count_then_little_endian_offset_pairs() -> None:
    index = GziIndex()
    index.add(100, 65280)
    index.add(250, 130560)
    raw = index.to_bytes()
    assert raw == struct.pack("<5Q", 2, 100, 65280, 250, 130560)
    assert GziIndex.from_bytes(raw) == index


def test_gzi_of_an_empty_file_as_htslib_writes_it_reads_as_empty() -> None:
    assert len(GziIndex.from_bytes(b"\xff" * 8)) == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [(b"\x01", "shorter"), (struct.pack("<Q", 2) + b"\x00" * 16, "claims 2 entries")],
)
def test_a_damaged_gzi_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(BgzfError, match=message):
        GziIndex.from_bytes(raw)


RANGED = b"".join(b"%d\t" % n for n in range(60_000))  # about 5 blocks
RANGED_COMPRESSED = compress(RANGED)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_read_range_returns_the_original_slice(data: st.DataObject) -> None:
    compressed, index = RANGED_COMPRESSED
    offset = data.draw(st.integers(0, len(RANGED) + 10))
    length = data.draw(st.integers(0, 3 * BLOCK_DATA_SIZE))
    assert read_range(fetch_from(compressed), index, offset, length) == RANGED[offset : offset + length]


def test_read_range_fetches_only_the_blocks_it_needs() -> None:
    compressed, index = RANGED_COMPRESSED
    asked: list[tuple[int, int | None]] = []

    def fetch(start: int, end: int | None) -> bytes:
        asked.append((start, end))
        return compressed[start:end]

    assert read_range(fetch, index, BLOCK_DATA_SIZE + 5, 10) == RANGED[BLOCK_DATA_SIZE + 5 : BLOCK_DATA_SIZE + 15]
    assert asked == [(index.compressed[0], index.compressed[1])]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda blob: blob[:-28], "does not end with the EOF block"),
        (lambda blob: blob[:-40], "truncated"),
        (lambda blob: b"\x1f\x8b\x08\x00" + blob[4:], "not BGZF"),
        (lambda blob: blob[:30] + bytes([blob[30] ^ 0xFF]) + blob[31:], "block at compressed offset 0"),
    ],
)
def test_damaged_streams_are_refused_naming_where(damage, message: str) -> None:
    compressed, _ = compress(b"hello bgzf\n" * 20_000)
    with pytest.raises(BgzfError, match=message):
        decompress(damage(compressed))


def test_a_shared_pool_serves_several_writers() -> None:
    with ThreadPoolExecutor(2) as pool:
        outputs = [io.BytesIO(), io.BytesIO()]
        writers = [BgzfWriter(out.write, pool=pool) for out in outputs]
        for n in range(50):
            for position, writer in enumerate(writers):
                writer.write(b"%d:%d\n" % (position, n) * 3000)
        for writer in writers:
            writer.close()
        assert pool.submit(lambda: "still open").result() == "still open"
    for position, out in enumerate(outputs):
        assert decompress(out.getvalue())[0] == b"".join(b"%d:%d\n" % (position, n) * 3000 for n in range(50))


def test_a_failed_write_emits_no_eof_block() -> None:
    out = io.BytesIO()
    with pytest.raises(RuntimeError), BgzfWriter(out.write) as writer:
        writer.write(b"a" * 200_000)
        raise RuntimeError("source read failed")
    assert not out.getvalue().endswith(EOF_BLOCK)


def test_bad_level_is_refused_before_any_work() -> None:
    with pytest.raises(ValueError, match="level must be -1"):
        BgzfWriter(io.BytesIO().write, level=11)


def _ours(data: bytes) -> tuple[bytes, GziIndex]:
    out = io.BytesIO()
    with BgzfWriter(out.write) as writer:
        writer.write(data)
    return out.getvalue(), writer.summary.index


def test_the_index_of_concatenated_files_skips_the_inner_eof_block() -> None:
    first, second = b"a" * 1000, b"b" * 1000  # one data block each, then the EOF block
    a, _ = _ours(first)
    b, _ = _ours(second)
    assert a.endswith(EOF_BLOCK) and b.endswith(EOF_BLOCK)
    summary = decompress_stream(io.BytesIO(a + b).read, lambda data: None)
    # htslib (bgzip -r) lists the second file's data block, not the first file's EOF block before it
    assert list(zip(summary.index.compressed, summary.index.uncompressed, strict=True)) == [(len(a), 1000)]
    assert summary.uncompressed_size == 2000


def test_read_range_raises_on_a_truncated_file() -> None:
    data = bytes(range(256)) * 1000  # 256,000 bytes: four blocks, then the EOF block
    compressed, index = _ours(data)
    last_block = index.compressed[-1]

    def fetch_from(file: bytes):
        return lambda start, end: file[start:end]

    without_eof = compressed[: -len(EOF_BLOCK)]
    inside_last_block = compressed[: last_block + 100]
    inside_a_middle_block = compressed[: index.compressed[0] + 50]
    for truncated in (inside_last_block, compressed[:last_block]):
        with pytest.raises(BgzfError, match="truncated"):
            read_range(fetch_from(truncated), index, len(data) - 10, 10)
    with pytest.raises(BgzfError, match="truncated"):  # is there more data? without the EOF block, no telling
        read_range(fetch_from(without_eof), index, len(data) - 10, 50)
    with pytest.raises(BgzfError, match="truncated"):
        read_range(fetch_from(inside_a_middle_block), index, index.uncompressed[0] + 10, 10)
    # the whole file still reads, and a range running past the data's end comes back short
    assert read_range(fetch_from(compressed), index, len(data) - 10, 50) == data[-10:]
    assert read_range(fetch_from(compressed), index, len(data) + 5, 50) == b""
