"""The particle VAE of Orzari, Duarte, Vlimant et al. (ConVAE, borzari/ConVAE_Jet) for clouds.

As the authors' model (``../shared/references/models.md``), adapted to genhep's ``(B, N, F)``
clouds: the cloud is a one-channel image of ``F × N`` (features × particles).

Encoder: ``Conv2d(1 → 50, (F, 5))`` → ``Conv2d(50 → 100, (1, 5))`` → ``Conv2d(100 → 200, (1,
5))``, ReLU after each, flatten (``200 × (N − 12)``) → ``Linear(→ 1500)``, ReLU → ``Linear(→
2 × 30)`` (the posterior's mean and log-variance, latent 30). Decoder mirrored:
``Linear(30 → 1500)``, ReLU → ``Linear(→ 200 × (N − 12))``, ReLU → transposed convolutions
``(1, 5)``, ``(1, 5)``, ``(F, 5)`` with ReLU between → the output activation. The authors'
kernel ``(3, 5)`` is ``(F, 5)`` with their three features. The authors' sigmoid output needs
features in [0, 1] (their min–max scaled momenta); genhep's JetNet transforms are
``standardize`` (``model.output=identity``, the default and the experiment's), ``max_abs``
(features in [−1, 1]: ``tanh``) and ``none``; ``sigmoid`` stays available.

Loss (:class:`~genhep.models.vae.VariationalAutoencoder`): ``(1 − β)·(reconstruction +
w_pT·(Δ jet pT)² + w_m·(Δ jet mass)²) + β·KL``. Reconstruction ``model.reconstruction``:
``mse``, the squared error summed over the genuine particles' features slot by slot, or
``chamfer``, the symmetric chamfer distance between the genuine particles of input and
reconstruction (:func:`~genhep.nn.chamfer.chamfer_distance`, the authors'). Both are per-event
sums in model-space units. The jet terms (authors' weights 1 and 10 on GeV²) compare the jet pT
and mass of input and reconstruction built from the genuine particles as massless 4-vectors
``(ptrel, etarel, phirel)``: in units of the jet pT, since a mass is not a function of
standardised features. The per-feature affine map from model space to those physical features
(every JetNet transform is one on genuine particles) is fitted in :meth:`fit_to_data` and kept
in the checkpoint.

``log_prob`` is the ELBO with a Gaussian decoder of ``model.decoder_std`` on the genuine
particles in slot order, given the multiplicity, also for a chamfer-trained model (see
:mod:`genhep.models.vae`); its bits per dimension divide by ``N × F``, the padded slots
included, as for every cloud model.

Masks: the model does not learn multiplicities. JetNet's particles are pT-ordered, genuine
first; at sampling the model takes the real events' masks (``sample(n, mask=...)``), marks the
first ``N`` slots of each event genuine (``N`` its real multiplicity), zeroes the others and
returns :class:`~genhep.models.base.Generated`. Nothing bounds the decoded ``ptrel`` below in
model space (identity or tanh outputs); JetNet's inverse transform clamps it at zero, so the
physical samples have ``ptrel >= 0``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from genhep.models.base import Generated, OptimizerFactory, SchedulerFactory, TrainingData
from genhep.models.vae import VariationalAutoencoder
from genhep.nn.chamfer import chamfer_distance
from genhep.spec import DataSpec, cloud_problem, first_problem

OUTPUTS: dict[str, type[nn.Module]] = {
    "identity": nn.Identity,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}
RECONSTRUCTIONS = ("mse", "chamfer")
JET_FEATURES = ("etarel", "phirel", "ptrel")
#: events :meth:`ParticleVAE.fit_to_data` fits the model-to-physical map on
FIT_EVENTS = 2000


def jet_pt_mass(x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Jet pT and mass ``(B,)`` of massless particles ``x`` ``(B, N, 3)`` = ``[etarel, phirel,
    ptrel]`` (genuine where ``mask``), in units of the jet pT (as
    :mod:`genhep.metrics.jet_clouds`, differentiable)."""
    eta, phi, pt = (x[..., i] * mask for i in range(3))
    px, py = (pt * phi.cos()).sum(1), (pt * phi.sin()).sum(1)
    pz, energy = (pt * eta.sinh()).sum(1), (pt * eta.cosh()).sum(1)
    pt2 = px.pow(2) + py.pow(2)
    mass2 = energy.pow(2) - pt2 - pz.pow(2)
    return pt2.clamp_min(1e-12).sqrt(), mass2.clamp_min(1e-12).sqrt()


