"""The calorimeter evaluator: the CaloChallenge 2022 metrics, with real-vs-real baselines.

Samples are in physical units: ``x`` ``(N, V)`` voxel energies (MeV) and ``cond`` ``(N, 1)``
incident energies (MeV). Every metric compares the generated sample with ``real``; its
``real_vs_real`` value is the same metric between the ``reference`` sample and ``real`` (two
disjoint real samples): how close is close enough. Features ``f`` are those of
:func:`~genhep.metrics.shower_features.high_level_features` (``e_ratio`` = E_tot / E_inc,
``e_total``, layer energies, centres and widths in η / φ / r, sparsity per layer).

* ``w1_{f}``: Wasserstein-1 distance of the feature distributions, in the feature's units,
  ± bootstrap std.
* ``sep_{f}``: separation power (:func:`~genhep.metrics.separation.separation_power`,
  CaloChallenge's ``_separation_power``) on ``sep_bins`` bins over the *real* sample's range, as
  the challenge takes its bins from the reference: log-spaced from the smallest positive to the
  largest real value for energies (``e_total``, ``e_layer_*``; the challenge's ``E_layer`` plots
  use ``np.logspace`` up to the reference maximum), evenly spaced from min to max otherwise.
  Events outside the range are dropped and each histogram is normalised over its in-range
  events, as in the challenge: a generated feature entirely outside the real range scores 0.5,
  not 1, and one partly outside is judged on its in-range shape only (W1 sees both; see
  :mod:`genhep.metrics.separation`). ``sep_mean`` is the mean over features (error: quadrature mean
  of the errors).
* ``e_ratio_mean``, ``e_ratio_std``: signed relative difference of the mean and of the standard
  deviation of E_tot / E_inc, ``stat(generated) / stat(real) − 1`` (0 is perfect), ± bootstrap
  std of the generated sample.
* ``fpd``, ``kpd``: :func:`~genhep.metrics.frechet.fpd` and :func:`~genhep.metrics.kernel.kpd`
  on the challenge's own feature representation,
  :func:`~genhep.metrics.shower_features.challenge_distance_features` (its readout cut, log10
  energies including ``E_inc``, centres and widths / 100, sparsities; not the raw features
  above, whose MeV and mm scales gave other numbers before), with the metrics' own normalisation
  (every column divided by the maximum of ``|real|``, as jetnet does), seeded with
  ``distance_seed`` (42, jetnet's default). With n = the smallest of the three sample sizes,
  FPD uses batch sizes from ``min(n, 20000) // 2`` to ``min(n, 50000)`` (never more rows than a
  sample has) and KPD 10 batches of ``min(n, 10000)``: for n >= 50,000 these are the settings of
  the challenge's ``evaluate.py`` (``fpd(..., min_samples=10000)``, jetnet's default
  ``max_samples=50000``; ``kpd(..., batch_size=10000)``), so the values are the ones its script
  prints for the same files (real = its reference file). FPD is extrapolated from batches drawn
  *from the given finite samples*, so two samples of one distribution give FPD > 0 (a floor
  ∝ d² / n): compare with ``real_vs_real``, not with 0. Below ``min_distance_events`` events they
  are skipped (absent, with a logged reason).
* ``auc_low``, ``jsd_low``: :func:`~genhep.metrics.classifier.classifier_two_sample_test` on the
  challenge's low-level input ``[log10 E_inc, voxels / E_inc]`` (``prepare_low_data_for_classifier``
  of CaloChallenge's ``evaluate.py``, ``normed=False``); ``auc_high``, ``jsd_high`` on
  ``[log10 E_inc, high-level features]`` with energies as ``log10(E + 1e-8)`` as in the
  challenge's ``prepare_high_data_for_classifier`` (its ``/100`` scalings of centres and widths
  are omitted: the classifier standardises its inputs). At most ``max_classifier_events`` events
  per sample enter (a random subset); ``classifier=False`` skips all four.
* ``w1_longitudinal_centre``: W1 of the energy-weighted mean layer index
  (:func:`~genhep.metrics.shower_features.longitudinal_centre`; the ATLAS VAE study's
  longitudinal profile), kept out of the challenge's feature set above (``sep_mean``, the
  classifiers and FPD/KPD do not see it). :meth:`CalorimeterEvaluator.observables` gives it,
  ``e_total`` and the layer energies per event (``genhep report`` overlays them).
"""

