"""Particle-cloud discriminators of MPGAN's Table 2 (Kansal et al. 2106.11535), for
:class:`genhep.models.cloud_gan.CloudGAN`.

Every discriminator maps particles ``(B, N, F)`` and their mask ``(B, N)`` to one score per
cloud ``(B,)`` *before* the output activation (the model applies the sigmoid the authors' code
ends every discriminator with). Padded particles are zeroed before the set networks see them
(the authors' PointNet "padded particles zeroed"); the message-passing discriminator also
ignores them in its messages and its sum. Architectures as ``trained_models/*/args.txt`` and
``mpgan/ext_models.py`` of rkansal47/MPGAN (``../shared/references/models.md``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from genhep.nn.message_passing import MessagePassingNetwork
from genhep.nn.mlp import leaky_stack


def _zero_padding(x: Tensor, mask: Tensor) -> Tensor:
    return x * mask[..., None].to(x.dtype)


class MPDiscriminator(nn.Module):
    """MPGAN's discriminator: two message-passing layers (dropout after every linear layer),
    a sum over genuine particles, ``Linear(hidden → 1)`` with dropout.

    Args:
        n_particles, n_features: the clouds (filled in by the model).
        hidden_features, layers, edge_hidden, node_hidden, slope: the message-passing network
            (32, 2, [96, 160, 192], [256, 256], 0.2).
        dropout: after every linear layer, the last included (0.5).
    """

    def __init__(
        self,
        n_particles: int,
        n_features: int,
        hidden_features: int = 32,
        layers: int = 2,
        edge_hidden: Sequence[int] = (96, 160, 192),
        node_hidden: Sequence[int] = (256, 256),
        slope: float = 0.2,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.net = MessagePassingNetwork(
            n_features, hidden_features, hidden_features, layers, edge_hidden, node_hidden, slope,
            dropout,
        )  # fmt: skip
        self.head = nn.Sequential(nn.Linear(hidden_features, 1), nn.Dropout(dropout))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        nodes = _zero_padding(self.net(x, mask), mask)
        return self.head(nodes.sum(dim=1)).squeeze(1)


class FCDiscriminator(nn.Module):
    """The FC baseline (r-GAN's discriminator): a per-particle network ``F → point`` (64, 128,
    256, 256, 512) with LeakyReLU, max over particles, ``head`` (64, 128) with LeakyReLU → 1.

    Args:
        n_particles, n_features: the clouds (filled in by the model).
        point, head: layer sizes of the per-particle and the pooled networks.
        slope: LeakyReLU negative slope (0.2).
    """

    def __init__(
        self,
        n_particles: int,
        n_features: int,
        point: Sequence[int] = (64, 128, 256, 256, 512),
        head: Sequence[int] = (64, 128),
        slope: float = 0.2,
    ) -> None:
        super().__init__()
        self.point = leaky_stack([n_features, *point], slope, 0.0, True)
        self.head = leaky_stack([point[-1], *head, 1], slope, 0.0, False)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        pooled = self.point(_zero_padding(x, mask)).amax(dim=1)
        return self.head(pooled).squeeze(1)


class PointNetMixDiscriminator(nn.Module):
    """PointNet-Mix (Wang et al. 2020): a per-particle network ``F → point`` (64, 128, 1024)
    with LeakyReLU, the max and the mean over particles concatenated, ``head`` (512) with
    LeakyReLU → 1.

    Args:
        n_particles, n_features: the clouds (filled in by the model).
        point, head: layer sizes of the per-particle and the pooled networks.
        slope: LeakyReLU negative slope (0.2).
    """

    def __init__(
        self,
        n_particles: int,
        n_features: int,
        point: Sequence[int] = (64, 128, 1024),
        head: Sequence[int] = (512,),
        slope: float = 0.2,
    ) -> None:
        super().__init__()
        self.point = leaky_stack([n_features, *point], slope, 0.0, True)
        self.head = leaky_stack([2 * point[-1], *head, 1], slope, 0.0, False)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        points = self.point(_zero_padding(x, mask))
        pooled = torch.cat([points.amax(dim=1), points.mean(dim=1)], dim=1)
        return self.head(pooled).squeeze(1)
