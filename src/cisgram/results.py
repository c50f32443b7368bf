"""What the workflows return: typed results, kept in one module (as tangermeme's ``results.py``).

Every workflow (:mod:`cisgram.workflows`) writes its files and returns one of these; the renderers
(:mod:`cisgram.report`) draw a page from exactly that object, without computing, scanning or
reading files; a notebook can use the same object. This module imports nothing from cisgram, so
both sides can import it. ``metrics`` fields hold what ``metrics.json`` holds (the shape shared by
every family, DESIGN §1) and ``predictions`` what ``predictions.parquet`` holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class RunResult:
    """A trained run: its directory, family, configuration, metrics and predictions table."""

    path: Path
    family: str
    config: dict
    metrics: dict
    predictions: pd.DataFrame


@dataclass
class BaselineResult(RunResult):
    """``cisgram train baseline``: ``kind`` is motif-lasso, kmer-ridge or gc."""

    kind: str = ""


@dataclass
class CNNResult(RunResult):
    """``cisgram train cnn``: the training history (``best_epoch``, ``best_val_loss``, ``seconds``,
    ``epochs``) and attribution logos ``[(title, contributions (w, 4))]`` of the highest-predicted
    test regions (input × gradient, first target)."""

    arch: str = ""
    task: str = "regression"
    history: dict = field(default_factory=dict)
    logos: list = field(default_factory=list)


@dataclass
class IQReading:
    """How one IQ motif reads sequence for one target (:mod:`cisgram.interpret.iq_reading`): the
    validation R² (squared Pearson r) of the model's final fit refitted with the motif's energy
    ``integrated`` (the model's own), from its ``best site`` only, or from its ``top-k sites``
    (``r2``, keyed by those names); ``delta`` maps the last two to ``[R²(x) − R²(integrated),
    low, high]`` (95 % paired bootstrap over ``n_val`` validation regions, ``n_boot`` resamples);
    ``label`` is "strong sites only", "integrates weak sites", "undecided" or "not measured: …"."""

    label: str
    r2: dict
    delta: dict
    n_val: int
    n_boot: int
    top_k: int


@dataclass
class IQMotif:
    """One binding model of an IQ run as the report shows it.

    ``response`` maps each target to the partial response (link scale) over ``energies``;
    ``spatial`` is the spatial profile over bins of ``bin_size`` bp starting at ``offset``;
    ``reading`` says whether the motif reads strong sites only or integrates weak ones, measured
    per target in ``readings`` (target -> :class:`IQReading`; ``reading`` is their common label,
    or each target's); ``best_site_share`` is descriptive: the median share of the best site in
    the energy of the top 10 % training regions by that energy; ``nearest`` is
    the nearest database motif by TOMTOM (``target``, ``target_name``, ``p_value``, ``strand``)."""

    name: str
    probs: np.ndarray
    how: str
    n_members: int
    bits: float
    reading: str
    best_site_share: float
    nearest: dict | None
    coef: dict
    delta_r2: dict
    energies: np.ndarray
    response: dict
    spatial: np.ndarray
    bin_size: int
    offset: int
    readings: dict = field(default_factory=dict)
    # where the best sites sit: best-site centres relative to the region centre over the training
    # regions whose best site passes p < p_site: {"edges" (bp), "counts", "n_strong", "n_regions", "p_site"}
    site_positions: dict = field(default_factory=dict)
    # the target in bins of this motif's [0, 10] energy on training regions: target -> {"edges",
    # "stats": one box per bin (matplotlib bxp keys med, q1, q3, whislo, whishi, n; empty bins left out)}
    energy_bins: dict = field(default_factory=dict)
    seed: str | None = None  # the k-mer a learned PWM grew from (the cluster record's "seed"), when recorded


@dataclass
class IQResult(RunResult):
    """``cisgram train iq``: the targets, the pipeline's ``stages``, one :class:`IQMotif` per
    binding model, each target's leave-one-out ΔR² ranking ``[(motif, ΔR²)]``, and the
    interaction terms ``[(pair, [coefficient per target])]``."""

    targets: list = field(default_factory=list)
    stages: list = field(default_factory=list)
    motifs: list = field(default_factory=list)
    ranking: dict = field(default_factory=dict)
    interactions: list = field(default_factory=list)
    anatomy: list = field(default_factory=list)  # PairAnatomy per motif × motif term (cisgram.interpret.iq_anatomy)
    # several targets (IceQream §5): {"models": {target: [motif]}, "models_full": [motif]} (cisgram.models.iq_fusion)
    trajectory_sets: dict = field(default_factory=dict)


@dataclass
class GETResult(RunResult):
    """``cisgram train get``: the per-stage training ``history`` and the gene-by-motif table of
    the highest-predicted test TSS entries (genes × features; None without test TSS regions)."""

    history: dict = field(default_factory=dict)
    gene_by_motif: pd.DataFrame | None = None
    accessibility: pd.DataFrame | None = None


@dataclass
class PretrainResult:
    """``cisgram pretrain get``: the directory, its config and metrics (validation masked MSE,
    windows per second) and the pre-training history."""

    path: Path
    family: str
    config: dict
    metrics: dict
    history: dict = field(default_factory=dict)


@dataclass
class TFBindResult:
    """``cisgram tfbind``: ``comparison`` (strategy, model, auROC, auPRC, counts per row) and per
    negative strategy the test rows' labels and every model's scores."""

    path: Path
    config: dict
    metrics: dict
    comparison: pd.DataFrame
    test_scores: dict


@dataclass
class ExplainedSequence:
    """One explained sequence as drawn: its ``title``, per-method importance ``tracks`` ``(L,)``,
    shaded ``spans`` ``[(start, end, label)]`` and per-method contribution logos ``(w, 4)``
    starting at ``offset``."""

    title: str
    tracks: dict
    spans: list
    logos: dict
    offset: int = 0


@dataclass
class ExplainResult:
    """``cisgram explain``: the explained sequences' names and predictions, the methods, the
    sequences drawn in the report, and the TF-MoDISco discovery (None without ``--discover``).
    ``unresponsive`` ``(N,)`` is True where the explained output does not respond to the
    sequence at all (zero gradient everywhere): its attributions are 0 because the model cannot
    see that window, not because no base matters."""

    path: Path
    config: dict
    names: list
    predictions: np.ndarray
    methods: list
    shown: list
    discovery: object | None = None
    patterns: list = field(default_factory=list)
    unresponsive: np.ndarray | None = None


@dataclass
class BenchmarkResult:
    """``cisgram explain benchmark``: the grammar, the classifier's test areas, one row per
    method (auROC pooled and per sequence, AgentBind's figure, target, seconds) and examples.

    Since issue 20 also: the region-level columns and bootstrap intervals in ``table``
    (``auroc_low`` / ``auroc_high``, ``region_auroc`` …, ``note`` for a method the network
    refuses), ``pairs`` (every pair of methods at each resolution: ``a``, ``b``,
    ``resolution``, ``difference``, ``low``, ``high``, ``share_above_zero``), ``winners`` (per
    resolution the best method and its lead over the runner-up), the network's ``arch`` and the
    ``region_width``. Each defaults to empty so results built before keep working."""

    path: Path
    grammar: str
    description: str
    n_sequences: int
    length: int
    classifier: dict
    table: pd.DataFrame
    examples: list
    pairs: pd.DataFrame = field(default_factory=pd.DataFrame)
    winners: pd.DataFrame = field(default_factory=pd.DataFrame)
    arch: str = "deepsea"
    region_width: int = 30


@dataclass
class GETExplainResult:
    """``cisgram explain get``: the TSS entries (``genes``), gene-by-motif tables (signed and mean
    absolute), motif correlation and the pairs kept, the LiNGAM adjacency and edges, the
    enhancer-gene table, and the configuration (which names the cell and the settings).

    Since issue 21 also: the gene-level gene-by-motif tables (genes × features, the mean of each
    gene's entries), the Pearson motif correlation, the motif leave-out table, and the
    cell-type-agnostic analysis of the ``pooled_cells`` (their gene-level matrices stacked, rows
    ``(gene, cell)``; correlations, pairs kept, LiNGAM adjacency and edges). Each defaults to
    empty so results built before keep working."""

    path: Path
    config: dict
    genes: pd.DataFrame
    gene_by_motif: pd.DataFrame
    gene_by_motif_abs: pd.DataFrame
    correlation: pd.DataFrame
    interactions: pd.DataFrame
    adjacency: pd.DataFrame
    edges: pd.DataFrame
    enhancers: pd.DataFrame
    causal_motifs: list
    top_motifs: list
    gene_by_motif_genes: pd.DataFrame | None = None
    gene_by_motif_genes_abs: pd.DataFrame | None = None
    correlation_pearson: pd.DataFrame | None = None
    leave_out: pd.DataFrame | None = None
    pooled_cells: list = field(default_factory=list)
    pooled_gene_by_motif: pd.DataFrame | None = None
    pooled_correlation: pd.DataFrame | None = None
    pooled_correlation_pearson: pd.DataFrame | None = None
    pooled_interactions: pd.DataFrame | None = None
    pooled_adjacency: pd.DataFrame | None = None
    pooled_edges: pd.DataFrame | None = None
    pooled_causal_motifs: list = field(default_factory=list)

    @property
    def cell(self) -> str:
        return self.config["cell"]


@dataclass
class CompareResult:
    """``cisgram compare``: what ``comparison.json`` holds and the joined predictions table (one
    prediction column per model)."""

    path: Path
    comparison: dict
    joined: pd.DataFrame


@dataclass
class SaturationResult:
    """``cisgram variants --saturate``: the substitution table, the ``(4, n)`` map of ``target``
    (rows A, C, G, T) with the ``(n,)`` reference codes, the region (0-based, half-open), the
    model's window ``length`` and the run it came from."""

    path: Path
    table: pd.DataFrame
    matrix: np.ndarray
    reference: np.ndarray
    chrom: str
    start: int
    end: int
    target: str
    family: str
    run: str
    length: int
    unresponsive: list = field(default_factory=list)  # targets whose output does not respond to the window


@dataclass
class VariantScores:
    """``cisgram variants --vcf``: the scores file ``path`` and its ``n`` rows, with what reading
    them needs: ``unresponsive`` rows whose Δ is 0 because the model's output does not respond
    to the window (None where not tested: GET runs), ``in_training`` variants in a training
    region of the run's split (None where the run's regions are unknown), ``padded`` windows."""

    path: Path
    n: int
    unresponsive: int | None = None
    in_training: int | None = None
    padded: int = 0


@dataclass
class DemoResult:
    """``cisgram demo``: the summary (``summary.json``), the comparison, the variant table and
    the lines not scored, and the saturation maps by family."""

    path: Path
    summary: dict
    comparison: dict | None = None
    variants: pd.DataFrame | None = None
    problems: pd.DataFrame | None = None
    saturation: dict = field(default_factory=dict)


@dataclass
class StructureResult:
    """``cisgram structure``: per chain (file order) its residue numbers and pLDDT ``(n,)``, the
    segments table (chain, start, end, kind, length, mean_plddt), the chain-pair table (one row per
    unordered pair: contacts, interface residues, pDockQ, with a PAE min and mean inter-chain PAE,
    pTM, ipTM; None for one chain), the ``(N, N)`` PAE in Å (None without one) and each chain's
    first row in it (``chain_starts``)."""

    path: Path
    config: dict
    chains: list
    residues: dict
    plddt: dict
    segments: pd.DataFrame
    pairs: pd.DataFrame | None = None
    pae: np.ndarray | None = None
    chain_starts: list = field(default_factory=list)


@dataclass
class InsertionsResult:
    """``cisgram tracks insertions``: the bigWig written (``path``), the fragment file, the
    barcodes kept (None: all), the ``(plus, minus)`` shift, and the tallies of
    :class:`cisgram.insertions.InsertionTrack`: fragments counted, insertions written, insertions
    shifted off a chromosome end (and the line of the first), fragments of other barcodes, and
    the number of bases with insertions (bigWig entries)."""

    path: Path
    fragments: Path
    barcodes: tuple | None
    shift: tuple
    n_fragments: int
    n_insertions: int
    n_dropped: int
    n_unmatched: int
    n_positions: int
    first_dropped: int | None = None
    seconds: float = 0.0


@dataclass
class ProfileExample:
    """One test peak as the ChromBPNet report draws it: its ``name`` (``chrom:start-end`` of the
    input window), the output window's ``[out_start, out_end)`` on ``chrom``, and per base the
    ``observed`` counts and the expected counts of the full model (``predicted``), of the
    bias-free model and of the bias model alone (None without one), each ``(T, output_len)``."""

    name: str
    chrom: str
    out_start: int
    out_end: int
    observed: np.ndarray
    predicted: np.ndarray
    bias_free: np.ndarray
    bias: np.ndarray | None = None


@dataclass
class ChromBPNetResult(RunResult):
    """``cisgram train chrombpnet``: ``metrics`` holds the family-shared count metrics on peaks
    (``train``/``val``/``test``), ``subsets`` (background, peaks+background, the bias-free model),
    ``profile`` (median JSD and profile Pearson beside the shuffled and average baselines) and
    ``bias`` (the bias model's own metrics on background and peaks); ``predictions`` is
    ``predictions.parquet`` (with ``kind`` and ``predicted_bias_free``). ``bias_source`` is
    ``trained``, the reused run's path, or ``none`` (``no_bias``); ``history`` has one training
    history per network (``bias``, ``accessibility``); ``examples`` a few test peaks' profiles."""

    target: str = ""
    bias_source: str = "trained"
    history: dict = field(default_factory=dict)
    examples: list = field(default_factory=list)


@dataclass
class PredictedTrack:
    """``cisgram predict --bigwig``: the bigWig written (``path``), the regions predicted, the bases
    written (each once), and whether the prediction is the bias-free model's."""

    path: Path
    regions: int
    bases: int
    bias_free: bool = False
