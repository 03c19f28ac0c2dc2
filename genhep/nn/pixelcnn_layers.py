"""PixelCNN++ layers: causal convolutions by shifting (Salimans et al. 2017, 1701.05517).

Feature maps are ``(B, C, H, W)``; raster order runs along rows (W) first, then down (H).
Instead of masking kernels, PixelCNN++ pads only above (and to the left) so that

* a *down-shifted* convolution (kernel ``(kh, kw)``, ``kw`` odd) at ``(i, j)`` sees rows
  ``i − kh + 1 … i`` and columns ``j − (kw − 1)/2 … j + (kw − 1)/2``;
* a *down-right-shifted* convolution sees rows ``i − kh + 1 … i`` and columns
  ``j − kw + 1 … j``.

Both include the current position; :func:`down_shift` and :func:`right_shift` move a map by
one pixel so that the first layer sees strictly earlier pixels. Their transposed versions
upsample by the stride and keep the same causal structure (output ``(t, u)`` only receives
inputs ``(r, c)`` with ``stride · r ≤ t``, and ``stride · c ≤ u`` for the down-right one).
Every convolution optionally carries weight normalisation (Salimans & Kingma 2016).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm as _weight_norm

__all__ = [
    "DownRightShiftedConv2d",
    "DownRightShiftedConvTranspose2d",
    "DownShiftedConv2d",
    "DownShiftedConvTranspose2d",
    "GatedResNet",
    "concat_elu",
    "down_shift",
    "network_in_network",
    "right_shift",
]


def _normalised(module: nn.Module, weight_norm: bool, dim: int = 0) -> nn.Module:
    return _weight_norm(module, dim=dim) if weight_norm else module


def concat_elu(x: Tensor) -> Tensor:
    """``elu([x, −x])`` along channels: ``(B, C, H, W)`` → ``(B, 2C, H, W)``."""
    return F.elu(torch.cat([x, -x], dim=1))


def down_shift(x: Tensor) -> Tensor:
    """Move ``(B, C, H, W)`` one row down (zero first row, last row dropped)."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


def right_shift(x: Tensor) -> Tensor:
    """Move ``(B, C, H, W)`` one column right (zero first column, last column dropped)."""
    return F.pad(x, (1, 0))[..., :-1]


def network_in_network(in_channels: int, out_channels: int, weight_norm: bool = True) -> nn.Module:
    """A 1×1 convolution (per-pixel linear map of the channels)."""
    return _normalised(nn.Conv2d(in_channels, out_channels, 1), weight_norm)


class DownShiftedConv2d(nn.Module):
    """Convolution that sees the current and ``kh − 1`` rows above, centred horizontally:
    ``(B, C, H, W)`` → ``(B, out, ⌈H / stride⌉, ⌈W / stride⌉)``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int] = (2, 3),
        stride: int = 1,
        weight_norm: bool = True,
    ) -> None:
        super().__init__()
        kh, kw = kernel_size
        if kw % 2 != 1:
            raise ValueError(f"a down-shifted convolution needs an odd kernel width, got {kw}")
        self.padding = ((kw - 1) // 2, (kw - 1) // 2, kh - 1, 0)
        self.conv = _normalised(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride), weight_norm
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, self.padding))


class DownRightShiftedConv2d(nn.Module):
    """Convolution that sees the current and ``kh − 1`` rows above, ``kw − 1`` columns left:
    ``(B, C, H, W)`` → ``(B, out, ⌈H / stride⌉, ⌈W / stride⌉)``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int] = (2, 2),
        stride: int = 1,
        weight_norm: bool = True,
    ) -> None:
        super().__init__()
        kh, kw = kernel_size
        self.padding = (kw - 1, 0, kh - 1, 0)
        self.conv = _normalised(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride), weight_norm
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, self.padding))


