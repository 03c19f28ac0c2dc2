"""Mixture density network: a Gaussian mixture whose parameters are networks of the condition.

p(x | c) = Σ_k π_k(c) N(x; μ_k(c), L_k(c) L_k(c)ᵀ)

One MLP maps the condition to the mixture logits (K), the means (K·D) and the
lower-triangular Cholesky factors (K·D(D+1)/2) whose diagonal is made positive with a
softplus (+ ``min_scale``). Trained by −log p(x | c) (Bishop 1994; B. Nachman's
lectures on generative models). An unconditional MDN feeds a constant input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from genhep.models.base import OptimizerFactory, SchedulerFactory
from genhep.models.likelihood import LikelihoodModel
from genhep.nn.mlp import mlp
from genhep.spec import DataSpec, flat_vector_problem


class MixtureDensityNetwork(LikelihoodModel):
    """``model=mdn`` for any flat event vector (the toy, calorimeter showers, ...).

    Args:
        data_spec: filled in by the runner.
        n_components: mixture components K.
        hidden: hidden layer sizes of the parameter network.
        activation: activation between hidden layers.
        min_scale: floor added to the Cholesky diagonal (model-space units).
        optimizer, scheduler: ``_partial_`` factories.
        ema: EMA decay of the weights used for sampling (``None``: off).
    """

    display_name = "MDN"

    log_prob_kind = "exact"

    @classmethod
    def incompatibility(cls, spec: DataSpec) -> str | None:
        return flat_vector_problem(spec)

    def __init__(
        self,
        data_spec: Mapping[str, Any],
        n_components: int = 5,
        hidden: Sequence[int] = (64, 64),
        activation: str = "silu",
        min_scale: float = 1e-3,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        ema: float | None = None,
    ) -> None:
        super().__init__(data_spec, optimizer, scheduler, ema)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.dim = self.data_spec.event_shape[0]
        self.cond_dim = self.data_spec.cond_dim
        self.n_components, self.min_scale = n_components, min_scale
        tril = torch.tril_indices(self.dim, self.dim)
        self.register_buffer("tril_rows", tril[0], persistent=False)
        self.register_buffer("tril_cols", tril[1], persistent=False)
        n_tril = tril.shape[1]
        self.net = mlp(
            max(self.cond_dim, 1), n_components * (1 + self.dim + n_tril), list(hidden), activation
        )

    def _context(self, cond: Tensor | None, n: int) -> Tensor:
        given = self.condition(cond, n)
        return torch.zeros(n, 1, device=self.device) if given is None else given

    def mixture(self, cond: Tensor | None, n: int) -> MixtureSameFamily:
        """The predicted distribution of x for each of ``n`` conditions (batch shape ``(n,)``)."""
        out = self.net(self._context(cond, n))
        k, d = self.n_components, self.dim
        logits, means, tril_values = out.split([k, k * d, out.shape[1] - k - k * d], dim=1)
        scale_tril = out.new_zeros(n, k, d, d)
        scale_tril[:, :, self.tril_rows, self.tril_cols] = tril_values.reshape(n, k, -1)
        diagonal = F.softplus(torch.diagonal(scale_tril, dim1=-2, dim2=-1)) + self.min_scale
        scale_tril = torch.tril(scale_tril, diagonal=-1) + torch.diag_embed(diagonal)
        components = MultivariateNormal(means.reshape(n, k, d), scale_tril=scale_tril)
        return MixtureSameFamily(Categorical(logits=logits), components)

    def log_prob(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """Exact log p(x | cond) in model space, shape ``(N,)``."""
        return self.mixture(cond, len(x)).log_prob(x)

    @torch.no_grad()
    def moments(self, cond: Tensor | None = None, n: int | None = None) -> tuple[Tensor, Tensor]:
        """Mean and standard deviation ``(n, D)`` of the mixture for each condition, in model
        space, in closed form: ``m = Σ_k π_k μ_k`` and ``Var = Σ_k π_k (diag Σ_k + μ_k²) − m²``
        (per dimension; ``Σ_k = L_k L_kᵀ``). ``n`` defaults to ``len(cond)`` (1 without one).

        With ``data.representation=response`` and a standardised (affine) transform, the
        physical response's mean and std follow by the transform's scale and shift: the learned
        energy scale and resolution ``σ/E`` at each incident energy.
        """
        n = n if n is not None else (1 if cond is None else len(cond))
        mixture = self.mixture(cond, n)
        weights = mixture.mixture_distribution.probs[..., None]  # (n, K, 1)
        components = mixture.component_distribution
        means = components.mean  # (n, K, D)
        variances = components.variance  # diagonal of L Lᵀ, (n, K, D)
        mean = (weights * means).sum(dim=1)
        second = (weights * (variances + means**2)).sum(dim=1)
        return mean, (second - mean**2).clamp(min=0.0).sqrt()

    @torch.no_grad()
    def sample(self, n: int, cond: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        return self.mixture(cond, n).sample()
