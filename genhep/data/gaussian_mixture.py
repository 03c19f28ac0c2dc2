"""Toy data family with a known density: a (conditional) Gaussian mixture.

p(x | c) = Σ_k w_k(c) N(x; μ_k + c δ_k, L_k L_kᵀ),  w(c) = softmax(a + c b),  c ~ U(−1, 1).

Every parameter is drawn once from ``truth_seed``: means sit on a circle of radius
``radius`` in the first two dimensions (on a line when ``dim == 1``), Cholesky factors
have diagonals in [0.3, 0.8]. Unconditional mixtures have δ = b = 0 and no ``cond``.
Likelihood models can be checked against :meth:`GaussianMixture.log_prob`.

On disk (``data.path``, and what ``genhep sample`` writes): HDF5 with ``x`` (N, dim)
float and, for conditional mixtures, ``cond`` (N, 1) float.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import log_softmax, softmax

from genhep.data.base import GenerativeDataModule
from genhep.data.schema import ArraySpec, read_hdf5
from genhep.data.transforms import Identity, Standardize, Transform
from genhep.evaluation.base import Sample
from genhep.evaluation.gaussian_mixture import GaussianMixtureEvaluator
from genhep.spec import DataSpec


class GaussianMixture:
    """The analytic truth: sampling and exact log-density (numpy, float64)."""

    def __init__(
        self,
        dim: int = 2,
        n_modes: int = 3,
        conditional: bool = True,
        truth_seed: int = 0,
        radius: float = 3.0,
    ) -> None:
        if dim < 1 or n_modes < 1:
            raise ValueError(f"data.dim and data.n_modes must be >= 1, got {dim} and {n_modes}")
        rng = np.random.default_rng(truth_seed)
        self.dim, self.n_modes, self.conditional = dim, n_modes, conditional
        angles = 2 * np.pi * np.arange(n_modes) / n_modes
        means = np.zeros((n_modes, dim))
        if dim == 1:
            means[:, 0] = np.linspace(-radius, radius, n_modes) if n_modes > 1 else 0.0
        else:
            means[:, 0], means[:, 1] = radius * np.cos(angles), radius * np.sin(angles)
        self.means = means
        tril = np.tril(rng.normal(0.0, 0.2, (n_modes, dim, dim)), k=-1)
        diag = rng.uniform(0.3, 0.8, (n_modes, dim))
        self.scale_tril = tril + np.einsum("kd,de->kde", diag, np.eye(dim))
        self.logits = rng.normal(0.0, 0.5, n_modes)
        self.mean_slope = (
            rng.normal(0.0, 1.0, (n_modes, dim)) if conditional else np.zeros((n_modes, dim))
        )
        self.logit_slope = rng.normal(0.0, 1.0, n_modes) if conditional else np.zeros(n_modes)

    def _cond(self, cond: np.ndarray | None, n: int) -> np.ndarray:
        if cond is None:
            if self.conditional:
                raise ValueError("a conditional mixture needs cond of shape (N, 1)")
            return np.zeros(n)
        return np.asarray(cond, dtype=np.float64).reshape(n)

    def sample_cond(self, n: int, rng: np.random.Generator) -> np.ndarray | None:
        """Conditions ``(n, 1)`` uniform in [−1, 1]; ``None`` for an unconditional mixture."""
        return rng.uniform(-1.0, 1.0, (n, 1)) if self.conditional else None

    def sample(self, n: int, rng: np.random.Generator, cond: np.ndarray | None = None) -> Sample:
        """``n`` events ``{"x": (n, dim)[, "cond": (n, 1)]}``; conditions drawn if not given."""
        if cond is None:
            cond = self.sample_cond(n, rng)
        c = self._cond(cond, n)
        weights = softmax(self.logits[None] + c[:, None] * self.logit_slope[None], axis=1)
        mode = (weights.cumsum(axis=1) > rng.uniform(size=(n, 1))).argmax(axis=1)
        means = self.means[mode] + c[:, None] * self.mean_slope[mode]
        noise = np.einsum("nde,ne->nd", self.scale_tril[mode], rng.standard_normal((n, self.dim)))
        out = {"x": means + noise}
        if cond is not None:
            out["cond"] = np.asarray(cond, dtype=np.float64).reshape(n, 1)
        return out

    def log_prob(self, x: np.ndarray, cond: np.ndarray | None = None) -> np.ndarray:
        """Exact log p(x | cond) in nats, shape ``(N,)``."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.dim)
        c = self._cond(cond, len(x))
        log_w = log_softmax(self.logits[None] + c[:, None] * self.logit_slope[None], axis=1)
        terms = np.empty((len(x), self.n_modes))
        for k in range(self.n_modes):
            centred = x - self.means[k] - c[:, None] * self.mean_slope[k]
            z = solve_triangular(self.scale_tril[k], centred.T, lower=True)
            log_det = np.log(np.diag(self.scale_tril[k])).sum()
            terms[:, k] = (
                -0.5 * (z**2).sum(axis=0) - log_det - 0.5 * self.dim * math.log(2 * math.pi)
            )
        top = terms.max(axis=1, keepdims=True) + log_w.max(axis=1, keepdims=True)
        return (top[:, 0] + np.log(np.exp(terms + log_w - top).sum(axis=1))).astype(np.float64)


class GaussianMixtureDataModule(GenerativeDataModule):
    """``data=gaussian_mixture``: events from :class:`GaussianMixture` or from an HDF5 file.

    Args:
        dim, n_modes, conditional, truth_seed, radius: the truth (see :class:`GaussianMixture`).
        n_events: events to draw when no ``path`` is given.
        sample_seed: seed of the drawn events.
        path: optional HDF5 file (``x``, and ``cond`` if conditional) to read instead.
        transform: ``standardize`` (per-feature standardised ``x``) or ``none`` (raw).
        **kwargs: split and loader settings of :class:`GenerativeDataModule`.
    """

    family = "gaussian_mixture"

    def __init__(
        self,
        dim: int = 2,
        n_modes: int = 3,
        conditional: bool = True,
        truth_seed: int = 0,
        radius: float = 3.0,
        n_events: int = 20000,
        sample_seed: int = 1,
        path: str | None = None,
        transform: str = "standardize",
        **kwargs,
    ) -> None:
        if transform not in ("standardize", "none"):
            raise ValueError(f"data.transform must be 'standardize' or 'none', got {transform!r}")
        self.transform_name = transform
        super().__init__(**kwargs)
        self.truth = GaussianMixture(dim, n_modes, conditional, truth_seed, radius)
        self.n_events, self.sample_seed = n_events, sample_seed
        self.path = None if path is None else Path(path)

    @property
    def spec(self) -> DataSpec:
        return DataSpec(self.family, (self.truth.dim,), cond_dim=int(self.truth.conditional))

    @property
    def schema(self) -> list[ArraySpec]:
        specs = [ArraySpec("x", ("N", self.truth.dim), description="event coordinates")]
        if self.truth.conditional:
            specs.append(ArraySpec("cond", ("N", 1), description="condition c in [-1, 1]"))
        return specs

    def load_arrays(self) -> Sample:
        if self.path is not None:
            return read_hdf5(self.path, self.schema)
        return self.truth.sample(self.n_events, np.random.default_rng(self.sample_seed))

    def make_transform(self) -> Transform:
        return Standardize() if self.transform_name == "standardize" else Identity()

    def evaluator(self, **changes: Any) -> GaussianMixtureEvaluator:
        return GaussianMixtureEvaluator(self.truth, **{**self.evaluator_settings, **changes})
