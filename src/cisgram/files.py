"""Small file helpers shared by the readers and writers: text opening and atomic writes."""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from cisgram.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"


def is_gzipped(path: str | os.PathLike) -> bool:
    """True when ``path`` starts with the gzip magic bytes (gzip or BGZF)."""
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def require_file(path: str | os.PathLike, what: str = "file") -> Path:
    """Return ``path`` as a Path, raising :class:`InputError` if it is missing or empty."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{what} not found", path=p, hint="check the path")
    if p.is_dir():
        raise InputError(f"expected a {what} but found a directory", path=p)
    if p.stat().st_size == 0:
        raise InputError(f"{what} is empty", path=p)
    return p


def open_text(path: str | os.PathLike) -> IO[str]:
    """Open a plain or gzip/BGZF-compressed text file for reading (detected from its bytes)."""
    p = require_file(path)
    if is_gzipped(p):
        return gzip.open(p, "rt")
    return open(p)


def _umask_mode() -> int:
    """0o666 less the process umask: the mode a plain ``open(path, "w")`` would give."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for writers that take a file name (pyBigWig,
    anndata, bgzip); rename it into place on success, remove it on failure."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _umask_mode())  # mkstemp creates 0600
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Write to a temporary file beside ``path`` and rename it into place on success.

    A failure inside the ``with`` block removes the temporary file and leaves any existing
    ``path`` untouched, so no half-written output is ever left behind.
    """
    with atomic_path(path) as tmp, open(tmp, mode) as fh:
        yield fh


def write_json(path: str | os.PathLike, obj, *, indent: int = 1) -> None:
    """Write ``obj`` as JSON to ``path`` atomically; numpy scalars and other numbers that JSON does
    not know are written as floats."""
    import json

    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=indent, default=float)
