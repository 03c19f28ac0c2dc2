"""Masked symmetric chamfer distance between particle clouds (a permutation-invariant loss).

For clouds ``A`` and ``B`` with genuine particles ``a_i`` and ``b_j``::

    chamfer(A, B) = Σ_i min_j |a_i − b_j|² + Σ_j min_i |a_i − b_j|²

the sum of nearest-neighbour squared distances both ways, as the particle VAE of Orzari,
Duarte, Vlimant et al. (borzari/ConVAE_Jet) trains on. Padded particles (outside the masks)
are never a nearest neighbour and never counted, whatever their values.
"""

from __future__ import annotations

import torch
from torch import Tensor


def chamfer_distance(a: Tensor, b: Tensor, mask_a: Tensor, mask_b: Tensor) -> Tensor:
    """Symmetric chamfer distance per event, ``(B,)``, in squared units of the features.

    Args:
        a, b: clouds ``(B, N, F)`` and ``(B, M, F)``.
        mask_a, mask_b: ``(B, N)`` and ``(B, M)`` bool, the genuine particles.

    An event with genuine particles in one cloud and none in the other has distance ``inf``
    (nothing to be near); two empty clouds have distance 0.
    """
    if a.shape[0] != b.shape[0] or a.shape[-1] != b.shape[-1]:
        raise ValueError(f"chamfer_distance: clouds {tuple(a.shape)} and {tuple(b.shape)} differ")
    mask_a, mask_b = mask_a.bool(), mask_b.bool()
    squared = (a[:, :, None, :] - b[:, None, :, :]).pow(2).sum(dim=-1)  # (B, N, M)
    pair = mask_a[:, :, None] & mask_b[:, None, :]
    squared = torch.where(pair, squared, torch.full_like(squared, torch.inf))
    a_to_b = torch.where(mask_a, squared.amin(dim=2), torch.zeros_like(squared[:, :, 0]))
    b_to_a = torch.where(mask_b, squared.amin(dim=1), torch.zeros_like(squared[:, 0, :]))
    return a_to_b.sum(dim=1) + b_to_a.sum(dim=1)
