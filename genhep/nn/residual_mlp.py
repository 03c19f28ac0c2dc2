"""A conditional residual MLP denoiser for flat events (toy vectors, calorimeter voxels)."""

from __future__ import annotations

from torch import Tensor, nn

from genhep.nn.time_embedding import Context


class ResidualBlock(nn.Module):
    """``h + Linear(SiLU(Linear(SiLU(LayerNorm(h)) + context)))``, ``h`` ``(B, width)``."""

    def __init__(self, width: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.inner = nn.Linear(width, width)
        self.outer = nn.Sequential(nn.SiLU(), nn.Dropout(dropout), nn.Linear(width, width))

    def forward(self, h: Tensor, context: Tensor) -> Tensor:
        return h + self.outer(self.inner(nn.functional.silu(self.norm(h))) + context)


class ResidualMLP(nn.Module):
    """Denoiser ``(x (B, D), noise level (B,), cond (B, C) or None, mask None) -> (B, D)``.

    Args:
        dim: event size ``D``; cond_dim: condition size ``C`` (e.g. 1 for E_inc).
        width: hidden width; blocks: residual blocks; time_dim: time-encoding size.
    """

    def __init__(
        self,
        dim: int,
        cond_dim: int = 0,
        width: int = 256,
        blocks: int = 4,
        time_dim: int = 32,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.context = Context(width, cond_dim=cond_dim, time_dim=time_dim)
        self.inp = nn.Linear(dim, width)
        self.blocks = nn.ModuleList([ResidualBlock(width, dropout) for _ in range(blocks)])
        self.out = nn.Sequential(nn.LayerNorm(width), nn.SiLU(), nn.Linear(width, dim))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(
        self, x: Tensor, noise_level: Tensor, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        context = self.context(noise_level, cond)
        h = self.inp(x.flatten(1))
        for block in self.blocks:
            h = block(h, context)
        return self.out(h).reshape(x.shape)
