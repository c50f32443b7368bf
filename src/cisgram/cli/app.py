"""The ``cisgram`` command line: one small function per subcommand, no logic of its own.

Every :class:`cisgram.errors.InputError` is printed in one or two lines without a traceback and
the process exits with status 2.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.logging import RichHandler
from rich.table import Table

from cisgram import __version__
from cisgram.cli.calibrate import calibrate
from cisgram.cli.console import console, out
from cisgram.cli.console import say as _say
from cisgram.cli.console import table as _table
from cisgram.cli.explain import explain_app, grammar_from_options
from cisgram.cli.structure import structure
from cisgram.cli.tracks import tracks_app
from cisgram.cli.train import ResumeOption, pretrain_app, train_app
from cisgram.errors import InputError

app = typer.Typer(
    name="cisgram",
    help="Learn the cis-regulatory code from DNA sequence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(train_app, name="train")
app.add_typer(pretrain_app, name="pretrain")
app.add_typer(explain_app, name="explain")
app.add_typer(tracks_app, name="tracks")


def _version(value: bool) -> None:
    if value:
        out.print(f"cisgram {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
    )


@app.command()
def info(
    genome: Annotated[Path, typer.Option("--genome", "-g", help="FASTA (plain/bgzip) or 2bit genome.")],
    regions: Annotated[
        list[Path] | None, typer.Option("--regions", "-r", help="BED or narrowPeak file(s) to check against the genome.")
    ] = None,
    motifs: Annotated[
        list[str] | None, typer.Option("--motifs", "-m", help="MEME file or jaspar: address (e.g. jaspar:2024/CORE/vertebrates).")
    ] = None,
) -> None:
    """Validate inputs against the genome and print a summary: the first thing to run on your files."""
    from cisgram.workflows import info as summary

    g = summary.genome_summary(genome)
    out.print(f"[bold]genome[/] {genome}", highlight=False)
    out.print(_table(g["table"], ["chromosome", "length (bp)"]))
    out.print(f"{g['n_chroms']} sequence(s), {g['total_bp']:,} bp, format {g['format']}")
    for path in regions or []:
        r = summary.regions_summary(path, g["genome"])
        out.print(f"[bold]regions[/] {path}", highlight=False)
        out.print(_table(r["table"], ["chromosome", "regions"]))
        w = r["widths"]
        out.print(
            f"{r['n']:,} regions ({r['kind']}) on {r['n_chroms']} chromosome(s); width min {w['min']:,} / "
            f"median {w['median']:,} / mean {w['mean']:,.0f} / max {w['max']:,} bp; all inside the genome"
        )
    for spec in motifs or []:
        m = summary.motifs_summary(spec)
        out.print(f"motifs {spec}: {m['n']} motifs, width {m['min_width']}-{m['max_width']} (median {m['median_width']})")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory for the demo's outputs.")] = Path("demo"),
    width: Annotated[int, typer.Option(help="Region width (bp) around peak summits.")] = 500,
    quick: Annotated[bool, typer.Option(help="Minimal epochs and motifs: every step and file, rougher models (about a minute).")] = False,
    stop_after: Annotated[str | None, typer.Option(help="End the chain after this step: prepare, scan, iq, cnn, baseline, get_data, get, explain_get, compare, variants, report.")] = None,
    threads: Annotated[int | None, typer.Option(help="Torch threads (default: torch's own; GET always uses one).")] = None,
) -> None:
    """Run the whole chain on the bundled real demo slice (hg38 chr22:19-29 Mb, K562 / GM12878 / MCF7): prepare, scan, train iq / cnn / baseline / get, explain get, compare, variants, one report.html."""
    from rich.markup import escape

    from cisgram.workflows.demo import run_demo

    def say(msg: str) -> None:
        console.print(f"[bold]{escape(msg)}[/]" if msg.startswith("[") else f"[dim]{escape(msg)}[/]", highlight=False)

    with console.status("running the demo chain…"):
        s = run_demo(out_dir, width=width, quick=quick, stop_after=stop_after, threads=threads, progress=say).summary
    table = Table(title="cisgram demo: bundled chr22:19-29 Mb slice")
    for col in ("condition", "peaks", "regions with signal", "mean coverage", "mean access prob."):
        table.add_column(col, justify="right" if col != "condition" else "left")
    for c in s["conditions"]:
        table.add_row(c["name"], f"{c['peaks']:,}", f"{c['nonzero']:,}", f"{c['mean_coverage']:,.1f}", f"{c['mean_access']:.3f}")
    out.print(table)
    sc = s["split_counts"]
    out.print(
        f"{s['n_regions']:,} union regions of {width} bp ({s['n_near_tss']:,} within 1 kb of a TSS, "
        f"{s['n_constitutive']:,} constitutive); {s['split']} split: train {sc['train']:,} / val {sc['val']:,} / "
        f"test {sc['test']:,}; {s['n_motifs']} motifs."
    )
    steps = Table()
    for col, just in (("step", "left"), ("seconds", "right"), ("outcome", "left")):
        steps.add_column(col, justify=just)
    for st in s["steps"]:
        steps.add_row(st["name"], f"{st['seconds']:.1f}", st["note"])
    out.print(steps)
    if "compare" in s:
        c = s["compare"]
        rows = [(m["name"], f"{m['pearson']:.3f}", "" if not m["pearson_ci"] else f"[{m['pearson_ci'][0]:.3f}, {m['pearson_ci'][1]:.3f}]")
                for m in c["models"]]
        out.print(f"{c['target']} AP, {c['entries']['test']:,} test regions (reference {c['reference']}):")
        out.print(_table(rows, ["model", "test r", "95 % CI"]))
    mode = " (quick mode)" if s["quick"] else ""
    where = f"report {out_dir}/report.html" if "report" in s["seconds"] else f"outputs in {out_dir}/"
    out.print(f"{len(s['steps'])} step(s) in {s['seconds_total']:.0f} s{mode}; {where}; numbers in {out_dir}/summary.json")


@app.command()
def prepare(
    genome: Annotated[Path, typer.Option("--genome", "-g", help="FASTA (plain/bgzip) or 2bit genome.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Dataset to write (.h5ad); split.json and prepare_report.html go beside it.")],
    peaks: Annotated[list[Path] | None, typer.Option("--peaks", "-p", help="Peak file(s), one per condition or a consensus set.")] = None,
    tracks: Annotated[
        list[str] | None, typer.Option("--tracks", "-t", help="NAME=PATH (bigWig or fragments) or NAME=PATH:BC1,BC2 (barcode pseudo-bulk).")
    ] = None,
    counts: Annotated[Path | None, typer.Option(help="A ready region x condition count table (chrom, start, end, conditions…) instead of tracks.")] = None,
    width: Annotated[int, typer.Option(help="Region width (bp) around summits.")] = 500,
    split: Annotated[str, typer.Option(help="auto | chroms | chroms:TEST\\[/VAL] | blocks[:SIZE].")] = "auto",
    tss: Annotated[Path | None, typer.Option(help="TSS BED or GTF: adds distance to the nearest TSS.")] = None,
    constitutive: Annotated[Path | None, typer.Option(help="BED of constitutive peaks (instead of the threshold rule).")] = None,
    window: Annotated[int, typer.Option(help="Punctured window (bp) of the regional correction.")] = 20_000,
    const_threshold: Annotated[float, typer.Option(help="log2 threshold of constitutive peaks in every condition.")] = -16.0,
    exclude_chroms: Annotated[str, typer.Option(help="Comma-separated chromosomes to leave out.")] = "chrM,MT,M",
    seed: Annotated[int, typer.Option(help="Seed of the split.")] = 0,
    report: Annotated[bool, typer.Option(help="Write prepare_report.html beside the dataset.")] = True,
) -> None:
    """Build a dataset: union regions x conditions with counts, access probability and log CPM."""
    from cisgram.data.dataset import prepare as build
    from cisgram.report.prepare import prepare_report

    with console.status("preparing the dataset…"):
        adata = build(
            genome, peaks or [], tracks or [], counts=counts, width=width, split=split, tss=tss,
            constitutive=constitutive, window=window, const_threshold=const_threshold,
            exclude_chroms=[c for c in exclude_chroms.split(",") if c], seed=seed, out=out_path,
            progress=_say,
        )
        if report:
            prepare_report(adata, out_path.parent / "prepare_report.html")
    split_counts = adata.var["split"].value_counts()
    const = adata.var["constitutive"].to_numpy(dtype=bool)
    out.print(
        f"{adata.n_vars:,} regions x {adata.n_obs} conditions ({', '.join(adata.obs_names)}); "
        f"split {' / '.join(f'{k} {int(split_counts.get(k, 0)):,}' for k in ('train', 'val', 'test'))}; "
        f"constitutive {const.sum():,} ({const.mean():.1%}); wrote {out_path}"
    )


@app.command()
def scan(
    genome: Annotated[Path, typer.Option("--genome", "-g", help="FASTA (plain/bgzip) or 2bit genome.")],
    regions: Annotated[Path, typer.Option("--regions", "-r", help="BED / narrowPeak, or a dataset .h5ad from `cisgram prepare`.")],
    motifs: Annotated[str, typer.Option("--motifs", "-m", help="MEME file or jaspar: address.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="features.parquet (region x feature:motif), or .h5ad to add them to the dataset.")],
    features: Annotated[str, typer.Option(help="Comma-separated: max, count, energy, energy_bins, hit_score_sum.")] = "max,count,energy",
    hits: Annotated[Path | None, typer.Option(help="Also write every hit (p < threshold) to this TSV.")] = None,
    width: Annotated[int | None, typer.Option(help="Recentre regions (summit or centre) to this width; needed when widths differ.")] = None,
    threshold: Annotated[float, typer.Option(help="Hit p-value threshold (count, hit_score_sum, hits).")] = 1e-4,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda[:N]")] = "auto",
    batch_size: Annotated[int, typer.Option(help="Regions per batch.")] = 1000,
    energy_norm: Annotated[Path | None, typer.Option(help="Energy normalisation JSON of an earlier run (default: fit on training regions).")] = None,
    clusters: Annotated[Path | None, typer.Option(help="TSV motif<TAB>cluster: hit_score_sum per motif cluster.")] = None,
    bins: Annotated[str, typer.Option(help="Energy bins: central (11 x 40 bp over the central 440 bp, IceQream's window) | whole (40 bp bins over the whole region) | N:SIZE.")] = "central",
) -> None:
    """Scan regions for motifs: per-region max score, hit count, IceQream energy, and hits."""
    from rich.progress import Progress

    from cisgram.data.regionmotif import scan_regions

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("scanning", total=None)
        s = scan_regions(
            genome, regions, motifs, out_path, features=[f.strip() for f in features.split(",") if f.strip()],
            hits_out=hits, width=width, threshold=threshold, device=device, batch_size=batch_size,
            energy_norm=energy_norm, clusters=clusters, bins=bins, progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    hit_text = f"; {s['n_hits']:,} hits" if s["n_hits"] is not None else ""
    out.print(f"{s['n_regions']:,} regions of {s['width']} bp x {s['n_motifs']} motifs: {', '.join(s['features'])}"
              f"{hit_text}; wrote {', '.join(s['outputs'])}")


@app.command("get-data")
def get_data(
    dataset: Annotated[Path, typer.Option("--dataset", "-d", help="Dataset .h5ad from `cisgram prepare` (regions, split, log CPM).")],
    genome: Annotated[Path, typer.Option("--genome", "-g", help="FASTA (plain/bgzip) or 2bit genome.")],
    tss: Annotated[Path, typer.Option(help="TSS annotation: BED6 or GTF.")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Region-by-motif data to write (.npz).")],
    motifs: Annotated[str | None, typer.Option("--motifs", "-m", help="MEME file or jaspar: address, e.g. the Vierstra archetypes (default: the dataset's stored `cisgram scan` hit_score_sum).")] = None,
    initiation: Annotated[list[str] | None, typer.Option(help="CELL=PLUS.bw,MINUS.bw transcription-initiation tracks, once per cell type (none: pre-training data only).")] = None,
    tss_window: Annotated[int, typer.Option(help="A TSS belongs to a region within this many bp; its signal is summed over +-this.")] = 300,
    accessibility: Annotated[str, typer.Option(help="Accessibility column: logcpm | binary | ones.")] = "logcpm",
    clusters: Annotated[Path | None, typer.Option(help="TSV motif<TAB>cluster: one column per motif cluster.")] = None,
    device: Annotated[str, typer.Option(help="Scanning device: auto | cpu | cuda[:N].")] = "cpu",
) -> None:
    """GET's region-by-motif data: motif hit-score sums (max-scaled on training regions), an accessibility column and per-strand expression targets at TSS regions."""
    from rich.progress import Progress

    from cisgram.data.get_data import region_motif_data

    if not out_path.name.endswith(".npz"):
        raise InputError(f"region-motif data are written as .npz, got {out_path.name}", hint="name the file *.npz")
    tracks = {}
    for text in initiation or []:
        cell, _, pair = text.partition("=")
        files = pair.split(",")
        if not cell or len(files) != 2 or not all(files):
            raise InputError(f"--initiation must be CELL=PLUS.bw,MINUS.bw, got {text!r}")
        tracks[cell] = (files[0], files[1])
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("scanning", total=None)
        data = region_motif_data(dataset, genome, motifs, tss, tracks or None, tss_window=tss_window,
                                 accessibility=accessibility, clusters=clusters, device=device,
                                 progress=lambda done, total: bar.update(task, completed=done, total=total))
    data.write(out_path)
    s = data.summary()
    out.print(f"{s['n_regions']:,} regions x {s['n_features']} features ({s['n_motifs']} motifs + accessibility), "
              f"cell types {', '.join(s['cell_types'])}; TSS regions + {s['tss_regions']['+']:,} / - "
              f"{s['tss_regions']['-']:,}; wrote {out_path}")

