"""EPiC: equivariant point-cloud layers with a global latent (Buhmann, Kasieczka, Thaler,
EPiC-GAN 2301.08128; the denoiser of EPiC-JeDi and EPiC-FM).

Each layer updates a small global vector from mean- and sum-pooled particle features (sum
divided by the maximum multiplicity) and the context, then every particle from itself, the
global vector and the context, both residually. Masked particles never enter a pooling and
are output as zero: permuting the particles permutes the output.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from genhep.nn.time_embedding import Context, genuine


def _linear(a: int, b: int, normed: bool) -> nn.Module:
    layer = nn.Linear(a, b)
    return weight_norm(layer) if normed else layer


class EPiCLayer(nn.Module):
    """One EPiC layer on particles ``(B, N, hidden)`` and a global vector ``(B, latent)``."""

    def __init__(self, hidden: int, latent: int, context: int, weight_normed: bool = True) -> None:
        super().__init__()
        self.global_in = _linear(2 * hidden + latent + context, hidden, weight_normed)
        self.global_out = _linear(hidden, latent, weight_normed)
        self.local_in = _linear(hidden + latent + context, hidden, weight_normed)
        self.local_out = _linear(hidden, hidden, weight_normed)
        self.act = nn.LeakyReLU(0.01)

    def forward(self, h: Tensor, g: Tensor, context: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        weight = mask.unsqueeze(-1).to(h.dtype)
        total = (h * weight).sum(1)
        mean = total / weight.sum(1).clamp_min(1.0)
        pooled = torch.cat([mean, total / h.shape[1], g, context], dim=-1)
        g = g + self.global_out(self.act(self.global_in(pooled)))
        n = h.shape[1]
        local = torch.cat(
            [h, g[:, None].expand(-1, n, -1), context[:, None].expand(-1, n, -1)], dim=-1
        )
        h = h + self.local_out(self.act(self.local_in(local)))
        return h * weight, g


class EPiCNetwork(nn.Module):
    """Denoiser ``(x (B, N, F), noise level (B,), cond (B, C) or None, mask (B, N)) -> (B, N, F)``,
    conditioned on the multiplicity ``n / N`` (from the mask) and the event condition.

    Args:
        features: ``F``; cond_dim: ``C``; hidden: particle width (128); layers: EPiC layers (6);
        latent: global vector size (10); context: context width; weight_normed: EPiC-FM's
        weight normalisation.
    """

    def __init__(
        self,
        features: int,
        cond_dim: int = 0,
        hidden: int = 128,
        layers: int = 6,
        latent: int = 10,
        context: int = 64,
        time_dim: int = 32,
        weight_normed: bool = True,
    ) -> None:
        super().__init__()
        self.context = Context(context, cond_dim=cond_dim, extra_dim=1, time_dim=time_dim)
        self.inp = nn.Linear(features + context, hidden)
        self.global_inp = nn.Linear(hidden * 2 + context, latent)
        self.layers = nn.ModuleList(
            [EPiCLayer(hidden, latent, context, weight_normed) for _ in range(layers)]
        )
        self.out = nn.Linear(hidden, features)

    def forward(
        self, x: Tensor, noise_level: Tensor, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        mask, weight, multiplicity = genuine(x, mask)
        context = self.context(noise_level, cond, multiplicity)
        n = x.shape[1]
        h = self.inp(torch.cat([x, context[:, None].expand(-1, n, -1)], dim=-1)) * weight
        total = h.sum(1)
        pooled = torch.cat([total / weight.sum(1).clamp_min(1.0), total / n, context], dim=-1)
        g = self.global_inp(pooled)
        for layer in self.layers:
            h, g = layer(h, g, context, mask)
        return self.out(h) * weight
