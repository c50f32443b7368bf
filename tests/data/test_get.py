"""GET's region-by-motif data (cisgram.data.get) on the real demo slice: targets checked against
pyBigWig, training-only normalisation, leak-free windows, seeded jitter, TSS windows, storage and
input errors; plus one build on the full chr22 data with the Vierstra archetypes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyBigWig
import pytest
import torch

from cisgram.bundled import demo
from cisgram.data.dataset import read_dataset
from cisgram.data.get import RegionMotifData
from cisgram.data.get_data import region_motif_data
from cisgram.data.get_windows import RegionWindows, tss_windows
from cisgram.errors import InputError

W = 300  # tss_window


def _initiation(d):
    return {c: (d.initiation_plus[c], d.initiation_minus[c]) for c in d.initiation_plus}


@pytest.fixture(scope="module")
def built(demo_dataset):
    d = demo()
    data = region_motif_data(demo_dataset, d.genome, d.motifs, d.genes_tss, _initiation(d), tss_window=W)
    return d, demo_dataset, data


def _toy(chroms=(("chrA", 30, "train"), ("chrB", 25, "train")), n_motifs=3, tss_every=4) -> RegionMotifData:
    """Small hand-made data: per chromosome (name, n regions, split or list of splits)."""
    rows = []
    for chrom, n, split in chroms:
        labels = [split] * n if isinstance(split, str) else list(split)
        rows += [(chrom, 1000 * i, 1000 * i + 500, f"{chrom}:{i}", labels[i]) for i in range(n)]
    regions = pd.DataFrame(rows, columns=["chrom", "start", "end", "name", "split"])
    n = len(regions)
    regions["dataset_row"] = np.arange(n)
    regions["tss_plus"] = ["g" if i % tss_every == 0 else "" for i in range(n)]
    regions["tss_minus"] = ""
    rng = np.random.default_rng(0)
    has = np.zeros((n, 2), bool)
    has[::tss_every, 0] = True
    y = np.where(has, rng.random((2, n, 2)), 0).astype(np.float32)
    return RegionMotifData(regions, ("c1", "c2"), tuple(f"m{k}" for k in range(n_motifs)),
                           rng.random((n, n_motifs)).astype(np.float32), np.ones(n_motifs),
                           rng.random((2, n)).astype(np.float32), y, y, has, np.array([True, True]), {})


# ------------------------------------------------------------------------------------ building
def test_regions_features_and_shapes(built):
    d, path, data = built
    adata = read_dataset(path)
    n = adata.n_vars
    assert data.n_regions == n and data.cell_types == tuple(adata.obs_names)
    # prepare writes regions in genomic order, which is kept: dataset_row is the identity
    np.testing.assert_array_equal(data.regions["dataset_row"], np.arange(n))
    assert (np.diff(data.regions["start"].to_numpy()) > 0).all()
    assert list(data.regions["name"]) == list(adata.var_names)
    assert list(data.split) == list(adata.var["split"].astype(str))
    assert data.n_features == 101 and data.feature_names[-1] == "accessibility"
    assert data.motif_scores.shape == (n, 100) and data.motif_scores.dtype == np.float32
    assert data.targets.shape == data.signal.shape == (3, n, 2) and data.has_tss.shape == (n, 2)
    assert data.features("K562", slice(0, 7)).shape == (7, 101)
    s = data.summary()
    assert s["tss_regions"]["+"] > 50 and s["tss_regions"]["-"] > 30
    # no TSS, no target
    assert (data.targets[:, ~data.has_tss] == 0).all() and (data.targets >= 0).all()
    assert (data.regions["tss_plus"] != "").to_numpy().tolist() == data.has_tss[:, 0].tolist()


def test_targets_equal_pybigwig_sums_on_both_strands(built):
    d, _, data = built
    bed = pd.read_csv(d.genes_tss, sep="\t", header=None)
    tss = {"+": bed[bed[5] == "+"][1].to_numpy(), "-": (bed[bed[5] == "-"][2] - 1).to_numpy()}
    regions = data.regions
    checked = 0
    for k, strand in enumerate("+-"):
        # a few regions with signal, including one holding several TSSs of the strand if any
        rows = np.flatnonzero(data.signal[0, :, k] > 0)
        multi = [i for i in rows if "," in regions[["tss_plus", "tss_minus"]].iat[i, k]]
        for i in list(rows[:3]) + multi[:1]:
            s, e = int(regions["start"].iat[i]), int(regions["end"].iat[i])
            near = tss[strand][(tss[strand] >= s - W) & (tss[strand] < e + W)]
            assert near.size >= 1
            bases = np.unique(np.concatenate([np.arange(p - W, p + W + 1) for p in near]))
            for c, cell in enumerate(data.cell_types):
                path = (d.initiation_plus if strand == "+" else d.initiation_minus)[cell]
                bw = pyBigWig.open(str(path))
                v = np.array([bw.values("chr22", int(b), int(b) + 1)[0] for b in bases])
                bw.close()
                total = np.nansum(v)
                if strand == "-":
                    assert total <= 0  # stored negative
                expect = np.log10(1 + abs(total))
                assert data.targets[c, i, k] == pytest.approx(expect, rel=1e-5, abs=1e-6)
            checked += 1
    assert checked >= 6


def test_normalisation_uses_training_regions_only(built):
    d, path, data = built
    train = data.split == "train"
    x = data.motif_features()
    hit = data.motif_scores[train].max(axis=0) > 0
    # training regions: every column's maximum is exactly 1 (or 0 without a hit)
    np.testing.assert_allclose(x[train].max(axis=0)[hit], 1.0, rtol=1e-6)
    assert x[train].max() <= 1.0
    # held-out regions are scaled by training maxima, so they may exceed 1
    assert x[~train].max() > 1.0
    np.testing.assert_allclose(data.motif_max[hit], data.motif_scores[train].max(axis=0)[hit])
    # accessibility: the dataset's log CPM over its training maximum
    lcpm = np.asarray(read_dataset(path).layers["logcpm"], dtype=np.float64)
    np.testing.assert_allclose(data.accessibility, lcpm / lcpm[:, train].max(axis=1, keepdims=True), rtol=1e-6)
    assert np.allclose(data.accessibility[:, train].max(axis=1), 1.0)


def test_unsorted_dataset_and_stored_features(built):
    """A dataset in shuffled order, with the hit sums stored by `cisgram scan` (motifs=None):
    the regions come out in genomic order and every array follows them."""
    import json

    d, path, data = built
    adata = read_dataset(path)
    perm = np.random.default_rng(1).permutation(adata.n_vars)
    shuffled = adata[:, perm].copy()
    raw = np.empty_like(data.motif_scores)
    raw[data.regions["dataset_row"].to_numpy()] = data.motif_scores
    shuffled.varm["motif_hit_score_sum"] = raw[perm]
    shuffled.uns["cisgram_motifs"] = json.dumps({"hit_columns": list(data.motif_names), "threshold": 1e-4})
    again = region_motif_data(shuffled, d.genome, None, d.genes_tss, _initiation(d), tss_window=W)
    np.testing.assert_array_equal(again.regions["name"], data.regions["name"])
    np.testing.assert_array_equal(perm[again.regions["dataset_row"].to_numpy()], np.arange(adata.n_vars))
    for k in ("motif_scores", "accessibility", "targets", "has_tss"):
        np.testing.assert_allclose(getattr(again, k), getattr(data, k), rtol=1e-6)


def test_accessibility_modes(built):
    d, path, data = built
    ones = region_motif_data(path, d.genome, d.motifs, d.genes_tss, None, accessibility="ones")
    assert (ones.accessibility == 1).all() and not ones.has_targets.any()
    with pytest.raises(InputError, match="no initiation tracks"):
        RegionWindows(ones, n_regions=20)
    item = RegionWindows(ones, n_regions=20, require_targets=False)[0]
    assert not item.has_tss.any() and (item.x[:, -1] == 1).all()
    with pytest.raises(InputError, match="accessibility mode"):
        region_motif_data(path, d.genome, d.motifs, d.genes_tss, None, accessibility="watac")


# ------------------------------------------------------------------------------------ windows
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_windows_never_cross_chromosomes_or_splits(built, split):
    _, _, data = built
    ds = RegionWindows(data, split=split, n_regions=50, jitter=20)
    chrom, labels = data.regions["chrom"].to_numpy(), data.split
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            _, first, focus = ds.window(i)
            rows = slice(first, first + 50)
            assert focus == -1 and len(set(chrom[rows])) == 1 and set(labels[rows]) == {split}
    item = ds[0]
    assert item.x.shape == (50, 101) and item.y.shape == item.has_tss.shape == (50, 2) and item.in_split.all()


def test_windows_respect_chromosome_ends_and_cover_segments():
    data = _toy(chroms=(("chrA", 30, ["train"] * 12 + ["test"] * 6 + ["train"] * 12), ("chrB", 25, "train")))
    ds = RegionWindows(data, ["c1"], n_regions=10, stride=4, jitter=3)
    chrom, labels = data.regions["chrom"].to_numpy(), data.split
    for epoch in range(5):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            _, first, _ = ds.window(i)
            assert len(set(chrom[first:first + 10])) == 1 and set(labels[first:first + 10]) == {"train"}
    fixed = RegionWindows(data, ["c1"], n_regions=10, stride=4, jitter=0)
    starts = [fixed.window(i)[1] for i in range(len(fixed))]
    assert starts == [0, 2, 18, 20, 30, 34, 38, 42, 45]  # anchors every 4, plus one ending each segment
    seen = {r for s in starts for r in range(s, s + 10)}
    assert seen == set(np.flatnonzero(labels == "train"))  # every training region, tails included
    everything = RegionWindows(data, ["c1"], split=None, n_regions=25, jitter=0)
    assert [everything.window(i)[1] for i in range(len(everything))] == [0, 5, 30]  # chrA 0..30, chrB 30..55


def test_jitter_is_seeded_per_epoch_and_index(built):
    _, _, data = built
    a = RegionWindows(data, split="train", n_regions=40, seed=7)
    b = RegionWindows(data, split="train", n_regions=40, seed=7)
    starts = {}
    for epoch in range(3):
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        starts[epoch] = [a.window(i)[1] for i in range(len(a))]
        assert starts[epoch] == [b.window(i)[1] for i in range(len(b))]
        # any fetch order gives the same item
        assert [a.window(i)[1] for i in reversed(range(len(a)))][::-1] == starts[epoch]
    assert starts[0] != starts[1] != starts[2]
    torch.testing.assert_close(a[5].x, b[5].x)
    other = RegionWindows(data, split="train", n_regions=40, seed=8)
    other.set_epoch(2)
    assert [other.window(i)[1] for i in range(len(other))] != starts[2]
    # the shift stays within ±stride//2 of the anchor (or clipped inside the segment)
    assert a.jitter == 10 and all(abs(s - k) <= 10 for s, k in zip(starts[2], np.tile(a._anchor, 3), strict=True))
    still = RegionWindows(data, split="val", n_regions=40)
    assert still.jitter == 0


def test_tss_windows_hold_the_focus(built):
    _, _, data = built
    R = 60
    ds = tss_windows(data, ["GM12878"], n_regions=R)
    focus_rows = np.flatnonzero(data.has_tss.any(axis=1))
    assert len(ds) == focus_rows.size
    n = data.n_regions
    for i in range(len(ds)):
        item = ds[i]
        row = item.first + item.focus
        assert row == focus_rows[i] and data.has_tss[row].any()
        if R // 2 <= row < n - R // 2:
            assert item.focus == R // 2
        assert 0 <= item.first and item.first + R <= n
        assert item.in_split[item.focus]
    torch.testing.assert_close(ds[3].x[ds[3].focus], torch.from_numpy(data.features("GM12878", [focus_rows[3]])[0]))
    # clipped at the chromosome's ends: the first TSS region sits left of the centre
    assert ds[0].focus == focus_rows[0] < R // 2
    # within the segment: no region of another split
    seg = tss_windows(data, split="test", strand="-", n_regions=20, within="segment")
    assert len(seg) > 0
    for i in range(len(seg)):
        item = seg[i]
        assert item.in_split.all() and data.has_tss[item.first + item.focus, 1]
        assert set(data.split[item.first:item.first + 20]) == {"test"}


def test_leaving_out_a_cell_type(built):
    _, _, data = built
    train = RegionWindows(data, ["K562", "GM12878"], split="train", n_regions=50)
    held = tss_windows(data, ["MCF7"], split="test", n_regions=50)
    assert train.cell_types == ("K562", "GM12878") and len(train) == 2 * train.n_windows
    assert {train[i].cell_name for i in range(len(train))} == {"K562", "GM12878"}
    assert {held[i].cell_name for i in range(len(held))} == {"MCF7"}
    loader = torch.utils.data.DataLoader(train, batch_size=4, shuffle=False)
    batch = next(iter(loader))
    assert batch.x.shape == (4, 50, 101) and batch.y.shape == (4, 50, 2) and batch.positions.shape == (4, 50)
    assert batch.has_tss.dtype == torch.bool and batch.cell.tolist() == [0, 0, 0, 0]
    # the windows fit the GET model as they are
    from cisgram.models.get import GETConfig, RegionTransformer

    model = RegionTransformer(GETConfig(n_features=data.n_features, distance_encoding=True))
    with torch.no_grad():
        out = model(batch.x, positions=batch.positions)
    assert out.expression.shape == (4, 50, 2)


# ------------------------------------------------------------------------------------ storage
def test_write_read_round_trip_and_checks(built, tmp_path):
    d, path, data = built
    f = tmp_path / "get.npz"
    data.write(f)
    back = RegionMotifData.read(f, dataset=path, feature_names=data.feature_names)
    for k in ("motif_scores", "motif_max", "accessibility", "targets", "signal", "has_tss", "has_targets"):
        np.testing.assert_array_equal(getattr(back, k), getattr(data, k))
    pd.testing.assert_frame_equal(back.regions, data.regions, check_dtype=False)
    assert back.feature_names == data.feature_names and back.params == data.params
    assert not list(tmp_path.glob(".*tmp"))  # atomic: no temporary left
    with pytest.raises(InputError, match="features differ"):
        RegionMotifData.read(f, feature_names=data.feature_names[1:])
    other = read_dataset(path)[:, :-1].copy()
    with pytest.raises(InputError, match="not built from this dataset"):
        RegionMotifData.read(f, dataset=other)
    # a file whose regions were reordered is refused
    z = dict(np.load(f))
    z["regions/start"] = z["regions/start"][::-1].copy()
    bad = tmp_path / "bad.npz"
    np.savez(bad, **z)
    with pytest.raises(InputError, match="not sorted by start"):
        RegionMotifData.read(bad)
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(InputError, match="not a cisgram region-motif"):
        RegionMotifData.read(tmp_path / "other.npz")
    with pytest.raises(InputError, match=r"\.npz"):
        data.write(tmp_path / "get.h5")


def test_bad_inputs_name_the_problem(built, tmp_path):
    d, path, data = built
    tracks = _initiation(d)
    with pytest.raises(InputError, match="unknown cell type 'HeLa'"):
        region_motif_data(path, d.genome, d.motifs, d.genes_tss, {"HeLa": tracks["K562"]})
    missing = tmp_path / "K562.mn.bw"
    with pytest.raises(InputError, match="minus strand initiation bigWig of 'K562'") as e:
        region_motif_data(path, d.genome, d.motifs, d.genes_tss, {"K562": (tracks["K562"][0], missing)})
    assert str(missing) in str(e.value)
    with pytest.raises(InputError, match="both positive and negative"):
        from cisgram.data.get_data import _strand_sign

        mixed = tmp_path / "mixed.bw"
        bw = pyBigWig.open(str(mixed), "w")
        bw.addHeader([("chr22", 50_818_468)])
        bw.addEntries(["chr22", "chr22"], [100, 200], ends=[101, 201], values=[-1.0, 2.0])
        bw.close()
        _strand_sign(mixed, "-", "K562")
    with pytest.raises(InputError, match="unknown cell type 'HeLa'"):
        RegionWindows(data, ["HeLa"])
    with pytest.raises(InputError, match="n_regions=5000 is larger") as e:
        RegionWindows(data, n_regions=5000)
    assert "hint" in str(e.value)
    with pytest.raises(InputError, match="larger than every val segment"):
        RegionWindows(data, split="val", n_regions=150)
    with pytest.raises(InputError, match="larger than every chromosome"):
        tss_windows(data, n_regions=5000)
    with pytest.raises(InputError, match="unknown split"):
        RegionWindows(data, split="validation")
    with pytest.raises(IndexError):
        RegionWindows(data, n_regions=50)[10_000]


# ------------------------------------------------------------------------------------ real chr22
@pytest.mark.shared
def test_chr22_archetypes_targets_are_real_biology(chr22, chr22_get_data):
    from scipy.stats import spearmanr

    from cisgram.annotation import read_tss

    data = chr22_get_data
    n = data.n_regions
    assert n > 2500 and data.n_features == 638 and data.motif_scores.shape == (n, 637)
    assert data.targets.shape == (3, n, 2)
    # regions holding a protein-coding gene TSS: >= 90 % carry initiation signal in some cell line
    genes = read_tss(chr22 / "annotation/genes_tss.bed")
    pc = genes[genes["gene_type"] == "protein_coding"]
    rows, strands = [], []
    for i, (s, e) in enumerate(zip(data.regions["start"], data.regions["end"], strict=True)):
        for k, strand in enumerate("+-"):
            p = pc[pc["strand"] == strand]["start"].to_numpy()
            if ((p >= s - W) & (p < e + W)).any():
                rows.append(i)
                strands.append(k)
    rows, strands = np.array(rows), np.array(strands)
    assert rows.size > 200 and data.has_tss[rows, strands].all()
    assert (data.targets[:, rows, strands] > 0).any(axis=0).mean() >= 0.9
    # housekeeping promoters are shared: K562 and GM12878 targets agree across TSS entries
    m = data.has_tss
    assert spearmanr(data.targets[0][m], data.targets[1][m]).statistic > 0.3
    # a real model sees full windows: sliding training windows and TSS windows of 100 regions
    train = RegionWindows(data, ["K562", "GM12878"], split="train", n_regions=100)
    assert train[0].x.shape == (100, 638)
    assert len(tss_windows(data, ["MCF7"], split="test", n_regions=100)) > 20


def test_cli_get_data_writes_what_the_function_builds(built, tmp_path):
    from typer.testing import CliRunner

    from cisgram.cli.app import app

    d, demo_dataset, built = built
    args = ["get-data", "-d", str(demo_dataset), "-g", str(d.genome), "--tss", str(d.genes_tss), "-m", str(d.motifs),
            "--tss-window", str(W)]
    for c, (plus, minus) in _initiation(d).items():
        args += ["--initiation", f"{c}={plus},{minus}"]
    out = tmp_path / "get.npz"
    res = CliRunner().invoke(app, [*args, "-o", str(out)])
    assert res.exit_code == 0, res.output
    back = RegionMotifData.read(out)
    np.testing.assert_array_equal(back.targets, built.targets)
    np.testing.assert_array_equal(back.motif_scores, built.motif_scores)
    assert f"{built.n_regions:,} regions" in res.output
    for bad, message in ((["--initiation", "K562=only_one.bw"], "CELL=PLUS.bw,MINUS.bw"), ([], ".npz")):
        target = tmp_path / ("x.npz" if bad else "x.h5")
        res = CliRunner().invoke(app, [*args[:11], *bad, "-o", str(target)])
        assert res.exit_code != 0 and isinstance(res.exception, InputError) and message in str(res.exception)
        assert not target.exists()
