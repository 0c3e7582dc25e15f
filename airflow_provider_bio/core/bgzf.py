"""The BGZF format (blocked gzip, as written and read by htslib) and its ``.gzi`` index.

A BGZF file is a series of gzip members, each carrying an extra-field subfield ``BC`` that
holds the member's size minus one, each holding at most 64 KiB of input, followed by a
28-byte empty member that marks the end of the file. The ``.gzi`` index lists, for every
block after the first, where it starts in the compressed file and in the uncompressed data,
so a reader can seek to an uncompressed byte offset (``bgzip -b OFFSET -s LENGTH``).

Deflate is libdeflate (the ``deflate`` package), the library htslib itself is built with,
with htslib's mapping of levels. At levels -1 and 0-8 (libdeflate 0-10) the output is byte for
byte what ``bgzip`` writes: checked against htslib 1.16 (Debian's ``tabix``) linked with
libdeflate 1.14, using the libdeflate bundled in the ``deflate`` 0.9.0 wheel. Level 9 is
libdeflate's level 12, whose output changed between libdeflate releases: it is valid BGZF
that htslib reads, within 0.1% of ``bgzip -l 9``'s size, but byte-identical only when both
use the same libdeflate release. libdeflate releases the GIL, so :class:`BgzfWriter`
compresses blocks on threads. Everything streams: memory is bounded by the blocks in flight,
whatever the file size.
"""

from __future__ import annotations

import struct
from array import array
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import deflate

#: Input bytes per block: htslib's ``BGZF_BLOCK_SIZE``, which leaves room for a block that
#: does not compress to still fit the 64 KiB limit once stored.
BLOCK_DATA_SIZE = 0xFF00
#: The largest a block may be, header and trailer included.
MAX_BLOCK_SIZE = 0x10000
#: The empty block every BGZF file ends with.
EOF_BLOCK = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
#: htslib's default level (``bgzip`` without ``-l``, or ``-l -1``).
DEFAULT_LEVEL = 6

# htslib maps its 0-9 levels onto libdeflate's 0-12 like this (bgzf.c), so the same level
# here gives the same bytes as bgzip.
_LIBDEFLATE_LEVELS = (0, 1, 2, 3, 5, 6, 7, 8, 10, 12)
# Magic, CM=deflate, FLG=FEXTRA, MTIME=0, XFL=0, OS=unknown, XLEN=6, then 'BC', SLEN=2.
_HEADER_START = bytes.fromhex("1f8b08040000000000ff0600") + b"BC" + b"\x02\x00"
_HEADER_SIZE = len(_HEADER_START) + 2
_TRAILER = struct.Struct("<II")
_FIXED_HEADER = struct.Struct("<4sIBBH")


class BgzfError(ValueError):
    """The bytes are not valid BGZF, or a ``.gzi`` does not describe them."""


def libdeflate_level(level: int) -> int:
    """Translate an htslib level (-1 for the default, 0-9) to libdeflate's scale.

    :param level: the level as ``bgzip -l`` takes it.
    """
    if level == -1:
        level = DEFAULT_LEVEL
    if not 0 <= level <= 9:
        raise ValueError(f"level must be -1 (htslib's default) or 0-9, as bgzip -l takes it; got {level}")
    return _LIBDEFLATE_LEVELS[level]


def compress_block(data: bytes | memoryview, level: int = DEFAULT_LEVEL) -> bytes:
    """Compress at most :data:`BLOCK_DATA_SIZE` bytes into one BGZF block.

    :param data: the uncompressed bytes.
    :param level: htslib level, -1 or 0-9.
    """
    if len(data) > BLOCK_DATA_SIZE:
        raise ValueError(f"a BGZF block holds at most {BLOCK_DATA_SIZE} bytes; got {len(data)}")
    # libdeflate stores a deflate block whenever compressing would make it larger, so 0xFF00 bytes
    # in never take more than 0xFF05 out, and the block fits 64 KiB at every level.
    compressed = deflate.deflate_compress(data, libdeflate_level(level))
    block_size = len(compressed) + _HEADER_SIZE + _TRAILER.size
    return b"".join(
        (
            _HEADER_START,
            struct.pack("<H", block_size - 1),
            compressed,
            _TRAILER.pack(deflate.crc32(data), len(data)),
        )
    )


