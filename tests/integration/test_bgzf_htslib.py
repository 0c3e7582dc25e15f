"""Interoperability with htslib's own ``bgzip`` (Debian's tabix package; ``make env`` installs it).

The bio-index reads our files through ``bgzip -b OFFSET -s LENGTH`` and our ``.gzi``, so htslib
must accept them exactly as its own, and our reader must accept htslib's.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from airflow_provider_bio.core.bgzf import BLOCK_DATA_SIZE, BgzfWriter, GziIndex, decompress_stream, read_range

BGZIP = shutil.which("bgzip")


@pytest.fixture(scope="module")
def bgzip() -> str:
    if BGZIP is None:
        pytest.fail("htslib's bgzip is not installed: run `make env` (it installs Debian's tabix package)")
    return BGZIP


def json_lines(count: int, newline: bytes = b"\n", seed: int = 7) -> bytes:
    chance = random.Random(seed)
    return b"".join(
        b'{"varId": "%d:%d:A:G", "pValue": %.6g, "gene": "G%d"}%s'
        % (chance.randint(1, 22), chance.randint(1, 10**8), chance.random(), chance.randint(1, 500), newline)
        for _ in range(count)
    )


def write_ours(folder: Path, name: str, data: bytes) -> Path:
    (folder / name).write_bytes(data)
    target = folder / f"{name}.gz"
    with target.open("wb") as out, BgzfWriter(out.write) as writer:
        writer.write(data)
    (folder / f"{name}.gz.gzi").write_bytes(writer.summary.index.to_bytes())
    return target


def run(*arguments: str) -> bytes:
    return subprocess.run(arguments, check=True, capture_output=True, timeout=60).stdout


@pytest.mark.parametrize(
    "data",
    [b"", b"{}\n", json_lines(40_000), json_lines(20_000, newline=b"\r\n"), bytes(BLOCK_DATA_SIZE)],
    ids=["empty", "one-line", "json-lines", "crlf", "one-full-block"],
)
def test_htslib_tests_and_decompresses_our_output(bgzip: str, tmp_path: Path, data: bytes) -> None:
    compressed = write_ours(tmp_path, "f.json", data)
    run(bgzip, "-t", str(compressed))
    assert run(bgzip, "-d", "-c", str(compressed)) == data


def test_htslib_reads_random_ranges_through_our_gzi(bgzip: str, tmp_path: Path) -> None:
    data = json_lines(60_000, newline=b"\r\n")
    compressed = write_ours(tmp_path, "f.json", data)
    chance = random.Random(11)
    for _ in range(25):
        offset = chance.randrange(len(data))
        length = chance.choice([1, 100, BLOCK_DATA_SIZE, 3 * BLOCK_DATA_SIZE, chance.randrange(1, 300_000)])
        got = run(bgzip, "-b", str(offset), "-s", str(length), str(compressed))
        assert got == data[offset : offset + length], (offset, length)


def test_our_reader_reads_htslib_output_and_its_gzi(bgzip: str, tmp_path: Path) -> None:
    data = json_lines(50_000)
    source = tmp_path / "h.json"
    source.write_bytes(data)
    run(bgzip, "-i", str(source))
    compressed = (tmp_path / "h.json.gz").read_bytes()
    theirs = GziIndex.from_bytes((tmp_path / "h.json.gz.gzi").read_bytes())

    parts: list[bytes] = []
    summary = decompress_stream(io.BytesIO(compressed).read, parts.append)
    assert b"".join(parts) == data
    assert summary.index == theirs
    for offset, length in [(0, 10), (BLOCK_DATA_SIZE - 3, 9), (len(data) - 5, 50), (123_457, 200_000)]:
        assert read_range(lambda s, e: compressed[s:e], theirs, offset, length) == data[offset : offset + length]


def test_same_level_gives_a_size_within_two_percent_of_htslib(bgzip: str, tmp_path: Path) -> None:
    data = json_lines(80_000)
    ours = write_ours(tmp_path, "o.json", data).stat().st_size
    (tmp_path / "h.json").write_bytes(data)
    run(bgzip, str(tmp_path / "h.json"))
    theirs = (tmp_path / "h.json.gz").stat().st_size
    assert ours <= 1.02 * theirs


def mixed_content() -> bytes:
    """JSON lines, a long run of zeros and random bytes: text, runs and incompressible blocks."""
    return json_lines(30_000) + bytes(200_000) + random.Random(3).randbytes(150_000)


def ours_at(data: bytes, level: int) -> bytes:
    out = io.BytesIO()
    with BgzfWriter(out.write, level=level) as writer:
        writer.write(data)
    return out.getvalue()


def bgzip_at(bgzip: str, data: bytes, level: int) -> bytes:
    return subprocess.run([bgzip, "-c", "-l", str(level)], input=data, check=True, capture_output=True).stdout


def test_the_default_level_is_byte_identical_to_bgzip_without_a_level(bgzip: str) -> None:
    """README: with no level given, our output is bgzip's (``bgzip -c``, no ``-l``) byte for byte."""
    data = mixed_content()
    out = io.BytesIO()
    with BgzfWriter(out.write) as writer:
        writer.write(data)
    theirs = subprocess.run([bgzip, "-c"], input=data, check=True, capture_output=True).stdout
    assert out.getvalue() == theirs


