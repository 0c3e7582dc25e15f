"""The BGZF codec: round trips around block boundaries, the .gzi layout, ranged reads, damage detection."""

from __future__ import annotations

import io
import itertools
import json
import os
import random
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import deflate
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
    block_size_at,
    compress_block,
    decompress_block,
    decompress_stream,
    iter_blocks,
    libdeflate_level,
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
    [(b"\x01", r"^\.gzi is shorter than its 8-byte count$"), (struct.pack("<Q", 2) + b"\x00" * 16, "claims 2 entries")],
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


#: ``bgzip -c -l LEVEL`` (htslib 1.16, Debian's tabix) of ``HELLO``: its one data block, then the EOF block.
HELLO = b"hello bgzf\n" * 8
BGZIP_HELLO_BLOCK = {
    0: bytes.fromhex(
        "1f8b08040000000000ff0600424302007600015800a7ff"
        "68656c6c6f2062677a660a68656c6c6f2062677a660a68656c6c6f2062677a660a68656c6c6f2062677a660a"
        "68656c6c6f2062677a660a68656c6c6f2062677a660a68656c6c6f2062677a660a68656c6c6f2062677a660a"
        "3f3f8ee058000000"
    ),
    1: bytes.fromhex("1f8b08040000000000ff0600424302002900cb48cdc9c957484aaf4ae3caa02613003f3f8ee058000000"),
    6: bytes.fromhex("1f8b08040000000000ff0600424302002900cb48cdc9c957484aaf4ae3caa02613003f3f8ee058000000"),
    -1: bytes.fromhex("1f8b08040000000000ff0600424302002900cb48cdc9c957484aaf4ae3caa02613003f3f8ee058000000"),
}
#: The spec's EOF block (SAMv1 section 4.1.2), byte for byte.
SPEC_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


@pytest.mark.parametrize("level", sorted(BGZIP_HELLO_BLOCK))
def test_a_block_is_byte_for_byte_what_bgzip_writes(level: int) -> None:
    assert compress_block(HELLO, level) == BGZIP_HELLO_BLOCK[level]
    out = io.BytesIO()
    with BgzfWriter(out.write, level=level) as writer:
        writer.write(HELLO)
    assert out.getvalue() == BGZIP_HELLO_BLOCK[level] + SPEC_EOF
    assert (writer.summary.uncompressed_size, writer.summary.compressed_size) == (88, len(out.getvalue()))


def test_the_eof_block_and_limits_are_the_specs() -> None:
    assert EOF_BLOCK == SPEC_EOF
    assert (BLOCK_DATA_SIZE, MAX_BLOCK_SIZE) == (65280, 65536)


@pytest.mark.parametrize(
    ("level", "expected"),
    [(-1, 7), (0, 0), (1, 1), (2, 2), (3, 3), (4, 5), (5, 6), (6, 7), (7, 8), (8, 10), (9, 12)],
)
def test_levels_map_onto_libdeflate_as_htslib_does(level: int, expected: int) -> None:
    """htslib's bgzf.c maps bgzip's 0-9 onto libdeflate's 0-12 (and -1 to its default, 6)."""
    assert libdeflate_level(level) == expected


@pytest.mark.parametrize("level", [-2, 10])
def test_levels_outside_bgzips_range_are_refused_naming_the_level(level: int) -> None:
    with pytest.raises(ValueError, match=f"level must be -1 .* or 0-9, as bgzip -l takes it; got {level}$"):
        libdeflate_level(level)


def test_a_block_takes_at_most_the_htslib_block_size() -> None:
    block = compress_block(bytes(BLOCK_DATA_SIZE))
    assert decompress_block(block) == bytes(BLOCK_DATA_SIZE)
    with pytest.raises(ValueError, match="at most 65280 bytes; got 65281"):
        compress_block(bytes(BLOCK_DATA_SIZE + 1))


