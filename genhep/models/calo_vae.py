"""The ATLAS calorimeter VAE (ATL-SOFT-PUB-2018-001), Salamani's variant, and the IAF-VAE.

``model=calo_vae`` (the note's settings, ``../shared/references/models.md``): an MLP encoder
``[x, c] → 200 → 150 → 100 → 50 → (μ, log σ²)`` (ELU), latent 10, the decoder mirrored
``[z, c] → 50 → 100 → 150 → 200 → V``; the condition ``c`` (the data family's log-scaled
incident energy) appended to the encoder's input and to the latent. RMSprop 1e-4, batch 100.

Input and output: the note feeds voxels / E_inc and multiplies a sigmoid output by E_inc. In
genhep that is the data transform ``data.transform=voxel_fraction data.standardize=false``
(model space = voxel energy / E_inc, in [0, 1]) with ``model.head=sigmoid``: the family's
inverse transform multiplies by E_inc, so generated showers are non-negative and no voxel
exceeds E_inc. ``head=identity`` serves any flat vector (the toy; standardised data).

``model=calo_vae_salamani`` (DalilaSalamani/ATLASDNNCaloSim): 1500-1000-500-100, LeakyReLU,
batch norm, latent 50, and ``head=salamani``: a softmax over each layer's voxels, a sigmoid
for ``E_tot / E_inc`` and a softmax over the layer fractions, so that a decoded shower is
``x_v = (E_tot / E_inc) · f_l · softmax_l(v)`` and its layer sums are *exactly* the predicted
layer energies (:meth:`CaloVAE.energy_heads`).

Loss (:class:`~genhep.models.vae.VariationalAutoencoder`, with this model's
:meth:`CaloVAE.objective`), per event, then averaged over the batch::

    w_reco · reconstruction + β · KL + w_E · L(E_tot − Ê_tot) + Σ_l w_l · L(E_l/E_tot − Ê_l/Ê_tot)

in model-space units (fractions of E_inc with ``voxel_fraction``). ``reconstruction``: the
squared error (``mse``) or the binary cross-entropy (``bce``, targets in [0, 1]; Salamani's)
summed over voxels; ``L``: ``l1`` (the note's absolute differences) or ``l2``; the layer terms
are the note's differences of layer *fractions* of the total. ``model.layer_weights`` maps a
layer id (``data.geometry``'s, the ``layers`` group of :class:`~genhep.spec.DataSpec`) to its
weight (a number: every layer). Every weight is in the config; 0 switches a term off.

``log_prob`` is the ELBO (a lower bound, ``log_prob_kind = "bound"``) with a Gaussian decoder
of ``decoder_std`` (``null``: ``sqrt(β / (2 w_reco))``, for which an ``mse`` model without
energy terms trains on ``β·(−ELBO)``).

``model.posterior``: ``gaussian`` (the plain VAE) or ``iaf``: the encoder also emits a context
``h`` (``iaf_context`` numbers) and the posterior draw is pushed through an inverse
autoregressive flow (:class:`~genhep.nn.iaf.InverseAutoregressiveFlow`, ``iaf_flows`` nflows
MADE steps of ``iaf_hidden`` units); its KL term is the one-draw estimate ``log q(z|x) −
log N(z; 0, I)`` with ``log q`` from the change of variables. The latent diagnostic
(:mod:`genhep.metrics.latent`, ``callbacks/latent_diagnostic``) tests whether the aggregate
posterior is Gaussian: the ATLAS study's claim is that the IAF makes it so.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genhep.models.base import OptimizerFactory, SchedulerFactory, TrainingData
from genhep.models.vae import (
    PosteriorSample,
    VariationalAutoencoder,
    gaussian_kl,
    standard_normal_log_prob,
)
from genhep.nn.iaf import InverseAutoregressiveFlow
from genhep.spec import DataSpec, first_problem, flat_vector_problem

log = logging.getLogger(__name__)

HEADS = ("sigmoid", "identity", "salamani")
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "relu": nn.ReLU,
}
RECONSTRUCTIONS = ("mse", "bce")
ENERGY_LOSSES = ("l1", "l2")
POSTERIORS = ("gaussian", "iaf")


def dense_stack(sizes: Sequence[int], activation: str, batch_norm: bool = False) -> nn.Sequential:
    """Linear layers over ``sizes``, each followed by (batch norm and) the activation."""
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers.append(nn.Linear(a, b))
        if batch_norm:
            layers.append(nn.BatchNorm1d(b))
        layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class CaloVAE(VariationalAutoencoder):
    """``model=calo_vae`` / ``calo_vae_salamani`` (see the module docstring).

    Args:
        data_spec: filled in by the runner (flat events ``(V,)``, any condition size).
        latent_dim: latent size (10; Salamani 50).
        hidden: the encoder's hidden widths (the decoder's, reversed).
        activation: ``elu``, ``leaky_relu`` or ``relu``.
        batch_norm: batch norm after each hidden layer.
        head: the decoder output, ``sigmoid``, ``identity`` or ``salamani``.
        reconstruction: ``mse`` or ``bce``.
        reconstruction_weight: ``w_reco``.
        beta: the KL weight β, in [0, 1).
        total_energy_weight: ``w_E``.
        layer_weights: ``w_l``: a number (every layer) or ``{layer id: weight}`` (others 0).
        energy_loss: ``l1`` or ``l2``.
        posterior: ``gaussian`` or ``iaf``.
        iaf_flows, iaf_hidden, iaf_context: the IAF's steps, MADE width and context size.
        decoder_std: the ELBO decoder's std (``null``: ``sqrt(β / (2 w_reco))``).
        elbo_samples, optimizer, scheduler, ema: as
            :class:`~genhep.models.vae.VariationalAutoencoder`.
    """

    @classmethod
    def incompatibility(cls, spec: DataSpec) -> str | None:
        return flat_vector_problem(spec)

    def __init__(
        self,
        data_spec: Mapping[str, Any],
        latent_dim: int = 10,
        hidden: Sequence[int] = (200, 150, 100, 50),
        activation: str = "elu",
        batch_norm: bool = False,
        head: str = "sigmoid",
        reconstruction: str = "mse",
        reconstruction_weight: float = 1.0,
        beta: float = 1e-4,
        total_energy_weight: float = 0.0,
        layer_weights: float | Mapping[str, float] = 0.0,
        energy_loss: str = "l1",
        posterior: str = "gaussian",
        iaf_flows: int = 2,
        iaf_hidden: int = 64,
        iaf_context: int = 16,
        decoder_std: float | Sequence[float] | None = None,
        elbo_samples: int = 1,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        ema: float | None = None,
    ) -> None:
        for name, value, allowed in (
            ("head", head, HEADS),
            ("activation", activation, tuple(ACTIVATIONS)),
            ("reconstruction", reconstruction, RECONSTRUCTIONS),
            ("energy_loss", energy_loss, ENERGY_LOSSES),
            ("posterior", posterior, POSTERIORS),
        ):
            if value not in allowed:
                raise ValueError(f"model.{name} must be one of {list(allowed)}, got {value!r}")
        if not hidden:
            raise ValueError("model.hidden needs at least one layer width")
        if reconstruction_weight <= 0:
            raise ValueError(
                f"model.reconstruction_weight must be > 0, got {reconstruction_weight}"
            )
        spec = DataSpec.from_dict(data_spec)
        layers = spec.layout.get("layers", {})
        weights = self._term_weights(layers, total_energy_weight, layer_weights)
        if decoder_std is None:
            if beta <= 0:
                raise ValueError("model.decoder_std is needed when model.beta = 0")
            decoder_std = (beta / (2.0 * reconstruction_weight)) ** 0.5
        super().__init__(
            data_spec,
            latent_dim,
            beta,
            decoder_std,
            weights,
            elbo_samples,
            optimizer,
            scheduler,
            ema,
        )
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        width, cond_dim = self.data_spec.event_shape[0], self.data_spec.cond_dim
        self.layer_slices = [slice(a, b) for a, b in layers.values()]
        self.layer_names = list(layers)
        if head == "salamani":
            covered = sum(s.stop - s.start for s in self.layer_slices)
            if not layers or covered != width:
                raise ValueError(
                    "model.head=salamani needs calorimeter voxels whose layers cover every "
                    f"column (data.transform=voxel_fraction); got {width} columns, "
                    f"{covered} in layers"
                )
        self.head, self.reconstruction = head, reconstruction
        self.reconstruction_weight, self.energy_loss = float(reconstruction_weight), energy_loss
        self.posterior_kind = posterior
        context = iaf_context if posterior == "iaf" else 0
        hidden = list(hidden)
        self.encoder = dense_stack([width + cond_dim, *hidden], activation, batch_norm)
        self.encoder_out = nn.Linear(hidden[-1], 2 * latent_dim + context)
        n_layers = len(self.layer_slices)
        out = width + 1 + n_layers if head == "salamani" else width
        self.decoder = nn.Sequential(
            dense_stack([latent_dim + cond_dim, *hidden[::-1]], activation, batch_norm),
            nn.Linear(hidden[0], out),
        )
        self.iaf = (
            InverseAutoregressiveFlow(latent_dim, context, iaf_flows, iaf_hidden)
            if posterior == "iaf"
            else None
        )

    @staticmethod
    def _term_weights(
        layers: Mapping[str, tuple[int, int]],
        total_energy_weight: float,
        layer_weights: float | Mapping[str, float],
    ) -> dict[str, float]:
        weights = {"e_total": float(total_energy_weight)}
        if not layers:
            # data without calorimeter layers (a toy flat vector): no layer terms to weigh
            if layer_weights:
                log.warning("model.layer_weights ignored: the data have no calorimeter layers")
            return weights
        if isinstance(layer_weights, Mapping):
            given = {str(k): float(v) for k, v in layer_weights.items()}
            unknown = sorted(k for k in set(given) - set(layers) if given[k])
            if unknown:
                raise ValueError(
                    f"model.layer_weights names layers {unknown} the data do not have "
                    f"(its layers: {list(layers)})"
                )
        else:
            given = dict.fromkeys(layers, float(layer_weights))
        weights.update({f"e_layer_{k}": given.get(k, 0.0) for k in layers})
        return weights

    # -- networks -------------------------------------------------------------------------

    @staticmethod
    def _with_cond(x: Tensor, cond: Tensor | None) -> Tensor:
        return x if cond is None else torch.cat([x, cond.to(x.dtype)], dim=1)

    def _encode(self, x: Tensor, cond: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        out = self.encoder_out(self.encoder(self._with_cond(x, cond)))
        n = self.latent_dim
        return out[:, :n], out[:, n : 2 * n], out[:, 2 * n :]

    def encode(self, x: Tensor, cond: Tensor | None, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        mean, log_var, _ = self._encode(x, cond)
        return mean, log_var

    def posterior_sample(
        self, x: Tensor, cond: Tensor | None, mask: Tensor | None
    ) -> PosteriorSample:
        mean, log_var, context = self._encode(x, cond)
        if self.iaf is None:
            return PosteriorSample(self.reparameterise(mean, log_var), gaussian_kl(mean, log_var))
        z, log_q = self.iaf.sample(mean, log_var, context)
        return PosteriorSample(z, log_q - standard_normal_log_prob(z))

    def latent(
        self, x: Tensor, cond: Tensor | None = None, mask: Tensor | None = None, sample: bool = True
    ) -> Tensor:
        """A posterior draw per event, or (``sample=False``) the posterior's centre: the mean,
        pushed through the IAF for ``posterior=iaf``."""
        if sample:
            return self.posterior_sample(x, cond, mask).z
        mean, _, context = self._encode(x, cond)
        return mean if self.iaf is None else self.iaf(mean, context)[0]

    def energy_heads(
        self, z: Tensor, cond: Tensor | None
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """The decoded event ``(B, V)`` and, for ``head=salamani``, its predicted total
        ``E_tot / E_inc`` ``(B,)`` and layer energies ``(B, L)`` (fractions of E_inc), of which
        the event's layer sums are exact; ``None`` for the other heads."""
        out = self.decoder(self._with_cond(z, cond))
        if self.head == "sigmoid":
            return torch.sigmoid(out), None, None
        if self.head == "identity":
            return out, None, None
        width, n_layers = self.data_spec.event_shape[0], len(self.layer_slices)
        total = torch.sigmoid(out[:, width])
        layer_energy = total[:, None] * torch.softmax(out[:, width + 1 : width + 1 + n_layers], 1)
        x = torch.cat(
            [torch.softmax(out[:, s], dim=1) * layer_energy[:, i : i + 1]
             for i, s in enumerate(self.layer_slices)],
            dim=1,
        )  # fmt: skip
        return x, total, layer_energy

    def decode(self, z: Tensor, cond: Tensor | None, mask: Tensor | None) -> Tensor:
        return self.energy_heads(z, cond)[0]

    # -- loss -----------------------------------------------------------------------------

    def reconstruction_error(self, x: Tensor, recon: Tensor, mask: Tensor | None) -> Tensor:
        if self.reconstruction == "bce":
            target = x.clamp(0.0, 1.0)
            return F.binary_cross_entropy(
                recon.clamp(1e-7, 1 - 1e-7), target, reduction="none"
            ).sum(1)
        return (x - recon).pow(2).sum(dim=1)

    def _distance(self, a: Tensor, b: Tensor) -> Tensor:
        return (a - b).abs() if self.energy_loss == "l1" else (a - b).pow(2)

    def extra_terms(self, x: Tensor, recon: Tensor, mask: Tensor | None) -> dict[str, Tensor]:
        if not self.term_weights:
            return {}
        total, total_hat = x.sum(dim=1), recon.sum(dim=1)
        terms = {}
        if "e_total" in self.term_weights:
            terms["e_total"] = self._distance(total, total_hat)
        safe, safe_hat = total.clamp_min(1e-12), total_hat.clamp_min(1e-12)
        for name, s in zip(self.layer_names, self.layer_slices, strict=True):
            key = f"e_layer_{name}"
            if key in self.term_weights:
                fraction = x[:, s].sum(dim=1) / safe
                terms[key] = self._distance(fraction, recon[:, s].sum(dim=1) / safe_hat)
        return terms

    def objective(self, reconstruction: Tensor, extras: Mapping[str, Tensor], kl: Tensor) -> Tensor:
        """``mean[w_reco · reconstruction + β · KL + Σ_k w_k · term_k]`` (the module docstring)."""
        total = self.reconstruction_weight * reconstruction + self.beta * kl
        return (total + sum(self.term_weights[k] * v for k, v in extras.items())).mean()

    def fit_to_data(self, data: TrainingData) -> None:
        """Nothing is fitted; checks that the sigmoid and salamani heads, whose outputs lie
        in [0, 1], get model-space data in [0, 1] (and a clear error otherwise)."""
        if self.head == "identity" or not len(data.x):
            return
        low, high = float(data.x.min()), float(data.x.max())
        if low < 0.0 or high > 1.0 + 1e-6:
            raise ValueError(
                f"model.head={self.head} outputs values in [0, 1], but the training data span "
                f"[{low:.3g}, {high:.3g}] in model space: use data.transform=voxel_fraction "
                "data.standardize=false (voxel fractions of E_inc), or model.head=identity"
            )

    # -- generation -----------------------------------------------------------------------

    @torch.no_grad()
    def sample(self, n: int, cond: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """``n`` events ``(n, V)``: the decoder at ``z ~ N(0, I)`` and the given conditions."""
        if cond is not None:
            cond = cond.to(self.device)
        return self.prior_sample(n, cond, None)


def layers_cover_problem(spec: DataSpec) -> str | None:
    """Why ``spec``'s columns are not exactly the voxels of its calorimeter layers."""
    layers = spec.layout.get("layers", {})
    covered = sum(b - a for a, b in layers.values())
    if layers and len(spec.event_shape) == 1 and covered == spec.event_shape[0]:
        return None
    return (
        "its per-layer softmax heads need calorimeter voxels whose layers cover every column "
        f"(data=calorimeter, data.transform=voxel_fraction), got event_shape {spec.event_shape} "
        f"with {covered} columns in layers"
    )


class SalamaniVAE(CaloVAE):
    """``model=calo_vae_salamani``: :class:`CaloVAE` with ``head="salamani"`` (the module
    docstring), for calorimeter voxels only."""

    @classmethod
    def incompatibility(cls, spec: DataSpec) -> str | None:
        return first_problem(flat_vector_problem(spec), layers_cover_problem(spec))

    def __init__(self, data_spec: Mapping[str, Any], head: str = "salamani", **kwargs: Any) -> None:
        if head != "salamani":
            raise ValueError(f"model=calo_vae_salamani has head salamani, got {head!r}")
        super().__init__(data_spec, head=head, **kwargs)