@app.command()
def tfbind(
    genome: Annotated[Path, typer.Option("--genome", "-g", help="FASTA (plain/bgzip) or 2bit genome.")],
    motif: Annotated[str, typer.Option("--motif", "-m", help="The TF's motif: JASPAR ID (MA0139, MA0139.2), a one-motif MEME file, or FILE.meme#NAME.")],
    chip: Annotated[Path, typer.Option("--chip", help="The TF's ChIP-seq peaks (BED / narrowPeak).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")],
    accessible: Annotated[Path | None, typer.Option(help="Accessibility peaks of the same cell type (for --negatives open / open-negatives).")] = None,
    negatives: Annotated[str, typer.Option(help="Negative sets to compare, comma-separated: standard (AgentBind's: unbound instances matched to the bound in motif p-value bins; a bin short of unbound ones keeps only the bound it balances), gc (GC-matched; a GC bin short of unbound ones gives all it has, so the set can fall short of --ratio: logged, n_short in the run), genomic (every unbound instance), open (bound and unbound both inside --accessible peaks), open-negatives (only the unbound inside them).")] = "standard",
    window: Annotated[int, typer.Option(help="Context window around each motif instance, bp.")] = 1000,
    split: Annotated[str, typer.Option(help="Hold-out: auto | chroms[:TEST/VAL] | blocks:1Mb | a split.json (e.g. a dataset's).")] = "auto",
    chroms: Annotated[str | None, typer.Option(help="Only these chromosomes, comma-separated.")] = None,
    init: Annotated[Path | None, typer.Option(help="Start the CNN from this `cisgram train cnn` run (deepsea, same --window; give its --split too).")] = None,
    threshold: Annotated[float, typer.Option(help="P-value threshold of motif instances.")] = 1e-4,
    summit_distance: Annotated[int | None, typer.Option(help="Bound only within ± this many bp of a peak summit.")] = None,
    ratio: Annotated[float | None, typer.Option(help="Negatives per bound instance (default: all; standard, gc: 1 per bin).")] = None,
    pvalue_bin: Annotated[float, typer.Option(help="Width of the standard set's bins in -log10 motif p-value (AgentBind's 0.1).")] = 0.1,
    database: Annotated[str, typer.Option(help="Motifs of the context baseline (MEME file or jaspar: address; 'none' to skip).")] = "jaspar:2024/CORE/vertebrates",
    max_epochs: Annotated[int, typer.Option(help="At most this many epochs per CNN (the epoch of the best validation auROC is kept; a network stuck at a constant output after its first epoch is started again from another seed, at most twice).")] = 40,
    patience: Annotated[int, typer.Option(help="Early-stopping patience.")] = 8,
    lr: Annotated[float, typer.Option(help="Adam learning rate of the CNN.")] = 3e-3,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    train_fraction: Annotated[float, typer.Option(help="Train on this share of the training examples of each class (a learning curve); validation and test unchanged.")] = 1.0,
    arch: Annotated[str, typer.Option(help="The CNN: deepsea (DeepSEA-style, batch-normalised) | danq (conv + max-pool + BiLSTM + dense, Quang & Xie 2016's sizes).")] = "deepsea",
    core: Annotated[str, typer.Option(help="kept | kept,blocked: also train, per negative set, a CNN whose windows hold N over the core motif (AgentBind's blocked condition), reported as model cnn-blocked.")] = "kept",
    seeds: Annotated[int | None, typer.Option(help="Networks per CNN from different seeds, their predictions averaged (default: 3 for a set with fewer than 300 bound training instances, else 1).")] = None,
    patterns: Annotated[bool, typer.Option("--patterns", help="Also find what each network learns: TF-MoDISco patterns of DeepLIFT contributions on the bound test windows, named by TOMTOM against --database (or JASPAR) and classed; `cisgram tfbind-patterns RUN` does it for a finished run.")] = False,
    resume: ResumeOption = False,
) -> None:
    """Does the context around a motif tell bound from unbound instances? CNN and baselines per negative set (AgentBind-style)."""
    from cisgram.report.tfbind import tfbind_report
    from cisgram.training import TrainConfig
    from cisgram.workflows.tfbind import run_tfbind

    cfg = TrainConfig(task="classification", max_epochs=max_epochs, patience=patience, lr=lr, seed=seed, progress=True)
    result = run_tfbind(genome, motif, chip, out_dir, accessible=accessible,
                        negatives=[s.strip() for s in negatives.split(",") if s.strip()], window=window, split=split,
                        chroms=chroms.split(",") if chroms else None, threshold=threshold,
                        summit_distance=summit_distance, ratio=ratio, pvalue_bin=pvalue_bin,
                        database=None if database.lower() == "none" else database, config=cfg, init=init,
                        train_fraction=train_fraction, arch=arch,
                        core=[c.strip() for c in core.split(",") if c.strip()], seeds=seeds, progress=_say,
                        resume=resume)
    if patterns:
        from cisgram.workflows.tfbind_patterns import tfbind_patterns as find_patterns

        find_patterns(out_dir, database=None if database.lower() == "none" else database, progress=_say)
    tfbind_report(out_dir / "report.html", result)
    for key, m in result.metrics["test"].items():
        out.print(f"{key}: test auROC {m['auroc']:.3f}, auPRC {m['auprc']:.3f}")
    out.print(f"wrote {out_dir}")


