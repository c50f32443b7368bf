"""Simulated sequences with planted motifs: ground truth for models and their explanations.

:func:`planted` draws random sequences (i.i.d. bases at a given GC content) and plants a site
sampled from a motif's probability matrix into a chosen fraction of them, at a random position
and strand. The label is whether a site was planted, so a model that reads sequence well must
find the motif, and an explanation of it must point at the planted positions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.motifs.pwm import Motif


@dataclass(frozen=True)
class Planted:
    """``codes`` ``(N, L)`` uint8 (A C G T = 0..3), ``label`` ``(N,)`` 0/1, ``position`` ``(N,)``
    start of the planted site (−1 where none), ``strand`` ``(N,)`` +1/−1 (0 where none)."""

    codes: np.ndarray
    label: np.ndarray
    position: np.ndarray
    strand: np.ndarray


def consensus_probs(consensus: str, p: float = 0.94) -> np.ndarray:
    """A ``(4, W)`` motif giving each consensus base probability ``p`` and the other three
    ``(1 - p) / 3``."""
    if not consensus or set(consensus.upper()) - set("ACGT") or not 0.25 <= p <= 1:
        raise ValueError(f"need an ACGT consensus and 0.25 <= p <= 1, got {consensus!r}, {p}")
    probs = np.full((4, len(consensus)), (1 - p) / 3)
    probs[["ACGT".index(c) for c in consensus.upper()], np.arange(len(consensus))] = p
    return probs


def random_codes(n: int, length: int, *, gc: float = 0.41, rng: np.random.Generator) -> np.ndarray:
    """``(n, length)`` uint8 bases drawn independently with G + C probability ``gc``."""
    p = np.array([1 - gc, gc, gc, 1 - gc]) / 2
    return rng.choice(4, size=(n, length), p=p).astype(np.uint8)


def sample_sites(probs: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` sites ``(n, W)`` drawn from a ``(4, W)`` probability matrix, column by column."""
    probs = np.asarray(probs, dtype=np.float64)
    cum = np.cumsum(probs / probs.sum(0, keepdims=True), axis=0)
    u = rng.random((n, probs.shape[1]))
    return (u[:, None, :] > cum[None, :, :]).sum(1).clip(0, 3).astype(np.uint8)


def planted(probs: np.ndarray, n: int, length: int, *, fraction: float = 0.5, gc: float = 0.41,
            seed: int = 0) -> Planted:
    """``n`` sequences of ``length``; a ``fraction`` of them carry one site of the ``(4, W)``
    motif ``probs`` at a uniform position, on a random strand."""
    rng = np.random.default_rng(seed)
    probs = np.asarray(probs, dtype=np.float64)
    w = probs.shape[1]
    if w > length:
        raise ValueError(f"motif of width {w} does not fit in {length} bp")
    codes = random_codes(n, length, gc=gc, rng=rng)
    label = (rng.random(n) < fraction).astype(np.int8)
    pos = np.full(n, -1, dtype=np.int64)
    strand = np.zeros(n, dtype=np.int8)
    rows = np.flatnonzero(label)
    sites = sample_sites(probs, rows.size, rng)
    minus = rng.random(rows.size) < 0.5
    sites[minus] = 3 - sites[minus, ::-1]
    starts = rng.integers(0, length - w + 1, rows.size)
    for r, s, site in zip(rows, starts, sites, strict=True):
        codes[r, s: s + w] = site
    pos[rows], strand[rows] = starts, np.where(minus, -1, 1)
    return Planted(codes, label, pos, strand)


# --- grammars: labelled simulations with recorded sites (``cisgram simulate``) -----------------

SITE_COLUMNS = ["seq", "motif", "name", "role", "start", "end", "strand"]
ROLES = ("required", "partial", "decoy")


