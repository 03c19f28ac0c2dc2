"""Particle-cloud generators of MPGAN's Table 2 (Kansal et al. 2106.11535), for
:class:`genhep.models.cloud_gan.CloudGAN`.

Every generator draws its own noise: ``generator(n_genuine)`` with ``n_genuine`` ``(B,)`` the
number of genuine particles of each cloud (from the real batch in training, from real events'
multiplicities at sampling) returns particles ``(B, N, F)`` and their mask ``(B, N)`` bool,
padding exactly zero. Which particles are genuine:

- message-passing generators (MP, MP-LFC): the ``n`` with the smallest first coordinate of
  the per-particle input (the noise; MP-LFC: the output of its latent layer), as the authors'
  ``mask_c`` (``x[:, :, 0].argsort(1).argsort(1) <= n - 1`` after ``_pre_mp``,
  rkansal47/MPGAN ``mpgan/model.py``); messages from masked particles are zeroed;
- slot generators (FC, GraphCNN), whose outputs are tied to fixed slots: the first ``n``
  slots, the order of JetNet's pT-sorted particles (genuine first). The paper's baselines had
  no mask at all and had to produce the padding themselves; here every generator is given the
  real multiplicities, so the comparison isolates the architectures (stated in the experiment's
  README).

Architectures as the authors' ``trained_models/*/args.txt`` and ``mpgan/ext_models.py``
(``../shared/references/models.md``).
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from genhep.nn.edge_conv import EdgeConditionedConv
from genhep.nn.message_passing import MessagePassingNetwork, genuine_by_noise_rank
from genhep.nn.mlp import leaky_stack


def leading_slots(n_genuine: Tensor, n_particles: int) -> Tensor:
    """Mask ``(B, N)`` bool with the first ``n_genuine[b]`` slots of each cloud genuine."""
    slots = torch.arange(n_particles, device=n_genuine.device)
    return slots[None] < n_genuine[:, None]


class CloudGenerator(nn.Module, metaclass=ABCMeta):
    """Base: ``forward(n_genuine)`` → ``(x (B, N, F), mask (B, N))``, padding zero."""

    def __init__(self, n_particles: int, n_features: int) -> None:
        super().__init__()
        self.n_particles, self.n_features = n_particles, n_features

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @abstractmethod
    def generate(self, n_genuine: Tensor) -> tuple[Tensor, Tensor]:
        """Particles ``(B, N, F)`` and mask ``(B, N)`` for ``n_genuine`` ``(B,)``, before the
        padding is zeroed."""

    def forward(self, n_genuine: Tensor) -> tuple[Tensor, Tensor]:
        x, mask = self.generate(n_genuine.to(self.device))
        return x * mask[..., None].to(x.dtype), mask


class MPGenerator(CloudGenerator):
    """MPGAN's generator: per-particle noise ``(B, N, noise_features)`` ~ N(0, noise_std²)
    (MP-LFC: a latent ``(B, latent_fc)`` ~ N(0, 1) through ``Linear(latent_fc → N ×
    noise_features)``), two fully connected message-passing layers, tanh.

    Args:
        n_particles, n_features: the clouds (filled in by the model).
        noise_features, noise_std: per-particle noise (32, 0.2).
        latent_fc: MP-LFC's latent size (128); ``None``: MPGAN's per-particle noise.
        hidden_features, layers, edge_hidden, node_hidden, slope: the message-passing network
            (:class:`~genhep.nn.message_passing.MessagePassingNetwork`; 32, 2, [96, 160, 192],
            [256, 256], 0.2).
    """

    def __init__(
        self,
        n_particles: int,
        n_features: int,
        noise_features: int = 32,
        noise_std: float = 0.2,
        latent_fc: int | None = None,
        hidden_features: int = 32,
        layers: int = 2,
        edge_hidden: Sequence[int] = (96, 160, 192),
        node_hidden: Sequence[int] = (256, 256),
        slope: float = 0.2,
    ) -> None:
        super().__init__(n_particles, n_features)
        self.noise_features, self.noise_std, self.latent_fc = noise_features, noise_std, latent_fc
        self.lfc = None if latent_fc is None else nn.Linear(latent_fc, n_particles * noise_features)
        self.net = MessagePassingNetwork(
            noise_features, n_features, hidden_features, layers, edge_hidden, node_hidden, slope
        )

    def generate(self, n_genuine: Tensor) -> tuple[Tensor, Tensor]:
        b = len(n_genuine)
        if self.lfc is None:
            nodes = self.noise_std * torch.randn(
                b, self.n_particles, self.noise_features, device=self.device
            )
        else:
            latent = torch.randn(b, self.latent_fc, device=self.device)
            nodes = self.lfc(latent).view(b, self.n_particles, self.noise_features)
        mask = genuine_by_noise_rank(nodes, n_genuine)
        return torch.tanh(self.net(nodes, mask)), mask


class FCGenerator(CloudGenerator):
    """The FC baseline (r-GAN's generator, Achlioptas et al.): latent ``(B, latent)`` ~ N(0, 1)
    → ``hidden`` (64, 128) with LeakyReLU → ``N × F`` → tanh; the first ``n`` slots genuine.

    Args:
        n_particles, n_features: the clouds (filled in by the model).
        latent: latent size (128).
        hidden: hidden layer sizes ([64, 128]).
        slope: LeakyReLU negative slope (0.2).
    """

    def __init__(
        self,
        n_particles: int,
        n_features: int,
        latent: int = 128,
        hidden: Sequence[int] = (64, 128),
        slope: float = 0.2,
    ) -> None:
        super().__init__(n_particles, n_features)
        self.latent = latent
        self.net = leaky_stack([latent, *hidden, n_particles * n_features], slope, 0.0, False)

    def generate(self, n_genuine: Tensor) -> tuple[Tensor, Tensor]:
        b = len(n_genuine)
        x = torch.tanh(self.net(torch.randn(b, self.latent, device=self.device)))
        return x.view(b, self.n_particles, self.n_features), leading_slots(
            n_genuine, self.n_particles
        )


class GraphCNNGenerator(CloudGenerator):
    """The GraphCNN baseline (Valsesia et al.): latent ``(B, latent)`` ~ N(0, 1) →
    ``Linear(latent → N × features[0])`` + LeakyReLU → edge-conditioned convolutions
    ``features[0] → features[1] → … → F`` on the dynamic kNN graph (k = 20), each followed by
    batch norm over all particles, LeakyReLU between them; no tanh (the authors'
    ``graphcnng_tanh: False``); the first ``n`` slots genuine.

    Args:
        n_particles, n_features: the clouds (filled in by the model).
        latent: latent size (128).
        features: node features of the convolutions before the output ([32, 24]).
        k: neighbours per particle (20).
        slope: LeakyReLU negative slope (0.2).
    """

    def __init__(
        self,
        n_particles: int,
        n_features: int,
        latent: int = 128,
        features: Sequence[int] = (32, 24),
        k: int = 20,
        slope: float = 0.2,
    ) -> None:
        super().__init__(n_particles, n_features)
        self.latent, self.first = latent, features[0]
        self.dense = nn.Sequential(
            nn.Linear(latent, n_particles * features[0]), nn.LeakyReLU(slope)
        )
        sizes = [*features, n_features]
        self.convs = nn.ModuleList(
            EdgeConditionedConv(a, b, k) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for b in sizes[1:])
        self.activation = nn.LeakyReLU(slope)

    def generate(self, n_genuine: Tensor) -> tuple[Tensor, Tensor]:
        b = len(n_genuine)
        x = self.dense(torch.randn(b, self.latent, device=self.device))
        x = x.view(b, self.n_particles, self.first)
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            x = norm(conv(x).flatten(0, 1)).view(b, self.n_particles, -1)
            if i < len(self.convs) - 1:
                x = self.activation(x)
        return x, leading_slots(n_genuine, self.n_particles)