@app.command()
def simulate(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory to write: sequences.fa, labels.tsv, sites.tsv, motifs.meme, simulation.json.")],
    grammar: Annotated[str, typer.Option(help="Built-in grammar: ctcf | gata_tal1 (ignored with --required).")] = "ctcf",
    required: Annotated[str | None, typer.Option(help="Your own grammar: motifs a positive needs, comma-separated JASPAR IDs.")] = None,
    gap: Annotated[str | None, typer.Option(help="With --required: the required motifs form one composite, consecutive sites LO-HI bp apart.")] = None,
    partial: Annotated[float, typer.Option(help="With --required: fraction of negatives carrying only some required motifs.")] = 0.0,
    decoys: Annotated[str, typer.Option(help="With --required: decoy motifs planted in both classes, comma-separated.")] = "",
    decoy_rate: Annotated[float, typer.Option(help="With --required: probability of each decoy per sequence.")] = 0.5,
    n: Annotated[int, typer.Option(help="Sequences.")] = 5000,
    length: Annotated[int, typer.Option(help="Sequence length, bp.")] = 500,
    fraction: Annotated[float, typer.Option(help="Fraction of positives.")] = 0.5,
    gc: Annotated[float, typer.Option(help="Background G+C content.")] = 0.41,
    database: Annotated[Path | None, typer.Option(help="MEME file to take the motifs from (default: JASPAR through pyjaspar).")] = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
) -> None:
    """Random sequences with JASPAR motifs planted under a grammar, with the ground truth (for `cisgram explain benchmark`)."""
    from cisgram.data import simulate as sim

    g = grammar_from_options(grammar, required, gap, partial, decoys, decoy_rate)
    with console.status("simulating…"):
        s = sim.simulate(g, sim.grammar_motifs(g, database), n=n, length=length, fraction=fraction, gc=gc, seed=seed)
        sim.write_simulation(s, out_dir)
    out.print(f"{n:,} sequences ({int(s.label.sum()):,} positive), {len(s.sites):,} planted sites; wrote {out_dir}")

