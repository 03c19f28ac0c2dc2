"""Noise processes as Gaussian probability paths ``x_t = α(t) x₀ + s(t) ε``.

Every process genhep trains, variance-preserving diffusion (PC-JeDi's cosine schedule), EDM
(Karras et al. 2022, σ-parametrised) and conditional flow matching (EPiC-FM), is one such path
between the data (``t = 0`` side) and Gaussian noise (``t = 1`` side, or ``σ_max`` for EDM).
A path knows

- its signal and noise scales ``α(t)``, ``s(t)`` and their time derivatives;
- how a network's raw output becomes the denoised estimate ``x̂₀`` and the noise estimate
  ``ε̂`` (the ``prediction``: ``eps``, ``x0``, ``velocity`` = ``dx/dt`` along the path, or EDM's
  preconditioned denoiser), and what the network sees as input and as its noise level;
- its training loss (time distribution, target, weighting) and its sampling time grid.

With ``x̂₀`` and ``ε̂`` every sampler (:mod:`genhep.diffusion.samplers`) is written once: the
probability-flow ODE is ``dx/dt = α'(t) x̂₀ + s'(t) ε̂`` and the score is ``−ε̂ / s(t)``, for
every path. This is k-diffusion's split (denoiser, schedule, sampler) in the (α, s) form that
also holds flow matching, whose velocity field is the same ODE.

Masks: for particle clouds ``mask`` ``(B, N)`` marks genuine particles. Noise is drawn on
genuine particles only (padding stays exactly zero) and the loss averages over them.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn import functional as F

#: ``network(x_in, noise_level, cond, mask) -> raw output`` of ``x``'s shape
Network = Callable[[Tensor, Tensor, Tensor | None, Tensor | None], Tensor]


class Estimate(NamedTuple):
    """The network's view of a noisy batch: denoised ``x0`` and noise ``eps``, ``x``'s shape."""

    x0: Tensor
    eps: Tensor


def expand_like(t: Tensor, x: Tensor) -> Tensor:
    """``t`` ``(B,)`` → ``(B, 1, ..., 1)`` broadcastable against ``x`` ``(B, ...)``."""
    return t.reshape(-1, *([1] * (x.dim() - 1)))


def masked_noise(
    x: Tensor, mask: Tensor | None, generator: torch.Generator | None = None
) -> Tensor:
    """Standard normal noise of ``x``'s shape, zero on padded particles (``mask`` ``(B, N)``)."""
    eps = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return eps if mask is None else eps * mask.unsqueeze(-1).to(x.dtype)


