"""Fréchet distance between Gaussian fits, and the Fréchet physics distance (FPD).

FPD follows Kansal et al., arXiv:2211.10295, as the ``jetnet`` package computes it
(``jetnet.evaluation.fpd``, jetnet 0.2.5): the features of both samples are divided by the
per-feature maximum of ``|real|``; for ``num_points`` batch sizes spaced *evenly in 1/N* between
``min_samples`` and ``max_samples``, ``num_batches`` pairs of batches are drawn with replacement,
and the Fréchet distance of their Gaussian fits is averaged; a straight line in 1/N, with
intercept and slope both constrained to be >= 0, is fitted through those averages. FPD is the
intercept (the infinite-sample limit) and its error is the fit's standard error on the intercept.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import curve_fit


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix.

    Eigenvalues below zero (round-off on a near-singular matrix) are clipped to zero, so the
    result is always real.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(matrix)
    root = np.sqrt(np.clip(eigenvalues, 0.0, None))
    return (eigenvectors * root) @ eigenvectors.T


def _as_mean_cov(mu: ArrayLike, cov: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    mu = np.atleast_1d(np.asarray(mu, dtype=np.float64))
    cov = np.atleast_2d(np.asarray(cov, dtype=np.float64))
    if mu.ndim != 1 or cov.shape != (mu.size, mu.size):
        raise ValueError(
            f"expected a mean of shape (d,) and a covariance of shape (d, d), "
            f"got {mu.shape} and {cov.shape}"
        )
    if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(cov))):
        raise ValueError("mean and covariance must be finite")
    return mu, 0.5 * (cov + cov.T)


def frechet_distance(mu1: ArrayLike, cov1: ArrayLike, mu2: ArrayLike, cov2: ArrayLike) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, cov1) and N(mu2, cov2).

    d² = ‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2}).

    ``mu*`` have shape ``(d,)`` and ``cov*`` shape ``(d, d)`` (scalars for d = 1). The trace
    term uses the symmetric form, which equals tr((Σ1 Σ2)^{1/2}) of the usual formula (the two
    matrices are similar) but needs only symmetric eigen-decompositions: it is real and finite
    for singular or near-singular covariances, with no diagonal offset and no complex parts.
    """
    mu1, cov1 = _as_mean_cov(mu1, cov1)
    mu2, cov2 = _as_mean_cov(mu2, cov2)
    if mu1.shape != mu2.shape:
        raise ValueError(f"means have different dimensions: {mu1.shape} and {mu2.shape}")
    diff = mu1 - mu2
    root1 = _sqrt_psd(cov1)
    middle = root1 @ cov2 @ root1
    middle = 0.5 * (middle + middle.T)
    tr_covmean = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(middle), 0.0, None)))
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_covmean)


def _mean_cov(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # np.cov with rowvar=False and ddof=1, as jetnet uses.
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def _as_samples(x: ArrayLike, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{name} must have shape (n_samples >= 2, n_features), got {x.shape}")
    return x


def frechet_distance_samples(x: ArrayLike, y: ArrayLike) -> float:
    """Fréchet distance between Gaussian fits to samples ``x`` ``(n, d)`` and ``y`` ``(m, d)``.

    Means and unbiased (ddof = 1) covariances are fitted; no normalisation, no extrapolation.
    """
    x, y = _as_samples(x, "x"), _as_samples(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y have different numbers of features: {x.shape} vs {y.shape}")
    return frechet_distance(*_mean_cov(x), *_mean_cov(y))


def normalise_by_real_max(real: np.ndarray, generated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Divide both samples by the per-feature maximum of ``|real|`` (features that are all zero
    are left as they are), as jetnet does before FPD and KPD."""
    maxes = np.max(np.abs(real), axis=0)
    maxes = np.where(maxes == 0, 1.0, maxes)
    return real / maxes, generated / maxes


def _linear(x: np.ndarray, intercept: float, slope: float) -> np.ndarray:
    return intercept + slope * x


def fpd_batch_sizes(min_samples: int, max_samples: int, num_points: int) -> np.ndarray:
    """The batch sizes FPD is measured at: evenly spaced in 1/N, truncated to int32 as jetnet
    does (so ``max_samples`` = 50,000 becomes 49,999: 1 / (1 / 50,000) rounds just below)."""
    return (1.0 / np.linspace(1.0 / min_samples, 1.0 / max_samples, num_points)).astype(np.int32)


def fpd(
    real: ArrayLike,
    generated: ArrayLike,
    min_samples: int = 20_000,
    max_samples: int = 50_000,
    num_batches: int = 20,
    num_points: int = 10,
    normalise: bool = True,
    seed: int = 42,
) -> tuple[float, float]:
    """Fréchet physics distance between ``real`` ``(n, d)`` and ``generated`` ``(m, d)`` features.

    Algorithm (jetnet 0.2.5 ``fpd``, same defaults, same random stream for a given seed):

    1. if ``normalise``: divide both samples by the per-feature max of ``|real|``;
    2. batch sizes N_k = int(1 / linspace(1/min_samples, 1/max_samples, num_points));
    3. for each N_k, ``num_batches`` times: draw N_k rows of each sample *with replacement*
       (``default_rng(seed).choice``, real then generated), fit mean and covariance, compute
       :func:`frechet_distance`; average over the batches;
    4. fit FD(N) = a + b / N by least squares with a, b >= 0 (``scipy.optimize.curve_fit``);
       return (a, sqrt(cov_aa)).

    Batches are drawn with replacement from the two given samples, so the extrapolation goes to
    the Fréchet distance between Gaussian fits of those *finite* samples, and the error covers
    the batch-to-batch scatter only, not the fluctuation of the samples themselves. Two samples
    of n rows of one distribution therefore give FPD > 0: ≈ (2d + d(d+1)/2) / n for d
    unit-variance independent Gaussian features (it scales with the covariance in general; the
    real-vs-real baseline measures this floor), which can be many times the returned error. Kansal et al. recommend at least 50k
    rows per sample; ``max_samples`` larger than a sample re-uses rows. Because a >= 0 is
    imposed, FPD is never negative.
    """
    x, y = _as_samples(real, "real"), _as_samples(generated, "generated")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"real and generated have different features: {x.shape} vs {y.shape}")
    if not 2 <= min_samples <= max_samples:
        raise ValueError(f"need 2 <= min_samples <= max_samples, got {min_samples}, {max_samples}")
    if num_points < 2 or num_batches < 1:
        raise ValueError(
            f"need num_points >= 2 and num_batches >= 1, got {num_points}, {num_batches}"
        )
    if len(x) < max_samples or len(y) < max_samples:
        warnings.warn(
            f"FPD batches of up to {max_samples} rows are drawn with replacement from samples of "
            f"{len(x)} and {len(y)} rows; Kansal et al. recommend >= 50,000 per sample",
            RuntimeWarning,
            stacklevel=2,
        )
    if normalise:
        x, y = normalise_by_real_max(x, y)

    batch_sizes = fpd_batch_sizes(min_samples, max_samples, num_points)
    rng = np.random.default_rng(seed)
    means = []
    for size in batch_sizes:
        values = []
        for _ in range(num_batches):
            idx_x = rng.choice(len(x), size=size)
            idx_y = rng.choice(len(y), size=size)
            values.append(frechet_distance(*_mean_cov(x[idx_x]), *_mean_cov(y[idx_y])))
        means.append(np.mean(values))

    params, covariance = curve_fit(
        _linear, 1.0 / batch_sizes, np.asarray(means), bounds=([0, 0], [np.inf, np.inf])
    )
    return float(params[0]), float(np.sqrt(covariance[0, 0]))
