"""The generic evaluation callback: sample, invert the transform, score, log, write results.json.

The steps live in module-level functions (:func:`generate_like`, :func:`score_and_save`,
:func:`results_record`) so that ``genhep evaluate`` runs exactly the same evaluation
on a restored checkpoint, or on a sample file, without a Trainer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytorch_lightning as pl
import torch
from matplotlib.figure import Figure

from genhep.data.base import GenerativeDataModule
from genhep.evaluation.base import Evaluator, EvaluatorSettingError, Metric, Sample
from genhep.models.base import LOG_PROB_KINDS, GenerativeModel
from genhep.plotting import save_figure
from genhep.sampling import SamplingSpeed, sample_like
from genhep.utils.io import atomic_write_json, atomic_write_npz
from genhep.utils.loggers import log_figures
from genhep.utils.run_info import provenance, run_summary

log = logging.getLogger(__name__)


def generate_like(
    model: GenerativeModel,
    datamodule: GenerativeDataModule,
    real: Sample,
    batch_size: int,
    seed: int,
    progress: bool = True,
    warmup: bool = False,
    n_generated: int | None = None,
) -> tuple[Sample, SamplingSpeed]:
    """:func:`~genhep.sampling.sample_like` under a forked random state seeded with ``seed``.

    ``n_generated``: events to generate; ``None`` (or fewer than ``real``'s): one per real
    event. More: the real events' conditions and masks are repeated in order (a metric that
    needs a fixed sample size, e.g. FPND's 50,000 jets, from a smaller test split).

    The caller's random streams are untouched, and the same model, conditions and seed
    give the same events. ``warmup`` first samples one untimed batch (lazy
    initialisation, CUDA kernels), so that a fresh process measures the sampling speed
    it will keep; the events do not depend on it.
    """
    devices = [model.device] if model.device.type == "cuda" else []
    if n_generated is not None and n_generated > len(real["x"]):
        order = np.arange(n_generated) % len(real["x"])
        real = {key: value[order] for key, value in real.items()}
    if warmup:
        first = {key: value[:batch_size] for key, value in real.items()}
        with torch.random.fork_rng(devices=devices), torch.inference_mode():
            sample_like(model, datamodule, first, batch_size, progress=False)
    with torch.random.fork_rng(devices=devices), torch.inference_mode():
        torch.manual_seed(seed)
        return sample_like(model, datamodule, real, batch_size, progress)


@dataclass
class Scores:
    """What :func:`score_and_save` returns: the metrics and the (still open) figures."""

    metrics: dict[str, Metric]
    figures: dict[str, Figure]
    figure_dir: Path | None
    #: metrics the evaluator left out, name -> reason
    skipped: dict[str, str] = field(default_factory=dict)

    def close_figures(self) -> None:
        for fig in self.figures.values():
            plt.close(fig)


def score_and_save(
    evaluator: Evaluator,
    generated: Sample,
    real: Sample,
    reference: Sample,
    split: str,
    output_dir: Path,
    make_figures: bool = True,
    progress: bool = False,
) -> Scores:
    """Score ``generated``; save ``observables/<split>.npz`` and ``figures/<split>/`` (each
    figure as ``<name>.png`` and ``<name>.pdf``).

    ``progress`` shows the evaluator's long steps. The figures stay open (loggers may want
    them); call :meth:`Scores.close_figures`.
    """
    evaluator.progress = progress
    metrics = evaluator.evaluate(generated, real, reference)
    skipped = dict(getattr(evaluator, "skipped", {}))
    save_observables(
        output_dir, evaluator.observables(generated), evaluator.observables(real), split
    )
    figures: dict[str, Figure] = {}
    figure_dir = None
    if make_figures:
        figures = evaluator.figures(generated, real)
        figure_dir = output_dir / "figures" / split
        figure_dir.mkdir(parents=True, exist_ok=True)
        for name, fig in figures.items():
            save_figure(fig, figure_dir / name, dpi=110)
    return Scores(metrics, figures, figure_dir, skipped)


def save_observables(output_dir: Path, generated: dict, real: dict, split: str) -> None:
    """``observables/<split>.npz``: ``generated/<name>`` and ``real/<name>`` arrays."""
    if not generated:
        return
    arrays = {f"generated/{k}": v for k, v in generated.items()}
    arrays.update({f"real/{k}": v for k, v in real.items()})
    atomic_write_npz(output_dir / "observables" / f"{split}.npz", arrays)


def results_record(
    *,
    model: str | None,
    data: str | None,
    experiment: str | None,
    overrides: list[str],
    seed: int | None,
    split: str,
    epochs_trained: int | None,
    global_step: int | None,
    n_samples: int,
    speed: SamplingSpeed | None,
    scores: Scores,
    monte_carlo: dict[str, Any] | None = None,
    likelihood: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``results.json`` record (docs/architecture.md, "Result files"); no speed for
    sample files.

    ``monte_carlo``: the speed of the Monte Carlo that made the real data, when genhep made
    it (:meth:`~genhep.data.base.GenerativeDataModule.monte_carlo_speed`). ``likelihood``:
    :func:`likelihood_record` of a model with ``log_prob`` (``None`` for the others).
    """
    return {
        "model": model,
        "data": data,
        "experiment": experiment,
        "overrides": overrides,
        "seed": seed,
        "split": split,
        "epochs_trained": epochs_trained,
        "global_step": global_step,
        "n_samples": n_samples,
        "device": None if speed is None else speed.device,
        "sampling": None if speed is None else speed.to_dict(),
        "monte_carlo": monte_carlo,
        "likelihood": likelihood,
        "metrics": {name: metric.to_dict() for name, metric in scores.metrics.items()},
        "skipped": scores.skipped,
        "figures": None if scores.figure_dir is None else str(scores.figure_dir),
        "provenance": provenance(),
    }


