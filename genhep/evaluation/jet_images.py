"""Jet-image evaluator: the SARM / LAGAN physics comparison of generated and real images.

Samples are in physical units: ``x`` ``(N, 1, H, W)`` pixel pT in GeV (25×25 or padded 28×28,
grid as :mod:`genhep.geometry.jet_image` documents) and, for two-class data, ``cond`` ``(N, 2)``
one-hot ``[background, signal]``. Metrics, each ``value ± error`` with a real-vs-real baseline
(W1 between two disjoint real samples: ``reference`` vs ``real``):

* ``w1_pt``, ``w1_mass``, ``w1_tau21`` — Wasserstein-1 of jet pT (GeV), jet mass (GeV) and τ21
  computed from the pixels (the SARM table's "EMD"), bootstrap errors; with a one-hot ``cond``
  also per class, ``w1_pt_signal``, ``w1_mass_background``, ... (events assigned to a class by
  the argmax of their ``cond``);
* ``w1_log_intensity`` — W1 of ``log(pixel pT / GeV)`` over the non-zero pixels (the
  pixel-intensity spectrum);
* ``mean_image_l1`` — ``Σ_pixels |mean image_gen − mean image_real|`` (GeV), bootstrap error
  over events;
* ``sparsity_diff`` — ``|mean sparsity_gen − mean sparsity_real|`` (fraction of zero pixels),
  error from the two standard errors of the mean.

* ``auc_classification`` — the SARM paper's classification test, for two-class data: a
  W-vs-QCD classifier (MLP on the flattened log(1 + pixel pT) images) trained on the
  *generated* images with their class labels, tested on the real images; its real-vs-real
  value is the same classifier trained on the reference (Monte Carlo) images. Error:
  bootstrap over the test images. Skipped (``classifier=False`` or fewer than
  ``min_classifier_events`` per class).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from genhep.data.jets.image_format import CLASS_NAMES
from genhep.evaluation.base import Evaluator, Metric, Sample
from genhep.geometry.jet_image import HALF_WIDTH, PITCH, pad_offset
from genhep.metrics.bootstrap import bootstrap
from genhep.metrics.classifier import transfer_auc
from genhep.metrics.jet_images import (
    jet_mass_from_image,
    jet_pt_from_image,
    mean_image,
    pixel_intensities,
    sparsity,
    tau21_from_image,
)
from genhep.metrics.wasserstein import wasserstein_1d, wasserstein_1d_with_error
from genhep.plotting import histogram_overlay

__all__ = ["JetImageEvaluator"]

#: Columns of the one-hot condition.

_LABELS = {
    "pt": r"jet $p_T$ from pixels (GeV)",
    "mass": "jet mass from pixels (GeV)",
    "tau21": r"$\tau_{21}$ from pixels",
}


def _classes(sample: Sample) -> np.ndarray | None:
    cond = sample.get("cond")
    if cond is None or np.ndim(cond) != 2 or np.shape(cond)[1] != len(CLASS_NAMES):
        return None
    return np.asarray(cond).argmax(axis=1)


class JetImageEvaluator(Evaluator):
    """W1 of pixel-level jet observables, intensity spectrum, mean image and sparsity.

    Args:
        n_bootstrap: resamples for the errors.
        seed: seed of the bootstrap and of the classifier.
        classifier: run the classification test (two-class data only).
        min_classifier_events: fewest events per class for the classification test.
    """

    def __init__(
        self,
        n_bootstrap: int = 20,
        seed: int = 1701,
        classifier: bool = True,
        min_classifier_events: int = 100,
        **unknown: Any,
    ) -> None:
        super().__init__(**unknown)
        self.n_bootstrap, self.seed = n_bootstrap, seed
        self.classifier, self.min_classifier_events = classifier, min_classifier_events

    def observables(self, sample: Sample) -> dict[str, np.ndarray]:
        """Per-event ``pt`` (GeV), ``mass`` (GeV) and ``tau21`` from the pixels."""
        x = sample["x"]
        return {
            "pt": jet_pt_from_image(x),
            "mass": jet_mass_from_image(x),
            "tau21": tau21_from_image(x),
        }

    def _w1(self, gen: np.ndarray, real: np.ndarray, ref: np.ndarray) -> Metric:
        if gen.size == 0 or real.size == 0:
            return Metric(float("nan"), float("nan"), None)
        value, error = wasserstein_1d_with_error(gen, real, self.n_bootstrap, self.seed)
        return Metric(value, error, wasserstein_1d(ref, real) if ref.size else None)

    def evaluate(self, generated: Sample, real: Sample, reference: Sample) -> dict[str, Metric]:
        self.skipped = {}
        samples = {"gen": generated, "real": real, "ref": reference}
        obs = {k: self.observables(s) for k, s in samples.items()}
        metrics = {
            f"w1_{name}": self._w1(obs["gen"][name], obs["real"][name], obs["ref"][name])
            for name in _LABELS
        }
        classes = {k: _classes(s) for k, s in samples.items()}
        if all(c is not None for c in classes.values()):
            for index, label in enumerate(CLASS_NAMES):
                for name in _LABELS:
                    picked = {k: obs[k][name][classes[k] == index] for k in samples}
                    metrics[f"w1_{name}_{label}"] = self._w1(
                        picked["gen"], picked["real"], picked["ref"]
                    )
            fewest = min(min(np.bincount(c, minlength=2)) for c in classes.values())
            if not self.classifier:
                self.skip("auc_classification", "turned off (classifier=false)", warn=False)
            elif fewest < self.min_classifier_events:
                self.skip(
                    "auc_classification",
                    f"{fewest} events in the smallest class of a sample, below "
                    f"min_classifier_events = {self.min_classifier_events}",
                )
            else:
                with self.step("classification test (2 classifiers)"):
                    metrics["auc_classification"] = self._classification(samples, classes)
        logs = {k: np.log(pixel_intensities(s["x"])) for k, s in samples.items()}
        metrics["w1_log_intensity"] = self._w1(logs["gen"], logs["real"], logs["ref"])
        metrics["mean_image_l1"] = self._mean_image_l1(generated, real, reference)
        metrics["sparsity_diff"] = self._sparsity_diff(generated, real, reference)
        return metrics

    def _classification(self, samples: dict[str, Sample], classes: dict[str, np.ndarray]) -> Metric:
        """Train on generated (and, for the baseline, reference) images; test on real ones."""
        features = {k: np.log1p(np.asarray(s["x"], dtype=np.float64)) for k, s in samples.items()}
        options = {"n_bootstrap": self.n_bootstrap, "seed": self.seed}
        test = (features["real"], classes["real"])
        value, error = transfer_auc(features["gen"], classes["gen"], *test, **options)
        baseline, _ = transfer_auc(features["ref"], classes["ref"], *test, **options)
        return Metric(value, error, baseline)

    def _mean_image_l1(self, generated: Sample, real: Sample, reference: Sample) -> Metric:
        gen, true = np.asarray(generated["x"]), np.asarray(real["x"])

        def l1(images: np.ndarray, real_images: np.ndarray) -> float:
            return float(np.abs(mean_image(images) - mean_image(real_images)).sum())

        value, error = bootstrap(l1, gen, true, n_bootstrap=self.n_bootstrap, seed=self.seed)
        return Metric(value, error, l1(np.asarray(reference["x"]), true))

    @staticmethod
    def _sparsity_diff(generated: Sample, real: Sample, reference: Sample) -> Metric:
        gen, true, ref = (sparsity(s["x"]) for s in (generated, real, reference))
        error = float(np.sqrt(gen.var() / len(gen) + true.var() / len(true)))
        return Metric(
            float(abs(gen.mean() - true.mean())), error, float(abs(ref.mean() - true.mean()))
        )

    def figures(self, generated: Sample, real: Sample) -> dict[str, Figure]:
        """``mean_images`` (real, generated, difference), ``pt``, ``mass``, ``tau21`` and
        ``intensity`` (log10 non-zero pixel pT) overlays."""
        pair = {"real": real, "generated": generated}
        obs = {label: self.observables(s) for label, s in pair.items()}
        figures = {"mean_images": self._mean_image_figure(generated, real)}
        for name, xlabel in _LABELS.items():
            figures[name] = histogram_overlay({k: v[name] for k, v in obs.items()}, xlabel)
        intensities = {k: np.log10(pixel_intensities(s["x"])) for k, s in pair.items()}
        if all(v.size for v in intensities.values()):
            figures["intensity"] = histogram_overlay(
                intensities, r"$\log_{10}$(pixel $p_T$ / GeV)", log_y=True
            )
        return figures

    @staticmethod
    def _mean_image_figure(generated: Sample, real: Sample) -> Figure:
        means = {"real": mean_image(real["x"]), "generated": mean_image(generated["x"])}
        height, width = means["real"].shape
        low_eta = -HALF_WIDTH - PITCH * pad_offset(width)
        low_phi = -HALF_WIDTH - PITCH * pad_offset(height)
        # rows are φ decreasing downwards (origin="upper"), columns η increasing
        extent = (low_eta, low_eta + PITCH * width, low_phi, low_phi + PITCH * height)
        positive = np.concatenate([m[m > 0] for m in means.values()])
        norm = LogNorm(positive.min(), positive.max()) if positive.size else None
        fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.6), layout="constrained")
        for ax, (label, mean) in zip(axes[:2], means.items(), strict=True):
            image = ax.imshow(np.where(mean > 0, mean, np.nan), norm=norm, extent=extent)
            ax.set_title(f"mean image, {label}")
        if norm is not None:
            fig.colorbar(image, ax=axes[:2], label=r"mean pixel $p_T$ (GeV)", shrink=0.85)
        difference = means["generated"] - means["real"]
        bound = float(np.abs(difference).max()) or 1.0
        image = axes[2].imshow(difference, cmap="RdBu_r", vmin=-bound, vmax=bound, extent=extent)
        axes[2].set_title("generated − real")
        fig.colorbar(image, ax=axes[2], label="GeV", shrink=0.85)
        for ax in axes:
            ax.set_xlabel(r"$\eta$")
            ax.set_ylabel(r"$\phi$")
        return fig