from __future__ import annotations

import logging
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from genhep.evaluation.base import Evaluator, Metric, Sample
from genhep.geometry.calorimeter import CaloGeometry, get_geometry
from genhep.metrics.bootstrap import bootstrap_std
from genhep.metrics.classifier import classifier_two_sample_test
from genhep.metrics.frechet import fpd
from genhep.metrics.kernel import kpd
from genhep.metrics.separation import separation_power
from genhep.metrics.shower_features import (
    CHALLENGE_LOG_OFFSET,
    challenge_distance_features,
    high_level_features,
    layer_energies,
    longitudinal_centre,
)
from genhep.metrics.wasserstein import wasserstein_1d, wasserstein_1d_with_error
from genhep.plotting import REAL_STYLE, histogram_overlay

__all__ = ["CalorimeterEvaluator"]

log = logging.getLogger(__name__)

#: Most layers drawn in one figure (evenly chosen when a geometry has more).
MAX_LAYERS_SHOWN = 8


def _incident(sample: Sample, label: str) -> np.ndarray:
    if sample.get("cond") is None:
        raise ValueError(f"the {label} sample needs cond: incident energies (N, 1) in MeV")
    return sample["cond"]


def _is_energy(name: str) -> bool:
    return name == "e_total" or name.startswith("e_layer_")


def _separation_edges(name: str, real: np.ndarray, n_bins: int) -> np.ndarray | int:
    """Log-spaced edges over the positive real range for energies, else ``n_bins`` (even)."""
    if _is_energy(name):
        positive = real[np.isfinite(real) & (real > 0)]
        if positive.size and positive.max() > positive.min():
            return np.logspace(np.log10(positive.min()), np.log10(positive.max()), n_bins + 1)
    return n_bins


def _shown_layers(geometry: CaloGeometry) -> list[int]:
    ids = list(geometry.layer_ids)
    if len(ids) <= MAX_LAYERS_SHOWN:
        return ids
    picks = np.linspace(0, len(ids) - 1, MAX_LAYERS_SHOWN).round().astype(int)
    return [ids[i] for i in picks]


