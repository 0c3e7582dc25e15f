"""``python -m scripts.bench_bgzip``: BgzfWriter and ``read_range`` against htslib's ``bgzip`` (1.16).

A JSON-lines file of INPUT_MB MB of genomics association records (variant ids, rsIDs, genes,
p-values, betas, sample counts, consequences; fixed seed, about 4:1 with bgzip) is written to a
temporary directory, deleted at the end. ``BENCH_BGZIP_MB`` overrides INPUT_MB for a quick try.
Then, in one run:

a. compression, file to file on disk: ``bgzip -c`` (default level, one thread), ``bgzip -@ 2 -c``,
   and :class:`~airflow_provider_bio.core.bgzf.BgzfWriter` at its default level with 2 threads and
   with 1, in this process, reading the input in READ_SIZE reads. ROUNDS rounds, the order rotated
   each round against drift; the best (fastest) round counts, the median is shown beside it. Our
   output must inflate (with ``bgzip -d``) to the input and not depend on the thread count;
b. peak memory (absolute VmHWM, read in the process itself, beside its RSS right after imports):
   our writer in a child process on the input, and on BIG_INPUT bytes (the input streamed over and
   over, the output counted and dropped); ``bgzip -@ 2``'s on the input, as GNU time reports it.
   ``RUSAGE_CHILDREN`` is no good here: a child's ``ru_maxrss`` includes this (large) process, which
   it is a copy of until it execs;
c. ranged reads through our ``.gzi``: RANGES ranges (RANGE_MIN to RANGE_MAX bytes, log-uniform,
   fixed seed), each ``bgzip -b OFFSET -s LENGTH`` (a process per call) against ``read_range`` in
   this process, opening the file on every call. A no-op ``bgzip -b 0 -s 1`` on a tiny file gives
   bgzip's start-up cost, which subtracted from its per-call time leaves its decoding part. Every
   range, from either, must equal the input's bytes.

Targets: our 2-thread throughput at least THROUGHPUT_TARGET x ``bgzip -@ 2``'s; our output at most
SIZE_TARGET x htslib's default; our peak under MEMORY_TARGET_MIB MiB at any input size. Missing a
target is reported; only wrong bytes end the run with an error.
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import math
import mmap
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import deflate

from airflow_provider_bio.core.bgzf import BgzfSummary, BgzfWriter, GziIndex, read_range

REPO = Path(__file__).resolve().parent.parent
BGZIP = "/usr/bin/bgzip"
GNU_TIME = "/usr/bin/time"
MB = 10**6
MIB = 1024**2
INPUT_MB = int(os.environ.get("BENCH_BGZIP_MB", "200"))
BIG_INPUT = 1024**3
READ_SIZE = 4 * MIB
ROUNDS = 3
SEED = 20261121
#: Distinct records, sampled to fill the input: 20 MB of them, far beyond deflate's 32 KiB window,
#: so repeats do not make the file more compressible than all-distinct records would be.
POOL_RECORDS = 40_000
RECORDS_PER_WRITE = 10_000
RANGES = 200
RANGE_MIN, RANGE_MAX = 100, 200 * 1024
STARTUP_CALLS = 50
#: Targets.
THROUGHPUT_TARGET = 1.0
SIZE_TARGET = 1.02
MEMORY_TARGET_MIB = 128

CHROMOSOMES = (*map(str, range(1, 23)), "X")
GENES = ("APOE", "BRCA2", "CFTR", "FTO", "HLA-DRB1", "IL23R", "LDLR", "MC4R", "NOD2", "PCSK9", "TCF7L2", "TP53")
GENE_FAMILIES = ("ZNF", "SLC", "KCN", "OR", "LINC0", "CYP", "ABC", "TMEM")
PHENOTYPES = (
    "alzheimers_disease",
    "asthma",
    "body_mass_index",
    "breast_cancer",
    "coronary_artery_disease",
    "crohns_disease",
    "educational_attainment",
    "hba1c",
    "hdl_cholesterol",
    "height",
    "ldl_cholesterol",
    "rheumatoid_arthritis",
    "schizophrenia",
    "systolic_blood_pressure",
    "triglycerides",
    "type_2_diabetes",
)
CONSEQUENCES = (
    "3_prime_UTR_variant",
    "5_prime_UTR_variant",
    "downstream_gene_variant",
    "intergenic_variant",
    "intron_variant",
    "missense_variant",
    "non_coding_transcript_exon_variant",
    "regulatory_region_variant",
    "splice_region_variant",
    "stop_gained",
    "synonymous_variant",
    "upstream_gene_variant",
)


class CorrectnessError(AssertionError):
    """Bytes that should be equal are not: the benchmark's only failure."""


