"""HEP-style histogram overlays: the drawn errors and ratios against numpy, and the files."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from genhep.plotting import histogram_overlay, save_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BINS = np.linspace(-2.0, 2.0, 9)


@pytest.fixture(scope="module")
def samples():
    rng = np.random.default_rng(7)
    # both samples have events outside BINS: they count in the normalisation
    return {"real": rng.normal(0.0, 1.0, 4000), "generated": rng.normal(0.2, 1.2, 2500)}


@pytest.fixture
def figure(samples):
    fig = histogram_overlay(samples, "x", bins=BINS)
    yield fig
    plt.close(fig)


def error_bars(ax):
    """``(centre, value, half-length)`` arrays of every non-empty error-bar set on ``ax``."""
    found = []
    for container in ax.containers:
        segments = [s for c in container.lines[2] for s in c.get_segments()]
        if segments:
            segments = np.array(segments)  # (bins, 2 ends, xy)
            low, high = segments[:, 0, 1], segments[:, 1, 1]
            found.append((segments[:, 0, 0], (low + high) / 2, (high - low) / 2))
    return found


def bands(ax):
    """The filled areas between two curves (stair plots whose baseline is not 0)."""
    return [p for p in ax.patches if np.any(p.get_data().baseline)]


def test_main_panel_errors_are_poisson_over_the_whole_sample(figure, samples):
    ax = figure.axes[0]
    [(centres, value, half)] = error_bars(ax)  # the generated sample; the reference is a band
    counts, _ = np.histogram(samples["generated"], bins=BINS)
    scale = len(samples["generated"]) * np.diff(BINS)
    np.testing.assert_allclose(centres, (BINS[1:] + BINS[:-1]) / 2)
    np.testing.assert_allclose(value, counts / scale)
    np.testing.assert_allclose(half, np.sqrt(counts) / scale)

    ref_counts, _ = np.histogram(samples["real"], bins=BINS)
    ref_scale = len(samples["real"]) * np.diff(BINS)
    [band] = bands(ax)
    upper, _, lower = band.get_data()
    np.testing.assert_allclose(upper, (ref_counts + np.sqrt(ref_counts)) / ref_scale)
    np.testing.assert_allclose(lower, (ref_counts - np.sqrt(ref_counts)) / ref_scale)


def test_ratio_with_the_numerator_error_and_the_reference_band(figure, samples):
    rax = figure.axes[1]
    [(_, ratio, error)] = error_bars(rax)
    gen, _ = np.histogram(samples["generated"], bins=BINS)
    ref, _ = np.histogram(samples["real"], bins=BINS)
    assert (gen > 0).all() and (ref > 0).all()
    expected = (gen / len(samples["generated"])) / (ref / len(samples["real"]))
    np.testing.assert_allclose(ratio, expected)
    np.testing.assert_allclose(error, expected / np.sqrt(gen))
    # the reference's own relative error, shaded around 1
    [band] = bands(rax)
    upper, _, lower = band.get_data()
    np.testing.assert_allclose(upper, 1 + 1 / np.sqrt(ref))
    np.testing.assert_allclose(lower, 1 - 1 / np.sqrt(ref))


def test_two_panels_share_x_and_the_ratio_range_is_fixed(figure):
    ax, rax = figure.axes
    assert ax.get_shared_x_axes().joined(ax, rax)
    assert ax.get_xlim() == rax.get_xlim() == (BINS[0], BINS[-1])
    assert rax.get_ylim() == (0.5, 1.5)
    assert ax.get_position().y0 >= rax.get_position().y1 - 1e-9  # ratio below the main panel
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["real", "generated"]


def test_save_figure_writes_valid_png_and_pdf(figure, tmp_path):
    paths = save_figure(figure, tmp_path / "figs" / "w1_x0.5")
    assert [p.name for p in paths] == ["w1_x0.5.png", "w1_x0.5.pdf"]
    png, pdf = (p.read_bytes() for p in paths)
    assert png[:8] == PNG_MAGIC and len(png) > 1000
    assert pdf[:5] == b"%PDF-" and b"%%EOF" in pdf[-32:]
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == sorted(p.name for p in paths)


@pytest.mark.parametrize("log_y", [False, True])
def test_sample_far_outside_the_reference_range(tmp_path, log_y):
    rng = np.random.default_rng(1)
    fig = histogram_overlay(
        {"real": rng.normal(size=1000), "far": rng.normal(100.0, 1.0, 500)}, "x", log_y=log_y
    )
    rax = fig.axes[1]
    # the ratio is 0 in every bin the reference fills: a down arrow at the panel's bottom
    [arrows] = [line for line in rax.lines if line.get_marker() == "v"]
    assert len(arrows.get_xdata()) == np.isfinite(bands(rax)[0].get_data().values).sum() > 40
    assert all(0.5 < y < 1.0 for y in arrows.get_ydata())
    save_figure(fig, tmp_path / "far")  # drawing does not raise either
    plt.close(fig)


def test_events_where_the_reference_has_none_point_up():
    fig = histogram_overlay(
        {"real": np.array([0.5, 1.5]), "generated": np.array([0.5, 2.5])}, "x", bins=[0, 1, 2, 3]
    )
    [up] = [line for line in fig.axes[1].lines if line.get_marker() == "^"]
    np.testing.assert_allclose(up.get_xdata(), [2.5])  # ratio infinite in the third bin
    [down] = [line for line in fig.axes[1].lines if line.get_marker() == "v"]
    np.testing.assert_allclose(down.get_xdata(), [1.5])  # ratio 0 in the second
    plt.close(fig)
