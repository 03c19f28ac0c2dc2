"""Encodings of a diffusion time / noise level for the denoising networks."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def cosine_encoding(t: Tensor, dim: int, max_period: float = 1.0e4) -> Tensor:
    """``(B,)`` → ``(B, dim)``: ``[cos(ω_k t), sin(ω_k t)]`` with ``dim / 2`` frequencies
    ``ω_k = max_period^(−k / (dim/2))``, ``t`` scaled by 1000 (times in [0, 1] and EDM's
    ``ln σ / 4`` both span many periods; the transformer's positional encoding, PC-JeDi's
    time encoding)."""
    if dim % 2:
        raise ValueError(f"cosine_encoding needs an even dim, got {dim}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    angles = 1000.0 * t.float()[:, None] * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


def genuine(x: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """A cloud's ``mask`` ``(B, N)`` (all genuine when ``None``), its weights ``(B, N, 1)`` in
    ``x``'s dtype and the multiplicity ``n / N`` ``(B, 1)`` that cloud denoisers condition on."""
    if mask is None:
        mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    weight = mask.unsqueeze(-1).to(x.dtype)
    return mask, weight, weight.sum(1) / x.shape[1]


class Context(nn.Module):
    """The condition a denoiser sees: the time encoding and the event condition (and, for
    clouds, the multiplicity) mapped to ``out_dim`` features by a small MLP.

    ``forward(noise_level (B,), cond (B, C) or None, extra (B, E) or None) -> (B, out_dim)``.
    """

    def __init__(
        self, out_dim: int, cond_dim: int = 0, extra_dim: int = 0, time_dim: int = 32
    ) -> None:
        super().__init__()
        self.time_dim = time_dim
        self.net = nn.Sequential(
            nn.Linear(time_dim + cond_dim + extra_dim, out_dim),
            nn.SiLU(),
            nn.Linear(out_dim, out_dim),
        )

    def forward(
        self, noise_level: Tensor, cond: Tensor | None = None, extra: Tensor | None = None
    ) -> Tensor:
        parts = [cosine_encoding(noise_level, self.time_dim)]
        parts += [v.float() for v in (cond, extra) if v is not None]
        return self.net(torch.cat(parts, dim=-1))
