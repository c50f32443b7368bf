"""`cisgram tfbind`: the CNN reads context that the core site alone does not carry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from cisgram.data.simulate import consensus_probs, random_codes, sample_sites
from cisgram.genome import codes_to_onehot
from cisgram.inference import predict
from cisgram.models.cnn import DeepSEA
from cisgram.training import TrainConfig, fit
from cisgram.workflows.tfbind import fit_context_motifs, fit_core_score


def _cofactor_data(n: int = 3000, length: int = 400, seed: int = 0):
    """Every sequence holds a core site at its centre, of varying strength, and a co-factor
    site: within 100 bp of the core in bound sequences, more than 130 bp away in unbound ones.
    Binding is independent of the core's strength."""
    rng = np.random.default_rng(seed)
    codes = random_codes(n, length, rng=rng)
    core = consensus_probs("CACGTGAC", 0.9)
    sites = sample_sites(core, n, rng)
    c0 = length // 2 - 4
    codes[:, c0: c0 + 8] = sites
    lp = np.log(core)
    score = lp[sites, np.arange(8)].sum(1)
    label = rng.random(n) < 0.5
    cof = consensus_probs("TTGCGCAA", 0.95)
    near = label
    for i in range(n):
        off = rng.integers(12, 100) * (1 if rng.random() < 0.5 else -1)
        start = c0 + off if near[i] else rng.choice([rng.integers(0, 60), rng.integers(length - 68, length - 8)])
        codes[i, start: start + 8] = sample_sites(cof, 1, rng)[0]
    return codes, label.astype(np.int64), score


def test_cnn_beats_the_core_score_when_binding_needs_a_cofactor():
    from sklearn.metrics import roc_auc_score

    codes, y, score = _cofactor_data()
    tr, va, te = np.arange(3000) < 2000, (np.arange(3000) >= 2000) & (np.arange(3000) < 2500), np.arange(3000) >= 2500
    core = fit_core_score(score, y, tr)
    X = torch.from_numpy(codes_to_onehot(codes))
    yt = torch.tensor(y, dtype=torch.float32)[:, None]
    torch.manual_seed(0)
    res = fit(DeepSEA(1, 400), TensorDataset(X[tr], yt[tr]), TensorDataset(X[va], yt[va]),
              TrainConfig(task="classification", max_epochs=12, patience=3))
    cnn = predict(res.net, codes[te], task="classification")[:, 0]
    a_core, a_cnn = roc_auc_score(y[te], core[te]), roc_auc_score(y[te], cnn)
    assert a_core < 0.6  # the core site carries no information about binding here
    assert a_cnn > 0.85 and a_cnn > a_core + 0.25  # where the co-factor sits is all there is to read


def test_context_motif_baseline_picks_the_informative_motif():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 20))
    y = (X[:, 3] + 0.5 * rng.normal(size=600) > 0).astype(int)
    tr = np.arange(600) < 400
    p, info = fit_context_motifs(X, y, tr, ~tr)
    assert info["val_auroc"] > 0.9 and 1 <= info["n_motifs"] <= 20
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(y[~tr], p[~tr]) > 0.9


def test_tfbind_run_on_the_demo_slice(tmp_path):
    """The whole command on real CTCF ChIP-seq peaks of the demo slice: every strategy and
    model scored on the same held-out examples, files in place, a run that reopens."""
    import json

    import pandas as pd
    from typer.testing import CliRunner

    import cisgram
    from cisgram.bundled import demo
    from cisgram.cli.app import app

    d = demo()
    out = tmp_path / "ctcf"
    res = CliRunner().invoke(app, ["tfbind", "-g", str(d.genome), "-m", f"{d.motifs}#CTCF", "--chip", str(d.ctcf_chip["K562"]),
                                   "--accessible", str(d.peaks["K562"]), "--negatives", "standard,gc,open", "--window", "400",
                                   "--database", str(d.motifs), "--max-epochs", "2", "--seeds", "1", "-o", str(out)])
    assert res.exit_code == 0, res.output
    comparison = pd.read_csv(out / "comparison.tsv", sep="\t")
    assert set(comparison["strategy"]) == {"standard", "gc", "open"}
    assert set(comparison["model"]) == {"cnn", "core-score", "context-motifs"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["test"]) == {f"{s}:{m}" for s in ("standard", "gc", "open") for m in ("cnn", "core-score", "context-motifs")}
    preds = pd.read_parquet(out / "gc" / "predictions.parquet")
    test = preds[preds["split"] == "test"]
    # gc: as many unbound as bound instances in every split, and the models score the same rows
    assert (test["label"] == 1).sum() == (test["label"] == 0).sum() > 0
    assert preds[["cnn", "core-score", "context-motifs"]].notna().all().all()
    # the CTCF site itself carries information: bound sites score higher than GC-matched unbound ones
    assert metrics["test"]["gc:core-score"]["auroc"] > 0.6
    # ... and not against AgentBind's standard negatives, matched to the bound ones on the motif's p-value
    standard = pd.read_parquet(out / "standard" / "predictions.parquet")
    assert (standard["label"] == 1).sum() == (standard["label"] == 0).sum() > 0
    assert abs(metrics["test"]["standard:core-score"]["auroc"] - 0.5) < 0.15
    assert "ROC" in (out / "report.html").read_text()
    run = cisgram.load(out / "gc")
    assert run.family == "cnn" and run.length == 400


