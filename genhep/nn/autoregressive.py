"""A recurrent network over the pixels of an image in a fixed order, with O(1) sampling steps.

:class:`OrderedPixelGRU` maps pixel features, read in a generation order (:mod:`genhep.nn.orders`),
to the parameters of each pixel's conditional distribution p(x_t | x_<t, cond). The input of step
``t`` is what is known before pixel ``order[t]`` is drawn:

* the features of the previous pixel ``order[t − 1]``, so that the GRU state summarises every
  earlier pixel;
* the features of the already generated pixels in the ``(2 r + 1)²`` window around ``order[t]``
  (:func:`~genhep.nn.orders.causal_neighbours`), the local context a 1-D sequence loses;
* a learned embedding of the step ``t`` (which pixel comes next) and the condition.

Pixel features ``(B, N + 1, F)`` are a table indexed by flat pixel; row ``N`` is all zeros and
stands for "not available", so callers encode a known pixel with at least one non-zero feature.
The GRU state after step ``t`` gives the parameters of pixel ``order[t]`` through an MLP head.
Changing pixel ``order[j]`` cannot change the output of any step ``t <= j``.

Two stages (SARM-2): steps ``t < split`` use one GRU and head, the later steps a second GRU and
head that start from the first GRU's state after step ``split − 1``.

Training runs ``nn.GRU`` over the whole sequence at once (teacher forcing). Sampling calls
:meth:`start` once, then :meth:`step` once per pixel, carrying the state: a pixel costs one GRU
step whatever its position, and the input gates that do not depend on the pixels (step embedding,
condition, bias) are computed once per batch, not per step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genhep.nn.mlp import mlp
from genhep.nn.orders import causal_neighbours


class OrderedPixelGRU(nn.Module):
    """GRU over ordered pixels with causal neighbourhood inputs; see the module docstring.

    Args:
        order: ``(N,)`` permutation of the flat pixel indices of a ``size × size`` image.
        size: image side in pixels.
        n_features: features per pixel ``F``.
        n_out: parameters per pixel.
        cond_dim: condition size (0: unconditional).
        hidden: GRU state size.
        num_layers: stacked GRU layers.
        embed_dim: size of the learned step embedding.
        radius: neighbourhood radius ``r`` in pixels (0: previous pixel only).
        head_hidden: hidden layer sizes of the output MLP.
        activation: activation of the output MLP.
        split: first step of the second stage; ``None``: one stage.
    """

    def __init__(
        self,
        order: np.ndarray,
        size: int,
        n_features: int,
        n_out: int,
        cond_dim: int = 0,
        hidden: int = 64,
        num_layers: int = 1,
        embed_dim: int = 16,
        radius: int = 1,
        head_hidden: Sequence[int] = (64,),
        activation: str = "silu",
        split: int | None = None,
    ) -> None:
        super().__init__()
        n = size * size
        if sorted(np.asarray(order).tolist()) != list(range(n)):
            raise ValueError(f"order must be a permutation of range({n})")
        if split is not None and not 0 < split < n:
            raise ValueError(f"split must be in [1, {n - 1}], got {split}")
        self.n_pixels, self.cond_dim, self.split = n, cond_dim, split
        self.register_buffer("order", torch.as_tensor(order, dtype=torch.long), persistent=False)
        context = torch.as_tensor(causal_neighbours(np.asarray(order), size, radius))
        self.register_buffer("context", context, persistent=False)
        self.step_embedding = nn.Embedding(n, embed_dim)
        self.n_context_inputs = context.shape[1] * n_features
        n_in = self.n_context_inputs + embed_dim + cond_dim
        n_stages = 1 if split is None else 2
        self.grus = nn.ModuleList(
            nn.GRU(n_in, hidden, num_layers, batch_first=True) for _ in range(n_stages)
        )
        self.heads = nn.ModuleList(
            mlp(hidden, n_out, list(head_hidden), activation) for _ in range(n_stages)
        )

    def forward(self, features: Tensor, cond: Tensor | None = None) -> Tensor:
        """Parameters ``(B, N, n_out)`` of every step from the full feature table ``(B, N + 1, F)``
        (teacher forcing)."""
        batch = features.shape[0]
        context = features.index_select(1, self.context.reshape(-1))
        parts = [
            context.reshape(batch, self.n_pixels, -1),
            self.step_embedding.weight.expand(batch, -1, -1),
        ]
        if self.cond_dim:
            parts.append(cond[:, None, :].expand(-1, self.n_pixels, -1))
        inputs = torch.cat(parts, dim=-1)
        if self.split is None:
            states, _ = self.grus[0](inputs)
            return self.heads[0](states)
        first, last_state = self.grus[0](inputs[:, : self.split])
        second, _ = self.grus[1](inputs[:, self.split :], last_state)
        return torch.cat([self.heads[0](first), self.heads[1](second)], dim=1)

    def start(self, n: int, cond: Tensor | None = None) -> list[tuple[Tensor, Tensor, Tensor]]:
        """Sampling set-up, per stage: the transposed pixel-context weights of the first GRU layer
        ``(C F, 3H)`` and the input gates that do not depend on the pixels — of every step (step
        embedding + bias) ``(N, 3H)`` and of the condition ``(n, 3H)`` (zeros if none)."""
        caches = []
        for gru in self.grus:
            w_context, w_step, w_cond = gru.weight_ih_l0.split(
                [self.n_context_inputs, self.step_embedding.embedding_dim, self.cond_dim], dim=1
            )
            step_gates = F.linear(self.step_embedding.weight, w_step, gru.bias_ih_l0)
            cond_gates = F.linear(cond, w_cond) if self.cond_dim else step_gates.new_zeros(n, 1)
            caches.append((w_context.T.contiguous(), step_gates, cond_gates))
        return caches

    def step(
        self,
        features: Tensor,
        t: int,
        state: list[Tensor] | None,
        cache: list[tuple[Tensor, Tensor, Tensor]],
    ) -> tuple[Tensor, list[Tensor]]:
        """One sampling step: parameters ``(B, n_out)`` of pixel ``order[t]`` and the new state.

        ``features`` ``(B, N + 1, F)`` holds the pixels drawn so far (the rest all zeros);
        ``state`` is what the previous step returned (``None`` at ``t = 0``), ``cache`` what
        :meth:`start` returned. The GRU update is written out (the same arithmetic as
        ``nn.GRU``) so that the pixel-independent input gates are computed once, not per step.
        """
        stage = 0 if self.split is None or t < self.split else 1
        gru, (w_context, step_gates, cond_gates) = self.grus[stage], cache[stage]
        batch = features.shape[0]
        context = features.index_select(1, self.context[t]).reshape(batch, -1)
        input_gates = torch.addmm(cond_gates + step_gates[t], context, w_context)
        if state is None:
            state = [features.new_zeros(batch, gru.hidden_size)] * gru.num_layers
        new_state = []
        for layer, hidden in enumerate(state):
            if layer:
                input_gates = F.linear(
                    new_state[-1],
                    getattr(gru, f"weight_ih_l{layer}"),
                    getattr(gru, f"bias_ih_l{layer}"),
                )
            hidden_gates = F.linear(
                hidden, getattr(gru, f"weight_hh_l{layer}"), getattr(gru, f"bias_hh_l{layer}")
            )
            new_state.append(_gru_update(input_gates, hidden_gates, hidden))
        return self.heads[stage](new_state[-1]), new_state


def _gru_update(input_gates: Tensor, hidden_gates: Tensor, hidden: Tensor) -> Tensor:
    """``nn.GRU``'s state update from its input and hidden gate pre-activations ``(B, 3H)``
    (order reset, update, new) and the state ``(B, H)``."""
    size = hidden.shape[1]
    reset, update = torch.sigmoid(input_gates[:, : 2 * size] + hidden_gates[:, : 2 * size]).chunk(
        2, dim=1
    )
    new = torch.tanh(input_gates[:, 2 * size :] + reset * hidden_gates[:, 2 * size :])
    return new + update * (hidden - new)
