"""The terminal side of the command line: the two consoles (progress on stderr, results on
stdout), a progress printer for the workflows, and rich tables."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
out = Console(soft_wrap=True)  # sentences are not cut at 80 columns in pipes and logs


def say(msg: str) -> None:
    """A workflow's progress line, dimmed, on stderr."""
    console.print(f"[dim]{msg}[/]", highlight=False)


def metrics_line(metrics: dict) -> str:
    """``target: test r …, R² … (n …)`` for every test target of a ``metrics.json``."""
    return "; ".join(f"{t}: test r {m['pearson']:.3f}, R² {m['pearson_r2']:.3f} (n {m['n']:,})"
                     for t, m in metrics.get("test", {}).items())


def table(rows: list[tuple], cols: list[str]) -> Table:
    """A rich table: the first column left-aligned, the others right-aligned, integers with commas."""
    t = Table()
    for c in cols:
        t.add_column(c, justify="left" if c == cols[0] else "right")
    for r in rows:
        t.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in r))
    return t
