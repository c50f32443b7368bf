"""Real-world input shapes built from real files, for the reader tests: a truncated or corrupt
copy of a gzip/BGZF file, a gzip copy, a copy with Windows line endings. Run the CLI on them
through the ``cisgram_main`` fixture (tests/conftest.py)."""

from __future__ import annotations

import gzip
from pathlib import Path

TRUNCATED = "truncated or corrupt compressed file"


def gzipped(src, dst) -> Path:
    """``src`` gzip-compressed into ``dst``."""
    with open(src, "rb") as fh, gzip.open(dst, "wb") as out:
        out.write(fh.read())
    return Path(dst)


def truncated(src, dst, fraction: float = 0.5) -> Path:
    """The first ``fraction`` of ``src``'s bytes (a download cut short)."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)


def corrupt(src, dst) -> Path:
    """``src`` with 64 bytes in its middle flipped (a damaged copy: the gzip CRC or the deflate
    stream fails; the file keeps its length and its BGZF end-of-file block)."""
    data = bytearray(Path(src).read_bytes())
    mid = len(data) // 2
    for i in range(mid, mid + 64):
        data[i] ^= 0x5A
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


def crlf(src, dst, prefix: str = "") -> Path:
    """``prefix`` + ``src``'s text with Windows line endings."""
    text = prefix + Path(src).read_text()
    Path(dst).write_bytes(text.replace("\n", "\r\n").encode())
    return Path(dst)


def genome_wide_vcf(path, genome, peaks, *, rename=None) -> tuple[Path, dict]:
    """A VCF shaped like a genome-wide call set, on real positions of the bundled slice.

    chrM comes first (as in sorted GRCh38 call sets), then records at real K562 peak summits of
    ``genome`` (REF read from it): 5 SNVs, a deletion, an insertion, a multi-allelic SNV with two
    ALTs, one with an ALT and ``*``, symbolic ``<DEL>`` and ``<INS>``, a lone ``*``; then records
    on contigs a chr22 genome lacks (``chrUn_KI270742v1``, ``chr1_KI270706v1_random``, ``chrX``,
    ``chrEBV``, ``HLA-A*01:01:01:01``). FORMAT and a sample column, ``##contig`` lines.
    ``rename`` maps chromosome names (e.g. ``{"chr22": "22"}``) for naming mismatches.

    Returns the path and ``{"scored": {line: n alleles}, "problems": {line: reason fragment}}``.
    """
    from cisgram.genome import Genome
    from cisgram.intervals import read_regions

    g = Genome(genome)
    summits = read_regions(peaks).pipe(lambda df: (df["start"] + df["summit"]).to_numpy())[:12]

    def base(pos, n=1):  # REF of n bases at 1-based pos
        return g.fetch("chr22", pos - 1, pos - 1 + n)

    def other(b):
        return "C" if b != "C" else "G"

    p = [int(s) + 1 for s in summits]
    fmt = "\t50\tPASS\tDP=30\tGT\t0/1"  # QUAL FILTER INFO FORMAT SAMPLE1
    body = [f"chrM\t150\tmt1\tT\tC{fmt}"]
    body += [f"chr22\t{q}\trs{q}\t{base(q)}\t{other(base(q))}{fmt}" for q in p[:5]]
    body += [f"chr22\t{p[5]}\tdel\t{base(p[5], 4)}\t{base(p[5])}{fmt}",
             f"chr22\t{p[6]}\tins\t{base(p[6])}\t{base(p[6])}GT{fmt}"]
    r = base(p[7])
    two = [b for b in "ACGT" if b != r][:2]
    body += [f"chr22\t{p[7]}\tmulti\t{r}\t{two[0]},{two[1]}{fmt}",
             f"chr22\t{p[8]}\tstar\t{base(p[8])}\t{other(base(p[8]))},*{fmt}",
             f"chr22\t{p[9]}\tsvdel\t{base(p[9])}\t<DEL>\t50\tPASS\tSVTYPE=DEL;END={p[9] + 300}\tGT\t0/1",
             f"chr22\t{p[10]}\tsvins\t{base(p[10])}\t<INS>\t50\tPASS\tSVTYPE=INS\tGT\t0/1",
             f"chr22\t{p[11]}\tspan\t{base(p[11])}\t*{fmt}"]
    body += [f"{c}\t{q}\t.\tA\tG{fmt}" for c, q in (("chrUn_KI270742v1", 100), ("chr1_KI270706v1_random", 200),
                                                    ("chrX", 155_000_000), ("chrEBV", 1000),
                                                    ("HLA-A*01:01:01:01", 300))]
    contigs = ["chrM", "chr22", "chrX", "chrUn_KI270742v1", "chr1_KI270706v1_random", "chrEBV", "HLA-A*01:01:01:01"]
    head = ["##fileformat=VCFv4.2", *(f"##contig=<ID={c}>" for c in contigs),
            '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">',
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tSAMPLE1"]
    lines = head + body
    if rename:
        lines = head + ["\t".join([rename.get(x.split("\t")[0], x.split("\t")[0]), *x.split("\t")[1:]]) for x in body]
    Path(path).write_text("\n".join(lines) + "\n")
    first = len(head) + 1  # line of chrM
    scored = {first + k: 1 for k in range(1, 8)} | {first + 8: 2, first + 9: 1}
    problems = {first: "'chrM' is not in the genome", first + 9: "ALT '*'", first + 10: "symbolic ALT '<DEL>'",
                first + 11: "symbolic ALT '<INS>'", first + 12: "ALT '*'", first + 13: "'chrUn_KI270742v1'",
                first + 14: "'chr1_KI270706v1_random'", first + 15: "'chrX'", first + 16: "'chrEBV'",
                first + 17: "'HLA-A*01:01:01:01'"}
    return Path(path), {"scored": scored, "problems": problems}