@pytest.mark.parametrize("level", [-1, *range(10)])
def test_incompressible_input_fills_a_block_that_still_fits_64_kib(level: int) -> None:
    data = random.Random(5).randbytes(BLOCK_DATA_SIZE)
    block = compress_block(data, level)
    assert len(block) <= MAX_BLOCK_SIZE
    assert struct.unpack_from("<H", block, 16) == (len(block) - 1,)  # BC holds the block size minus one
    assert decompress_block(block) == data


def header(extra: bytes) -> bytes:
    """A gzip header with FEXTRA set and the given extra field."""
    return bytes.fromhex("1f8b08040000000000ff") + struct.pack("<H", len(extra)) + extra


@pytest.mark.parametrize(
    ("extra", "size"),
    [
        (b"BC\x02\x00" + struct.pack("<H", 99), 100),
        (b"XY\x02\x00ab" + b"BC\x02\x00" + struct.pack("<H", 0xFFFF), 0x10000),  # BC after another subfield
        (b"BC\x04\x00abcd" + b"BC\x02\x00" + struct.pack("<H", 27), 28),  # a BC of another length is not it
        (b"XY\x02\x00ab" + b"ZW\x00\x00" + b"BC\x02\x00" + struct.pack("<H", 40), 41),  # two subfields first
    ],
)
def test_the_block_size_is_read_from_the_bc_subfield_wherever_it_is(extra: bytes, size: int) -> None:
    assert block_size_at(header(extra) + b"rest") == size


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (header(b"")[:11], "truncated BGZF block header at compressed offset 70"),
        (
            b"\x1f\x8b\x08\x00" + header(b"BC\x02\x00\x1b\x00")[4:],
            "no gzip member with an extra field at compressed offset 70",
        ),
        (header(b"BC\x02\x00\x1b\x00")[:15], "truncated BGZF extra field at compressed offset 70"),
        (header(b""), "gzip member at compressed offset 70 has no BC subfield"),
        (header(b"XY\x02\x00ab"), "has no BC subfield"),
        (header(b"BC\x04\x00abcd"), "has no BC subfield"),
        (header(b"BC\x02"), "has no BC subfield"),  # a subfield header cut short
        (header(b"BC\x02\x00") + b"\x1b\x00", "has no BC subfield"),  # BC's size outside the extra field
    ],
)
def test_headers_that_are_not_bgzf_are_refused_naming_the_offset(raw: bytes, message: str) -> None:
    with pytest.raises(BgzfError, match=message):
        block_size_at(raw, 70)


def test_a_header_checked_alone_is_at_offset_0() -> None:
    with pytest.raises(BgzfError, match=r"^truncated BGZF block header at compressed offset 0$"):
        block_size_at(b"\x1f\x8b")


def test_a_block_with_other_extra_subfields_inflates() -> None:
    payload = deflate.deflate_compress(HELLO, 6)
    extra = b"XY\x02\x00ab" + b"BC\x02\x00" + struct.pack("<H", 12 + 12 + len(payload) + 8 - 1)
    block = header(extra) + payload + struct.pack("<II", deflate.crc32(HELLO), len(HELLO))
    assert decompress_block(block) == HELLO


def block_of(payload: bytes, crc: int, size: int) -> bytes:
    """A BGZF block around a raw deflate payload, with the trailer given."""
    return (
        header(b"BC\x02\x00" + struct.pack("<H", 18 + len(payload) + 8 - 1)) + payload + struct.pack("<II", crc, size)
    )


#: HELLO's CRC32, as bgzip's trailer above holds it (little-endian 3f3f8ee0).
CRC_HELLO = 0xE08E3F3F


def test_a_block_may_hold_exactly_64_kib_as_the_spec_allows() -> None:
    data = b"z" * MAX_BLOCK_SIZE
    block = block_of(deflate.deflate_compress(data, 6), deflate.crc32(data), len(data))
    assert decompress_block(block) == data


