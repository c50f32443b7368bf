"""What each regime learns: TF-MoDISco patterns of a tfbind run's networks, named and classified.

A ``cisgram tfbind`` run holds, per negative set ("regime": ``standard``, ``gc``, ``genomic``,
``open``, ``open-negatives``), a CNN that saw the core motif (``kept``) and, with
``--core kept,blocked``, one that saw N over it (``blocked``). AgentBind (Zheng et al. 2021)
read its networks with Grad-CAM and reported that what a network attends to depends on the
negatives it was trained against. :func:`tfbind_patterns` asks the same question with the
field's standard tools, on a finished run directory:

1. Windows: the bound **test** windows of each regime (``<strategy>/predictions.parquet``,
   ``label == 1`` and ``split == "test"``; ``windows="bound"`` takes every bound window),
   at most ``max_windows`` of them (a seeded sample), read on the motif's strand (minus-strand
   windows reverse-complemented, so that patterns line up), with the core site set to N for the
   blocked network (:func:`~cisgram.workflows.tfbind.masked_context_codes`).
2. Attributions: DeepLIFT's rescale rule over dinucleotide-shuffled references, as
   ``cisgram explain`` computes it (:func:`~cisgram.interpret.attribution.deeplift`,
   ``hypothetical=True``: the multipliers projected on each base, which TF-MoDISco expects; times
   the one-hot they are the contributions of the observed bases). A seed ensemble's hypothetical
   contributions are averaged over its seeds.
3. Patterns: TF-MoDISco (modisco-lite) on them, each trimmed pattern matched by TOMTOM against
   ``database`` (:func:`~cisgram.interpret.discovery.discover`, Benjamini-Hochberg q-values over
   the database), then classified by its best match (:func:`pattern_class`):

   - ``the TF``: the best match at ``q <= q_threshold`` is the run's motif, or a motif of the same
     TF (same name, or the same family stem: :func:`same_tf`);
   - ``accessibility/pioneer``: the best match belongs to :data:`ACCESSIBILITY_FAMILIES`;
   - ``partner``: any other named match;
   - ``unnamed``: no match at ``q <= q_threshold``, or a pattern with fewer than
     :data:`MIN_INFORMATIVE` columns of at least :data:`COLUMN_BITS` bit (``n_informative``).

Files: ``<run>/patterns.tsv`` (one row per pattern: :data:`PATTERN_COLUMNS`; a regime where no
pattern was found has one row with an empty ``pattern``, class ``none`` and the reason in
``note``) and, per network, ``<strategy>/patterns/`` (``<strategy>/blocked/patterns/``):
``patterns.meme`` (the patterns as motifs), ``matches.tsv`` (the top TOMTOM matches of each),
``seqlets.tsv`` (each seqlet's window, oriented coordinates, strand), ``patterns.npz``
(``<pattern>_probs``, ``<pattern>_contrib``, ``<pattern>_hypothetical``, ``(w, 4)`` each) and one
contribution logo ``<pattern>.png`` per pattern. Every file is written atomically and a rerun
replaces the whole directory.

Departures and pitfalls
-----------------------
- AgentBind attributed with Grad-CAM on its own windows; here DeepLIFT and TF-MoDISco, the
  field's current standard, name the patterns (no switch gives Grad-CAM patterns: Grad-CAM has
  no per-base hypothetical scores for MoDISco to cluster).
- The blocked network sees N over the core; the shuffled references move those N columns about
  (tangermeme's ``allow_N``), so a pattern can sit at the edge of the masked span.
- TF-MoDISco needs more than 100 seqlets of one sign and 20 per pattern: a few dozen windows
  often give none (the ``none`` row says so). Fewer than :data:`FEW_WINDOWS` windows are flagged
  in ``note`` and the progress; fewer than 10 cannot be run at all.
- TOMTOM's p-values are not calibrated for long, nearly uniform queries: a 50 bp pattern of
  noise seqlets (what a weak network gives; the contribution trim keeps all of it) "matches"
  the longest motif of the database at tiny q (measured on a 2-epoch network: every one of 51
  such patterns matched the 33 bp CTCF matrix, q 1e-12 to 7e-5). A pattern therefore needs
  :data:`MIN_INFORMATIVE` columns of at least :data:`COLUMN_BITS` bit to be named; the others
  are ``unnamed`` whatever TOMTOM says (their match stays in the table).
- DanQ runs (``--arch danq``) are refused: DeepLIFT has no rule for the LSTM.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.data.tfbind import resolve_motif
from cisgram.errors import InputError
from cisgram.files import atomic_path, atomic_write
from cisgram.genome import Genome, codes_to_onehot, reverse_complement_onehot
from cisgram.interpret.attribution import deeplift
from cisgram.interpret.discovery import DEFAULT_DATABASE, MIN_SEQUENCES, discover, write_patterns
from cisgram.motifs.pwm import load_motifs
from cisgram.results import TFBindResult
from cisgram.workflows.rundir import tfbind_network_dirs
from cisgram.workflows.tfbind import MODELS, masked_context_codes, tfbind_networks

log = logging.getLogger(__name__)

MATCH_Q = 0.05  # a best TOMTOM match at or below this Benjamini-Hochberg q-value names a pattern
COLUMN_BITS = 1.0  # a pattern column with at least this information content (bits) is informative
MIN_INFORMATIVE = 4  # fewer informative columns than this: too little sequence for TOMTOM to name
FEW_WINDOWS = 100  # fewer windows than this are flagged: TF-MoDISco rarely finds patterns in so few
WINDOW_SETS = ("test", "bound")
CLASSES = ("the TF", "accessibility/pioneer", "partner", "unnamed")
PATTERN_COLUMNS = ["regime", "core", "pattern", "sign", "n_seqlets", "consensus", "n_informative", "match_id",
                   "match_name", "q_value", "class", "family", "n_windows", "note"]

ACCESSIBILITY_FAMILIES: dict[str, str] = {
    "AP-1": r"FOS|FOSB|FOSL[12]|JUN|JUNB|JUND|ATF[1-7]|BATF[23]?|JDP2",
    "CEBP": r"CEBP[ABDEG]",
    "GATA": r"GATA[1-6]",
    "ETS/SPI1": r"SPI[1BC]|ETS[12]|ELF[1-5]|ELK[134]|ETV[1-7]|ERG|FLI1|FEV|GABPA|EHF|ELF|SPDEF",
    "KLF/SP": r"KLF\d+|SP[1-9]",
    "FOX": r"FOX[A-S]\d*",
    "NFY": r"NFY[ABC]",
    "RUNX": r"RUNX[1-3]",
    "TEAD": r"TEAD[1-4]",
    "CTCF": r"CTCFL?",
    "SOX/OCT4/GRHL": r"SOX\d+|POU5F1B?|GRHL[1-3]",
}
"""Families of TFs known to open chromatin or to mark accessible sites, each a regular
expression matched (case-insensitively, in full) against each part of a motif's name (``FOS::JUN``
has two). A pattern whose best match is one of them, and is not the run's own TF, is
``accessibility/pioneer``. Rationale, family by family:

