"""``model=flow``: a conditional normalizing flow (MAF with affine or spline blocks).

p(x | c) = N(f(x; c); 0, 1) · |det ∂f/∂x|, with ``f`` a stack of masked autoregressive
blocks (:func:`genhep.nn.flows.build_flow`): an exact density, trained by −log p(x | c).
Any flat event vector without mask is accepted: the toy Gaussian mixture, calorimeter
voxels (368 for dataset-1 photons: sampling inverts the MAF feature by feature, so it costs
D network passes per block), a vector of jet observables. The condition (if the data has
one) is the context of every block.

``dequantize`` (model-space units) spreads the point masses at each column's edges (e.g.
exactly empty voxels, all at the logit of α) into a thin band outside the column's training
range before the likelihood is taken (:class:`~genhep.nn.flows.EdgeDequantizer`, fitted on
the training split); the band maps back onto the edge when the calorimeter transforms are
inverted. It is off (0) by default and for data without such edges.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from genhep.models.base import OptimizerFactory, SchedulerFactory, TrainingData
from genhep.models.likelihood import LikelihoodModel
from genhep.nn.flows import EdgeDequantizer, build_flow
from genhep.spec import DataSpec, flat_vector_problem


class NormalizingFlow(LikelihoodModel):
    """``model=flow`` for any flat event vector.

    Args:
        data_spec: filled in by the runner.
        kind: ``"rqs"`` (rational-quadratic spline blocks) or ``"affine"`` (MAF).
        n_blocks, hidden, n_hidden, n_bins, tail_bound, dropout, residual, batch_norm,
            activation, permutation: see :func:`genhep.nn.flows.build_flow`.
        dequantize: width of the band the column edges are spread into (0: off).
        optimizer, scheduler: ``_partial_`` factories.
        ema: EMA decay of the weights used for sampling (``None``: off).
    """

    display_name = "flow"

    log_prob_kind = "exact"

    @classmethod
    def incompatibility(cls, spec: DataSpec) -> str | None:
        return flat_vector_problem(spec)

    def __init__(
        self,
        data_spec: Mapping[str, Any],
        kind: str = "rqs",
        n_blocks: int = 4,
        hidden: int = 64,
        n_hidden: int = 2,
        n_bins: int = 8,
        tail_bound: float = 5.0,
        dropout: float = 0.0,
        residual: bool = False,
        batch_norm: bool = False,
        activation: str = "relu",
        permutation: str | None = "random",
        dequantize: float = 0.0,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        ema: float | None = None,
    ) -> None:
        super().__init__(data_spec, optimizer, scheduler, ema)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.dim = self.data_spec.event_shape[0]
        self.cond_dim = self.data_spec.cond_dim
        self.flow = build_flow(
            self.dim,
            self.cond_dim,
            n_blocks=n_blocks,
            hidden=hidden,
            n_hidden=n_hidden,
            kind=kind,
            n_bins=n_bins,
            tail_bound=tail_bound,
            dropout=dropout,
            residual=residual,
            batch_norm=batch_norm,
            activation=activation,
            permutation=permutation,
        )
        self.dequantizer = EdgeDequantizer(self.dim, dequantize)

    def fit_to_data(self, data: TrainingData) -> None:
        self.dequantizer.fit(data.x.reshape(len(data.x), -1))

    def likelihood_terms(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        x = self.dequantizer(batch["x"])
        return {"loss": -self.log_prob(x, batch.get("cond")).mean()}

    def log_prob(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """Exact log p(x | cond) in model space, shape ``(N,)``."""
        return self.flow.log_prob(x, self.condition(cond, len(x)))

    @torch.no_grad()
    def sample(self, n: int, cond: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """``n`` events ``(n, D)``, event ``i`` given ``cond[i]``."""
        return self.flow.sample(n, self.condition(cond, n))
