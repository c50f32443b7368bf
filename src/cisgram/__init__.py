"""cisgram: learn the cis-regulatory code from DNA sequence."""

__version__ = "0.1.0"

# Top-level entry points, imported on first use so that `import cisgram` stays light.
_LAZY = {"prepare": "cisgram.data.dataset", "read_dataset": "cisgram.data.dataset", "load": "cisgram.workflows.rundir"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'cisgram' has no attribute {name!r}")
