"""Genome scale (issue 24): a whole-genome-sized workload made from real chr22 data, every stage of
cisgram run on it as a user would (the CLI, one process per stage), timed, with its peak memory.

**The assembly** (:func:`build`): hg38's 24 chromosomes (chr1-22, X, Y) at their real lengths
times ``--scale``, each filled with real chr22 sequence in 1 Mb blocks drawn at random (the seed's
generator) and mutated at ``--mutation`` (0.1 %; N runs kept as N) so that no two copies of a block
are identical. Everything real on chr22 follows its block: the K562 / GM12878 / MCF7 peaks and
accessibility bigWigs, the transcription-initiation bigWigs, the genes' TSSs (names made unique
per copy) and the CTCF ChIP-seq peaks; so peak density, signal statistics and TSS density are
chr22's. A VCF of ``1,000,000 x scale`` SNVs (positions uniform over non-N bases, REF from the
assembly, ALT another base). Full scale needs about 3.4 GB of disk (3.2 GB FASTA, bigWigs, VCF);
``--out`` picks where (default a temporary directory, removed afterwards unless ``--keep``).

**The stages** (each ``cisgram ...`` in its own process; time and peak RSS from ``wait4``):
``prepare`` (3 conditions, whole-chromosome hold-out), ``scan`` (879 JASPAR motifs: max, count,
energy), ``train_iq`` (K562), ``train_cnn`` (K562, one epoch), ``tfbind`` (CTCF, every negative set,
one epoch), ``get_data`` (637 archetypes, 3 initiation pairs), ``train_get`` (one epoch),
``variants_cnn`` and ``variants_iq`` (the VCF), ``predict`` (the CNN over every K562 peak).
A stage that fails is recorded with the end of its error and the stages needing it are skipped.

    python benchmarks/genome_scale.py [--scale 1/64[,1/16,...]] [--stages all|prepare,scan,...] [--out DIR]
                                      [--keep] [--quick] [--seed 0]

``--quick`` is ``--scale 1/64``. With several scales it reports each stage's scaling exponent
between the two largest (log time ratio / log size ratio; 1 is linear). Prints one JSON object
as its last line and writes ``genome_scale.json`` into ``--out`` when given.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from _common import SHARED, emit

HG38 = {"chr1": 248956422, "chr2": 242193529, "chr3": 198295559, "chr4": 190214555, "chr5": 181538259,
        "chr6": 170805979, "chr7": 159345973, "chr8": 145138636, "chr9": 138394717, "chr10": 133797422,
        "chr11": 135086622, "chr12": 133275309, "chr13": 114364328, "chr14": 107043718, "chr15": 101991189,
        "chr16": 90338345, "chr17": 83257441, "chr18": 80373285, "chr19": 58617616, "chr20": 64444167,
        "chr21": 46709983, "chr22": 50818468, "chrX": 156040895, "chrY": 57227415}
BLOCK = 1_000_000
CELLS = ("K562", "GM12878", "MCF7")
CHR22 = SHARED / "hg38_chr22"
JASPAR = SHARED / "motifs" / "JASPAR2024_CORE_vertebrates_nonredundant.meme"
ARCHETYPES = SHARED / "motifs" / "vierstra_archetypes_v2.1beta.meme"
SNVS_FULL = 1_000_000
STAGES = ("prepare", "scan", "train_iq", "train_cnn", "tfbind", "get_data", "train_get", "variants_cnn", "variants_iq",
          "predict")
_LETTERS = np.frombuffer(b"ACGTN", dtype=np.uint8)


def _read_bed(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", header=None, comment="#")


def _placements(sizes: dict[str, int], n_blocks: int, rng: np.random.Generator) -> pd.DataFrame:
    """One row per placed block: chrom, offset, length and the source block's index."""
    rows = []
    for chrom, length in sizes.items():
        for off in range(0, length, BLOCK):
            rows.append((chrom, off, min(BLOCK, length - off), int(rng.integers(n_blocks))))
    return pd.DataFrame(rows, columns=["chrom", "offset", "length", "block"])


