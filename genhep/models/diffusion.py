"""Score-based diffusion and flow matching: one model, three interchangeable pieces.

- **process** (:mod:`genhep.diffusion.paths`): the noise path and what the network predicts:
  ``vp`` (PC-JeDi's cosine schedule, ε-, x₀- or velocity-prediction), ``edm`` (Karras et al.)
  or ``fm`` (conditional flow matching, optionally with OT coupling);
- **network** (``genhep/nn/``): a denoiser ``(x, noise level, cond, mask) -> x-shaped output``
  for the family: :class:`~genhep.nn.residual_mlp.ResidualMLP` for flat events (toy, showers),
  :class:`~genhep.nn.epic.EPiCNetwork` or :class:`~genhep.nn.cloud_transformer.CloudTransformer`
  for masked clouds, :class:`~genhep.nn.unet.UNet` for jet images;
- **sampler** (:mod:`genhep.diffusion.samplers`): a pure function and its number of steps,
  chosen by ``model.sampler.name`` / ``model.sampler.steps`` and changeable at
  ``genhep evaluate`` / ``genhep sample`` without retraining.

The EMA of the network (``ema: 0.999`` as the references) samples. ``log_prob`` is the
probability-flow ODE's log-density (:func:`~genhep.diffusion.likelihood.ode_log_prob`) when
``model.likelihood.estimator`` is set (``exact`` divergence or ``hutchinson``; flat events
only): then ``test/loss`` is that negative log-likelihood per event, while ``train/loss`` and
``val/loss`` are always the denoising loss (``test/denoising_loss`` at test).

Clouds: the multiplicity comes from the mask (the real test jets' at evaluation, as PC-JeDi
and EPiC-FM); padded particles are exactly zero in every step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from genhep.diffusion.likelihood import ESTIMATORS, ode_log_prob
from genhep.diffusion.paths import Estimate, GaussianPath, expand_like
from genhep.diffusion.samplers import SAMPLERS
from genhep.models.base import GenerativeModel, OptimizerFactory, SchedulerFactory
from genhep.spec import DataSpec, cloud_problem, flat_vector_problem, image_problem

#: the kind of event each network takes
KINDS = {"flat": flat_vector_problem, "cloud": cloud_problem, "image": image_problem}


def event_kind(spec: DataSpec) -> str | None:
    """``flat``, ``cloud`` or ``image`` for a spec, ``None`` for none of them."""
    return next((kind for kind, problem in KINDS.items() if problem(spec) is None), None)


def default_network(spec: DataSpec) -> nn.Module:
    """The family's default denoiser (flat: residual MLP; cloud: EPiC; image: U-Net)."""
    kind = event_kind(spec)
    if kind == "flat":
        from genhep.nn.residual_mlp import ResidualMLP

        return ResidualMLP(dim=spec.event_shape[0], cond_dim=spec.cond_dim)
    if kind == "cloud":
        from genhep.nn.epic import EPiCNetwork

        return EPiCNetwork(features=spec.event_shape[-1], cond_dim=spec.cond_dim)
    from genhep.nn.unet import UNet

    return UNet(size=spec.event_shape[-1], cond_dim=spec.cond_dim)


