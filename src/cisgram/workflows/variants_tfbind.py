"""Variant effects with a tfbind run (``cisgram variants --model TFBIND_RUN``): how much the
training regime (the negative set, the core kept or blocked) moves a variant's score.

A tfbind run holds one CNN per negative set (``<strategy>:cnn``) and, with ``--core
kept,blocked``, a second one trained with N over the core motif site (``<strategy>:cnn-blocked``);
each may be a seed ensemble (:func:`~cisgram.workflows.rundir.tfbind_network_dirs`). Every network is
scored on the same variants in the same windows:

- the windows are the run's own examples (``<strategy>/predictions.parquet`` of every negative
  set, one row per motif instance): its ``test`` windows by default (``windows="all"``: every
  split). A variant is scored in every window holding it wholly (one row per variant allele and
  window); windows are not recentred, so the variant sits where the network saw that position;
- ``Δ = score(alt) − score(ref)`` of the window's strand-averaged probability (what the run
  predicts: :meth:`~cisgram.models.cnn.CNNModel.forward_batch`), averaged over the seeds of an
  ensemble, on the ``logit`` scale by default (``scale="probability"``: the difference of the
  probabilities). The logit is the default because the negative sets make networks of different
  confidence: a difference of probabilities is squashed by ``p(1 − p)``, so near 0 or 1 a strong
  effect looks small, and ranking variants by it mixes the effect with how sure each regime is
  of the window, which differs between regimes by construction; the log odds ratio is a
  monotone re-expression of the same prediction that does not. ``ref:<key>`` keeps the
  reference window's probability, so either scale can be recovered;
- a blocked network reads every window with N over its core site ``[site_start, site_end)``
  (reference and alternative alike), so a substitution inside the core scores **Δ = 0 exactly,
  by construction**: the network never sees those bases. An MNV across the core's edge is scored
  on its bases outside it.

Only substitutions are scored (SNVs, MNVs): a window is a fixed stretch of genome around a motif
site, and an indel would shift the site or the flanks. Indels, records in no window and REF
alleles that differ from the genome are listed in ``<out>.problems.tsv`` (line, reason), the
mechanism of :mod:`cisgram.workflows.variants`; a VCF with nothing scored is an
:class:`~cisgram.errors.InputError` naming it, and no scores file is written.

:func:`concordance` compares the regimes over the scored rows: Spearman's ρ of every pair of Δ
columns, over all rows and over the rows outside the core (where the blocked networks' Δ is not 0
by construction), and the overlap of their top 1 % by ``|Δ|``, as the shared fraction
``|A ∩ B| / k`` of the ``k = ⌈n / 100⌉`` top rows of each (equal-sized sets, so it reads as "the
share of one regime's strongest variants that the other also ranks strongest"; Jaccard would be
``s / (2 − s)`` of it). :func:`core_snvs` writes the VCF of every SNV around the test positives'
core sites.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.errors import InputError
from cisgram.files import atomic_write
from cisgram.genome import encode
from cisgram.metrics import spearman
from cisgram.results import VariantScores
from cisgram.vcf import Problem, read_vcf, report_problems
from cisgram.workflows.rundir import load, tfbind_network_dirs
from cisgram.workflows.tfbind import block_span, ensemble_predict, tfbind_networks

log = logging.getLogger(__name__)

FAMILY = "tfbind"
SCALES = ("logit", "probability")
WINDOW_SETS = ("test", "all")
TOP_FRACTION = 0.01  # the top 1 % by |Δ| compared between regimes
CLIP = 1e-6  # probabilities are clipped to [CLIP, 1 − CLIP] before the logit
WINDOW_COLUMNS = ["name", "chrom", "start", "end", "strand", "site_start", "site_end", "label", "split"]
SUBSETS = ("all", "outside_core")


@dataclass
class TFBindVariantScores:
    """``cisgram variants --model TFBIND_RUN --vcf``: the scores file ``path`` and its ``table``,
    the Δ columns ``keys`` (``<strategy>:cnn`` / ``<strategy>:cnn-blocked``), the ``scale``
    (``logit`` or ``probability``) and window set, the ``concordance`` table and its file, the
    pairwise Spearman matrices (``spearman["all"]``, ``spearman["outside_core"]``, square
    DataFrames over ``keys``), ``problems`` (records left out) and the run."""

    path: Path
    table: pd.DataFrame
    keys: list[str]
    scale: str
    windows: str
    concordance: pd.DataFrame
    concordance_path: Path
    spearman: dict = field(default_factory=dict)
    problems: int = 0
    run: str = ""
    seeds: dict = field(default_factory=dict)


def is_tfbind(run) -> bool:
    """True when ``run`` is a tfbind run directory (its ``config.json`` says ``family: tfbind``)."""
    if getattr(run, "family", None) is not None:
        return run.family == FAMILY
    cfg = Path(run) / "config.json"
    try:
        return cfg.is_file() and json.loads(cfg.read_text()).get("family") == FAMILY
    except (OSError, ValueError):
        return False


def side_file(out: str | os.PathLike, what: str) -> Path:
    """A file beside the scores: ``scores.tsv`` -> ``scores.<what>`` (``problems.tsv``,
    ``concordance.tsv``, ``concordance.html``); any other name gets ``.<what>`` appended, as
    :func:`cisgram.vcf.problems_path` does."""
    p = Path(out)
    return p.with_name((p.name[:-4] if p.name.endswith(".tsv") else p.name) + "." + what)


def run_windows(run, windows: str = "test") -> pd.DataFrame:
    """The run's example windows (:data:`WINDOW_COLUMNS`), one row per motif instance, the union
    over every negative set's ``predictions.parquet`` (a bound instance is in several), sorted by
    position; ``windows`` ``"test"`` keeps the test split, ``"all"`` every split."""
    if windows not in WINDOW_SETS:
        raise InputError(f"unknown window set {windows!r}", hint=f"choose {' or '.join(WINDOW_SETS)}")
    d = Path(getattr(run, "path", run))
    config = json.loads((d / "config.json").read_text())
    tables = []
    for strategy in config.get("negatives", []):
        p = d / strategy / "predictions.parquet"
        if p.is_file():
            tables.append(pd.read_parquet(p, columns=WINDOW_COLUMNS))
    if not tables:
        raise InputError("the tfbind run holds no predictions.parquet", path=d)
    t = pd.concat(tables, ignore_index=True).drop_duplicates("name")
    if windows == "test":
        t = t[t["split"] == "test"]
    if t.empty:
        raise InputError(f"the tfbind run has no {windows} windows", path=d, hint="use windows='all'")
    return t.sort_values(["chrom", "start", "name"], kind="stable").reset_index(drop=True)


def _match(table: pd.DataFrame, wins: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(variant row, window row)`` of every window that holds a variant's REF span wholly."""
    rows, cols = [], []
    starts0 = table["pos"].to_numpy(np.int64) - 1
    ends0 = starts0 + table["ref"].str.len().to_numpy(np.int64)
    for chrom, idx in wins.groupby("chrom", sort=False).indices.items():
        ws, we = wins["start"].to_numpy(np.int64)[idx], wins["end"].to_numpy(np.int64)[idx]
        width = int((we - ws).max())
        on = np.flatnonzero(table["chrom"].to_numpy(dtype=str) == chrom)
        lo = np.searchsorted(ws, ends0[on] - width, "left")
        hi = np.searchsorted(ws, starts0[on], "right")
        for v, a, b in zip(on, lo, hi, strict=True):
            held = idx[a:b][(ws[a:b] <= starts0[v]) & (ends0[v] <= we[a:b])]
            rows += [v] * held.size
            cols += held.tolist()
    order = np.lexsort((np.array(cols, np.int64), np.array(rows, np.int64)))
    return np.array(rows, np.int64)[order], np.array(cols, np.int64)[order]


