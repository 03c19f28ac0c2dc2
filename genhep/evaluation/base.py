"""The evaluator contract shared by every data family."""

from __future__ import annotations

import inspect
import logging
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
from matplotlib.figure import Figure

from genhep.utils.progress import Advance, progress_step

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


class EvaluatorSettingError(TypeError):
    """An evaluator setting (``data.evaluator.<key>``) the evaluator does not have."""


class Evaluator(ABC):
    """Maps a generated sample and real samples of one family to named :class:`Metric` s.

    ``real`` is the sample the generated events are compared with; ``reference`` is a
    second real sample, disjoint from ``real``, used for the real-vs-real baseline.
    Metric names are snake case and mean the same in every family (docs/architecture.md).

    Settings: a family's data module builds its evaluator with the ``data.evaluator``
    mapping of its config as keyword arguments (``conf/data/<family>.yaml`` documents them).
    A subclass's constructor ends with ``**unknown`` and calls ``super().__init__(**unknown)``,
    which rejects any key it was given but does not take, naming the key and the valid ones.

    Two attributes every evaluator has:

    * ``progress``: show named steps of long computations (:meth:`step`); off unless the
      caller turns it on (the evaluation callback and ``genhep evaluate`` pass their own
      ``progress``);
    * ``skipped``: metrics the last :meth:`evaluate` left out, name -> reason (written to
      ``results.json``): a metric that cannot be computed as defined is absent, never
      replaced by something else under its name.
    """

    #: constructor arguments the data module fills in from the data config (not settings)
    from_data: ClassVar[tuple[str, ...]] = ()
    #: axis labels of :meth:`observables` (name -> label; a missing name is its own label)
    observable_labels: ClassVar[dict[str, str]] = {}

    def __init__(self, **unknown: Any) -> None:
        if unknown:
            key = sorted(unknown)[0]
            raise EvaluatorSettingError(
                f"unknown evaluator setting data.evaluator.{key} for {type(self).__name__}; "
                f"valid settings: {', '.join(self.settings())}"
            )
        self.progress = False
        self.skipped: dict[str, str] = {}

    @classmethod
    def settings(cls) -> list[str]:
        """The names ``data.evaluator`` may set: the constructor's keyword arguments."""
        parameters = inspect.signature(cls.__init__).parameters.values()
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return [
            p.name
            for p in parameters
            if p.kind in kinds and p.name != "self" and p.name not in cls.from_data
        ]

    @contextmanager
    def step(self, name: str, total: int | None = None) -> Iterator[Advance]:
        """Show ``name`` while the block runs (if :attr:`progress`); yields ``advance(n=1)``
        for a bar of ``total`` units."""
        with progress_step(name, total, enabled=self.progress) as advance:
            yield advance

    def skip(self, name: str, reason: str, warn: bool = True) -> None:
        """Record (in :attr:`skipped`) and log that metric ``name`` is left out, and why."""
        self.skipped[name] = reason
        logger = logging.getLogger(type(self).__module__)
        (logger.warning if warn else logger.info)("%s not computed: %s", name, reason)

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
