"""Evaluator of the JetNet clouds family: MPGAN's metrics (Kansal et al. 2106.11535, 2211.10295).

Samples hold ``x`` (N, n, F) with the family's ``particle_features`` and ``mask`` (N, n);
jet observables are in units of the jet pT (jetnet's convention, see
:mod:`genhep.metrics.jet_clouds`).

- ``w1m``: W1 of the relative jet mass; ``w1p``: W1 of the particle features η_rel, φ_rel,
  pT_rel over real particles, averaged over the three (``w1p_etarel`` ... also reported);
  ``w1efp``: W1 of the 5 prime n = 4, d = 4 EFPs, averaged over them (genhep's own EFPs,
  :mod:`genhep.metrics.efp`, equal to energyflow's; no ``energyflow`` needed).
  Protocol of ``jetnet.evaluation.w1m/w1p/w1efp``: ``w1_num_batches`` batches of
  ``w1_batch_size`` jets drawn *with replacement* from each sample (MPGAN's paper: 10,000 × 5,
  the default; jetnet's functions default to 50,000 × 5); value = mean over batches, error =
  std over batches (ddof = 0). For ``w1p``/``w1efp`` the per-feature means and stds are
  averaged (the same jets feed every feature, so errors are treated as fully correlated).
  Real vs real: the same protocol with the second real sample (``reference``) in place of the
  generated one.
- ``fpd``/``kpd``: :func:`genhep.metrics.fpd` / :func:`genhep.metrics.kpd` (jetnet's
  algorithms) on the 36 EFPs with d <= 4 (``jetnet.evaluation.get_fpd_kpd_jet_features``).
  With ``use_efps=False`` they are absent (reason in :attr:`~JetNetEvaluator.skipped`, a logged
  warning) and ``fpd_hlf``/``kpd_hlf`` are reported instead: the same algorithms on
  high-level features [jet mass, jet pT, per-jet mean and std of η_rel, φ_rel, pT_rel]
  (not comparable with published FPD/KPD). Batch sizes shrink with small samples
  (min(20k, 0.4 n), min(50k, n) for FPD; min(5k, n) for KPD).
- ``cov``/``mmd``: MPGAN's coverage and MMD on the energy mover's distance between jets
  (:func:`genhep.metrics.emd.cov_mmd`, energyflow's EMD, jetnet's protocol):
  ``cov_mmd_batches`` batches of ``cov_mmd_n_eval`` real and generated jets drawn with
  replacement; COV = fraction of real jets nearest to some generated jet (higher is better),
  MMD = mean EMD of a real jet to its nearest generated jet (lower is better); value = mean,
  error = std over batches; real vs real from ``reference``. Needs POT (absent otherwise,
  with the reason in :attr:`~JetNetEvaluator.skipped`).
- ``fpnd``: :func:`genhep.metrics.fpnd.fpnd`, jetnet's FPND in plain torch (jetnet's trained
  ParticleNet and real-jet statistics, read from the installed jetnet distribution; neither
  torch_geometric nor a download needed), for 30-particle g/q/t jets and >= 50,000 generated
  jets (the first 50,000 are used); baseline: the reference sample's FPND; no error. Otherwise
  absent, with the reason in :attr:`JetNetEvaluator.skipped` and the log.
"""

from __future__ import annotations

import importlib.util
import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from genhep.evaluation.base import Evaluator, Metric, Sample
from genhep.metrics.emd import NO_POT, cov_mmd
from genhep.metrics.fpnd import (
    FPND_JET_TYPES,
    FPND_NUM_PARTICLES,
    FPND_NUM_SAMPLES,
    fpnd,
    fpnd_unavailable_reason,
)
from genhep.metrics.frechet import fpd
from genhep.metrics.jet_clouds import (
    FPD_EFPSET_ARGS,
    W1EFP_EFPSET_ARGS,
    efp_columns,
    efps,
    jet_mass,
    jet_pt,
    particle_features,
    particle_moments,
    w1_batched,
    w1p_batched,
)
from genhep.metrics.kernel import kpd
from genhep.plotting import histogram_overlay
from genhep.utils.device import default_device