class Diffusion(GenerativeModel):
    """Diffusion / flow-matching model (see the module docstring).

    Args:
        data_spec: the family's :class:`~genhep.spec.DataSpec` (from the runner).
        process: a :class:`~genhep.diffusion.paths.GaussianPath`.
        network: ``None`` (the family's default) or a factory called with the spec's sizes:
            ``network(dim=D, cond_dim=C)`` (flat), ``network(features=F, cond_dim=C)``
            (clouds), ``network(size=S, cond_dim=C)`` (images): Hydra ``_partial_: true``.
        sampler: ``{"name": ..., "steps": ..., "clip_x0": ..., <the sampler's options>}``;
            ``clip_x0`` (null: off) clamps the denoised estimate ``x̂₀`` to ``[−c, c]`` (model
            space) at every network call of a sampler, ``ε̂`` following so that
            ``x = α x̂₀ + s ε̂`` still holds (DDPM's "clip x₀"; PC-JeDi clamps its samplers'
            state to ±25 in its own feature space). Not used by ``log_prob``.
        likelihood: ``{"estimator": null | "exact" | "hutchinson", "method", "steps"}``.
        image_threshold: jet images: model-space pixels below it are set to exactly zero
            (the image transforms map a zero pixel to 0 and clamp negatives to it).
    """

    def __init__(
        self,
        data_spec: Mapping[str, Any],
        process: GaussianPath,
        network: Callable[..., nn.Module] | None = None,
        sampler: Mapping[str, Any] | None = None,
        likelihood: Mapping[str, Any] | None = None,
        image_threshold: float = 0.0,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        ema: float | None = 0.999,
    ) -> None:
        super().__init__(data_spec, optimizer, scheduler, ema)
        spec = self.data_spec
        self.kind = event_kind(spec)
        self.process = process
        if network is None:
            self.network = default_network(spec)
        else:
            sizes = {
                "flat": {"dim": spec.event_shape[0]},
                "cloud": {"features": spec.event_shape[-1]},
                "image": {"size": spec.event_shape[-1]},
            }[self.kind]
            self.network = network(**sizes, cond_dim=spec.cond_dim)
        self.sampler = dict(sampler or {"name": "euler", "steps": 50})
        if self.sampler.get("name") not in SAMPLERS:
            raise ValueError(
                f"model.sampler.name must be one of {sorted(SAMPLERS)}, got '{self.sampler.get('name')}'"
            )
        if int(self.sampler.get("steps", 0)) < 1:
            raise ValueError(f"model.sampler.steps must be >= 1, got {self.sampler.get('steps')}")
        clip = self.sampler.get("clip_x0")
        if clip is not None and not float(clip) > 0:
            raise ValueError(f"model.sampler.clip_x0 must be null or > 0, got {clip}")
        self.image_threshold = image_threshold
        self.likelihood = dict(likelihood or {})
        estimator = self.likelihood.get("estimator")
        if estimator is not None:
            if estimator not in ESTIMATORS:
                raise ValueError(f"model.likelihood.estimator must be null or one of {ESTIMATORS}")
            if self.kind != "flat":
                raise ValueError(
                    "model.likelihood needs flat events (toy, calorimeter), not clouds/images"
                )

    @classmethod
    def incompatibility(cls, spec: DataSpec) -> str | None:
        if event_kind(spec) is None:
            return (
                "it needs flat events (D,), masked clouds (N, F) or square images (1, S, S), "
                f"got event_shape {spec.event_shape}"
            )
        return None

    def generating_module(self) -> nn.Module:
        return self.network

    def ema_average_fn(self) -> Callable[..., None]:
        """EMA with the usual warm-up: decay ``min(ema, (1 + n) / (10 + n))`` after ``n``
        updates, so that a short run's averaged network is not mostly its initialisation
        (a constant 0.999 keeps 37 % of the initial weights after 1000 steps)."""
        decay = float(self.ema_decay)

        @torch.no_grad()
        def update(averaged: list[Tensor], current: list[Tensor], n_averaged: Tensor) -> None:
            n = float(n_averaged)
            weight = 1.0 - min(decay, (1.0 + n) / (10.0 + n))
            torch._foreach_lerp_(averaged, current, weight)

        return update

    # -- likelihood ------------------------------------------------------------------------

    @property
    def log_prob_kind(self) -> str | None:  # type: ignore[override]
        """``exact`` when ``model.likelihood.estimator`` is set (Hutchinson: an unbiased
        estimate of the exact log-density), else no likelihood."""
        return "exact" if self.likelihood.get("estimator") else None

    @property
    def log_prob_method(self) -> str | None:
        """The ODE solver and the divergence estimator, e.g. ``probability-flow ODE (dopri5),
        Hutchinson's divergence estimator (unbiased)``."""
        estimator = self.likelihood.get("estimator")
        if not estimator:
            return None
        divergence = {
            "exact": "exact divergence",
            "hutchinson": "Hutchinson's divergence estimator (unbiased)",
        }[estimator]
        return f"probability-flow ODE ({self.likelihood.get('method', 'dopri5')}), {divergence}"

    def log_prob(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """``(B,)`` log-density in nats by the probability-flow ODE (see the module docstring)."""
        if not self.likelihood.get("estimator"):
            raise RuntimeError("set model.likelihood.estimator (exact or hutchinson) for log_prob")
        options = {k: v for k, v in self.likelihood.items() if k != "estimator"}
        with torch.inference_mode(False):
            x = x.clone()
            cond = None if cond is None else cond.clone()
            return ode_log_prob(
                self.denoiser(cond, None), self.process, x, self.likelihood["estimator"], **options
            ).detach()

    # -- training --------------------------------------------------------------------------

    def denoiser(
        self, cond: Tensor | None, mask: Tensor | None, clip_x0: float | None = None
    ) -> Callable[[Tensor, Tensor], Estimate]:
        """``denoise(x, t) -> Estimate`` of the network with this condition and mask; with
        ``clip_x0``, ``x̂₀`` clamped to ``[−clip_x0, clip_x0]`` and ``ε̂ = (x − α x̂₀) / s``."""

        def denoise(x: Tensor, t: Tensor) -> Estimate:
            estimate = self.process.estimate(self.network, x, t, cond, mask)
            if clip_x0 is None:
                return estimate
            x0 = estimate.x0.clamp(-clip_x0, clip_x0)
            alpha, s = (expand_like(v, x) for v in self.process.scales(t)[:2])
            return Estimate(x0, (x - alpha * x0) / s)

        return denoise

    def _loss(self, batch: Mapping[str, Tensor]) -> Tensor:
        return self.process.training_loss(
            self.network, batch["x"], batch.get("cond"), batch.get("mask")
        ).mean()

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> Tensor:
        loss = self._loss(batch)
        if self.logs_this_step():
            self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["x"]))
        return loss

    def validation_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        self.log(
            "val/loss", self._loss(batch), prog_bar=True, sync_dist=True, batch_size=len(batch["x"])
        )

    def test_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        n = len(batch["x"])
        name = "test/denoising_loss" if self.has_log_prob else "test/loss"
        self.log(name, self._loss(batch), sync_dist=True, batch_size=n)
        if self.has_log_prob:
            nll = -self.log_prob(batch["x"], batch.get("cond")).mean()
            self.log("test/loss", nll, sync_dist=True, batch_size=n)

    # -- sampling --------------------------------------------------------------------------

    @torch.no_grad()
    def sample(self, n: int, cond: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """``n`` events ``(n, *event_shape)`` in model space by ``model.sampler``; clouds take the
        real multiplicities ``mask`` ``(n, N)``."""
        if self.kind == "cloud" and mask is None:
            raise ValueError(
                "diffusion on clouds samples the given multiplicities: pass mask (n, N)"
            )
        options = dict(self.sampler)
        name, steps = options.pop("name"), int(options.pop("steps"))
        clip_x0 = options.pop("clip_x0", None)
        cond = None if cond is None else cond.to(self.device)
        mask = None if mask is None else mask.to(self.device)
        shape = (n, *self.data_spec.event_shape)
        noise = torch.randn(shape, device=self.device)
        if mask is not None:
            noise = noise * mask.unsqueeze(-1).to(noise.dtype)
        x = self.process.prior_std() * noise
        times = self.process.time_grid(steps, device=self.device)
        denoise = self.denoiser(cond, mask, None if clip_x0 is None else float(clip_x0))
        x = SAMPLERS[name](denoise, self.process, x, times, mask=mask, **options)
        if self.kind == "image":
            x = torch.where(x < self.image_threshold, torch.zeros_like(x), x)
        return x
