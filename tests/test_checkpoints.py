"""cisgram.checkpoints: Lightning's checkpoint dictionary as safetensors + JSON (no pickles), written
atomically per epoch behind a pointer, read back exactly."""

from __future__ import annotations

import json
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch

from cisgram.checkpoints import LATEST, decode, encode, latest, read_checkpoint, write_checkpoint
from cisgram.errors import InputError


def tree() -> dict:
    g = torch.Generator().manual_seed(0)
    return {"epoch": 3, "global_step": 12, "pytorch-lightning_version": "2.6.6",
            "state_dict": OrderedDict([("net.0.weight", torch.randn(4, 3, generator=g)), ("net.0.bias", torch.zeros(4))]),
            "optimizer_states": [{"state": {0: {"step": torch.tensor(12.0), "exp_avg": torch.ones(4, 3)}},
                                  "param_groups": [{"params": [0, 1], "lr": 1e-3, "betas": (0.9, 0.95), "foreach": None,
                                                    "amsgrad": False}]}],
            "callbacks": {"EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}": {"wait_count": 1,
                                                                                  "best_score": torch.tensor(0.5)},
                          "best": {"best": math.inf, "epoch": -1, "history": [{"val_loss": math.nan}], "state": None},
                          "rng": {"torch": torch.get_rng_state()}},
            "loops": {"fit_loop": {"epoch_progress": {"total": {"ready": 4}}}}, "np": np.float32(0.25)}


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b


def test_round_trip_keeps_tuples_int_keys_non_finite_floats_and_tensors(tmp_path):
    t = tree()
    back = read_checkpoint(write_checkpoint(t, tmp_path).parent)
    t["np"] = 0.25  # a numpy scalar comes back as the number it holds
    assert same(t, back)
    assert back["optimizer_states"][0]["param_groups"][0]["betas"] == (0.9, 0.95)
    assert list(back["optimizer_states"][0]["state"]) == [0]
    # the files: JSON and one safetensors file per group, named for what they hold
    names = {p.name for p in (tmp_path / "epoch-3").iterdir()}
    assert names == {"checkpoint.json", "weights.safetensors", "optimizer.safetensors", "earlystopping.safetensors",
                     "rng.safetensors"}
    json.loads((tmp_path / "epoch-3" / "checkpoint.json").read_text(), parse_constant=pytest.fail)  # strict JSON


def test_objects_that_are_not_tensors_or_json_values_are_refused():
    with pytest.raises(TypeError, match="optimizer/fn is a function"):
        encode({"optimizer": {"fn": lambda x: x}}, {})
    with pytest.raises(TypeError, match="ndarray"):
        encode({"a": np.zeros(3)}, {})
    assert decode(encode({"__tensor__": 1}, {}), {}) == {"__tensor__": 1}  # a key that looks like a tag
    held: dict = {}
    clash = {"a/b": torch.zeros(1), "a": {"b": torch.ones(1)}}  # two paths, one joined name
    assert same(decode(encode(clash, held), held), clash)


def test_each_epoch_replaces_the_last_behind_a_pointer(tmp_path):
    t = tree()
    for epoch in range(3):
        write_checkpoint({**t, "epoch": epoch}, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-2", LATEST]
    assert latest(tmp_path) == tmp_path / "epoch-2" and read_checkpoint(tmp_path)["epoch"] == 2
    # a write that fails leaves the last complete checkpoint and no temporary directory
    with pytest.raises(TypeError):
        write_checkpoint({**t, "epoch": 3, "bad": object()}, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-2", LATEST]
    assert read_checkpoint(tmp_path / "nothing") is None
    (tmp_path / LATEST).write_text(json.dumps({"epoch": 5, "directory": "epoch-5"}))
    with pytest.raises(InputError, match="missing"):
        read_checkpoint(tmp_path)