@dataclass(frozen=True)
class Grammar:
    """A labelling rule for simulated sequences.

    A positive carries every ``required`` motif. With ``gap = (lo, hi)`` they form one composite
    in the given order, consecutive sites ``lo..hi`` bp apart (the whole composite on a random
    strand); without it each lands anywhere. A ``partial`` fraction of the negatives carry a
    strict, non-empty subset of the required motifs (each placed anywhere), so a model must read
    all of them; the other negatives carry none. Every ``decoy`` motif is planted in each sequence
    of either class with probability ``decoy_rate``: it says nothing about the label, and an
    explanation should ignore it. Motifs are named by JASPAR ID or anything
    :func:`cisgram.data.tfbind.resolve_motif` accepts.
    """

    name: str
    required: tuple[str, ...]
    gap: tuple[int, int] | None = None
    partial: float = 0.0
    decoys: tuple[str, ...] = ()
    decoy_rate: float = 0.5
    description: str = ""

    def __post_init__(self):
        if not self.required:
            raise ValueError("a grammar needs at least one required motif")
        if self.gap is not None and not 0 <= self.gap[0] <= self.gap[1]:
            raise ValueError(f"gap must be (lo, hi) with 0 <= lo <= hi, got {self.gap}")
        if not 0 <= self.partial <= 1 or not 0 <= self.decoy_rate <= 1:
            raise ValueError("partial and decoy_rate are fractions in [0, 1]")
        if self.partial and len(self.required) < 2:
            raise ValueError("partial negatives need at least two required motifs")

    def to_dict(self) -> dict:
        return {"name": self.name, "required": list(self.required), "gap": list(self.gap) if self.gap else None,
                "partial": self.partial, "decoys": list(self.decoys), "decoy_rate": self.decoy_rate,
                "description": self.description}

    @classmethod
    def from_dict(cls, d: dict) -> Grammar:
        return cls(d["name"], tuple(d["required"]), tuple(d["gap"]) if d.get("gap") else None, d.get("partial", 0.0),
                   tuple(d.get("decoys", ())), d.get("decoy_rate", 0.5), d.get("description", ""))


GRAMMARS = {
    "ctcf": Grammar("ctcf", ("MA0139.2",), decoys=("MA0035.5", "MA0079.5"), decoy_rate=0.5,
                    description="positive = a CTCF site (MA0139.2) anywhere; GATA1 (MA0035.5) and SP1 (MA0079.5) "
                                "decoys in half the sequences of both classes"),
    "gata_tal1": Grammar("gata_tal1", ("MA0091.2", "MA0035.5"), gap=(7, 9), partial=0.5, decoys=("MA0139.2",),
                         decoy_rate=0.3,
                         description="positive = the erythroid composite: a TAL1::TCF3 E-box (MA0091.2) then, 7-9 bp "
                                     "later, GATA1 (MA0035.5); half the negatives carry only one of the two; CTCF "
                                     "(MA0139.2) decoys in 30% of both classes"),
}


@dataclass(frozen=True)
class Simulation:
    """Simulated sequences with their labels, split and planted sites.

    ``codes`` ``(N, L)`` uint8; ``label`` ``(N,)`` int8; ``split`` ``(N,)`` ``"train"``/``"val"``/
    ``"test"``; ``sites``: one row per planted site (:data:`SITE_COLUMNS`: sequence index, motif
    ID, readable name, role ``required``/``partial``/``decoy``, 0-based half-open ``start``/``end``,
    strand ``+``/``-``); ``motifs``: ``{motif ID: Motif}``.
    """

    codes: np.ndarray
    label: np.ndarray
    split: np.ndarray
    sites: pd.DataFrame
    grammar: Grammar
    motifs: dict
    config: dict

    def truth(self, roles: Sequence[str] = ("required",)) -> np.ndarray:
        """``(N, L)`` bool: the bases covered by sites of the given roles (the ground truth an
        explanation of a positive should point at)."""
        mask = np.zeros(self.codes.shape, dtype=bool)
        s = self.sites[self.sites["role"].isin(roles)]
        for i, a, b in zip(s["seq"].to_numpy(), s["start"].to_numpy(), s["end"].to_numpy(), strict=True):
            mask[i, a:b] = True
        return mask


def _place(length: int, widths: list[int], rng: np.random.Generator, tries: int = 200) -> list[int] | None:
    """Non-overlapping starts for blocks of ``widths`` in ``length`` bp, or None."""
    taken = np.zeros(length, dtype=bool)
    starts = []
    for w in widths:
        for _ in range(tries):
            s = int(rng.integers(0, length - w + 1))
            if not taken[s: s + w].any():
                taken[s: s + w] = True
                starts.append(s)
                break
        else:
            return None
    return starts


