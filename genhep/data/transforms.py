"""Invertible preprocessing between physical units and the space a model trains in.

A transform is fitted once on the training split, then maps tensors both ways:
``forward`` (physical -> model space) and ``inverse`` (model space -> physical).
Its fitted parameters travel in the checkpoint through :meth:`Transform.state_dict`
as plain tensors, so a restored run inverts samples exactly as the original did.

One signature for every family: ``fit(x, *, cond=None, mask=None)``,
``forward(x, *, cond=None, mask=None)``, ``inverse(x, *, cond=None, mask=None)``. ``cond`` is
each event's condition in *physical* units (e.g. the incident energy in MeV, which calorimeter
transforms divide by), ``mask`` ``(N, n)`` bool the real particles of a cloud. The data module
always passes both where the family has them; a transform uses what it needs and ignores the
rest.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


class Transform:
    """Base class: the identity. Subclasses override ``fit``, ``forward``, ``inverse``.

    Attributes named in ``state_keys`` are the fitted parameters (tensors).
    """

    state_keys: tuple[str, ...] = ()

    def fit(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Transform:
        """Fit parameters on physical-unit data ``x`` of shape ``(N, *event_shape)``."""
        return self

    def forward(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        """Physical units -> model space."""
        return x

    def inverse(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        """Model space -> physical units."""
        return x

    def __call__(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        return self.forward(x, cond=cond, mask=mask)

    @property
    def fitted(self) -> bool:
        return all(getattr(self, key, None) is not None for key in self.state_keys)

    def state_dict(self) -> dict[str, Tensor]:
        return {key: getattr(self, key) for key in self.state_keys}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        missing = set(self.state_keys) - set(state)
        if missing:
            raise KeyError(f"{type(self).__name__} state lacks {sorted(missing)}")
        for key in self.state_keys:
            setattr(self, key, state[key])

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


Identity = Transform


class Standardize(Transform):
    """Per-feature ``(x - mean) / std`` over the last axis.

    Statistics are taken over every leading axis (events, and the real particles where ``fit``
    gets a mask). A constant feature gets ``std = 1``.
    """

    state_keys = ("mean", "std")

    def __init__(self, eps: float = 1e-8) -> None:
        self.eps = eps
        self.mean: Tensor | None = None
        self.std: Tensor | None = None

    def fit(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Standardize:
        values = x.reshape(-1, x.shape[-1]) if mask is None else x[mask.bool()]
        values = values.double()
        self.mean = values.mean(dim=0)
        std = values.std(dim=0)
        self.std = torch.where(std > self.eps, std, torch.ones_like(std))
        return self

    def _params(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.mean is None or self.std is None:
            raise RuntimeError("Standardize used before fit() or load_state_dict()")
        return self.mean.to(x.device, x.dtype), self.std.to(x.device, x.dtype)

    def forward(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        mean, std = self._params(x)
        return (x - mean) / std

    def inverse(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        mean, std = self._params(x)
        return x * std + mean


class MaxAbs(Transform):
    """Per-feature ``x / max|x| + shift`` over the last axis (MPGAN's preprocessing of particle
    features: each divided by its largest absolute value, ``ptrel`` then shifted by −0.5).

    Args:
        shift: added per feature after the scaling (``None``: zeros).

    The largest absolute values are taken over every leading axis (the real particles where
    ``fit`` gets a mask); a feature that is zero everywhere gets scale 1.
    """

    state_keys = ("scale",)

    def __init__(self, shift: Sequence[float] | None = None) -> None:
        self.shift = None if shift is None else torch.tensor(list(shift), dtype=torch.float64)
        self.scale: Tensor | None = None

    def fit(self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None) -> MaxAbs:
        values = x.reshape(-1, x.shape[-1]) if mask is None else x[mask.bool()]
        largest = values.double().abs().amax(dim=0)
        self.scale = torch.where(largest > 0, largest, torch.ones_like(largest))
        return self

    def _params(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.scale is None:
            raise RuntimeError("MaxAbs used before fit() or load_state_dict()")
        shift = torch.zeros_like(self.scale) if self.shift is None else self.shift
        return self.scale.to(x.device, x.dtype), shift.to(x.device, x.dtype)

    def forward(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        scale, shift = self._params(x)
        return x / scale + shift

    def inverse(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        scale, shift = self._params(x)
        return (x - shift) * scale


class Compose(Transform):
    """Apply transforms in order; ``inverse`` undoes them in reverse order."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def fit(self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None) -> Compose:
        for transform in self.transforms:
            transform.fit(x, cond=cond, mask=mask)
            x = transform.forward(x, cond=cond, mask=mask)
        return self

    @property
    def fitted(self) -> bool:
        return all(t.fitted for t in self.transforms)

    def forward(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        for transform in self.transforms:
            x = transform.forward(x, cond=cond, mask=mask)
        return x

    def inverse(
        self, x: Tensor, *, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        for transform in reversed(self.transforms):
            x = transform.inverse(x, cond=cond, mask=mask)
        return x

    def state_dict(self) -> dict[str, Tensor]:
        return {
            f"{i}.{key}": value
            for i, transform in enumerate(self.transforms)
            for key, value in transform.state_dict().items()
        }

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        for i, transform in enumerate(self.transforms):
            prefix = f"{i}."
            transform.load_state_dict(
                {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            )

    def __repr__(self) -> str:
        return f"Compose({', '.join(map(repr, self.transforms))})"