def test_tfbind_refuses_open_without_accessibility(tmp_path):
    from cisgram.bundled import demo
    from cisgram.errors import InputError
    from cisgram.workflows.tfbind import run_tfbind

    d = demo()
    import pytest

    with pytest.raises(InputError, match="accessibility peaks"):
        run_tfbind(d.genome, f"{d.motifs}#CTCF", d.ctcf_chip["K562"], tmp_path / "x", negatives=["open"])
    assert not (tmp_path / "x").exists()


def test_init_copies_the_trunk_and_leaves_the_output_layer():
    from cisgram.models.cnn import DeepSEA
    from cisgram.workflows.tfbind import _load_trunk

    torch.manual_seed(0)
    source = DeepSEA(3, 300, filters=(8, 8, 8), hidden=8)
    target = DeepSEA(1, 300, filters=(8, 8, 8), hidden=8)
    before = target.output.weight.detach().clone()
    _load_trunk(target, source.state_dict())
    assert torch.equal(target.trunk[0].weight, source.trunk[0].weight)
    assert torch.equal(target.head[1].weight, source.head[1].weight)  # hidden dense layer too
    assert torch.equal(target.output.weight, before)  # a different task: the output stays fresh


def test_a_negative_set_that_cannot_be_built_is_skipped(tmp_path):
    """Open negatives need unbound sites inside accessibility peaks; with none, the other sets
    still run and the run says what was skipped."""
    import json

    from cisgram.bundled import demo
    from cisgram.training import TrainConfig
    from cisgram.workflows.tfbind import run_tfbind

    d = demo()
    nowhere = tmp_path / "nowhere.bed"
    nowhere.write_text("chr22\t100\t200\n")
    metrics = run_tfbind(d.genome, f"{d.motifs}#CTCF", d.ctcf_chip["K562"], tmp_path / "run", accessible=nowhere,
                         negatives=["gc", "open"], window=300, database=None, seeds=1,
                         config=TrainConfig(task="classification", max_epochs=1)).metrics
    assert set(metrics["test"]) == {"gc:cnn", "gc:core-score"}
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "open" in config["skipped"]


def test_a_collapsed_cnn_is_trained_again(tmp_path, monkeypatch):
    """A network whose output is constant (every ReLU dead) is trained again from another seed
    with a third of the learning rate, and the attempts are recorded; here the first fit is made
    to collapse by zeroing the output layer."""
    import json

    import cisgram.workflows.tfbind as tb
    from cisgram.bundled import demo

    calls = []
    real_fit = tb.fit

    def fit_once_dead(net, train, val, cfg, **kw):
        res = real_fit(net, train, val, cfg, **kw)
        calls.append((cfg.seed, cfg.lr))
        if len(calls) == 1:
            with torch.no_grad():
                for p in res.net.output.parameters():
                    p.zero_()
        return res

    monkeypatch.setattr(tb, "fit", fit_once_dead)
    d = demo()
    said = []
    tb.run_tfbind(d.genome, f"{d.motifs}#CTCF", d.ctcf_chip["K562"], tmp_path / "run", negatives=("gc",), window=400, database=None,
                  config=TrainConfig(task="classification", max_epochs=1, patience=1), progress=said.append, seeds=1)
    assert calls == [(0, 1e-3), (1, pytest.approx(1e-3 / 3))]
    attempts = json.loads((tmp_path / "run" / "fits.json").read_text())["cnn"]["gc"]["attempts"]
    assert attempts[0]["val_prediction_range"] == 0 and attempts[1]["val_prediction_range"] > 1e-6
    assert any("collapsed to a constant output" in s for s in said)