def _blocks(grammar: Grammar, positive: bool, rng: np.random.Generator) -> list[list[tuple[str, str]]]:
    """What to plant in one sequence: blocks of ``(motif, role)``; a composite is one block."""
    blocks: list[list[tuple[str, str]]] = []
    if positive:
        req = [(m, "required") for m in grammar.required]
        blocks += [req] if grammar.gap is not None else [[r] for r in req]
    elif rng.random() < grammar.partial:
        k = int(rng.integers(1, len(grammar.required)))
        blocks += [[(str(m), "partial")] for m in rng.choice(list(grammar.required), size=k, replace=False)]
    blocks += [[(m, "decoy")] for m in grammar.decoys if rng.random() < grammar.decoy_rate]
    return blocks


def _plant_block(codes_row: np.ndarray, start: int, block, gaps: list[int], sites: dict, minus: bool,
                 rng: np.random.Generator) -> list[tuple]:
    """Write one block's sites at ``start`` (reverse-complemented as a whole when ``minus``) and
    return their ``(motif, role, start, end, strand)``."""
    parts = [sample_sites(sites[m], 1, rng)[0] for m, _ in block]
    seq, spans, pos = [], [], 0
    for k, site in enumerate(parts):
        if k:
            gap = random_codes(1, gaps[k - 1], gc=0.5, rng=rng)[0] if gaps[k - 1] else np.zeros(0, np.uint8)
            seq.append(gap)
            pos += gaps[k - 1]
        spans.append((pos, pos + site.size))
        seq.append(site)
        pos += site.size
    unit = np.concatenate(seq)
    if minus:
        unit = 3 - unit[::-1]
        spans = [(unit.size - b, unit.size - a) for a, b in spans]
    codes_row[start: start + unit.size] = unit
    return [(m, role, start + a, start + b, "-" if minus else "+") for (m, role), (a, b) in zip(block, spans, strict=True)]


def simulate(grammar: Grammar, motifs: dict[str, Motif], *, n: int = 5000, length: int = 500, fraction: float = 0.5,
             gc: float = 0.41, split: tuple[float, float] = (0.1, 0.1), seed: int = 0) -> Simulation:
    """``n`` random sequences labelled by ``grammar``, with every planted site recorded.

    Parameters
    ----------
    grammar
        The rule (see :class:`Grammar`, or a built-in of :data:`GRAMMARS`).
    motifs
        ``{motif ID: Motif}`` for every motif the grammar names (:func:`grammar_motifs`).
    n, length, fraction, gc
        Sequences, their length, the fraction of positives and the background G+C content
        (bases i.i.d.).
    split
        Fractions of the sequences held out for validation and test, drawn at random: the
        sequences are independent, so a random split leaks nothing (unlike genomic regions).
    seed
        Everything random (backgrounds, labels, site sequences, positions, strands, split).

    Raises
    ------
    ValueError
        A motif missing from ``motifs``, or sites that do not fit in ``length`` bp.
    """
    missing = sorted({*grammar.required, *grammar.decoys} - set(motifs))
    if missing:
        raise ValueError(f"no matrix given for motif(s) {', '.join(missing)}")
    probs = {m: motifs[m].probs.T for m in {*grammar.required, *grammar.decoys}}
    widths = {m: p.shape[1] for m, p in probs.items()}
    composite = sum(widths[m] for m in grammar.required) + (grammar.gap[1] * (len(grammar.required) - 1) if grammar.gap else 0)
    if max(composite, *widths.values()) > length:
        raise ValueError(f"the grammar's sites (up to {composite} bp together) do not fit in {length} bp sequences")
    rng = np.random.default_rng(seed)
    codes = random_codes(n, length, gc=gc, rng=rng)
    label = (rng.random(n) < fraction).astype(np.int8)
    rows = []
    for i in range(n):
        blocks = _blocks(grammar, bool(label[i]), rng)
        gaps = [[int(rng.integers(grammar.gap[0], grammar.gap[1] + 1)) for _ in b[1:]] if grammar.gap else [0] * (len(b) - 1)
                for b in blocks]
        sizes = [sum(widths[m] for m, _ in b) + sum(g) for b, g in zip(blocks, gaps, strict=True)]
        starts = _place(length, sizes, rng)
        if starts is None:
            raise ValueError(f"the grammar's sites ({sum(sizes)} bp) do not fit in {length} bp sequences")
        for b, g, s in zip(blocks, gaps, starts, strict=True):
            rows += [(i, *r) for r in _plant_block(codes[i], s, b, g, probs, bool(rng.random() < 0.5), rng)]
    sites = pd.DataFrame(rows, columns=["seq", "motif", "role", "start", "end", "strand"])
    sites.insert(2, "name", sites["motif"].map(lambda m: motifs[m].alt_name or m))
    u = rng.random(n)
    parts = np.where(u < split[1], "test", np.where(u < split[0] + split[1], "val", "train"))
    cfg = {"n": n, "length": length, "fraction": fraction, "gc": gc, "split": list(split), "seed": seed}
    return Simulation(codes, label, parts, sites[SITE_COLUMNS], grammar,
                      {m: motifs[m] for m in sorted(probs)}, cfg)


