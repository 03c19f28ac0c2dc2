"""The calorimeter's response evaluator (``data.representation=response``): scale and σ/E vs E.

Samples in physical units: ``x`` ``(N, K)`` whose column 0 is the response
``E_tot / E_inc`` (further columns: layer energies / E_inc, not scored here) and ``cond``
``(N, 1)`` the incident energies in MeV. In bins of ``E_inc``
(:func:`~genhep.metrics.response.energy_bins`: one per energy for CaloChallenge dataset 1's
discrete energies) the learned scale (mean response) and relative resolution ``σ/E`` are put
beside the data's (:func:`~genhep.metrics.response.response_curve`) and, where the showers come
from genhep's parametric simulator, beside the simulator's stated input resolution
``a/√E ⊕ b`` (:meth:`~genhep.data.calorimeter.simulator.ShowerSimulator.stated_resolution`).

Metrics (bootstrap errors over the generated events; ``real_vs_real`` from the reference):

* ``resolution_dev``: mean over bins of ``|σ/E_gen − σ/E_real| / σ/E_real``;
* ``scale_dev``: mean over bins of ``|scale_gen / scale_real − 1|``;
* ``resolution_dev_stated`` (simulated showers only): mean over bins of
  ``|σ/E_gen − stated| / stated``; its ``real_vs_real`` is the data's own deviation from the
  stated curve (leakage, readout threshold);
* ``w1_response``: Wasserstein-1 distance of the ``E_tot / E_inc`` distributions.

Figures: ``resolution`` (σ/E vs E: data, model, stated), ``scale`` (mean response vs E),
``response`` (E_tot / E_inc overlay). Observables: ``response`` and ``e_inc`` per event, from
which ``experiments/mdn_response`` tabulates the curves.
"""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from genhep.evaluation.base import Evaluator, Metric, Sample
from genhep.metrics.bootstrap import bootstrap_std
from genhep.metrics.response import energy_bins, resolution_deviation, response_curve
from genhep.metrics.wasserstein import wasserstein_1d, wasserstein_1d_with_error
from genhep.plotting import histogram_overlay

__all__ = ["ResponseEvaluator"]

Stated = Callable[[np.ndarray], np.ndarray]


def _columns(sample: Sample, label: str) -> tuple[np.ndarray, np.ndarray]:
    if sample.get("cond") is None:
        raise ValueError(f"the {label} sample needs cond: incident energies (N, 1) in MeV")
    x = np.asarray(sample["x"], dtype=np.float64)
    return x.reshape(len(x), -1)[:, 0], np.asarray(sample["cond"], dtype=np.float64).reshape(-1)