def test_a_collapse_is_caught_after_the_first_epoch(tmp_path, monkeypatch):
    """A network stuck at a constant output (its output layer's weights zero and frozen) is
    stopped after its first epoch, not after early stopping, and started again; the restart is
    counted in comparison.tsv."""
    import json

    import pandas as pd

    import cisgram.workflows.tfbind as tb
    from cisgram.bundled import demo

    real_build, built = tb.build, []

    def build_dead_once(spec, seed=0):
        net = real_build(spec, seed=seed)
        built.append(seed)
        if len(built) == 2:  # the first network trained (the first build only checks the architecture)
            for p in net.output.parameters():
                if p.dim() > 1:
                    p.data.zero_()
                    p.requires_grad_(False)
        return net

    monkeypatch.setattr(tb, "build", build_dead_once)
    d = demo()
    tb.run_tfbind(d.genome, f"{d.motifs}#CTCF", d.ctcf_chip["K562"], tmp_path / "run", negatives=("gc",), window=400,
                  database=None, config=TrainConfig(task="classification", max_epochs=2, patience=2), seeds=1,
                  arch_params={"filters": [16, 16, 16], "hidden": 16})
    fits = json.loads((tmp_path / "run" / "fits.json").read_text())["cnn"]["gc"]
    first, second = fits["attempts"]
    assert first["collapsed"] and first["first_epoch_spread"] == 0 and not second["collapsed"]
    assert built[2:] == [1]
    comparison = pd.read_csv(tmp_path / "run" / "comparison.tsv", sep="\t")
    assert comparison.loc[comparison["model"] == "cnn", "restarts"].tolist() == [1]


def test_a_dataset_split_beside_the_run_is_named(tmp_path):
    import json

    from cisgram.workflows.tfbind import dataset_split_near

    class G:
        chroms = ["chr1", "chr2"]

    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "split.json").write_text(json.dumps({"kind": "blocks", "blocks": [["chr1", 0, 10, "test"]]}))
    assert dataset_split_near(tmp_path / "run", G()) is None  # a split.json without a dataset beside it
    (tmp_path / "ds" / "dataset.h5ad").write_text("")
    assert dataset_split_near(tmp_path / "run", G()) == (tmp_path / "ds" / "split.json").resolve()
    G.chroms = ["chrX"]
    assert dataset_split_near(tmp_path / "run", G()) is None  # another genome's


def test_a_small_set_gets_a_seed_ensemble_by_default():
    import pandas as pd

    from cisgram.data.tfbind_examples import TFBindExamples
    from cisgram.workflows.tfbind import ENSEMBLE_SEEDS, SMALL_SET, seeds_for

    def ex(bound_train: int):
        n = bound_train + 50
        t = pd.DataFrame({"split": ["train"] * n + ["test"] * 400, "label": [1] * bound_train + [0] * 50 + [1] * 400})
        return TFBindExamples(t, split=None, params={})

    assert seeds_for(ex(SMALL_SET - 1), None) == ENSEMBLE_SEEDS == 3
    assert seeds_for(ex(SMALL_SET), None) == 1  # test instances do not count
    assert seeds_for(ex(10), 1) == 1


def test_train_fraction_thins_only_the_training_examples():
    import pandas as pd

    from cisgram.data.tfbind_examples import TFBindExamples
    from cisgram.errors import InputError
    from cisgram.workflows.tfbind import _fewer_training_examples, run_tfbind

    split = np.repeat(["train", "val", "test"], [400, 100, 100])
    label = np.tile([1, 0, 0, 0], 150)
    ex = TFBindExamples(pd.DataFrame({"split": split, "label": label, "name": np.arange(600)}), split=None)
    few = _fewer_training_examples(ex, 0.25, seed=0).table
    counts = few.groupby(["split", "label"]).size()
    assert counts[("train", 1)] == 25 and counts[("train", 0)] == 75  # a quarter of each class
    assert counts[("val", 1)] == 25 and counts[("test", 0)] == 75  # the rest as they were
    assert few.equals(_fewer_training_examples(ex, 0.25, seed=0).table)  # seeded
    with pytest.raises(InputError, match="train_fraction"):
        run_tfbind("g.fa", "MA0139", "peaks.bed", "out", train_fraction=0)