def require(ok: bool, message: str) -> None:
    """Raise :class:`CorrectnessError` with ``message`` unless ``ok`` (unlike ``assert``, also under -O)."""
    if not ok:
        raise CorrectnessError(message)


# -- the input ---------------------------------------------------------------------------------------


def gene_name(rng: random.Random) -> str:
    """A known gene one time in four, else a family member such as ``SLC12`` or ``ZNF431``."""
    if rng.random() < 0.25:
        return rng.choice(GENES)
    return f"{rng.choice(GENE_FAMILIES)}{rng.randint(1, 999)}"


def association_record(rng: random.Random) -> str:
    """One JSON line: a variant's association with a phenotype, as a GWAS catalogue export has it."""
    chrom = rng.choice(CHROMOSOMES)
    position = rng.randint(10_000, 249_000_000)
    ref, alt = rng.sample("ACGT", 2)
    beta, se = rng.gauss(0, 0.05), rng.uniform(0.001, 0.03)
    record = {
        "variant_id": f"{chrom}:{position}:{ref}:{alt}",
        "rsid": f"rs{rng.randint(1_000, 1_500_000_000)}",
        "chrom": chrom,
        "pos": position,
        "ref": ref,
        "alt": alt,
        "gene": gene_name(rng),
        "phenotype": rng.choice(PHENOTYPES),
        "study_id": f"GCST{rng.randint(1, 99_999):06d}",
        "pvalue": float(f"{10 ** -rng.uniform(0, 30):.4g}"),
        "beta": float(f"{beta:.6g}"),
        "se": float(f"{se:.5g}"),
        "zscore": round(beta / se, 4),
        "ci95": [float(f"{beta - 1.96 * se:.6g}"), float(f"{beta + 1.96 * se:.6g}")],
        "eaf": round(rng.random(), 5),
        "info": round(rng.uniform(0.3, 1), 4),
        "af": {population: round(rng.random(), 4) for population in ("afr", "eas", "eur")},
        "n_cases": rng.randint(1_000, 500_000),
        "n_controls": rng.randint(1_000, 500_000),
        "consequences": rng.sample(CONSEQUENCES, rng.randint(1, 3)),
        "transcript": f"ENST{rng.randint(1, 999_999):011d}.{rng.randint(1, 20)}",
        "hgvs_c": f"c.{rng.randint(1, 9_999)}{ref}>{alt}",
    }
    return json.dumps(record, separators=(",", ":")) + "\n"


def write_input(path: Path, size: int) -> int:
    """Write at least ``size`` bytes of records sampled from POOL_RECORDS distinct ones; return the bytes written.

    :param path: the JSON-lines file to create.
    :param size: bytes wanted; the file ends on the first whole record past them.
    """
    rng = random.Random(SEED)
    pool = [association_record(rng) for _ in range(POOL_RECORDS)]
    written = 0
    with path.open("wb") as out:
        while written < size:
            records = "".join(rng.choices(pool, k=RECORDS_PER_WRITE)).encode()
            end = records.find(b"\n", size - written - 1)  # of the record reaching ``size``; -1: not in these
            written += out.write(records if end < 0 else records[: end + 1])
    return written


