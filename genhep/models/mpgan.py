"""MPGAN: the message-passing GAN for particle clouds (Kansal et al., NeurIPS 2021, 2106.11535).

As the paper's trained models were configured (``trained_models/*/args.txt`` and
``mpgan/model.py`` of rkansal47/MPGAN; ``../shared/references/models.md``):

Generator: per-particle noise ``(B, N, 32)`` ~ N(0, σ² = 0.2²) (MP-LFC: a latent vector
``(B, 128)`` through ``Linear(128 → N × 32)`` instead) → two fully connected message-passing
layers (:class:`~genhep.nn.message_passing.MessagePassingNetwork`: edge MLP [96, 160, 192],
node MLP [256, 256], LeakyReLU(0.2), 32 features between layers) → ``tanh`` → ``(B, N, F)``.
Masks (``mask_c``): N genuine particles per jet, N from the real batch in training and from the
real events' multiplicities at sampling (never learned); the N particles with the smallest first
noise coordinate are genuine (:func:`~genhep.nn.message_passing.genuine_by_noise_rank`; the
authors' ``argsort`` rank); messages from masked senders are zeroed.

Discriminator: the same two layers on the particle features (dropout 0.5 after every linear
layer), a sum over genuine particles, ``Linear(32 → 1)`` (dropout too), sigmoid.

Loss: LSGAN, ``(D(x) − 1)²`` and ``D(G(z))²`` for the discriminator, ``(D(G(z)) − 1)²`` for the
generator; one discriminator step per generator step; RMSprop with the discriminator's learning
rate three times the generator's (the configs). Data: ``data.transform=max_abs`` (features in
[−1, 1] for the tanh output, as the authors' preprocessing).

Status: the model trains and samples; the experiment of issue 12 (Table 2) is not built yet.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from genhep.models.adversarial import AdversarialModel
from genhep.models.base import Generated, OptimizerFactory, SchedulerFactory
from genhep.nn.message_passing import MessagePassingNetwork, genuine_by_noise_rank
from genhep.spec import DataSpec, cloud_problem


class MPGenerator(nn.Module):
    """Noise ``(B, N, noise_features)`` (or ``(B, latent)`` with ``latent_fc``) and a mask
    ``(B, N)`` → particles ``(B, N, out_features)`` in (−1, 1)."""

    def __init__(
        self,
        n_particles: int,
        out_features: int,
        noise_features: int,
        latent_fc: int | None,
        network: dict[str, Any],
    ) -> None:
        super().__init__()
        self.n_particles, self.noise_features = n_particles, noise_features
        self.lfc = None if latent_fc is None else nn.Linear(latent_fc, n_particles * noise_features)
        self.net = MessagePassingNetwork(noise_features, out_features, **network)

    def forward(self, noise: Tensor, mask: Tensor) -> Tensor:
        if self.lfc is not None:
            noise = self.lfc(noise).reshape(len(noise), self.n_particles, self.noise_features)
        return torch.tanh(self.net(noise, mask))


class MPDiscriminator(nn.Module):
    """Particles ``(B, N, F)`` and mask ``(B, N)`` → probability of being real ``(B,)``."""

    def __init__(self, in_features: int, network: dict[str, Any], dropout: float) -> None:
        super().__init__()
        hidden = network.get("hidden_features", 32)
        self.net = MessagePassingNetwork(in_features, hidden, **network, dropout=dropout)
        self.head = nn.Sequential(nn.Linear(hidden, 1), nn.Dropout(dropout))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        nodes = self.net(x, mask) * mask[..., None].to(x.dtype)
        return torch.sigmoid(self.head(nodes.sum(dim=1))).squeeze(1)


class MessagePassingGAN(AdversarialModel):
    """``model=mpgan`` for masked particle clouds (see the module docstring).

    Args:
        data_spec: filled in by the runner (``(N, F)`` clouds with a mask).
        noise_features: per-particle noise features (32).
        noise_std: standard deviation of the noise (0.2).
        latent_fc: MP-LFC's latent size (128), or ``None`` for per-particle noise (MPGAN).
        hidden_features, layers, edge_hidden, node_hidden, slope: the message-passing networks
            (32, 2, [96, 160, 192], [256, 256], 0.2), the same in both networks.
        dropout: the discriminator's dropout (0.5).
        optimizer, discriminator_optimizer, scheduler, critic_steps, ema: as
            :class:`~genhep.models.adversarial.AdversarialModel`.
    """

    def __init__(
        self,
        data_spec: Mapping[str, Any],
        noise_features: int = 32,
        noise_std: float = 0.2,
        latent_fc: int | None = None,
        hidden_features: int = 32,
        layers: int = 2,
        edge_hidden: Sequence[int] = (96, 160, 192),
        node_hidden: Sequence[int] = (256, 256),
        slope: float = 0.2,
        dropout: float = 0.5,
        optimizer: OptimizerFactory | None = None,
        discriminator_optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        critic_steps: int = 1,
        ema: float | None = None,
    ) -> None:
        super().__init__(
            data_spec, optimizer, discriminator_optimizer, scheduler, critic_steps, ema
        )
        self.save_hyperparameters(ignore=["optimizer", "discriminator_optimizer", "scheduler"])
        n_particles, n_features = self.data_spec.event_shape
        self.noise_features, self.noise_std, self.latent_fc = noise_features, noise_std, latent_fc
        network = {
            "hidden_features": hidden_features,
            "layers": layers,
            "edge_hidden": list(edge_hidden),
            "node_hidden": list(node_hidden),
            "slope": slope,
        }
        self.generator = MPGenerator(n_particles, n_features, noise_features, latent_fc, network)
        self.discriminator = MPDiscriminator(n_features, network, dropout)

    @classmethod
    def incompatibility(cls, spec: DataSpec) -> str | None:
        return cloud_problem(spec)

    # -- generation ---------------------------------------------------------------------

    def _generate(self, n_genuine: Tensor) -> tuple[Tensor, Tensor]:
        """Particles ``(B, N, F)`` and their mask for ``n_genuine`` ``(B,)`` genuine particles."""
        n_particles = self.data_spec.event_shape[0]
        b = len(n_genuine)
        noise = self.noise_std * torch.randn(
            b, n_particles, self.noise_features, device=self.device
        )
        mask = genuine_by_noise_rank(noise, n_genuine)
        latent = (
            noise if self.latent_fc is None else torch.randn(b, self.latent_fc, device=self.device)
        )
        x = self.generator(latent, mask)
        return x * mask[..., None].to(x.dtype), mask

    @torch.no_grad()
    def sample(self, n: int, cond: Tensor | None = None, mask: Tensor | None = None) -> Generated:
        """``n`` clouds with as many genuine particles as ``mask`` ``(n, N)`` (the real events'
        multiplicities) has per row; returns the particles and the model's own masks."""
        if mask is None:
            raise ValueError("MPGAN samples the multiplicities of real events: pass mask (n, N)")
        x, own = self._generate(mask.to(self.device).sum(dim=1))
        return Generated(x, own)

    # -- training (LSGAN) ---------------------------------------------------------------

    def discriminator_losses(self, batch: Mapping[str, Tensor]) -> Iterator[dict[str, Tensor]]:
        real, mask = batch["x"], batch["mask"]
        with torch.no_grad():
            fake, fake_mask = self._generate(mask.sum(dim=1))
        d_real = self.discriminator(real, mask)
        d_fake = self.discriminator(fake, fake_mask)
        loss = ((d_real - 1) ** 2).mean() + (d_fake**2).mean()
        yield {"loss": loss, "d_loss": loss.detach()}

    def generator_losses(self, batch: Mapping[str, Tensor]) -> Iterator[dict[str, Tensor]]:
        fake, fake_mask = self._generate(batch["mask"].sum(dim=1))
        loss = ((self.discriminator(fake, fake_mask) - 1) ** 2).mean()
        yield {"loss": loss, "g_loss": loss.detach()}

    def _value(self, batch: Mapping[str, Tensor], batch_idx: int, stage: str) -> None:
        """``<stage>/loss``: the discriminator's LSGAN loss on the split and as many generated
        clouds (fixed noise per batch index); it moves with the discriminator, so it is not a
        quality measure (the evaluation's W1M is)."""
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(batch_idx)
            loss = next(self.discriminator_losses(batch))["loss"]
        n = len(batch["x"])
        self.log(f"{stage}/loss", loss, prog_bar=stage == "val", sync_dist=True, batch_size=n)

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._value(batch, batch_idx, "val")

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self._value(batch, batch_idx, "test")