def site_distance(pos0: np.ndarray, length: np.ndarray, site_start: np.ndarray, site_end: np.ndarray,
                  strand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(in_core, distance)`` of variant spans ``[pos0, pos0 + length)``: True where a span
    overlaps the core site ``[site_start, site_end)``; the distance in bp from the site's
    nearest base, 0 when overlapping, negative 5′ of the motif (upstream on its strand),
    positive 3′."""
    end0 = pos0 + length
    left = np.where(end0 <= site_start, end0 - 1 - site_start, 0)
    right = np.where(pos0 >= site_end, pos0 - (site_end - 1), 0)
    d = left + right
    return d == 0, np.where(np.asarray(strand) == "-", -d, d)


def _on_scale(p: np.ndarray, scale: str) -> np.ndarray:
    if scale == "probability":
        return p
    p = np.clip(p, CLIP, 1 - CLIP)
    return np.log(p) - np.log1p(-p)


def _substitutions(table: pd.DataFrame, problems: list[Problem]) -> pd.DataFrame:
    """The SNVs and MNVs of ``table``; every other allele becomes a problem."""
    same = table["ref"].str.len() == table["alt"].str.len()
    for line, c, p in table.loc[~same, ["line", "chrom", "pos"]].itertuples(index=False):
        problems.append(Problem(int(line), f"{c}:{p}: only substitutions (SNVs, MNVs) are scored in tfbind windows "
                                           "(an indel would move the motif site within its window)"))
    return table[same].reset_index(drop=True)


def score_tfbind_variants(run, vcf: str | os.PathLike, out: str | os.PathLike, *, windows: str = "test",
                          scale: str = "logit", genome=None, batch_size: int = 256,
                          device: str = "cpu") -> TFBindVariantScores:
    """Score every substitution of ``vcf`` in the run's windows with every network of a tfbind run.

    Parameters
    ----------
    run
        A tfbind run directory (``cisgram tfbind``), or its opened :class:`~cisgram.workflows.rundir.TFBindRun`.
    vcf
        The variants (:func:`~cisgram.vcf.read_vcf`; REF checked against the genome).
    out
        The scores, a TSV written atomically; beside it ``<stem>.concordance.tsv``
        (:func:`concordance`) and, when records were left out, ``<stem>.problems.tsv``.
    windows
        ``"test"`` (default: the run's held-out windows, which no network trained on) or ``"all"``.
    scale
        ``"logit"`` (default; see the module docstring) or ``"probability"``.
    genome
        Default the run's genome.
    batch_size, device
        Rows per batch; where the networks run.

    Returns
    -------
    TFBindVariantScores
        ``table``: one row per (variant allele, window holding it): the VCF columns, ``window``
        (the instance's name), ``split``, ``label`` (1 bound), ``strand`` (the motif's),
        ``site_start``, ``site_end``, ``in_core``, ``distance`` (:func:`site_distance`), then per
        network ``ref:<key>`` (the reference window's probability) and ``<key>``, the Δ.
    """
    if scale not in SCALES:
        raise InputError(f"unknown scale {scale!r}", hint=f"choose {' or '.join(SCALES)}")
    opened = run if getattr(run, "family", None) == FAMILY else load(run, family=FAMILY)
    g = opened.genome(genome)
    networks = tfbind_networks(opened.path)
    wins = run_windows(opened, windows)
    table, problems = read_vcf(vcf, g, max_indel=max(1, int((wins["end"] - wins["start"]).max())))
    table = _substitutions(table, problems)
    vi, wi = _match(table, wins)
    inside = np.zeros(len(table), bool)
    inside[vi] = True
    for line, c, p in table.loc[~inside, ["line", "chrom", "pos"]].itertuples(index=False):
        problems.append(Problem(int(line), f"{c}:{p}: not inside any {windows} window of the tfbind run"))
    report_problems(problems, vi.size, vcf, out, nothing="no variant inside a window of the tfbind run")
    used, wi = np.unique(wi, return_inverse=True)
    w = wins.iloc[used].reset_index(drop=True)
    codes = g.fetch_codes_batch(w["chrom"].to_numpy(), w["start"].to_numpy(), w["end"].to_numpy())
    lo = (w["site_start"] - w["start"]).to_numpy(np.int64)
    hi = (w["site_end"] - w["start"]).to_numpy(np.int64)
    res = table.iloc[vi].reset_index(drop=True)
    res["window"] = w["name"].to_numpy()[wi]
    for col in ("split", "label", "strand", "site_start", "site_end"):
        res[col] = w[col].to_numpy()[wi]
    pos0 = res["pos"].to_numpy(np.int64) - 1
    res["in_core"], res["distance"] = site_distance(pos0, res["ref"].str.len().to_numpy(np.int64),
                                                    res["site_start"].to_numpy(np.int64),
                                                    res["site_end"].to_numpy(np.int64), res["strand"].to_numpy())
    offset = pos0 - w["start"].to_numpy(np.int64)[wi]
    alts = [encode(a) for a in res["alt"]]
    for key, models in networks.items():
        block = key.endswith("-blocked")
        ref_codes = block_span(codes, lo, hi) if block else codes
        p_ref = ensemble_predict(models, ref_codes, batch_size=batch_size, device=device)
        delta = np.empty(len(res))
        for a in range(0, len(res), batch_size):
            b = min(a + batch_size, len(res))
            alt = codes[wi[a:b]].copy()
            for r in range(a, b):
                alt[r - a, offset[r]: offset[r] + alts[r].size] = alts[r]
            if block:
                alt = block_span(alt, lo[wi[a:b]], hi[wi[a:b]])
            # an alternative window the network reads as the reference (every changed base under a blocked
            # core) is not predicted: its Δ is exactly 0, not the rounding of two batches
            moved = np.flatnonzero((alt != ref_codes[wi[a:b]]).any(1))
            delta[a:b] = 0.0
            if moved.size:
                p_alt = ensemble_predict(models, alt[moved], batch_size=batch_size, device=device)
                delta[a + moved] = _on_scale(p_alt, scale) - _on_scale(p_ref[wi[a + moved]], scale)
        res[f"ref:{key}"], res[key] = p_ref[wi], delta
        log.info("%s: %d variant-window rows scored", key, len(res))
    with atomic_write(Path(out)) as fh:
        res.to_csv(fh, sep="\t", index=False)
    keys = list(networks)
    conc = concordance(res, keys)
    conc_path = side_file(out, "concordance.tsv")
    with atomic_write(conc_path) as fh:
        conc.to_csv(fh, sep="\t", index=False)
    return TFBindVariantScores(Path(out), res, keys, scale, windows, conc, conc_path,
                               {s: spearman_matrix(conc, keys, s) for s in SUBSETS}, len(problems),
                               str(opened.path), {k: len(v) for k, v in tfbind_network_dirs(opened.path).items()})


def top_share(a: np.ndarray, b: np.ndarray, fraction: float = TOP_FRACTION) -> tuple[float, int]:
    """``(shared fraction, k)``: of the ``k = ⌈fraction · n⌉`` rows with the largest ``|a|`` and
    the ``k`` with the largest ``|b|`` (ties broken by row order), the share held by both."""
    n = len(a)
    if n == 0:
        return float("nan"), 0
    k = max(1, math.ceil(fraction * n))
    top_a = np.argsort(-np.abs(a), kind="stable")[:k]
    top_b = np.argsort(-np.abs(b), kind="stable")[:k]
    return np.intersect1d(top_a, top_b).size / k, k


def concordance(table: pd.DataFrame, keys: list[str], fraction: float = TOP_FRACTION) -> pd.DataFrame:
    """For every pair of Δ columns ``a``, ``b`` of ``keys`` (a network with itself included) and
    each subset of rows (``all``; ``outside_core``: ``in_core`` False): ``n``, Spearman's ρ
    (NaN where a side is constant, as for a blocked network inside the core) and the top-``fraction``
    overlap ``top_shared`` (:func:`top_share`) with its ``k``."""
    rows = []
    masks = {"all": np.ones(len(table), bool), "outside_core": ~table["in_core"].to_numpy(bool)}
    for subset, m in masks.items():
        for i, a in enumerate(keys):
            for b in keys[i:]:
                x, y = table[a].to_numpy(float)[m], table[b].to_numpy(float)[m]
                share, k = top_share(x, y, fraction)
                rows.append({"a": a, "b": b, "subset": subset, "n": int(m.sum()), "spearman": spearman(x, y),
                             "top_shared": share, "top_k": k})
    return pd.DataFrame(rows, columns=["a", "b", "subset", "n", "spearman", "top_shared", "top_k"])


def spearman_matrix(conc: pd.DataFrame, keys: list[str], subset: str = "all", value: str = "spearman") -> pd.DataFrame:
    """The square, symmetric matrix of ``value`` over ``keys`` from a :func:`concordance` table."""
    m = pd.DataFrame(np.nan, index=keys, columns=keys)
    for a, b, v in conc.loc[conc["subset"] == subset, ["a", "b", value]].itertuples(index=False):
        m.loc[a, b] = m.loc[b, a] = v
    return m


def core_snvs(run, out: str | os.PathLike, *, flank: int = 50, windows: str = "test", genome=None) -> pd.DataFrame:
    """Write a VCF of every SNV (the 3 other bases at each position) over the core sites of the
    run's bound windows (``label`` 1; the test ones by default) ± ``flank`` bp, each position
    once however many sites reach it; positions where the genome is N are left out. Records
    are sorted by chromosome and position, ``ID`` is ``chrom:pos:ref:alt``. Returns the records
    (``chrom``, ``pos`` 1-based, ``ref``, ``alt``)."""
    if flank < 0:
        raise InputError(f"flank must be at least 0, got {flank}")
    opened = run if getattr(run, "family", None) == FAMILY else load(run, family=FAMILY)
    g = opened.genome(genome)
    bound = run_windows(opened, windows)
    bound = bound[bound["label"] == 1]
    if bound.empty:
        raise InputError(f"the tfbind run has no bound {windows} windows", path=opened.path)
    parts = []
    for chrom, t in bound.groupby("chrom", sort=False):
        lo = np.maximum(t["site_start"].to_numpy(np.int64) - flank, 0)
        hi = np.minimum(t["site_end"].to_numpy(np.int64) + flank, g.sizes[chrom])
        pos = np.unique(np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)]))
        ref = g.fetch_codes_batch(np.full(pos.size, chrom, object), pos, pos + 1)[:, 0]
        keep = ref < 4
        pos, ref = pos[keep], ref[keep]
        alt = (ref[:, None] + np.arange(1, 4)[None, :]) % 4  # the three other bases
        parts.append(pd.DataFrame({"chrom": chrom, "pos": np.repeat(pos + 1, 3),
                                   "ref": np.repeat(np.array(list("ACGT"))[ref], 3),
                                   "alt": np.array(list("ACGT"))[alt.ravel()]}))
    rec = pd.concat(parts, ignore_index=True)
    rec["alt_order"] = rec["alt"].map("ACGT".index)
    rec = rec.sort_values(["chrom", "pos", "alt_order"], kind="stable").drop(columns="alt_order").reset_index(drop=True)
    with atomic_write(Path(out)) as fh:
        fh.write("##fileformat=VCFv4.2\n")
        fh.write(f"##source=cisgram variants --core-snvs (flank {flank} bp, {windows} bound windows of "
                 f"{opened.path})\n")
        for chrom in rec["chrom"].unique():
            fh.write(f"##contig=<ID={chrom},length={g.sizes[chrom]}>\n")
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        ids = rec["chrom"] + ":" + rec["pos"].astype(str) + ":" + rec["ref"] + ":" + rec["alt"]
        body = pd.DataFrame({"c": rec["chrom"], "p": rec["pos"], "i": ids, "r": rec["ref"], "a": rec["alt"],
                             "q": ".", "f": ".", "n": "."})
        body.to_csv(fh, sep="\t", header=False, index=False)
    log.info("%d SNVs at %d positions (%d bound %s windows, ±%d bp) written to %s", len(rec), len(rec) // 3,
             len(bound), windows, flank, out)
    return rec


def as_variant_scores(run, vcf, out, genome=None, batch_size: int = 256, device: str = "cpu", keep: list | None = None,
                      window: int | None = None, attribution: bool = False) -> VariantScores:
    """:func:`score_tfbind_variants` with its defaults, for :func:`cisgram.workflows.variants.write_variant_scores`:
    a :class:`~cisgram.results.VariantScores` (the table appended to ``keep``). ``window`` and
    ``attribution`` mean nothing for a tfbind run (its networks read their own windows) and are
    refused when given."""
    given = [name for name, v in (("window", window), ("attribution", attribution)) if v not in (None, False)]
    if given:
        raise InputError(f"{' and '.join(given)} cannot be used with a tfbind run", path=getattr(run, "path", run),
                         hint="a tfbind run is scored in its own windows by every network; leave them out")
    res = score_tfbind_variants(run, vcf, out, genome=genome, batch_size=batch_size, device=device)
    if keep is not None:
        keep.append(res.table)
    return VariantScores(res.path, len(res.table))
