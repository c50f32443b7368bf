"""Tests for cisgram.report.plots: the small figure builders of the model reports."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.figure import Figure
from scipy.stats import pearsonr
from sklearn.metrics import r2_score

from cisgram.errors import InputError
from cisgram.report import plots

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

# rows: all A (2 bits, one letter), uniform (0 bits, no letter), half A half C (1 bit, two letters)
PROBS = np.array([[1.0, 0, 0, 0], [0.25, 0.25, 0.25, 0.25], [0.5, 0.5, 0, 0]])


def png_size(fig: Figure) -> int:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=plots.DPI, bbox_inches="tight")
    return len(buf.getvalue())


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    """The builders never register figures with pyplot (nothing to leak, nothing to close)."""
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before


# ---------------------------------------------------------------- logo

def test_information_heights_by_hand():
    h = plots.information_heights(PROBS)
    np.testing.assert_allclose(h, [[2, 0, 0, 0], [0, 0, 0, 0], [0.5, 0.5, 0, 0]], atol=1e-12)


def test_logo_glyphs():
    fig = plots.logo(PROBS, "toy")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert ax.get_title() == "toy"
    assert ax.get_ylim() == (0, 2)
    # logomaker draws one patch per letter of non-zero height: A at 0; A and C at 2
    assert len(ax.patches) == 3
    heights = sorted(round(p.get_path().get_extents().height, 6) for p in ax.patches)
    assert heights == [0.5, 0.5, 2.0]
    centres = sorted(round(p.get_path().get_extents().x0 + p.get_path().get_extents().width / 2)
                     for p in ax.patches)
    assert centres == [0, 2, 2]


def test_logo_of_a_real_width_motif_is_small():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(4, 0.3), size=20)
    fig = plots.logo(probs)
    assert len(fig.axes[0].patches) == np.count_nonzero(plots.information_heights(probs))
    assert png_size(fig) < 60_000


def test_logo_into_given_axes():
    fig = Figure()
    ax = fig.add_subplot()
    assert plots.logo(PROBS, ax=ax) is fig
    assert len(ax.patches) == 3


@pytest.mark.parametrize("bad, match", [
    (PROBS.T, "shaped \\(w, 4\\)"),
    (PROBS[0], "shaped \\(w, 4\\)"),
    (np.zeros((0, 4)), "shaped \\(w, 4\\)"),
    (PROBS * 1.1, "row 0 sums to 1.1"),
    (np.array([[1.2, -0.2, 0, 0]]), "non-negative"),
    (np.array([[np.nan, 0, 0, 1]]), "finite"),
    ([["a", "b", "c", "d"]], "numbers"),
])
def test_logo_bad_input(bad, match):
    with pytest.raises(InputError, match=match):
        plots.logo(bad)


# ---------------------------------------------------------------- dose response

def test_dose_response_curve_and_points():
    energy = np.linspace(10, 0, 21)  # given in any order, drawn sorted
    response = 1 / (1 + np.exp(-(energy - 5)))
    fig = plots.dose_response(energy, response, "CTCF")
    (ax,) = fig.axes
    (line,) = ax.lines
    np.testing.assert_allclose(line.get_xdata(), energy[::-1])
    np.testing.assert_allclose(line.get_ydata(), response[::-1])
    assert not ax.collections

    x = np.arange(0.5, 10, 1.0)
    fig = plots.dose_response(energy, response, observed=(x, x / 10))
    (points,) = fig.axes[0].collections
    np.testing.assert_allclose(points.get_offsets(), np.column_stack([x, x / 10]))
    assert tuple(fig.get_size_inches()) == plots.SIZE and fig.dpi == plots.DPI


def test_dose_response_bad_input():
    e = np.linspace(0, 10, 5)
    with pytest.raises(InputError, match="same length"):
        plots.dose_response(e, e[:4])
    with pytest.raises(InputError, match="NaN"):
        plots.dose_response(e, np.r_[e[:4], np.nan])
    with pytest.raises(InputError, match="1-D"):
        plots.dose_response(e[None], e[None])
    with pytest.raises(InputError, match="observed x and y"):
        plots.dose_response(e, e, observed=(e, e[:3]))
    with pytest.raises(InputError, match="pair"):
        plots.dose_response(e, e, observed=(e,))


# ---------------------------------------------------------------- spatial profile

def test_spatial_profile_bars_at_bin_centres():
    w = np.array([0.5, -1.0, 2.0, 0.0])
    fig = plots.spatial_profile(w, 50, -100, "CTCF")
    (ax,) = fig.axes
    assert len(ax.patches) == 4
    np.testing.assert_allclose([p.get_x() + p.get_width() / 2 for p in ax.patches], [-75, -25, 25, 75])
    np.testing.assert_allclose([p.get_height() for p in ax.patches], w)


@pytest.mark.parametrize("weights, bin_size, offset, match", [
    (np.ones(3), 0, 0, "bin_size"),
    (np.ones(3), 2.5, 0, "bin_size"),
    (np.ones(3), 10, 0.5, "offset"),
    (np.ones((2, 3)), 10, 0, "1-D"),
    (np.array([]), 10, 0, "at least 1"),
])
def test_spatial_profile_bad_input(weights, bin_size, offset, match):
    with pytest.raises(InputError, match=match):
        plots.spatial_profile(weights, bin_size, offset)


# ---------------------------------------------------------------- scatter

@pytest.mark.parametrize("n", [300, 5000])
def test_scatter_title_has_r_and_r2(n):
    rng = np.random.default_rng(n)
    obs = rng.normal(size=n)
    pred = 0.7 * obs + 0.5 * rng.normal(size=n) + 0.3
    fig = plots.scatter(obs, pred, "test set")
    (ax,) = fig.axes
    title = ax.get_title()
    assert title.startswith("test set")
    assert f"r = {pearsonr(obs, pred)[0]:.3f}" in title
    assert f"R\u00b2 = {r2_score(obs, pred):.3f}" in title
    if n > plots.SCATTER_POINTS:
        assert any(isinstance(c, PolyCollection) for c in ax.collections)  # hexbin
        assert not any(isinstance(c, PathCollection) for c in ax.collections)
    else:
        (points,) = ax.collections
        assert isinstance(points, PathCollection) and len(points.get_offsets()) == n
    assert png_size(fig) < 60_000


def test_fit_stats_constant_prediction():
    r, r2 = plots.fit_stats(np.array([1.0, 2, 3]), np.array([2.0, 2, 2]))
    assert np.isnan(r) and r2 == pytest.approx(0.0)


def test_scatter_bad_input():
    with pytest.raises(InputError, match="same length"):
        plots.scatter(np.ones(5), np.ones(4))
    with pytest.raises(InputError, match="at least 2"):
        plots.scatter(np.ones(1), np.ones(1))
    with pytest.raises(InputError, match="infinite"):
        plots.scatter(np.array([1, np.inf]), np.ones(2))


# ---------------------------------------------------------------- bars

def test_bars_first_name_on_top():
    names = ["SP1", "CTCF", "GATA1"]
    values = np.array([0.3, -0.1, 0.05])
    fig = plots.bars(names, values, "leave-one-out", "ΔR²")
    (ax,) = fig.axes
    assert len(ax.patches) == 3
    np.testing.assert_allclose([p.get_width() for p in ax.patches], values)
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    top = min(ax.patches, key=lambda p: p.get_y())  # the y axis is inverted: smallest y on top
    assert top.get_width() == pytest.approx(0.3)
    assert ax.get_ylim()[0] > ax.get_ylim()[1]
    assert ax.get_xlabel() == "ΔR²"


def test_bars_bad_input():
    with pytest.raises(InputError, match="same length"):
        plots.bars(["a", "b"], np.ones(3))
    with pytest.raises(InputError, match="1-D"):
        plots.bars(["a"], np.ones((1, 1)))