def sha256_of(chunks: Iterator[bytes]) -> str:
    """The SHA-256 of the concatenated ``chunks``."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def file_chunks(path: Path) -> Iterator[bytes]:
    """``path`` in READ_SIZE reads."""
    with path.open("rb") as reader:
        while chunk := reader.read(READ_SIZE):
            yield chunk


# -- compression --------------------------------------------------------------------------------------


@dataclass
class Contender:
    """One way of compressing a file.

    :param label: printed name.
    :param slug: names its output file.
    :param compress: ``compress(source, destination)``; returns the writer's summary, or None for bgzip.
    """

    label: str
    slug: str
    compress: Callable[[Path, Path], BgzfSummary | None]
    seconds: list[float] = field(default_factory=list)
    summary: BgzfSummary | None = None

    def output(self, directory: Path) -> Path:
        """Where this contender's compressed file goes in ``directory``."""
        return directory / f"{self.slug}.gz"


def bgzip(*options: str) -> Callable[[Path, Path], None]:
    """A compress function running ``bgzip OPTIONS -c SOURCE > DESTINATION``."""

    def compress(source: Path, destination: Path) -> None:
        with destination.open("wb") as out:
            subprocess.run([BGZIP, *options, "-c", str(source)], stdout=out, check=True)

    return compress


def writer(threads: int) -> Callable[[Path, Path], BgzfSummary]:
    """A compress function streaming SOURCE through a ``threads``-thread BgzfWriter into DESTINATION."""

    def compress(source: Path, destination: Path) -> BgzfSummary:
        with destination.open("wb") as out:
            bgzf = BgzfWriter(out.write, threads=threads)
            for chunk in file_chunks(source):
                bgzf.write(chunk)
            return bgzf.close()

    return compress


def contenders() -> dict[str, Contender]:
    """htslib's two and our two, by slug."""
    everyone = (
        Contender("htslib bgzip -c (1 thread)", "bgzip-1", bgzip()),
        Contender("htslib bgzip -@ 2 -c", "bgzip-2", bgzip("-@", "2")),
        Contender("ours, BgzfWriter threads=2", "ours-2", writer(2)),
        Contender("ours, BgzfWriter threads=1", "ours-1", writer(1)),
    )
    return {contender.slug: contender for contender in everyone}


def time_rounds(everyone: list[Contender], source: Path, directory: Path) -> None:
    """Run every contender ROUNDS times, rotating the order each round, recording seconds and summaries."""
    for round_number in range(ROUNDS):
        order = everyone[round_number:] + everyone[:round_number]
        for contender in order:
            started = time.perf_counter()
            summary = contender.compress(source, contender.output(directory))
            contender.seconds.append(time.perf_counter() - started)
            contender.summary = summary
        print(f"round {round_number + 1}/{ROUNDS}: " + ", ".join(c.slug for c in order), flush=True)


def check_round_trip(ours: Path, single_thread: Path, input_digest: str) -> None:
    """``bgzip -d`` must inflate our output to the input, and one thread must write the same bytes as two."""
    with subprocess.Popen([BGZIP, "-dc", str(ours)], stdout=subprocess.PIPE) as inflate:
        digest = sha256_of(iter(lambda: inflate.stdout.read(READ_SIZE), b""))
    require(inflate.returncode == 0, f"bgzip -d failed on our output ({inflate.returncode})")
    require(digest == input_digest, "bgzip -d of our output differs from the input")
    require(filecmp.cmp(ours, single_thread, shallow=False), "BgzfWriter's bytes depend on its thread count")
    print("correctness: bgzip -d inflates our output to the input; threads=1 and threads=2 write the same bytes")


