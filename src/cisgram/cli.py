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
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from cisgram import __version__
from cisgram.errors import InputError

app = typer.Typer(
    name="cisgram",
    help="Learn the cis-regulatory code from DNA sequence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True)
out = Console(soft_wrap=True)  # sentences are not cut at 80 columns in pipes and logs


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
    from cisgram import summary

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
) -> None:
    """Run cisgram on the bundled real demo slice (hg38 chr22:19-29 Mb, K562 / GM12878 / MCF7)."""
    from cisgram.demo import run_demo

    with console.status("preparing the demo inputs…"):
        s = run_demo(out_dir, width=width, progress=lambda msg: console.print(f"[dim]{msg}[/]", highlight=False))
    table = Table(title="cisgram demo: bundled chr22:19-29 Mb slice")
    for col in ("condition", "peaks", "union regions with signal", "mean coverage / region", "train", "val", "test"):
        table.add_column(col, justify="right" if col != "condition" else "left")
    for c in s["conditions"]:
        table.add_row(
            c["name"], f"{c['peaks']:,}", f"{c['nonzero']:,}", f"{c['mean_coverage']:,.1f}",
            *(f"{s['split_counts'][k]:,}" for k in ("train", "val", "test")),
        )
    out.print(table)
    out.print(
        f"{s['n_regions']:,} union regions of {width} bp ({s['n_near_tss']:,} within 1 kb of a TSS), "
        f"{s['n_motifs']} motifs, {s['split']} split; outputs in {out_dir}/"
    )


def _table(rows: list[tuple], cols: list[str]) -> Table:
    t = Table()
    for c in cols:
        t.add_column(c, justify="left" if c == cols[0] else "right")
    for r in rows:
        t.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in r))
    return t


def main() -> None:
    """Entry point: run the app and turn input errors into a short message and exit status 2."""
    try:
        app()
    except InputError as e:
        console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
