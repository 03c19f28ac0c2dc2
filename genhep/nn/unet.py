"""A small conditional U-Net denoiser for one-channel jet images ``(B, 1, S, S)``.

Two resolutions below the input (stride-2 convolutions), residual blocks with GroupNorm and
SiLU, the context (time encoding and condition) added to every block's features, skip
connections by concatenation. Images whose side is not a multiple of 4 (25×25 LAGAN images)
are zero-padded to one and cropped back.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genhep.nn.time_embedding import Context


class _Block(nn.Module):
    """``h + conv(SiLU(norm(conv(SiLU(norm(h))) + context)))`` with a 1×1 skip for new widths."""

    def __init__(self, c_in: int, c_out: int, context: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = (
            nn.GroupNorm(min(8, c_in), c_in),
            nn.Conv2d(c_in, c_out, 3, padding=1),
        )
        self.film = nn.Linear(context, c_out)
        self.norm2, self.conv2 = (
            nn.GroupNorm(min(8, c_out), c_out),
            nn.Conv2d(c_out, c_out, 3, padding=1),
        )
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, h: Tensor, context: Tensor) -> Tensor:
        out = self.conv1(F.silu(self.norm1(h))) + self.film(context)[:, :, None, None]
        return self.skip(h) + self.conv2(F.silu(self.norm2(out)))


class UNet(nn.Module):
    """Denoiser ``(x (B, 1, S, S), noise level (B,), cond (B, C) or None, mask None) -> x-shaped``.

    Args:
        size: the image side ``S``; cond_dim: ``C`` (e.g. 2 for the signal/background one-hot);
        channels: widths at the three resolutions; context: context width.
    """

    def __init__(
        self,
        size: int,
        cond_dim: int = 0,
        channels: tuple[int, int, int] = (32, 64, 96),
        context: int = 128,
        time_dim: int = 32,
    ) -> None:
        super().__init__()
        self.size, self.padded = size, -(-size // 4) * 4
        c1, c2, c3 = channels
        self.context = Context(context, cond_dim=cond_dim, time_dim=time_dim)
        self.inp = nn.Conv2d(1, c1, 3, padding=1)
        self.down1, self.pool1 = _Block(c1, c1, context), nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.down2, self.pool2 = _Block(c2, c2, context), nn.Conv2d(c2, c3, 3, stride=2, padding=1)
        self.mid = _Block(c3, c3, context)
        self.up2, self.up2_block = (
            nn.ConvTranspose2d(c3, c2, 2, stride=2),
            _Block(2 * c2, c2, context),
        )
        self.up1, self.up1_block = (
            nn.ConvTranspose2d(c2, c1, 2, stride=2),
            _Block(2 * c1, c1, context),
        )
        self.out = nn.Sequential(nn.GroupNorm(8, c1), nn.SiLU(), nn.Conv2d(c1, 1, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(
        self, x: Tensor, noise_level: Tensor, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        pad = self.padded - self.size
        h = F.pad(x, (0, pad, 0, pad))
        context = self.context(noise_level, cond)
        h1 = self.down1(self.inp(h), context)
        h2 = self.down2(self.pool1(h1), context)
        h3 = self.mid(self.pool2(h2), context)
        u2 = self.up2_block(torch.cat([self.up2(h3), h2], dim=1), context)
        u1 = self.up1_block(torch.cat([self.up1(u2), h1], dim=1), context)
        return self.out(u1)[..., : self.size, : self.size]