def _map_intervals(src: pd.DataFrame, place: pd.DataFrame, *, unique: int | None = None) -> pd.DataFrame:
    """``src`` (BED columns 0-2 on chr22, any more columns) copied into every placement whose
    source block holds the whole interval; column ``unique`` (e.g. the name) gets a copy suffix."""
    src = src.sort_values(1, kind="stable").reset_index(drop=True)
    starts = src[1].to_numpy()
    parts = []
    for k, (chrom, off, length, block) in enumerate(place.itertuples(index=False, name=None)):
        s0 = block * BLOCK
        i, j = np.searchsorted(starts, [s0, s0 + length])
        sub = src.iloc[i:j]
        sub = sub[sub[2].to_numpy() <= s0 + length].copy()
        if sub.empty:
            continue
        sub[0] = chrom
        sub[1] += off - s0
        sub[2] += off - s0
        if unique is not None:
            sub[unique] = sub[unique].astype(str) + f"~{k}"
        parts.append(sub)
    out = pd.concat(parts, ignore_index=True)
    order = {c: i for i, c in enumerate(place["chrom"].unique())}
    return out.sort_values([0, 1], key=lambda s: s.map(order) if s.name == 0 else s, kind="stable")


def _map_bigwig(src: Path, dest: Path, place: pd.DataFrame, sizes: dict[str, int]) -> None:
    import pyBigWig

    with pyBigWig.open(str(src)) as bw_in:
        out = pyBigWig.open(str(dest), "w")
        out.addHeader(list(sizes.items()))
        for chrom, off, length, block in place.itertuples(index=False, name=None):
            s0 = block * BLOCK
            iv = bw_in.intervals("chr22", s0, s0 + length) or ()
            if not iv:
                continue
            a = np.asarray(iv, dtype=np.float64)
            s = np.maximum(a[:, 0], s0) - s0 + off
            e = np.minimum(a[:, 1], s0 + length) - s0 + off
            keep = e > s
            if keep.any():
                out.addEntries([chrom] * int(keep.sum()), s[keep].astype(np.int64).tolist(),
                               ends=e[keep].astype(np.int64).tolist(), values=a[keep, 2].astype(float).tolist())
        out.close()


