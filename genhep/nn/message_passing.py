"""Fully connected message passing over particle clouds (MPGAN: Kansal et al. 2106.11535).

One layer, for each particle i of a cloud ``x`` ``(B, N, F)``::

    m_ij = f_e([x_i, x_j])                  edge network: Linear + LeakyReLU after every layer
    a_i  = Σ_j mask_j m_ij                  sum over every particle j of the cloud (i included)
    x'_i = f_n([a_i, x_i])                  node network: Linear + LeakyReLU, the last Linear alone

Messages from masked (padded) senders are zeroed, so padding never reaches a genuine particle;
padded receivers still get an output (the caller masks or ignores it). The layer is equivariant
under permutations of the particles. Dropout (``dropout``) follows every linear layer of both
networks, the last included, as in the authors' ``LinearNet`` (``mpgan/model.py``,
rkansal47/MPGAN); their defaults: edge [96, 160, 192], node [256, 256], LeakyReLU(0.2), 32 node
features between layers.

:func:`genuine_by_noise_rank` is MPGAN's generator mask: of each cloud's particles, the ``n``
with the smallest first noise coordinate are genuine (the authors' ``argsort().argsort() <= n - 1``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from genhep.nn.mlp import leaky_stack


class MessagePassing(nn.Module):
    """One fully connected message-passing layer: ``(B, N, in_features)`` → ``(B, N, out_features)``.

    Args:
        in_features, out_features: node features in and out.
        edge_hidden: sizes of the edge network's layers (its output is the last).
        node_hidden: hidden sizes of the node network (then a linear layer to ``out_features``).
        slope: LeakyReLU negative slope.
        dropout: dropout probability after every linear layer (0: none).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        edge_hidden: Sequence[int] = (96, 160, 192),
        node_hidden: Sequence[int] = (256, 256),
        slope: float = 0.2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.edge = leaky_stack([2 * in_features, *edge_hidden], slope, dropout, True)
        node_sizes = [edge_hidden[-1] + in_features, *node_hidden, out_features]
        self.node = leaky_stack(node_sizes, slope, dropout, False)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``x`` ``(B, N, F)``; ``mask`` ``(B, N)`` bool or 0/1, genuine particles (``None``:
        all genuine)."""
        n = x.shape[1]
        receivers = x[:, :, None].expand(-1, -1, n, -1)
        senders = x[:, None].expand(-1, n, -1, -1)
        messages = self.edge(torch.cat([receivers, senders], dim=-1))  # (B, N, N, E)
        if mask is not None:
            messages = messages * mask[:, None, :, None].to(messages.dtype)
        return self.node(torch.cat([messages.sum(dim=2), x], dim=-1))


class MessagePassingNetwork(nn.Module):
    """``layers`` message-passing layers ``in → hidden → … → hidden → out`` (MPGAN: 2).

    Args:
        in_features, out_features: node features of the input and of the output.
        hidden_features: node features between layers (MPGAN: 32).
        layers: number of message-passing layers (>= 1).
        edge_hidden, node_hidden, slope, dropout: as :class:`MessagePassing`.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_features: int = 32,
        layers: int = 2,
        edge_hidden: Sequence[int] = (96, 160, 192),
        node_hidden: Sequence[int] = (256, 256),
        slope: float = 0.2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"a message-passing network needs >= 1 layer, got {layers}")
        sizes = [in_features, *[hidden_features] * (layers - 1), out_features]
        self.layers = nn.ModuleList(
            MessagePassing(a, b, edge_hidden, node_hidden, slope, dropout)
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return x


def genuine_by_noise_rank(noise: Tensor, n_genuine: Tensor) -> Tensor:
    """MPGAN's generator mask ``(B, N)`` bool: in each cloud the ``n_genuine[b]`` particles with
    the smallest ``noise[b, :, 0]`` are genuine.

    Args:
        noise: ``(B, N, F)`` the generator's per-particle noise.
        n_genuine: ``(B,)`` integers in ``[0, N]``, e.g. the real batch's multiplicities.
    """
    rank = noise[:, :, 0].argsort(dim=1).argsort(dim=1)
    return rank < n_genuine.to(rank.device)[:, None]
