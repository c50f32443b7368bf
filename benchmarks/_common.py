"""Shared helpers for the benchmark scripts: timing (median after warm-up), peak memory, JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

SHARED = Path(os.environ.get("CISGRAM_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def measure(fn: Callable[[], object], *, repeats: int = 3, warmup: int = 1) -> dict:
    """Median wall seconds of ``fn`` over ``repeats`` runs after ``warmup`` runs, and the peak
    Python-heap memory (tracemalloc, MB) of one extra run (numpy buffers included)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"median_s": statistics.median(times), "times_s": times, "peak_mb": peak / 1e6}


def emit(result: dict) -> None:
    """Print the result as one JSON object on the last line."""
    result.setdefault("machine", {"python": platform.python_version(), "cpus": os.cpu_count()})
    print(json.dumps(result))


def epoch_timer():
    """A Lightning callback timing the training steps of each epoch: ``seconds`` holds
    ``(seconds, sequences)`` per epoch (data loading included, validation excluded)."""
    import time

    from lightning.pytorch.callbacks import Callback

    class Timer(Callback):
        def __init__(self):
            self.seconds, self.n = [], 0

        def on_train_epoch_start(self, trainer, pl_module):
            self.t, self.n = time.perf_counter(), 0

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.n += len(batch[0])
            self.last = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module):
            self.seconds.append((self.last - self.t, self.n))

    return Timer()
