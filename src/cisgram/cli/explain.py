"""``cisgram explain``, ``explain benchmark``, ``explain get`` and ``cisgram simulate``'s grammar
options: parse, call the workflow, render its report, print."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cisgram.cli.console import out
from cisgram.cli.console import say as _say
from cisgram.cli.console import table as _table
from cisgram.errors import InputError


def grammar_from_options(name: str, required: str | None, gap: str | None, partial: float, decoys: str, decoy_rate: float):
    from cisgram.data.simulate import GRAMMARS, Grammar

    if required is None:
        if name not in GRAMMARS:
            raise InputError(f"unknown grammar {name!r}", hint=f"choose one of {', '.join(GRAMMARS)} or give --required")
        return GRAMMARS[name]
    lo_hi = None
    if gap:
        try:
            lo, hi = (int(v) for v in gap.split("-"))
        except ValueError:
            raise InputError(f"--gap must be LO-HI in bp, e.g. 7-9, got {gap!r}") from None
        lo_hi = (lo, hi)
    split = [m.strip() for m in required.split(",") if m.strip()]
    try:
        return Grammar("custom", tuple(split), lo_hi, partial, tuple(d.strip() for d in decoys.split(",") if d.strip()),
                       decoy_rate, f"custom: {required}")
    except ValueError as e:
        raise InputError(f"grammar: {e}") from None


explain_app = typer.Typer(help="Explain a trained CNN or ChromBPNet (attributions, motif discovery), a GET run (`explain get`), or benchmark the methods on a simulation.")


def _methods(text: str) -> list[str]:
    return [m.strip() for m in text.split(",") if m.strip()]


@explain_app.callback(invoke_without_command=True)
def explain(
    ctx: typer.Context,
    model: Annotated[Path | None, typer.Option("--model", "-M", help="A `cisgram train cnn` or `cisgram train chrombpnet` run (or a tfbind strategy's directory).")] = None,
    regions: Annotated[Path | None, typer.Option("--regions", "-r", help="BED / narrowPeak; each region is recentred to the model's width.")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Directory to write: attributions.npz, report.html (and patterns with --discover).")] = None,
    method: Annotated[str, typer.Option(help="Methods, comma-separated: ism, saliency, input_x_gradient, integrated_gradients, deeplift, gradcam, gradcam_saliency.")] = "deeplift",
    target: Annotated[str | None, typer.Option("--target", "-T", help="Output to explain (default: the first). ChromBPNet runs: counts (the predicted log count, default) or profile (softmax-weighted mean-normalised profile logits).")] = None,
    part: Annotated[str | None, typer.Option("--part", help="ChromBPNet runs: bias_free (default: the accessibility model alone, as chrombpnet explains), full (with the Tn5 bias) or bias (the bias model alone).")] = None,
    discover: Annotated[bool, typer.Option(help="TF-MoDISco on DeepLIFT's hypothetical contributions, patterns matched to --database by TOMTOM.")] = False,
    database: Annotated[str, typer.Option(help="Motifs for TOMTOM (MEME file or jaspar: address).")] = "jaspar:2024/CORE/vertebrates",
    logos: Annotated[int, typer.Option(help="Sequences drawn in the report (the highest-predicted).")] = 5,
    genome: Annotated[Path | None, typer.Option(help="Genome (default: the one the model was trained on).")] = None,
    device: Annotated[str, typer.Option(help="cpu | cuda | auto.")] = "cpu",
) -> None:
    """Attributions of a CNN or ChromBPNet on regions: `cisgram explain --model RUN --regions R --out DIR [--method ism,deeplift] [--discover]`."""
    if ctx.invoked_subcommand is not None:
        return
    if model is None or regions is None or out_dir is None:
        raise InputError("cisgram explain needs --model, --regions and --out",
                         hint="or run `cisgram explain benchmark --help`")
    from cisgram.report.explain import explain_report
    from cisgram.workflows.explain import explain_regions

    result = explain_regions(model, out_dir, regions=regions, methods=_methods(method), target=target, n_logos=logos,
                             discover=discover, database=database, genome=genome, device=device, progress=_say,
                             part=part)
    explain_report(out_dir / "report.html", result)
    for p in result.patterns:
        match = f"{p['match']} {p['match_name']} (q {p['q_value']:.2g})" if "match" in p else "no match"
        out.print(f"{p['name']}: {p['n_seqlets']} seqlets, {match}")
    blind = int(result.unresponsive.sum()) if result.unresponsive is not None else 0
    blind_note = f"; {blind:,} the model cannot see (zero gradient: their attributions are 0)" if blind else ""
    out.print(f"{len(result.names):,} sequences explained with {', '.join(result.methods)}{blind_note}; wrote {out_dir}")


@explain_app.command("benchmark")
def explain_benchmark(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Run directory to write.")],
    simulation: Annotated[Path | None, typer.Option(help="A `cisgram simulate` directory (default: simulate --grammar now).")] = None,
    grammar: Annotated[str, typer.Option(help="Built-in grammar to simulate when no --simulation is given: ctcf | gata_tal1.")] = "ctcf",
    n: Annotated[int, typer.Option(help="Sequences to simulate.")] = 5000,
    length: Annotated[int, typer.Option(help="Simulated sequence length, bp.")] = 500,
    method: Annotated[str, typer.Option(help="Methods to score, comma-separated.")] = ",".join(
        ("ism", "saliency", "input_x_gradient", "integrated_gradients", "deeplift", "gradcam", "gradcam_saliency")),
    n_explain: Annotated[int, typer.Option(help="Held-out positives explained.")] = 200,
    arch: Annotated[str, typer.Option(help="Network: deepsea | danq | dilated (DanQ: conv + BiLSTM; DeepLIFT is not available on its LSTM and that row is marked so).")] = "deepsea",
    arch_params: Annotated[str | None, typer.Option(help='The network\'s constructor arguments over its defaults, as JSON, e.g. \'{"filters": 64, "units": 32, "hidden": 64}\' for a small DanQ.')] = None,
    region_width: Annotated[int, typer.Option(help="Window width (bp, 20-50) of the region-level score: non-overlapping windows from base 0, a shorter last window dropped.")] = 30,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples of the explained sequences (intervals and paired differences).")] = 1000,
    max_epochs: Annotated[int, typer.Option(help="At most this many epochs.")] = 30,
    patience: Annotated[int, typer.Option(help="Early-stopping patience (validation auROC).")] = 5,
    device: Annotated[str, typer.Option(help="cpu | cuda | auto.")] = "cpu",
    threads: Annotated[int | None, typer.Option(help="Torch CPU threads (default: torch's own).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulation, the training and the bootstrap.")] = 0,
) -> None:
    """Train a CNN on a simulation and score every attribution method by how well it finds the planted sites and the regions holding them (AgentBind's test), with bootstrap intervals."""
    import json

    from cisgram.data import simulate as sim
    from cisgram.report.explain import explain_benchmark_report
    from cisgram.training import TrainConfig
    from cisgram.workflows.explain import benchmark

    try:
        params = json.loads(arch_params) if arch_params else None
    except json.JSONDecodeError as e:
        raise InputError(f"--arch-params is not JSON: {e.msg}", hint='e.g. \'{"filters": 64}\'') from None
    if params is not None and not isinstance(params, dict):
        raise InputError("--arch-params must be a JSON object", hint='e.g. \'{"filters": 64}\'')
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    if simulation is not None:
        s = sim.read_simulation(simulation)
    else:
        g = grammar_from_options(grammar, None, None, 0.0, "", 0.0)
        s = sim.simulate(g, sim.grammar_motifs(g), n=n, length=length, seed=seed)
    cfg = TrainConfig(task="classification", max_epochs=max_epochs, patience=patience, seed=seed, monitor="auroc",
                      progress=True)
    try:
        res = benchmark(s, out_dir, methods=_methods(method), n_explain=n_explain, config=cfg, arch=arch,
                        arch_params=params, device=device, progress=_say, region_width=region_width, n_boot=n_boot,
                        boot_seed=seed)
    except ValueError as e:  # a network the constructor refuses (e.g. an unknown --arch-params key)
        raise InputError(str(e), hint="check --arch-params against the network's constructor") from None
    explain_benchmark_report(out_dir / "report.html", res)
    out.print(f"classifier test auROC {res.classifier['auroc']:.3f}")

    def ci(r, k: str) -> str:
        v, lo, hi = getattr(r, k), getattr(r, f"{k}_low"), getattr(r, f"{k}_high")
        return "n/a" if v != v else f"{v:.3f} [{lo:.3f}, {hi:.3f}]"

    out.print(_table([(r.method, ci(r, "auroc"), ci(r, "region_auroc"), f"{r.seconds:.1f}", r.note)
                      for r in res.table.itertuples()],
                     ["method", "base auROC [95% CI]", f"region auROC ({region_width} bp)", "seconds", "note"]))
    for w in res.winners.itertuples():
        lead = "" if w.runner_up is None else (f", ahead of {w.runner_up} by {w.difference:+.3f} "
                                               f"[{w.low:+.3f}, {w.high:+.3f}]")
        out.print(f"{w.resolution} level: {w.best} {w.auroc:.3f}{lead}")
    out.print(f"wrote {out_dir}")


@explain_app.command("get")
def explain_get(
    model: Annotated[Path, typer.Option("--model", "-M", help="A `cisgram train get` run.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Directory to write (tables, report.html).")],
    genes: Annotated[str | None, typer.Option(help="Comma-separated TSS names whose enhancers to score (default: every gene).")] = None,
    cell: Annotated[str | None, typer.Option(help="Cell type (default: the run's held-out one, else its first).")] = None,
    data: Annotated[Path | None, typer.Option("--data", "-d", help="Region-motif data (default: the run's).")] = None,
    split: Annotated[str | None, typer.Option(help="Only TSS regions of this split (train | val | test; default all).")] = None,
    top_motifs: Annotated[int, typer.Option(help="Motifs in the LiNGAM graph (highest mean |input x gradient|).")] = 50,
    n_orders: Annotated[int, typer.Option(help="LiNGAM column orders averaged.")] = 3,
    causal: Annotated[str, typer.Option(help="LiNGAM flavour: ica (as GET's pcalg::lingam) | direct.")] = "ica",
    threshold: Annotated[float, typer.Option(help="Keep causal edges with |weight| at least this.")] = 0.05,
    lora: Annotated[bool, typer.Option(help="Use the run's LoRA adapter when it was trained for --cell.")] = True,
    cells: Annotated[str | None, typer.Option(help="Cell types to pool for cell-type-agnostic interactions and LiNGAM (their per-gene gene-by-motif stacked, into pooled/): all, or two or more comma-separated (default: none).")] = None,
    leave_out_motifs: Annotated[int, typer.Option(help="Top motifs (highest mean |input x gradient|) each set to 0 in every window, measuring how predictions and the other motifs' importances move; 0 skips.")] = 10,
    device: Annotated[str, typer.Option(help="cpu | cuda | auto.")] = "cpu",
    seed: Annotated[int, typer.Option(help="Seed of LiNGAM's column orders.")] = 0,
) -> None:
    """GET's interpretation: gene-by-motif (per entry and per gene), motif-motif interactions, a LiNGAM causal graph, enhancer-gene scores and motif leave-out."""
    from cisgram.report.get import get_explain_report
    from cisgram.workflows.explain_get import explain_get as run
    from cisgram.workflows.explain_get import explain_summary

    chosen = None if genes is None else [g.strip() for g in genes.split(",") if g.strip()]
    pool = None if cells is None else [c.strip() for c in cells.split(",") if c.strip()]
    result = run(model, out_dir, data=data, cell=cell, genes=chosen, split=split, top_motifs=top_motifs,
                 n_orders=n_orders, causal_method=causal, causal_threshold=threshold, use_lora=lora,
                 cells=pool, leave_out_motifs=leave_out_motifs, device=device, seed=seed, progress=_say)
    get_explain_report(out_dir / "report.html", result)
    s = explain_summary(result)
    out.print(f"{s['cell']}: {s['n_entries']:,} TSS entries ({s['n_genes']:,} genes); {s['n_interactions']:,} motif "
              f"pairs kept; {s['n_causal_edges']:,} causal edges among {len(s['causal_motifs'])} motifs; enhancers "
              f"scored for {s['n_explained']:,} entries; top motifs {', '.join(s['top_motifs'][:5])}")
    if s["n_left_out"]:
        out.print(f"{s['n_left_out']} motifs left out at inference; {s['most_moving_motif']} moves the predictions most")
    if s["pooled_cells"]:
        out.print(f"pooled {', '.join(s['pooled_cells'])}: {s['n_pooled_rows']:,} rows (gene x cell type), "
                  f"{s['n_pooled_edges']:,} causal edges")
    out.print(f"wrote {out_dir}")
