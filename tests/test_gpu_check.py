"""benchmarks/gpu_check.sh runs on the CPU (``--device cpu --quick``), so the script a GPU session
will run is known to work: every check agrees with the CPU and its JSON line has every figure."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.integration
def test_gpu_check_passes_on_the_cpu():
    r = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--device", "cpu", "--quick"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT, env={"PYTHON": sys.executable,
                                                                              "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["device"] == "cpu" and out["ok"] is True
    assert out["scan"]["hits_equal"] and out["scan"]["hits"] > 0  # the torch kernel equals the numba one
    for precision in ("32-true", "bf16-mixed"):
        assert out["cnn"][precision]["seq_per_s"] > 0 and out["cnn"][precision]["finite"]
    for dtype in ("fp32", "bf16"):
        assert out["get"][dtype]["windows_per_s"] > 0 and out["get"][dtype]["finite"]
    assert out["ism"]["agrees"] and out["deeplift"]["agrees"]


def test_gpu_check_refuses_a_missing_gpu_in_one_line():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    r = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--device", "cuda", "--quick"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT, env={"PYTHON": sys.executable,
                                                                              "PATH": "/usr/bin:/bin"})
    assert r.returncode != 0
    assert "no CUDA GPU" in r.stderr and "Traceback" not in r.stderr