@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (`cisgram train …`) on one dataset and split.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory to write: comparison.json / .tsv, predictions.parquet, report.html.")],
    ensembles: Annotated[str, typer.Option(help="Comma-separated: mean, stacked ('none' for none).")] = "mean,stacked",
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples of the test regions.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
) -> None:
    """Side by side on the shared test regions, with ensembles fitted on validation and bootstrap 95 % intervals."""
    import numpy as np

    from cisgram.report.compare import compare_report
    from cisgram.workflows.compare import compare_runs, comparison_table

    chosen = () if ensembles.strip().lower() == "none" else tuple(e.strip() for e in ensembles.split(",") if e.strip())
    result = compare_runs(runs, out_dir, ensembles=chosen, n_boot=n_boot, seed=seed, progress=_say)
    compare_report(out_dir / "report.html", result)
    table = comparison_table(result.comparison)
    rows = []
    for r in table.itertuples(index=False):
        ci = "" if r.pearson_diff is None or not np.isfinite(r.pearson_diff) else (
            f"{r.pearson_diff:+.3f} [{r.pearson_diff_low:+.3f}, {r.pearson_diff_high:+.3f}]")
        rows.append((r.target, r.model, f"{r.pearson:.3f}", f"{r.r2:.3f}", ci))
    out.print(_table(rows, ["target", "model", "test r", "R²", "r − reference (95 % CI)"]))
    out.print(f"wrote {out_dir}")


