"""Invertible intensity transforms of jet images that keep zero pixels exactly zero.

Sparsity is the point of jet-image models (SARM: ~93 % of pixels are empty), so every transform
here maps 0 to 0 and back exactly. Physical units: pixel pT in GeV, ``>= 0``, any shape
(``(N, 1, H, W)`` in the data module). The fitted scale ``s`` (GeV) travels in the checkpoint.

* :class:`PixelScale` — ``y = x / s``; inverse ``x = max(y, 0) · s``.
* :class:`LogIntensity` — ``y = log(1 + x / s)``; inverse ``x = s · expm1(max(y, 0))``.

``s`` is given, or fitted on the training images as the ``percentile`` of their non-zero pixels
(100: the largest pixel). The inverses clip negative model outputs to 0 (a pixel pT cannot be
negative); on physical input both round-trip to float precision, zeros exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genhep.data.transforms import Transform

__all__ = ["INTENSITY_TRANSFORMS", "LogIntensity", "PixelScale", "make_image_transform"]

#: ``data.transform`` choices of :class:`~genhep.data.jets.images.JetImageDataModule`.
INTENSITY_TRANSFORMS = {
    "none": "pixel pT in GeV, unchanged",
    "scale": "x / s",
    "log": "log(1 + x / s)",
}


def _check_nonnegative(x: Tensor, name: str) -> None:
    if x.numel() and x.min().item() < 0:
        raise ValueError(f"{name} needs non-negative pixel pT, got min {x.min().item()!r}")


class PixelScale(Transform):
    """``y = x / s``; see the module docstring.

    Args:
        scale: ``s`` in GeV; ``None``: fitted as the ``percentile`` of the non-zero training
            pixels.
        percentile: in (0, 100].
    """

    state_keys = ("scale",)

    def __init__(self, scale: float | None = None, percentile: float = 100.0) -> None:
        if scale is not None and not scale > 0:
            raise ValueError(f"{type(self).__name__} scale must be > 0, got {scale}")
        if not 0.0 < percentile <= 100.0:
            raise ValueError(f"percentile must be in (0, 100], got {percentile}")
        self.percentile = float(percentile)
        self.scale: Tensor | None = (
            None if scale is None else torch.tensor(float(scale), dtype=torch.float64)
        )

    def fit(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> PixelScale:
        if self.scale is None:
            _check_nonnegative(x, type(self).__name__)
            nonzero = x[x > 0].double()
            if nonzero.numel() == 0:
                raise ValueError(f"{type(self).__name__}: every training pixel is zero")
            if self.percentile == 100.0:
                self.scale = nonzero.max().clone()
            else:  # torch.quantile takes at most 2**24 values
                step = max(1, -(-nonzero.numel() // 2**24))
                self.scale = torch.quantile(nonzero[::step], self.percentile / 100.0)
        return self

    def _s(self, x: Tensor) -> Tensor:
        if self.scale is None:
            raise RuntimeError(f"{type(self).__name__} used before fit() or load_state_dict()")
        return self.scale.to(device=x.device, dtype=x.dtype)

    def forward(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        return x / self._s(x)

    def inverse(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        return x.clamp(min=0.0) * self._s(x)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(percentile={self.percentile:g})"


class LogIntensity(PixelScale):
    """``y = log(1 + x / s)``; inverse ``s · expm1(y)``; see the module docstring."""

    def forward(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        return torch.log1p(x / self._s(x))

    def inverse(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        return torch.expm1(x.clamp(min=0.0)) * self._s(x)


def make_image_transform(
    name: str, scale: float | None = None, percentile: float = 100.0
) -> Transform:
    """The data module's ``x`` transform ``name`` (a key of :data:`INTENSITY_TRANSFORMS`)."""
    if name == "none":
        return Transform()
    if name == "scale":
        return PixelScale(scale, percentile)
    if name == "log":
        return LogIntensity(scale, percentile)
    raise ValueError(
        f"unknown jet-image transform {name!r}; choose one of {list(INTENSITY_TRANSFORMS)}"
    )
