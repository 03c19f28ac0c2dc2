"""Latent diagnostic of a VAE: is the aggregate posterior of the test set Gaussian?

At the end of testing, :class:`LatentDiagnostic` encodes the first ``n_events`` events of the
test split with the model's ``latent(x, cond, mask, sample)`` (one posterior draw per event:
draws of the aggregate posterior), runs :func:`~genhep.metrics.latent.latent_gaussianity`
(per-dimension KS test against the prior N(0, 1), Anderson–Darling and Shapiro–Wilk for the
shape) and

* adds to ``<output_dir>/results.json`` (written by the evaluation callback at test epoch
  end; this runs after it, at test end) the table under ``"latent"`` and the metrics
  ``latent_gaussian_fraction`` (fraction of dimensions that pass both tests),
  ``latent_active_dims`` (dimensions the decoder uses: ``Var_x(E_q[z_d|x]) > 0.01`` from
  ``activity_draws`` posterior draws per event, :func:`~genhep.metrics.latent.posterior_activity`),
  ``latent_gaussian_fraction_active`` (the fraction among those: a collapsed dimension is
  trivially Gaussian) and ``latent_ks_max``
  (largest KS distance from N(0, 1)), each with the same number for as many genuine N(0, 1)
  draws as ``real_vs_real`` (``genhep report`` tabulates them);
* writes the same record to ``<output_dir>/latent.json`` (also without evaluation);
* draws ``figures/latent/qq.{png,pdf}``: the Q-Q plot of every dimension against N(0, 1),
  and sends it and the scalars to the loggers.

Encoding runs under a forked random state seeded with ``seed``. The steps are plain functions
(:func:`latent_record`, :func:`write_latent`) that a script can call on a restored checkpoint.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytorch_lightning as pl
import torch
from matplotlib.figure import Figure
from pytorch_lightning.loggers import Logger

from genhep.metrics.latent import latent_gaussianity, posterior_activity, qq_points
from genhep.plotting import save_figure
from genhep.utils.io import atomic_write_json
from genhep.utils.loggers import log_figures

log = logging.getLogger(__name__)

#: Most latent dimensions drawn in the Q-Q figure.
MAX_QQ_DIMS = 16


def qq_figure(z: np.ndarray, max_dims: int = MAX_QQ_DIMS) -> Figure:
    """Q-Q plot of every latent dimension (at most ``max_dims``) against N(0, 1)."""
    theory, sample = qq_points(z)
    dims = min(z.shape[1], max_dims)
    columns = min(4, dims)
    rows = -(-dims // columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(2.6 * columns, 2.5 * rows), layout="constrained", squeeze=False
    )
    for d, ax in enumerate(axes.ravel()):
        if d >= dims:
            ax.set_visible(False)
            continue
        ax.plot(theory, sample[:, d], ".", markersize=3)
        low, high = theory[0], theory[-1]
        ax.plot([low, high], [low, high], "k--", linewidth=0.8)
        ax.set_title(f"$z_{{{d}}}$", fontsize="small")
        ax.tick_params(labelsize="x-small")
    fig.supxlabel("N(0, 1) quantile", fontsize="small")
    fig.supylabel("latent quantile", fontsize="small")
    return fig


def encode(
    model: pl.LightningModule,
    tensors: dict[str, torch.Tensor],
    batch_size: int,
    sample: bool = True,
) -> np.ndarray:
    """The latent vectors ``(N, L)`` of ``tensors`` (``x`` and maybe ``cond``, ``mask``, model
    space): one posterior draw each (``sample``) or the posterior's centre, in the caller's
    random state."""
    n = len(tensors["x"])
    chunks = []
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            part = {k: v[start : start + batch_size].to(model.device) for k, v in tensors.items()}
            z = model.latent(part["x"], part.get("cond"), part.get("mask"), sample=sample)
            chunks.append(z.double().cpu())
    return torch.cat(chunks).numpy()


def latent_record(
    model: pl.LightningModule,
    tensors: dict[str, torch.Tensor],
    batch_size: int = 1000,
    alpha: float = 0.05,
    sample: bool = True,
    seed: int = 1234,
    activity_draws: int = 32,
) -> tuple[dict[str, Any], np.ndarray]:
    """The latent-Gaussianity record (:func:`~genhep.metrics.latent.latent_gaussianity` with
    the activity of ``activity_draws`` posterior draws per event) and the tested latents
    ``(N, L)``, under a forked random state seeded with ``seed``."""
    if not callable(getattr(model, "latent", None)):
        raise TypeError(
            f"callbacks.latent_diagnostic needs a model with latent(x, cond, mask, sample); "
            f"{type(model).__name__} has none (drop it with ~callbacks.latent_diagnostic)"
        )
    devices = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        z = encode(model, tensors, batch_size, sample)
        draws = np.stack([encode(model, tensors, batch_size) for _ in range(activity_draws)])
    record = latent_gaussianity(z, alpha, seed, posterior_activity(draws))
    record["sample"] = sample
    record["activity_draws"] = activity_draws
    return record, z


#: The summary entries that become ``latent_<name>`` metrics in ``results.json``.
METRICS = ("gaussian_fraction", "active_dims", "gaussian_fraction_active", "ks_max")


def write_latent(
    output_dir: Path,
    record: dict[str, Any],
    z: np.ndarray,
    loggers: list[Logger] | tuple[()] = (),
    step: int = 0,
) -> dict[str, dict[str, float]]:
    """``latent.json``, the table and metrics into an existing ``results.json``, the Q-Q
    figure; the scalars and the figure to ``loggers``. Returns the metrics."""
    output_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(output_dir / "latent.json", record)
    metrics = {
        f"latent_{key}": {
            "value": record["summary"][key],
            "error": math.nan,
            "real_vs_real": record["baseline"][key],
        }
        for key in METRICS
    }
    results_path = output_dir / "results.json"
    if results_path.is_file():
        results = json.loads(results_path.read_text())
        results["latent"] = record
        results.setdefault("metrics", {}).update(metrics)
        atomic_write_json(results_path, results)
    figure = qq_figure(z)
    folder = output_dir / "figures" / "latent"
    folder.mkdir(parents=True, exist_ok=True)
    save_figure(figure, folder / "qq")
    log_figures(list(loggers), {"latent/qq": figure}, step)
    plt.close(figure)
    scalars = {f"test/{name}": m["value"] for name, m in metrics.items()}
    for logger in loggers:
        logger.log_metrics(scalars, step=step)
    return metrics


class LatentDiagnostic(pl.Callback):
    """Per-dimension normality of the test set's latent vectors (see the module docstring).

    Args:
        output_dir: the run directory.
        n_events: test events encoded (at most the split's size).
        batch_size: events per model call.
        alpha: level of the tests.
        sample: one posterior draw per event (``True``) or the posterior's centre.
        seed: the random state of the posterior draws.
        activity_draws: posterior draws per event for the activity of each dimension.
    """

    def __init__(
        self,
        output_dir: str,
        n_events: int = 10000,
        batch_size: int = 1000,
        alpha: float = 0.05,
        sample: bool = True,
        seed: int = 1234,
        activity_draws: int = 32,
    ) -> None:
        super().__init__()
        if n_events < 8 or batch_size < 1 or not 0 < alpha < 1 or activity_draws < 2:
            raise ValueError(
                "callbacks.latent_diagnostic: need n_events >= 8, batch_size >= 1, alpha in "
                f"(0, 1) and activity_draws >= 2, got {n_events}, {batch_size}, {alpha}, "
                f"{activity_draws}"
            )
        self.output_dir = Path(output_dir)
        self.n_events, self.batch_size, self.alpha = n_events, batch_size, alpha
        self.sample, self.seed, self.activity_draws = sample, seed, activity_draws
        self.last_record: dict[str, Any] | None = None

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        dataset = trainer.datamodule.datasets["test"]
        tensors = {k: v[: self.n_events] for k, v in dataset.tensors.items()}
        record, z = latent_record(
            pl_module,
            tensors,
            self.batch_size,
            self.alpha,
            self.sample,
            self.seed,
            self.activity_draws,
        )
        self.last_record = record
        write_latent(self.output_dir, record, z, trainer.loggers, trainer.global_step)
        log.info(
            "latent diagnostic (%d events, %d dims, %d active): %.0f%% Gaussian, %.0f%% of the "
            "active (N(0,1) draws: %.0f%%), largest KS distance %.3g (N(0,1) draws: %.3g)",
            record["n_events"],
            z.shape[1],
            record["summary"]["active_dims"],
            100 * record["summary"]["gaussian_fraction"],
            100 * record["summary"]["gaussian_fraction_active"],
            100 * record["baseline"]["gaussian_fraction"],
            record["summary"]["ks_max"],
            record["baseline"]["ks_max"],
        )
