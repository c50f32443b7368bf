"""Shared fixtures: paths to the real data in ../shared/data and to the bundled demo slice.

Tests that need the full shared data take the ``shared`` fixture; it skips them with a clear
reason when ../shared/data is absent (a fresh machine). CI always has it.

Every test that reads real data (one of :data:`REAL_DATA_FIXTURES`, directly or through another
fixture, or the bundled slice through ``demo()``) is marked ``integration``; ``pytest -m "not
integration"`` runs the unit tests alone (synthetic data and toy models).
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CISGRAM_SHARED_DATA", ROOT.parent / "shared" / "data"))


REAL_DATA_FIXTURES = {"shared", "chr22", "yeast", "motif_dir", "demo_dataset", "get_demo_data", "get_demo_run",
                      "chr22_get_data"}


def pytest_collection_modifyitems(config, items):
    """Mark the tests on real data ``integration`` (see the module docstring)."""
    for item in items:
        try:
            source = inspect.getsource(item.function)
        except (OSError, TypeError):
            source = ""
        if REAL_DATA_FIXTURES & set(getattr(item, "fixturenames", ())) or "demo()" in source:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def shared() -> Path:
    """Root of the full real data (``../shared/data``); skips the test when it is absent."""
    if not (SHARED / "hg38_chr22").is_dir():
        pytest.skip(f"full real data not found at {SHARED} (set CISGRAM_SHARED_DATA to its path)")
    return SHARED


@pytest.fixture(scope="session")
def chr22(shared) -> Path:
    return shared / "hg38_chr22"


@pytest.fixture(scope="session")
def yeast(shared) -> Path:
    return shared / "sacCer3"


@pytest.fixture(scope="session")
def motif_dir(shared) -> Path:
    return shared / "motifs"


@pytest.fixture(scope="session")
def demo_dataset(tmp_path_factory) -> Path:
    """The bundled demo slice prepared once: three cell lines, 500 bp, 1 Mb block hold-out."""
    from cisgram.bundled import demo
    from cisgram.data.dataset import prepare

    d = demo()
    out = tmp_path_factory.mktemp("demo") / "dataset.h5ad"
    prepare(d.genome, list(d.peaks.values()), [f"{c}={p}" for c, p in d.accessibility.items()],
            tss=d.genes_tss, width=500, split="blocks:1Mb", out=out)
    return out


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a module of tiny-tensor tests: OpenMP's synchronisation between
    two threads dominates them, many times over on a busy machine. Put back afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def chr22_get_data(chr22, motif_dir, tmp_path_factory):
    """GET's region-by-motif data on the full chr22 (three cell lines, 1 Mb blocks, Vierstra
    archetypes, gene TSSs, initiation tracks), built once for the tests that need it."""
    from cisgram.data.dataset import prepare
    from cisgram.data.get_data import region_motif_data

    cells = ("K562", "GM12878", "MCF7")
    ds = tmp_path_factory.mktemp("chr22_get") / "chr22.h5ad"
    prepare(chr22 / "genome/chr22.fa.gz", [chr22 / f"peaks/{c}.narrowPeak" for c in cells],
            [f"{c}={chr22 / 'accessibility' / (c + '.bw')}" for c in cells], tss=chr22 / "annotation/genes_tss.bed",
            width=500, split="blocks:1Mb", out=ds)
    ti = chr22 / "transcription_initiation"
    return region_motif_data(ds, chr22 / "genome/chr22.fa.gz", motif_dir / "vierstra_archetypes_v2.1beta.meme",
                             chr22 / "annotation/genes_tss.bed", {c: (ti / f"{c}.pl.bw", ti / f"{c}.mn.bw") for c in cells})


@pytest.fixture(scope="session")
def get_demo_data(demo_dataset, tmp_path_factory) -> tuple:
    """GET's region-motif data of the bundled demo slice (``.npz`` path, RegionMotifData)."""
    from cisgram.bundled import demo
    from cisgram.data.get_data import region_motif_data

    d = demo()
    init = {c: (d.initiation_plus[c], d.initiation_minus[c]) for c in d.initiation_plus}
    data = region_motif_data(demo_dataset, d.genome, d.motifs, d.genes_tss, init)
    path = tmp_path_factory.mktemp("getdata") / "demo.npz"
    data.write(path)
    return path, data


@pytest.fixture(scope="session")
def get_demo_run(get_demo_data, tmp_path_factory):
    """A tiny GET run on the demo slice (MCF7 held out; pre-training, 3 epochs, LoRA for MCF7),
    shared by the training and the explanation tests: ``(run dir, metrics, progress lines)``."""
    import torch

    from cisgram.models.get import GETConfig
    from cisgram.workflows.train_get import train_get

    path, data = get_demo_data
    out = tmp_path_factory.mktemp("getrun") / "run"
    said = []
    cfg = GETConfig.small(n_features=data.n_features, d_model=32, n_layers=1, mlp_dim=64)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train_get(path, out, leave_out="MCF7", config=cfg, n_regions=50, pretrain=True, lora=True,
                           max_epochs=3, patience=2, seed=0, progress=said.append)
    finally:
        torch.set_num_threads(threads)
    from cisgram.report.get import get_report

    get_report(out / "report.html", result)
    return out, result.metrics, said


@pytest.fixture
def cisgram_main(monkeypatch, capsys):
    """Run ``cisgram ARGS…`` through the CLI's own ``main()`` in this process (InputError -> one
    message and status 2; click's standalone handling included): returns ``(status, stdout,
    stderr)``."""
    import sys

    from cisgram.cli import app as cli_app

    def run(*args) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["cisgram", *map(str, args)])
        capsys.readouterr()
        try:
            cli_app.main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
