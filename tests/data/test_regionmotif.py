"""`cisgram scan` (cisgram.data.regionmotif): features of real regions written and read back, the
energy normalisation and its reuse, hits, datasets in and out, and one-line input errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from cisgram.bundled import demo
from cisgram.data.regionmotif import read_features, scan_regions, write_wide
from cisgram.errors import InputError
from cisgram.genome import Genome
from cisgram.intervals import read_regions, resize
from cisgram.motifs.features import FEATURES, apply_energy_norm, fit_energy_norm, region_features
from cisgram.motifs.pwm import read_meme


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    d = demo()
    out = tmp_path_factory.mktemp("scan") / "f.parquet"
    hits = out.with_name("hits.tsv")
    s = scan_regions(d.genome, d.peaks["K562"], d.motifs, out, features=FEATURES, hits_out=hits, width=500,
                     threshold=1e-4, device="cpu")
    return d, out, hits, s


def test_parquet_round_trip_matches_the_api(scanned):
    d, out, hits, s = scanned
    assert s["n_regions"] == 408 and s["n_motifs"] == 100 and s["width"] == 500
    g = Genome(d.genome)
    regions = resize(read_regions(d.peaks["K562"], genome=g), 500, sizes=g.sizes)
    codes = g.fetch_codes_batch(regions.chrom, regions.start, regions.end)
    ms = read_meme(d.motifs)
    direct = region_features(codes, ms, FEATURES)
    f = read_features(out)
    assert list(f["max"].index[:2]) == list(regions["name"][:2])
    np.testing.assert_array_equal(f["max"].to_numpy(), direct.features["max"].astype(np.float32))
    np.testing.assert_array_equal(f["count"].to_numpy(), direct.features["count"])
    assert list(f["count"].columns) == list(ms.names)
    bins = f["energy_bins"].to_numpy().reshape(408, direct.grid.n, 100)
    np.testing.assert_array_equal(bins, direct.features["energy_bins"])
    np.testing.assert_allclose(f["hit_score_sum"].to_numpy(), direct.features["hit_score_sum"], rtol=1e-6)
    # energies normalised on all regions of a BED file: in [0, 10], each motif's best region at 10
    norm = fit_energy_norm(direct.features["energy"], ms.names)
    np.testing.assert_allclose(f["energy"].to_numpy(), apply_energy_norm(direct.features["energy"], norm), rtol=1e-6)
    e = f["energy"].to_numpy()
    assert e.min() >= 0 and np.allclose(e.max(axis=0), 10)
    # the hit table agrees with the counts
    h = pd.read_csv(hits, sep="\t")
    assert list(h.columns) == ["region", "motif", "start", "end", "strand", "score", "p_value"]
    assert len(h) == s["n_hits"] == f["count"].to_numpy().sum() and (h["p_value"] < 1e-4).all()


def test_chunked_parquet_equals_the_in_memory_table(scanned, tmp_path):
    """The scan writes its table a slice of regions at a time (bounded memory at genome scale):
    37-region row groups give the same table as one, and as the scan's own file."""
    d, out, _, _ = scanned
    f = read_features(out)
    feats = {k: f[k].to_numpy() for k in ("max", "count", "energy")}
    names = list(f["max"].index)
    whole, chunked = tmp_path / "whole.parquet", tmp_path / "chunked.parquet"
    write_wide(whole, feats, list(f["max"].columns), [], f["regions"], names, rows=10**9)
    write_wide(chunked, feats, list(f["max"].columns), [], f["regions"], names, rows=37)
    import pyarrow.parquet as pq

    assert pq.ParquetFile(chunked).metadata.num_row_groups == -(-len(names) // 37)
    a, b = pd.read_parquet(whole), pd.read_parquet(chunked)
    pd.testing.assert_frame_equal(a, b)
    theirs = pd.read_parquet(out)
    pd.testing.assert_frame_equal(b, theirs[b.columns])


def test_stored_energy_norm_is_reused_on_new_regions(scanned, tmp_path):
    d, out, _, _ = scanned
    stored = out.with_name(out.name + ".energy_norm.json")
    assert json.loads(stored.read_text())["motif_names"][0] == read_meme(d.motifs).names[0]
    gm = tmp_path / "gm.parquet"
    scan_regions(d.genome, d.peaks["GM12878"], d.motifs, gm, features=("energy",), width=500, energy_norm=stored)
    again = read_features(gm)["energy"].to_numpy()
    own = tmp_path / "own.parquet"
    scan_regions(d.genome, d.peaks["GM12878"], d.motifs, own, features=("energy",), width=500)
    # scaled by K562's statistics, GM12878's energies differ from its own fit
    assert again.min() >= 0 and again.max() <= 10 and not np.allclose(again, read_features(own)["energy"].to_numpy())
    with pytest.raises(InputError, match="other motifs"):
        scan_regions(d.genome, d.peaks["GM12878"], d.motifs, tmp_path / "x.parquet",
                     features=("energy",), width=500, energy_norm=_other_motifs_norm(stored, tmp_path))


def _other_motifs_norm(stored, tmp_path):
    n = json.loads(stored.read_text())
    n["motif_names"][0] = "SOMETHING_ELSE"
    p = tmp_path / "other.json"
    p.write_text(json.dumps(n))
    return p


def test_dataset_in_dataset_out(demo_dataset, tmp_path):
    from cisgram.data.dataset import read_dataset

    ds = demo_dataset
    out = tmp_path / "with_motifs.h5ad"
    scan_regions(demo().genome, ds, demo().motifs, out, features=("max", "energy", "energy_bins"))
    a = read_dataset(out)
    assert a.varm["motif_max"].shape == (a.n_vars, 100) and a.varm["motif_energy_bins"].shape == (a.n_vars, 11, 100)
    meta = json.loads(a.uns["cisgram_motifs"])
    assert meta["features"] == ["max", "energy", "energy_bins"] and len(meta["motifs"]) == 100
    train = (a.var["split"] == "train").to_numpy()
    e = a.varm["motif_energy"]
    assert np.allclose(e[train].max(axis=0), 10)  # the reference is the training regions
    assert e.min() >= 0 and e.max() <= 10


def run(*args):
    return subprocess.run([sys.executable, "-m", "cisgram", *args], capture_output=True, text=True, timeout=300)


def test_cli_scan_and_its_errors(tmp_path):
    d = demo()
    base = ["scan", "-g", str(d.genome), "-m", str(d.motifs)]
    r = run(*base, "-r", str(d.peaks["MCF7"]), "--width", "300", "--features", "count", "-o", str(tmp_path / "c.parquet"))
    assert r.returncode == 0, r.stderr
    assert "477 regions of 300 bp x 100 motifs: count" in r.stdout
    assert read_features(tmp_path / "c.parquet")["count"].shape == (477, 100)
    bed = tmp_path / "mixed.bed"
    bed.write_text("chr22\t20000000\t20000500\nchr22\t21000000\t21000300\n")
    cases = [
        (["-r", str(bed)], "mixed.bed: regions have widths 300 to 500 bp", "--width"),
        (["-r", str(bed), "--width", "10"], "wider than the 10 bp sequences", ""),
        (["-r", str(bed), "--width", "100", "--features", "max,mean"], "unknown or no feature(s) ['mean']", ""),
        (["-r", str(bed), "--width", "100", "-o", str(tmp_path / "x.h5ad")], "adds features to a dataset", ""),
        (["-r", str(bed), "--width", "100", "--bins", "5:40"], "5 bins of 40 bp do not fit in 100 bp sequences", ""),
        (["-r", str(bed), "--width", "100", "--bins", "wide"], "bins 'wide' is not central, whole or N:SIZE", ""),
    ]
    for extra, message, hint in cases:
        args = [*base, *extra] if "-o" in extra else [*base, *extra, "-o", str(tmp_path / "bad.parquet")]
        r = run(*args)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        flat = " ".join(r.stderr.split())
        assert message in flat and hint in flat, flat
    assert not (tmp_path / "bad.parquet").exists() and not (tmp_path / "x.h5ad").exists()
    one_col = tmp_path / "clusters.tsv"
    one_col.write_text("MA1930.2\n")
    for path, message in ((one_col, "clusters.tsv: a cluster table needs two tab-separated columns"),
                          (tmp_path / "absent.tsv", "absent.tsv: motif cluster table not found")):
        r = run(*base, "-r", str(bed), "--width", "100", "--features", "hit_score_sum", "--clusters", str(path),
                "-o", str(tmp_path / "cl.parquet"))
        assert r.returncode == 2 and "Traceback" not in r.stderr and message in " ".join(r.stderr.split()), r.stderr
    dup = tmp_path / "dup.meme"
    text = d.motifs.read_text()
    first = text[text.index("MOTIF"):text.index("MOTIF", text.index("MOTIF") + 1)]
    dup.write_text(text + "\n" + first)
    r = run("scan", "-g", str(d.genome), "-m", str(dup), "-r", str(bed), "--width", "100", "-o", str(tmp_path / "d.parquet"))
    assert r.returncode == 2 and "dup.meme" in r.stderr and "twice" in " ".join(r.stderr.split()), r.stderr


def test_energy_bins_default_to_the_central_440_bp(tmp_path):
    d = demo()
    bed = tmp_path / "kb.bed"
    bed.write_text("chr22\t20000000\t20001000\nchr22\t21000000\t21001000\n")
    grids = {}
    for bins in ("central", "whole"):
        out = tmp_path / f"{bins}.parquet"
        scan_regions(d.genome, bed, d.motifs, out, features=("energy_bins",), bins=bins, device="cpu")
        grids[bins] = read_features(out)["energy_bins"].shape[1] // 100
    assert grids == {"central": 11, "whole": 25}
