"""Jet observables computed from jet images (pure numpy, vectorised over events).

Pixel grid: :mod:`genhep.geometry.jet_image` (25×25 over (η, φ) ∈ [−1.25, 1.25]², η along
columns increasing, φ along rows decreasing).

Every pixel is a massless particle at its pixel centre with ``pT`` = the pixel value (GeV):
``px = pT cos φ``, ``py = pT sin φ``, ``pz = pT sinh η``, ``E = pT cosh η``. Jet pT and mass
follow from the summed four-momentum (``m² = E² − |p|²``, negative rounding clipped to 0).
The pixelisation error w.r.t. the constituent-level ``jet_mass`` / ``jet_pt`` of a file is of
order the pitch: a particle moves by up to 0.05 in η and φ to its pixel centre.

N-subjettiness (β = 1, Thaler & Van Tilburg 1011.2268) from pixels,
``τ_N = Σ_k pT_k min_a ΔR(k, a) / (Σ_k pT_k R0)`` with ``R0 = 1`` and ``ΔR`` the Euclidean
distance in (η, φ) (no φ wrap-around is needed: |Δφ| ≤ 2.4 < π). Axes (a documented,
fastjet-free choice, not the exclusive-kT axes of the LAGAN files):

* τ1: the pT-weighted centroid of the pixels;
* τ2: two axes from :data:`KMEANS_ITERATIONS` Lloyd (2-means) iterations, pT-weighted, seeded by
  the hardest pixel and the hardest pixel at least :data:`SEED_SEPARATION` from it (the
  second-hardest pixel if none is that far).

Lloyd's axes minimise Σ pT ΔR² rather than Σ pT ΔR, so τ2 is an upper bound of the minimum
over axes, as the exclusive-kT τ2 is; τ21 = τ2 / τ1 is 0 where τ1 = 0 (one lit pixel).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from genhep.geometry.jet_image import pixel_centres

#: Radius parameter R0 of the N-subjettiness normalisation (the jets' anti-kt R = 1.0).
R0 = 1.0
#: Lloyd iterations of the τ2 axes.
KMEANS_ITERATIONS = 5
#: Minimum ΔR between the two τ2 seed pixels.
SEED_SEPARATION = 0.2


def _images(images: ArrayLike) -> np.ndarray:
    """``(N, H, W)`` float64 from ``(N, H, W)`` or ``(N, 1, H, W)``."""
    array = np.asarray(images, dtype=np.float64)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3:
        raise ValueError(f"jet images must be (N, H, W) or (N, 1, H, W), got {array.shape}")
    return array


def _pixel_coordinates(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """η and φ of every pixel, each ``(H * W,)`` in row-major order."""
    eta, phi = pixel_centres(*shape)
    eta_grid, phi_grid = np.meshgrid(eta, phi)  # (H, W): eta varies along columns
    return eta_grid.ravel(), phi_grid.ravel()


def four_momentum(images: ArrayLike) -> np.ndarray:
    """Summed four-momenta ``(N, 4)`` = (E, px, py, pz) in GeV of massless pixels."""
    x = _images(images)
    pt = x.reshape(len(x), -1)
    eta, phi = _pixel_coordinates(x.shape[1:])
    basis = np.stack([np.cosh(eta), np.cos(phi), np.sin(phi), np.sinh(eta)], axis=1)  # (P, 4)
    return pt @ basis


def jet_pt_from_image(images: ArrayLike) -> np.ndarray:
    """Jet pT ``(N,)`` in GeV: ``|Σ pT⃗|`` of the pixels."""
    p = four_momentum(images)
    return np.hypot(p[:, 1], p[:, 2])


def jet_mass_from_image(images: ArrayLike) -> np.ndarray:
    """Jet mass ``(N,)`` in GeV: ``sqrt(E² − |p|²)`` of the summed pixels (``m² < 0`` → 0)."""
    p = four_momentum(images)
    m2 = p[:, 0] ** 2 - p[:, 1] ** 2 - p[:, 2] ** 2 - p[:, 3] ** 2
    return np.sqrt(np.clip(m2, 0.0, None))


def _weighted_centroid(coords: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """pT-weighted centroid ``(N, 2)`` of ``coords`` ``(P, 2)`` with weights ``(N, P)``."""
    total = weights.sum(axis=1, keepdims=True)
    return (weights @ coords) / np.where(total > 0, total, 1.0)


def nsubjettiness(images: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``(tau_1, tau_2)``, each ``(N,)``, β = 1, axes as in the module docstring."""
    x = _images(images)
    pt = x.reshape(len(x), -1)
    eta, phi = _pixel_coordinates(x.shape[1:])
    coords = np.stack([eta, phi], axis=1)  # (P, 2)
    norm = pt.sum(axis=1) * R0
    safe_norm = np.where(norm > 0, norm, 1.0)

    axis1 = _weighted_centroid(coords, pt)  # (N, 2)
    dr1 = np.linalg.norm(coords[None] - axis1[:, None], axis=2)  # (N, P)
    tau1 = (pt * dr1).sum(axis=1) / safe_norm

    # seeds: the hardest pixel, and the hardest pixel at least SEED_SEPARATION away from it
    first = pt.argmax(axis=1)
    from_first = np.linalg.norm(coords[None] - coords[first][:, None], axis=2)
    far = np.where(from_first >= SEED_SEPARATION, pt, -1.0)
    runner_up = np.where(np.arange(pt.shape[1])[None] == first[:, None], -1.0, pt).argmax(axis=1)
    second = np.where(far.max(axis=1) > 0, far.argmax(axis=1), runner_up)
    axes = np.stack([coords[first], coords[second]], axis=1)  # (N, 2, 2)
    for _ in range(KMEANS_ITERATIONS):
        dr = np.linalg.norm(coords[None, None] - axes[:, :, None], axis=3)  # (N, 2, P)
        nearest = dr.argmin(axis=1)  # (N, P)
        for a in range(2):
            weights = pt * (nearest == a)
            total = weights.sum(axis=1)
            centroid = _weighted_centroid(coords, weights)
            axes[:, a] = np.where(total[:, None] > 0, centroid, axes[:, a])
    dr = np.linalg.norm(coords[None, None] - axes[:, :, None], axis=3)
    tau2 = (pt * dr.min(axis=1)).sum(axis=1) / safe_norm
    return tau1, tau2


def tau21_from_image(images: ArrayLike) -> np.ndarray:
    """τ21 = τ2 / τ1 ``(N,)`` from pixels (0 where τ1 = 0); see :func:`nsubjettiness`."""
    tau1, tau2 = nsubjettiness(images)
    return np.where(tau1 > 0, tau2 / np.where(tau1 > 0, tau1, 1.0), 0.0)


def pixel_intensities(images: ArrayLike) -> np.ndarray:
    """The pixel-intensity spectrum: every non-zero pixel pT (GeV) of every image, 1-D."""
    x = _images(images)
    return x[x > 0]


def mean_image(images: ArrayLike) -> np.ndarray:
    """The average image ``(H, W)`` in GeV."""
    return _images(images).mean(axis=0)


def sparsity(images: ArrayLike) -> np.ndarray:
    """Fraction of exactly-zero pixels per image ``(N,)``."""
    x = _images(images)
    return (x == 0).reshape(len(x), -1).mean(axis=1)
