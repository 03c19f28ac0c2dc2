"""A first calorimeter evaluator: W1 of the high-level shower features, and shower figures.

Samples are in physical units: ``x`` ``(N, V)`` voxel energies (MeV) and ``cond`` ``(N, 1)``
incident energies (MeV). For every feature ``f`` of
:func:`~genhep.metrics.shower_features.high_level_features` (layer energies, ``e_total``,
``e_ratio`` = E_tot / E_inc, centres and widths in η / φ / r, sparsity per layer) the metric
``w1_{f}`` (e.g. ``w1_e_ratio``, ``w1_e_layer_2``, ``w1_width_eta_layer_1``) is the
Wasserstein-1 distance between the generated and the real feature distributions, in the
feature's units, ± its bootstrap standard deviation; its ``real_vs_real`` value is W1 between
the reference and the real sample (two disjoint real samples). The full CaloChallenge
evaluation (separation power, classifier AUC, FPD/KPD) comes with the evaluation layer.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from genhep.data.calorimeter.geometry import CaloGeometry, get_geometry
from genhep.evaluation.base import Evaluator, Metric, Sample
from genhep.metrics.shower_features import high_level_features, layer_energies
from genhep.metrics.wasserstein import wasserstein_1d, wasserstein_1d_with_error
from genhep.plotting import REAL_STYLE, histogram_overlay

__all__ = ["CalorimeterEvaluator"]

#: Most layers drawn in one figure (evenly chosen when a geometry has more).
MAX_LAYERS_SHOWN = 8


def _incident(sample: Sample, label: str) -> np.ndarray:
    if sample.get("cond") is None:
        raise ValueError(f"the {label} sample needs cond: incident energies (N, 1) in MeV")
    return sample["cond"]


def _shown_layers(geometry: CaloGeometry) -> list[int]:
    ids = list(geometry.layer_ids)
    if len(ids) <= MAX_LAYERS_SHOWN:
        return ids
    picks = np.linspace(0, len(ids) - 1, MAX_LAYERS_SHOWN).round().astype(int)
    return [ids[i] for i in picks]


class CalorimeterEvaluator(Evaluator):
    """W1 of every high-level shower feature with bootstrap errors and real-vs-real baselines.

    Args:
        geometry: the voxel layout (a :class:`CaloGeometry` or its name).
        n_bootstrap: resamples for the W1 errors.
        seed: seed of the bootstrap.
        threshold: voxel energy (MeV) at or below which a voxel counts as empty (sparsity).
    """

    def __init__(
        self,
        geometry: CaloGeometry | str,
        n_bootstrap: int = 20,
        seed: int = 20221,
        threshold: float = 0.0,
    ) -> None:
        self.geometry = get_geometry(geometry) if isinstance(geometry, str) else geometry
        self.n_bootstrap, self.seed, self.threshold = n_bootstrap, seed, threshold

    def features(self, sample: Sample, label: str = "") -> dict[str, np.ndarray]:
        """The high-level features of a sample, ``e_ratio`` first."""
        features = high_level_features(
            sample["x"], _incident(sample, label), self.geometry, self.threshold
        )
        return {"e_ratio": features.pop("e_ratio"), **features}

    def evaluate(self, generated: Sample, real: Sample, reference: Sample) -> dict[str, Metric]:
        gen = self.features(generated, "generated")
        true = self.features(real, "real")
        ref = self.features(reference, "reference")
        metrics = {}
        for name, values in true.items():
            value, error = wasserstein_1d_with_error(gen[name], values, self.n_bootstrap, self.seed)
            metrics[f"w1_{name}"] = Metric(value, error, wasserstein_1d(ref[name], values))
        return metrics

    def figures(self, generated: Sample, real: Sample) -> dict[str, Figure]:
        """``e_ratio`` (E_tot / E_inc overlay), ``e_layers`` (log10 layer energies per layer),
        ``mean_showers`` (mean voxel energy per layer, real above generated)."""
        ratio = {
            label: sample["x"].sum(axis=1) / np.ravel(_incident(sample, label))
            for label, sample in (("real", real), ("generated", generated))
        }
        return {
            "e_ratio": histogram_overlay(ratio, r"$E_\mathrm{tot} / E_\mathrm{inc}$"),
            "e_layers": self._layer_energy_figure(generated, real),
            "mean_showers": self._mean_shower_figure(generated, real),
        }

    def _layer_energy_figure(self, generated: Sample, real: Sample) -> Figure:
        layers = _shown_layers(self.geometry)
        energies = {
            label: layer_energies(sample["x"], self.geometry)
            for label, sample in (("real", real), ("generated", generated))
        }
        columns = min(4, len(layers))
        rows = -(-len(layers) // columns)
        fig, axes = plt.subplots(
            rows, columns, figsize=(3.2 * columns, 2.6 * rows), layout="constrained", squeeze=False
        )
        for ax, layer in zip(axes.ravel(), layers, strict=False):
            i = self.geometry.layer_index(layer)
            logs = {k: np.log10(v[:, i][v[:, i] > 0]) for k, v in energies.items()}
            base = logs["real"] if logs["real"].size else np.concatenate(list(logs.values()))
            low, high = np.percentile(base, [0.1, 99.9]) if base.size else (0.0, 1.0)
            bins = np.linspace(low - 0.05, high + 0.05, 41)
            for label, values in logs.items():
                style = REAL_STYLE if label == "real" else {"histtype": "step", "linewidth": 1.5}
                if values.size:
                    ax.hist(values, bins=bins, density=True, label=label, **style)
            ax.set_xlabel(rf"$\log_{{10}}(E_{{{layer}}}$ / MeV)")
        for ax in axes.ravel()[len(layers) :]:
            ax.set_visible(False)
        axes[0, 0].legend(frameon=False, fontsize="small")
        return fig

    def _mean_shower_figure(self, generated: Sample, real: Sample) -> Figure:
        layers = _shown_layers(self.geometry)
        means = {
            label: np.asarray(sample["x"], dtype=np.float64).mean(axis=0)
            for label, sample in (("real", real), ("generated", generated))
        }
        positive = np.concatenate([m[m > 0] for m in means.values()])
        norm = LogNorm(positive.min(), positive.max()) if positive.size else None
        fig, axes = plt.subplots(
            2,
            len(layers),
            figsize=(2.4 * len(layers), 4.6),
            layout="constrained",
            squeeze=False,
        )
        image = None
        slow, fast = ("η", "φ") if self.geometry.cartesian else ("α bin", "r bin")
        for row, (label, mean) in enumerate(means.items()):
            for column, layer in enumerate(layers):
                ax = axes[row, column]
                grid = self.geometry.layer_grid(mean, layer)
                image = ax.imshow(
                    np.where(grid > 0, grid, np.nan), norm=norm, aspect="auto", origin="lower"
                )
                ax.set_title(f"{label}, layer {layer}", fontsize="small")
                ax.set_xlabel(fast, fontsize="small")
                ax.set_ylabel(slow, fontsize="small")
                ax.tick_params(labelsize="x-small")
        if image is not None and norm is not None:
            fig.colorbar(image, ax=axes, label="mean voxel energy (MeV)", shrink=0.8)
        return fig
