"""``model=caloflow``: CaloFlow, two chained conditional flows for calorimeter showers.

Krause & Shih, "CaloFlow" (arXiv:2106.05285), as set up for CaloChallenge dataset 1 by
Krause, Pang & Shih (arXiv:2210.14245; Ian-Pang/caloflow-for-calochallenge):

    p(x | E_inc) = p_I(u | E_inc) · p_II(n | u, E_inc)

- **flow I** models the L u-variables (``u_0 = E_tot / (f · E_inc)``, ``u_i = E_{i−1} /
  Σ_{j ≥ i−1} E_j``: the layer energies, bijectively, given ``E_inc``) given the incident
  energy: six RQS MADE blocks, two hidden layers of 64, 8 bins, tail bound 14;
- **flow II** models the V voxels normalised within their layer given the layer energies and
  ``E_inc``: eight RQS MADE blocks with one hidden layer (378 units for photons, 533 for
  pions), dropout 0.05.

The model works in the space of ``data=calorimeter data.transform=layer_fractions`` (the
data family's :class:`~genhep.data.calorimeter.transforms.LayerFractions` followed by a logit
with α = 1e-6 and, by default, a standardisation): ``x`` holds the normalised voxels and, in
the columns ``layout["layer_energies"]`` names, the u-variables. The model itself knows no
geometry: flow I takes the ``layer_energies`` columns, flow II every other column. Flow II's
context is the condition (log-scaled ``E_inc``) and the model-space u-variables (the
authors use the log layer energies: the same information, one bijection away given
``E_inc``).

Sampling draws u from flow I, then the voxels from flow II given them, and returns both in
the transformed space; the transform's inverse renormalises each layer's sampled voxels to
the layer energy the sampled u-variables give (non-negative, exactly summing to it), as the
authors do.

Training stages (``stage``): ``both`` trains the two flows in one run (their losses share no
parameter, so one optimizer on the sum trains each flow on its own likelihood, side by side);
``energy`` trains flow I only; ``shower`` trains flow II only, typically started from an
``energy`` run's weights (``init_from=<run dir>``: every weight of both flows loads, flow II's
as initialised there). ``val/loss`` is always the full negative log-likelihood
``−log p_I − log p_II`` (nats per shower); ``nll_energy`` and ``nll_shower`` are logged
beside it.

Not built: the CaloFlow II student (an IAF distilled from flow II, ~500× faster sampling).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from genhep.models.base import OptimizerFactory, SchedulerFactory, TrainingData
from genhep.models.likelihood import LikelihoodModel
from genhep.nn.flows import EdgeDequantizer, build_flow
from genhep.spec import DataSpec, first_problem, flat_vector_problem

#: The column group of the layer energies (u-variables) in the data's layout.
ENERGY_GROUP = "layer_energies"
STAGES = ("both", "energy", "shower")


def _energy_columns_problem(spec: DataSpec) -> str | None:
    if ENERGY_GROUP not in spec.layout or not spec.layout[ENERGY_GROUP]:
        return (
            f"it needs the layer energies as columns of x (layout['{ENERGY_GROUP}']): use "
            "data=calorimeter data.transform=layer_fractions"
        )
    n_energy = sum(b - a for a, b in spec.layout[ENERGY_GROUP].values())
    if n_energy >= spec.event_shape[0]:
        return "it needs voxel columns besides the layer energies"
    return None


def _cond_problem(spec: DataSpec) -> str | None:
    if spec.cond_dim >= 1:
        return None
    return "it needs a condition (the incident energy), got cond_dim 0"


class CaloFlow(LikelihoodModel):
    """``model=caloflow``: flow I (layer energies) and flow II (voxels); see the module
    docstring.

    Args:
        data_spec: filled in by the runner (``layout["layer_energies"]`` required).
        stage: ``both``, ``energy`` (flow I only) or ``shower`` (flow II only).
        energy_blocks, energy_hidden, energy_n_hidden, energy_bins, energy_tail_bound,
            energy_dropout: flow I's RQS MADE blocks (authors: 6, 64, 2, 8, 14, 0).
        shower_blocks, shower_hidden, shower_n_hidden, shower_bins, shower_tail_bound,
            shower_dropout: flow II's (authors: 8, 378 photons / 533 pions, 1, 8, 14, 0.05).
        activation: of every MADE (authors: relu).
        dequantize: width (model-space units) of the band each column's edge values (empty
            voxels, empty layers) are spread into before the likelihood
            (:class:`~genhep.nn.flows.EdgeDequantizer`); 0: off.
        optimizer, scheduler: ``_partial_`` factories.
        ema: EMA decay of the weights used for sampling (``None``: off).
    """

    log_prob_kind = "exact"

    @classmethod
    def incompatibility(cls, spec: DataSpec) -> str | None:
        if (problem := flat_vector_problem(spec)) is not None:
            return problem
        return first_problem(_cond_problem(spec), _energy_columns_problem(spec))

    def __init__(
        self,
        data_spec: Mapping[str, Any],
        stage: str = "both",
        energy_blocks: int = 6,
        energy_hidden: int = 64,
        energy_n_hidden: int = 2,
        energy_bins: int = 8,
        energy_tail_bound: float = 14.0,
        energy_dropout: float = 0.0,
        shower_blocks: int = 8,
        shower_hidden: int = 378,
        shower_n_hidden: int = 1,
        shower_bins: int = 8,
        shower_tail_bound: float = 14.0,
        shower_dropout: float = 0.05,
        activation: str = "relu",
        dequantize: float = 0.0,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        ema: float | None = None,
    ) -> None:
        super().__init__(data_spec, optimizer, scheduler, ema)
        if stage not in STAGES:
            raise ValueError(f"model.stage must be one of {list(STAGES)}, got {stage!r}")
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.stage = stage
        spec = self.data_spec
        dim, self.cond_dim = spec.event_shape[0], spec.cond_dim
        energy = sorted(i for s in spec.columns(ENERGY_GROUP).values() for i in range(dim)[s])
        shower = sorted(set(range(dim)) - set(energy))
        self.register_buffer("energy_columns", torch.tensor(energy), persistent=False)
        self.register_buffer("shower_columns", torch.tensor(shower), persistent=False)
        self.n_energy, self.n_shower = len(energy), len(shower)
        self.flow_energy = build_flow(
            self.n_energy,
            self.cond_dim,
            n_blocks=energy_blocks,
            hidden=energy_hidden,
            n_hidden=energy_n_hidden,
            kind="rqs",
            n_bins=energy_bins,
            tail_bound=energy_tail_bound,
            dropout=energy_dropout,
            activation=activation,
        )
        self.flow_shower = build_flow(
            self.n_shower,
            self.cond_dim + self.n_energy,
            n_blocks=shower_blocks,
            hidden=shower_hidden,
            n_hidden=shower_n_hidden,
            kind="rqs",
            n_bins=shower_bins,
            tail_bound=shower_tail_bound,
            dropout=shower_dropout,
            activation=activation,
        )
        self.dequantizer = EdgeDequantizer(dim, dequantize)

    # -- pieces -----------------------------------------------------------------------------

    def split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(u, voxels)``: the layer-energy columns and the other columns of ``x`` ``(N, D)``."""
        return x[:, self.energy_columns], x[:, self.shower_columns]

    def join(self, u: Tensor, voxels: Tensor) -> Tensor:
        """The inverse of :meth:`split`: ``(N, D)`` with every column in its place."""
        x = u.new_empty(len(u), self.n_energy + self.n_shower)
        x[:, self.energy_columns] = u
        x[:, self.shower_columns] = voxels
        return x

    def log_prob_parts(self, x: Tensor, cond: Tensor | None) -> tuple[Tensor, Tensor]:
        """``(log p_I(u | c), log p_II(voxels | u, c))``, each ``(N,)``; their sum is
        :meth:`log_prob`."""
        c = self.condition(cond, len(x))
        u, voxels = self.split(x)
        return (
            self.flow_energy.log_prob(u, c),
            self.flow_shower.log_prob(voxels, torch.cat([c, u], dim=1)),
        )

    # -- the model contract -----------------------------------------------------------------

    def fit_to_data(self, data: TrainingData) -> None:
        self.dequantizer.fit(data.x.reshape(len(data.x), -1))

    def trained_parameters(self) -> Iterator[nn.Parameter]:
        """Both flows' parameters (``stage=both``), flow I's (``energy``) or flow II's
        (``shower``)."""
        if self.stage == "energy":
            return iter(self.flow_energy.parameters())
        if self.stage == "shower":
            return iter(self.flow_shower.parameters())
        return super().trained_parameters()

    def likelihood_terms(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        log_energy, log_shower = self.log_prob_parts(
            self.dequantizer(batch["x"]), batch.get("cond")
        )
        nll_energy, nll_shower = -log_energy.mean(), -log_shower.mean()
        terms = {
            "loss": nll_energy + nll_shower,
            "nll_energy": nll_energy,
            "nll_shower": nll_shower,
        }
        if self.stage == "energy":
            terms["objective"] = nll_energy
        elif self.stage == "shower":
            terms["objective"] = nll_shower
        return terms

    def log_prob(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """Exact log p(x | cond) = log p_I(u | cond) + log p_II(voxels | u, cond), ``(N,)``."""
        log_energy, log_shower = self.log_prob_parts(x, cond)
        return log_energy + log_shower

    @torch.no_grad()
    def sample_layer_energies(self, n: int, cond: Tensor | None) -> Tensor:
        """Flow I alone: ``n`` model-space u-variable vectors ``(n, L)`` given ``cond``."""
        return self.flow_energy.sample(n, self.condition(cond, n))

    @torch.no_grad()
    def sample(self, n: int, cond: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """``n`` showers ``(n, D)`` in model space: u from flow I, then voxels from flow II."""
        c = self.condition(cond, n)
        u = self.flow_energy.sample(n, c)
        voxels = self.flow_shower.sample(n, torch.cat([c, u], dim=1))
        return self.join(u, voxels)
