"""Histogram separation power (triangular discrimination), as the CaloChallenge 2022 evaluation.

Definition (``_separation_power`` in ``code/evaluate.py`` of CaloChallenge/homepage, "cf eq. 15
of 2009.03796"): with ``h1``, ``h2`` the two histograms on the *same* bins, each normalised to
unit sum over those bins,

    S = ½ Σ_i (h1_i − h2_i)² / (h1_i + h2_i + 1e-16)

The challenge builds both histograms with ``density=True`` (``plt.hist`` / ``np.histogram``) and
multiplies by ``np.diff(bins)``, so each histogram is normalised to the events *inside* the bin
range: events outside the edges are dropped, not counted in an overflow bin. Bins empty in both
histograms contribute 0 through the 1e-16 guard. S = 0 for identical histograms and 1 for
histograms with no common bin; it is bounded in [0, 1].

The challenge takes the bins from the reference (Geant4) histogram. :func:`separation_power`
does the same when ``bins`` is an integer: ``bins + 1`` evenly spaced edges from the minimum to
the maximum of ``real`` (a constant real sample gets a unit-wide range around its value).

Two conventions of ours, documented because the challenge has no such case or no error:

* a histogram with *no* event inside the bin range (density 0/0 = NaN in the challenge) is taken
  as all-zero, so S = 0.5 Σ h_other = 0.5 when the other one is not empty, 0 when both are;
* the error is the standard deviation of S over ``n_bootstrap`` resamples (with replacement) of
  *both* samples on the fixed bins; S is biased upwards by finite statistics (≈ n_bins / (2N)
  for two samples of N events of one distribution), which the real-vs-real value measures.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from genhep.metrics.bootstrap import Seed, bootstrap

__all__ = ["separation_bins", "separation_from_histograms", "separation_power"]

#: The challenge's guard in the denominator.
SEPARATION_EPS = 1e-16


def separation_from_histograms(hist1: ArrayLike, hist2: ArrayLike) -> float:
    """½ Σ (h1 − h2)² / (h1 + h2 + 1e-16) for two histograms each normalised to unit sum
    (an all-zero histogram stays all-zero)."""
    h1 = np.asarray(hist1, dtype=np.float64)
    h2 = np.asarray(hist2, dtype=np.float64)
    if h1.shape != h2.shape:
        raise ValueError(f"histograms have different shapes: {h1.shape} and {h2.shape}")
    s1, s2 = h1.sum(), h2.sum()
    h1 = h1 / s1 if s1 > 0 else h1
    h2 = h2 / s2 if s2 > 0 else h2
    return float(0.5 * np.sum((h1 - h2) ** 2 / (h1 + h2 + SEPARATION_EPS)))


def separation_bins(real: ArrayLike, bins: int | ArrayLike = 50) -> np.ndarray:
    """Bin edges: ``bins`` itself when it is a sequence of edges, else ``bins + 1`` edges evenly
    spaced over the range of the finite values of ``real``."""
    if not np.isscalar(bins):
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("bins must be an int or increasing edges (at least 2)")
        return edges
    if int(bins) < 1:
        raise ValueError(f"need at least one bin, got {bins}")
    values = np.asarray(real, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("the real sample has no finite value to take the bin range from")
    low, high = float(values.min()), float(values.max())
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, int(bins) + 1)


def _bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value as ``np.histogram`` assigns it (last bin closed), −1 outside."""
    n = edges.size - 1
    index = np.searchsorted(edges, values, side="right") - 1
    index[values == edges[-1]] = n - 1
    index[(index < 0) | (index >= n)] = -1
    return index


def _counts(index: np.ndarray, n_bins: int) -> np.ndarray:
    return np.bincount(index[index >= 0], minlength=n_bins).astype(np.float64)


def separation_power(
    real: ArrayLike,
    generated: ArrayLike,
    bins: int | ArrayLike = 50,
    n_bootstrap: int = 20,
    seed: Seed = 0,
) -> tuple[float, float]:
    """Separation power of the 1-D distributions of ``real`` and ``generated``, ± bootstrap std.

    ``bins``: an int (edges over the range of ``real``, as the challenge takes them from the
    reference) or the edges. Counts over those edges, normalised to unit sum, go into
    :func:`separation_from_histograms` (identical to the challenge's density × bin width).
    Non-finite values are dropped. Error: standard deviation over ``n_bootstrap`` resamples of
    both samples (:func:`~genhep.metrics.bootstrap.bootstrap`; NaN when ``n_bootstrap < 2``).
    """
    x = np.asarray(real, dtype=np.float64).ravel()
    y = np.asarray(generated, dtype=np.float64).ravel()
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if x.size == 0 or y.size == 0:
        raise ValueError(f"need finite values in both samples, got {x.size} and {y.size}")
    edges = separation_bins(x, bins)
    n_bins = edges.size - 1
    ix, iy = _bin_index(x, edges), _bin_index(y, edges)

    def statistic(bins_real: np.ndarray, bins_generated: np.ndarray) -> float:
        return separation_from_histograms(
            _counts(bins_real, n_bins), _counts(bins_generated, n_bins)
        )

    return bootstrap(statistic, ix, iy, n_bootstrap=n_bootstrap, seed=seed)