@pytest.mark.parametrize(
    ("crc", "size", "message"),
    [
        (CRC_HELLO, MAX_BLOCK_SIZE + 1, "block at compressed offset 9 claims 65537 bytes"),
        (CRC_HELLO, 87, "block at compressed offset 9 does not inflate"),
        (CRC_HELLO, 100, "block at compressed offset 9 fails its CRC32/length check"),
        (CRC_HELLO ^ 1, 88, "block at compressed offset 9 fails its CRC32/length check"),
    ],
)
def test_a_block_whose_trailer_does_not_match_is_refused(crc: int, size: int, message: str) -> None:
    with pytest.raises(BgzfError, match=message):
        decompress_block(block_of(deflate.deflate_compress(HELLO, 6), crc, size), 9)


def test_the_eof_block_inflates_to_nothing() -> None:
    assert decompress_block(EOF_BLOCK) == b""


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (struct.pack("<Q", 2) + b"\x00" * 8, "claims 2 entries but holds 0.5$"),
        (struct.pack("<Q", 1) + b"\x00" * 32, "claims 1 entries but holds 2$"),
        (b"\xff" * 8 + b"\x00" * 16, "claims 0 entries but holds 1$"),
        (struct.pack("<5Q", 2, 100, 500, 200, 500), r"^\.gzi uncompressed offsets are not increasing$"),
        (struct.pack("<5Q", 2, 100, 500, 200, 400), "not increasing"),
    ],
)
def test_a_gzi_that_does_not_add_up_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(BgzfError, match=message):
        GziIndex.from_bytes(raw)


def test_a_gzi_of_exactly_its_count_reads_back() -> None:
    index = GziIndex.from_bytes(struct.pack("<7Q", 3, 100, 500, 200, 900, 350, 1400))
    assert (list(index.compressed), list(index.uncompressed)) == ([100, 200, 350], [500, 900, 1400])
    assert len(GziIndex.from_bytes(struct.pack("<Q", 0))) == 0


@pytest.mark.parametrize(
    ("offset", "expected"),
    [(0, (0, 0, 100)), (499, (0, 0, 100)), (500, (100, 500, 200)), (899, (100, 500, 200)), (900, (200, 900, None))],
)
def test_the_block_for_an_offset_is_the_last_one_starting_at_or_before_it(offset: int, expected: tuple) -> None:
    index = GziIndex()
    index.add(100, 500)
    index.add(200, 900)
    assert index.block_for(offset) == expected
    assert GziIndex().block_for(offset) == (0, 0, None)


def test_a_closed_writer_refuses_more_data_and_closing_again_writes_nothing() -> None:
    out = io.BytesIO()
    writer = BgzfWriter(out.write)
    writer.write(bytearray(HELLO[:40]))
    writer.write(memoryview(HELLO[40:]))
    first = writer.close()
    assert writer.close() is first
    assert out.getvalue() == BGZIP_HELLO_BLOCK[6] + SPEC_EOF
    with pytest.raises(ValueError) as raised:
        writer.write(b"more")
    assert str(raised.value) == "write to a closed BgzfWriter"


class HeldExecutor(Executor):
    """Runs nothing until :meth:`release`: compression happens after ``write`` has returned."""

    def __init__(self) -> None:
        self.held: list[tuple[Future, Callable[..., Any], tuple[Any, ...]]] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        self.held.append((future, fn, args))
        return future

    def release(self) -> None:
        for future, fn, args in self.held:
            future.set_result(fn(*args))


def test_a_buffer_reused_by_the_caller_after_write_does_not_change_what_is_written() -> None:
    """Callers reuse one read buffer (``readinto``); blocks still compressing must not see the next read."""
    buffer = bytearray(b"a" * (2 * BLOCK_DATA_SIZE))
    pool = HeldExecutor()
    out = io.BytesIO()
    writer = BgzfWriter(out.write, pool=pool)
    writer.write(buffer)
    buffer[:] = b"b" * len(buffer)  # the caller's next read, before the blocks are compressed
    assert len(pool.held) == 2, "both blocks wait on the pool the writer was given"
    pool.release()
    writer.close()

    assert decompress(out.getvalue())[0] == b"a" * (2 * BLOCK_DATA_SIZE)