def _tfbind_variants(model: Path, out_path: Path, vcf: Path | None, core_snvs: bool, flank: int | None,
                     windows: str | None, scale: str | None, genome: Path | None, device: str, refused: dict) -> None:
    """``cisgram variants`` for a tfbind run: --core-snvs writes the VCF, --vcf scores it with every network."""
    from cisgram.report.variants import tfbind_variants_report
    from cisgram.workflows import variants_tfbind as vt

    given = [name for name, v in refused.items() if v not in (None, False)]
    if given:
        raise InputError(f"{', '.join(given)} cannot be used with a tfbind run", path=model,
                         hint="a tfbind run is scored in its own windows (--vcf) or gives its core SNVs (--core-snvs)")
    if (vcf is None) == (not core_snvs):
        raise InputError("give either --vcf or --core-snvs for a tfbind run")
    if core_snvs:
        if scale is not None:
            raise InputError("--scale applies to scoring (--vcf), not to --core-snvs")
        rec = vt.core_snvs(model, out_path, flank=50 if flank is None else flank, windows=windows or "test",
                           genome=genome)
        out.print(f"{len(rec):,} SNVs at {len(rec) // 3:,} positions; wrote {out_path}")
        return
    if flank is not None:
        raise InputError("--flank applies to --core-snvs, not to scoring")
    with console.status("scoring variants with every network of the run…"):
        res = vt.score_tfbind_variants(model, vcf, out_path, windows=windows or "test", scale=scale or "logit",
                                       genome=genome, device=device)
    page = vt.side_file(out_path, "concordance.html")
    tfbind_variants_report(page, res)
    by = {(a, b, s_): (r, o) for a, b, s_, r, o in res.concordance[["a", "b", "subset", "spearman", "top_shared"]]
          .itertuples(index=False)}
    rows = [(a, b, *[f"{v:.3f}" for s_ in ("all", "outside_core") for v in by[(a, b, s_)]])
            for i, a in enumerate(res.keys) for b in res.keys[i + 1:]]
    out.print(_table(rows, ["network a", "network b", "ρ", "top 1 %", "ρ outside core", "top 1 % outside"]))
    extra = f"; {res.problems:,} record(s) not scored, listed in {vt.side_file(out_path, 'problems.tsv')}" if res.problems else ""
    out.print(f"{len(res.table):,} (variant, window) rows × {len(res.keys)} networks, Δ on the {res.scale} scale; wrote "
              f"{out_path}, {res.concordance_path} and {page}{extra}")


