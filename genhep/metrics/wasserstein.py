"""Wasserstein-1 distance between one-dimensional samples: genhep's one W1.

Every W1 in genhep (the evaluators, MPGAN's batched W1M / W1P / W1EFP) goes through
:func:`wasserstein_1d`, which is ``scipy.stats.wasserstein_distance`` (what jetnet and the
CaloChallenge use) with genhep's input checks.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import wasserstein_distance

from genhep.metrics.bootstrap import Seed, bootstrap


def wasserstein_1d(u: ArrayLike, v: ArrayLike) -> float:
    """W1 between the empirical distributions of ``u`` and ``v`` (1-D, any sizes).

    W1 = ∫ |F_u(t) − F_v(t)| dt, by ``scipy.stats.wasserstein_distance``.
    """
    u = np.asarray(u, dtype=np.float64).ravel()
    v = np.asarray(v, dtype=np.float64).ravel()
    if u.size == 0 or v.size == 0:
        raise ValueError(f"wasserstein_1d needs non-empty samples, got sizes {u.size} and {v.size}")
    return float(wasserstein_distance(u, v))


def wasserstein_1d_with_error(
    u: ArrayLike, v: ArrayLike, n_bootstrap: int = 20, seed: Seed = 0
) -> tuple[float, float]:
    """W1 of the full samples and its bootstrap standard deviation.

    Both samples are resampled with replacement ``n_bootstrap`` times
    (:func:`~genhep.metrics.bootstrap.bootstrap`, ``u`` then ``v``); the error is the
    standard deviation (ddof = 1) of W1 over the resamples, NaN when ``n_bootstrap < 2``.
    """
    u = np.asarray(u, dtype=np.float64).ravel()
    v = np.asarray(v, dtype=np.float64).ravel()
    return bootstrap(wasserstein_1d, u, v, n_bootstrap=n_bootstrap, seed=seed)
