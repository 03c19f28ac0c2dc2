"""Jet observables from particle clouds in JetNet's relative coordinates (pure numpy).

A cloud is ``(N, n, F)`` with the first three features ``[eta_rel, phi_rel, pt_rel]``
(JetNet's order), ``pt_rel = pT / pT_jet``; ``mask`` ``(N, n)`` marks real particles
(padded particles are ignored: their features are treated as zero).

Particles are massless, as in ``jetnet.utils.jet_features`` (jetnet 0.2.5), which sums
``PtEtaPhiMLorentzVector(pt=pt_rel, eta=eta_rel, phi=phi_rel, mass=0)`` over the particles:
the jet 4-vector is built in the jet frame (jet η = φ = 0), so ``jet_mass`` and ``jet_pt``
are in units of the jet pT. Mass is invariant under the longitudinal boost and the rotation
that take the relative coordinates back to the lab and scales with pT, so passing
``jet_pt`` (GeV) gives the jet mass in GeV exactly (for massless constituents).
Negative m² (round-off) gives mass 0, as jetnet's ``nan_to_num`` does.

EFPs (:func:`efps`) are genhep's own (:mod:`genhep.metrics.efp`, torch, d <= 4), equal to
energyflow's ``EFPSet`` values (checked against energyflow in ``make test-jetnet``).
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike

from genhep.metrics import efp
from genhep.metrics.bootstrap import Seed, bootstrap_replicates
from genhep.metrics.wasserstein import wasserstein_1d

# jetnet.utils.efps / jetnet.evaluation.w1efp default: the 5 prime EFPs with n = 4, d = 4.
W1EFP_EFPSET_ARGS: tuple[tuple[str, int], ...] = (("n==", 4), ("d==", 4), ("p==", 1))
# jetnet.evaluation.get_fpd_kpd_jet_features: all 36 EFPs with d <= 4 (arXiv:2211.10295).
FPD_EFPSET_ARGS: tuple[tuple[str, int], ...] = (("d<=", 4),)


def _clouds(clouds: ArrayLike, mask: ArrayLike | None) -> np.ndarray:
    """``[eta_rel, phi_rel, pt_rel]`` as float64 ``(N, n, 3)`` with padded particles zeroed."""
    x = np.asarray(clouds, dtype=np.float64)
    if x.ndim != 3 or x.shape[-1] < 3:
        raise ValueError(
            f"clouds must have shape (N, n, >= 3) with features [eta_rel, phi_rel, pt_rel], "
            f"got {x.shape}"
        )
    x = x[..., :3].copy()
    if mask is not None:
        m = np.asarray(mask).reshape(x.shape[:2]).astype(bool)
        x[~m] = 0.0
    return x


def particle_four_vectors(clouds: ArrayLike, mask: ArrayLike | None = None) -> np.ndarray:
    """Massless particle 4-vectors ``(N, n, 4)`` = ``[E, px, py, pz]`` in units of the jet pT."""
    x = _clouds(clouds, mask)
    eta, phi, pt = x[..., 0], x[..., 1], x[..., 2]
    return np.stack(
        [pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=-1
    )


def jet_four_vector(clouds: ArrayLike, mask: ArrayLike | None = None) -> np.ndarray:
    """Sum of the particle 4-vectors, ``(N, 4)`` = ``[E, px, py, pz]`` in units of the jet pT."""
    return particle_four_vectors(clouds, mask).sum(axis=1)


def _scale(values: np.ndarray, jet_pt: ArrayLike | None) -> np.ndarray:
    if jet_pt is None:
        return values
    return values * np.asarray(jet_pt, dtype=np.float64).reshape(values.shape)


def jet_mass(
    clouds: ArrayLike, mask: ArrayLike | None = None, jet_pt: ArrayLike | None = None
) -> np.ndarray:
    """Jet invariant mass ``(N,)``: relative (jetnet's W1M convention), or GeV given ``jet_pt``."""
    p = jet_four_vector(clouds, mask)
    m2 = p[:, 0] ** 2 - (p[:, 1:] ** 2).sum(axis=1)
    return _scale(np.sqrt(np.clip(m2, 0.0, None)), jet_pt)


def jet_pt(
    clouds: ArrayLike, mask: ArrayLike | None = None, jet_pt: ArrayLike | None = None
) -> np.ndarray:
    """pT of the summed particles ``(N,)``: relative (≈ 1 below), or GeV given ``jet_pt``."""
    p = jet_four_vector(clouds, mask)
    return _scale(np.hypot(p[:, 1], p[:, 2]), jet_pt)


def jet_eta(clouds: ArrayLike, mask: ArrayLike | None = None) -> np.ndarray:
    """Pseudorapidity of the summed particles relative to the jet axis ``(N,)`` (0 where pT = 0)."""
    p = jet_four_vector(clouds, mask)
    pt = np.hypot(p[:, 1], p[:, 2])
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(np.where(pt > 0, p[:, 3] / np.where(pt > 0, pt, 1.0), 0.0))
    return np.nan_to_num(eta)


def particle_features(
    clouds: ArrayLike, mask: ArrayLike | None = None, exclude_zeros: bool = True
) -> np.ndarray:
    """Real particles' ``[eta_rel, phi_rel, pt_rel]``, flattened over jets: ``(M, 3)``.

    As ``jetnet.evaluation.w1p`` (``exclude_zeros=True``): particles that are masked out or
    whose three features are exactly zero are dropped.
    """
    x = np.asarray(clouds, dtype=np.float64)[..., :3]
    keep = np.ones(x.shape[:2], dtype=bool)
    if mask is not None:
        keep &= np.asarray(mask).reshape(x.shape[:2]).astype(bool)
    if exclude_zeros:
        keep &= np.linalg.norm(x, axis=2) != 0
    return x[keep]


def particle_moments(clouds: ArrayLike, mask: ArrayLike | None = None) -> np.ndarray:
    """Per-jet mean and standard deviation of each particle feature over real particles,
    ``(N, 6)`` = ``[mean eta_rel, mean phi_rel, mean pt_rel, std eta_rel, std phi_rel,
    std pt_rel]`` (zeros for a jet with no particle)."""
    x = np.asarray(clouds, dtype=np.float64)[..., :3]
    m = (
        np.ones(x.shape[:2], dtype=bool)
        if mask is None
        else np.asarray(mask).reshape(x.shape[:2]).astype(bool)
    )
    w = m[..., None].astype(np.float64)
    count = np.maximum(w.sum(axis=1), 1.0)
    mean = (x * w).sum(axis=1) / count
    var = (((x - mean[:, None, :]) ** 2) * w).sum(axis=1) / count
    return np.concatenate([mean, np.sqrt(var)], axis=1)


def efp_columns(efpset_args: tuple | list, subset_args: tuple | list) -> np.ndarray:
    """Column indices, in :func:`efps`'s output for ``efpset_args``, of the EFPs that
    ``subset_args`` selects, in the order ``efps(..., subset_args)`` returns them (e.g. the
    W1-EFP set inside the 36 FPD EFPs, so that one computation serves both)."""
    full = np.flatnonzero(efp.select(*efpset_args))
    subset = efp.select(*efpset_args, *subset_args)
    return np.flatnonzero(subset[full])


def efps(
    clouds: ArrayLike,
    mask: ArrayLike | None = None,
    efpset_args: tuple | list = W1EFP_EFPSET_ARGS,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Energy flow polynomials ``(N, n_efps)`` of each jet, as ``jetnet.utils.efps``.

    The values of ``EFPSet(*efpset_args, measure="hadr", beta=1, normed=None,
    coords="ptyphim")`` (hadronic measure, β = 1, κ = 1, z = pT_rel unnormalised) on
    ``[pt_rel, eta_rel, phi_rel]``, in energyflow's column order, computed by
    :mod:`genhep.metrics.efp` in float64 torch (no ``energyflow``; selections must bound
    d <= 4). Padded particles contribute nothing. Defaults: the W1-EFP set (n = 4, d = 4,
    prime); :data:`FPD_EFPSET_ARGS` gives the 36 EFPs with d <= 4 used for FPD/KPD.
    ``device``: where to compute (default: the input tensor's device, else the CPU).
    """
    columns = np.flatnonzero(efp.select(*efpset_args))
    if device is None:
        device = clouds.device if isinstance(clouds, torch.Tensor) else "cpu"
    if isinstance(clouds, torch.Tensor):
        clouds = clouds.detach().cpu().numpy()
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    x = torch.from_numpy(_clouds(clouds, mask)).to(device)
    m = None if mask is None else torch.from_numpy(np.asarray(mask).astype(bool)).to(device)
    values = efp.efp_values(x[..., 2], x[..., 0], x[..., 1], m, columns=columns)
    return values.cpu().numpy().astype(np.float64)


def w1_batched(
    u: ArrayLike,
    v: ArrayLike,
    batch_size: int = 10_000,
    num_batches: int = 5,
    seed: Seed = 42,
) -> tuple[np.ndarray, np.ndarray]:
    """MPGAN/jetnet batch protocol for W1 (``jetnet.evaluation.w1m`` / ``w1efp``).

    ``num_batches`` times: draw ``batch_size`` rows of ``u`` and then of ``v`` *with
    replacement* (:func:`~genhep.metrics.bootstrap.bootstrap_replicates` with ``size``, the
    draws of ``rng.choice``), and compute W1 (:func:`~genhep.metrics.wasserstein.wasserstein_1d`,
    ``scipy.stats.wasserstein_distance``) per column. Returns (mean, std) over batches per
    column (``np.std``, ddof = 0, as jetnet); 1-D inputs give 0-d arrays. jetnet draws from
    an unseeded module-level generator; here the generator is seeded (``seed``) so a result
    is reproducible.
    """
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    scalar = u.ndim == 1
    u2, v2 = u.reshape(len(u), -1), v.reshape(len(v), -1)
    if u2.shape[1] != v2.shape[1]:
        raise ValueError(f"u and v have different numbers of columns: {u.shape} vs {v.shape}")
    if len(u2) == 0 or len(v2) == 0:
        raise ValueError(f"w1_batched needs non-empty samples, got {len(u2)} and {len(v2)}")

    def per_column(a: np.ndarray, b: np.ndarray) -> list[float]:
        return [wasserstein_1d(a[:, i], b[:, i]) for i in range(a.shape[1])]

    w1s = bootstrap_replicates(
        per_column, u2, v2, n_resamples=num_batches, seed=seed, size=batch_size
    )
    mean, std = w1s.mean(axis=0), w1s.std(axis=0)
    return (mean[0], std[0]) if scalar else (mean, std)


def w1p_batched(
    clouds1: ArrayLike,
    clouds2: ArrayLike,
    mask1: ArrayLike | None = None,
    mask2: ArrayLike | None = None,
    batch_size: int = 10_000,
    num_batches: int = 5,
    seed: Seed = 42,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature W1 of particle features, as ``jetnet.evaluation.w1p`` (exclude_zeros=True):
    each batch draws ``batch_size`` *jets* of each sample with replacement and compares the
    real particles of those jets. Returns (mean, std) over batches, one entry per feature."""
    x1 = np.asarray(clouds1, dtype=np.float64)[..., :3]
    x2 = np.asarray(clouds2, dtype=np.float64)[..., :3]
    keep1 = np.linalg.norm(x1, axis=2) != 0
    keep2 = np.linalg.norm(x2, axis=2) != 0
    if mask1 is not None:
        keep1 &= np.asarray(mask1).reshape(x1.shape[:2]).astype(bool)
    if mask2 is not None:
        keep2 &= np.asarray(mask2).reshape(x2.shape[:2]).astype(bool)

    def per_feature(jets1: np.ndarray, jets2: np.ndarray) -> list[float]:
        p1, p2 = x1[jets1][keep1[jets1]], x2[jets2][keep2[jets2]]
        if len(p1) == 0 or len(p2) == 0:
            return [np.inf] * 3
        return [wasserstein_1d(p1[:, i], p2[:, i]) for i in range(3)]

    # resample jet indices: the particles of a jet and their keep flags travel together
    w1s = bootstrap_replicates(
        per_feature,
        np.arange(len(x1)),
        np.arange(len(x2)),
        n_resamples=num_batches,
        seed=seed,
        size=batch_size,
    )
    return w1s.mean(axis=0), w1s.std(axis=0)