- AP-1 (FOS, JUN, ATF, BATF): the most enriched motif of accessible chromatin in most cell types;
  recruits BAF remodellers (Vierstra et al. 2020; Vierbuchen et al. 2017).
- CEBP: opens enhancers in myeloid cells and in reprogramming (Heinz et al. 2010).
- GATA: GATA1 in erythroid (K562) cells, GATA3/4 in others; pioneer factors (Cirillo et al. 2002).
- ETS / SPI1 (PU.1): PU.1 opens macrophage and B-cell enhancers (Heinz et al. 2010); ETS motifs
  mark promoters and accessible sites broadly.
- KLF / SP: GC-box factors of CpG-island promoters, the commonest accessible sites; KLF4 is a
  reprogramming pioneer (Soufi et al. 2015).
- FOX (FOXA1/2 first): the founding pioneer factors (Zaret & Carroll 2011).
- NFY: binds CCAAT on nucleosomal DNA and keeps promoters open (Oldfield et al. 2014).
- RUNX: RUNX1 opens haematopoietic enhancers.
- TEAD: with AP-1 at most accessible enhancers of epithelial and cancer cells (Zanconato 2015).
- CTCF: marks constitutively accessible insulator sites in every cell type; counted here only
  when CTCF is not the run's TF.
- SOX2, POU5F1 (OCT4), GRHL: the pioneers of reprogramming and epithelial enhancers (Soufi
  et al. 2015; Chen et al. 2018).

