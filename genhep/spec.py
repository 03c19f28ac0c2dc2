"""What a model knows about its data before seeing any of it: :class:`DataSpec`.

The data family fills it in from its configuration alone; the model receives it (as plain
containers, so it travels in checkpoints) and decides with ``accepts(spec)`` whether it can
model such events. This module imports no Lightning and no data family, so models depend on it
and not on :mod:`genhep.data`.

``layout`` names groups of columns of the last axis of ``x`` *in model space*, each column
range ``[start, stop)``::

    {"layers": {"0": (0, 8), "1": (8, 168), ...},       # calorimeter voxels per layer
     "layer_energies": {"u": (368, 373)}}               # CaloFlow u-variables (layer_fractions)
    {"features": {"etarel": (0, 1), "phirel": (1, 2), "ptrel": (2, 3)}}   # particle clouds

so that a model (CaloFlow's flow I, a per-feature cloud network) finds layer energies or
features without knowing a geometry. Families without named columns leave it empty.

The ``*_problem`` functions say why a spec is not of a kind (``None`` when it is); models
build ``incompatibility`` from them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ColumnRanges = Mapping[str, Mapping[str, tuple[int, int]]]


@dataclass(frozen=True)
class DataSpec:
    """Shapes and named columns of a data family's events in model space.

    Attributes:
        family: the data family's name (``"jet_images"``, ``"gaussian_mixture"``, ...).
        event_shape: shape of one event's ``x``, e.g. ``(1, 25, 25)`` or ``(30, 3)``.
        cond_dim: size of the condition vector per event; 0 if unconditional.
        has_mask: whether batches carry a ``mask`` ``(B, N)`` of real particles.
        layout: named column groups of the last axis of ``x`` (see the module docstring).
    """

    family: str
    event_shape: tuple[int, ...]
    cond_dim: int = 0
    has_mask: bool = False
    layout: ColumnRanges = field(default_factory=dict)

    def __post_init__(self) -> None:
        width = self.event_shape[-1] if self.event_shape else 0
        for group, columns in self.layout.items():
            for name, (start, stop) in columns.items():
                if not 0 <= start < stop <= width:
                    raise ValueError(
                        f"DataSpec.layout['{group}']['{name}'] = [{start}, {stop}) lies outside "
                        f"the {width} columns of event_shape {self.event_shape}"
                    )

    @property
    def n_dims(self) -> int:
        """Numbers per event (the product of ``event_shape``): the "dim" of bits per dim."""
        return math.prod(self.event_shape)

    def columns(self, group: str) -> dict[str, slice]:
        """The column slices of a ``layout`` group, in order, e.g. ``columns("layers")``.

        Raises:
            KeyError: the family declares no such group (names the groups it has).
        """
        if group not in self.layout:
            raise KeyError(
                f"data family '{self.family}' has no column group '{group}'; "
                f"its groups: {sorted(self.layout) or 'none'}"
            )
        return {name: slice(start, stop) for name, (start, stop) in self.layout[group].items()}

    def to_dict(self) -> dict[str, Any]:
        """Plain containers only, so checkpoints load with ``weights_only=True``."""
        return {
            "family": self.family,
            "event_shape": list(self.event_shape),
            "cond_dim": self.cond_dim,
            "has_mask": self.has_mask,
            "layout": {
                group: {name: [int(a), int(b)] for name, (a, b) in columns.items()}
                for group, columns in self.layout.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataSpec:
        layout = {
            group: {name: (int(a), int(b)) for name, (a, b) in columns.items()}
            for group, columns in (data.get("layout") or {}).items()
        }
        return cls(**{**data, "event_shape": tuple(data["event_shape"]), "layout": layout})


def family_problem(spec: DataSpec, *families: str) -> str | None:
    """Why ``spec`` is none of ``families`` (``None`` when it is one)."""
    if spec.family in families:
        return None
    return f"it models {' or '.join(families)} data, not '{spec.family}'"


def flat_vector_problem(spec: DataSpec) -> str | None:
    """Why ``spec`` is not a flat vector ``(D,)`` without mask (``None`` when it is)."""
    if len(spec.event_shape) == 1 and not spec.has_mask:
        return None
    return f"it needs flat events (D,) without a mask, got event_shape {spec.event_shape}"


def image_problem(spec: DataSpec, min_side: int = 1) -> str | None:
    """Why ``spec`` is not a square one-channel image ``(1, S, S)``, ``S >= min_side``."""
    shape = spec.event_shape
    if len(shape) == 3 and shape[0] == 1 and shape[1] == shape[2] >= min_side:
        return None
    return f"it needs square one-channel images (1, S, S) with S >= {min_side}, got {shape}"


def cloud_problem(spec: DataSpec) -> str | None:
    """Why ``spec`` is not a masked particle cloud ``(N, F)`` (``None`` when it is)."""
    if len(spec.event_shape) == 2 and spec.has_mask:
        return None
    return f"it needs masked particle clouds (N, F), got event_shape {spec.event_shape}"


def first_problem(*problems: str | None) -> str | None:
    """The first of ``problems`` that is not ``None``."""
    return next((p for p in problems if p is not None), None)