class CalorimeterEvaluator(Evaluator):
    """CaloChallenge metrics of generated showers, each with its real-vs-real baseline.

    Args:
        geometry: the voxel layout (a :class:`CaloGeometry` or its name).
        n_bootstrap: resamples for the W1, separation and E_tot / E_inc errors.
        seed: seed of the bootstraps, subsamples and classifiers.
        threshold: voxel energy (MeV) at or below which a voxel counts as empty (sparsity).
        sep_bins: bins of the separation-power histograms.
        distances: compute ``fpd`` and ``kpd``.
        distance_seed: seed of the ``fpd`` and ``kpd`` batches (jetnet's default 42, which the
            challenge's script uses).
        min_distance_events: below this many events (smallest sample) ``fpd`` and ``kpd`` are
            not applicable and left out, with a logged reason.
        classifier: train the classifier two-sample tests (``auc_*``, ``jsd_*``).
        max_classifier_events: at most this many events per sample enter a classifier.
        classifier_kwargs: passed to
            :func:`~genhep.metrics.classifier.classifier_two_sample_test` (e.g. ``epochs``).
    """

    from_data = ("geometry",)

    def __init__(
        self,
        geometry: CaloGeometry | str,
        n_bootstrap: int = 20,
        seed: int = 20221,
        threshold: float = 0.0,
        sep_bins: int = 50,
        distances: bool = True,
        distance_seed: int = 42,
        min_distance_events: int = 500,
        classifier: bool = True,
        max_classifier_events: int = 20_000,
        classifier_kwargs: dict[str, Any] | None = None,
        **unknown: Any,
    ) -> None:
        super().__init__(**unknown)
        self.geometry = get_geometry(geometry) if isinstance(geometry, str) else geometry
        self.n_bootstrap, self.seed, self.threshold = n_bootstrap, seed, threshold
        self.sep_bins = sep_bins
        self.distances, self.min_distance_events = distances, min_distance_events
        self.distance_seed = distance_seed
        self.classifier, self.max_classifier_events = classifier, max_classifier_events
        self.classifier_kwargs = dict(classifier_kwargs or {})

    def features(self, sample: Sample, label: str = "") -> dict[str, np.ndarray]:
        """The high-level features of a sample, ``e_ratio`` first."""
        features = high_level_features(
            sample["x"], _incident(sample, label), self.geometry, self.threshold
        )
        return {"e_ratio": features.pop("e_ratio"), **features}

    def evaluate(self, generated: Sample, real: Sample, reference: Sample) -> dict[str, Metric]:
        self.skipped = {}
        n = len(generated["x"]) + len(real["x"]) + len(reference["x"])
        with self.step(f"high-level features ({n} showers)"):
            gen = self.features(generated, "generated")
            true = self.features(real, "real")
            ref = self.features(reference, "reference")
        metrics = {}
        with self.step(f"W1 of {len(true)} features", total=len(true)) as advance:
            for name, values in true.items():
                value, error = wasserstein_1d_with_error(
                    gen[name], values, self.n_bootstrap, self.seed
                )
                metrics[f"w1_{name}"] = Metric(value, error, wasserstein_1d(ref[name], values))
                advance()
        gen_c, true_c, ref_c = (
            longitudinal_centre(s["x"], self.geometry) for s in (generated, real, reference)
        )
        value, error = wasserstein_1d_with_error(gen_c, true_c, self.n_bootstrap, self.seed)
        metrics["w1_longitudinal_centre"] = Metric(value, error, wasserstein_1d(ref_c, true_c))
        with self.step(f"separation power of {len(true)} features"):
            metrics.update(self._separation(gen, true, ref))
        metrics.update(self._energy_ratio(gen["e_ratio"], true["e_ratio"], ref["e_ratio"]))
        if self.distances:
            with self.step("FPD and KPD"):
                metrics.update(self._distances(generated, real, reference))
        else:
            for name in ("fpd", "kpd"):
                self.skip(name, "turned off (distances=false)", warn=False)
        if self.classifier:
            metrics.update(self._classifiers(generated, real, reference, gen, true, ref))
        else:
            for name in ("auc_low", "jsd_low", "auc_high", "jsd_high"):
                self.skip(name, "turned off (classifier=false)", warn=False)
        return metrics

    # ------------------------------------------------------------------ metric groups

    def _separation(self, gen: dict, true: dict, ref: dict) -> dict[str, Metric]:
        metrics = {}
        for name, values in true.items():
            edges = _separation_edges(name, values, self.sep_bins)
            value, error = separation_power(values, gen[name], edges, self.n_bootstrap, self.seed)
            baseline, _ = separation_power(values, ref[name], edges, n_bootstrap=0)
            metrics[f"sep_{name}"] = Metric(value, error, baseline)
        seps = list(metrics.values())
        metrics["sep_mean"] = Metric(
            float(np.mean([m.value for m in seps])),
            float(np.sqrt(np.sum([m.error**2 for m in seps])) / len(seps)),
            float(np.mean([m.real_vs_real for m in seps])),
        )
        return metrics

    def _energy_ratio(
        self, gen: np.ndarray, true: np.ndarray, ref: np.ndarray
    ) -> dict[str, Metric]:
        metrics = {}
        for key, stat in (("mean", np.mean), ("std", np.std)):
            target = float(stat(true))

            def relative(values, stat=stat, target=target):
                return float(stat(values)) / target - 1.0

            error = bootstrap_std(relative, gen, n_bootstrap=self.n_bootstrap, seed=self.seed)
            metrics[f"e_ratio_{key}"] = Metric(relative(gen), error, relative(ref))
        return metrics

    def distance_features(self, sample: Sample, label: str = "") -> np.ndarray:
        """The (N, D) matrix ``fpd`` and ``kpd`` compare: the challenge's representation."""
        return challenge_distance_features(sample["x"], _incident(sample, label), self.geometry)

    def _distances(self, generated: Sample, real: Sample, reference: Sample) -> dict[str, Metric]:
        n = min(len(s["x"]) for s in (generated, real, reference))
        if n < self.min_distance_events:
            for name in ("fpd", "kpd"):
                self.skip(
                    name, f"{n} events, below min_distance_events = {self.min_distance_events}"
                )
            return {}
        x_gen, x_true, x_ref = (
            self.distance_features(s, label)
            for s, label in ((generated, "generated"), (real, "real"), (reference, "reference"))
        )
        seed = self.distance_seed
        fpd_sizes = {"min_samples": min(n, 20_000) // 2, "max_samples": min(n, 50_000)}
        batch = min(n, 10_000)
        metrics = {}
        value, error = fpd(x_true, x_gen, seed=seed, **fpd_sizes)
        metrics["fpd"] = Metric(value, error, fpd(x_true, x_ref, seed=seed, **fpd_sizes)[0])
        value, error = kpd(x_true, x_gen, batch_size=batch, seed=seed)
        metrics["kpd"] = Metric(value, error, kpd(x_true, x_ref, batch_size=batch, seed=seed)[0])
        return metrics

    def _low_level(self, sample: Sample, rows: np.ndarray) -> np.ndarray:
        e_inc = np.asarray(sample["cond"], dtype=np.float64).reshape(-1, 1)[rows]
        voxels = np.asarray(sample["x"], dtype=np.float64)[rows]
        return np.concatenate([np.log10(e_inc), voxels / e_inc], axis=1)

    @staticmethod
    def _high_level(sample: Sample, features: dict, rows: np.ndarray) -> np.ndarray:
        e_inc = np.asarray(sample["cond"], dtype=np.float64).reshape(-1)[rows]
        columns = [np.log10(e_inc)]
        for name, values in features.items():
            values = values[rows]
            columns.append(np.log10(values + CHALLENGE_LOG_OFFSET) if _is_energy(name) else values)
        return np.column_stack(columns)

    def _classifiers(
        self, generated: Sample, real: Sample, reference: Sample, gen: dict, true: dict, ref: dict
    ) -> dict[str, Metric]:
        rng = np.random.default_rng(self.seed)

        def rows(sample: Sample) -> np.ndarray:
            n = len(sample["x"])
            if n <= self.max_classifier_events:
                return np.arange(n)
            return np.sort(rng.choice(n, self.max_classifier_events, replace=False))

        r_gen, r_true, r_ref = rows(generated), rows(real), rows(reference)
        inputs = {
            "low": [
                self._low_level(s, r)
                for s, r in ((generated, r_gen), (real, r_true), (reference, r_ref))
            ],
            "high": [
                self._high_level(s, f, r)
                for s, f, r in (
                    (generated, gen, r_gen),
                    (real, true, r_true),
                    (reference, ref, r_ref),
                )
            ],
        }
        kwargs = {"seed": self.seed, **self.classifier_kwargs}
        metrics = {}
        for level, (x_gen, x_true, x_ref) in inputs.items():
            with self.step(f"classifier test {level}-level (2 classifiers)"):
                result = classifier_two_sample_test(x_true, x_gen, **kwargs)
                baseline = classifier_two_sample_test(x_true, x_ref, **kwargs)
            for key in ("auc", "jsd"):
                metrics[f"{key}_{level}"] = Metric(*result[key], baseline[key][0])
        return metrics

    observable_labels = {
        "e_total": r"$E_\mathrm{tot}$ (MeV)",
        "longitudinal_centre": "longitudinal centre (energy-weighted mean layer index)",
    }

    def observables(self, sample: Sample) -> dict[str, np.ndarray]:
        """``e_total``, ``longitudinal_centre`` and ``e_layer_<id>`` (MeV) per event."""
        energies = layer_energies(sample["x"], self.geometry)
        layers = {f"e_layer_{k}": energies[:, i] for i, k in enumerate(self.geometry.layer_ids)}
        return {
            "e_total": energies.sum(axis=1),
            "longitudinal_centre": longitudinal_centre(sample["x"], self.geometry),
            **layers,
        }

    def figures(self, generated: Sample, real: Sample) -> dict[str, Figure]:
        """``e_ratio`` (E_tot / E_inc overlay), ``e_layers`` (log10 layer energies per layer),
        ``mean_showers`` (mean voxel energy per layer, real above generated),
        ``longitudinal_centre`` (overlay)."""
        ratio = {
            label: sample["x"].sum(axis=1) / np.ravel(_incident(sample, label))
            for label, sample in (("real", real), ("generated", generated))
        }
        return {
            "e_ratio": histogram_overlay(ratio, r"$E_\mathrm{tot} / E_\mathrm{inc}$"),
            "e_layers": self._layer_energy_figure(generated, real),
            "mean_showers": self._mean_shower_figure(generated, real),
            "longitudinal_centre": histogram_overlay(
                {
                    label: longitudinal_centre(sample["x"], self.geometry)
                    for label, sample in (("real", real), ("generated", generated))
                },
                self.observable_labels["longitudinal_centre"],
            ),
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