@pytest.mark.parametrize("max_pending", [0, 1, 3])
def test_any_number_of_pending_blocks_keeps_the_order(max_pending: int) -> None:
    data = b"".join(bytes([n]) * BLOCK_DATA_SIZE for n in range(5)) + b"end"
    written: list[bytes] = []
    with BgzfWriter(written.append, max_pending=max_pending, threads=1) as writer:
        writer.write(data)
    assert len(written) == 7  # five full blocks, the tail, the EOF block
    assert [decompress_block(block)[:1] for block in written] == [
        b"\x00",
        b"\x01",
        b"\x02",
        b"\x03",
        b"\x04",
        b"e",
        b"",
    ]
    assert list(writer.summary.index.uncompressed) == [65280, 130560, 195840, 261120, 326400]
    assert list(writer.summary.index.compressed) == list(itertools.accumulate(len(block) for block in written[:5]))
    assert writer.summary.uncompressed_size == 326403


def test_a_sink_that_fails_leaves_no_eof_block_and_stops_the_writer() -> None:
    written: list[bytes] = []

    def sink(block: bytes) -> None:
        if block == EOF_BLOCK:
            raise OSError("disk full")
        written.append(block)

    writer = BgzfWriter(sink)
    writer.write(HELLO)
    with pytest.raises(OSError, match="disk full"):
        writer.close()
    assert written == [BGZIP_HELLO_BLOCK[6]]
    with pytest.raises(ValueError, match="closed"):
        writer.write(HELLO)


def test_an_aborted_writer_drops_its_pending_blocks() -> None:
    written: list[bytes] = []
    writer = BgzfWriter(written.append)
    writer.write(bytes(3 * BLOCK_DATA_SIZE + 10))
    writer.abort()
    assert writer.close().compressed_size == 0
    assert written == []


def test_blocks_are_read_from_a_stream_that_returns_a_few_bytes_at_a_time() -> None:
    compressed = BGZIP_HELLO_BLOCK[0] + BGZIP_HELLO_BLOCK[6] + SPEC_EOF
    stream = io.BytesIO(compressed)
    blocks = list(iter_blocks(lambda n: stream.read(min(n, 5))))
    assert [(offset, len(block)) for offset, block in blocks] == [(0, 119), (119, 42), (161, 28)]
    parts: list[bytes] = []
    stream.seek(0)
    summary = decompress_stream(lambda n: stream.read(min(n, 5)), parts.append)
    assert parts == [HELLO, HELLO]
    assert (summary.uncompressed_size, summary.compressed_size) == (176, 189)
    assert list(zip(summary.index.compressed, summary.index.uncompressed, strict=True)) == [(119, 88)]


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        (
            header(b"BC\x02\x00" + struct.pack("<H", 24)),
            "BGZF block at compressed offset 0 is too small \\(25 bytes\\)",
        ),
        (SPEC_EOF[:17], "truncated"),
        (SPEC_EOF[:18], "BGZF block at compressed offset 0 is truncated"),
        (SPEC_EOF + SPEC_EOF[:27], "BGZF block at compressed offset 28 is truncated"),
    ],
)
def test_streams_cut_short_or_with_tiny_blocks_are_refused(stream: bytes, message: str) -> None:
    with pytest.raises(BgzfError, match=message):
        list(iter_blocks(io.BytesIO(stream).read))


def test_a_bc_subfield_cut_off_by_the_extra_length_is_damage_not_a_crash() -> None:
    """A damaged header is a BgzfError (a pair the worker rewrites), not a struct error (a failed file)."""
    damaged = header(b"BC\x02\x00") + b"\x1b\x00" + b"\x00" * 20
    with pytest.raises(BgzfError, match="gzip member at compressed offset 0 has no BC subfield"):
        decompress_stream(io.BytesIO(damaged).read, lambda data: None)


def test_the_smallest_block_is_the_eof_blocks_size() -> None:
    assert list(iter_blocks(io.BytesIO(SPEC_EOF[:16] + b"\x19\x00" + SPEC_EOF[18:26]).read)) == [
        (0, SPEC_EOF[:16] + b"\x19\x00" + SPEC_EOF[18:26])
    ]


