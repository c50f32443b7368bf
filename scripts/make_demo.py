"""Build the bundled demo slice (src/cisgram/demodata/) from ../shared/data.

The slice is chr22:19,000,000-29,000,000 of hg38 (10 Mb, 22q11-q12) with real coordinates: the
FASTA keeps chr22's full length with every base outside the slice set to N (bgzip compresses
those runs to almost nothing), so peaks, tracks and TSSs line up with hg38 as they are.

    python scripts/make_demo.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyBigWig
import pysam

CHROM, START, END = "chr22", 19_000_000, 29_000_000
# ~100 JASPAR 2024 motifs: the factors in the chr22 ChIP sets and the usual suspects of
# K562 / GM12878 / MCF7 accessibility, then the lowest IDs to fill up.
MOTIF_NAMES = """CTCF CTCFL GATA1 GATA2 GATA3 TAL1::TCF3 GATA1::TAL1 SPI1 SPIB CEBPB CEBPA JUND JUN FOS::JUN FOSL1 FOSL2
ATF3 ATF7 CREB1 ATF1 MAX MYC MAX::MYC MXI1 YY1 REST GABPA ELK1 ELK4 ETS1 ETV6 ELF1 FLI1 ERG NRF1 SP1 SP2 KLF1 KLF4
RUNX1 RUNX3 FOXA1 FOXA2 ESR1 GRHL2 TEAD1 TEAD4 TFAP2A TFAP2C NFYA NFYB E2F1 E2F4 E2F6 EGR1 ZNF143 RFX5 RFX1 SRF MAFK
NFE2 NFE2L2 BACH1 TCF12 TCF3 TCF4 EBF1 IRF4 IRF8 PAX5 POU2F2 MEF2A MEF2C NFKB1 RELA STAT3 STAT5A TP53 TP63 ZEB1
SNAI2 HNF1A HNF4A NR2F2 USF1 USF2 MITF TFE3 ZBTB33 THAP11 HINFP ZNF384 NFIC NFIX CUX1 PBX1 MEIS1 HOXA9 SOX2 POU5F1""".split()


def slice_fasta(src: Path, dst: Path) -> None:
    fa = pysam.FastaFile(str(src))
    size = fa.get_reference_length(CHROM)
    seq = fa.fetch(CHROM, START, END)
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / "demo.fa"
        with open(plain, "w") as fh:
            fh.write(f">{CHROM}\n")
            full = "N" * START + seq + "N" * (size - END)
            for i in range(0, size, 60):
                fh.write(full[i : i + 60] + "\n")
        pysam.tabix_compress(str(plain), str(dst), force=True)
    pysam.faidx(str(dst))


def slice_bigwig(src: Path, dst: Path) -> None:
    bw = pyBigWig.open(str(src))
    size = bw.chroms(CHROM)
    iv = bw.intervals(CHROM, START, END) or []
    out = pyBigWig.open(str(dst), "w")
    out.addHeader([(CHROM, size)], maxZooms=4)
    if iv:
        a = np.array(iv, dtype=np.float64)
        s = np.maximum(a[:, 0], START).astype(np.int64)
        e = np.minimum(a[:, 1], END).astype(np.int64)
        out.addEntries([CHROM] * len(a), s.tolist(), ends=e.tolist(), values=a[:, 2].tolist())
    out.close()
    bw.close()


def slice_bed(src: Path, dst: Path) -> int:
    n = 0
    with open(src) as fi, open(dst, "w") as fo:
        for line in fi:
            f = line.split("\t")
            if f[0] == CHROM and int(f[1]) >= START and int(f[2]) <= END:
                fo.write(line)
                n += 1
    return n


def subset_meme(src: Path, dst: Path) -> int:
    text = src.read_text()
    head, *blocks = text.split("\nMOTIF ")
    by_name = {b.split()[1]: b for b in blocks}
    chosen = [n for n in MOTIF_NAMES if n in by_name]
    for b in blocks:  # fill to 100 with the lowest IDs
        if len(chosen) >= 100:
            break
        if b.split()[1] not in chosen:
            chosen.append(b.split()[1])
    with open(dst, "w") as fh:
        fh.write(head.rstrip("\n") + "\n")
        for n in chosen:
            fh.write("\nMOTIF " + by_name[n].rstrip("\n") + "\n")
    return len(chosen)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "src" / "cisgram" / "demodata")
    a = ap.parse_args()
    src = a.shared / "hg38_chr22"
    out = a.out
    if out.exists():
        shutil.rmtree(out)
    for d in ("genome", "accessibility", "peaks", "transcription_initiation", "annotation", "tf_chip", "motifs"):
        (out / d).mkdir(parents=True)
    slice_fasta(src / "genome" / "chr22.fa.gz", out / "genome" / "chr22_demo.fa.gz")
    (out / "genome" / "chr22_demo.chrom.sizes").write_text(f"{CHROM}\t50818468\n")
    for cell in ("K562", "GM12878", "MCF7"):
        slice_bigwig(src / "accessibility" / f"{cell}.bw", out / "accessibility" / f"{cell}.bw")
        n = slice_bed(src / "peaks" / f"{cell}.narrowPeak", out / "peaks" / f"{cell}.narrowPeak")
        print(cell, "peaks", n)
        for strand in ("pl", "mn"):
            slice_bigwig(
                src / "transcription_initiation" / f"{cell}.{strand}.bw",
                out / "transcription_initiation" / f"{cell}.{strand}.bw",
            )
    for f in ("genes_tss.bed", "transcripts_tss.bed"):
        print(f, slice_bed(src / "annotation" / f, out / "annotation" / f))
    for f in ("CTCF.ENCSR000AKO.narrowPeak", "K562.CTCF.narrowPeak", "MCF7.CTCF.narrowPeak"):
        print(f, slice_bed(src / "tf_chip" / f, out / "tf_chip" / f))
    n = subset_meme(a.shared / "motifs" / "JASPAR2024_CORE_vertebrates_nonredundant.meme", out / "motifs" / "jaspar2024_demo.meme")
    print("motifs", n)
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"total {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