def test_a_killed_run_resumes_to_the_uninterrupted_numbers(tmp_path, monkeypatch):
    """A tfbind run killed in its CNN's second epoch is unfinished (``cisgram.load`` refuses it and
    its strategy's directory) and ``resume`` ends it with an uninterrupted run's metrics."""
    import json

    import cisgram
    import cisgram.workflows.tfbind as tb
    from cisgram.bundled import demo
    from cisgram.errors import InputError
    from tests.test_training import _kill_in, _Killed

    d = demo()
    args = (d.genome, f"{d.motifs}#CTCF", d.ctcf_chip["K562"])
    kw = dict(negatives=("gc",), window=200, train_fraction=0.25, database=None, seeds=1,
              config=TrainConfig(task="classification", max_epochs=2, patience=2))
    real_build = tb.build
    monkeypatch.setattr(tb, "build", lambda spec, seed: real_build({**spec, "filters": [8, 8, 8], "hidden": 8}, seed=seed))
    whole = tb.run_tfbind(*args, tmp_path / "whole", **kw)
    real_fit = tb.fit
    monkeypatch.setattr(tb, "fit", lambda *a, callbacks=(), **k: real_fit(*a, callbacks=(*callbacks, _kill_in(1)), **k))
    with pytest.raises(_Killed):
        tb.run_tfbind(*args, tmp_path / "run", **kw)
    monkeypatch.setattr(tb, "fit", real_fit)
    assert (tmp_path / "run" / "checkpoint" / "gc-0" / "latest.json").is_file()
    with pytest.raises(InputError, match="unfinished run"):
        cisgram.load(tmp_path / "run")
    resumed = tb.run_tfbind(*args, tmp_path / "run", **kw, resume=True)
    assert resumed.metrics == whole.metrics and not (tmp_path / "run" / "checkpoint").exists()
    fits = [json.loads((tmp_path / r / "fits.json").read_text())["cnn"]["gc"] for r in ("run", "whole")]
    assert fits[0]["best_epoch"] == fits[1]["best_epoch"] and len(fits[0]["epochs"]) == 2


def test_tfbind_trains_danq_and_the_run_reopens(tmp_path):
    """``arch="danq"``: each negative set's network is a DanQ, saved with its spec, reopened by
    ``cisgram.load`` and predicting what the run wrote; an unknown architecture is refused first.
    With ``core=("kept", "blocked")`` the blocked network is reported beside the kept one."""
    import pandas as pd
    from typer.testing import CliRunner

    import cisgram
    from cisgram.bundled import demo
    from cisgram.cli.app import app
    from cisgram.models.cnn import DanQ
    from cisgram.workflows.tfbind import run_tfbind

    d = demo()
    small = {"filters": 16, "kernel": 13, "pool": 5, "units": 8, "hidden": 16}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # an LSTM this small runs 10x slower on two shared cores than on one
    try:
        res = run_tfbind(d.genome, f"{d.motifs}#CTCF", d.ctcf_chip["K562"], tmp_path / "run", negatives=("gc",),
                         window=200, train_fraction=0.25, database=None, arch="danq", arch_params=small,
                         core=("kept", "blocked"), seeds=1, config=TrainConfig(task="classification", max_epochs=1))
    finally:
        torch.set_num_threads(threads)
    assert res.config["arch"] == "danq" and {"gc:cnn", "gc:cnn-blocked"} <= set(res.metrics["test"])
    comparison = pd.read_csv(tmp_path / "run" / "comparison.tsv", sep="\t")
    assert comparison.set_index("model")["core"].to_dict() == {"cnn": "kept", "cnn-blocked": "blocked",
                                                                "core-score": "kept"}
    assert isinstance(cisgram.load(tmp_path / "run" / "gc" / "blocked").model.net, DanQ)
    model = cisgram.load(tmp_path / "run" / "gc")
    assert isinstance(model.model.net, DanQ) and model.model.spec == {"arch": "danq", "n_tasks": 1, "length": 200, **small}
    table = pd.read_parquet(tmp_path / "run" / "gc" / "predictions.parquet")
    g = cisgram.genome.Genome(d.genome)
    codes = g.fetch_codes_batch(table["chrom"].to_numpy()[:20], table["start"].to_numpy()[:20], table["end"].to_numpy()[:20])
    # predictions average both strands, so the forward-strand window gives the oriented one's
    np.testing.assert_allclose(predict(model.model, codes)[:, 0], table["cnn"].to_numpy()[:20], rtol=1e-5, atol=1e-6)
    bad = CliRunner().invoke(app, ["tfbind", "-g", str(d.genome), "-m", f"{d.motifs}#CTCF", "--chip",
                                   str(d.ctcf_chip["K562"]), "--arch", "dilated", "-o", str(tmp_path / "bad")])
    assert bad.exit_code != 0 and "unknown architecture 'dilated'" in str(bad.exception)
    bad = CliRunner().invoke(app, ["tfbind", "-g", str(d.genome), "-m", f"{d.motifs}#CTCF", "--chip",
                                   str(d.ctcf_chip["K562"]), "--core", "blocked", "-o", str(tmp_path / "bad")])
    assert bad.exit_code != 0 and "core must be kept or kept,blocked" in str(bad.exception)