log = logging.getLogger(__name__)

CLOUD_FEATURES = ("etarel", "phirel", "ptrel")
LABELS = {
    "jet_mass": r"jet mass $m / p_\mathrm{T}^\mathrm{jet}$",
    "jet_pt": r"jet $p_\mathrm{T}$ / $p_\mathrm{T}^\mathrm{jet}$ (particle sum)",
    "etarel": r"particle $\eta^\mathrm{rel}$",
    "phirel": r"particle $\phi^\mathrm{rel}$",
    "ptrel": r"particle $p_\mathrm{T}^\mathrm{rel}$",
}


NO_EFPS = "EFPs switched off (use_efps=false)"


def pot_available() -> bool:
    return importlib.util.find_spec("ot") is not None


class JetNetEvaluator(Evaluator):
    """MPGAN/jetnet metrics for JetNet clouds (see the module docstring).

    Args:
        particle_features: names of the ``x`` features, in order (from the data module).
        w1_batch_size, w1_num_batches: W1 batch protocol (MPGAN: 10,000 × 5; jetnet's
            default: 50,000 × 5).
        seed: seeds every random draw.
        use_efps: EFP-based metrics (``None``: yes, the default; genhep computes the EFPs
            itself since energyflow is no longer needed), ``True`` or ``False``.
        distances: compute FPD and KPD (``fpd``/``kpd``, or ``fpd_hlf``/``kpd_hlf``).
        cov_mmd: compute ``cov`` and ``mmd`` (EMD-based; needs POT).
        cov_mmd_n_eval, cov_mmd_batches: their protocol (MPGAN and jetnet: 100 jets × 10).
        jet_type, num_particles: for FPND's applicability (from the data module).
        device: where the EFPs and FPND's ParticleNet run (``None``: CUDA when available,
            else the CPU); the W1s, FPD/KPD and EMDs run on the CPU (numpy, POT).
    """

    from_data = ("particle_features", "jet_type", "num_particles")
    observable_labels = LABELS

    def __init__(
        self,
        particle_features: Sequence[str] = CLOUD_FEATURES,
        w1_batch_size: int = 10_000,
        w1_num_batches: int = 5,
        seed: int = 42,
        use_efps: bool | None = None,
        distances: bool = True,
        cov_mmd: bool = True,
        cov_mmd_n_eval: int = 100,
        cov_mmd_batches: int = 10,
        jet_type: str | None = None,
        num_particles: int = 30,
        device: str | None = None,
        **unknown: Any,
    ) -> None:
        super().__init__(**unknown)
        self.particle_features = list(particle_features)
        self.w1_batch_size, self.w1_num_batches, self.seed = w1_batch_size, w1_num_batches, seed
        self.use_efps = True if use_efps is None else bool(use_efps)
        self.distances = distances
        self.cov_mmd, self.cov_mmd_n_eval = cov_mmd, cov_mmd_n_eval
        self.cov_mmd_batches = cov_mmd_batches
        self.jet_type, self.num_particles = jet_type, num_particles
        self.device = default_device(device)

    # -- observables -----------------------------------------------------------------------

    def clouds(self, sample: Sample) -> tuple[np.ndarray, np.ndarray]:
        """``[etarel, phirel, ptrel]`` ``(N, n, 3)`` (padded particles zero) and the mask."""
        missing = [f for f in CLOUD_FEATURES if f not in self.particle_features]
        if missing:
            raise ValueError(f"JetNet metrics need the particle features {missing} in x")
        x = np.asarray(sample["x"], dtype=np.float64)
        x = x[..., [self.particle_features.index(f) for f in CLOUD_FEATURES]]
        mask = (
            np.asarray(sample["mask"]).astype(bool)
            if "mask" in sample
            else np.ones(x.shape[:2], dtype=bool)
        )
        return np.where(mask[..., None], x, 0.0), mask

    def observables(self, sample: Sample) -> dict[str, np.ndarray]:
        """Jet mass and pT (relative) per jet, and the particle features of real particles
        (flattened over jets, so their length differs from the number of jets)."""
        x, mask = self.clouds(sample)
        parts = particle_features(x, mask)
        out = {"jet_mass": jet_mass(x, mask), "jet_pt": jet_pt(x, mask)}
        out.update({name: parts[:, i] for i, name in enumerate(CLOUD_FEATURES)})
        return out

    def distance_features(self, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Features for FPD/KPD of :meth:`clouds`' output, ``(N, n_features)``: the 36 d <= 4
        EFPs (``use_efps``), else the high-level set of ``fpd_hlf``/``kpd_hlf``."""
        if self.use_efps:
            return efps(x, mask, FPD_EFPSET_ARGS, device=self.device)
        return np.concatenate(
            [jet_mass(x, mask)[:, None], jet_pt(x, mask)[:, None], particle_moments(x, mask)],
            axis=1,
        )

    # -- scores ----------------------------------------------------------------------------

    def _rng(self, offset: int) -> np.random.Generator:
        return np.random.default_rng(self.seed + offset)

    def evaluate(self, generated: Sample, real: Sample, reference: Sample) -> dict[str, Metric]:
        self.skipped = {}
        gen, gen_mask = self.clouds(generated)
        true, true_mask = self.clouds(real)
        ref, ref_mask = self.clouds(reference)
        kw = {"batch_size": self.w1_batch_size, "num_batches": self.w1_num_batches}
        protocol = f"{self.w1_num_batches} × {self.w1_batch_size} jets"
        metrics: dict[str, Metric] = {}

        with self.step(f"W1M and W1P ({protocol})"):
            masses = [
                jet_mass(c, m) for c, m in ((gen, gen_mask), (true, true_mask), (ref, ref_mask))
            ]
            value, error = w1_batched(masses[0], masses[1], seed=self._rng(0), **kw)
            baseline, _ = w1_batched(masses[2], masses[1], seed=self._rng(1), **kw)
            metrics["w1m"] = Metric(float(value), float(error), float(baseline))

            p_mean, p_std = w1p_batched(gen, true, gen_mask, true_mask, seed=self._rng(2), **kw)
            p_base, _ = w1p_batched(ref, true, ref_mask, true_mask, seed=self._rng(3), **kw)
        metrics["w1p"] = Metric(float(p_mean.mean()), float(p_std.mean()), float(p_base.mean()))
        for i, name in enumerate(CLOUD_FEATURES):
            metrics[f"w1p_{name}"] = Metric(float(p_mean[i]), float(p_std[i]), float(p_base[i]))

        clouds = {
            "generated": (gen, gen_mask),
            "real": (true, true_mask),
            "reference": (ref, ref_mask),
        }
        features = None
        if self.distances:
            features = []
            for label, (c, m) in clouds.items():
                what = "EFPs" if self.use_efps else "high-level features"
                with self.step(f"{what}, {label} ({len(c)} jets)"):
                    features.append(self.distance_features(c, m))
        if self.use_efps:
            if features is None:
                e = []
                for label, (c, m) in clouds.items():
                    with self.step(f"EFPs, {label} ({len(c)} jets)"):
                        e.append(efps(c, m, W1EFP_EFPSET_ARGS, device=self.device))
            else:  # the W1-EFP set is part of the 36 FPD EFPs: computed once (EFPs dominate)
                columns = efp_columns(FPD_EFPSET_ARGS, W1EFP_EFPSET_ARGS)
                e = [f[:, columns] for f in features]
            with self.step(f"W1EFP ({protocol})"):
                e_mean, e_std = w1_batched(e[0], e[1], seed=self._rng(4), **kw)
                e_base, _ = w1_batched(e[2], e[1], seed=self._rng(5), **kw)
            metrics["w1efp"] = Metric(
                float(e_mean.mean()), float(e_std.mean()), float(e_base.mean())
            )
        else:
            self.skip("w1efp", NO_EFPS)

        if features is not None:
            suffix = "" if self.use_efps else "_hlf"
            if not self.use_efps:
                for name in ("fpd", "kpd"):
                    self.skip(name, f"{NO_EFPS}; {name}_hlf is reported instead (not comparable)")
            with self.step("FPD and KPD"):
                distances = self._fpd_kpd(*features)
            metrics.update({f"{name}{suffix}": metric for name, metric in distances.items()})
        else:
            for name in ("fpd", "kpd"):
                self.skip(name, "turned off (distances=false)", warn=False)

        if not self.cov_mmd:
            self.skip("cov", "turned off (cov_mmd=false)", warn=False)
            self.skip("mmd", "turned off (cov_mmd=false)", warn=False)
        elif not pot_available():
            self.skip("cov", NO_POT)
            self.skip("mmd", NO_POT)
        else:
            n, k = self.cov_mmd_n_eval, self.cov_mmd_batches
            with self.step(f"COV and MMD ({k} × {n} × {n} EMDs)"):
                kw = {"n_eval": n, "n_batches": k}
                c, c_err, m, m_err = cov_mmd(
                    true, true_mask, gen, gen_mask, seed=self._rng(6), **kw
                )
                c_base, _, m_base, _ = cov_mmd(
                    true, true_mask, ref, ref_mask, seed=self._rng(7), **kw
                )
            metrics["cov"] = Metric(c, c_err, c_base)
            metrics["mmd"] = Metric(m, m_err, m_base)

        reason = self._fpnd_reason(len(gen))
        if reason is None:
            with self.step("FPND (ParticleNet)"):
                metrics["fpnd"] = Metric(
                    fpnd(gen, gen_mask, self.jet_type, device=self.device),
                    float("nan"),
                    fpnd(ref, ref_mask, self.jet_type, device=self.device),
                )
        else:
            self.skip("fpnd", reason, warn=False)
        return metrics

    def _fpd_kpd(self, g: np.ndarray, r: np.ndarray, ref: np.ndarray) -> dict[str, Metric]:
        """FPD and KPD of generated ``g`` and reference ``ref`` features against real ``r``."""
        n = min(len(g), len(r), len(ref))
        max_samples = min(50_000, n)
        min_samples = max(2, min(20_000, (2 * max_samples) // 5))
        fpd_kw = {"min_samples": min_samples, "max_samples": max_samples, "seed": self.seed}
        kpd_kw = {"batch_size": min(5_000, n), "seed": self.seed}
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="FPD batches", category=RuntimeWarning)
            f_val, f_err = fpd(r, g, **fpd_kw)
            f_base, _ = fpd(r, ref, **fpd_kw)
        k_val, k_err = kpd(r, g, **kpd_kw)
        k_base, _ = kpd(r, ref, **kpd_kw)
        return {"fpd": Metric(f_val, f_err, f_base), "kpd": Metric(k_val, k_err, k_base)}

    def _fpnd_reason(self, n_generated: int) -> str | None:
        if self.num_particles != FPND_NUM_PARTICLES or self.jet_type not in FPND_JET_TYPES:
            return "FPND is defined only for 30-particle g, q or t jets of a single type"
        reason = fpnd_unavailable_reason(self.jet_type)
        if reason is not None:
            return reason
        if n_generated < FPND_NUM_SAMPLES:
            return f"FPND needs >= {FPND_NUM_SAMPLES:,} generated jets, got {n_generated}"
        return None

    # -- figures ---------------------------------------------------------------------------

    def figures(self, generated: Sample, real: Sample) -> dict[str, Figure]:
        real_obs, gen_obs = self.observables(real), self.observables(generated)
        return {
            name: histogram_overlay(
                {"real": real_obs[name], "generated": gen_obs[name]}, LABELS[name]
            )
            for name in real_obs
        }
