"""Is a VAE's latent space Gaussian? Per-dimension normality tests of the aggregate posterior.

Pure functions on ``z`` ``(N, L)``: latent vectors of N events (one posterior draw per event
of a test set: draws of the *aggregate* posterior ``q(z) = E_x q(z|x)``, which a well-trained
VAE makes equal to its prior ``N(0, I)``). For every latent dimension (scipy.stats):

* ``ks_stat``, ``ks_p``: Kolmogorov–Smirnov test against the prior ``N(0, 1)`` (location and
  scale fixed: a shifted or squeezed marginal fails too);
* ``ad_stat``: Anderson–Darling statistic for normality with the mean and variance estimated
  (the shape alone), ``ad_p``: its p-value interpolated in scipy's tables (clipped to
  [0.01, 0.15]), ``ad_normal = ad_p >= alpha``;
* ``shapiro_p``: Shapiro–Wilk p-value (shape alone) on at most :data:`SHAPIRO_MAX` values (a
  fixed random subset: scipy's p-value is unreliable above 5000);
* ``mean``, ``std``, ``skew``, ``excess_kurtosis``.

A dimension counts as Gaussian when both the prior KS test (``ks_p >= alpha``) and the
Anderson–Darling shape test accept it. A dimension the decoder does not use is trivially
Gaussian: its posterior collapsed onto the prior, ``q(z_d | x) = N(0, 1)`` for every event.
Given the per-dimension ``activity`` ``Var_x(E_q[z_d | x])`` (:func:`posterior_activity`, from
K posterior draws per event: no closed-form mean is needed, so it serves the IAF posterior
too), each row also gets ``activity`` and ``active = activity > active_threshold`` (0.01, the
active-unit criterion of Burda, Grosse & Salakhutdinov, arXiv:1509.00519).
:func:`latent_gaussianity` summarises: the fraction of Gaussian dimensions, of Gaussian
*active* dimensions and the number of active ones, the largest KS statistic (a
sample-size-free effect size: the largest CDF difference from ``N(0, 1)``) and the smallest KS
p-value; the same numbers for as many genuine ``N(0, 1)`` draws (seeded; every dimension
counted active) are the baseline, ``real_vs_real`` in ``results.json``.
With many events every test rejects small departures: read ``ks_stat`` beside the p-values.
:func:`qq_points` gives Q-Q figure data (theoretical normal quantiles against the sample's).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = [
    "ACTIVE_THRESHOLD",
    "SHAPIRO_MAX",
    "dimension_tests",
    "is_gaussian",
    "latent_gaussianity",
    "normality_table",
    "posterior_activity",
    "qq_points",
]

#: Shapiro–Wilk is run on at most this many values per dimension.
SHAPIRO_MAX = 5000
_AD_LEVELS = np.array([15.0, 10.0, 5.0, 2.5, 1.0])
#: Burda et al.'s active-unit threshold on ``Var_x(E_q[z_d | x])``.
ACTIVE_THRESHOLD = 0.01


def _anderson(v: np.ndarray) -> tuple[float, float]:
    """Anderson–Darling normality statistic and p-value (tables interpolated, [0.01, 0.15])."""
    try:
        result = stats.anderson(v, dist="norm", method="interpolate")
        return float(result.statistic), float(result.pvalue)
    except TypeError:  # scipy < 1.17: critical values at 15 / 10 / 5 / 2.5 / 1 %
        result = stats.anderson(v, dist="norm")
        levels = _AD_LEVELS / 100.0
        passed = levels[result.statistic < result.critical_values]
        return float(result.statistic), float(passed.max()) if passed.size else 0.01


def _as_latents(z: ArrayLike) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 1:
        z = z[:, None]
    if z.ndim != 2 or len(z) < 8:
        raise ValueError(f"latents must be (N, L) with N >= 8, got shape {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("latents hold NaN or inf")
    return z


def dimension_tests(values: ArrayLike, alpha: float = 0.05, seed: int = 0) -> dict[str, Any]:
    """The tests of the module docstring for one latent dimension ``values`` ``(N,)``."""
    v = np.asarray(values, dtype=np.float64).ravel()
    ks = stats.kstest(v, "norm")
    ad_stat, ad_p = _anderson(v)
    rng = np.random.default_rng(seed)
    subset = v if len(v) <= SHAPIRO_MAX else rng.choice(v, SHAPIRO_MAX, replace=False)
    constant = float(np.std(v)) == 0.0
    return {
        "mean": float(np.mean(v)),
        "std": float(np.std(v)),
        "skew": 0.0 if constant else float(stats.skew(v)),
        "excess_kurtosis": 0.0 if constant else float(stats.kurtosis(v)),
        "ks_stat": float(ks.statistic),
        "ks_p": float(ks.pvalue),
        "ad_stat": ad_stat,
        "ad_p": ad_p,
        "ad_normal": bool(ad_p >= alpha) and not constant,
        "shapiro_p": 0.0 if constant else float(stats.shapiro(subset).pvalue),
    }


def is_gaussian(row: dict[str, Any], alpha: float = 0.05) -> bool:
    """Whether one dimension's tests accept ``N(0, 1)``: KS against the prior and the
    Anderson–Darling shape test both at level ``alpha``."""
    return bool(row["ks_p"] >= alpha and row["ad_normal"])


def normality_table(z: ArrayLike, alpha: float = 0.05, seed: int = 0) -> list[dict[str, Any]]:
    """One row of :func:`dimension_tests` per latent dimension (with ``dim`` and
    ``gaussian``) for latents ``z`` ``(N, L)``."""
    z = _as_latents(z)
    rows = []
    for d in range(z.shape[1]):
        row = {"dim": d, **dimension_tests(z[:, d], alpha, seed + d)}
        row["gaussian"] = is_gaussian(row, alpha)
        rows.append(row)
    return rows


def _summary(rows: list[dict[str, Any]]) -> dict[str, float]:
    active = [r for r in rows if r.get("active", True)]
    return {
        "gaussian_fraction": float(np.mean([r["gaussian"] for r in rows])),
        "active_dims": float(len(active)),
        "gaussian_fraction_active": (
            float(np.mean([r["gaussian"] for r in active])) if active else float("nan")
        ),
        "ks_max": float(max(r["ks_stat"] for r in rows)),
        "ks_p_min": float(min(r["ks_p"] for r in rows)),
    }


def posterior_activity(draws: ArrayLike) -> np.ndarray:
    """``Var_x(E_q[z_d | x])`` per dimension ``(L,)`` from ``draws`` ``(K, N, L)``: K >= 2
    posterior draws for each of N events. The variance over events of the K-draw means, less
    its Monte Carlo part (the mean within-event variance / K): unbiased, so a collapsed
    dimension (every posterior N(0, 1)) scores ≈ 0, not 1/K."""
    draws = np.asarray(draws, dtype=np.float64)
    if draws.ndim != 3 or draws.shape[0] < 2 or draws.shape[1] < 2:
        raise ValueError(f"draws must be (K, N, L) with K, N >= 2, got shape {draws.shape}")
    k = draws.shape[0]
    means = draws.mean(axis=0)
    within = draws.var(axis=0, ddof=1).mean(axis=0)
    return means.var(axis=0, ddof=1) - within / k


def latent_gaussianity(
    z: ArrayLike,
    alpha: float = 0.05,
    seed: int = 0,
    activity: ArrayLike | None = None,
    active_threshold: float = ACTIVE_THRESHOLD,
) -> dict[str, Any]:
    """The per-dimension table, its summary and the summary of ``N(0, I)`` draws of the same
    shape (seeded with ``seed``): ``{"table", "summary", "baseline", "n_events", "alpha"}``.

    ``activity`` ``(L,)``: :func:`posterior_activity` of the same events (active
    dimensions); without it every dimension counts as active. ``summary`` / ``baseline``:
    ``gaussian_fraction`` (of the dimensions), ``active_dims``, ``gaussian_fraction_active``
    (NaN without active dimensions), ``ks_max``, ``ks_p_min``.
    """
    z = _as_latents(z)
    rows = normality_table(z, alpha, seed)
    if activity is not None:
        activity = np.asarray(activity, dtype=np.float64).ravel()
        if activity.shape != (z.shape[1],):
            raise ValueError(f"activity {activity.shape} must have one value per latent {z.shape}")
        for row, value in zip(rows, activity, strict=True):
            row["activity"] = float(value)
            row["active"] = bool(value > active_threshold)
    gauss = np.random.default_rng(seed).standard_normal(z.shape)
    return {
        "n_events": int(z.shape[0]),
        "alpha": float(alpha),
        "table": rows,
        "summary": _summary(rows),
        "baseline": _summary(normality_table(gauss, alpha, seed)),
    }


def qq_points(z: ArrayLike, n_quantiles: int = 99) -> tuple[np.ndarray, np.ndarray]:
    """Q-Q data: ``N(0, 1)`` quantiles ``(Q,)`` at probabilities ``1/(Q+1) … Q/(Q+1)`` and the
    sample's quantiles ``(Q, L)`` at the same probabilities (a Gaussian prior match lies on the
    diagonal)."""
    z = _as_latents(z)
    p = np.arange(1, n_quantiles + 1) / (n_quantiles + 1)
    return stats.norm.ppf(p), np.quantile(z, p, axis=0)