@app.command()
def variants(
    model: Annotated[Path, typer.Option("--model", "-M", help="A `cisgram train iq|cnn|chrombpnet` run (or get, --vcf only; or tfbind, --vcf or --core-snvs).")],
    out_path: Annotated[Path, typer.Option("--out", "-o", help="Scores (.tsv) for --vcf; a directory for --saturate; the VCF for --core-snvs.")],
    vcf: Annotated[Path | None, typer.Option(help="VCF (plain or .gz) of SNVs and short indels.")] = None,
    saturate: Annotated[str | None, typer.Option(help="Score every SNV of this region (chrom:start-end, 0-based half-open, at most the model's width).")] = None,
    window: Annotated[int | None, typer.Option(help="Window width (bp); must be the model's input width.")] = None,
    genome: Annotated[Path | None, typer.Option(help="Genome (default: the one the model was trained on).")] = None,
    attribution: Annotated[bool, typer.Option(help="Also input x gradient over the REF bases (CNN and ChromBPNet runs).")] = False,
    part: Annotated[str | None, typer.Option("--part", help="ChromBPNet runs: bias_free (default: the accessibility model alone, as chrombpnet scores variants) or full (with the Tn5 bias model).")] = None,
    target: Annotated[str | None, typer.Option("--target", "-T", help="Target drawn in the saturation map (default: the first).")] = None,
    core_snvs: Annotated[bool, typer.Option("--core-snvs", help="tfbind runs: write every SNV (3 per position) over the core motif sites of the run's bound windows ± --flank bp to --out (a VCF), for --vcf.")] = False,
    flank: Annotated[int | None, typer.Option(help="tfbind runs, --core-snvs: bp on each side of the core site (default 50).")] = None,
    windows: Annotated[str | None, typer.Option(help="tfbind runs: test (the held-out windows, default) | all: the windows variants are scored in, and whose bound sites --core-snvs covers.")] = None,
    scale: Annotated[str | None, typer.Option(help="tfbind runs: logit (default) | probability: the scale of Δ of the strand-averaged prediction.")] = None,
    device: Annotated[str, typer.Option(help="cpu | cuda | auto.")] = "cpu",
) -> None:
    """Reference vs alternative predictions of variants (--vcf), or saturation mutagenesis of a region (--saturate).

    A tfbind run is scored by every network (negative set, core kept or blocked) in the run's own windows, with the
    concordance between them beside the scores (<out>.concordance.tsv and .html); --core-snvs writes the SNVs
    around its bound sites."""
    from cisgram.report.variants import saturation_report
    from cisgram.vcf import problems_path
    from cisgram.workflows import variants as v
    from cisgram.workflows.variants_tfbind import is_tfbind

    if is_tfbind(model):
        _tfbind_variants(model, out_path, vcf, core_snvs, flank, windows, scale, genome, device,
                         {"--saturate": saturate, "--window": window, "--attribution": attribution, "--part": part,
                          "--target": target})
        return
    tfbind_only = [n for n, x in (("--core-snvs", core_snvs), ("--flank", flank), ("--windows", windows),
                                  ("--scale", scale)) if x not in (None, False)]
    if tfbind_only:
        raise InputError(f"{', '.join(tfbind_only)} apply to tfbind runs only", path=model)
    if (vcf is None) == (saturate is None):
        raise InputError("give either --vcf or --saturate REGION")
    if saturate is not None:
        result = v.saturate(model, saturate, out_path, genome=genome, target=target, part=part)
        saturation_report(out_path, result)
        blind = (f"; the model cannot see this window for {', '.join(result.unresponsive)} (every Δ is 0)"
                 if result.unresponsive else "")
        out.print(f"{len(result.table):,} substitutions scored{blind}; wrote {out_path}/saturation.tsv and report.html")
        return
    res = v.write_variant_scores(model, vcf, out_path, window=window, genome=genome, attribution=attribution,
                                 device=device, part=part)
    problems = problems_path(out_path)
    extra = f"; {sum(1 for _ in open(problems)) - 1:,} line(s) not scored, listed in {problems}" if problems.is_file() else ""
    flags = ""
    if res.unresponsive is not None:  # IQ and CNN runs (GET rows are not tested)
        seen = ("split unknown (the run names no dataset)" if res.in_training is None
                else f"{res.in_training:,} in training regions (the model saw their sequence)")
        flags = f"; {res.unresponsive:,} unresponsive (Δ = 0 because the model cannot see the window); {seen}"
    out.print(f"{res.n:,} variant allele(s) scored{flags}; wrote {out_path}{extra}")