def likelihood_record(
    model: GenerativeModel, logged: dict[str, Any], split: str
) -> dict[str, Any] | None:
    """What ``results.json`` says of a model's likelihood: its kind (``exact``,
    ``discretised``, ``bound``: :data:`~genhep.models.base.LOG_PROB_KINDS`), how it is computed
    where the model has a choice (``method``), and, where the split's loss was logged, the
    negative log-likelihood and bits per dimension."""
    if not model.has_log_prob:
        return None
    kind = model.log_prob_kind
    record: dict[str, Any] = {"kind": kind, "meaning": LOG_PROB_KINDS[kind]}
    if model.log_prob_method is not None:
        record["method"] = model.log_prob_method
    for name in ("loss", "bits_per_dim"):
        value = logged.get(f"{split}/{name}")
        record[name] = None if value is None else float(value)
    return record


class EvaluationCallback(pl.Callback):
    """Evaluate a model with its data family's evaluator.

    Runs at the end of every ``every_n_epochs``-th validation (if ``on_validation``) and
    at the end of testing (if ``on_test``). Global rank 0 samples one event per real event of
    the split (at most ``n_samples``) with the real events' conditions and masks (or the
    model's own masks), scores them, logs figures to every logger, saves them under
    ``<output_dir>/figures/<split>/`` and writes ``<output_dir>/results.json`` atomically.
    The scores reach Lightning's metric store as ``<split>/<metric>`` on every rank
    (broadcast from rank 0), so ``ModelCheckpoint``, ``EarlyStopping`` and a hyperparameter
    search can monitor e.g. ``val/w1m``; they reach the loggers from there. Sampling runs
    under a forked random state seeded with ``seed``: evaluation never changes the training
    random stream. ``n_generated_test``: at test, generate this many events instead (the
    real conditions and masks repeated; :func:`generate_like`), e.g. 50,000 jets for FPND.
    ``validation_evaluator``: ``data.evaluator`` settings changed at validation only, e.g.
    ``{cov_mmd: false, distances: false}`` (the JetNet evaluator): validations compute the
    metric that picks the checkpoint and leave the slow ones to the test evaluation.
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
        n_generated_test: int | None = None,
        validation_evaluator: Mapping[str, Any] | None = None,
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
        self.n_generated_test = n_generated_test
        self.validation_evaluator = dict(validation_evaluator or {})
        self.last_results: dict[str, Any] | None = None

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not self.on_validation or trainer.state.fn != "fit":
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self._evaluate_and_log(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.on_test:
            self._evaluate_and_log(trainer, pl_module, "test")

    def _evaluate_and_log(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, split: str
    ) -> None:
        """:meth:`evaluate` on rank 0; its scalars into Lightning's metric store
        (``trainer.callback_metrics``, float64, what ``ModelCheckpoint`` and ``EarlyStopping``
        read): on every rank at validation, on rank 0 at test (no collective at the end of a
        spawned test). The loggers got them from :meth:`evaluate`, in full precision
        (``LightningModule.log`` would store float32)."""
        results = self.evaluate(trainer, pl_module, split)
        scalars = None if results is None else self._scalars(results, split)
        if split == "val":  # every rank's ModelCheckpoint / EarlyStopping reads them
            scalars = trainer.strategy.broadcast(scalars, src=0)
        if scalars is None:
            return
        trainer.callback_metrics.update(
            {name: torch.tensor(value, dtype=torch.float64) for name, value in scalars.items()}
        )

    @staticmethod
    def _scalars(results: dict[str, Any], split: str) -> dict[str, float]:
        scalars = {f"{split}/{k}": m["value"] for k, m in results["metrics"].items()}
        if results["sampling"] is not None:
            scalars[f"{split}/samples_per_s"] = results["sampling"]["samples_per_s"]
        return scalars

    def evaluator(self, datamodule: GenerativeDataModule, split: str) -> Evaluator:
        """The family's evaluator for ``split``: ``validation_evaluator``'s changes at
        validation, a setting it does not know named under this callback's key."""
        if split != "val" or not self.validation_evaluator:
            return datamodule.evaluator()
        try:
            return datamodule.evaluator(**self.validation_evaluator)
        except EvaluatorSettingError as err:
            raise EvaluatorSettingError(
                f"callbacks.evaluation.validation_evaluator {self.validation_evaluator}: {err}"
            ) from err

    def evaluate(
        self, trainer: pl.Trainer, model: pl.LightningModule, split: str
    ) -> dict[str, Any] | None:
        """Run one evaluation on ``split``, write ``results.json`` and return its record (on
        rank 0; ``None`` elsewhere). Logging the scalars is :meth:`_evaluate_and_log`'s."""
        if not trainer.is_global_zero:
            return None
        datamodule = trainer.datamodule
        if not isinstance(datamodule, GenerativeDataModule) or not isinstance(
            model, GenerativeModel
        ):
            raise TypeError("EvaluationCallback needs a GenerativeDataModule and a GenerativeModel")
        began = time.perf_counter()
        real, reference = datamodule.evaluation_samples(split, self.n_samples)
        generated, speed = generate_like(
            model,
            datamodule,
            real,
            self.batch_size,
            self.seed,
            self.progress,
            n_generated=self.n_generated_test if split == "test" else None,
        )
        scores = score_and_save(
            self.evaluator(datamodule, split),
            generated,
            real,
            reference,
            split,
            self.output_dir,
            self.make_figures,
            self.progress,
        )
        if scores.figures:
            figures = {f"{split}/{k}": f for k, f in scores.figures.items()}
            log_figures(trainer.loggers, figures, trainer.global_step)
        scores.close_figures()
        summary = run_summary()
        results = results_record(
            model=summary.get("model") or type(model).__name__,
            data=summary.get("data") or datamodule.family,
            experiment=summary.get("experiment"),
            overrides=summary.get("overrides", []),
            seed=(model.run_config or {}).get("seed"),
            split=split,
            # epochs completed: inside fit the current epoch is not yet counted
            epochs_trained=trainer.current_epoch + int(split == "val"),
            global_step=trainer.global_step,
            n_samples=len(real["x"]),
            speed=speed,
            scores=scores,
            monte_carlo=datamodule.monte_carlo_speed(),
            likelihood=likelihood_record(model, dict(trainer.callback_metrics), split),
        )
        results["n_generated"] = len(generated["x"])
        results["evaluation_seconds"] = time.perf_counter() - began
        for logger in trainer.loggers:
            logger.log_metrics(self._scalars(results, split), step=trainer.global_step)
        atomic_write_json(self.output_dir / "results.json", results)
        self.last_results = results
        log.info(
            "%s evaluation at epoch %d: %s",
            split,
            trainer.current_epoch,
            "; ".join(f"{k} {m}" for k, m in scores.metrics.items()),
        )
        return results
