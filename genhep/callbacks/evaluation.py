"""The generic evaluation callback: sample, invert the transform, score, log, write results.json."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pytorch_lightning as pl
import torch

from genhep.data.base import GenerativeDataModule
from genhep.evaluation.base import Metric
from genhep.models.base import GenerativeModel
from genhep.sampling import SamplingSpeed, sample_like
from genhep.utils.io import atomic_write_json, atomic_write_npz
from genhep.utils.loggers import log_figures
from genhep.utils.run_info import run_summary

log = logging.getLogger(__name__)


class EvaluationCallback(pl.Callback):
    """Evaluate a model with its data family's evaluator.

    Runs at the end of every ``every_n_epochs``-th validation (if ``on_validation``) and
    at the end of testing (if ``on_test``), on global rank 0 only. It samples one event
    per real event of the split (at most ``n_samples``) with the real events' conditions
    and masks, scores them, logs ``<split>/<metric>`` scalars and figures to every
    logger, saves figures under ``<output_dir>/figures/<split>/`` and writes
    ``<output_dir>/results.json`` atomically. Sampling runs under a forked random state
    seeded with ``seed``: evaluation never changes the training random stream.
    """

    def __init__(
        self,
        output_dir: str,
        n_samples: int = 10000,
        batch_size: int = 1000,
        every_n_epochs: int = 1,
        on_validation: bool = True,
        on_test: bool = True,
        figures: bool = True,
        seed: int = 1234,
        progress: bool = True,
    ) -> None:
        super().__init__()
        if every_n_epochs < 1:
            raise ValueError(
                f"callbacks.evaluation.every_n_epochs must be >= 1, got {every_n_epochs}"
            )
        self.output_dir = Path(output_dir)
        self.n_samples, self.batch_size, self.every_n_epochs = n_samples, batch_size, every_n_epochs
        self.on_validation, self.on_test, self.make_figures = on_validation, on_test, figures
        self.seed, self.progress = seed, progress
        self.last_results: dict[str, Any] | None = None

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not self.on_validation or trainer.state.fn != "fit":
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self.evaluate(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.on_test:
            self.evaluate(trainer, pl_module, "test")

    def evaluate(
        self, trainer: pl.Trainer, model: pl.LightningModule, split: str
    ) -> dict[str, Any] | None:
        """Run one evaluation on ``split`` and return the results dict (rank 0; else None)."""
        if not trainer.is_global_zero:
            return None
        datamodule = trainer.datamodule
        if not isinstance(datamodule, GenerativeDataModule) or not isinstance(
            model, GenerativeModel
        ):
            raise TypeError("EvaluationCallback needs a GenerativeDataModule and a GenerativeModel")
        began = time.perf_counter()
        real, reference = datamodule.evaluation_samples(split, self.n_samples)
        devices = [model.device] if model.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.inference_mode():
            torch.manual_seed(self.seed)
            generated, speed = sample_like(model, datamodule, real, self.batch_size, self.progress)
        evaluator = datamodule.evaluator()
        metrics = evaluator.evaluate(generated, real, reference)
        step = trainer.global_step
        scalars = {f"{split}/{name}": metric.value for name, metric in metrics.items()}
        scalars[f"{split}/samples_per_s"] = speed.samples_per_s
        for logger in trainer.loggers:
            logger.log_metrics(scalars, step=step)
        self._save_observables(evaluator.observables(generated), evaluator.observables(real), split)
        figure_dir = None
        if self.make_figures:
            figure_dir = self._figures(trainer, evaluator.figures(generated, real), split, step)
        results = self._results(trainer, split, len(real["x"]), speed, metrics, figure_dir)
        results["evaluation_seconds"] = time.perf_counter() - began
        atomic_write_json(self.output_dir / "results.json", results)
        self.last_results = results
        log.info(
            "%s evaluation at epoch %d: %s",
            split,
            trainer.current_epoch,
            "; ".join(f"{k} {m}" for k, m in metrics.items()),
        )
        return results

    def _save_observables(self, generated: dict, real: dict, split: str) -> None:
        """``observables/<split>.npz``: ``generated/<name>`` and ``real/<name>`` arrays."""
        if not generated:
            return
        arrays = {f"generated/{k}": v for k, v in generated.items()}
        arrays.update({f"real/{k}": v for k, v in real.items()})
        atomic_write_npz(self.output_dir / "observables" / f"{split}.npz", arrays)

    def _figures(self, trainer: pl.Trainer, figures: dict, split: str, step: int) -> Path:
        folder = self.output_dir / "figures" / split
        folder.mkdir(parents=True, exist_ok=True)
        for name, fig in figures.items():
            fig.savefig(folder / f"{name}.png", dpi=110)
        log_figures(trainer.loggers, {f"{split}/{k}": f for k, f in figures.items()}, step)
        for fig in figures.values():
            plt.close(fig)
        return folder

    def _results(
        self,
        trainer: pl.Trainer,
        split: str,
        n_samples: int,
        speed: SamplingSpeed,
        metrics: dict[str, Metric],
        figure_dir: Path | None,
    ) -> dict[str, Any]:
        summary = run_summary()
        model = trainer.lightning_module
        return {
            "model": summary.get("model") or type(model).__name__,
            "data": summary.get("data") or trainer.datamodule.family,
            "experiment": summary.get("experiment"),
            "overrides": summary.get("overrides", []),
            "seed": (model.run_config or {}).get("seed"),
            "split": split,
            # epochs completed: inside fit the current epoch is not yet counted
            "epochs_trained": trainer.current_epoch + int(split == "val"),
            "global_step": trainer.global_step,
            "n_samples": n_samples,
            "device": speed.device,
            "sampling": speed.to_dict(),
            "metrics": {name: metric.to_dict() for name, metric in metrics.items()},
            "figures": None if figure_dir is None else str(figure_dir),
        }
