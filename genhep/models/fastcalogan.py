"""FastCaloGAN: the conditional WGAN-GP of ATLAS's AtlFast3 calorimeter simulation.

The style of the GANs AtlFast3 uses for showers in the calorimeter (ATLAS, "AtlFast3: the next
generation of fast simulation in ATLAS", Comput. Softw. Big Sci. 6 (2022) 7, 2109.02551;
FastCaloGAN, ATL-SOFT-PUB-2020-006): fully connected networks on the flattened voxels, both
conditioned on the incident energy, trained as a Wasserstein GAN with gradient penalty
(Gulrajani et al. 1704.00028).

Generator: ``[z, c]`` → MLP (``generator_hidden``; 50-100-200, ReLU) → ``D`` outputs (identity
in model space: the calorimeter family's ``voxel_fraction_logit`` makes any real output a valid
shower, non-negative after the inverse; ``output_activation=relu`` for a non-negative model space
such as ``data.transform=none``). Critic: ``[x, c]`` → MLP (``critic_hidden``; ``null``: three
layers as wide as the event, ``D``-``D``-``D``) → one score. ``z ~ N(0, 1)`` of ``latent_dim``
(50). ``c``: the family's model-space condition (the calorimeter's log-scaled ``E_inc``); an
unconditional model where there is none.

Training (:class:`~genhep.models.adversarial.AdversarialModel`): per batch one critic step on
``D(G(z, c)) − D(x, c) + λ·GP`` with generated showers for the real batch's conditions and
``GP`` the penalty of :func:`~genhep.nn.gradient_penalty.gradient_penalty` at interpolates
``x̂`` with the same ``c`` (the gradient is taken with respect to ``x`` only), ``λ =
gradient_penalty`` (10); every ``critic_steps``-th batch (5) one generator step on
``−D(G(z, c), c)``. Adam 1e-4, β = (0.5, 0.999), batch 128.

Which settings are checked: none of the numbers above was read in an ATLAS configuration file
(the FastCaloGAN code is not public): the hidden sizes 50-100-200 (photons and electrons;
100-200-400 for pions), the critic of three voxel-wide layers, latent 50, ReLU, Adam 1e-4 with
β₁ 0.5, batch 128, λ = 10 and 5 critic steps are as recalled from the AtlFast3 paper and the
FastCaloGAN note: **unchecked**. AtlFast3 trains one GAN per |η| slice and particle on
Geant4 showers in its own voxelisation, normalised to the truth energy, for ~1M iterations;
genhep's defaults follow the same recipe on whatever flat data the family gives.

Logged: ``train/d_loss`` (``D(G) − D(x)``, the negative Wasserstein estimate),
``train/gradient_penalty``, ``train/g_loss``; ``val/loss``, ``test/loss``: the critic's
``D(G) − D(x)`` on the split (fixed noise per batch index; it moves with the critic: the
evaluator's physics metrics measure quality).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from genhep.models.adversarial import AdversarialModel
from genhep.models.base import OptimizerFactory, SchedulerFactory
from genhep.nn.gradient_penalty import gradient_penalty
from genhep.nn.mlp import mlp
from genhep.spec import DataSpec, flat_vector_problem

__all__ = ["FastCaloGAN"]

OUTPUT_ACTIVATIONS = ("identity", "relu")


class _Conditional(nn.Module):
    """An MLP of ``[inputs, cond]`` (``cond`` may be ``None`` when the model has none)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, inputs: Tensor, cond: Tensor | None = None) -> Tensor:
        return self.net(inputs if cond is None else torch.cat([inputs, cond], dim=1))


