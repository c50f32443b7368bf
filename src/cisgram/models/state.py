"""A model's state on disk: arrays in ``model.safetensors`` and everything else in ``model.json``.

Every family saves through :func:`save_state` and opens through :func:`load_state`, so no model
is ever pickled. ``model.json`` always holds ``{"family": ..., "format": 1, ...}``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from cisgram.errors import InputError
from cisgram.files import atomic_path, atomic_write

WEIGHTS = "model.safetensors"
CONFIG = "model.json"
FORMAT = 1


def save_state(directory: str | os.PathLike, family: str, arrays: dict[str, np.ndarray], config: dict) -> Path:
    """Write ``arrays`` (name -> numpy array) and ``config`` (JSON-safe) into ``directory``,
    each file atomically. Returns the directory."""
    from safetensors.numpy import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    clean = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    with atomic_path(d / WEIGHTS) as tmp:
        save_file(clean, str(tmp))
    with atomic_write(d / CONFIG) as fh:
        json.dump({"family": family, "format": FORMAT, **config}, fh, indent=1)
    return d


def load_state(directory: str | os.PathLike, family: str | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """``(arrays, config)`` saved by :func:`save_state`; ``family`` checks what the run holds."""
    from safetensors.numpy import load_file

    d = Path(directory)
    if not (d / CONFIG).is_file() or not (d / WEIGHTS).is_file():
        raise InputError(f"no model here (expected {CONFIG} and {WEIGHTS})", path=d,
                         hint="give the run directory written by `cisgram train`")
    try:
        config = json.loads((d / CONFIG).read_text())
        arrays = load_file(str(d / WEIGHTS))
    except (OSError, ValueError) as e:
        raise InputError(f"unreadable model files ({e})", path=d) from None
    if family is not None and config.get("family") != family:
        raise InputError(f"this run holds a {config.get('family')!r} model, not {family!r}", path=d)
    return arrays, config