@pytest.mark.parametrize("level", [-1, 0, 1, 2, 3, 4, 5, 6, 7, 8])
def test_levels_up_to_8_are_byte_identical_to_htslib(bgzip: str, level: int) -> None:
    data = mixed_content()
    assert ours_at(data, level) == bgzip_at(bgzip, data, level)


def test_level_9_is_valid_bgzf_htslib_reads_within_a_tenth_of_a_percent_of_its_size(bgzip: str, tmp_path) -> None:
    # level 9 is libdeflate's level 12, whose output changed between libdeflate releases: the same
    # bytes as bgzip only when both use the same libdeflate (not promised; see the codec's docstring)
    data = mixed_content()
    ours = ours_at(data, 9)
    (tmp_path / "o.gz").write_bytes(ours)
    run(bgzip, "-t", str(tmp_path / "o.gz"))
    assert run(bgzip, "-d", "-c", str(tmp_path / "o.gz")) == data
    assert abs(len(ours) - len(bgzip_at(bgzip, data, 9))) <= 0.001 * len(ours)


def test_the_index_of_concatenated_files_is_the_one_bgzip_r_builds(bgzip: str, tmp_path: Path) -> None:
    first, second = json_lines(20_000), json_lines(15_000, seed=9)
    for name, data in (("a", first), ("b", second)):
        (tmp_path / name).write_bytes(data)
        run(bgzip, "-f", str(tmp_path / name))
    joined = tmp_path / "j.gz"
    joined.write_bytes((tmp_path / "a.gz").read_bytes() + (tmp_path / "b.gz").read_bytes())
    run(bgzip, "-r", str(joined))
    theirs = GziIndex.from_bytes((tmp_path / "j.gz.gzi").read_bytes())
    summary = decompress_stream(io.BytesIO(joined.read_bytes()).read, lambda data: None)
    assert summary.index == theirs


BUCKET = "bio-index-htslib"


@pytest.mark.parametrize("matches", [True, False], ids=["same-content", "stale"])
def test_compress_keeps_a_pair_htslib_made_only_when_it_matches_the_original(bgzip, tmp_path: Path, matches) -> None:
    import boto3
    from moto import mock_aws

    from airflow_provider_bio.jobs import bgzip_worker

    data = json_lines(30_000)
    source = tmp_path / "h.json"
    source.write_bytes(data if matches else json_lines(100, seed=3))
    run(bgzip, "-i", str(source))  # the jobs before this worker: bgzip -i per file
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-west-2")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        s3.put_object(Bucket=BUCKET, Key="i/h.json", Body=data)
        for suffix in (".gz", ".gz.gzi"):
            s3.put_object(Bucket=BUCKET, Key=f"i/h.json{suffix}", Body=(tmp_path / f"h.json{suffix}").read_bytes())
        [result] = bgzip_worker.run("compress", s3, BUCKET, ["i/h.json"], log=lambda line: None).files
        assert (result.status, result.bytes_out) == (("skipped", 0) if matches else ("done", result.bytes_out))
        [deleted] = bgzip_worker.run("delete-originals", s3, BUCKET, ["i/h.json"], log=lambda line: None).files
        # a kept pair was verified on adoption; a rewritten one is verified before the delete
        assert deleted.detail == ("deleted (verified earlier)" if matches else "deleted (verified now)")
        assert run_range(s3, data)


def run_range(s3, data: bytes) -> bool:
    compressed = s3.get_object(Bucket=BUCKET, Key="i/h.json.gz")["Body"].read()
    index = GziIndex.from_bytes(s3.get_object(Bucket=BUCKET, Key="i/h.json.gz.gzi")["Body"].read())
    return read_range(lambda s, e: compressed[s:e], index, 70_000, 3_000) == data[70_000:73_000]


def test_compress_keeps_a_concatenated_htslib_file_indexed_by_bgzip_r(bgzip, tmp_path: Path) -> None:
    import boto3
    from moto import mock_aws

    from airflow_provider_bio.jobs import bgzip_worker

    first, second = json_lines(20_000), json_lines(15_000, seed=9)
    for name, data in (("a", first), ("b", second)):
        (tmp_path / name).write_bytes(data)
        run(bgzip, "-f", str(tmp_path / name))
    joined = tmp_path / "h.json.gz"
    joined.write_bytes((tmp_path / "a.gz").read_bytes() + (tmp_path / "b.gz").read_bytes())
    run(bgzip, "-r", str(joined))
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-west-2")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        s3.put_object(Bucket=BUCKET, Key="i/h.json", Body=first + second)
        for suffix in (".gz", ".gz.gzi"):
            s3.put_object(Bucket=BUCKET, Key=f"i/h.json{suffix}", Body=(tmp_path / f"h.json{suffix}").read_bytes())
        [result] = bgzip_worker.run("compress", s3, BUCKET, ["i/h.json"], log=lambda line: None).files
        assert (result.status, result.bytes_out) == ("skipped", 0), result.detail
        kept = s3.get_object(Bucket=BUCKET, Key="i/h.json.gz")["Body"].read()
        assert kept == joined.read_bytes()
