"""Wasserstein-1 distance between one-dimensional samples."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def wasserstein_1d(u: ArrayLike, v: ArrayLike) -> float:
    """W1 between the empirical distributions of ``u`` and ``v`` (1-D, any sizes).

    W1 = ∫ |F_u(t) − F_v(t)| dt, evaluated exactly on the merged sorted support.
    """
    u = np.sort(np.asarray(u, dtype=np.float64).ravel())
    v = np.sort(np.asarray(v, dtype=np.float64).ravel())
    if u.size == 0 or v.size == 0:
        raise ValueError(f"wasserstein_1d needs non-empty samples, got sizes {u.size} and {v.size}")
    if u.size == v.size:
        return float(np.mean(np.abs(u - v)))
    support = np.concatenate([u, v])
    support.sort(kind="mergesort")
    widths = np.diff(support)
    cdf_u = np.searchsorted(u, support[:-1], side="right") / u.size
    cdf_v = np.searchsorted(v, support[:-1], side="right") / v.size
    return float(np.sum(np.abs(cdf_u - cdf_v) * widths))


def wasserstein_1d_with_error(
    u: ArrayLike, v: ArrayLike, n_bootstrap: int = 20, seed: int = 0
) -> tuple[float, float]:
    """W1 of the full samples and its bootstrap standard deviation.

    Both samples are resampled with replacement ``n_bootstrap`` times; the error is the
    standard deviation of W1 over the resamples.
    """
    u = np.asarray(u, dtype=np.float64).ravel()
    v = np.asarray(v, dtype=np.float64).ravel()
    value = wasserstein_1d(u, v)
    if n_bootstrap < 2:
        return value, float("nan")
    rng = np.random.default_rng(seed)
    resampled = [
        wasserstein_1d(rng.choice(u, u.size), rng.choice(v, v.size)) for _ in range(n_bootstrap)
    ]
    return value, float(np.std(resampled, ddof=1))
