"""An inverse-autoregressive-flow posterior (Kingma et al., NeurIPS 2016) from nflows transforms.

``q(z | x)``: a diagonal Gaussian draw ``z_0 = μ(x) + σ(x) ⊙ ε`` pushed through ``K`` affine
autoregressive steps whose scale and shift at dimension ``i`` depend on the *previous input*
dimensions ``< i`` and on a context vector ``h(x)`` from the encoder::

    z_k = s_k(z_{k−1}, h) ⊙ z_{k−1} + m_k(z_{k−1}, h),      s_k > 0,

with the order reversed between steps. nflows'
:class:`~nflows.transforms.autoregressive.MaskedAffineAutoregressiveTransform` computes exactly
this in its ``forward`` (the MADE reads the transform's input; softplus scale + 1e-3), which
for a density estimator (MAF) is the data→noise direction. Used here in the other role, noise
→ latent, one parallel pass samples and scores at once: that is what makes it an IAF. By the
change of variables the posterior's log-density at the draw is::

    log q(z_K | x) = log N(z_0; μ, σ²) − Σ_k log |det ∂z_k / ∂z_{k−1}|,

the sum being the transforms' ``logabsdet`` (the log-scales; the permutations contribute 0).
The inverse (latent → noise) would be sequential and is never needed: a VAE scores only its
own draws.
"""

from __future__ import annotations

import math

import torch
from nflows.transforms import CompositeTransform, MaskedAffineAutoregressiveTransform
from nflows.transforms.permutations import ReversePermutation
from torch import Tensor, nn

__all__ = ["InverseAutoregressiveFlow", "diagonal_normal_log_prob"]


def diagonal_normal_log_prob(z: Tensor, mean: Tensor, log_var: Tensor) -> Tensor:
    """``log N(z; mean, exp(log_var))`` per event ``(B,)``, summed over the last axis."""
    terms = (z - mean).pow(2) * torch.exp(-log_var) + log_var + math.log(2.0 * math.pi)
    return -0.5 * terms.sum(dim=-1)


class InverseAutoregressiveFlow(nn.Module):
    """``n_flows`` nflows MADE affine steps, reversed orders between them, with a context.

    Args:
        features: the latent size ``L``.
        context_features: the size of the encoder's context vector ``h``.
        n_flows: the number of autoregressive steps ``K`` (>= 1).
        hidden_features: the MADE's hidden width.
        num_blocks: the MADE's (residual) blocks.
    """

    def __init__(
        self,
        features: int,
        context_features: int,
        n_flows: int = 2,
        hidden_features: int = 64,
        num_blocks: int = 2,
    ) -> None:
        super().__init__()
        if n_flows < 1:
            raise ValueError(f"the IAF needs n_flows >= 1, got {n_flows}")
        steps: list[nn.Module] = []
        for k in range(n_flows):
            if k:
                steps.append(ReversePermutation(features))
            steps.append(
                MaskedAffineAutoregressiveTransform(
                    features,
                    hidden_features,
                    context_features=context_features,
                    num_blocks=num_blocks,
                )
            )
        self.transform = CompositeTransform(steps)
        self.features, self.context_features = features, context_features

    def forward(self, z0: Tensor, context: Tensor) -> tuple[Tensor, Tensor]:
        """``z_K`` ``(B, L)`` and ``Σ_k log |det ∂z_k / ∂z_{k−1}|`` ``(B,)`` for noise-side
        draws ``z0`` ``(B, L)`` and the encoder's context ``(B, C)``."""
        return self.transform(z0, context=context)

    def sample(self, mean: Tensor, log_var: Tensor, context: Tensor) -> tuple[Tensor, Tensor]:
        """One draw ``z_K`` per event and its log-density ``log q(z_K | x)`` ``(B,)`` (the
        module docstring)."""
        z0 = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
        z, logabsdet = self(z0, context)
        return z, diagonal_normal_log_prob(z0, mean, log_var) - logabsdet
