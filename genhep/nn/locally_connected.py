"""2-D locally connected layer: a convolution whose filters are not shared across positions.

Keras' ``LocallyConnected2D`` in PyTorch (as used by LAGAN, de Oliveira, Paganini, Nachman
1701.05927): every output position ``(y, x)`` has its own filter bank ``weight[y, x]`` of shape
``(out_channels, in_channels, kh, kw)`` and its own bias ``bias[:, y, x]``::

    out[b, o, y, x] = bias[o, y, x]
                      + Σ_{c, i, j} weight[y, x, o, c, i, j] · x_pad[b, c, s·y + i, s·x + j]

with ``x_pad`` the input zero-padded by ``padding`` on every side and ``s`` the stride. Setting
every ``weight[y, x]`` to one Conv2d kernel (and the bias constant over positions) gives that
convolution back; in general the layer is not translation equivariant, which is the point for
jet images, whose pixels have fixed physical meaning (the leading subjet sits at the centre).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["LocallyConnected2d"]

#: Most window values materialised at once (floats; 128 MiB): larger batches go in chunks.
_MAX_COLUMNS = 2**25


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


class LocallyConnected2d(nn.Module):
    """Locally connected 2-D layer (see the module docstring).

    Args:
        in_channels, out_channels: channel counts C and O.
        in_size: input height and width ``(H, W)`` (the weights are per position, so the input
            size is fixed at construction).
        kernel_size: ``(kh, kw)`` or one int.
        stride: one stride for both axes.
        padding: zeros added on every side before the valid ("no border") window scan.
        bias: a learned bias per output channel and position.

    Shapes: input ``(B, C, H, W)`` → output ``(B, O, H_out, W_out)`` with
    ``H_out = (H + 2·padding − kh) // stride + 1`` (likewise W). Parameters: ``weight``
    ``(H_out, W_out, O, C, kh, kw)``, ``bias`` ``(O, H_out, W_out)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        in_size: int | tuple[int, int],
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if stride < 1 or padding < 0:
            raise ValueError(f"stride must be >= 1 and padding >= 0, got {stride}, {padding}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.in_size, self.kernel_size = _pair(in_size), _pair(kernel_size)
        self.stride, self.padding = stride, padding
        self.out_size = tuple(
            (n + 2 * padding - k) // stride + 1
            for n, k in zip(self.in_size, self.kernel_size, strict=True)
        )
        if min(self.out_size) < 1:
            raise ValueError(
                f"kernel {self.kernel_size} with padding {padding} does not fit input {self.in_size}"
            )
        self.weight = nn.Parameter(
            torch.empty(*self.out_size, out_channels, in_channels, *self.kernel_size)
        )
        self.bias = nn.Parameter(torch.empty(out_channels, *self.out_size)) if bias else None
        self.reset_parameters()

    @property
    def fan_in(self) -> int:
        """Inputs of one output unit: ``C · kh · kw``."""
        return self.in_channels * math.prod(self.kernel_size)

    def reset_parameters(self) -> None:
        """Conv2d's default: weights and biases uniform in ``±1/√fan_in``."""
        bound = 1.0 / math.sqrt(self.fan_in)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != (self.in_channels, *self.in_size):
            raise ValueError(
                f"{type(self).__name__} expects (B, {self.in_channels}, {self.in_size[0]}, "
                f"{self.in_size[1]}) input, got {tuple(x.shape)}"
            )
        (oh, ow), n_in = self.out_size, self.fan_in
        weight = self.weight.reshape(oh * ow, self.out_channels, n_in)
        # the windows of at most _MAX_COLUMNS values at once, batch innermost: one batched
        # matmul over positions, (P, O, C·kh·kw) @ (P, C·kh·kw, b)
        chunk = max(1, _MAX_COLUMNS // (oh * ow * n_in))
        out = torch.cat([torch.bmm(weight, self._columns(part)) for part in x.split(chunk)], 2)
        out = out.permute(2, 1, 0).reshape(len(x), self.out_channels, oh, ow)
        return out if self.bias is None else out + self.bias

    def _columns(self, x: Tensor) -> Tensor:
        """``(b, C, H, W)`` → the input window of every output position
        ``(H_out·W_out, C·kh·kw, b)``."""
        (kh, kw), s = self.kernel_size, self.stride
        batch_last = F.pad(x, [self.padding] * 4).permute(2, 3, 1, 0).contiguous()
        windows = batch_last.unfold(0, kh, s).unfold(1, kw, s)  # (H_out, W_out, C, b, kh, kw)
        windows = windows.permute(0, 1, 2, 4, 5, 3)
        return windows.reshape(windows.shape[0] * windows.shape[1], self.fan_in, len(x))

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, in_size={self.in_size}, "
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"bias={self.bias is not None}"
        )
