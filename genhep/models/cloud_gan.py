"""MPGAN and the baselines of its Table 2: any particle-cloud generator against any
discriminator (Kansal et al., NeurIPS 2021, 2106.11535).

``model=mpgan`` is this model with the message-passing generator and discriminator; the
networks are config groups, ``model/generator=mp|mp_lfc|fc|graphcnn`` and
``model/discriminator=mp|fc|pointnet`` (:mod:`genhep.nn.cloud_generators`,
:mod:`genhep.nn.cloud_discriminators`), and the loss is ``model.loss``:

- ``lsgan`` (MPGAN's): ``(D(x) − 1)² + D(G(z))²`` for the discriminator, ``(D(G(z)) − 1)²`` for
  the generator;
- ``wgan_gp`` (the FC and GraphCNN baselines'): ``D(G(z)) − D(x) + λ·GP`` and ``−D(G(z))``,
  ``λ = gradient_penalty`` (10), five critic steps per generator step (``critic_steps``).

As in the authors' code every discriminator ends in a sigmoid (``sigmoid_output``), under
either loss. The particle count of each generated cloud comes from the real batch in training
and from the real events' multiplicities at sampling (never learned); which particles are
genuine is the generator's choice (:mod:`genhep.nn.cloud_generators`). Data:
``data.transform=max_abs`` (features in [−1, 1] for the tanh outputs, as the authors'
preprocessing). The settings of every row of Table 2 are in ``conf/preset/mpgan_neurips2021/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from genhep.models.adversarial import AdversarialModel
from genhep.models.base import Generated, OptimizerFactory, SchedulerFactory
from genhep.nn.cloud_generators import CloudGenerator
from genhep.nn.gradient_penalty import gradient_penalty
from genhep.spec import DataSpec, cloud_problem

NetworkFactory = Callable[..., nn.Module]
LOSSES = ("lsgan", "wgan_gp")


class CloudGAN(AdversarialModel):
    """A particle-cloud GAN (see the module docstring).

    Args:
        data_spec: filled in by the runner (``(N, F)`` clouds with a mask).
        generator: ``_partial_`` factory of a
            :class:`~genhep.nn.cloud_generators.CloudGenerator`, called with
            ``n_particles=N, n_features=F``.
        discriminator: ``_partial_`` factory of a discriminator ``(x, mask) → (B,)`` scores
            (:mod:`genhep.nn.cloud_discriminators`), called the same way.
        loss: ``lsgan`` or ``wgan_gp``.
        gradient_penalty: the WGAN-GP weight λ (``wgan_gp`` only).
        sigmoid_output: apply a sigmoid to the discriminator's score (the authors' code does,
            under both losses).
        optimizer, discriminator_optimizer, scheduler, critic_steps, ema: as
            :class:`~genhep.models.adversarial.AdversarialModel`.
    """

    def __init__(
        self,
        data_spec: Mapping[str, Any],
        generator: NetworkFactory,
        discriminator: NetworkFactory,
        loss: str = "lsgan",
        gradient_penalty: float = 10.0,
        sigmoid_output: bool = True,
        optimizer: OptimizerFactory | None = None,
        discriminator_optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        critic_steps: int = 1,
        ema: float | None = None,
    ) -> None:
        super().__init__(
            data_spec, optimizer, discriminator_optimizer, scheduler, critic_steps, ema
        )
        if loss not in LOSSES:
            raise ValueError(f"model.loss must be one of {LOSSES}, got {loss!r}")
        self.save_hyperparameters(
            ignore=[
                "generator",
                "discriminator",
                "optimizer",
                "discriminator_optimizer",
                "scheduler",
            ]
        )
        n_particles, n_features = self.data_spec.event_shape
        self.generator = generator(n_particles=n_particles, n_features=n_features)
        if not isinstance(self.generator, CloudGenerator):
            raise TypeError(
                f"model.generator built a {type(self.generator).__name__}; expected a "
                "genhep.nn.cloud_generators.CloudGenerator (forward(n_genuine) -> (x, mask))"
            )
        self.discriminator = discriminator(n_particles=n_particles, n_features=n_features)
        self.loss, self.penalty_weight, self.sigmoid_output = loss, gradient_penalty, sigmoid_output

    @classmethod
    def incompatibility(cls, spec: DataSpec) -> str | None:
        return cloud_problem(spec)

    def score(self, x: Tensor, mask: Tensor) -> Tensor:
        """The discriminator's output ``(B,)`` (after the sigmoid when ``sigmoid_output``)."""
        out = self.discriminator(x, mask)
        return torch.sigmoid(out) if self.sigmoid_output else out

    @torch.no_grad()
    def sample(self, n: int, cond: Tensor | None = None, mask: Tensor | None = None) -> Generated:
        """``n`` clouds with as many genuine particles as ``mask`` ``(n, N)`` (the real events'
        multiplicities) has per row; returns the particles and the generator's own masks."""
        if mask is None:
            raise ValueError(
                "a cloud GAN samples the multiplicities of real events: pass mask (n, N)"
            )
        return Generated(*self.generator(mask.to(self.device).sum(dim=1)))

    # -- training -----------------------------------------------------------------------

    def _critic(self, batch: Mapping[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """The discriminator's loss without the gradient penalty, and the generated clouds
        ``(x, mask)`` it saw (generated without gradients)."""
        real, mask = batch["x"], batch["mask"]
        with torch.no_grad():
            fake, fake_mask = self.generator(mask.sum(dim=1))
        d_real, d_fake = self.score(real, mask), self.score(fake, fake_mask)
        if self.loss == "lsgan":
            return ((d_real - 1) ** 2).mean() + (d_fake**2).mean(), fake, fake_mask
        return d_fake.mean() - d_real.mean(), fake, fake_mask

    def discriminator_losses(self, batch: Mapping[str, Tensor]) -> Iterator[dict[str, Tensor]]:
        loss, fake, fake_mask = self._critic(batch)
        if self.loss == "lsgan":
            yield {"loss": loss, "d_loss": loss.detach()}
            return
        both = batch["mask"] | fake_mask
        penalty = gradient_penalty(lambda x: self.score(x, both), batch["x"], fake)
        yield {
            "loss": loss + self.penalty_weight * penalty,
            "d_loss": loss.detach(),
            "gradient_penalty": penalty.detach(),
        }

    def generator_losses(self, batch: Mapping[str, Tensor]) -> Iterator[dict[str, Tensor]]:
        d_fake = self.score(*self.generator(batch["mask"].sum(dim=1)))
        loss = ((d_fake - 1) ** 2).mean() if self.loss == "lsgan" else -d_fake.mean()
        yield {"loss": loss, "g_loss": loss.detach()}

    def _value(self, batch: Mapping[str, Tensor], batch_idx: int, stage: str) -> None:
        """``<stage>/loss``: the discriminator's loss (LSGAN; WGAN: ``D(G(z)) − D(x)``, no
        penalty) on the split and as many generated clouds (fixed noise per batch index); it
        moves with the discriminator, so it is not a quality measure (the evaluation's W1M is)."""
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(batch_idx)
            loss = self._critic(batch)[0]
        n = len(batch["x"])
        self.log(f"{stage}/loss", loss, prog_bar=stage == "val", sync_dist=True, batch_size=n)

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._value(batch, batch_idx, "val")

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._value(batch, batch_idx, "test")
