"""PC-JeDi's permutation-equivariant transformer denoiser (Leigh et al. 2303.05376;
rodem-hep/PC-JeDi): particle tokens of width ``dim`` through pre-norm transformer encoder
layers without positional encoding, the context (time encoding, condition, multiplicity)
added to every token. Padded particles are keys nobody attends to and outputs of zero.
"""

from __future__ import annotations

from torch import Tensor, nn

from genhep.nn.time_embedding import Context, genuine


class CloudTransformer(nn.Module):
    """Denoiser ``(x (B, N, F), noise level (B,), cond (B, C) or None, mask (B, N)) -> (B, N, F)``.

    Args:
        features: ``F``; cond_dim: ``C`` (PC-JeDi: jet pT and mass); dim: token width (128);
        layers: encoder layers (4); heads: attention heads (8); feedforward: hidden width of
        each layer's MLP (256); time_dim: time encoding (32).
    """

    def __init__(
        self,
        features: int,
        cond_dim: int = 0,
        dim: int = 128,
        layers: int = 4,
        heads: int = 8,
        feedforward: int = 256,
        time_dim: int = 32,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.context = Context(dim, cond_dim=cond_dim, extra_dim=1, time_dim=time_dim)
        self.inp = nn.Linear(features, dim)
        layer = nn.TransformerEncoderLayer(
            dim,
            heads,
            feedforward,
            dropout=dropout,
            batch_first=True,
            norm_first=True,
            activation="gelu",
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, features))

    def forward(
        self, x: Tensor, noise_level: Tensor, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        mask, weight, multiplicity = genuine(x, mask)
        context = self.context(noise_level, cond, multiplicity)
        h = self.inp(x) + context[:, None]
        h = self.encoder(h, src_key_padding_mask=~mask)
        return self.out(h) * weight