class FastCaloGAN(AdversarialModel):
    """``model=fastcalogan`` for calorimeter showers and any flat vector (module docstring).

    Args:
        data_spec: filled in by the runner (flat events ``(D,)``, any ``cond_dim``).
        latent_dim: dimension of the generator's noise.
        generator_hidden: hidden layer sizes of the generator.
        critic_hidden: hidden layer sizes of the critic; ``None``: ``[D, D, D]``; ``[]``: a
            linear critic.
        activation: between hidden layers of both networks (a key of
            :data:`genhep.nn.mlp.ACTIVATIONS`).
        output_activation: ``identity`` or ``relu`` (non-negative model space).
        gradient_penalty: the penalty weight λ.
        critic_steps: critic updates (batches) per generator update.
        optimizer, discriminator_optimizer, scheduler, ema: as
            :class:`~genhep.models.adversarial.AdversarialModel`.
    """

    @classmethod
    def incompatibility(cls, spec: DataSpec) -> str | None:
        return flat_vector_problem(spec)

    def __init__(
        self,
        data_spec: Mapping[str, Any],
        latent_dim: int = 50,
        generator_hidden: Sequence[int] = (50, 100, 200),
        critic_hidden: Sequence[int] | None = None,
        activation: str = "relu",
        output_activation: str = "identity",
        gradient_penalty: float = 10.0,
        critic_steps: int = 5,
        optimizer: OptimizerFactory | None = None,
        discriminator_optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        ema: float | None = None,
    ) -> None:
        super().__init__(
            data_spec, optimizer, discriminator_optimizer, scheduler, critic_steps, ema
        )
        self.save_hyperparameters(ignore=["optimizer", "discriminator_optimizer", "scheduler"])
        if output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(
                f"model.output_activation must be one of {OUTPUT_ACTIVATIONS}, "
                f"got {output_activation!r}"
            )
        if gradient_penalty < 0:
            raise ValueError(f"model.gradient_penalty must be >= 0, got {gradient_penalty}")
        self.dim, self.cond_dim = self.data_spec.event_shape[0], self.data_spec.cond_dim
        self.latent_dim, self.penalty_weight = latent_dim, gradient_penalty
        critic_hidden = [self.dim] * 3 if critic_hidden is None else list(critic_hidden)
        generator = mlp(latent_dim + self.cond_dim, self.dim, list(generator_hidden), activation)
        if output_activation == "relu":
            generator.append(nn.ReLU())
        self.generator = _Conditional(generator)
        self.discriminator = _Conditional(
            mlp(self.dim + self.cond_dim, 1, critic_hidden, activation)
        )

    # -- conditions and networks ---------------------------------------------------------

    def generate(self, cond: Tensor | None, n: int, noise: torch.Generator | None = None) -> Tensor:
        """``n`` events ``(n, D)`` in model space for model-space conditions ``cond``."""
        z = torch.randn(n, self.latent_dim, device=self.device, generator=noise)
        return self.generator(z, self.condition(cond, n))

    def critic(self, x: Tensor, cond: Tensor | None) -> Tensor:
        """Scores ``(B,)`` of events ``x`` ``(B, D)`` under conditions ``cond``."""
        return self.discriminator(x, self.condition(cond, len(x))).squeeze(1)

    @torch.no_grad()
    def sample(self, n: int, cond: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        return self.generate(cond, n)

    # -- training ------------------------------------------------------------------------

    def penalty(self, real: Tensor, fake: Tensor, cond: Tensor | None) -> Tensor:
        """The unweighted gradient penalty at interpolates of ``real`` and ``fake`` (same
        conditions; gradient with respect to the events only)."""
        return gradient_penalty(lambda x: self.critic(x, cond), real, fake)

    def discriminator_losses(self, batch: Mapping[str, Tensor]) -> Iterator[dict[str, Tensor]]:
        real, cond = batch["x"], batch.get("cond")
        with torch.no_grad():
            fake = self.generate(cond, len(real))
        distance = self.critic(fake, cond).mean() - self.critic(real, cond).mean()
        penalty = self.penalty(real, fake, cond)
        yield {
            "loss": distance + self.penalty_weight * penalty,
            "d_loss": distance.detach(),
            "gradient_penalty": penalty.detach(),
        }

    def generator_losses(self, batch: Mapping[str, Tensor]) -> Iterator[dict[str, Tensor]]:
        cond = batch.get("cond")
        loss = -self.critic(self.generate(cond, len(batch["x"])), cond).mean()
        yield {"loss": loss, "g_loss": loss.detach()}

    # -- validation and test -------------------------------------------------------------

    def _value(self, batch: Mapping[str, Tensor], batch_idx: int, stage: str) -> None:
        """``<stage>/loss``: the critic's ``D(G(z, c)) − D(x, c)`` (fixed noise per batch)."""
        real, cond = batch["x"], batch.get("cond")
        noise = torch.Generator(device=self.device).manual_seed(batch_idx)
        fake = self.generate(cond, len(real), noise)
        value = self.critic(fake, cond).mean() - self.critic(real, cond).mean()
        n = len(real)
        self.log(f"{stage}/loss", value, prog_bar=stage == "val", sync_dist=True, batch_size=n)

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._value(batch, batch_idx, "val")

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._value(batch, batch_idx, "test")