def report_compression(everyone: dict[str, Contender], size: int, directory: Path) -> dict[str, float]:
    """The throughput table, each output compared with ``bgzip -c``'s; return the best MB/s by slug."""
    reference = everyone["bgzip-1"].output(directory)
    best = {slug: size / MB / min(contender.seconds) for slug, contender in everyone.items()}
    print(f"\ncompression of {size / MB:.1f} MB, file to file, best of {ROUNDS} rounds (median beside it)")
    header = f"{'contender':<30} {'best s':>7} {'best MB/s':>10} {'median MB/s':>12} {'output MB':>10} {'ratio':>6}"
    print(f"{header}  same bytes as bgzip -c")
    for contender in everyone.values():
        output = contender.output(directory)
        compressed = output.stat().st_size
        same = "yes" if filecmp.cmp(output, reference, shallow=False) else "NO"
        print(
            f"{contender.label:<30} {min(contender.seconds):>7.2f} {best[contender.slug]:>10.1f} "
            f"{size / MB / statistics.median(contender.seconds):>12.1f} {compressed / MB:>10.2f} "
            f"{size / compressed:>5.2f}x  {same}"
        )
    return best


# -- memory ------------------------------------------------------------------------------------------------


def proc_status_kib(name: str) -> int:
    """A ``kB`` field of this process's /proc/self/status, e.g. ``VmHWM``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1])
    raise KeyError(name)


def repeated_chunks(source: Path, total: int) -> Iterator[bytes]:
    """``source`` over and over in READ_SIZE reads, ``total`` bytes in all."""
    left = total
    while left:
        for chunk in file_chunks(source):
            yield chunk[:left]
            left -= min(left, len(chunk))
            if not left:
                return


def child(source: Path, total: int) -> None:
    """In a child process: compress ``total`` bytes of ``source`` repeated, drop the output, print JSON figures.

    :param source: the input file.
    :param total: bytes to compress.
    """
    baseline = proc_status_kib("VmRSS")
    bgzf = BgzfWriter(lambda block: None, threads=2)
    for chunk in repeated_chunks(source, total):
        bgzf.write(chunk)
    summary = bgzf.close()
    figures = {
        "baseline_kib": baseline,
        "peak_kib": proc_status_kib("VmHWM"),
        "uncompressed": summary.uncompressed_size,
    }
    print(json.dumps(figures))


def our_peak(source: Path, total: int) -> dict[str, int]:
    """Run :func:`child` in a fresh interpreter on ``total`` bytes and return its figures."""
    command = [sys.executable, "-m", "scripts.bench_bgzip", "--child", str(source), str(total)]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
    figures = json.loads(run.stdout.splitlines()[-1])
    require(figures["uncompressed"] == total, f"the child compressed {figures['uncompressed']} bytes, not {total}")
    return figures


def bgzip_peak_kib(source: Path, directory: Path, *options: str) -> int:
    """``bgzip OPTIONS -c SOURCE``'s peak RSS in KiB, from GNU time, the output dropped."""
    report = directory / "time.out"
    command = [GNU_TIME, "-f", "%M", "-o", str(report), BGZIP, *options, "-c", str(source)]
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
    return int(report.read_text().split()[-1])


def report_memory(source: Path, size: int, directory: Path) -> list[float]:
    """Print peak RSS for ours (the input, then BIG_INPUT bytes) and bgzip -@ 2; return our peaks in MiB."""
    print(
        "\npeak memory, output dropped: absolute peak RSS and the baseline it grew from\n"
        "(ours: VmHWM, and VmRSS after imports, from /proc/self/status; bgzip: GNU time's, on a 3-byte file)"
    )
    print(f"{'process':<30} {'input MB':>9} {'peak MiB':>9} {'baseline MiB':>13} {'added MiB':>10}")
    peaks = []
    for total in (size, BIG_INPUT):
        figures = our_peak(source, total)
        peaks.append(figures["peak_kib"] / 1024)
        print_memory_row("ours, threads=2 (child)", total, figures["peak_kib"], figures["baseline_kib"])
    tiny = directory / "tiny.json"
    tiny.write_bytes(b"{}\n")
    bgzip_peak, bgzip_baseline = (bgzip_peak_kib(path, directory, "-@", "2") for path in (source, tiny))
    print_memory_row("htslib bgzip -@ 2", size, bgzip_peak, bgzip_baseline)
    return peaks