def block_size_at(header: bytes | memoryview, offset: int = 0) -> int:
    """Return the total size of the BGZF block whose header starts at ``offset``.

    :param header: bytes holding at least the block's gzip header with its extra field.
    :param offset: where the block starts (for error messages, and within ``header``).
    :raises BgzfError: the bytes are not a BGZF block header.
    """
    if len(header) < 12:
        raise BgzfError(f"truncated BGZF block header at compressed offset {offset}")
    magic, _mtime, _xfl, _os, xlen = _FIXED_HEADER.unpack_from(header, 0)
    if magic != b"\x1f\x8b\x08\x04":
        raise BgzfError(f"no gzip member with an extra field at compressed offset {offset} (not BGZF)")
    extra = bytes(header[12 : 12 + xlen])
    if len(extra) < xlen:
        raise BgzfError(f"truncated BGZF extra field at compressed offset {offset}")
    position = 0
    while position + 4 <= xlen:
        identifier = extra[position : position + 2]
        (length,) = struct.unpack_from("<H", extra, position + 2)
        if identifier == b"BC" and length == 2 and position + 6 <= xlen:
            (size_minus_one,) = struct.unpack_from("<H", extra, position + 4)
            return size_minus_one + 1
        position += 4 + length
    raise BgzfError(f"gzip member at compressed offset {offset} has no BC subfield (not BGZF)")


def header_size_of(block: bytes | memoryview) -> int:
    """Length of a block's gzip header, extra field included."""
    (xlen,) = struct.unpack_from("<H", block, 10)
    return 12 + xlen


def decompress_block(block: bytes | memoryview, offset: int = 0) -> bytes:
    """Inflate one whole BGZF block, checking its CRC32 and length.

    :param block: the block, header to trailer.
    :param offset: where the block starts in its file (for error messages).
    :raises BgzfError: the block is damaged.
    """
    crc, size = _TRAILER.unpack_from(block, len(block) - _TRAILER.size)
    payload = block[header_size_of(block) : len(block) - _TRAILER.size]
    if size > MAX_BLOCK_SIZE:
        raise BgzfError(f"block at compressed offset {offset} claims {size} bytes; BGZF blocks hold at most 64 KiB")
    try:
        data = deflate.deflate_decompress(payload, size) if size else b""
    except deflate.DeflateError as error:
        raise BgzfError(f"block at compressed offset {offset} does not inflate: {error}") from error
    if len(data) != size or deflate.crc32(data) != crc:
        raise BgzfError(f"block at compressed offset {offset} fails its CRC32/length check")
    return data


@dataclass
class GziIndex:
    """htslib's ``.gzi``: (compressed, uncompressed) offsets of each block start after the first."""

    compressed: array = field(default_factory=lambda: array("Q"))
    uncompressed: array = field(default_factory=lambda: array("Q"))

    def add(self, compressed_offset: int, uncompressed_offset: int) -> None:
        """Record the start of a block (not the first one)."""
        self.compressed.append(compressed_offset)
        self.uncompressed.append(uncompressed_offset)

    def __len__(self) -> int:
        return len(self.compressed)

    def to_bytes(self) -> bytes:
        """Serialise in htslib's layout: little-endian uint64 count, then uint64 pairs."""
        pairs = array("Q", bytes(16 * len(self)))
        pairs[0::2] = self.compressed
        pairs[1::2] = self.uncompressed
        if struct.pack("=I", 1) != struct.pack("<I", 1):  # pragma: no cover - big-endian hosts
            pairs.byteswap()
        return struct.pack("<Q", len(self)) + pairs.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> GziIndex:
        """Parse a ``.gzi``. htslib 1.16 writes the count of an empty file's index as 2**64-1; read as 0."""
        if len(data) < 8:
            raise BgzfError(".gzi is shorter than its 8-byte count")
        (count,) = struct.unpack_from("<Q", data)
        if count == 2**64 - 1:
            count = 0
        if len(data) != 8 + 16 * count:
            raise BgzfError(f".gzi claims {count} entries but holds {(len(data) - 8) / 16:g}")
        pairs = array("Q", data[8:])
        if struct.pack("=I", 1) != struct.pack("<I", 1):  # pragma: no cover - big-endian hosts
            pairs.byteswap()
        index = cls(array("Q", pairs[0::2]), array("Q", pairs[1::2]))
        if any(a >= b for a, b in zip(index.uncompressed, index.uncompressed[1:], strict=False)):
            raise BgzfError(".gzi uncompressed offsets are not increasing")
        return index

    def block_for(self, uncompressed_offset: int) -> tuple[int, int, int | None]:
        """Find the block holding ``uncompressed_offset``.

        :return: (compressed start, uncompressed start, compressed start of the next block or None).
        """
        position = bisect_right(self.uncompressed, uncompressed_offset)
        following = self.compressed[position] if position < len(self) else None
        if position == 0:
            return 0, 0, following
        return self.compressed[position - 1], self.uncompressed[position - 1], following