def masked_mean(values: Tensor, mask: Tensor | None) -> Tensor:
    """Per-event mean of ``values`` ``(B, ...)`` over genuine entries → ``(B,)``."""
    if mask is None:
        return values.flatten(1).mean(1)
    weight = mask.unsqueeze(-1).to(values.dtype).expand_as(values)
    return (values * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(1.0)


class GaussianPath(ABC):
    """``x_t = α(t) x₀ + s(t) ε`` with ``t`` from ``t_end`` (data) to ``t_start`` (noise).

    Args:
        prediction: what the network outputs: ``eps`` (the noise), ``x0`` (the clean event) or
            ``velocity`` (``dx/dt = α' x₀ + s' ε``, the flow-matching target; for the VP cosine
            path it is Salimans & Ho's v-prediction times the constant angular speed).
        loss: ``mse`` or ``huber`` (PC-JeDi) on the network's output against its target.
    """

    predictions: tuple[str, ...] = ("eps", "x0", "velocity")
    #: the noise end (sampling starts here) and the data end of the time axis
    t_start: float = 1.0
    t_end: float = 0.0
    #: smallest time of the probability-flow likelihood integral (``s(t) > 0`` there)
    t_min_likelihood: float = 1e-4

    def __init__(self, prediction: str = "eps", loss: str = "mse") -> None:
        if prediction not in self.predictions:
            raise ValueError(
                f"{type(self).__name__}: prediction must be one of {self.predictions}, "
                f"got '{prediction}'"
            )
        if loss not in ("mse", "huber"):
            raise ValueError(f"loss must be 'mse' or 'huber', got '{loss}'")
        self.prediction = prediction
        self.loss = loss

    # -- the path ----------------------------------------------------------------------

    @abstractmethod
    def scales(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(α, s, dα/dt, ds/dt)`` at times ``t`` (any shape)."""

    @abstractmethod
    def time_grid(self, steps: int, device: torch.device | None = None) -> Tensor:
        """``steps + 1`` decreasing times from :attr:`t_start` to :attr:`t_end`."""

    @abstractmethod
    def sample_time(self, n: int, device: torch.device, generator=None) -> Tensor:
        """Training times ``(n,)``."""

    def prior_std(self) -> float:
        """Standard deviation of the noise at :attr:`t_start` (``x_T = prior_std · ε``)."""
        return float(self.scales(torch.tensor(self.t_start))[1])

    def noise_level(self, t: Tensor) -> Tensor:
        """What the network is given as its time / noise input ``(B,)``: ``t`` itself."""
        return t

    def network_input(self, x: Tensor, t: Tensor) -> Tensor:
        """What the network is given as its event input: ``x`` itself."""
        return x

    # -- the network's estimate -----------------------------------------------------------

    def estimate(
        self, network: Network, x: Tensor, t: Tensor, cond: Tensor | None, mask: Tensor | None
    ) -> Estimate:
        """``x̂₀`` and ``ε̂`` of a noisy batch ``x`` at times ``t`` ``(B,)``."""
        out = network(self.network_input(x, t), self.noise_level(t), cond, mask)
        return self.from_output(out, x, t)

    def from_output(self, out: Tensor, x: Tensor, t: Tensor) -> Estimate:
        """The network's raw output ``out`` → :class:`Estimate` (by :attr:`prediction`)."""
        alpha, s, d_alpha, d_s = (expand_like(v, x) for v in self.scales(t))
        if self.prediction == "eps":
            return Estimate((x - s * out) / alpha, out)
        if self.prediction == "x0":
            return Estimate(out, (x - alpha * out) / s)
        # velocity: solve x = α x0 + s ε, v = α' x0 + s' ε
        det = alpha * d_s - s * d_alpha
        return Estimate((d_s * x - s * out) / det, (alpha * out - d_alpha * x) / det)

    def target(self, x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        """What the network's output is regressed on."""
        if self.prediction == "eps":
            return eps
        if self.prediction == "x0":
            return x0
        _, _, d_alpha, d_s = (expand_like(v, x0) for v in self.scales(t))
        return d_alpha * x0 + d_s * eps

    def velocity(self, estimate: Estimate, t: Tensor) -> Tensor:
        """The probability-flow ODE's drift ``dx/dt = α' x̂₀ + s' ε̂``."""
        _, _, d_alpha, d_s = (expand_like(v, estimate.x0) for v in self.scales(t))
        return d_alpha * estimate.x0 + d_s * estimate.eps

    # -- training -------------------------------------------------------------------------

    def noisy(self, x0: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """``x_t = α(t) x₀ + s(t) ε``."""
        alpha, s, _, _ = (expand_like(v, x0) for v in self.scales(t))
        return alpha * x0 + s * eps

    def pointwise_loss(self, out: Tensor, target: Tensor) -> Tensor:
        if self.loss == "huber":
            return F.huber_loss(out, target, reduction="none")
        return (out - target) ** 2

    def couple(self, x0: Tensor, eps: Tensor, mask: Tensor | None) -> Tensor:
        """The noise paired with each event (independent here; OT for flow matching)."""
        return eps

    def training_loss(
        self,
        network: Network,
        x0: Tensor,
        cond: Tensor | None = None,
        mask: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Per-event loss ``(B,)`` of one noisy draw per event."""
        t = self.sample_time(len(x0), x0.device, generator)
        eps = self.couple(x0, masked_noise(x0, mask, generator), mask)
        x_t = self.noisy(x0, t, eps)
        out = network(self.network_input(x_t, t), self.noise_level(t), cond, mask)
        return masked_mean(self.pointwise_loss(out, self.target(x0, eps, t)), mask)


class VariancePreserving(GaussianPath):
    """PC-JeDi's cosine schedule: ``α = cos θ(t)``, ``s = sin θ(t)``, with θ linear in ``t``
    between ``arccos(max_signal)`` and ``arccos(min_signal)`` (signal rate 1.0 → 0.02)."""

    def __init__(
        self,
        prediction: str = "eps",
        loss: str = "mse",
        max_signal: float = 1.0,
        min_signal: float = 0.02,
    ) -> None:
        super().__init__(prediction, loss)
        if not 0.0 < min_signal < max_signal <= 1.0:
            raise ValueError(
                f"need 0 < min_signal < max_signal <= 1, got {min_signal}, {max_signal}"
            )
        self.theta_0 = math.acos(max_signal)
        self.theta_1 = math.acos(min_signal)

    def scales(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        speed = self.theta_1 - self.theta_0
        theta = self.theta_0 + t * speed
        return theta.cos(), theta.sin(), -theta.sin() * speed, theta.cos() * speed

    def time_grid(self, steps: int, device: torch.device | None = None) -> Tensor:
        return torch.linspace(self.t_start, self.t_end, steps + 1, device=device)

    def sample_time(self, n: int, device: torch.device, generator=None) -> Tensor:
        return torch.rand(n, generator=generator, device=device)


class FlowMatching(GaussianPath):
    """Conditional flow matching on the straight path ``x_t = (1 − t) x₀ + (σ_min + (1 − σ_min) t) ε``
    (Lipman et al.; EPiC-FM with σ_min = 1e-4), velocity regression by default.

    Args:
        coupling: ``independent`` or ``ot`` (exact optimal transport between the batch's events
            and its noise draws, Tong et al.'s OT-CFM, solved with POT's ``ot.emd``: the same
            minibatch plan torchcfm computes, without its dependencies). ``ot`` needs flat
            events (no masks).
    """

    t_min_likelihood = 0.0

    def __init__(
        self,
        prediction: str = "velocity",
        loss: str = "mse",
        sigma_min: float = 1e-4,
        coupling: str = "independent",
    ) -> None:
        super().__init__(prediction, loss)
        if prediction == "eps":
            raise ValueError("flow matching cannot predict eps: α(1) = 0 leaves x0 undefined")
        if coupling not in ("independent", "ot"):
            raise ValueError(f"coupling must be 'independent' or 'ot', got '{coupling}'")
        self.sigma_min = sigma_min
        self.coupling = coupling

    def scales(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        one = torch.ones_like(t)
        return (
            1.0 - t,
            self.sigma_min + (1.0 - self.sigma_min) * t,
            -one,
            (1.0 - self.sigma_min) * one,
        )

    def time_grid(self, steps: int, device: torch.device | None = None) -> Tensor:
        return torch.linspace(self.t_start, self.t_end, steps + 1, device=device)

    def sample_time(self, n: int, device: torch.device, generator=None) -> Tensor:
        return torch.rand(n, generator=generator, device=device)

    def couple(self, x0: Tensor, eps: Tensor, mask: Tensor | None) -> Tensor:
        if self.coupling == "independent":
            return eps
        if mask is not None:
            raise ValueError("flow matching coupling='ot' needs flat events, not masked clouds")
        import ot  # POT: an optional dependency (genhep[hep])

        cost = torch.cdist(x0.flatten(1), eps.flatten(1)).pow(2).double().cpu().numpy()
        n = len(x0)
        plan = ot.emd(ot.unif(n), ot.unif(n), cost)
        # a permutation for equal batch sizes: each event's partner
        return eps[torch.as_tensor(plan.argmax(axis=1), device=eps.device)]


class EDM(GaussianPath):
    """Karras et al. (2022): ``x_σ = x₀ + σ ε`` with ``t = σ``, the preconditioned denoiser
    ``D = c_skip x + c_out F(c_in x, ln σ / 4)``, ``ln σ ~ N(P_mean, P_std²)`` in training with
    weight ``(σ² + σ_data²) / (σ σ_data)²``, and the ρ = 7 sampling grid from σ_max to σ_min,
    then 0."""

    predictions = ("edm",)

    def __init__(
        self,
        prediction: str = "edm",
        loss: str = "mse",
        sigma_data: float = 1.0,
        sigma_min: float = 0.002,
        sigma_max: float = 80.0,
        rho: float = 7.0,
        p_mean: float = -1.2,
        p_std: float = 1.2,
    ) -> None:
        super().__init__(prediction, loss)
        self.sigma_data, self.sigma_min, self.sigma_max = sigma_data, sigma_min, sigma_max
        self.rho, self.p_mean, self.p_std = rho, p_mean, p_std
        self.t_start, self.t_end, self.t_min_likelihood = sigma_max, 0.0, sigma_min

    def scales(self, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        one = torch.ones_like(t)
        return one, t, torch.zeros_like(t), one

    def _c(self, sigma: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        total = sigma**2 + self.sigma_data**2
        return self.sigma_data**2 / total, sigma * self.sigma_data / total.sqrt(), total.rsqrt()

    def noise_level(self, t: Tensor) -> Tensor:
        return t.clamp_min(1e-20).log() / 4.0

    def network_input(self, x: Tensor, t: Tensor) -> Tensor:
        return x * expand_like(self._c(t)[2], x)

    def from_output(self, out: Tensor, x: Tensor, t: Tensor) -> Estimate:
        c_skip, c_out, _ = (expand_like(v, x) for v in self._c(t))
        x0 = c_skip * x + c_out * out
        return Estimate(x0, (x - x0) / expand_like(t, x))

    def target(self, x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
        # the F that makes D exact: (x0 - c_skip x_t) / c_out, with unit weight on F
        # equivalent to EDM's weighted loss on D
        c_skip, c_out, _ = (expand_like(v, x0) for v in self._c(t))
        return (x0 - c_skip * (x0 + expand_like(t, x0) * eps)) / c_out

    def time_grid(self, steps: int, device: torch.device | None = None) -> Tensor:
        ramp = torch.linspace(0.0, 1.0, steps, device=device, dtype=torch.float64)
        lo, hi = self.sigma_min ** (1 / self.rho), self.sigma_max ** (1 / self.rho)
        sigmas = (hi + ramp * (lo - hi)) ** self.rho
        return torch.cat([sigmas, sigmas.new_zeros(1)]).float()

    def sample_time(self, n: int, device: torch.device, generator=None) -> Tensor:
        return (self.p_mean + self.p_std * torch.randn(n, generator=generator, device=device)).exp()

    def prior_std(self) -> float:
        return self.sigma_max
