"""Figures shared by the evaluators and ``genhep report``, and the one writer of figure files.

:func:`histogram_overlay` draws normalised histograms with statistical errors and a ratio
panel in HEP style (mplhep); :func:`scatter_comparison` draws 2-D samples side by side.
Figure functions return matplotlib figures and never save or log them; whoever writes
them calls :func:`save_figure` (PNG and PDF).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from genhep.utils.io import atomic_open  # noqa: E402

REAL_STYLE = {"histtype": "stepfilled", "alpha": 0.35, "color": "0.4"}
FIGURE_FORMATS = ("png", "pdf")
RATIO_RANGE = (0.5, 1.5)

# mplhep's CMS style (its font, inward ticks on all four sides, minor ticks) with no
# experiment label, scaled from its 10 × 10 inch canvas to 5 × 5 inches. Fonts are named,
# not generic ("sans-serif", mathtext "custom"), because a figure is drawn when it is saved
# or logged, outside this style: the text keeps its family, the generic names would not.
_HEP_OVERRIDES = {
    "font.family": "TeX Gyre Heros",
    "mathtext.fontset": "stixsans",
    "mathtext.default": "it",
    "figure.figsize": (5.0, 5.0),
    "font.size": 12,
    "legend.fontsize": 10,
    "axes.linewidth": 1.0,
    "xtick.major.size": 6,
    "xtick.minor.size": 3,
    "ytick.major.size": 6,
    "ytick.minor.size": 3,
    "xtick.major.pad": 4,
}
# Fixed margins, not constrained layout: the layout engine's tick measuring tripled the
# time to draw a figure (minor ticks on four sides).
_MARGINS = {"left": 0.17, "right": 0.96, "top": 0.93, "bottom": 0.11}
_BAND = {"color": "0.2", "alpha": 0.25, "linewidth": 0, "fill": True}


@contextlib.contextmanager
def hep_style() -> Iterator[None]:
    """The matplotlib settings of genhep's HEP-style figures (mplhep's CMS style, no label)."""
    import mplhep

    with plt.style.context([mplhep.style.CMS, _HEP_OVERRIDES]):
        yield


def binned_density(
    values: np.ndarray, bins: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(counts, density, error)`` of ``values`` in ``bins``.

    density = counts / (N × bin width), N the whole sample (events outside the bins count),
    and its Poisson error sqrt(counts) / (N × bin width); an empty bin has error 0.
    """
    values = np.asarray(values).ravel()
    counts, _ = np.histogram(values, bins=bins)
    scale = max(values.size, 1) * np.diff(bins)
    return counts, counts / scale, np.sqrt(counts) / scale