class ResponseEvaluator(Evaluator):
    """Scale and resolution of ``E_tot / E_inc`` against ``E_inc`` (see the module docstring).

    Args:
        stated_resolution: ``σ/E`` of the simulator as a function of ``E_inc`` (MeV), or
            ``None`` (real files): filled in by the data module.
        n_bootstrap: resamples for the errors.
        seed: seed of the bootstraps.
        max_discrete: at most this many distinct energies get one bin each.
        n_bins: log-spaced bins otherwise.
    """

    from_data = ("stated_resolution",)
    observable_labels = {"response": r"$E_\mathrm{tot} / E_\mathrm{inc}$", "e_inc": "E_inc (MeV)"}

    def __init__(
        self,
        stated_resolution: Stated | None = None,
        n_bootstrap: int = 20,
        seed: int = 20221,
        max_discrete: int = 30,
        n_bins: int = 12,
        **unknown,
    ) -> None:
        super().__init__(**unknown)
        self.stated_resolution = stated_resolution
        self.n_bootstrap, self.seed = n_bootstrap, seed
        self.max_discrete, self.n_bins = max_discrete, n_bins

    def _edges(self, e_inc: np.ndarray) -> np.ndarray:
        return energy_bins(e_inc, self.max_discrete, self.n_bins)

    def curves(self, sample: Sample, edges: np.ndarray, label: str = ""):
        """:class:`~genhep.metrics.response.ResponseCurve` of a sample in ``edges``."""
        return response_curve(*_columns(sample, label), edges)

    def evaluate(self, generated: Sample, real: Sample, reference: Sample) -> dict[str, Metric]:
        self.skipped = {}
        (r_gen, e_gen), (r_real, e_real) = _columns(generated, "generated"), _columns(real, "real")
        r_ref, e_ref = _columns(reference, "reference")
        edges = self._edges(e_real)
        real_curve = response_curve(r_real, e_real, edges)

        def stats(r: np.ndarray, e: np.ndarray) -> np.ndarray:
            curve = response_curve(r, e, edges)
            scale = np.abs(curve.scale / real_curve.scale - 1.0)
            values = [resolution_deviation(curve, real_curve.resolution), np.nanmean(scale)]
            if self.stated_resolution is not None:
                stated = np.asarray(self.stated_resolution(curve.energy), dtype=np.float64)
                values.append(resolution_deviation(curve, stated))
            return np.asarray(values)

        value, baseline = stats(r_gen, e_gen), stats(r_ref, e_ref)
        error = bootstrap_std(
            lambda r, e: stats(r, e),
            r_gen,
            e_gen,
            n_bootstrap=self.n_bootstrap,
            seed=self.seed,
            paired=True,
            shape=value.shape,
        )
        names = ["resolution_dev", "scale_dev", "resolution_dev_stated"]
        metrics = {
            name: Metric(float(v), float(err), float(b))
            for name, v, err, b in zip(names, value, np.atleast_1d(error), baseline, strict=False)
        }
        if self.stated_resolution is None:
            self.skip("resolution_dev_stated", "no simulator (data.path is a file)", warn=False)
        w1, w1_error = wasserstein_1d_with_error(r_gen, r_real, self.n_bootstrap, self.seed)
        metrics["w1_response"] = Metric(w1, w1_error, wasserstein_1d(r_ref, r_real))
        return metrics

    def observables(self, sample: Sample) -> dict[str, np.ndarray]:
        response, e_inc = _columns(sample, "")
        return {"response": response, "e_inc": e_inc}

    def figures(self, generated: Sample, real: Sample) -> dict[str, Figure]:
        r_real, e_real = _columns(real, "real")
        edges = self._edges(e_real)
        curves = {"data": self.curves(real, edges), "model": self.curves(generated, edges)}
        styles = {"data": {"fmt": "o", "color": "k"}, "model": {"fmt": "s", "color": "C1"}}
        figures = {}
        for name, attribute, ylabel in (
            ("resolution", "resolution", r"$\sigma_E / E$"),
            ("scale", "scale", r"$\langle E_\mathrm{tot} / E_\mathrm{inc} \rangle$"),
        ):
            fig, ax = plt.subplots(figsize=(5.2, 3.8), layout="constrained")
            for label, curve in curves.items():
                ax.errorbar(
                    curve.energy / 1000.0,
                    getattr(curve, attribute),
                    yerr=getattr(curve, f"{attribute}_error"),
                    label=label,
                    markersize=4,
                    capsize=2,
                    linestyle="none",
                    **styles[label],
                )
            if name == "resolution" and self.stated_resolution is not None:
                grid = np.geomspace(edges[0], edges[-1], 200)
                stated = self.stated_resolution(grid)
                ax.plot(grid / 1000.0, stated, "C0-", label=r"simulator $a/\sqrt{E} \oplus b$")
                ax.set_yscale("log")
            ax.set_xscale("log")
            ax.set_xlabel(r"$E_\mathrm{inc}$ (GeV)")
            ax.set_ylabel(ylabel)
            ax.legend(frameon=False, fontsize="small")
            figures[name] = fig
        ratio = {"real": r_real, "generated": _columns(generated, "generated")[0]}
        figures["response"] = histogram_overlay(ratio, r"$E_\mathrm{tot} / E_\mathrm{inc}$")
        return figures
