"""Figures of the tfbind report's pattern section: small contribution logos of TF-MoDISco patterns,
drawn with :func:`cisgram.report.plots.contribution_logo` on a figure sized for a table cell, and
written as PNG files next to a run's MoDISco results."""

from __future__ import annotations

import os

import numpy as np

from cisgram.files import atomic_path
from cisgram.report.plots import DPI, contribution_logo, new_figure

CELL_SIZE = (2.6, 0.9)  # inches: a logo per table cell, four or more cells side by side


def pattern_logo(contrib: np.ndarray, title: str = ""):
    """A contribution logo ``(w, 4)`` (columns A, C, G, T) small enough for a table cell."""
    width = min(4.0, max(1.6, 0.08 * np.asarray(contrib).shape[0] + 0.6))
    fig, ax = new_figure((width, CELL_SIZE[1]))
    contribution_logo(contrib, title, ax=ax)
    ax.set_ylabel("")
    ax.set_title(title, fontsize=6)
    return fig


def save_pattern_logo(contrib: np.ndarray, title: str, path: str | os.PathLike) -> None:
    """:func:`pattern_logo` written to ``path`` as a PNG, atomically."""
    fig = pattern_logo(contrib, title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")
