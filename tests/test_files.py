"""Atomic writes (nothing half-written on failure, normal permissions on success) and compressed
inputs (a truncated or corrupt gzip/BGZF file is one InputError naming it, whoever reads it)."""

from __future__ import annotations

import gzip
import os

import pandas as pd
import pytest

from cisgram.bundled import demo
from cisgram.errors import InputError
from cisgram.files import (
    atomic_path,
    atomic_write,
    check_compressed,
    compressed_errors,
    has_bgzf_eof,
    open_text,
)
from tests.probes import TRUNCATED, corrupt, crlf, gzipped, truncated


def test_atomic_write_failure_leaves_old_file_and_no_temp(tmp_path):
    p = tmp_path / "out.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(p) as fh:
        fh.write("half")
        raise RuntimeError("boom")
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]


def test_atomic_outputs_get_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "a.txt") as fh:
            fh.write("x")
        with atomic_path(tmp_path / "b.bin") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.bin").stat().st_mode & 0o777 == 0o644


@pytest.fixture
def peaks_gz(tmp_path):
    """The bundled K562 peaks (real narrowPeak), gzip-compressed."""
    return gzipped(demo().peaks["K562"], tmp_path / "K562.narrowPeak.gz")


@pytest.mark.parametrize("damage", [truncated, corrupt])
@pytest.mark.parametrize("how", ["read", "lines", "readline"])
def test_open_text_names_a_truncated_or_corrupt_file(peaks_gz, tmp_path, damage, how):
    bad = damage(peaks_gz, tmp_path / "bad.narrowPeak.gz")
    with pytest.raises(InputError) as e, open_text(bad) as fh:
        if how == "read":
            fh.read()
        elif how == "lines":
            list(fh)
        else:
            while fh.readline():
                pass
    message = str(e.value)
    assert message.startswith(f"{bad}: {TRUNCATED} (") and "\n" not in message


def test_the_whole_file_reads_and_line_endings_are_unix(peaks_gz, tmp_path):
    text = demo().peaks["K562"].read_text()
    with open_text(peaks_gz) as fh:
        assert fh.read() == text
    windows = crlf(demo().peaks["K562"], tmp_path / "w.narrowPeak")
    for path in (windows, gzipped(windows, tmp_path / "w.narrowPeak.gz")):
        with open_text(path) as fh:
            assert fh.read() == text


def test_library_readers_and_whole_file_checks(peaks_gz, tmp_path):
    bad = truncated(peaks_gz, tmp_path / "t.gz")
    with pytest.raises(InputError, match=TRUNCATED), compressed_errors(bad):
        pd.read_csv(bad, sep="\t", header=None, compression="gzip")  # pandas decompresses it itself
    check_compressed(peaks_gz)
    check_compressed(demo().peaks["K562"])  # plain text passes
    for damage in (truncated, corrupt):
        with pytest.raises(InputError, match=TRUNCATED):
            check_compressed(damage(peaks_gz, tmp_path / f"{damage.__name__}.gz"))
    genome = demo().genome  # bgzip: ends with the BGZF end-of-file block; a plain gzip does not
    assert has_bgzf_eof(genome) and not has_bgzf_eof(truncated(genome, tmp_path / "g.fa.gz"))
    assert not has_bgzf_eof(peaks_gz)
    with gzip.open(peaks_gz) as fh:
        assert fh.read(4)  # the helper's gzip copy is a valid gzip file