@app.command()
def predict(
    model: Annotated[Path, typer.Option("--model", "-M", help="Run directory from `cisgram train`.")],
    regions: Annotated[Path, typer.Option("--regions", "-r", help="BED or narrowPeak file; each region is recentred to the model's input width.")],
    out_path: Annotated[Path | None, typer.Option("--out", "-o", help="Parquet table to write: region, then one column per target.")] = None,
    genome: Annotated[Path | None, typer.Option(help="Genome (default: the one the model was trained on).")] = None,
    bigwig: Annotated[Path | None, typer.Option("--bigwig", help="ChromBPNet runs: bigWig of the predicted profile (softmax x predicted total) over each region's output window; overlaps written once, from the window starting first.")] = None,
    bias_free: Annotated[bool, typer.Option("--bias-free", help="ChromBPNet runs: predict with the accessibility model alone (Tn5 bias removed).")] = False,
) -> None:
    """Predict every target of a trained model on new regions (--out), or a ChromBPNet run's base-resolution profile (--bigwig)."""
    from cisgram.workflows.predict import predict_bigwig, predict_regions

    if out_path is None and bigwig is None:
        raise InputError("nothing to write", hint="give --out (a parquet table) and/or --bigwig (chrombpnet runs)")
    with console.status("predicting…"):
        if out_path is not None:
            table = predict_regions(model, regions, out_path, genome=genome, bias_free=bias_free)
            out.print(f"{len(table):,} regions × {table.shape[1] - 1} target(s); wrote {out_path}")
        if bigwig is not None:
            track = predict_bigwig(model, regions, bigwig, genome=genome, bias_free=bias_free)
            out.print(f"{track.regions:,} regions, {track.bases:,} bases of {'bias-free ' if bias_free else ''}"
                      f"predicted profile; wrote {bigwig}")


app.command()(calibrate)
app.command()(structure)  # after the dataset and model commands in --help
from cisgram.cli.tfbind import tfbind_patterns  # noqa: E402  (cisgram tfbind-patterns, after tfbind's helpers)

app.command("tfbind-patterns")(tfbind_patterns)


def main() -> None:
    """Entry point: run the app and turn input errors into a short message and exit status 2."""
    try:
        app()
    except InputError as e:
        console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