@pytest.mark.parametrize(("offset", "length"), [(-1, 5), (0, -1)])
def test_read_range_refuses_negative_offsets_and_lengths(offset: int, length: int) -> None:
    with pytest.raises(ValueError, match=f"must not be negative; got offset={offset}, length={length}"):
        read_range(fetch_from(RANGED_COMPRESSED[0]), RANGED_COMPRESSED[1], offset, length)


def test_read_range_of_nothing_fetches_nothing() -> None:
    def fetch(start: int, end: int | None) -> bytes:
        raise AssertionError("no fetch expected")

    assert read_range(fetch, RANGED_COMPRESSED[1], 100, 0) == b""


def test_read_range_refuses_a_fetch_shorter_than_the_index_promises() -> None:
    compressed, index = RANGED_COMPRESSED
    start, end = index.compressed[0], index.compressed[1]
    message = (
        rf"^asked for compressed bytes \[{start}, {end}\) but got {end - start - 1}: the file is truncated "
        r"or does not match its \.gzi$"
    )
    with pytest.raises(BgzfError, match=message):
        read_range(lambda s, e: compressed[s : e - 1], index, BLOCK_DATA_SIZE + 5, 10)


def test_read_range_across_blocks_from_a_fetch_to_the_end() -> None:
    compressed, index = RANGED_COMPRESSED
    asked: list[tuple[int, int | None]] = []

    def fetch(start: int, end: int | None) -> bytes:
        asked.append((start, end))
        return compressed[start:end]

    got = read_range(fetch, index, BLOCK_DATA_SIZE - 2, len(RANGED))
    assert got == RANGED[BLOCK_DATA_SIZE - 2 :]
    assert asked == [(0, None)]


def test_damage_past_the_first_block_is_reported_at_its_own_offset() -> None:
    """Two bgzip blocks (119 and 42 bytes) then the EOF block, damaged in the second or after it."""
    good = BGZIP_HELLO_BLOCK[0] + BGZIP_HELLO_BLOCK[6] + SPEC_EOF
    flipped = good[:140] + bytes([good[140] ^ 0xFF]) + good[141:]
    with pytest.raises(BgzfError, match=r"^block at compressed offset 119 "):
        decompress_stream(io.BytesIO(flipped).read, lambda data: None)
    not_bgzf = good[:161] + b"\x1f\x8b\x08\x00" + good[165:]
    with pytest.raises(BgzfError, match=r"^no gzip member with an extra field at compressed offset 161"):
        decompress_stream(io.BytesIO(not_bgzf).read, lambda data: None)
    with pytest.raises(BgzfError, match=r"^BGZF stream does not end with the EOF block \(truncated\?\)$"):
        decompress_stream(io.BytesIO(good[:161]).read, lambda data: None)
    index = GziIndex()
    index.add(119, 88)
    with pytest.raises(BgzfError, match=r"^block at compressed offset 119 "):
        read_range(fetch_from(flipped), index, 90, 5)
    with pytest.raises(BgzfError, match=r"^no gzip member with an extra field at compressed offset 161"):
        read_range(fetch_from(not_bgzf), index, 90, 200)
    with pytest.raises(BgzfError, match=r"^BGZF block at compressed offset 119 is truncated$"):
        read_range(fetch_from(good[:150]), index, 90, 200)
    with pytest.raises(
        BgzfError,
        match=r"^the compressed bytes from offset 119 end without the EOF block: the file is truncated "
        r"\(got 86 of 200 bytes from uncompressed offset 90\)$",
    ):
        read_range(fetch_from(good[:161]), index, 90, 200)
    assert read_range(fetch_from(good), index, 90, 200) == (HELLO * 2)[90:]
    # without an index entry the read starts at the first block, skips it, and names offsets within the fetch
    assert read_range(fetch_from(good), GziIndex(), 90, 200) == (HELLO * 2)[90:]
    with pytest.raises(BgzfError, match=r"^block at compressed offset 119 "):
        read_range(fetch_from(flipped), GziIndex(), 90, 5)
    with pytest.raises(BgzfError, match=r"^no gzip member with an extra field at compressed offset 161"):
        read_range(fetch_from(not_bgzf), GziIndex(), 90, 200)
    with pytest.raises(BgzfError, match=r"^BGZF block at compressed offset 119 is truncated$"):
        read_range(fetch_from(good[:150]), GziIndex(), 90, 200)
    with pytest.raises(BgzfError, match=r"^block at compressed offset 0 fails its CRC32/length check$"):
        decompress_block(block_of(deflate.deflate_compress(HELLO, 6), CRC_HELLO, 100))