def _write_chromosome(fh, chrom: str, codes: np.ndarray) -> None:
    fh.write(f">{chrom}\n".encode())
    letters = _LETTERS[codes]
    for a in range(0, len(letters), 60 * 100_000):  # 6 Mb of 60-letter lines at a time
        chunk = letters[a:a + 60 * 100_000]
        full = len(chunk) // 60 * 60
        lines = np.hstack([chunk[:full].reshape(-1, 60), np.full((full // 60, 1), ord("\n"), np.uint8)])
        fh.write(lines.tobytes())
        if full < len(chunk):
            fh.write(chunk[full:].tobytes() + b"\n")


def build(out: Path, scale: float, *, seed: int = 0, mutation: float = 1e-3) -> dict:
    """The synthetic assembly and its files in ``out`` (see the module docstring); returns their
    paths and sizes. The same ``seed`` and ``scale`` give byte-identical files."""
    import pysam

    from cisgram.genome import Genome

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    src = Genome(CHR22 / "genome" / "chr22.fa.gz")
    chr22 = src.fetch_codes("chr22", 0, src.sizes["chr22"])
    n_blocks = len(chr22) // BLOCK
    sizes = {c: max(1000, int(round(n * scale))) for c, n in HG38.items()}
    place = _placements(sizes, n_blocks, rng)
    n_snv = int(round(SNVS_FULL * scale))
    total = sum(sizes.values())
    snv_per_chrom = rng.multinomial(n_snv, np.array(list(sizes.values())) / total)
    fasta = out / "genome.fa"
    vcf_rows = []
    with open(fasta, "wb") as fh:
        for (chrom, length), n_here in zip(sizes.items(), snv_per_chrom, strict=True):
            codes = np.empty(length, dtype=np.uint8)
            for _, off, blen, block in place[place["chrom"] == chrom].itertuples(index=False, name=None):
                piece = chr22[block * BLOCK: block * BLOCK + blen].copy()
                hit = (rng.random(blen) < mutation) & (piece < 4)
                piece[hit] = (piece[hit] + rng.integers(1, 4, int(hit.sum()))) % 4
                codes[off:off + blen] = piece
            _write_chromosome(fh, chrom, codes)
            pos = np.sort(rng.integers(0, length, int(n_here) * 2))
            pos = np.unique(pos[codes[pos] < 4])[:n_here]
            ref = codes[pos]
            alt = (ref + rng.integers(1, 4, len(pos))) % 4
            vcf_rows.append(pd.DataFrame({"chrom": chrom, "pos": pos + 1, "ref": _LETTERS[ref].view("S1").astype(str),
                                          "alt": _LETTERS[alt].view("S1").astype(str)}))
    pysam.faidx(str(fasta))
    files: dict = {"genome": fasta, "sizes": sizes, "placements": len(place)}
    for cell in CELLS:
        peaks = _map_intervals(_read_bed(CHR22 / "peaks" / f"{cell}.narrowPeak"), place, unique=3)
        files[f"peaks_{cell}"] = out / f"{cell}.narrowPeak"
        peaks.to_csv(files[f"peaks_{cell}"], sep="\t", header=False, index=False)
        files[f"n_peaks_{cell}"] = len(peaks)
        files[f"bw_{cell}"] = out / f"{cell}.bw"
        _map_bigwig(CHR22 / "accessibility" / f"{cell}.bw", files[f"bw_{cell}"], place, sizes)
        for strand in ("pl", "mn"):
            files[f"init_{cell}_{strand}"] = out / f"{cell}.{strand}.bw"
            _map_bigwig(CHR22 / "transcription_initiation" / f"{cell}.{strand}.bw", files[f"init_{cell}_{strand}"],
                        place, sizes)
    tss = _map_intervals(_read_bed(CHR22 / "annotation" / "genes_tss.bed"), place, unique=3)
    files["tss"] = out / "genes_tss.bed"
    tss.to_csv(files["tss"], sep="\t", header=False, index=False)
    files["n_tss"] = len(tss)
    chip = _map_intervals(_read_bed(CHR22 / "tf_chip" / "CTCF.ENCSR000AKO.narrowPeak"), place)
    files["ctcf"] = out / "CTCF.narrowPeak"
    chip.to_csv(files["ctcf"], sep="\t", header=False, index=False)
    files["n_ctcf_peaks"] = len(chip)
    files["vcf"] = out / "snvs.vcf.gz"
    v = pd.concat(vcf_rows, ignore_index=True)
    with gzip.GzipFile(files["vcf"], "wb", mtime=0) as fh:  # mtime 0: the same bytes for the same seed
        fh.write(b"##fileformat=VCFv4.2\n" + "".join(f"##contig=<ID={c},length={n}>\n" for c, n in sizes.items()).encode()
                 + b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        fh.write(("\n".join(f"{c}\t{p}\tsnv{i}\t{r}\t{a}\t.\tPASS\t." for i, (c, p, r, a) in
                            enumerate(v.itertuples(index=False, name=None))) + "\n").encode())
    files["n_snvs"] = len(v)
    return files


def stages(f: dict, work: Path) -> dict[str, tuple[list[str], tuple[str, ...]]]:
    """Each stage's command line and the stages it needs."""
    g, runs = str(f["genome"]), work / "runs"
    peaks = [x for c in CELLS for x in ("-p", str(f[f"peaks_{c}"]))]
    tracks = [x for c in CELLS for x in ("-t", f"{c}={f[f'bw_{c}']}")]
    init = [x for c in CELLS for x in ("--initiation", f"{c}={f[f'init_{c}_pl']},{f[f'init_{c}_mn']}")]
    ds = str(work / "dataset.h5ad")
    return {
        "prepare": (["prepare", "-g", g, *peaks, *tracks, "--tss", str(f["tss"]), "--split", "chroms", "-o", ds], ()),
        "scan": (["scan", "-g", g, "-r", ds, "-m", str(JASPAR), "--features", "max,count,energy", "--device", "cpu",
                  "-o", str(work / "features.parquet")], ("prepare",)),
        "train_iq": (["train", "iq", "-d", ds, "-T", "K562", "-m", str(JASPAR), "-o", str(runs / "iq")], ("prepare",)),
        "train_cnn": (["train", "cnn", "-d", ds, "-T", "K562", "--max-epochs", "1", "--patience", "1",
                       "--accelerator", "cpu", "--device", "cpu", "-o", str(runs / "cnn")], ("prepare",)),
        "tfbind": (["tfbind", "-g", g, "-m", f"{JASPAR}#MA0139.2", "--chip", str(f["ctcf"]), "--accessible",
                    str(f["peaks_K562"]), "--database", "none", "--max-epochs", "1", "--patience", "1",
                    "-o", str(runs / "tfbind")], ()),
        "get_data": (["get-data", "-d", ds, "-g", g, "--tss", str(f["tss"]), "-m", str(ARCHETYPES), *init,
                      "-o", str(work / "get.npz")], ("prepare",)),
        "train_get": (["train", "get", "-d", str(work / "get.npz"), "--leave-out", "MCF7", "--n-regions", "50",
                       "--max-epochs", "1", "--patience", "1", "--baselines", "none", "-o", str(runs / "get")],
                      ("get_data",)),
        "variants_cnn": (["variants", "-M", str(runs / "cnn"), "--vcf", str(f["vcf"]), "-o", str(work / "variants_cnn.tsv")],
                         ("train_cnn",)),
        "variants_iq": (["variants", "-M", str(runs / "iq"), "--vcf", str(f["vcf"]), "-o", str(work / "variants_iq.tsv")],
                        ("train_iq",)),
        "predict": (["predict", "-M", str(runs / "cnn"), "-r", str(f["peaks_K562"]), "-o", str(work / "predict.parquet")],
                    ("train_cnn",)),
    }


def run_stage(args: list[str], log: Path) -> dict:
    """One ``cisgram`` command in its own process: wall seconds, peak RSS (MB), exit status."""
    exe = Path(sys.executable).with_name("cisgram")
    t = time.perf_counter()
    with open(log, "wb") as fh:
        p = subprocess.Popen([str(exe), *args], stdout=fh, stderr=subprocess.STDOUT,
                             env={**os.environ, "COLUMNS": "120", "TERM": "dumb"})
        _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    out = {"seconds": time.perf_counter() - t, "peak_rss_mb": usage.ru_maxrss / 1024, "ok": p.returncode == 0}
    if not out["ok"]:
        out["error"] = log.read_text(errors="replace").strip().splitlines()[-3:]
    return out


def run_scale(scale: float, base: Path, names: list[str], seed: int) -> dict:
    work = base / f"scale_{scale:g}"
    t = time.perf_counter()
    f = build(work / "inputs", scale, seed=seed)
    res = {"scale": scale, "genome_bp": sum(f["sizes"].values()), "build_s": time.perf_counter() - t,
           "inputs": {k: v for k, v in f.items() if k.startswith("n_")}, "disk_mb": _du(work) / 1e6, "stages": {}}
    done: set[str] = set()
    for name, (cmd, needs) in stages(f, work).items():
        if name not in names:
            continue
        missing = [n for n in needs if n not in done]
        if missing:
            res["stages"][name] = {"ok": False, "skipped": f"needs {', '.join(missing)}"}
            continue
        r = run_stage(cmd, work / f"{name}.log")
        res["stages"][name] = r
        print(f"[1/{1 / scale:g}] {name}: {r['seconds']:.1f} s, {r['peak_rss_mb']:.0f} MB"
              + ("" if r["ok"] else f" FAILED: {r['error'][-1] if r['error'] else ''}"), file=sys.stderr, flush=True)
        if r["ok"]:
            done.add(name)
    return res


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def exponents(results: list[dict]) -> dict:
    """Per stage, log(time ratio) / log(size ratio) and the same for peak RSS between the two
    largest scales measured."""
    if len(results) < 2:
        return {}
    a, b = sorted(results, key=lambda r: r["scale"])[-2:]
    k = math.log(b["genome_bp"] / a["genome_bp"])
    out = {}
    for name, rb in b["stages"].items():
        ra = a["stages"].get(name, {})
        if rb.get("ok") and ra.get("ok"):
            out[name] = {"time": math.log(rb["seconds"] / ra["seconds"]) / k,
                         "rss": math.log(rb["peak_rss_mb"] / ra["peak_rss_mb"]) / k}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="1/64", help="comma-separated fractions of the genome, e.g. 1/64,1/16,1/4,1")
    ap.add_argument("--stages", default="all")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--quick", action="store_true", help="--scale 1/64")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not (CHR22 / "peaks").is_dir():
        sys.exit(f"genome_scale: needs the shared chr22 data ({CHR22})")
    scales = [float(Fraction(s)) for s in ("1/64" if args.quick else args.scale).split(",")]
    base = args.out or Path(tempfile.mkdtemp(prefix="cisgram-genome-scale-"))
    names = list(STAGES) if args.stages == "all" else args.stages.split(",")
    unknown = [n for n in names if n not in STAGES]
    if unknown:
        sys.exit(f"genome_scale: unknown stage(s) {', '.join(unknown)}; choose from {', '.join(STAGES)}")
    try:
        results = [run_scale(s, base, names, args.seed) for s in scales]
    finally:
        if args.out is None and not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    out = {"benchmark": "genome_scale", "scales": results, "exponents": exponents(results)}
    if args.out:
        (args.out / "genome_scale.json").write_text(json.dumps(out, indent=1))
    emit(out)


if __name__ == "__main__":
    main()
