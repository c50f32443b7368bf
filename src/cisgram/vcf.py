"""VCF records to score: :func:`read_vcf` reads a plain or gzip/bgzip VCF (CHROM POS ID REF ALT, a
multi-allelic ALT split into one row per allele), keeps SNVs, MNVs and short indels of
sequence-resolved alleles and checks them against a genome; a bad record never stops the reading
but becomes a :class:`Problem` (its 1-based line number and the reason).

Real-world shapes: a genome-wide VCF has records on contigs a model's genome lacks (``chrM``,
``chrUn_…``, ``…_random``, alt contigs); each is a problem and the rest is read, and the file is
refused only when no record is on a chromosome of the genome (``22`` against ``chr22``: the
message gives the fix). Symbolic alleles (``<DEL>``, ``<INS>``, breakends) and ``*`` are
problems; a multi-allelic record is split, each allele kept or listed on its own. The file is
streamed, so a bgzip VCF needs no tabix index; Windows line endings are read as Unix ones; a
truncated or corrupt ``.gz`` is an :class:`~cisgram.errors.InputError` naming it."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cisgram.errors import InputError, few
from cisgram.files import atomic_write, open_text
from cisgram.genome import open_genome

log = logging.getLogger(__name__)

COLUMNS = ["line", "chrom", "pos", "id", "ref", "alt", "kind"]


KINDS = ("snv", "mnv", "insertion", "deletion", "complex")


_BASES = frozenset("ACGT")


@dataclass(frozen=True)
class Problem:
    """A VCF record (or one of its alleles) that is not scored: its 1-based ``line`` and why."""

    line: int
    reason: str


def variant_kind(ref: str, alt: str) -> str:
    """``snv``, ``mnv``, ``insertion``, ``deletion`` or ``complex`` after removing the bases the two
    alleles share at the start (the VCF anchor base) and then at the end."""
    i = 0
    while i < min(len(ref), len(alt)) and ref[i] == alt[i]:
        i += 1
    r, a = ref[i:], alt[i:]
    j = 0
    while j < min(len(r), len(a)) and r[-1 - j] == a[-1 - j]:
        j += 1
    r, a = r[: len(r) - j], a[: len(a) - j]
    if not r:
        return "insertion"
    if not a:
        return "deletion"
    if len(r) == len(a):
        return "snv" if len(r) == 1 and len(ref) == len(alt) == 1 else "mnv"
    return "complex"


def _allele_problem(ref: str, alt: str, max_indel: int) -> str | None:
    if alt == "*":
        return "ALT '*' (an allele deleted by another record) has no sequence to score"
    if alt.startswith("<") or "[" in alt or "]" in alt:
        return f"symbolic ALT {alt!r} is not scored: only sequence-resolved SNVs and indels are"
    if alt == ".":
        return "ALT is '.' (no alternative allele)"
    if not alt or not set(alt) <= _BASES:
        return f"ALT {alt!r} is not made of A, C, G, T"
    if len(alt) > max_indel:
        return f"ALT {alt[:20]}… is {len(alt)} bp, longer than max_indel={max_indel}"
    if alt == ref:
        return f"ALT {alt!r} equals REF"
    return None


CHUNK = 100_000  # records per chunk of iter_vcf: ~30 MB of table, whatever the file's size


def read_vcf(path: str | os.PathLike, genome=None, *, max_indel: int = 50) -> tuple[pd.DataFrame, list[Problem]]:
    """Read the variants of a VCF (plain, gzip or bgzip).

    Parameters
    ----------
    path
        The VCF. Lines starting with ``#`` and blank lines are skipped; the first five
        tab-separated columns are used (CHROM POS ID REF ALT).
    genome
        A :class:`~cisgram.genome.Genome` or its path. When given, each record's chromosome,
        position and REF allele (case-insensitive) are checked against it.
    max_indel
        Longest REF or ALT allele kept, in bp.

    Returns
    -------
    (table, problems)
        ``table``: one row per (record, ALT allele) with columns ``line`` (1-based line in the
        file), ``chrom``, ``pos`` (1-based, as in the VCF), ``id``, ``ref``, ``alt`` (upper case)
        and ``kind`` (:func:`variant_kind`), in file order. ``problems``: a :class:`Problem` per
        record or allele left out, in file order.

    Raises :class:`InputError` when the file cannot be read, or when a genome is given and none
    of the file's chromosomes is in it (the message says whether adding or removing ``chr``
    fixes it). :func:`iter_vcf` reads the same file in chunks.
    """
    tables, problems = [], []
    for table, probs in iter_vcf(path, genome, max_indel=max_indel):
        tables.append(table)
        problems.extend(probs)
    return (pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]), problems


def _frame(rows: list[tuple]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=COLUMNS)
    return table.astype({"line": np.int64, "pos": np.int64, "chrom": object, "id": object, "ref": object,
                         "alt": object, "kind": object})


def iter_vcf(path: str | os.PathLike, genome=None, *, max_indel: int = 50,
             chunk: int = CHUNK) -> Iterator[tuple[pd.DataFrame, list[Problem]]]:
    """:func:`read_vcf` in pieces: ``(table, problems)`` for every ``chunk`` records read, in file
    order, so a genome-wide VCF is never held whole. At least one (possibly empty) piece is
    yielded; the check that some record is on the genome's chromosomes runs when the file ends,
    after the pieces before it were yielded."""
    from cisgram.genome import chromosome_hint, encode

    if max_indel < 1:
        raise InputError(f"max_indel must be at least 1, got {max_indel}")
    if chunk < 1:
        raise InputError(f"chunk must be at least 1, got {chunk}")
    g = open_genome(genome)
    rows: list[tuple] = []
    problems: list[Problem] = []
    unknown: dict[str, int] = {}
    known, records, yielded = 0, 0, False
    try:
        with open_text(path) as fh:
            for n, raw in enumerate(fh, 1):
                if records >= chunk:
                    yield _frame(rows), problems
                    rows, problems, records, yielded = [], [], 0, True
                text = raw.rstrip("\r\n")
                if not text.strip() or text.startswith("#"):
                    continue
                records += 1
                fields = text.split("\t")
                if len(fields) < 5:
                    fields = text.split()
                if len(fields) < 5:
                    problems.append(Problem(n, f"expected at least 5 tab-separated columns (CHROM POS ID REF ALT), "
                                               f"found {len(fields)}"))
                    continue
                chrom, pos_s, vid, ref, alts = (f.strip() for f in fields[:5])
                try:
                    pos = int(pos_s)
                except ValueError:
                    problems.append(Problem(n, f"POS {pos_s!r} is not an integer"))
                    continue
                if pos < 1:
                    problems.append(Problem(n, f"POS {pos} is below 1 (VCF positions are 1-based)"))
                    continue
                ref = ref.upper()
                if not ref or not set(ref) <= _BASES:
                    problems.append(Problem(n, f"REF {ref!r} is not made of A, C, G, T"))
                    continue
                if len(ref) > max_indel:
                    problems.append(Problem(n, f"REF is {len(ref)} bp, longer than max_indel={max_indel}"))
                    continue
                where = f"{chrom}:{pos}"
                if g is not None:
                    if chrom not in g.sizes:
                        unknown[chrom] = unknown.get(chrom, 0) + 1
                        hint = chromosome_hint([chrom], g.chroms)
                        problems.append(Problem(n, f"chromosome {chrom!r} is not in the genome {g.path.name}"
                                                   + (f" ({hint})" if hint else "")))
                        continue
                    known += 1
                    end = pos - 1 + len(ref)
                    if end > g.sizes[chrom]:
                        problems.append(Problem(n, f"{where} (REF {len(ref)} bp) runs past the end of {chrom} "
                                                   f"({g.sizes[chrom]:,} bp in {g.path.name})"))
                        continue
                    have = g.chromosome_codes(chrom)[pos - 1: end]
                    if not np.array_equal(have, encode(ref)):
                        have_s = "".join("ACGTN"[c] for c in have)
                        problems.append(Problem(n, f"REF {ref!r} but the genome has {have_s!r} at {where}"))
                        continue
                for alt in alts.split(","):
                    alt = alt.strip().upper()
                    why = _allele_problem(ref, alt, max_indel)
                    if why is not None:
                        problems.append(Problem(n, f"{where}: {why}"))
                        continue
                    rows.append((n, chrom, pos, vid, ref, alt, variant_kind(ref, alt)))
    except UnicodeDecodeError:
        raise InputError("not a text VCF (binary content)", path=path, hint="give a plain or gzip/bgzip VCF") from None
    except OSError as e:
        raise InputError(f"cannot read this VCF ({e})", path=path) from None
    if g is not None and unknown and not known:
        raise InputError(
            f"no record is on a chromosome of the genome {g.path.name}: the VCF has {few(unknown, sort=False)}; "
            f"the genome has {few(g.chroms, sort=False)}",
            path=path,
            hint=chromosome_hint(list(unknown), g.chroms) or "score the VCF with a model of its assembly",
        )
    if unknown:
        log.warning("%s: %d record(s) on chromosome(s) not in the genome: %s", path, sum(unknown.values()),
                    ", ".join(list(unknown)[:5]))
    if rows or problems or not yielded:
        yield _frame(rows), problems


def problems_path(out: str | os.PathLike) -> Path:
    """Where a variant scoring lists the records it left out: ``scores.tsv`` ->
    ``scores.problems.tsv`` (any other name gets ``.problems.tsv`` appended)."""
    p = Path(out)
    return p.with_name((p.name[:-4] if p.name.endswith(".tsv") else p.name) + ".problems.tsv")


def report_problems(problems: list[Problem], n_scored: int, vcf, out, *, nothing: str = "no variant to score") -> None:
    """Write the records left out to :func:`problems_path` ``(out)`` (or remove a stale list) and
    refuse a VCF with nothing scored (``n_scored`` rows): an :class:`InputError` naming ``vcf``,
    saying ``nothing`` and the first problem."""
    problems.sort(key=lambda p: p.line)
    extra = problems_path(out)
    if problems:
        with atomic_write(extra) as fh:
            pd.DataFrame({"line": [p.line for p in problems], "reason": [p.reason for p in problems]}).to_csv(
                fh, sep="\t", index=False)
        log.warning("%s: %d record(s) or allele(s) not scored, listed in %s", vcf, len(problems), extra)
    elif extra.exists():
        extra.unlink()
    if not n_scored:
        first = f"; first: line {problems[0].line}: {problems[0].reason}" if problems else ""
        raise InputError(f"{nothing}{first}", path=vcf, hint=f"see {extra}" if problems else "the VCF holds no records")