def test_read_range_of_one_byte_at_a_block_start_fetches_that_block_only() -> None:
    compressed, index = RANGED_COMPRESSED
    asked: list[tuple[int, int | None]] = []

    def fetch(start: int, end: int | None) -> bytes:
        asked.append((start, end))
        return compressed[start:end]

    assert read_range(fetch, index, BLOCK_DATA_SIZE, 1) == RANGED[BLOCK_DATA_SIZE : BLOCK_DATA_SIZE + 1]
    assert read_range(fetch, index, BLOCK_DATA_SIZE, BLOCK_DATA_SIZE) == RANGED[BLOCK_DATA_SIZE : 2 * BLOCK_DATA_SIZE]
    assert asked == [(index.compressed[0], index.compressed[1])] * 2


def test_blocks_with_a_long_extra_field_before_bc_are_read() -> None:
    """The spec allows other gzip extra subfields; htslib does not write them, but a reader copes."""
    payload = deflate.deflate_compress(HELLO, 6)
    trailer = struct.pack("<II", deflate.crc32(HELLO), len(HELLO))
    for padding in (40, 40_000):
        extra = b"XY" + struct.pack("<H", padding) + bytes(padding) + b"BC\x02\x00"
        size = 12 + len(extra) + 2 + len(payload) + 8
        block = header(extra + struct.pack("<H", size - 1)) + payload + trailer
        assert decompress_block(block) == HELLO
        assert block_size_at(block) == size == len(block)
        if padding == 40:  # a ranged read looks at the first 82 bytes of a block for its size
            assert read_range(fetch_from(block + SPEC_EOF), GziIndex(), 3, 500) == HELLO[3:]


@pytest.mark.parametrize(("max_pending", "held"), [(0, 1), (1, 1), (3, 3)])
def test_the_writer_holds_at_most_max_pending_blocks(max_pending: int, held: int) -> None:
    """Memory stays bounded: past ``max_pending`` blocks (at least one), each new block pushes the oldest out."""
    written: list[bytes] = []
    writer = BgzfWriter(written.append, max_pending=max_pending)
    writer.write(bytes(5 * BLOCK_DATA_SIZE))  # five full blocks: all submitted, none left in the tail
    assert len(written) == 5 - held
    writer.close()
    assert len(written) == 6


def test_by_default_the_writer_holds_16_blocks() -> None:
    written: list[bytes] = []
    writer = BgzfWriter(written.append)
    writer.write(bytes(20 * BLOCK_DATA_SIZE))
    assert len(written) == 20 - 16
    writer.close()


@pytest.mark.parametrize(("threads", "expected"), [(None, 2), (1, 1), (3, 3)])
def test_a_writer_without_a_pool_compresses_on_its_own_threads_and_ends_them(
    monkeypatch, threads: int | None, expected: int
) -> None:
    """``threads`` (2 by default) blocks compress at once; closing the writer ends its threads."""
    from airflow_provider_bio.core import bgzf

    used: set[threading.Thread] = set()

    def slow_compress(data: bytes, level: int) -> bytes:
        used.add(threading.current_thread())
        time.sleep(0.05)  # busy long enough that every block submitted finds the others busy
        return compress_block(data, level)

    monkeypatch.setattr(bgzf, "compress_block", slow_compress)
    out = io.BytesIO()
    writer = BgzfWriter(out.write) if threads is None else BgzfWriter(out.write, threads=threads)
    writer.write(bytes(6 * BLOCK_DATA_SIZE))
    writer.close()

    assert len(used) == expected
    assert not any(thread.is_alive() for thread in used)
    assert decompress(out.getvalue())[0] == bytes(6 * BLOCK_DATA_SIZE)
