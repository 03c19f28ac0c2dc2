"""Evaluator of the toy family (``data=gaussian_mixture``): scores against the analytic truth."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from genhep.evaluation.base import Evaluator, Metric, Sample
from genhep.metrics.wasserstein import wasserstein_1d_with_error
from genhep.plotting import histogram_overlay, scatter_comparison

if TYPE_CHECKING:
    from genhep.data.gaussian_mixture import GaussianMixture


class GaussianMixtureEvaluator(Evaluator):
    """Scores against the analytic truth.

    - ``nll_true``: mean −log p_true(x_gen | c) in nats (± standard error); its
      real-vs-real value is the same quantity for real events (≈ the entropy).
    - ``w1_x{i}``: W1 of dimension i between the generated events and fresh truth
      events drawn at the same conditions (± bootstrap); ``w1_mean`` averages them.

    Args:
        truth: the analytic mixture (from the data module).
        seed: seed of the fresh truth events and of the bootstraps.
        n_bootstrap: resamples for the W1 errors.
    """

    from_data = ("truth",)

    def __init__(
        self, truth: GaussianMixture, seed: int = 20211, n_bootstrap: int = 20, **unknown: Any
    ) -> None:
        super().__init__(**unknown)
        self.truth, self.seed, self.n_bootstrap = truth, seed, n_bootstrap

    def _nll(self, sample: Sample) -> tuple[float, float]:
        nll = -self.truth.log_prob(sample["x"], sample.get("cond"))
        return float(nll.mean()), float(nll.std(ddof=1) / math.sqrt(len(nll)))

    def _w1(self, sample: Sample, rng: np.random.Generator) -> list[tuple[float, float]]:
        fresh = self.truth.sample(len(sample["x"]), rng, cond=sample.get("cond"))
        return [
            wasserstein_1d_with_error(
                sample["x"][:, i], fresh["x"][:, i], self.n_bootstrap, self.seed
            )
            for i in range(self.truth.dim)
        ]

    def evaluate(self, generated: Sample, real: Sample, reference: Sample) -> dict[str, Metric]:
        rng = np.random.default_rng(self.seed)
        nll_gen, nll_real = self._nll(generated), self._nll(real)
        w1_gen, w1_real = self._w1(generated, rng), self._w1(real, rng)
        metrics = {"nll_true": Metric(nll_gen[0], nll_gen[1], nll_real[0])}
        for i, ((value, error), (baseline, _)) in enumerate(zip(w1_gen, w1_real, strict=True)):
            metrics[f"w1_x{i}"] = Metric(value, error, baseline)
        dim = self.truth.dim
        metrics["w1_mean"] = Metric(
            float(np.mean([v for v, _ in w1_gen])),
            float(np.sqrt(np.sum([e**2 for _, e in w1_gen])) / dim),
            float(np.mean([v for v, _ in w1_real])),
        )
        return metrics

    def observables(self, sample: Sample) -> dict[str, np.ndarray]:
        return {f"x{i}": sample["x"][:, i] for i in range(self.truth.dim)}

    def figures(self, generated: Sample, real: Sample) -> dict[str, Figure]:
        real_obs, generated_obs = self.observables(real), self.observables(generated)
        figures = {
            name: histogram_overlay(
                {"real": real_obs[name], "generated": generated_obs[name]},
                f"${name[0]}_{name[1:]}$",
            )
            for name in real_obs
        }
        if self.truth.dim >= 2:
            figures["x0_x1"] = scatter_comparison(
                {"real": real["x"][:, :2], "generated": generated["x"][:, :2]}, "$x_0$", "$x_1$"
            )
        return figures
