"""`prepare`: real datasets from bigWig and fragment tracks, invariances, reports and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyBigWig
import pytest

from cisgram.bundled import demo
from cisgram.data.dataset import dataset_info, dataset_split, dataset_target, prepare, read_dataset
from cisgram.errors import InputError
from cisgram.report.prepare import prepare_report

CELLS = ("K562", "GM12878", "MCF7")


def _demo_tracks(d, override=None):
    paths = dict(d.accessibility, **(override or {}))
    return [f"{c}={paths[c]}" for c in CELLS]


def _copy_bigwig(src, dst, *, factor=1.0, chrom_name=None, empty=False):
    """Write a copy of a bigWig, optionally scaled, renamed or without data."""
    bw = pyBigWig.open(str(src))
    out = pyBigWig.open(str(dst), "w")
    chroms = list(bw.chroms().items())
    out.addHeader([(chrom_name or c, n) for c, n in chroms])
    for c, _n in chroms:
        iv = bw.intervals(c) or []
        if iv and not empty:
            a = np.array(iv, dtype=float)
            out.addEntries([chrom_name or c] * len(a), a[:, 0].astype(int).tolist(), ends=a[:, 1].astype(int).tolist(), values=(a[:, 2] * factor).tolist())
    out.close()
    bw.close()
    return dst


@pytest.fixture(scope="module")
def demo_dataset(tmp_path_factory):
    d = demo()
    out = tmp_path_factory.mktemp("prep") / "dataset.h5ad"
    adata = prepare(d.genome, list(d.peaks.values()), _demo_tracks(d), tss=d.genes_tss, split="blocks:1Mb", out=out)
    return adata, out


def test_demo_dataset_shape_layers_and_storage(demo_dataset):
    adata, out = demo_dataset
    assert list(adata.obs_names) == list(CELLS)
    assert adata.n_vars == 905
    for layer in ("counts", "access", "logcpm", "norm_regional", "norm_const"):
        assert adata.layers[layer].shape == (3, 905)
    ap = adata.layers["access"]
    assert ap.min() >= 0 and ap.max() <= 1 and np.allclose(adata.X, ap)
    for col in ("chrom", "start", "end", "name", "tss_distance", "gc", "split", "constitutive"):
        assert col in adata.var
    assert ((adata.var["end"] - adata.var["start"]) == 500).all()
    assert adata.varm["covariates"].shape == (905, 18)  # GC, 16 dinucleotides, regional background
    cov = adata.varm["covariates"]
    assert cov.min() >= 0 and cov.max() <= 10
    back = read_dataset(out)
    np.testing.assert_array_equal(back.layers["access"], adata.layers["access"])
    assert (out.parent / "split.json").exists()
    assert dataset_split(back).kind == "blocks"
    assert (dataset_split(back).assign(back.var) == back.var["split"].astype(str).to_numpy()).all()
    info = dataset_info(back)
    assert info["access"]["prob1_thresh"] > 0 and info["params"]["width"] == 500
    assert not list(out.parent.glob(".*.tmp"))


def test_demo_counts_equal_bigwig_sums(demo_dataset):
    adata, _ = demo_dataset
    bw = pyBigWig.open(str(demo().accessibility["GM12878"]))
    for i in range(0, adata.n_vars, 97):
        v = adata.var.iloc[i]
        expect = np.nansum(bw.values(v["chrom"], int(v["start"]), int(v["end"]), numpy=True))
        assert adata.layers["counts"][1, i] == pytest.approx(expect, rel=1e-6)


def test_tripling_one_condition_leaves_every_ap_unchanged(tmp_path, demo_dataset):
    d = demo()
    adata, _ = demo_dataset
    x3 = _copy_bigwig(d.accessibility["K562"], tmp_path / "K562x3.bw", factor=3.0)
    scaled = prepare(d.genome, list(d.peaks.values()), _demo_tracks(d, {"K562": x3}), tss=d.genes_tss, split="blocks:1Mb")
    np.testing.assert_allclose(scaled.layers["counts"][0], 3 * adata.layers["counts"][0], rtol=1e-5)
    np.testing.assert_allclose(scaled.layers["access"], adata.layers["access"], atol=1e-6)


def test_normalisation_brings_constitutive_medians_together(demo_dataset):
    adata, _ = demo_dataset
    const = adata.var["constitutive"].to_numpy()
    assert 0.05 < const.mean() < 0.95
    raw = np.median(adata.layers["counts"][:, const], axis=1)
    ap = np.median(adata.layers["access"][:, const], axis=1)
    assert raw.max() / raw.min() > 1.5  # the cell lines differ in depth
    assert ap.max() / ap.min() < raw.max() / raw.min()


def test_dataset_targets(demo_dataset):
    adata, _ = demo_dataset
    k = dataset_target(adata, "K562")
    np.testing.assert_allclose(k.y, adata.layers["access"][0])
    assert k.mask.all()
    d = dataset_target(adata, "K562", vs="GM12878")
    dist = adata.var["tss_distance"].to_numpy()
    assert d.name == "K562-GM12878" and (d.mask == (dist > 5000)).all() and 0 < d.mask.sum() < adata.n_vars
    y = d.y[d.mask]
    assert np.nanmin(y) >= 0 and np.nanmax(y) <= 1
    dap = (adata.layers["access"][0] - adata.layers["access"][1])[d.mask]
    assert np.corrcoef(y, dap)[0, 1] > 0.999  # a monotone rescaling of AP(K562) - AP(GM12878)
    train = d.split[d.mask] == "train"
    assert y[train].min() == 0 and y[train].max() == 1  # scaled on training regions
    with pytest.raises(InputError, match="unknown|not among|condition"):
        dataset_target(adata, "HeLa")


def test_prepare_report_has_every_plot(tmp_path, demo_dataset):
    adata, _ = demo_dataset
    prepare_report(adata, tmp_path / "prepare_report.html")
    text = (tmp_path / "prepare_report.html").read_text()
    assert text.count("data:image/png;base64,") == 3
    for word in ("constitutive", "K562", "GM12878", "MCF7", "train / val / test"):
        assert word in text


def test_yeast_barcode_groups_as_conditions(tmp_path, yeast):
    frag = yeast / "atac" / "SRR1822137.fragments.tsv.gz"
    adata = prepare(
        yeast / "genome" / "sacCer3.2bit",
        [yeast / "atac" / "hmmratac_accessible_regions.narrowPeak"],
        [f"A={frag}:AAAAAAAAAAAAAAAA", f"B={frag}:BBBBBBBBBBBBBBBB", f"all={frag}"],
        out=tmp_path / "yeast.h5ad",
    )
    c = adata.layers["counts"]
    np.testing.assert_array_equal(c[0] + c[1], c[2])
    assert "chrM" not in set(adata.var["chrom"])
    assert dataset_split(adata).kind == "chroms"
    # whole chromosomes on one side
    for _, grp in adata.var.groupby("chrom", observed=True)["split"]:
        assert grp.nunique() == 1
    assert set(adata.var["split"]) == {"train", "val", "test"}


def test_count_table_input(tmp_path, demo_dataset):
    adata, _ = demo_dataset
    table = adata.var[["chrom", "start", "end"]].copy()
    for i, c in enumerate(CELLS):
        table[c] = adata.layers["counts"][i]
    p = tmp_path / "counts.tsv"
    table.to_csv(p, sep="\t", index=False)
    t = prepare(demo().genome, counts=p, split="blocks:1Mb")
    assert t.n_vars == adata.n_vars and np.isnan(t.var["background"]).all()
    total = adata.layers["counts"].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(t.layers["logcpm"], np.log10(adata.layers["counts"] / total * 1e5 + 1), rtol=1e-5)
    assert json.loads(t.uns["cisgram"])["access"]["background_floor"] is None


def test_truncated_gzip_count_table_and_cluster_table_name_the_file(tmp_path, demo_dataset):
    import gzip

    from cisgram.data.regionmotif import read_motif_clusters
    from cisgram.errors import InputError

    adata, _ = demo_dataset
    table = adata.var[["chrom", "start", "end"]].copy()
    for i, c in enumerate(CELLS):
        table[c] = adata.layers["counts"][i]
    for name, text in (("counts.tsv.gz", table.to_csv(sep="\t", index=False)),
                       ("clusters.tsv.gz", "".join(f"m{i}\tc{i % 7}\n" for i in range(20000)))):
        data = gzip.compress(text.encode())
        p = tmp_path / name
        p.write_bytes(data[: len(data) // 2])
        with pytest.raises(InputError, match=r"clusters.tsv.gz|counts.tsv.gz") as e:
            prepare(demo().genome, counts=p, split="blocks:1Mb") if name.startswith("counts") else read_motif_clusters(p)
        assert "truncated or corrupt compressed file" in str(e.value) and "\n" not in str(e.value)


# -- bad input ----------------------------------------------------------------------------------
def test_track_chromosome_naming_differs_from_peaks(tmp_path):
    d = demo()
    bad = _copy_bigwig(d.accessibility["K562"], tmp_path / "K562_no_chr.bw", chrom_name="22")
    with pytest.raises(InputError) as e:
        prepare(d.genome, [d.peaks["K562"]], [f"K562={bad}", f"MCF7={d.accessibility['MCF7']}"])
    assert str(bad) in str(e.value) and "chr22" in str(e.value) and "remove 'chr'" in str(e.value)


def test_track_name_given_twice():
    d = demo()
    with pytest.raises(InputError, match="given twice: K562"):
        prepare(d.genome, [d.peaks["K562"]], [f"K562={d.accessibility['K562']}", f"K562={d.accessibility['MCF7']}"])


def test_barcode_group_matching_nothing(yeast):
    frag = yeast / "atac" / "SRR1822137.fragments.tsv.gz"
    with pytest.raises(InputError) as e:
        prepare(yeast / "genome" / "sacCer3.2bit", [yeast / "atac" / "hmmratac_accessible_regions.narrowPeak"],
                [f"A={frag}:AAAAAAAAAAAAAAAA", f"C={frag}:CCCCCCCC"])
    assert str(frag) in str(e.value) and "'C'" in str(e.value) and "match no fragment" in str(e.value)


def test_zero_coverage_condition(tmp_path):
    d = demo()
    empty = _copy_bigwig(d.accessibility["K562"], tmp_path / "empty.bw", empty=True)
    with pytest.raises(InputError) as e:
        prepare(d.genome, [d.peaks["K562"]], [f"K562={d.accessibility['K562']}", f"void={empty}"])
    assert "zero-coverage condition 'void'" in str(e.value) and str(empty) in str(e.value)


def test_peak_file_given_as_track_is_refused():
    d = demo()
    with pytest.raises(InputError) as e:
        prepare(d.genome, [d.peaks["K562"]], [f"K562={d.peaks['K562']}"])
    assert str(d.peaks["K562"]) in str(e.value) and "looks like a narrowPeak" in str(e.value)


def test_malformed_track_spec_and_missing_file():
    d = demo()
    with pytest.raises(InputError, match="not NAME=PATH"):
        prepare(d.genome, [d.peaks["K562"]], ["K562"])
    with pytest.raises(InputError, match="not found"):
        prepare(d.genome, [d.peaks["K562"]], ["K562=/nonexistent/K562.bw"])


def test_cli_prepare_writes_dataset_report_and_reports_errors(tmp_path):
    d = demo()
    out = tmp_path / "ds" / "dataset.h5ad"
    args = [sys.executable, "-m", "cisgram", "prepare", "-g", str(d.genome), "-o", str(out), "--tss", str(d.genes_tss)]
    for c in CELLS:
        args += ["-p", str(d.peaks[c]), "-t", f"{c}={d.accessibility[c]}"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "905 regions x 3 conditions" in r.stdout
    assert out.exists() and (out.parent / "prepare_report.html").exists() and (out.parent / "split.json").exists()
    r = subprocess.run([*args, "-t", f"K562={d.accessibility['MCF7']}"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "given twice" in r.stderr and "Traceback" not in r.stderr