def grammar_motifs(grammar: Grammar, database: str | os.PathLike | None = None) -> dict[str, Motif]:
    """The motifs a grammar names, from ``database`` (a MEME file) or, by default, JASPAR through
    pyjaspar (offline). Raises :class:`InputError` for a motif that cannot be found."""
    from cisgram.data.tfbind import resolve_motif

    out = {}
    for m in dict.fromkeys((*grammar.required, *grammar.decoys)):
        spec = m if database is None else f"{os.fspath(database)}#{m}"
        out[m] = resolve_motif(spec)[0]
    return out


def write_simulation(sim: Simulation, directory: str | os.PathLike) -> Path:
    """Write ``sequences.fa`` (``seq<i>``), ``labels.tsv`` (name, label, split), ``sites.tsv``,
    ``motifs.meme`` and ``simulation.json`` (grammar and settings) into ``directory``, each
    atomically; returns the directory."""
    from cisgram.files import atomic_write
    from cisgram.motifs.pwm import write_meme

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    names = [f"seq{i}" for i in range(len(sim.label))]
    letters = np.frombuffer(b"ACGTN", dtype="S1")
    with atomic_write(d / "sequences.fa") as fh:
        for name, row in zip(names, sim.codes, strict=True):
            fh.write(f">{name}\n{letters[row].tobytes().decode()}\n")
    with atomic_write(d / "labels.tsv") as fh:
        pd.DataFrame({"name": names, "label": sim.label, "split": sim.split}).to_csv(fh, sep="\t", index=False)
    with atomic_write(d / "sites.tsv") as fh:
        sim.sites.to_csv(fh, sep="\t", index=False)
    write_meme(list(sim.motifs.values()), d / "motifs.meme")
    with atomic_write(d / "simulation.json") as fh:
        json.dump({"grammar": sim.grammar.to_dict(), **sim.config}, fh, indent=2)
    return d


def read_simulation(directory: str | os.PathLike) -> Simulation:
    """A simulation written by :func:`write_simulation` (or by ``cisgram simulate``)."""
    from cisgram.errors import InputError
    from cisgram.files import require_file
    from cisgram.genome import encode
    from cisgram.motifs.pwm import read_meme

    d = Path(directory)
    for f in ("sequences.fa", "labels.tsv", "sites.tsv", "motifs.meme", "simulation.json"):
        require_file(d / f, f"simulation file {f}")
    cfg = json.loads((d / "simulation.json").read_text())
    seqs = [line.strip() for line in (d / "sequences.fa").read_text().splitlines() if line and line[0] != ">"]
    labels = pd.read_csv(d / "labels.tsv", sep="\t")
    if len(seqs) != len(labels) or len({len(s) for s in seqs}) != 1:
        raise InputError("sequences.fa and labels.tsv disagree (count or lengths)", path=d,
                         hint="rewrite the simulation with `cisgram simulate`")
    codes = np.stack([encode(s) for s in seqs])
    sites = pd.read_csv(d / "sites.tsv", sep="\t", dtype={"motif": str, "name": str})
    motifs = {m.name: m for m in read_meme(d / "motifs.meme")}
    cfg_rest = {k: v for k, v in cfg.items() if k != "grammar"}
    return Simulation(codes, labels["label"].to_numpy(np.int8), labels["split"].to_numpy(str), sites[SITE_COLUMNS],
                      Grammar.from_dict(cfg["grammar"]), motifs, cfg_rest)
