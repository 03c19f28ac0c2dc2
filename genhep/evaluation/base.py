"""The evaluator contract shared by every data family."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass

import numpy as np
from matplotlib.figure import Figure

Sample = dict[str, np.ndarray]
"""Events in physical units: ``x`` (N, *event_shape) and, where the family has them,
``cond`` (N, C) and ``mask`` (N, n particles)."""


def as_float64(sample: Sample) -> Sample:
    """Copy of a sample with floating arrays in float64 (metrics work in double precision)."""
    return {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in sample.items()}


@dataclass(frozen=True)
class Metric:
    """One score: its value, its uncertainty, and the same score for two real samples.

    ``real_vs_real`` is the value the metric takes between two disjoint real samples of
    the same size: how close is close enough. ``None`` where it does not apply.
    """

    value: float
    error: float
    real_vs_real: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {k: (None if v is None else float(v)) for k, v in asdict(self).items()}

    def __str__(self) -> str:
        text = f"{self.value:.4g} ± {self.error:.2g}"
        if self.real_vs_real is not None and math.isfinite(self.real_vs_real):
            text += f" (real vs real {self.real_vs_real:.4g})"
        return text


class Evaluator(ABC):
    """Maps a generated sample and real samples of one family to named :class:`Metric` s.

    ``real`` is the sample the generated events are compared with; ``reference`` is a
    second real sample, disjoint from ``real``, used for the real-vs-real baseline.
    Metric names are snake case and mean the same in every family (docs/architecture.md).
    """

    @abstractmethod
    def evaluate(self, generated: Sample, real: Sample, reference: Sample) -> dict[str, Metric]:
        """Score ``generated`` against ``real``; fill ``real_vs_real`` from ``reference``."""

    def observables(self, sample: Sample) -> dict[str, np.ndarray]:
        """Per-event 1-D observables (name -> ``(N,)`` array, physical units).

        The evaluation callback stores them for the generated and the real sample, so
        ``genhep report`` can overlay every run's histogram on one plot.
        """
        return {}

    def figures(self, generated: Sample, real: Sample) -> dict[str, Figure]:
        """Figures a person would rather look at than read (name -> matplotlib figure)."""
        return {}
