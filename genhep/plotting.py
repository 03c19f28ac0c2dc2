"""Figures shared by the evaluators: histogram overlays and scatter comparisons.

Functions return matplotlib figures and never save or log them; the evaluation
callback does that.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

REAL_STYLE = {"histtype": "stepfilled", "alpha": 0.35, "color": "0.4"}


def _density(values: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Counts per bin over (number of events × bin width)."""
    values = np.asarray(values).ravel()
    counts, _ = np.histogram(values, bins=bins)
    return counts / (max(len(values), 1) * np.diff(bins))


def histogram_overlay(
    samples: Mapping[str, np.ndarray],
    xlabel: str,
    bins: int | np.ndarray = 50,
    reference: str = "real",
    log_y: bool = False,
) -> Figure:
    """Normalised histograms of several 1-D samples on one axis.

    ``samples`` maps labels to arrays; the ``reference`` label is drawn filled, the
    others as lines. Bins span the reference's 0.1–99.9 percentiles when not given.
    Each histogram is normalised to its whole sample (events outside the bins count), so a
    sample that misses the range shows as low, not as a rescaled shape or an error.
    """
    if isinstance(bins, int):
        base = samples.get(reference, next(iter(samples.values())))
        low, high = np.percentile(base, [0.1, 99.9])
        if low == high:
            low, high = low - 0.5, high + 0.5
        bins = np.linspace(low, high, bins + 1)
    bins = np.asarray(bins, dtype=float)
    fig, ax = plt.subplots(figsize=(5, 3.6), layout="constrained")
    for label, values in samples.items():
        style = REAL_STYLE if label == reference else {"histtype": "step", "linewidth": 1.5}
        ax.hist(bins[:-1], bins=bins, weights=_density(values, bins), label=label, **style)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    if log_y:
        ax.set_yscale("log")
    ax.legend(frameon=False)
    return fig


def scatter_comparison(
    samples: Mapping[str, np.ndarray], xlabel: str, ylabel: str, max_points: int = 3000
) -> Figure:
    """Side-by-side 2-D scatter plots of ``(N, 2)`` samples with shared axes."""
    fig, axes = plt.subplots(
        1,
        len(samples),
        figsize=(3.6 * len(samples), 3.4),
        sharex=True,
        sharey=True,
        layout="constrained",
    )
    for ax, (label, values) in zip(np.atleast_1d(axes), samples.items(), strict=True):
        points = np.asarray(values)[:max_points]
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5)
        ax.set_title(label)
        ax.set_xlabel(xlabel)
    np.atleast_1d(axes)[0].set_ylabel(ylabel)
    return fig
