"""Lightning callbacks that watch a fit from outside (:func:`cisgram.training.fit` and its callers).

:func:`epoch_lines` prints one line per epoch where a live progress bar would fill a redirected
log with its redraws; :func:`constant_output_check` stops a fit whose network settled on a
constant output in its first epoch, so the caller can start it again from another seed.
"""

from __future__ import annotations

import sys

import torch
from torch.utils.data import Dataset


def epoch_lines():
    """One line per epoch on stderr (epoch, losses, validation auROC): the progress of a fit whose
    stderr is not a terminal (a redirected log), where a live progress bar would leave its
    redraws in the file."""
    from lightning.pytorch.callbacks import Callback

    class EpochLines(Callback):
        def on_train_epoch_end(self, trainer, pl_module):
            m = trainer.callback_metrics
            parts = [f"{k} {float(m[k]):.4f}" for k in ("train_loss", "val_loss", "val_auroc") if k in m]
            print(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}: {', '.join(parts)}", file=sys.stderr,
                  flush=True)

    return EpochLines()


def constant_output_check(val: Dataset, *, after: int = 0, tolerance: float = 1e-5, items: int = 512):
    """A callback that, at the end of epoch ``after`` (0: the first), runs the network on up to
    ``items`` validation items and stops the fit when its outputs have no spread (range of every
    output ≤ ``tolerance``: a network whose ReLUs all died, stuck at a constant). ``.collapsed``
    tells the caller, who can start again from another seed rather than wait for early
    stopping to end a fit that never left its plateau."""
    from lightning.pytorch.callbacks import Callback

    class ConstantOutputCheck(Callback):
        collapsed = False
        spread = float("nan")

        def on_train_epoch_end(self, trainer, pl_module):
            if trainer.current_epoch != after:
                return
            idx = range(min(items, len(val)))
            x = torch.stack([torch.as_tensor(val[i][0]) for i in idx]).to(pl_module.device)
            was = pl_module.net.training
            pl_module.net.eval()
            with torch.no_grad():
                out = pl_module.net(x).float()
            pl_module.net.train(was)
            self.spread = float((out.amax(0) - out.amin(0)).max()) if len(out) else float("nan")
            if self.spread <= tolerance:
                self.collapsed = True
                trainer.should_stop = True

    return ConstantOutputCheck()