def _core_only_examples(path, n: int = 600, window: int = 200, seed: int = 0):
    """Windows of random sequence, one per example, laid end to end on one chromosome: bound
    ones hold the core motif's consensus at their centre, unbound ones its reverse (same bases,
    no motif); nothing else differs, so the label is carried by the core alone. Half the sites
    are on the minus strand."""
    import pandas as pd

    from cisgram.data.simulate import random_codes
    from cisgram.data.tfbind_examples import TFBindExamples

    rng = np.random.default_rng(seed)
    codes = random_codes(n, window, rng=rng)
    label = (np.arange(n) % 2).astype(np.int8)
    core = np.array(["ACGT".index(b) for b in "CACGTGACTT"], dtype=np.uint8)
    c0 = window // 2 - 5
    codes[:, c0: c0 + 10] = np.where(label[:, None] == 1, core, core[::-1])
    seq = "".join("ACGT"[c] for c in codes.ravel())
    path.write_text(">chr1\n" + "\n".join(seq[i: i + 80] for i in range(0, len(seq), 80)) + "\n")
    start = np.arange(n) * window
    table = pd.DataFrame({"name": [f"s{i}" for i in range(n)], "chrom": "chr1", "start": start, "end": start + window,
                          "strand": np.where(rng.random(n) < 0.5, "+", "-"), "site_start": start + c0,
                          "site_end": start + c0 + 10, "score": 0.0, "label": label,
                          "split": np.repeat(["train", "val", "test"], [n * 2 // 3, n // 6, n - n * 2 // 3 - n // 6])})
    return TFBindExamples(table, split=None, params={"window": window, "margin": 20})


def test_blocked_windows_hold_n_over_the_core(tmp_path):
    from cisgram.data.tfbind_examples import BlockedWindows, examples_dataset

    ex = _core_only_examples(tmp_path / "g.fa", n=60)
    g = tmp_path / "g.fa"
    kept = examples_dataset(ex, g, jitter=20, rc=True, seed=3)
    blocked = examples_dataset(ex, g, jitter=20, rc=True, seed=3, block_core=True)
    assert isinstance(blocked, BlockedWindows)
    t = ex.table
    for i in range(len(t)):
        (xk, yk), (xb, yb) = kept[i], blocked[i]
        w = blocked.window(i)
        cols = np.arange(t["site_start"][i], t["site_end"][i]) - w.start
        cols = 199 - cols if w.reverse else cols
        assert xb[:, cols].sum() == 0 and (xk[:, cols].sum(0) == 1).all()  # N over the site, bases in the kept one
        rest = np.setdiff1d(np.arange(200), cols)
        assert torch.equal(xb[:, rest], xk[:, rest]) and torch.equal(yb, yk)  # the context untouched


def test_a_network_on_blocked_windows_cannot_read_a_core_only_label(tmp_path):
    """The label is carried by the core alone: the kept network separates the classes, the
    blocked one (core N in training, validation and test) is at chance."""
    from sklearn.metrics import roc_auc_score

    from cisgram.data.tfbind_examples import examples_dataset
    from cisgram.workflows.tfbind import fit_tfbind_cnn

    ex = _core_only_examples(tmp_path / "g.fa")
    g = cisgram_genome(tmp_path / "g.fa")
    test = (ex.table["split"] == "test").to_numpy()
    y = ex.table["label"].to_numpy()[test]
    cfg = TrainConfig(task="classification", max_epochs=6, patience=6, lr=3e-3)
    small = {"filters": [16, 16, 16], "hidden": 16}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a = {}
        for blocked in (False, True):
            model, _, _ = fit_tfbind_cnn(ex, g, 200, cfg, arch_params=small, block_core=blocked, strategy="s")
            p = predict(model, examples_dataset(ex, g, rows=test, block_core=blocked))[:, 0]
            a[blocked] = roc_auc_score(y, p)
    finally:
        torch.set_num_threads(threads)
    assert model.targets == ["s:cnn-blocked"]
    # measured: kept 1.000, blocked 0.453 (100 test windows: one standard error of chance is 0.06)
    assert a[False] > 0.95 and abs(a[True] - 0.5) < 0.15, a


def cisgram_genome(path):
    from cisgram.genome import Genome

    return Genome(path)


def test_a_seed_ensemble_averages_its_networks(tiny_tfbind_run):
    """Two networks per regime (seed 0 in the regime's directory, the other in seed-1/), and the
    stored predictions are the mean of the networks' own."""
    import pandas as pd

    from cisgram.data.tfbind_examples import TFBindExamples, examples_dataset
    from cisgram.genome import Genome
    from cisgram.workflows.rundir import tfbind_network_dirs
    from cisgram.workflows.tfbind import ensemble_predict, tfbind_networks

    run, result = tiny_tfbind_run
    dirs = tfbind_network_dirs(run)
    assert {k: [p.name for p in v] for k, v in dirs.items()} == {
        k: [v[0].name, "seed-1"] for k, v in dirs.items()}
    cnn = result.comparison["model"].str.startswith("cnn")
    assert set(result.comparison.loc[cnn, "seeds"]) == {2} and set(result.comparison.loc[~cnn, "seeds"]) == {0}
    nets = tfbind_networks(run)
    t = pd.read_parquet(run / "standard" / "predictions.parquet")
    ex = TFBindExamples(t, split=None, params={"window": 400, "margin": 20})
    g = Genome(result.config["genome"])
    for key, column, blocked in (("standard:cnn", "cnn", False), ("standard:cnn-blocked", "cnn-blocked", True)):
        each = [predict(m, examples_dataset(ex, g, block_core=blocked))[:, 0] for m in nets[key]]
        assert np.ptp(np.stack(each), axis=0).max() > 1e-4  # two different networks
        assert np.allclose(ensemble_predict(nets[key], examples_dataset(ex, g, block_core=blocked)), t[column], atol=1e-5)


@pytest.mark.parametrize("args, message", [
    (["--negatives", "standard,nearby"], "unknown negative strategy nearby"),
    (["--negatives", "open"], "the open strategies need accessibility peaks"),
])
def test_bad_tfbind_options_exit_2_with_one_line_and_no_run_directory(tmp_path, monkeypatch, capsys, args, message):
    import sys

    from cisgram.bundled import demo
    from cisgram.cli.app import main

    d = demo()
    out = tmp_path / "run"
    monkeypatch.setattr(sys, "argv", ["cisgram", "tfbind", "-g", str(d.genome), "-m", f"{d.motifs}#CTCF", "--chip",
                                      str(d.ctcf_chip["K562"]), *args, "-o", str(out)])
    with pytest.raises(SystemExit) as e:
        main()
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert e.value.code == 2 and message in text and "Traceback" not in text
    assert not out.exists()


def test_the_loaded_run_predicts_with_the_whole_seed_ensemble(tiny_tfbind_run):
    """``cisgram.load`` of a run trained as seed ensembles gives, per negative set, the members'
    mean: the run's own stored predictions on its examples."""
    import pandas as pd

    import cisgram
    from cisgram.genome import Genome

    run, result = tiny_tfbind_run
    loaded = cisgram.load(run)
    assert all(len(ms) == 2 for ms in loaded.model.models.values())
    t = pd.read_parquet(run / "standard" / "predictions.parquet").head(40)
    codes = Genome(result.config["genome"]).fetch_codes_batch(t["chrom"], t["start"], t["end"])
    got = loaded.predict(codes)["standard:cnn"].to_numpy()
    assert np.allclose(got, t["cnn"], atol=1e-5)
