"""Energy mover's distance between jets, and MPGAN's coverage and MMD built on it.

The EMD is energyflow's (``energyflow.emd.emd`` / ``emds`` with their defaults, which
``jetnet.evaluation.cov_mmd`` uses): particles weighted by pT, Euclidean ground distance in
(η, φ) without φ wrapping, divided by ``R`` and raised to ``beta``, weights not normalised,

    EMD = min_f Σ_ij f_ij (θ_ij / R)^β + |Σ_i pT_i − Σ_j pT'_j|,

with f_ij >= 0, Σ_j f_ij <= pT_i, Σ_i f_ij <= pT'_j and Σ_ij f_ij = min(Σ pT, Σ pT').
It is solved exactly (POT's network simplex, the ``emd_c`` that ``ot.emd2`` wraps) by giving the lighter jet one extra
particle that carries the pT difference at distance 1 (in units of R^β) from every particle.
``norm=True`` normalises both jets' weights to 1 instead (no pT-difference term).

Jets are ``(n, 3)`` arrays of ``[etarel, phirel, ptrel]`` (JetNet's order) with a boolean mask
of real particles; masked particles are ignored. Needs POT (``pip install 'genhep[hep]'``).
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike

from genhep.metrics.bootstrap import Seed, _generator

NO_POT = "POT is not installed (pip install 'genhep[hep]')"
N_ITER_MAX = 100_000  # energyflow's n_iter_max


def _solver():
    """``solve(a, b, cost) -> cost of the optimal plan``: POT's network simplex, called
    through ``emd_c`` as energyflow's ``emd_pot`` does (``ot.emd2`` costs ~5x more per call
    on jet-sized problems), else through ``ot.emd2``."""
    try:
        import ot
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(f"the energy mover's distance needs {NO_POT}") from err
    try:
        from ot.lp.emd_wrap import emd_c
    except ImportError:  # pragma: no cover - a POT without the private entry point
        return lambda a, b, cost: float(ot.emd2(a, b, cost, numItermax=N_ITER_MAX))

    def solve(a: np.ndarray, b: np.ndarray, cost: np.ndarray) -> float:
        _, value, _, _, code = emd_c(a, b, np.ascontiguousarray(cost), N_ITER_MAX, 1)
        if code != 1:  # network simplex codes: 0 infeasible, 1 optimal, 2 unbounded, 3 max iter
            message = f"EMD: network simplex ended with code {code} (1 is optimal)"
            if code != 3:
                raise RuntimeError(message)
            warnings.warn(
                f"{message}: {N_ITER_MAX} iterations reached", RuntimeWarning, stacklevel=4
            )
        return float(value)

    return solve


def _particles(jet: ArrayLike, mask: ArrayLike | None) -> tuple[np.ndarray, np.ndarray]:
    """(η, φ) coordinates ``(m, 2)`` and pT weights ``(m,)`` of the real particles."""
    jet = np.asarray(jet, dtype=np.float64)
    if jet.ndim != 2 or jet.shape[1] < 3:
        raise ValueError(f"a jet is an (n, 3) array of [etarel, phirel, ptrel], got {jet.shape}")
    keep = np.ones(len(jet), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if keep.shape != (len(jet),):
        raise ValueError(f"mask of shape {keep.shape} for a jet of {len(jet)} particles")
    coords, pts = jet[keep, :2], jet[keep, 2]
    if np.any(pts < 0):
        raise ValueError("particle pTs must be >= 0 for the EMD")
    return coords, pts


def _emd(solve, wa: np.ndarray, wb: np.ndarray, dist: np.ndarray, R, beta, norm) -> float:
    """EMD of weights ``wa``, ``wb`` with ground distances ``dist`` ``(len(wa), len(wb))``."""
    if norm:
        wa, wb = wa / wa.sum(), wb / wb.sum()
    cost = dist / R
    if beta != 1:
        cost = cost**beta
    diff = wa.sum() - wb.sum()
    if not norm and diff != 0:  # the lighter jet gets a particle at distance 1 from all
        if diff > 0:
            wb = np.append(wb, diff)
            cost = np.concatenate([cost, np.ones((len(wa), 1))], axis=1)
        else:
            wa = np.append(wa, -diff)
            cost = np.concatenate([cost, np.ones((1, len(wb)))], axis=0)
    if len(wa) == 0 or len(wb) == 0:
        return 0.0
    return solve(wa, wb, cost)


def _distances(xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
    """Euclidean (η, φ) distances between the particles of ``xa`` ``(..., 2)`` and ``xb``."""
    return np.sqrt(((xa[:, None, :] - xb[None, :, :]) ** 2).sum(-1))


def jet_emd(
    jet_a: ArrayLike,
    jet_b: ArrayLike,
    mask_a: ArrayLike | None = None,
    mask_b: ArrayLike | None = None,
    R: float = 1.0,
    beta: float = 1.0,
    norm: bool = False,
) -> float:
    """energyflow's EMD between two jets ``(n, 3)`` ``[etarel, phirel, ptrel]`` (module
    docstring); ``mask_*`` select the real particles (all when ``None``)."""
    (xa, wa), (xb, wb) = _particles(jet_a, mask_a), _particles(jet_b, mask_b)
    return _emd(_solver(), wa, wb, _distances(xa, xb), R, beta, norm)


def emd_matrix(
    jets_a: ArrayLike,
    masks_a: ArrayLike | None,
    jets_b: ArrayLike,
    masks_b: ArrayLike | None,
    R: float = 1.0,
    beta: float = 1.0,
    norm: bool = False,
) -> np.ndarray:
    """Pairwise EMDs ``(len(jets_a), len(jets_b))`` between two sets of jets ``(N, n, 3)``
    (``energyflow.emd.emds(events_a, events_b)`` in JetNet's feature order)."""
    solve = _solver()
    jets_a, jets_b = np.asarray(jets_a), np.asarray(jets_b)
    if jets_a.ndim != 3 or jets_b.ndim != 3:
        raise ValueError(f"jets are (N, n, 3) arrays, got {jets_a.shape} and {jets_b.shape}")
    a = [_particles(j, None if masks_a is None else masks_a[i]) for i, j in enumerate(jets_a)]
    b = [_particles(j, None if masks_b is None else masks_b[i]) for i, j in enumerate(jets_b)]
    out = np.empty((len(a), len(b)))
    for i, (xa, wa) in enumerate(a):
        for j, (xb, wb) in enumerate(b):
            out[i, j] = _emd(solve, wa, wb, _distances(xa, xb), R, beta, norm)
    return out


def coverage_mmd(dists: np.ndarray) -> tuple[float, float]:
    """COV and MMD of one batch from its EMDs ``(n_generated, n_real)`` (jetnet's
    ``cov_mmd``): COV = fraction of the real jets that are the nearest real jet of some
    generated jet; MMD = mean over real jets of the EMD to their nearest generated jet
    (jetnet's ``np.min(dists, axis=0)``; its comment says "for each gen jet", its code takes
    the minimum over generated jets for each real jet)."""
    dists = np.asarray(dists, dtype=np.float64)
    cov = np.unique(np.argmin(dists, axis=1)).size / dists.shape[1]
    return float(cov), float(np.mean(np.min(dists, axis=0)))


def cov_mmd(
    real: ArrayLike,
    real_mask: ArrayLike | None,
    generated: ArrayLike,
    generated_mask: ArrayLike | None,
    n_eval: int = 100,
    n_batches: int = 10,
    seed: Seed = 42,
) -> tuple[float, float, float, float]:
    """MPGAN's coverage and MMD (Kansal et al. 2106.11535; ``jetnet.evaluation.cov_mmd``).

    ``n_batches`` times: ``n_eval`` real and then ``n_eval`` generated jets are drawn with
    replacement (``rng.choice(len, size=n_eval)``, jetnet's draws, so a generator seeded
    like jetnet's module ``rng`` reproduces its batches), their EMDs ``(generated, real)``
    computed (:func:`emd_matrix`) and COV and MMD taken (:func:`coverage_mmd`).

    Returns:
        ``(cov, cov_err, mmd, mmd_err)``: means over batches and stds over batches (ddof 0).
        COV is in [1/n_eval, 1] (higher is better), MMD >= 0 (lower is better).
    """
    real, generated = np.asarray(real), np.asarray(generated)
    rng = _generator(seed)
    covs, mmds = [], []
    for _ in range(n_batches):
        r = rng.choice(len(real), size=n_eval)
        g = rng.choice(len(generated), size=n_eval)
        dists = emd_matrix(
            generated[g],
            None if generated_mask is None else np.asarray(generated_mask)[g],
            real[r],
            None if real_mask is None else np.asarray(real_mask)[r],
        )
        c, m = coverage_mmd(dists)
        covs.append(c)
        mmds.append(m)
    return float(np.mean(covs)), float(np.std(covs)), float(np.mean(mmds)), float(np.std(mmds))
