"""Minibatch discrimination (Salimans et al. 2016, "Improved techniques for training GANs",
1606.03498, §3.2), as in LAGAN's discriminator.

A discriminator that sees each example alone cannot tell that a generator has collapsed onto a
few outputs; minibatch features let it see how close an example is to the rest of its batch.
For features ``f`` ``(B, A)``, a learned tensor ``T`` maps each row to ``M_i`` ``(K, D)``
(``K`` kernels of dimension ``D``), and for every kernel ``k``::

    c_k(i, j) = exp(−‖M_{i,k} − M_{j,k}‖₁),      o(x_i)_k = Σ_j c_k(i, j)

with ``j`` over the whole batch, ``i`` included (as in the paper and LAGAN's Keras code, so
``o ≥ 1``). The layer outputs ``[f, o(f)]`` ``(B, A + K)``. A batch must hold only real or only
generated examples, or the features leak the labels.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["MinibatchDiscrimination", "minibatch_features"]


def minibatch_features(m: Tensor) -> Tensor:
    """``o`` ``(B, K)`` from ``M`` ``(B, K, D)``: per kernel, the sum over the batch of
    ``exp(−L1 distance)`` between rows (see the module docstring)."""
    distances = torch.cdist(m.transpose(0, 1), m.transpose(0, 1), p=1.0)  # (K, B, B)
    return torch.exp(-distances).sum(dim=2).transpose(0, 1)


class MinibatchDiscrimination(nn.Module):
    """``f`` ``(B, in_features)`` → ``[f, o(f)]`` ``(B, in_features + n_kernels)``.

    Args:
        in_features: A, the width of the incoming features.
        n_kernels: K, the number of minibatch features.
        kernel_dim: D, the dimension each row is projected to per kernel.

    ``T`` is a linear map with bias (LAGAN's ``Dense3D``), weight ``(K · D, A)``.
    """

    def __init__(self, in_features: int, n_kernels: int, kernel_dim: int) -> None:
        super().__init__()
        self.in_features, self.n_kernels, self.kernel_dim = in_features, n_kernels, kernel_dim
        self.out_features = in_features + n_kernels
        self.projection = nn.Linear(in_features, n_kernels * kernel_dim)

    def forward(self, f: Tensor) -> Tensor:
        m = self.projection(f).reshape(len(f), self.n_kernels, self.kernel_dim)
        return torch.cat([f, minibatch_features(m)], dim=1)