def print_memory_row(label: str, size: int, peak_kib: int, baseline_kib: int) -> None:
    """One row of the memory table.

    :param label: the process.
    :param size: input bytes.
    :param peak_kib: peak RSS.
    :param baseline_kib: RSS before any real work.
    """
    print(
        f"{label:<30} {size / MB:>9.1f} {peak_kib / 1024:>9.1f} {baseline_kib / 1024:>13.1f} "
        f"{(peak_kib - baseline_kib) / 1024:>10.1f}"
    )


# -- ranged reads ------------------------------------------------------------------------------------------


def random_ranges(size: int) -> list[tuple[int, int]]:
    """RANGES (offset, length) pairs within ``size`` bytes, lengths log-uniform in RANGE_MIN..RANGE_MAX."""
    rng = random.Random(SEED + 1)
    ranges = []
    for _ in range(RANGES):
        length = round(math.exp(rng.uniform(math.log(RANGE_MIN), math.log(RANGE_MAX))))
        ranges.append((rng.randrange(size - length), length))
    return ranges


def bgzip_range(compressed: Path, offset: int, length: int) -> bytes:
    """``bgzip -b OFFSET -s LENGTH`` on ``compressed``, which has its ``.gzi`` beside it."""
    command = [BGZIP, "-b", str(offset), "-s", str(length), str(compressed)]
    return subprocess.run(command, capture_output=True, check=True).stdout


def file_fetch(path: Path) -> Callable[[int, int | None], bytes]:
    """A ``read_range`` fetch that opens ``path`` on every call and reads [start, end)."""

    def fetch(start: int, end: int | None) -> bytes:
        with path.open("rb") as reader:
            reader.seek(start)
            return reader.read(-1 if end is None else end - start)

    return fetch


def bgzip_startup(directory: Path) -> float:
    """Median seconds of a no-op ``bgzip -b 0 -s 1`` on a one-block file with its ``.gzi``."""
    tiny = directory / "tiny.gz"
    with tiny.open("wb") as out:
        bgzf = BgzfWriter(out.write, threads=1)
        bgzf.write(b"x\n")
        Path(f"{tiny}.gzi").write_bytes(bgzf.close().index.to_bytes())
    seconds = []
    for _ in range(STARTUP_CALLS):
        started = time.perf_counter()
        bgzip_range(tiny, 0, 1)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def time_ranges(source: Path, compressed: Path, index: GziIndex) -> tuple[float, float, int]:
    """Time every range with bgzip and with ``read_range``, alternating; check both against the input.

    :return: mean seconds per range for bgzip and for ours, and the bytes read by each.
    """
    bgzip_seconds, our_seconds = [], []
    fetch = file_fetch(compressed)
    with source.open("rb") as reader, mmap.mmap(reader.fileno(), 0, access=mmap.ACCESS_READ) as original:
        ranges = random_ranges(len(original))
        for offset, length in ranges:
            expected = original[offset : offset + length]
            started = time.perf_counter()
            theirs = bgzip_range(compressed, offset, length)
            bgzip_seconds.append(time.perf_counter() - started)
            started = time.perf_counter()
            ours = read_range(fetch, index, offset, length)
            our_seconds.append(time.perf_counter() - started)
            require(ours == expected, f"read_range({offset}, {length}) differs from the input")
            require(theirs == expected, f"bgzip -b {offset} -s {length} with our .gzi differs from the input")
    return statistics.mean(bgzip_seconds), statistics.mean(our_seconds), sum(length for _, length in ranges)