def density_ratio(
    counts: np.ndarray, n: int, ref_counts: np.ndarray, ref_n: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(ratio, error)`` of two histograms normalised to their samples (sizes ``n``, ``ref_n``).

    r = (c / n) / (c_ref / ref_n) per bin (bin widths cancel), with the error of the
    numerator's Poisson counts only, σ_r = r / sqrt(c) (the HEP convention: the reference's
    own relative error 1/sqrt(c_ref) is drawn as a band around 1, not counted twice); a bin
    with c = 0 has r = 0 and error 0. A bin the reference leaves empty has r = inf (c > 0) or
    nan (c = 0), and error nan.
    """
    counts, ref_counts = np.asarray(counts, float), np.asarray(ref_counts, float)
    scale = max(ref_n, 1) / max(n, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = scale * counts / ref_counts
        error = scale * np.sqrt(counts) / ref_counts
    return ratio, np.where(ref_counts > 0, error, np.nan)


def histogram_overlay(
    samples: Mapping[str, np.ndarray],
    xlabel: str,
    bins: int | np.ndarray = 50,
    reference: str = "real",
    log_y: bool = False,
    ratio_range: tuple[float, float] = RATIO_RANGE,
) -> Figure:
    """Normalised histograms of 1-D samples with statistical errors, and a ratio panel.

    ``samples`` maps labels to arrays. Bins span the reference's 0.1–99.9 percentiles when
    not given. Each histogram is normalised to its whole sample (events outside the bins
    count), so a sample that misses the range shows as low, not as a rescaled shape or an
    error. Errors are Poisson, sqrt(counts), carried through the normalisation
    (:func:`binned_density`).

    Upper panel: the ``reference`` sample (the first one when no label is ``reference``)
    filled, its error a grey band; every other sample a line with error bars. Lower panel,
    sharing the x axis: each other sample over the reference, its error bars from both
    samples' counts (:func:`density_ratio`), and the reference's own relative error as the
    grey band around 1. The ratio axis spans ``ratio_range``; a ratio outside it (also a
    sample's events in a bin the reference leaves empty) is an arrow at the panel's edge
    in the sample's colour.
    """
    import mplhep

    if isinstance(bins, int):
        bins = _default_bins(samples, reference, bins)
    bins = np.asarray(bins, dtype=float)
    ref_label = reference if reference in samples else next(iter(samples))
    hists = {label: binned_density(values, bins) for label, values in samples.items()}
    sizes = {label: np.asarray(values).size for label, values in samples.items()}
    ref_counts, ref_density, ref_error = hists[ref_label]
    with hep_style():
        colours = itertools.cycle(plt.rcParams["axes.prop_cycle"].by_key()["color"])
        fig, (ax, rax) = plt.subplots(2, 1, sharex=True, height_ratios=(3, 1))
        fig.subplots_adjust(hspace=0, **_MARGINS)
        mplhep.histplot(
            ref_density,
            bins,
            ax=ax,
            histtype="fill",
            label=ref_label,
            flow="none",
            color=REAL_STYLE["color"],
            alpha=REAL_STYLE["alpha"],
        )
        ax.stairs(ref_density + ref_error, bins, baseline=ref_density - ref_error, **_BAND)
        with np.errstate(divide="ignore"):
            relative = np.where(ref_counts > 0, 1 / np.sqrt(ref_counts), np.nan)
        rax.stairs(1 + relative, bins, baseline=1 - relative, **_BAND)
        rax.axhline(1.0, color="0.3", linewidth=1)
        for label, (counts, density, error) in hists.items():
            if label == ref_label:
                continue
            colour = next(colours)
            step = {"histtype": "step", "flow": "none", "color": colour}
            mplhep.histplot(density, bins, yerr=error, ax=ax, label=label, linewidth=1.5, **step)
            ratio, ratio_error = density_ratio(counts, sizes[label], ref_counts, sizes[ref_label])
            finite = np.isfinite(ratio)
            mplhep.histplot(
                np.where(finite, ratio, np.nan),
                bins,
                yerr=np.where(finite, ratio_error, 0.0),
                ax=rax,
                linewidth=1.2,
                **step,
            )
            _out_of_range_arrows(rax, bins, ratio, ratio_range, colour)
        ax.set_xlim(bins[0], bins[-1])
        ax.set_ylabel("density")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        if log_y:
            ax.set_yscale("log")
        _legend_headroom(ax, len(samples), log_y)
        ax.legend()
        rax.set_ylim(*ratio_range)
        rax.yaxis.set_major_locator(MaxNLocator(nbins=4, prune="upper"))  # clear of the 0 above
        rax.set_xlabel(xlabel)
        rax.set_ylabel(f"ratio to {ref_label}", fontsize="small")
    return fig


def _default_bins(samples: Mapping[str, np.ndarray], reference: str, n: int) -> np.ndarray:
    """``n`` bins over the reference's (else the first sample's) 0.1–99.9 percentiles."""
    base = np.asarray(samples.get(reference, next(iter(samples.values()))))
    low, high = np.percentile(base, [0.1, 99.9])
    if low == high:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, n + 1)


def _out_of_range_arrows(
    ax: Axes, bins: np.ndarray, ratio: np.ndarray, limits: tuple[float, float], colour: str
) -> None:
    """Arrows at the ratio panel's top (bottom) edge for ratios above (below) ``limits``."""
    low, high = limits
    centres = 0.5 * (bins[1:] + bins[:-1])
    margin = 0.06 * (high - low)
    for outside, y, marker in (
        (ratio > high, high - margin, "^"),
        (ratio < low, low + margin, "v"),
    ):
        if outside.any():
            ax.plot(centres[outside], np.full(outside.sum(), y), marker, color=colour, ms=4, ls="")


def _legend_headroom(ax: Axes, entries: int, log_y: bool) -> None:
    """Raise the upper y limit so that the legend (top right) does not hide the peaks."""
    low, high = ax.get_ylim()
    if log_y:
        ax.set_ylim(low, high * (high / low) ** (0.06 * entries))
    else:
        ax.set_ylim(0, high * (1.05 + 0.1 * entries))


def save_figure(fig: Figure, path: str | Path, dpi: int = 110) -> list[Path]:
    """Write ``fig`` to ``<path>.png`` and ``<path>.pdf`` (each atomically); return the paths.

    ``path`` has no suffix: the formats' suffixes are appended, so a name with a dot in it
    (``w1_x0.5``) keeps it.
    """
    path = Path(path)
    written = []
    for fmt in FIGURE_FORMATS:
        target = path.with_name(f"{path.name}.{fmt}")
        with atomic_open(target, "wb") as handle:
            fig.savefig(handle, format=fmt, dpi=dpi)
        written.append(target)
    return written


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