The list is a judgement, not a measurement: edit it (or read ``match_name`` in ``patterns.tsv``)
for another cell type."""


# ---------------------------------------------------------------- classification


def name_parts(name: str) -> list[str]:
    """The upper-case TF names in a motif name: ``"FOS::JUN"`` -> ``["FOS", "JUN"]``,
    ``"MA0139.2 CTCF"`` -> ``["MA0139.2", "CTCF"]``."""
    return [p for p in re.split(r"::|[\s/,;+]+", str(name).upper()) if p]


NUMBERED_GENES = re.compile(r"ZNF|ZFP|ZBTB|ZSCAN|ZKSCAN|ZIM|PRDM|THAP|ZFHX|ZHX")  # the number is the gene


PARALOGS = {"SPI": r"SPI[1BC]", "CEBP": r"CEBP[A-G]", "JUN": r"JUN[BD]?", "FOS": r"FOSB?|FOSL[12]"}
"""Paralog groups whose names share no stem after the digits go (``SPIB`` for ``SPI1``, ``JUND``
for ``JUN``, ``CEBPA`` for ``CEBPB``): each name in a group has the group's key as its stem."""


def _stem(part: str) -> str:
    """The family stem of a TF name: trailing digits dropped (``GATA1`` -> ``GATA``, ``FOSL2``
    -> ``FOSL``), and a trailing ``L`` (a "-like" paralog: ``CTCFL``, ``FOSL``) after that. JASPAR
    IDs lose their version (``MA0139.2`` -> ``MA0139``); in families where the number names
    unrelated genes (:data:`NUMBERED_GENES`: ``ZNF143``, ``ZBTB33``) the name is its own stem."""
    if re.fullmatch(r"MA\d+(\.\d+)?", part):
        return part.split(".")[0]
    if NUMBERED_GENES.match(part):
        return part
    group = next((key for key, rx in PARALOGS.items() if re.fullmatch(rx, part)), None)
    if group is not None:
        return group
    s = re.sub(r"\d+$", "", part)
    return s[:-1] if len(s) > 3 and s.endswith("L") else s


def same_tf(name: str, tf_names: list[str]) -> bool:
    """Whether a motif named ``name`` is the TF named by any of ``tf_names``: a name part equal
    to one of the TF's, or with the same family stem (``CTCFL`` for ``CTCF``, ``GATA2`` for
    ``GATA1``, ``FOSL2`` for ``FOS``, ``SPIB`` for ``SPI1``: :data:`PARALOGS`; ``MA0139.1`` for
    ``MA0139.2``)."""
    stems = {_stem(p) for n in tf_names for p in name_parts(n)}
    return any(_stem(p) in stems for p in name_parts(name))


def accessibility_family(name: str) -> str:
    """The :data:`ACCESSIBILITY_FAMILIES` label of the first part of ``name`` in one, else ``""``."""
    for part in name_parts(name):
        for family, pattern in ACCESSIBILITY_FAMILIES.items():
            if re.fullmatch(pattern, part):
                return family
    return ""