class ParticleVAE(VariationalAutoencoder):
    """``model=particle_vae`` for masked particle clouds (see the module docstring).

    Args:
        data_spec: filled in by the runner (``(N, F)`` clouds with a mask, no condition).
        latent_dim: latent size (30).
        channels: the three convolutions' channels (50, 100, 200).
        kernel_width: the convolutions' width along the particles (5); needs
            ``N >= 3 (kernel_width − 1) + 1``.
        hidden: the fully connected layer (1500).
        output: the decoder's output activation, ``identity``, ``tanh`` or ``sigmoid``.
        reconstruction: ``mse`` or ``chamfer``.
        jet_pt_weight, jet_mass_weight: weights of (Δ jet pT)² and (Δ jet mass)² (units of the
            jet pT; 0: off; the features etarel, phirel, ptrel are then needed).
        beta, decoder_std, elbo_samples, optimizer, scheduler, ema: as
            :class:`~genhep.models.vae.VariationalAutoencoder`.
    """

    @classmethod
    def incompatibility(cls, spec: DataSpec) -> str | None:
        conditional = f"it is unconditional (data.cond=null), got cond_dim {spec.cond_dim}"
        return first_problem(cloud_problem(spec), conditional if spec.cond_dim else None)

    def __init__(
        self,
        data_spec: Mapping[str, Any],
        latent_dim: int = 30,
        channels: Sequence[int] = (50, 100, 200),
        kernel_width: int = 5,
        hidden: int = 1500,
        output: str = "identity",
        reconstruction: str = "mse",
        jet_pt_weight: float = 0.0,
        jet_mass_weight: float = 0.0,
        beta: float = 0.9998,
        decoder_std: float | Sequence[float] | None = None,
        elbo_samples: int = 1,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        ema: float | None = None,
    ) -> None:
        weights = {"jet_pt": jet_pt_weight, "jet_mass": jet_mass_weight}
        super().__init__(
            data_spec,
            latent_dim,
            beta,
            decoder_std,
            weights,
            elbo_samples,
            optimizer,
            scheduler,
            ema,
        )
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        if output not in OUTPUTS:
            raise ValueError(f"model.output must be one of {sorted(OUTPUTS)}, got {output!r}")
        if reconstruction not in RECONSTRUCTIONS:
            raise ValueError(
                f"model.reconstruction must be one of {RECONSTRUCTIONS}, got {reconstruction!r}"
            )
        if len(channels) != 3:
            raise ValueError(f"model.channels must be three numbers, got {list(channels)}")
        n, f = self.data_spec.event_shape
        width = n - 3 * (kernel_width - 1)
        if width < 1:
            raise ValueError(
                f"model.kernel_width={kernel_width}: three convolutions need at least "
                f"{3 * (kernel_width - 1) + 1} particles, the data have {n}"
            )
        self.reconstruction = reconstruction
        self.jet_columns = self._jet_columns() if self.term_weights else None
        c1, c2, c3 = channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, (f, kernel_width)), nn.ReLU(),
            nn.Conv2d(c1, c2, (1, kernel_width)), nn.ReLU(),
            nn.Conv2d(c2, c3, (1, kernel_width)), nn.ReLU(),
            nn.Flatten(),
            nn.Linear(c3 * width, hidden), nn.ReLU(),
            nn.Linear(hidden, 2 * latent_dim),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, c3 * width), nn.ReLU(),
            nn.Unflatten(1, (c3, 1, width)),
            nn.ConvTranspose2d(c3, c2, (1, kernel_width)), nn.ReLU(),
            nn.ConvTranspose2d(c2, c1, (1, kernel_width)), nn.ReLU(),
            nn.ConvTranspose2d(c1, 1, (f, kernel_width)),
            OUTPUTS[output](),
        )  # fmt: skip
        # model space -> physical features of genuine particles, x * scale + shift per feature
        self.register_buffer("physical_scale", torch.ones(f))
        self.register_buffer("physical_shift", torch.zeros(f))

    def _jet_columns(self) -> list[int]:
        columns = self.data_spec.layout.get("features", {})
        missing = [name for name in JET_FEATURES if name not in columns]
        if missing:
            raise ValueError(
                f"model.jet_pt_weight / model.jet_mass_weight need the particle features "
                f"{list(JET_FEATURES)}; data.particle_features lacks {missing}"
            )
        return [columns[name][0] for name in JET_FEATURES]

    # -- networks -------------------------------------------------------------------------

    def encode(self, x: Tensor, cond: Tensor | None, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        out = self.encoder(x.transpose(1, 2)[:, None])
        return out[:, : self.latent_dim], out[:, self.latent_dim :]

    def decode(self, z: Tensor, cond: Tensor | None, mask: Tensor | None) -> Tensor:
        x = self.decoder(z)[:, 0].transpose(1, 2)
        return x if mask is None else torch.where(mask[..., None], x, torch.zeros_like(x))

    # -- loss terms -----------------------------------------------------------------------

    def reconstruction_error(self, x: Tensor, recon: Tensor, mask: Tensor | None) -> Tensor:
        if self.reconstruction == "chamfer":
            return chamfer_distance(x, recon, mask, mask)
        return super().reconstruction_error(x, recon, mask)

    def extra_terms(self, x: Tensor, recon: Tensor, mask: Tensor | None) -> dict[str, Tensor]:
        if not self.term_weights:
            return {}
        real = jet_pt_mass(self.physical(x), mask)
        reco = jet_pt_mass(self.physical(recon), mask)
        terms = {
            "jet_pt": (real[0] - reco[0]).pow(2),
            "jet_mass": (real[1] - reco[1]).pow(2),
        }
        return {name: terms[name] for name in self.term_weights}

    def physical(self, x: Tensor) -> Tensor:
        """``[etarel, phirel, ptrel]`` ``(B, N, 3)`` of model-space particles ``x``."""
        physical = x * self.physical_scale + self.physical_shift
        return physical[..., self.jet_columns]

    def fit_to_data(self, data: TrainingData) -> None:
        """With jet terms: the per-feature affine map from model space to physical features,
        least squares over the genuine particles of the first :data:`FIT_EVENTS` events."""
        if not self.term_weights or data.to_physical is None:
            return
        x, mask = data.x[:FIT_EVENTS].double(), data.mask[:FIT_EVENTS].bool()
        physical = torch.as_tensor(data.to_physical(x, mask=mask))[mask]
        x = x[mask]
        x_centred, p_centred = x - x.mean(0), physical - physical.mean(0)
        scale = (x_centred * p_centred).mean(0) / x_centred.pow(2).mean(0).clamp_min(1e-30)
        shift = physical.mean(0) - scale * x.mean(0)
        residual = (x * scale + shift - physical).abs().max()
        if residual > 1e-4 * physical.abs().max():
            raise ValueError(
                "model.jet_pt_weight / model.jet_mass_weight need a data transform that is "
                f"affine per feature (data.transform standardize, max_abs or none); the fit "
                f"leaves a residual of {float(residual):.3g}"
            )
        self.physical_scale.copy_(scale)
        self.physical_shift.copy_(shift)

    # -- generation -----------------------------------------------------------------------

    @torch.no_grad()
    def sample(self, n: int, cond: Tensor | None = None, mask: Tensor | None = None) -> Generated:
        """``n`` clouds whose first ``mask[i].sum()`` slots are genuine (``mask`` ``(n, N)``:
        the real events' masks); the particles and these masks."""
        if mask is None:
            raise ValueError("the particle VAE samples the real multiplicities: pass mask (n, N)")
        counts = mask.to(self.device).sum(dim=1)
        slots = torch.arange(self.data_spec.event_shape[0], device=self.device)
        own = slots[None, :] < counts[:, None]
        return Generated(self.prior_sample(n, cond, own), own)
