"""Discretised logistic mixture for one channel (PixelCNN++, Salimans et al. 2017, 1701.05517).

A continuous value ``X`` on [−1, 1] is split into ``n_bins`` bins of width ``2 / (n_bins − 1)``
centred on ``c_k = −1 + 2k / (n_bins − 1)``, ``k = 0 … n_bins − 1``. Under a mixture of
logistics ``Σ_m π_m Logistic(μ_m, s_m)``, bin ``k`` has probability

    P(k) = Σ_m π_m [σ((c_k + w − μ_m) / s_m) − σ((c_k − w − μ_m) / s_m)],   w = 1 / (n_bins − 1),

with the PixelCNN++ edge cases: the lowest bin takes all mass below ``c_0 + w`` and the
highest all mass above ``c_{n−1} − w``, so the probabilities of the ``n_bins`` bins sum to
one exactly. Unlike the reference implementations, interior bins never fall back to a
density approximation: ``log(σ(a) − σ(b))`` is evaluated exactly and stably as
``−softplus(−a) − softplus(b) + log(1 − exp(b − a))``.

Shapes: the mixture parameters are ``(..., K)`` (K components last); bins and log
probabilities are ``(...)``. Log probabilities are in nats.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["DiscretizedLogisticMixture", "bin_centres"]


def bin_centres(bins: Tensor, n_bins: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Centres ``c_k = −1 + 2k / (n_bins − 1)`` on [−1, 1] of integer ``bins`` (any shape)."""
    return bins.to(dtype) * (2.0 / (n_bins - 1)) - 1.0


class DiscretizedLogisticMixture:
    """A mixture of ``K`` logistics on [−1, 1], discretised into ``n_bins`` bins.

    Args:
        logits: ``(..., K)`` unnormalised log mixture weights.
        means: ``(..., K)`` component locations μ on the [−1, 1] scale.
        log_scales: ``(..., K)`` log s of the components.
        n_bins: number of bins, at least 2.
    """

    def __init__(self, logits: Tensor, means: Tensor, log_scales: Tensor, n_bins: int) -> None:
        if n_bins < 2:
            raise ValueError(f"a discretised logistic needs at least 2 bins, got {n_bins}")
        self.logits, self.means, self.log_scales, self.n_bins = logits, means, log_scales, n_bins

    @classmethod
    def from_params(
        cls, params: Tensor, n_bins: int, min_log_scale: float = -7.0
    ) -> DiscretizedLogisticMixture:
        """From raw network outputs ``(..., 3K)`` = [logits, means, log scales], the log
        scales floored at ``min_log_scale`` as in PixelCNN++."""
        logits, means, log_scales = params.chunk(3, dim=-1)
        return cls(logits, means, log_scales.clamp(min=min_log_scale), n_bins)

    def _edge(self, bins: Tensor, side: int) -> Tensor:
        """Upper (``side=1``) or lower (``side=−1``) edges ``(..., 1)`` of ``bins``, computed as
        ``(2k ± 1 − (n − 1)) / (n − 1)`` so that the upper edge of bin k and the lower edge of
        bin k + 1 are the same floating-point number (the probabilities then telescope)."""
        numerator = 2 * bins + (side - (self.n_bins - 1))
        return (numerator.to(self.means.dtype) / (self.n_bins - 1))[..., None]

    def component_log_prob(self, bins: Tensor) -> Tensor:
        """``log P_m(k)`` of each component, ``(..., K)``, for integer ``bins`` ``(...)``."""
        inv_scale = torch.exp(-self.log_scales)
        upper = inv_scale * (self._edge(bins, 1) - self.means)
        lower = inv_scale * (self._edge(bins, -1) - self.means)
        lowest = -F.softplus(-upper)  # log σ(upper): the bin (−∞, c_0 + w]
        highest = -F.softplus(lower)  # log(1 − σ(lower)): the bin [c_{n−1} − w, ∞)
        interior = lowest + highest + torch.log(-torch.expm1(lower - upper))
        k = bins[..., None]
        return torch.where(k == 0, lowest, torch.where(k == self.n_bins - 1, highest, interior))

    def log_prob(self, bins: Tensor) -> Tensor:
        """``log P(k)`` in nats, ``(...)``, for integer ``bins`` ``(...)`` in [0, n_bins)."""
        log_weights = torch.log_softmax(self.logits, dim=-1)
        return torch.logsumexp(log_weights + self.component_log_prob(bins), dim=-1)

    def sample(self) -> Tensor:
        """Integer bins ``(...)`` drawn with probabilities :meth:`log_prob`: a component by
        its weight, a logistic variate from it, rounded to the nearest bin centre and clipped
        to the edge bins."""
        component = torch.distributions.Categorical(logits=self.logits).sample()[..., None]
        mean = self.means.gather(-1, component)[..., 0]
        scale = self.log_scales.gather(-1, component)[..., 0].exp()
        u = torch.rand_like(mean).clamp(1e-7, 1.0 - 1e-7)
        value = mean + scale * (torch.log(u) - torch.log1p(-u))
        index = torch.round((value + 1.0) * ((self.n_bins - 1) / 2.0))
        return index.clamp(0, self.n_bins - 1).long()