class DownShiftedConvTranspose2d(nn.Module):
    """Upsampling by ``stride``: ``(B, C, h, w)`` → ``(B, out, stride·h, stride·w)``; the
    inverse structure of a strided :class:`DownShiftedConv2d` (needs ``kh >= stride``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int] = (2, 3),
        stride: int = 2,
        weight_norm: bool = True,
    ) -> None:
        super().__init__()
        kh, kw = kernel_size
        if kw % 2 != 1 or kh < stride:
            raise ValueError(f"need an odd kernel width and height >= stride, got {kernel_size}")
        self.stride, self.left = stride, (kw - 1) // 2
        deconv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride)
        self.deconv = _normalised(deconv, weight_norm, dim=1)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2] * self.stride, x.shape[-1] * self.stride
        return self.deconv(x)[:, :, :h, self.left : self.left + w]


class DownRightShiftedConvTranspose2d(nn.Module):
    """Upsampling by ``stride``: ``(B, C, h, w)`` → ``(B, out, stride·h, stride·w)``; the
    inverse structure of a strided :class:`DownRightShiftedConv2d` (needs ``kh, kw >= stride``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int] = (2, 2),
        stride: int = 2,
        weight_norm: bool = True,
    ) -> None:
        super().__init__()
        if min(kernel_size) < stride:
            raise ValueError(f"need a kernel at least as large as the stride, got {kernel_size}")
        self.stride = stride
        deconv = nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride)
        self.deconv = _normalised(deconv, weight_norm, dim=1)

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2] * self.stride, x.shape[-1] * self.stride
        return self.deconv(x)[:, :, :h, :w]


class GatedResNet(nn.Module):
    """Gated residual block ``x + a ⊙ σ(b)`` with ``[a, b] = conv₂(drop(ce(c))) + W h`` and
    ``c = conv₁(ce(x)) + nin(ce(skip))`` (``ce``: :func:`concat_elu`).

    Args:
        channels: C of ``x`` ``(B, C, H, W)`` and of the output.
        conv: ``conv(in_channels, out_channels)`` → a causal convolution of stride 1 (a
            :class:`DownShiftedConv2d` or :class:`DownRightShiftedConv2d` factory).
        skip_channels: channels of the optional ``skip`` input ``(B, S, H, W)`` (0: none).
        cond_dim: size of the optional condition ``h`` ``(B, cond_dim)``, added as a learned
            per-channel bias (conditional PixelCNN, van den Oord et al. 2016); 0: none.
        dropout: dropout probability on the hidden features.
        weight_norm: weight-normalise the 1×1 skip convolution.
    """

    def __init__(
        self,
        channels: int,
        conv: Callable[[int, int], nn.Module],
        skip_channels: int = 0,
        cond_dim: int = 0,
        dropout: float = 0.0,
        weight_norm: bool = True,
    ) -> None:
        super().__init__()
        self.conv_in = conv(2 * channels, channels)
        self.skip = (
            network_in_network(2 * skip_channels, channels, weight_norm) if skip_channels else None
        )
        self.dropout = nn.Dropout(dropout)
        self.conv_out = conv(2 * channels, 2 * channels)
        self.cond = None
        if cond_dim:
            self.cond = nn.Linear(cond_dim, 2 * channels, bias=False)
            nn.init.normal_(self.cond.weight, std=0.05)

    def forward(self, x: Tensor, skip: Tensor | None = None, h: Tensor | None = None) -> Tensor:
        """``x`` ``(B, C, H, W)``, ``skip`` ``(B, S, H, W)``, ``h`` ``(B, cond_dim)`` →
        ``(B, C, H, W)``."""
        c = self.conv_in(concat_elu(x))
        if self.skip is not None:
            c = c + self.skip(concat_elu(skip))
        c = self.conv_out(self.dropout(concat_elu(c)))
        if self.cond is not None:
            c = c + self.cond(h)[:, :, None, None]
        a, b = c.chunk(2, dim=1)
        return x + a * torch.sigmoid(b)
