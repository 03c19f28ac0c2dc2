"""The variational-autoencoder base: Gaussian posterior, standard normal prior, β-weighted loss.

A subclass gives the two networks (:meth:`VariationalAutoencoder.encode`: the posterior's mean
and log-variance ``(B, L)``; :meth:`VariationalAutoencoder.decode`: the decoder mean
``(B, *event_shape)``) and may replace the reconstruction error and add named terms. Then

- **training** minimises the authors' β-weighted objective (Orzari, Duarte, Vlimant et al.;
  ``β = 0.9998`` there, ``model.beta``)::

      objective = (1 − β) · mean_B[reconstruction + Σ_k w_k · term_k] + β · mean_B[KL]

  with ``KL = KL(q(z|x) ‖ N(0, I))`` in closed form, summed over the latent dimensions, and
  ``z = μ + σ ε`` (reparameterised, one draw per event). The named terms ``term_k`` (a
  particle VAE's jet-mass difference, a calorimeter VAE's layer energies) belong to the
  reconstruction, as the authors' jet terms do. This is not the ELBO, so the VAE hands it to
  :class:`~genhep.models.likelihood.LikelihoodModel` as the ``objective`` term, and
- **``log_prob``** is the ELBO (``log_prob_kind = "bound"``), a real lower bound of the
  log-density under a Gaussian decoder of fixed per-feature standard deviation
  ``decoder_std`` (model-space units)::

      ELBO(x) = E_q[Σ log N(x; decoder(z), decoder_std²)] − KL,

  the expectation over ``elbo_samples`` draws of ``z``, the sum over the numbers the decoder
  models (with a mask: the features of the genuine particles, the multiplicity given, so the
  bound is of ``log p(x | mask)``). ``<stage>/loss`` (what ``results.json`` and ``genhep
  report`` show), bits per dimension and the default checkpoint choice (``val/loss``) are
  ``−ELBO``, one draw per event. The ELBO uses this Gaussian decoder whatever the
  reconstruction error the model trains on: a chamfer-trained particle VAE's ELBO compares its
  reconstruction with the input slot by slot, in the particles' order.

  ``decoder_std = null`` takes ``sqrt(β / (2 (1 − β)))``, the standard deviation for which
  ``(1 − β) · squared error + β · KL = β · (−ELBO) + const``: with a squared-error
  reconstruction and no further terms, the model then trains on its own ``−ELBO``. (The
  authors' ``β = 0.9998`` on momenta in GeV is a decoder of ``sqrt(2499.5) ≈ 50`` GeV.)

Sampling: ``z ~ N(0, I)`` → the decoder mean (no decoder noise).

Hooks a subclass may replace:

- :meth:`VariationalAutoencoder.posterior_sample`: one draw ``z ~ q(z | x)`` per event and
  the KL term of that draw. The default is the Gaussian posterior with the closed-form KL; a
  richer posterior (the calorimeter VAE's inverse autoregressive flow) returns the one-draw
  Monte Carlo estimate ``log q(z | x) − log N(z; 0, I)``, whose expectation is the KL, so the
  ELBO stays a lower bound in expectation.
- :meth:`VariationalAutoencoder.latent`: the latent vector of an event that diagnostics and
  :meth:`~VariationalAutoencoder.reconstruct` use (a posterior draw, or its deterministic
  centre).
- :meth:`VariationalAutoencoder.objective`: how reconstruction, named terms and KL combine
  into what is minimised (the β-weighted form above by default).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from genhep.models.base import OptimizerFactory, SchedulerFactory
from genhep.models.likelihood import LikelihoodModel


def gaussian_kl(mean: Tensor, log_var: Tensor) -> Tensor:
    """``KL(N(mean, exp(log_var)) ‖ N(0, I))`` per event ``(B,)``, summed over latents ``(B, L)``."""
    return 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(dim=1)


class PosteriorSample(NamedTuple):
    """One draw of the posterior per event: ``z`` ``(B, L)`` and its KL term ``(B,)`` (closed
    form for a Gaussian posterior, else the one-draw estimate ``log q(z|x) − log p(z)``)."""

    z: Tensor
    kl: Tensor


def standard_normal_log_prob(z: Tensor) -> Tensor:
    """``log N(z; 0, I)`` per event ``(B,)`` of ``z`` ``(B, L)``."""
    return -0.5 * (z.pow(2) + math.log(2.0 * math.pi)).sum(dim=1)


class VariationalAutoencoder(LikelihoodModel):
    """Base of the VAEs (see the module docstring).

    Args:
        data_spec: filled in by the runner.
        latent_dim: size ``L`` of the latent vector.
        beta: the KL weight β in ``(1 − β)·reconstruction + β·KL``, in [0, 1).
        decoder_std: the Gaussian decoder's standard deviation for the ELBO (model-space
            units): a number, one per feature (the last axis of ``x``), or ``None`` for
            ``sqrt(β / (2 (1 − β)))`` (needs β > 0).
        term_weights: weight of each named term of :meth:`extra_terms` (a term of weight 0 is
            not computed).
        elbo_samples: draws of ``z`` per event that ``log_prob`` averages the decoder term
            over.
        optimizer, scheduler, ema: as :class:`~genhep.models.base.GenerativeModel`.
    """

    log_prob_kind = "bound"

    def __init__(
        self,
        data_spec: Mapping[str, Any],
        latent_dim: int,
        beta: float = 0.5,
        decoder_std: float | Sequence[float] | None = None,
        term_weights: Mapping[str, float] | None = None,
        elbo_samples: int = 1,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        ema: float | None = None,
    ) -> None:
        super().__init__(data_spec, optimizer, scheduler, ema)
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"model.beta must be in [0, 1), got {beta}")
        if latent_dim < 1:
            raise ValueError(f"model.latent_dim must be >= 1, got {latent_dim}")
        if elbo_samples < 1:
            raise ValueError(f"model.elbo_samples must be >= 1, got {elbo_samples}")
        if decoder_std is None:
            if beta == 0.0:
                raise ValueError("model.decoder_std is needed when model.beta = 0")
            decoder_std = math.sqrt(beta / (2.0 * (1.0 - beta)))
        std = torch.as_tensor(decoder_std, dtype=torch.float32).reshape(-1)
        width = self.data_spec.event_shape[-1]
        if (std <= 0).any() or len(std) not in (1, width):
            raise ValueError(
                f"model.decoder_std must be positive, one number or {width} (one per feature), "
                f"got {decoder_std}"
            )
        self.register_buffer("decoder_std", std)
        self.latent_dim, self.beta, self.elbo_samples = latent_dim, beta, elbo_samples
        self.term_weights = {k: float(w) for k, w in (term_weights or {}).items() if w != 0}

    # -- what a subclass provides ---------------------------------------------------------

    @abstractmethod
    def encode(self, x: Tensor, cond: Tensor | None, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """The posterior q(z | x): mean and log-variance, each ``(B, latent_dim)``."""

    @abstractmethod
    def decode(self, z: Tensor, cond: Tensor | None, mask: Tensor | None) -> Tensor:
        """The decoder mean ``(B, *event_shape)`` for latents ``z`` ``(B, latent_dim)``."""

    def reconstruction_error(self, x: Tensor, recon: Tensor, mask: Tensor | None) -> Tensor:
        """What the model trains to reconstruct by, per event ``(B,)``: by default the squared
        error summed over the modelled numbers."""
        return self.masked_sum((x - recon).pow(2), mask)

    def extra_terms(self, x: Tensor, recon: Tensor, mask: Tensor | None) -> dict[str, Tensor]:
        """The per-event terms ``(B,)`` named in :attr:`term_weights` (unweighted, only those:
        a term of weight 0 is not in it); none here."""
        return {}

    # -- the pieces -----------------------------------------------------------------------

    def modelled(self, x: Tensor, mask: Tensor | None) -> Tensor | None:
        """The genuine particles ``(B, N)`` of masked data (the given mask, else the particles
        whose features are not all zero: padding is exactly zero in model space), or
        ``None`` (every number is modelled)."""
        if not self.data_spec.has_mask:
            return None
        return (x != 0).any(dim=-1) if mask is None else mask.to(x.device).bool()

    @staticmethod
    def masked_sum(values: Tensor, mask: Tensor | None) -> Tensor:
        """Sum per event ``(B,)`` of ``values`` ``(B, ...)``; with a mask ``(B, N)``, of the
        genuine particles' rows only."""
        if mask is not None:
            values = torch.where(mask[..., None], values, torch.zeros_like(values))
        return values.flatten(1).sum(dim=1)

    def reparameterise(self, mean: Tensor, log_var: Tensor) -> Tensor:
        """One draw ``z = mean + exp(log_var / 2) · ε`` per event."""
        return mean + (0.5 * log_var).exp() * torch.randn_like(mean)

    def posterior_sample(
        self, x: Tensor, cond: Tensor | None, mask: Tensor | None
    ) -> PosteriorSample:
        """One reparameterised draw of ``q(z | x)`` per event and its KL term (see the module
        docstring); the default: the Gaussian posterior of :meth:`encode`, closed-form KL."""
        mean, log_var = self.encode(x, cond, mask)
        return PosteriorSample(self.reparameterise(mean, log_var), gaussian_kl(mean, log_var))

    def latent(
        self, x: Tensor, cond: Tensor | None = None, mask: Tensor | None = None, sample: bool = True
    ) -> Tensor:
        """The latent vectors ``(B, L)`` of events ``x``: one posterior draw each (``sample``,
        draws of the aggregate posterior, what the latent diagnostic tests) or the posterior's
        deterministic centre (the mean of a Gaussian posterior)."""
        mask = self.modelled(x, mask)
        if sample:
            return self.posterior_sample(x, cond, mask).z
        return self.encode(x, cond, mask)[0]

    def objective(self, reconstruction: Tensor, extras: Mapping[str, Tensor], kl: Tensor) -> Tensor:
        """What is minimised, a scalar, from the per-event ``(B,)`` reconstruction error, the
        unweighted named terms and the KL: ``(1 − β)·mean[reconstruction + Σ w_k term_k] +
        β·mean[KL]`` (the module docstring)."""
        total = reconstruction + sum(self.term_weights[k] * v for k, v in extras.items())
        return (1.0 - self.beta) * total.mean() + self.beta * kl.mean()

    def decoder_log_likelihood(self, x: Tensor, recon: Tensor, mask: Tensor | None) -> Tensor:
        """``Σ log N(x; recon, decoder_std²)`` over the modelled numbers, per event ``(B,)``."""
        std = self.decoder_std
        log_density = -0.5 * ((x - recon) / std).pow(2) - std.log() - 0.5 * math.log(2.0 * math.pi)
        return self.masked_sum(log_density.expand_as(x), mask)

    # -- the likelihood contract ----------------------------------------------------------

    def log_prob(self, x: Tensor, cond: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """The ELBO per event ``(B,)`` in nats (see the module docstring); ``mask`` ``(B, N)``
        the genuine particles of masked data (inferred from ``x`` when ``None``)."""
        mask = self.modelled(x, mask)
        terms = []
        for _ in range(self.elbo_samples):
            z, kl = self.posterior_sample(x, cond, mask)
            terms.append(self.decoder_log_likelihood(x, self.decode(z, cond, mask), mask) - kl)
        return torch.stack(terms).mean(dim=0)

    def likelihood_terms(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``objective`` (minimised), ``loss`` (−ELBO, one draw), ``reconstruction``, ``kl``
        and each weighted term (unweighted), batch means."""
        x, cond = batch["x"], batch.get("cond")
        mask = self.modelled(x, batch.get("mask"))
        z, kl = self.posterior_sample(x, cond, mask)
        recon = self.decode(z, cond, mask)
        reconstruction = self.reconstruction_error(x, recon, mask)
        extras = self.extra_terms(x, recon, mask)
        elbo = self.decoder_log_likelihood(x, recon, mask) - kl
        return {
            "loss": -elbo.mean(),
            "objective": self.objective(reconstruction, extras, kl),
            "reconstruction": reconstruction.mean(),
            "kl": kl.mean(),
            **{name: value.mean() for name, value in extras.items()},
        }

    # -- generation -----------------------------------------------------------------------

    @torch.no_grad()
    def reconstruct(
        self, x: Tensor, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor:
        """The decoder mean at the posterior's centre (:meth:`latent` with ``sample=False``),
        ``(B, *event_shape)`` (for diagnostics)."""
        mask = self.modelled(x, mask)
        return self.decode(self.latent(x, cond, mask, sample=False), cond, mask)

    def prior_sample(self, n: int, cond: Tensor | None, mask: Tensor | None) -> Tensor:
        """Decoder means of ``n`` draws ``z ~ N(0, I)``."""
        z = torch.randn(n, self.latent_dim, device=self.device)
        return self.decode(z, cond, mask)

    @torch.no_grad()
    def sample(self, n: int, cond: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """``n`` events ``(n, *event_shape)``: the decoder mean at ``z ~ N(0, I)``."""
        return self.prior_sample(n, cond, mask)
