"""Edge-conditioned convolution on a dynamic k-nearest-neighbour graph (Simonovsky & Komodakis
1704.02901), as MPGAN's GraphCNN baseline uses it (torch_geometric's ``NNConv`` with
``aggr="mean"``, ``root_weight=True`` on ``knn_graph(x, k, loop=False)``, edge attributes
``x_j − x_i``: rkansal47/MPGAN ``mpgan/ext_models.py``), in plain torch for dense clouds.

For each particle i with neighbours N(i) (the k nearest in the current features, i excluded)::

    x'_i = W x_i + mean_{j ∈ N(i)} x_j · Θ(x_j − x_i) + b        Θ: Linear(F_in → F_in × F_out)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def knn_indices(x: Tensor, k: int) -> Tensor:
    """Indices ``(B, N, k)`` of each particle's ``k`` nearest other particles of its cloud
    (Euclidean distance in the features of ``x`` ``(B, N, F)``; the particle itself excluded)."""
    n = x.shape[1]
    if not 0 < k < n:
        raise ValueError(f"k must be in [1, {n - 1}] for clouds of {n} particles, got {k}")
    distances = torch.cdist(x, x)
    distances.diagonal(dim1=1, dim2=2).fill_(float("inf"))
    return distances.topk(k, dim=2, largest=False).indices


class EdgeConditionedConv(nn.Module):
    """``(B, N, in_features)`` → ``(B, N, out_features)`` on the kNN graph of the input.

    Args:
        in_features, out_features: node features in and out.
        k: neighbours per particle (MPGAN's GraphCNN: 20).
    """

    def __init__(self, in_features: int, out_features: int, k: int = 20) -> None:
        super().__init__()
        self.in_features, self.out_features, self.k = in_features, out_features, k
        self.edge_weights = nn.Linear(in_features, in_features * out_features)
        self.root = nn.Linear(in_features, out_features)

    def forward(self, x: Tensor) -> Tensor:
        b, n, f = x.shape
        neighbours = knn_indices(x, self.k)  # (B, N, k)
        x_j = torch.gather(
            x[:, None].expand(b, n, n, f), 2, neighbours[..., None].expand(b, n, self.k, f)
        )  # (B, N, k, F)
        theta = self.edge_weights(x_j - x[:, :, None]).view(b, n, self.k, f, self.out_features)
        messages = torch.einsum("bnkf,bnkfo->bnko", x_j, theta)
        return self.root(x) + messages.mean(dim=2)
