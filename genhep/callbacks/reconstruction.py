"""Reconstruction figures of an autoencoder: input, reconstruction and generated events overlaid.

At the end of testing, :class:`ReconstructionFigures` takes the first ``n_events`` events of
the test split, reconstructs them with the model's ``reconstruct(x, cond, mask)`` (a VAE: the
decoder at the posterior mean), generates as many events at their conditions and masks (as the
evaluation does), maps all three to physical units and overlays the data family evaluator's
observables (:meth:`~genhep.evaluation.base.Evaluator.observables`: for JetNet the jet mass
and pT, the particles' η, φ and pT) with :func:`~genhep.plotting.histogram_overlay`, the input
as the reference. Each figure is written to ``<output_dir>/figures/reconstruction/<name>``
as PNG and PDF and sent to the loggers that take images.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytorch_lightning as pl
import torch

from genhep.callbacks.evaluation import generate_like
from genhep.evaluation.base import Sample
from genhep.plotting import histogram_overlay, save_figure
from genhep.utils.loggers import log_figures


class ReconstructionFigures(pl.Callback):
    """Input / reconstruction / generated figures on the test split (see the module docstring).

    Args:
        output_dir: the run directory.
        n_events: test events reconstructed and generated (at most the split's size).
        batch_size: events per model call.
        seed: the random state of the generated events (the reconstruction is deterministic).
    """

    def __init__(
        self, output_dir: str, n_events: int = 5000, batch_size: int = 1000, seed: int = 1234
    ) -> None:
        super().__init__()
        if n_events < 1 or batch_size < 1:
            raise ValueError(
                f"callbacks.reconstruction: n_events and batch_size must be >= 1, "
                f"got {n_events} and {batch_size}"
            )
        self.output_dir = Path(output_dir)
        self.n_events, self.batch_size, self.seed = n_events, batch_size, seed

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        if not callable(getattr(pl_module, "reconstruct", None)):
            raise TypeError(
                f"callbacks.reconstruction needs a model with reconstruct(x, cond, mask); "
                f"{type(pl_module).__name__} has none (drop it with ~callbacks.reconstruction)"
            )
        datamodule = trainer.datamodule
        real = {k: v[: self.n_events] for k, v in datamodule.physical["test"].items()}
        samples = {
            "input": real,
            "reconstruction": self.reconstructed(pl_module, datamodule, real),
            "generated": generate_like(
                pl_module, datamodule, real, self.batch_size, self.seed, progress=False
            )[0],
        }
        evaluator = datamodule.evaluator()
        observables = {label: evaluator.observables(s) for label, s in samples.items()}
        figures = {
            f"reconstruction/{name}": histogram_overlay(
                {label: obs[name] for label, obs in observables.items()},
                evaluator.observable_labels.get(name, name),
                reference="input",
            )
            for name in observables["input"]
        }
        folder = self.output_dir / "figures"
        (folder / "reconstruction").mkdir(parents=True, exist_ok=True)
        for name, fig in figures.items():
            save_figure(fig, folder / name)
        log_figures(trainer.loggers, figures, trainer.global_step)
        for fig in figures.values():
            plt.close(fig)

    def reconstructed(
        self, model: pl.LightningModule, datamodule: pl.LightningDataModule, real: Sample
    ) -> Sample:
        """The model's reconstruction of ``real`` (physical units, its masks and conditions)."""
        n = len(real["x"])
        tensors = {k: v[:n] for k, v in datamodule.datasets["test"].tensors.items()}
        chunks = []
        with torch.inference_mode():
            for start in range(0, n, self.batch_size):
                part = {
                    k: v[start : start + self.batch_size].to(model.device)
                    for k, v in tensors.items()
                }
                chunks.append(model.reconstruct(part["x"], part.get("cond"), part.get("mask")))
        x = datamodule.to_physical(torch.cat(chunks), cond=real.get("cond"), mask=real.get("mask"))
        return {**real, "x": np.asarray(x)}
