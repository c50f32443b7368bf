"""Training checkpoints on disk as safetensors + JSON, so that a stopped run can be resumed (no pickles).

:func:`cisgram.training.fit` keeps, at the end of every completed epoch (after validation and
early stopping), Lightning's whole checkpoint — the network, the optimiser, the learning-rate
scheduler, the loops' progress, the callbacks' states (early stopping, the kept best weights and
history, the random states) — through :class:`SafetensorsCheckpointIO`, a Lightning
``CheckpointIO`` plugin that writes the dictionary Lightning would pickle with ``torch.save`` as

``<directory>/epoch-<n>/``
    ``checkpoint.json`` (every value that is not a tensor, with a reference where a tensor was)
    and one ``<group>.safetensors`` per group of tensors: ``weights`` (the network),
    ``optimizer``, ``best`` (the kept best epoch's weights), ``rng`` (the random states as uint8
    tensors), ``earlystopping``;
``<directory>/latest.json``
    ``{"epoch": n, "directory": "epoch-<n>"}``, written last.

An epoch's directory is written under a temporary name and renamed into place, then
``latest.json`` is replaced atomically, then older epochs are removed: a process killed at any
moment leaves the previous complete checkpoint (or the new one) named by ``latest.json``.

JSON cannot say everything Python can: tuples, dictionaries with keys that are not strings and
non-finite floats are written as tagged objects (``{"__tuple__": [...]}``, ``{"__items__":
[[key, value], ...]}``, ``{"__float__": "nan"}``) and read back as they were; any other object
(a class instance, a numpy array, a function) is a :class:`TypeError`, never a pickle.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from cisgram.errors import InputError
from cisgram.files import write_json

FORMAT = 1
LATEST = "latest.json"
TREE = "checkpoint.json"
_GROUPS = {"state_dict": "weights", "optimizer_states": "optimizer", "lr_schedulers": "scheduler"}
_TAGS = ("__tensor__", "__tuple__", "__items__", "__float__")


def is_rank_zero() -> bool:
    """False in the extra processes of a distributed run (Lightning's ``ddp`` children, torchrun,
    SLURM tasks), which neither check nor write run directories."""
    return all(os.environ.get(v, "0") == "0" for v in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))


def _group(path: tuple[str, ...]) -> str:
    """The safetensors file a tensor at ``path`` goes to: a callback's tensors to the callback's
    own file (named by its state key's first word), the rest by the checkpoint's top-level key."""
    if path[0] == "callbacks" and len(path) > 1:
        return re.match(r"\w*", path[1]).group(0).lower() or "callbacks"
    return _GROUPS.get(path[0], re.sub(r"\W", "", path[0]).lower() or "other")


def encode(obj: Any, tensors: dict[str, dict[str, torch.Tensor]], path: tuple[str, ...] = ()) -> Any:
    """``obj`` as JSON-safe values; its tensors moved into ``tensors[group][key]`` (CPU copies)."""
    if isinstance(obj, torch.Tensor):
        group, key = _group(path), "/".join(path)
        held = tensors.setdefault(group, {})
        if key in held:  # names holding "/" could meet another path's
            key = f"{key}#{len(held)}"
        held[key] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": [group, key]}
    if isinstance(obj, bool) or obj is None or isinstance(obj, str | int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v, tensors, (*path, str(i))) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode(v, tensors, (*path, str(i))) for i, v in enumerate(obj)]
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) for k in obj) and not any(k in _TAGS for k in obj):
            return {k: encode(v, tensors, (*path, k)) for k, v in obj.items()}
        return {"__items__": [[encode(k, tensors, (*path, "key")), encode(v, tensors, (*path, str(k)))]
                              for k, v in obj.items()]}
    if type(obj).__module__ == "numpy" and hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        return encode(obj.item(), tensors, path)
    raise TypeError(f"a checkpoint holds tensors and JSON values only; {'/'.join(path) or 'the root'} is a "
                    f"{type(obj).__name__}")


def decode(obj: Any, tensors: dict[str, dict[str, torch.Tensor]]) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(obj, list):
        return [decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        (tag, value), = obj.items()
        if tag == "__tensor__":
            return tensors[value[0]][value[1]]
        if tag == "__tuple__":
            return tuple(decode(v, tensors) for v in value)
        if tag == "__items__":
            return {decode(k, tensors): decode(v, tensors) for k, v in value}
        if tag == "__float__":
            return float(value)
    return {k: decode(v, tensors) for k, v in obj.items()}


def latest(directory: str | os.PathLike) -> Path | None:
    """The newest complete epoch directory of a checkpoint directory, or None."""
    d = Path(directory)
    try:
        pointer = json.loads((d / LATEST).read_text())
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise InputError(f"unreadable checkpoint pointer ({e})", path=d / LATEST) from None
    target = d / str(pointer.get("directory", ""))
    if not (target / TREE).is_file():
        raise InputError(f"the checkpoint {target.name} named by {LATEST} is missing", path=d,
                         hint="remove the directory and start the run again")
    return target


def write_checkpoint(checkpoint: dict, directory: str | os.PathLike) -> Path:
    """Write ``checkpoint`` (Lightning's dictionary, or any tree of tensors and JSON values) as
    ``<directory>/epoch-<n>/`` and point ``latest.json`` at it (see the module docstring)."""
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, dict[str, torch.Tensor]] = {}
    tree = {"format": FORMAT, "checkpoint": encode(checkpoint, tensors)}
    name = f"epoch-{int(checkpoint.get('epoch', 0))}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=d))
    try:
        for group, values in tensors.items():
            save_file(values, str(tmp / f"{group}.safetensors"))
        (tmp / TREE).write_text(json.dumps(tree, indent=1))
        os.chmod(tmp, 0o777 & ~_umask())
        if (d / name).exists():  # the same epoch again, after a resume from an older pointer
            shutil.rmtree(d / name)
        os.replace(tmp, d / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_json(d / LATEST, {"format": FORMAT, "epoch": int(checkpoint.get("epoch", 0)), "directory": name})
    for old in d.iterdir():
        if old.is_dir() and old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return d / name


def clear_checkpoint(directory: str | os.PathLike) -> None:
    """Remove a checkpoint directory and everything in it (nothing when it is not there)."""
    shutil.rmtree(directory, ignore_errors=True)


def read_tree(directory: str | os.PathLike) -> dict | None:
    """The JSON part of the latest checkpoint in ``directory`` (tensors left as references), or None."""
    target = latest(directory)
    if target is None:
        return None
    tree = json.loads((target / TREE).read_text())
    if tree.get("format") != FORMAT:
        raise InputError(f"checkpoint format {tree.get('format')} is not {FORMAT}", path=target)
    return tree["checkpoint"]


def read_checkpoint(directory: str | os.PathLike) -> dict | None:
    """The latest checkpoint in ``directory`` with its tensors, or None when there is none."""
    from safetensors.torch import load_file

    target = latest(directory)
    if target is None:
        return None
    tensors = {p.stem: load_file(str(p)) for p in target.glob("*.safetensors")}
    return decode(read_tree(directory), tensors)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def checkpoint_io():
    """A Lightning ``CheckpointIO`` plugin that saves and loads through :func:`write_checkpoint`
    and :func:`read_checkpoint` (``path`` is the checkpoint directory, not a file)."""
    from lightning.pytorch.plugins.io import CheckpointIO

    class SafetensorsCheckpointIO(CheckpointIO):
        def save_checkpoint(self, checkpoint, path, storage_options=None):
            write_checkpoint(checkpoint, path)

        def load_checkpoint(self, path, map_location=None, weights_only=None):
            state = read_checkpoint(path)
            if state is None:
                raise InputError("no checkpoint to resume from", path=path)
            return state

        def remove_checkpoint(self, path):
            shutil.rmtree(path, ignore_errors=True)

    return SafetensorsCheckpointIO()


def saved_fit(directory: str | os.PathLike, meta: dict) -> dict | None:
    """The ``"cisgram"`` part of the latest checkpoint in ``directory`` (None without one):
    ``finished``, ``seconds``, ``world_size`` and the fit's ``config``, ``train_items`` and
    ``val_items``, which must equal ``meta``'s (else an :class:`InputError` listing the
    differences)."""
    tree = read_tree(directory)
    if tree is None:
        return None
    saved = decode(tree.get("cisgram", {}), {})
    then = saved.get("config", {})
    diff = [f"{k}: {then.get(k)!r} then, {v!r} now" for k, v in meta["config"].items() if then.get(k) != v]
    diff += [f"{k}: {saved.get(k)} then, {meta[k]} now" for k in ("train_items", "val_items") if saved.get(k) != meta[k]]
    if diff:
        raise InputError(f"the checkpoint was written by a fit with other settings ({'; '.join(diff)})",
                         path=directory, hint="resume with the options of the interrupted run, or start a new run "
                                              "in another directory")
    return saved


def rng_state(generator: torch.Generator | None = None) -> dict:
    """The random states a resumed epoch needs: torch's global CPU generator (dropout, the
    validation loader's seed), ``generator`` (the training loader's shuffling) and, once CUDA is
    in use, every CUDA device's generator; all as uint8 tensors."""
    state = {"torch": torch.get_rng_state()}
    if generator is not None:
        state["shuffle"] = generator.get_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict, generator: torch.Generator | None = None) -> None:
    """Put back what :func:`rng_state` took (CUDA states only where the device count matches)."""
    torch.set_rng_state(state["torch"])
    if generator is not None and "shuffle" in state:
        generator.set_state(state["shuffle"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and torch.cuda.device_count() == len(cuda):
        torch.cuda.set_rng_state_all(cuda)


def epoch_checkpoint(directory: str | os.PathLike, generator: torch.Generator, meta: dict, seconds_before: float = 0.0):
    """A Lightning callback that saves the trainer's checkpoint into ``directory`` at the end of
    every epoch, with the random states (:func:`rng_state`) as its own state and ``meta`` plus
    ``finished`` (early stopping or the last epoch), ``seconds`` (of training, over every
    session) and ``world_size`` under the checkpoint's ``"cisgram"`` key. On a resume
    (Lightning's ``ckpt_path``) it puts the random states back when Lightning restores the
    callbacks (before it makes the first loader iterator) and the global one again when training
    starts.

    It is a Lightning ``Checkpoint``, so the trainer runs it after every other callback at the
    end of an epoch: the early-stopping state it saves has seen that epoch."""
    import time

    from lightning.pytorch.callbacks import Checkpoint

    class EpochCheckpoint(Checkpoint):
        def __init__(self):
            self.pending: dict | None = None
            self.t0 = time.perf_counter()

        @property
        def state_key(self) -> str:
            return "rng"

        def on_train_epoch_end(self, trainer, pl_module):
            trainer.save_checkpoint(directory)

        def on_save_checkpoint(self, trainer, pl_module, checkpoint):
            checkpoint["cisgram"] = {**meta, "seconds": seconds_before + time.perf_counter() - self.t0,
                                     "world_size": trainer.world_size,
                                     "finished": bool(trainer.should_stop or trainer.current_epoch + 1 >= trainer.max_epochs)}

        def state_dict(self):
            return rng_state(generator)

        def load_state_dict(self, state_dict):
            # now: Lightning makes the first epoch's loader iterator (which draws from the
            # shuffling generator) before any hook of the fit runs
            set_rng_state(state_dict, generator)
            self.pending = state_dict

        def on_train_start(self, trainer, pl_module):
            if self.pending is not None:  # the global state again, whatever the set-up drew from it
                torch.set_rng_state(self.pending["torch"])
                self.pending = None

    return EpochCheckpoint()
