"""Bundled real data: the demo slice (hg38 chr22:19-29 Mb, three cell lines).

``demo()`` returns the paths of the files shipped inside the package (see
``demodata/SOURCES.md`` for their origin and licences). This is what ``cisgram demo`` and the
tests use when the full shared data are absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

CELL_LINES = ("K562", "GM12878", "MCF7")


@dataclass(frozen=True)
class DemoData:
    """Paths of the bundled demo slice. ``region`` is ``(chrom, start, end)`` of the slice."""

    root: Path
    genome: Path
    chrom_sizes: Path
    accessibility: dict[str, Path]
    peaks: dict[str, Path]
    initiation_plus: dict[str, Path]
    initiation_minus: dict[str, Path]
    genes_tss: Path
    transcripts_tss: Path
    ctcf_chip: dict[str, Path]
    motifs: Path
    sources: Path
    region: tuple[str, int, int] = ("chr22", 19_000_000, 29_000_000)


def demo() -> DemoData:
    """Paths of the bundled demo slice; every path exists in an installed cisgram."""
    root = Path(str(resources.files("cisgram") / "demodata"))
    return DemoData(
        root=root,
        genome=root / "genome" / "chr22_demo.fa.gz",
        chrom_sizes=root / "genome" / "chr22_demo.chrom.sizes",
        accessibility={c: root / "accessibility" / f"{c}.bw" for c in CELL_LINES},
        peaks={c: root / "peaks" / f"{c}.narrowPeak" for c in CELL_LINES},
        initiation_plus={c: root / "transcription_initiation" / f"{c}.pl.bw" for c in CELL_LINES},
        initiation_minus={c: root / "transcription_initiation" / f"{c}.mn.bw" for c in CELL_LINES},
        genes_tss=root / "annotation" / "genes_tss.bed",
        transcripts_tss=root / "annotation" / "transcripts_tss.bed",
        ctcf_chip={
            "ENCODE": root / "tf_chip" / "CTCF.ENCSR000AKO.narrowPeak",
            "K562": root / "tf_chip" / "K562.CTCF.narrowPeak",
            "MCF7": root / "tf_chip" / "MCF7.CTCF.narrowPeak",
        },
        motifs=root / "motifs" / "jaspar2024_demo.meme",
        sources=root / "SOURCES.md",
    )
