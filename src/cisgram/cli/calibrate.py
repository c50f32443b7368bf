"""``cisgram calibrate``: a ChromBPNet run's log counts on a dataset's AP / dAP target."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cisgram.cli.console import out, say


def calibrate(
    runs: Annotated[list[Path], typer.Argument(help="ChromBPNet run directory (`cisgram train chrombpnet`); for a dAP target (--vs) a second run, the vs condition's.")],
    dataset: Annotated[Path, typer.Option("--dataset", "-d", help="Dataset from `cisgram prepare` (its regions, targets and split).")],
    target: Annotated[str, typer.Option("--target", "-T", help="The dataset condition the (first) run's track measures.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write (family 'calibrated'), for `cisgram compare`.")],
    vs: Annotated[str | None, typer.Option(help="dAP target: TARGET − VS on distal regions; give the VS condition's run second.")] = None,
    bias_free: Annotated[bool, typer.Option("--bias-free", help="Predict with the accessibility model alone (default: the full model, fitted to the observed counts).")] = False,
    genome: Annotated[Path | None, typer.Option(help="Genome (default: the dataset's).")] = None,
) -> None:
    """Map a ChromBPNet run's predicted log counts onto a dataset's AP (or dAP) target, fitted on validation regions only."""
    from cisgram.errors import InputError
    from cisgram.workflows.calibrate import calibrate_counts

    if len(runs) not in (1, 2) or (len(runs) == 2) != (vs is not None):
        raise InputError(f"give one ChromBPNet run, or two with --vs (got {len(runs)} run(s)"
                         f"{' and --vs ' + vs if vs else ''})")
    result = calibrate_counts(runs[0], dataset, target, out_dir, vs=vs, vs_run=runs[1] if vs else None,
                              bias_free=bias_free, genome=genome, progress=say)
    cal = result.metrics["calibration"]
    name = result.config["target_name"]
    terms = " + ".join(f"{c:.3f}·{n}" for c, n in zip(cal["slopes"], cal["inputs"], strict=True))
    out.print(f"{name} ≈ {cal['intercept']:.3f} + {terms} (fitted on {cal['n_val']} validation regions)")
    for split in ("val", "test"):
        m = result.metrics.get(split, {}).get(name, {})
        if m:
            out.print(f"{split}: Pearson r {m['pearson']:.3f}, R² {m['r2']:.3f}, n {m['n']}")
    out.print(f"wrote {out_dir}")
