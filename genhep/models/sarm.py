"""SARM: sparse autoregressive model of jet images (Lu, Collado, Whiteson, Baldi 2009.14017).

p(x | c) = Π_t p(x_{σ(t)} | x_{σ(<t)}, c) over the pixels of the image in a generation order σ
(``order``, :mod:`genhep.nn.orders`). Each pixel has a point mass at zero, which is what makes the
model sparse: about 90 % of jet-image pixels are exactly zero. ``x`` is in the data family's
transformed space (by default ``y = log(1 + pT / s)``: zero pixels exactly 0, the others > 0).

``likelihood``:

* ``dc`` (D+C) — p(y) = γ δ(y) + (1 − γ) p_c(y) on y >= 0. The continuous part p_c is a
  mixture of ``n_mixture`` logistics on the standardised log-intensity
  ``w = (log y − m) / v``, truncated above at ``w_max`` and exactly renormalised:
  p_c(y) = Σ_k π_k Logistic(w; μ_k, s_k) / F_k(w_max) · 1 / (v y). ``log_prob`` is a density
  with respect to (point mass at 0) + (Lebesgue measure on y > 0), in nats.
* ``dd`` (D+D) — y ∈ {0, g_1, …, g_L}: a categorical over zero and ``n_levels`` intensity levels.
  A non-zero pixel is quantised to the nearest level; ``log_prob`` is the log *probability* of
  the quantised image (a discrete likelihood, not comparable with D+C densities) and samples
  take only the level values.

Fitted at the start of training from the non-zero training pixels (:meth:`fit_to_data`) and
kept as buffers in the checkpoint, so a resumed or restored model uses the
same values: m, v (mean and standard deviation of log y), the truncation point
``log_max`` = log(largest training intensity) + 1 (y <= e × the largest training pixel; it keeps
samples finite after the inverse transform; larger pixels have log p = −inf) and the D+D levels.

D+D levels: ⌈L/2⌉ levels at the (j − ½)/⌈L/2⌉ quantiles of the non-zero training pixels (they
resolve the many soft pixels) and ⌊L/2⌋ at the same quantiles of their pT-weighted distribution
(they resolve the few hard pixels that carry most of the jet's pT). Count quantiles alone leave
the hardest pixels, 100–250 GeV, on a handful of widely spaced levels: on 2000 genhep Pythia
images the quantisation alone moves the jet pT by W1 = 16 GeV at L = 32 (6.0 at 64), against
2.2 (0.67 at L = 64) with the mixed levels — more than the paper's D+D W1 (1.4–2.5 GeV). The pT
weights are the pixels in physical units (the datamodule's ``to_physical``, where it has one).
Before fitting: m = 0, v = 1, y <= 10, levels evenly spaced in (0, 1].

Network (:class:`~genhep.nn.autoregressive.OrderedPixelGRU`): a GRU over the ordered pixels whose
step ``t`` sees the previous pixel, the already drawn pixels of its ``(2 radius + 1)²`` window,
a step embedding and the one-hot class; an MLP head gives the pixel's parameters. Sampling
carries the GRU state from pixel to pixel: O(1) work per pixel, batched over images.
``stages: 2`` (SARM-2) uses separate GRU + head for the first ``split`` pixels of the order and
for the rest, the second starting from the first's state; ``split`` is ``N − central_size²``
for spiral-in orders (the central square comes last) and ``central_size²`` otherwise (for
spiral-out orders and odd ``central_size`` exactly the central square comes first).

From the paper: per-pixel conditionals with a point mass at zero, the D+C and D+D likelihoods,
one or two networks (centre / periphery) and a choice of pixel orders. The paper's own network
and continuous family were not verified here: the recurrent network, the truncated logistic
mixture on log-intensity and the quantile levels are genhep's choices.

Loss: −log p / number of pixels (nats per pixel); ``*/zero_nll`` is the part from the
zero / non-zero decisions, ``*/intensity_nll`` the rest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genhep.models.base import OptimizerFactory, SchedulerFactory, TrainingData
from genhep.models.likelihood import LikelihoodModel
from genhep.nn.autoregressive import OrderedPixelGRU
from genhep.nn.orders import pixel_order
from genhep.spec import DataSpec, family_problem, first_problem, image_problem

#: ``model.likelihood`` choices.
LIKELIHOODS = ("dc", "dd")
#: Floor of the logistic scales (standardised log-intensity units).
MIN_LOG_SCALE = -7.0
#: Largest quantile input of ``torch.quantile``.
_QUANTILE_MAX = 2**24


def _mid_quantiles(n: int) -> Tensor:
    """The probabilities (j − ½) / n, j = 1 … n, float64."""
    return (torch.arange(n, dtype=torch.float64) + 0.5) / n


def weighted_quantiles(values: Tensor, weights: Tensor, probs: Tensor) -> Tensor:
    """Quantiles of the distribution that puts mass ∝ ``weights`` on ``values`` ``(M,)``:
    for each p of ``probs`` the smallest value whose cumulative weight fraction is >= p."""
    order = values.argsort()
    cumulative = weights[order].cumsum(0)
    index = torch.searchsorted(cumulative / cumulative[-1], probs.to(cumulative.dtype))
    return values[order][index.clamp(max=len(values) - 1)]


def _gumbel_argmax(logits: Tensor) -> Tensor:
    """One categorical draw per row of ``logits`` ``(..., K)`` (Gumbel-max), ``(...)``."""
    uniform = torch.rand_like(logits).clamp_(min=torch.finfo(logits.dtype).tiny)
    return (logits - torch.log(-torch.log(uniform))).argmax(dim=-1)


class PixelLikelihood(nn.Module):
    """Zero-inflated per-pixel distribution: parameters ``(..., n_params)``, values ``(...)``.

    Holds the intensity statistics fitted on the training pixels (see the module docstring).
    """

    n_params: int
    #: features per known pixel (see :meth:`features`)
    n_features = 3

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("fitted", torch.tensor(False))
        self.register_buffer("log_mean", torch.tensor(0.0))
        self.register_buffer("log_std", torch.tensor(1.0))
        self.register_buffer("log_max", torch.tensor(math.log(10.0)))

    def fit(self, nonzero: Tensor, weights: Tensor | None = None) -> None:
        """Fit the statistics to the non-zero training intensities ``(M,)``.

        ``weights`` ``(M,)``: the pixels' pT in physical units (used by D+D's levels; default:
        the intensities themselves).
        """
        logs = nonzero.double().log()
        self.log_mean.fill_(logs.mean().item())
        self.log_std.fill_(max(logs.std().item(), 1e-3) if len(logs) > 1 else 1.0)
        self.log_max.fill_(logs.max().item() + 1.0)
        self.fitted.fill_(True)

    def prepare(self, y: Tensor) -> Tensor:
        """The values the model describes (D+D: quantised), same shape as ``y``."""
        return y

    def features(self, y: Tensor) -> Tensor:
        """Network inputs ``(..., 3)`` of known pixels ``y``: zero flag, non-zero flag and the
        standardised log-intensity (never all zero: all zero means "not known")."""
        nonzero = y > 0
        w = (torch.where(nonzero, y, 1.0).log() - self.log_mean) / self.log_std
        return torch.stack([(~nonzero).to(y.dtype), nonzero.to(y.dtype), w * nonzero], dim=-1)

    def log_prob(self, params: Tensor, y: Tensor) -> Tensor:
        """log p(y) per pixel, nats, shape of ``y``."""
        raise NotImplementedError

    def zero_log_probs(self, params: Tensor) -> tuple[Tensor, Tensor]:
        """(log γ, log(1 − γ)) per pixel: γ the probability of an exactly zero pixel."""
        raise NotImplementedError

    def sample(self, params: Tensor) -> Tensor:
        """One value per pixel, shape ``params.shape[:-1]``; exact zeros from the zero part."""
        raise NotImplementedError


class ZeroInflatedLogistics(PixelLikelihood):
    """D+C: point mass at zero + truncated logistic mixture on log-intensity.

    Parameters per pixel: the zero logit (γ = sigmoid), then ``n_mixture`` mixture logits,
    means and log scales of ``w``.
    """

    def __init__(self, n_mixture: int) -> None:
        super().__init__()
        self.n_mixture = n_mixture
        self.n_params = 1 + 3 * n_mixture

    def _split(self, params: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        zero_logit = params[..., 0]
        logits, means, log_scales = params[..., 1:].split(self.n_mixture, dim=-1)
        log_scales = log_scales.clamp(min=MIN_LOG_SCALE)
        w_max = (self.log_max - self.log_mean) / self.log_std
        return zero_logit, logits, means, log_scales, w_max

    def log_prob(self, params: Tensor, y: Tensor) -> Tensor:
        zero_logit, logits, means, log_scales, w_max = self._split(params)
        nonzero = y > 0
        log_y = torch.where(nonzero, y, 1.0).log()
        w = (log_y - self.log_mean) / self.log_std
        inv_scales = torch.exp(-log_scales)
        z = (w[..., None] - means) * inv_scales
        log_pdf = -F.softplus(-z) - F.softplus(z) - log_scales
        log_mass_below_max = F.logsigmoid((w_max - means) * inv_scales)
        log_w = torch.logsumexp(F.log_softmax(logits, -1) + log_pdf - log_mass_below_max, -1)
        inside = log_y <= self.log_max
        log_continuous = torch.where(inside, log_w - torch.log(self.log_std) - log_y, -math.inf)
        return torch.where(
            nonzero, F.logsigmoid(-zero_logit) + log_continuous, F.logsigmoid(zero_logit)
        )

    def zero_log_probs(self, params: Tensor) -> tuple[Tensor, Tensor]:
        return F.logsigmoid(params[..., 0]), F.logsigmoid(-params[..., 0])

    def sample(self, params: Tensor) -> Tensor:
        zero_logit, logits, means, log_scales, w_max = self._split(params)
        zero = torch.rand_like(zero_logit) < torch.sigmoid(zero_logit)
        k = _gumbel_argmax(logits)[..., None]
        mean, scale = means.gather(-1, k)[..., 0], log_scales.gather(-1, k)[..., 0].exp()
        # inverse CDF of the logistic truncated to w <= w_max
        tiny = torch.finfo(params.dtype).tiny
        u = (torch.rand_like(mean) * torch.sigmoid((w_max - mean) / scale)).clamp(min=tiny)
        w = (mean + scale * (torch.log(u) - torch.log1p(-u))).clamp(max=w_max)
        # a hair below the truncation point, so that log y <= log_max after float rounding
        y_cap = self.log_max.exp() * (1.0 - 1e-5)
        y = torch.exp(w * self.log_std + self.log_mean).clamp(min=tiny, max=y_cap)
        return torch.where(zero, 0.0, y)


class ZeroOrLevels(PixelLikelihood):
    """D+D: categorical over {0, g_1, …, g_L}; parameters are the ``1 + L`` logits."""

    def __init__(self, n_levels: int) -> None:
        super().__init__()
        self.n_params = 1 + n_levels
        self.register_buffer("levels", torch.arange(1, n_levels + 1) / n_levels)

    def fit(self, nonzero: Tensor, weights: Tensor | None = None) -> None:
        super().fit(nonzero)
        step = max(1, -(-len(nonzero) // _QUANTILE_MAX))
        values = nonzero.double()[::step]
        weights = values if weights is None else weights.double()[::step]
        n_weighted = len(self.levels) // 2
        levels = torch.cat(
            [
                torch.quantile(values, _mid_quantiles(len(self.levels) - n_weighted)),
                weighted_quantiles(values, weights, _mid_quantiles(n_weighted)),
            ]
        )
        self.levels.copy_(levels.sort().values)

    def classes(self, y: Tensor) -> Tensor:
        """0 for zero pixels, else 1 + the index of the nearest level; shape of ``y``."""
        edges = (self.levels[1:] + self.levels[:-1]) / 2
        return torch.where(y > 0, 1 + torch.bucketize(y.contiguous(), edges), 0)

    def _values(self) -> Tensor:
        return torch.cat([self.levels.new_zeros(1), self.levels])

    def prepare(self, y: Tensor) -> Tensor:
        return self._values()[self.classes(y)]

    def log_prob(self, params: Tensor, y: Tensor) -> Tensor:
        log_p = F.log_softmax(params, dim=-1)
        return log_p.gather(-1, self.classes(y)[..., None])[..., 0]

    def zero_log_probs(self, params: Tensor) -> tuple[Tensor, Tensor]:
        log_p = F.log_softmax(params, dim=-1)
        return log_p[..., 0], torch.logsumexp(log_p[..., 1:], dim=-1)

    def sample(self, params: Tensor) -> Tensor:
        return self._values()[_gumbel_argmax(params)]


class SparseAutoregressiveModel(LikelihoodModel):
    """``model=sarm`` for jet images (see the module docstring).

    Args:
        data_spec: filled in by the runner; event shape ``(1, S, S)``.
        likelihood: ``dc`` (point mass + continuous) or ``dd`` (point mass + levels).
        stages: 1 (SARM-1) or 2 (SARM-2: centre and periphery networks).
        order: generation order, one of :data:`genhep.nn.orders.ORDERS`.
        order_seed: seed of the ``random`` order.
        central_size: side of the central square of the stage split (``stages: 2``).
        hidden: GRU state size.
        num_layers: stacked GRU layers.
        embed_dim: step embedding size.
        radius: neighbourhood radius of the network inputs (pixels).
        head_hidden: hidden sizes of the parameter head.
        activation: activation of the head.
        n_mixture: logistic components (D+C).
        n_levels: non-zero intensity levels (D+D).
        optimizer, scheduler: ``_partial_`` factories.
        ema: EMA decay of the weights used for sampling (``None``: off).
    """

    display_name = "SARM"

    #: the loss is nats per pixel
    nll_per = "dim"

    @classmethod
    def incompatibility(cls, spec: DataSpec) -> str | None:
        return first_problem(family_problem(spec, "jet_images"), image_problem(spec))

    @property
    def log_prob_kind(self) -> str:
        """D+C: a density (``exact``); D+D: the probability of the quantised image."""
        return "exact" if isinstance(self.likelihood, ZeroInflatedLogistics) else "discretised"

    def __init__(
        self,
        data_spec: Mapping[str, Any],
        likelihood: str = "dc",
        stages: int = 1,
        order: str = "spiral_out_ccw",
        order_seed: int = 0,
        central_size: int = 11,
        hidden: int = 64,
        num_layers: int = 1,
        embed_dim: int = 16,
        radius: int = 1,
        head_hidden: Sequence[int] = (64,),
        activation: str = "silu",
        n_mixture: int = 5,
        n_levels: int = 64,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        ema: float | None = None,
    ) -> None:
        super().__init__(data_spec, optimizer, scheduler, ema)
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        shape = tuple(self.data_spec.event_shape)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"model.likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        if stages not in (1, 2):
            raise ValueError(f"model.stages must be 1 or 2, got {stages}")
        self.size, self.n_pixels, self.cond_dim = shape[1], shape[1] ** 2, self.data_spec.cond_dim
        if stages == 2 and not 0 < central_size < self.size:
            raise ValueError(
                f"model.central_size must be in [1, {self.size - 1}], got {central_size}"
            )
        self.likelihood = (
            ZeroInflatedLogistics(n_mixture) if likelihood == "dc" else ZeroOrLevels(n_levels)
        )
        split = None
        if stages == 2:
            split = self.n_pixels - central_size**2 if "_in_" in order else central_size**2
        self.net = OrderedPixelGRU(
            pixel_order(order, self.size, order_seed),
            self.size,
            n_features=self.likelihood.n_features,
            n_out=self.likelihood.n_params,
            cond_dim=self.cond_dim,
            hidden=hidden,
            num_layers=num_layers,
            embed_dim=embed_dim,
            radius=radius,
            head_hidden=head_hidden,
            activation=activation,
            split=split,
        )

    # -- fitted intensity statistics ---------------------------------------------------

    def fit_to_data(self, data: TrainingData) -> None:
        """Fit the intensity statistics (and D+D levels) to the non-zero training pixels,
        weighted by their pT in physical units where the data has a transform."""
        if bool(self.likelihood.fitted):
            return
        values = data.x[data.x > 0].float()
        if values.numel() == 0:
            raise ValueError("SARM: every training pixel is zero")
        weights = None if data.to_physical is None else torch.as_tensor(data.to_physical(values))
        self.likelihood.fit(values, weights)

    # -- likelihood --------------------------------------------------------------------

    def _feature_table(self, values: Tensor) -> Tensor:
        """``(B, N + 1, F)`` features of flat pixel ``values`` ``(B, N)`` and the all-zero
        "not available" row."""
        return F.pad(self.likelihood.features(values), (0, 0, 0, 1))

    def pixel_params(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Parameters ``(B, N, P)`` of every pixel's conditional in generation order, and the
        modelled values ``(B, N)`` in the same order (D+D: quantised), from images
        ``(B, 1, S, S)``."""
        values = self.likelihood.prepare(x.to(self.device, torch.float32).reshape(len(x), -1))
        params = self.net(self._feature_table(values), self.condition(cond, len(x)))
        return params, values[:, self.net.order]

    def pixel_log_probs(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """log p of each pixel given the earlier ones, ``(B, N)`` nats, in generation order."""
        params, values = self.pixel_params(x, cond)
        return self.likelihood.log_prob(params, values)

    def log_prob(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """Exact log p(x | cond) ``(B,)`` in nats of images ``(B, 1, S, S)`` >= 0 in transformed
        space (D+D: of the quantised image, a probability; D+C: a density, see the module
        docstring)."""
        return self.pixel_log_probs(x, cond).sum(dim=1)

    # -- sampling ----------------------------------------------------------------------

    def _generate(
        self, n: int, cond: Tensor | None, keep_params: bool
    ) -> tuple[Tensor, Tensor | None]:
        cond = self.condition(cond, n)
        features = torch.zeros(n, self.n_pixels + 1, self.likelihood.n_features, device=self.device)
        image = torch.zeros(n, self.n_pixels, device=self.device)
        params, state, cache = [], None, self.net.start(n, cond)
        for t, pixel in enumerate(self.net.order.tolist()):
            step_params, state = self.net.step(features, t, state, cache)
            value = self.likelihood.sample(step_params)
            image[:, pixel] = value
            features[:, pixel] = self.likelihood.features(value)
            if keep_params:
                params.append(step_params)
        image = image.reshape(n, 1, self.size, self.size)
        return image, torch.stack(params, dim=1) if keep_params else None

    @torch.no_grad()
    def sample(self, n: int, cond: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """``(n, 1, S, S)`` images in transformed space: >= 0, exact zeros from the zero part.

        One GRU step per pixel, the state carried over (no earlier work is recomputed).
        """
        return self._generate(n, cond, keep_params=False)[0]

    @torch.no_grad()
    def sample_with_params(self, n: int, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """As :meth:`sample`, with the parameters ``(n, N, P)`` each pixel was drawn from (in
        generation order) — for diagnostics."""
        return self._generate(n, cond, keep_params=True)

    # -- training ----------------------------------------------------------------------

    def likelihood_terms(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Per-pixel NLL (``loss``) and its zero / non-zero part, nats per pixel."""
        params, values = self.pixel_params(batch["x"], batch.get("cond"))
        log_zero, log_nonzero = self.likelihood.zero_log_probs(params)
        zero_nll = -torch.where(values > 0, log_nonzero, log_zero).mean()
        loss = -self.likelihood.log_prob(params, values).mean()
        return {"loss": loss, "zero_nll": zero_nll, "intensity_nll": loss - zero_nll}