@dataclass
class BgzfSummary:
    """What a writer wrote or a reader found: sizes and the block index."""

    uncompressed_size: int = 0
    compressed_size: int = 0
    index: GziIndex = field(default_factory=GziIndex)


class BgzfWriter:
    """Stream bytes into BGZF, compressing blocks in parallel and emitting them in order.

    The writer hands finished bytes to ``sink`` and never holds more than ``max_pending``
    blocks (each at most 64 KiB in and out), so memory stays flat for any input size.

    :param sink: receives the compressed bytes, in order.
    :param level: htslib level, -1 or 0-9 (default 6, bgzip's).
    :param pool: threads to compress on; shared across files by the worker. ``None`` makes a
        pool of ``threads`` threads owned by this writer.
    :param threads: threads of the writer's own pool when ``pool`` is None.
    :param max_pending: blocks compressing or waiting to be emitted.
    """

    def __init__(
        self,
        sink: Callable[[bytes], object],
        *,
        level: int = DEFAULT_LEVEL,
        pool: Executor | None = None,
        threads: int = 2,
        max_pending: int = 16,
    ) -> None:
        libdeflate_level(level)  # validates before any work
        self._sink = sink
        self._level = level
        self._own_pool = pool is None
        self._pool = pool if pool is not None else ThreadPoolExecutor(max_workers=threads)
        self._max_pending = max(1, max_pending)
        self._pending: deque[tuple[int, Future[bytes]]] = deque()
        self._tail = bytearray()
        self.summary = BgzfSummary()
        self._closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Add uncompressed bytes."""
        if self._closed:
            raise ValueError("write to a closed BgzfWriter")
        view = memoryview(data if isinstance(data, bytes) else bytes(data))
        if self._tail:
            room = BLOCK_DATA_SIZE - len(self._tail)
            self._tail += view[:room]
            view = view[room:]
            if len(self._tail) < BLOCK_DATA_SIZE:
                return
            self._submit(bytes(self._tail))
            self._tail.clear()
        whole = len(view) - len(view) % BLOCK_DATA_SIZE
        for start in range(0, whole, BLOCK_DATA_SIZE):
            self._submit(view[start : start + BLOCK_DATA_SIZE])
        self._tail += view[whole:]

    def close(self) -> BgzfSummary:
        """Flush the last block and write the EOF block; the summary holds the ``.gzi`` index."""
        if self._closed:
            return self.summary
        try:
            if self._tail:
                self._submit(bytes(self._tail))
                self._tail.clear()
            while self._pending:
                self._emit()
            self._emit_bytes(EOF_BLOCK, 0, index=False)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        self._shutdown()
        return self.summary

    def abort(self) -> None:
        """Drop anything not yet written (after a failure); the output is then incomplete."""
        self._closed = True
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()
        self._shutdown()

    def __enter__(self) -> BgzfWriter:
        return self

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def _submit(self, data: bytes | memoryview) -> None:
        while len(self._pending) >= self._max_pending:
            self._emit()
        self._pending.append((len(data), self._pool.submit(compress_block, data, self._level)))

    def _emit(self) -> None:
        size, future = self._pending.popleft()
        self._emit_bytes(future.result(), size, index=True)

    def _emit_bytes(self, block: bytes, size: int, *, index: bool) -> None:
        summary = self.summary
        if index and summary.compressed_size:
            summary.index.add(summary.compressed_size, summary.uncompressed_size)
        self._sink(block)
        summary.compressed_size += len(block)
        summary.uncompressed_size += size

    def _shutdown(self) -> None:
        if self._own_pool:
            self._pool.shutdown()  # abort has cancelled whatever had not started


def iter_blocks(read: Callable[[int], bytes]) -> Iterator[tuple[int, bytes]]:
    """Yield ``(compressed offset, block)`` for each block of a BGZF stream.

    :param read: ``read(n)`` returning up to ``n`` bytes, fewer only at the end (a file's or
        a streaming body's ``read``).
    :raises BgzfError: the stream is not BGZF or is truncated.
    """
    offset = 0
    while True:
        header = _read_exactly(read, 18)
        if not header:
            return
        size = block_size_at(header, offset)
        if size < 18 + _TRAILER.size:
            raise BgzfError(f"BGZF block at compressed offset {offset} is too small ({size} bytes)")
        rest = _read_exactly(read, size - len(header))
        if len(header) < 18 or len(rest) < size - len(header):
            raise BgzfError(f"BGZF block at compressed offset {offset} is truncated")
        yield offset, header + rest
        offset += size


def _read_exactly(read: Callable[[int], bytes], size: int) -> bytes:
    parts: list[bytes] = []
    wanted = size
    while wanted:
        part = read(wanted)
        if not part:
            break
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)


def decompress_stream(read: Callable[[int], bytes], sink: Callable[[bytes], object]) -> BgzfSummary:
    """Inflate a whole BGZF stream into ``sink``, checking every block and the final EOF block.

    :param read: ``read(n)`` of the compressed stream.
    :param sink: receives the uncompressed bytes, in order.
    :return: the sizes, and the index the stream's blocks imply (to compare with its ``.gzi``).
    :raises BgzfError: any block is damaged, or the stream does not end with the EOF block.

    The index lists every block that holds data, except the first, as htslib's ``bgzip -i``
    and ``bgzip -r`` do: empty blocks (the EOF block, and the EOF blocks inside concatenated
    BGZF files) are never listed.
    """
    summary = BgzfSummary()
    last = b""
    for offset, block in iter_blocks(read):
        data = decompress_block(block, offset)
        if data:
            if summary.uncompressed_size:
                summary.index.add(offset, summary.uncompressed_size)
            sink(data)
        summary.uncompressed_size += len(data)
        summary.compressed_size = offset + len(block)
        last = block
    if last != EOF_BLOCK:
        raise BgzfError("BGZF stream does not end with the EOF block (truncated?)")
    return summary


def read_range(
    fetch: Callable[[int, int | None], bytes],
    index: GziIndex,
    offset: int,
    length: int,
) -> bytes:
    """Return ``length`` uncompressed bytes from ``offset``, reading only the blocks that hold them.

    The equivalent of ``bgzip -b OFFSET -s LENGTH`` with the file's ``.gzi``.

    :param fetch: ``fetch(start, end)`` returning compressed bytes ``[start, end)``, or to the
        end of the file when ``end`` is None (a file read or an S3 ranged GET).
    :param index: the file's ``.gzi``.
    :param offset: first uncompressed byte wanted.
    :param length: how many bytes; fewer come back when the data ends first (the file's EOF
        block reached).
    :raises BgzfError: the compressed bytes end before the blocks the index promises, inside
        a block, or without the EOF block (a truncated file), or a block is damaged.
    """
    if offset < 0 or length < 0:
        raise ValueError(f"offset and length must not be negative; got offset={offset}, length={length}")
    if length == 0:
        return b""
    start, block_uncompressed, _ = index.block_for(offset)
    _, _, end = index.block_for(offset + length - 1)
    compressed = memoryview(fetch(start, end))
    if end is not None and len(compressed) != end - start:
        raise BgzfError(
            f"asked for compressed bytes [{start}, {end}) but got {len(compressed)}: the file is truncated "
            "or does not match its .gzi"
        )
    pieces: list[bytes] = []
    position = 0
    skip = offset - block_uncompressed
    wanted = length
    ended = False
    while wanted and position < len(compressed):
        size = block_size_at(compressed[position : position + 18 + 64], start + position)
        if position + size > len(compressed):
            raise BgzfError(f"BGZF block at compressed offset {start + position} is truncated")
        block = compressed[position : position + size]
        data = decompress_block(block, start + position)
        ended = bytes(block) == EOF_BLOCK and position + size == len(compressed)
        position += size
        if skip >= len(data):
            skip -= len(data)
            continue
        piece = data[skip : skip + wanted]
        skip = 0
        wanted -= len(piece)
        pieces.append(piece)
    if wanted and not ended:
        raise BgzfError(
            f"the compressed bytes from offset {start} end without the EOF block: the file is truncated "
            f"(got {length - wanted} of {length} bytes from uncompressed offset {offset})"
        )
    return b"".join(pieces)