def report_ranges(source: Path, ours: Contender, directory: Path) -> None:
    """Write our ``.gzi`` beside our output, then time and check the ranged reads."""
    compressed = ours.output(directory)
    gzi = ours.summary.index.to_bytes()
    Path(f"{compressed}.gzi").write_bytes(gzi)
    startup = bgzip_startup(directory)
    bgzip_mean, our_mean, total = time_ranges(source, compressed, GziIndex.from_bytes(gzi))
    decode = bgzip_mean - startup
    print(
        f"\nranged reads: {RANGES} ranges of {RANGE_MIN} B - {RANGE_MAX // 1024} KiB (log-uniform), "
        f"{total / MB:.1f} MB in all, through our .gzi ({len(gzi) / 1024:.0f} KiB); all equal the input"
    )
    print(f"bgzip -b/-s, a process per call:   {bgzip_mean * 1000:7.2f} ms per range (mean)")
    print(f"bgzip no-op start-up (-b 0 -s 1):  {startup * 1000:7.2f} ms (median of {STARTUP_CALLS})")
    print(f"bgzip's decoding part:             {decode * 1000:7.2f} ms per range (mean minus start-up)")
    print(f"ours, read_range, opening per call:{our_mean * 1000:7.2f} ms per range (mean)")
    print(
        f"ratio ours/bgzip latency: {our_mean / bgzip_mean:.2f}x per call; "
        f"{our_mean / decode:.2f}x against its decoding part alone (in process, lower is faster)"
    )


def versions() -> str:
    """bgzip's version and the ``deflate`` package's (whose libdeflate ours uses)."""
    bgzip_version = subprocess.run([BGZIP, "--version"], capture_output=True, text=True, check=True).stdout
    return f"{bgzip_version.splitlines()[0]}, Python deflate {deflate.__version__}, {os.cpu_count()} CPUs"


# -- the report --------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    """``target met`` or ``target NOT met``."""
    return "target met" if ok else "target NOT met"


def report_targets(best: dict[str, float], sizes: dict[str, int], peaks: list[float]) -> None:
    """Each ratio with its target, if it has one."""
    print()
    ratio = best["ours-2"] / best["bgzip-2"]
    print(
        f"throughput ours threads=2 / bgzip -@ 2: {ratio:.2f}x (target >= {THROUGHPUT_TARGET}): "
        f"{verdict(ratio >= THROUGHPUT_TARGET)}"
    )
    print(f"throughput ours threads=1 / bgzip 1 thread: {best['ours-1'] / best['bgzip-1']:.2f}x (no target)")
    ratio = sizes["ours-2"] / sizes["bgzip-1"]
    print(
        f"compressed size ours / bgzip default: {ratio:.4f}x (target <= {SIZE_TARGET}): {verdict(ratio <= SIZE_TARGET)}"
    )
    print(
        f"our peak memory: {max(peaks):.1f} MiB at most (target < {MEMORY_TARGET_MIB} MiB at any input size): "
        f"{verdict(max(peaks) < MEMORY_TARGET_MIB)}"
    )


def main(argv: list[str]) -> int:
    """Run every measurement in a temporary directory; in a child (``--child SOURCE BYTES``), :func:`child`."""
    if argv[:1] == ["--child"]:
        child(Path(argv[1]), int(argv[2]))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-bgzip-") as temporary:
        directory = Path(temporary)
        source = directory / "associations.jsonl"
        started = time.perf_counter()
        size = write_input(source, INPUT_MB * MB)
        print(f"input: {size / MB:.1f} MB of JSON lines in {time.perf_counter() - started:.1f} s; {versions()}")
        everyone = contenders()
        time_rounds(list(everyone.values()), source, directory)
        ours, single_thread = everyone["ours-2"].output(directory), everyone["ours-1"].output(directory)
        check_round_trip(ours, single_thread, sha256_of(file_chunks(source)))
        best = report_compression(everyone, size, directory)
        sizes = {slug: contender.output(directory).stat().st_size for slug, contender in everyone.items()}
        report_ranges(source, everyone["ours-2"], directory)
        peaks = report_memory(source, size, directory)
        report_targets(best, sizes, peaks)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