def informative_columns(probs: np.ndarray) -> int:
    """Columns of a ``(w, 4)`` probability matrix with at least :data:`COLUMN_BITS` bits of
    information content (``2 + sum p log2 p``)."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    return int(((2.0 + (p * np.log2(p)).sum(axis=1)) >= COLUMN_BITS).sum())


def pattern_class(match_id: str | None, match_name: str | None, q_value: float | None, tf_ids: list[str],
                  tf_names: list[str], q_threshold: float = MATCH_Q,
                  n_informative: int = MIN_INFORMATIVE) -> tuple[str, str]:
    """``(class, family)`` of a pattern from its best TOMTOM match (see the module docstring):
    ``the TF`` when the match is one of ``tf_ids`` or :func:`same_tf` with ``tf_names``;
    ``accessibility/pioneer`` (``family`` its :data:`ACCESSIBILITY_FAMILIES` label) when in a
    listed family; ``partner`` otherwise; ``unnamed`` without a match at ``q <= q_threshold``
    or with fewer than :data:`MIN_INFORMATIVE` informative columns (:func:`informative_columns`)."""
    if match_id is None or q_value is None or not np.isfinite(q_value) or q_value > q_threshold:
        return "unnamed", ""
    if n_informative < MIN_INFORMATIVE:
        return "unnamed", ""
    if str(match_id) in tf_ids or same_tf(f"{match_id} {match_name or ''}", tf_names):
        return "the TF", ""
    family = accessibility_family(str(match_name or ""))
    return ("accessibility/pioneer", family) if family else ("partner", "")


def regime_patterns(hypothetical: np.ndarray, onehot: np.ndarray, *, database, tf_ids: list[str],
                    tf_names: list[str], q_threshold: float = MATCH_Q, seed: int = 0, **options):
    """TF-MoDISco patterns of one network's attributions, matched and classified.

    Parameters
    ----------
    hypothetical, onehot
        ``(N, 4, L)`` hypothetical contributions and the one-hot windows (N columns all zero).
    database
        A :class:`~cisgram.motifs.pwm.MotifSet` to name the patterns with (TOMTOM).
    tf_ids, tf_names
        The run's motif ID(s) and TF name(s), for the class ``the TF``.
    options
        Passed to :func:`~cisgram.interpret.discovery.discover` (``max_seqlets``, ``window`` ...).

    Returns
    -------
    ``(Discovery, rows)``: the discovery and one dict per pattern with ``pattern``, ``sign``,
    ``n_seqlets``, ``consensus``, ``n_informative``, ``match_id``, ``match_name``, ``q_value``, ``class``, ``family``.
    """
    with warnings.catch_warnings():  # its sequence logo divides by 0 where every seqlet holds the blocked core's N
        warnings.filterwarnings("ignore", "invalid value encountered in divide", RuntimeWarning, "modiscolite")
        found = discover(hypothetical, onehot, database=database, seed=seed, **options)
    rows = []
    for p in found.patterns:
        best = p.best_match()
        mid, mname, q = (None, None, None) if best is None else (
            str(best["target"]), str(best["target_name"]), float(best["q_value"]))
        bits = informative_columns(p.probs)
        cls, family = pattern_class(mid, mname, q, tf_ids, tf_names, q_threshold, bits)
        rows.append({"pattern": p.name, "sign": p.sign, "n_seqlets": int(p.n_seqlets),
                     "consensus": p.motif().consensus, "n_informative": bits, "match_id": mid or "", "match_name": mname or "",
                     "q_value": np.nan if q is None else q, "class": cls, "family": family})
    return found, rows


# ---------------------------------------------------------------- windows and attributions


def pattern_windows(table: pd.DataFrame, which: str, max_windows: int, seed: int = 0) -> pd.DataFrame:
    """The bound windows of one regime's predictions table: its test split (``which="test"``) or
    all (``"bound"``), at most ``max_windows`` (a sample seeded by ``seed``, in table order)."""
    rows = table[(table["label"] == 1) & ((table["split"] == "test") if which == "test" else True)]
    if len(rows) > max_windows:
        keep = np.sort(np.random.default_rng(seed).choice(len(rows), max_windows, replace=False))
        rows = rows.iloc[keep]
    return rows.reset_index(drop=True)


def oriented_onehot(genome: Genome, windows: pd.DataFrame, *, blocked: bool) -> np.ndarray:
    """``(N, 4, W)`` float32 one-hot of the windows on the motif's strand (minus-strand windows
    reverse-complemented), the core site N (all zeros) when ``blocked``."""
    if blocked:
        codes = masked_context_codes(genome, windows)
    else:
        codes = genome.fetch_codes_batch(windows["chrom"].to_numpy(), windows["start"].to_numpy(),
                                         windows["end"].to_numpy())
    X = codes_to_onehot(codes)
    minus = windows["strand"].to_numpy() == "-"
    X[minus] = reverse_complement_onehot(X[minus])
    return np.ascontiguousarray(X, dtype=np.float32)


def ensemble_hypothetical(models: list, X: np.ndarray, *, n_shuffles: int = 20, device: str = "cpu") -> np.ndarray:
    """DeepLIFT hypothetical contributions ``(N, 4, L)`` of ``X`` averaged over ``models`` (a seed
    ensemble: each seed's networks explain the same windows against the same references)."""
    total = None
    for model in models:
        h = deeplift(model, X, hypothetical=True, n_shuffles=n_shuffles, device=device)
        total = h if total is None else total + h
    return (total / len(models)).astype(np.float32)


# ---------------------------------------------------------------- outputs


def write_network_patterns(d: Path, found, windows: pd.DataFrame) -> None:
    """Replace ``d`` with this network's MoDISco results (see the module docstring)."""
    from cisgram.report.plots_tfbind import save_pattern_logo

    tmp = d.with_name(f".{d.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    arrays, seqlets = {}, []
    for p in found.patterns:
        arrays.update({f"{p.name}_probs": p.probs, f"{p.name}_contrib": p.contrib,
                       f"{p.name}_hypothetical": p.hypothetical})
        s = p.seqlets.copy()
        s.insert(0, "pattern", p.name)
        s.insert(1, "window", windows["name"].to_numpy()[s["sequence"].to_numpy()])
        seqlets.append(s)
        save_pattern_logo(p.contrib, f"{p.name} ({p.n_seqlets} seqlets)", tmp / f"{p.name}.png")
    if found.patterns:
        write_patterns(found, tmp / "patterns.meme")
    with atomic_path(tmp / "patterns.npz") as t, open(t, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    for name, table in (("matches.tsv", found.matches), ("seqlets.tsv", pd.concat(seqlets) if seqlets else
                                                          pd.DataFrame(columns=["pattern", "window"]))):
        with atomic_write(tmp / name) as fh:
            table.to_csv(fh, sep="\t", index=False)
    shutil.rmtree(d, ignore_errors=True)
    tmp.rename(d)


def read_tfbind_result(run: str | os.PathLike) -> TFBindResult:
    """The :class:`~cisgram.results.TFBindResult` of a finished tfbind run, read back from its
    files (``config.json``, ``metrics.json``, ``comparison.tsv``, the test rows of each
    ``<strategy>/predictions.parquet``), to draw its report again."""
    import json

    run = Path(run)
    tfbind_network_dirs(run)  # refuses what is not a tfbind run
    for name in ("metrics.json", "comparison.tsv"):
        if not (run / name).is_file():
            raise InputError(f"the tfbind run has no {name}: it is unfinished", path=run)
    config = json.loads((run / "config.json").read_text())
    comparison = pd.read_csv(run / "comparison.tsv", sep="\t")
    test_scores = {}
    for strategy in comparison["strategy"].unique():
        t = pd.read_parquet(run / strategy / "predictions.parquet")
        test_scores[strategy] = t[t["split"] == "test"][["label", *[m for m in MODELS if m in t.columns]]]
    return TFBindResult(run, config, json.loads((run / "metrics.json").read_text()), comparison, test_scores)


def _database(config: dict, database):
    """The motif set that names the patterns: ``database``, else the run's MEME database, else
    JASPAR 2024 CORE vertebrates."""
    if database is None:
        given = config.get("database")
        database = given if isinstance(given, str) and (given.startswith("jaspar:") or Path(given).is_file()) \
            else DEFAULT_DATABASE
    return load_motifs(database)


def tfbind_patterns(run: str | os.PathLike, *, database: str | os.PathLike | None = None, max_windows: int = 1000,
                    windows: str = "test", q_threshold: float = MATCH_Q, n_shuffles: int = 20, seed: int = 0,
                    device: str = "cpu", progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """What each regime's networks learn: TF-MoDISco patterns of every CNN of a tfbind run, named
    by TOMTOM and classified (see the module docstring).

    Parameters
    ----------
    run
        A finished ``cisgram tfbind`` run directory.
    database
        MEME file or ``jaspar:`` address to name the patterns; default the run's ``database`` when
        it is a MEME file or a ``jaspar:`` address, else JASPAR 2024 CORE vertebrates.
    max_windows
        At most this many windows per regime (a seeded sample).
    windows
        ``"test"``: the bound test windows (never seen in training); ``"bound"``: every bound window.
    q_threshold
        A best match at or below this q-value names a pattern.
    n_shuffles
        DeepLIFT's dinucleotide-shuffled references per window.

    Returns
    -------
    pd.DataFrame
        The rows of ``<run>/patterns.tsv`` (:data:`PATTERN_COLUMNS`), also written there.
    """
    import json

    say = progress or (lambda msg: None)
    run = Path(run)
    dirs = tfbind_network_dirs(run)  # refuses what is not a tfbind run
    config = json.loads((run / "config.json").read_text())
    if windows not in WINDOW_SETS:
        raise InputError(f"windows must be test or bound, got {windows!r}")
    if isinstance(max_windows, bool) or not isinstance(max_windows, int) or max_windows < MIN_SEQUENCES:
        raise InputError(f"max_windows must be an integer >= {MIN_SEQUENCES}, got {max_windows!r}")
    if config.get("arch") == "danq":
        raise InputError("DeepLIFT has no rule for DanQ's LSTM: this run's networks cannot be read for patterns",
                         path=run, hint="run tfbind with --arch deepsea")
    if not dirs:
        raise InputError("this tfbind run holds no trained network", path=run)
    genome = Genome(config["genome"]) if Path(config.get("genome", "")).is_file() else None
    if genome is None:
        raise InputError(f"the run's genome {config.get('genome')} is not there", path=run / "config.json")
    motif, _ = resolve_motif(config["motif"])
    tf_ids, tf_names = [motif.name], [motif.name, motif.alt_name, str(config.get("motif_name", ""))]
    db = _database(config, database)
    nets = tfbind_networks(run)
    rows = []
    for key, models in nets.items():
        strategy, model_name = key.split(":")
        core = "blocked" if model_name == "cnn-blocked" else "kept"
        table = pd.read_parquet(run / strategy / "predictions.parquet")
        w = pattern_windows(table, windows, max_windows, seed)
        base = {"regime": strategy, "core": core, "n_windows": len(w)}
        note = f"{len(w)} bound {'test ' if windows == 'test' else ''}windows"
        if len(w) < FEW_WINDOWS:
            note += f" (fewer than {FEW_WINDOWS}: patterns are unreliable" + (
                "; --windows bound takes every bound window)" if windows == "test" else ")")
            log.warning("%s %s: only %s", strategy, core, note)
        if len(w) < MIN_SEQUENCES:
            shutil.rmtree(dirs[key][0] / "patterns", ignore_errors=True)  # nothing of an earlier call stays
            rows.append({**base, "pattern": "", "class": "none", "note": note + "; too few to run TF-MoDISco"})
            continue
        say(f"{strategy} {core}: DeepLIFT on {len(w):,} windows ({len(models)} seed(s)), TF-MoDISco, TOMTOM")
        X = oriented_onehot(genome, w, blocked=core == "blocked")
        hyp = ensemble_hypothetical(models, X, n_shuffles=n_shuffles, device=device)
        try:
            found, found_rows = regime_patterns(hyp, X, database=db, tf_ids=tf_ids, tf_names=tf_names,
                                                q_threshold=q_threshold, seed=seed)
        except InputError as e:  # degenerate attributions (a collapsed network): say so, go on
            shutil.rmtree(dirs[key][0] / "patterns", ignore_errors=True)
            rows.append({**base, "pattern": "", "class": "none", "note": f"{note}; {e.problem}"})
            continue
        write_network_patterns(dirs[key][0] / "patterns", found, w)
        if not found_rows:
            rows.append({**base, "pattern": "", "class": "none", "note": note + "; TF-MoDISco found no pattern"})
        rows.extend({**base, **r, "note": note} for r in found_rows)
        say(f"{strategy} {core}: {len(found_rows)} pattern(s)")
    out = pd.DataFrame(rows).reindex(columns=PATTERN_COLUMNS).astype({"n_seqlets": "Int64", "n_informative": "Int64"})
    with atomic_write(run / "patterns.tsv") as fh:
        out.to_csv(fh, sep="\t", index=False)
    return out
