"""The training task: compose -> check -> instantiate -> fit -> test -> evaluate.

``genhep train`` (see :mod:`genhep.cli`) calls :func:`main` through Hydra.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from genhep.callbacks.evaluation import EvaluationCallback
from genhep.checkpoints import resolve_checkpoint
from genhep.checks import check_model_data, check_multirun_strategy
from genhep.data.base import GenerativeDataModule
from genhep.models.base import GenerativeModel
from genhep.utils.task import task_wrapper

log = logging.getLogger(__name__)

# Lightning advice that does not apply to in-memory tensor datasets.
QUIET = (
    ".*does not have many workers.*",
    ".*number of training batches.*smaller than the logging interval.*",
)


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a ``{name: {_target_: ...}}`` group (callbacks, loggers)."""
    if not group:
        return []
    return [
        instantiate(entry)
        for entry in group.values()
        if isinstance(entry, DictConfig) and "_target_" in entry
    ]


def build(cfg: DictConfig) -> tuple[GenerativeDataModule, GenerativeModel]:
    """Datamodule and model of a composed config (the model told the data's spec)."""
    check_model_data(cfg)
    datamodule: GenerativeDataModule = instantiate(cfg.data)
    model: GenerativeModel = instantiate(cfg.model, data_spec=datamodule.spec.to_dict())
    model.run_config = OmegaConf.to_container(cfg, resolve=True)
    return datamodule, model


def make_trainer(
    cfg: DictConfig, extra_callbacks: Sequence[pl.Callback] = ()
) -> tuple[pl.Trainer, list[pl.Callback]]:
    """The Trainer of a composed config with its callbacks and loggers (the run's config
    logged as hyperparameters), and the config's callbacks. ``extra_callbacks`` join them
    (the overhead benchmark's clock)."""
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer: pl.Trainer = instantiate(
        cfg.trainer, callbacks=[*callbacks, *extra_callbacks], logger=loggers or False
    )
    for logger in trainer.loggers:
        logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    return trainer, callbacks


@task_wrapper
def train(cfg: DictConfig) -> dict[str, float]:
    """Train (and test) one model; return the final logged metrics as floats."""
    check_multirun_strategy(cfg)
    for message in QUIET:
        warnings.filterwarnings("ignore", message=message)
    pl.seed_everything(cfg.seed, workers=True)
    datamodule, model = build(cfg)
    trainer, callbacks = make_trainer(cfg)

    ckpt_path = None if cfg.get("ckpt_path") is None else str(resolve_checkpoint(cfg.ckpt_path))
    if cfg.get("train", True):
        if ckpt_path:
            log.info("resuming from %s", ckpt_path)
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
    # Lightning keeps only test/* in callback_metrics after testing: keep the fit's too
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if cfg.get("test", True):
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        test_ckpt = best if cfg.get("test_ckpt") == "best" and best else None
        trainer.test(model, datamodule=datamodule, ckpt_path=test_ckpt)
    metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    for callback in callbacks:
        if isinstance(callback, EvaluationCallback) and callback.last_results:
            split = callback.last_results["split"]
            for name, metric in callback.last_results["metrics"].items():
                metrics[f"{split}/{name}"] = metric["value"]
    return metrics


def objective(metrics: dict[str, float], name: str | None) -> float | None:
    """The value a hyperparameter search minimises: ``metrics[name]``, +inf if not finite."""
    if not name:
        return None
    if name not in metrics:
        raise KeyError(
            f"optimized_metric '{name}' was not logged; logged metrics: {sorted(metrics)}"
        )
    value = metrics[name]
    return value if math.isfinite(value) else math.inf


def main(cfg: DictConfig) -> float | None:
    """Hydra task function of ``genhep train``."""
    return objective(train(cfg), cfg.get("optimized_metric"))
