"""The training task: compose -> check -> instantiate -> fit -> test -> evaluate.

``genhep train`` (see :mod:`genhep.cli`) calls :func:`main` through Hydra.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from genhep.callbacks.evaluation import EvaluationCallback
from genhep.callbacks.framework import FrameworkCallback
from genhep.checkpoints import LAST, load_checkpoint, resolve_checkpoint
from genhep.checks import RunConfigError, check_model_data, check_multirun_strategy
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
    datamodule: GenerativeDataModule = instantiate(cfg.data)
    check_model_data(cfg, datamodule.spec)
    model: GenerativeModel = instantiate(cfg.model, data_spec=datamodule.spec.to_dict())
    model.run_config = OmegaConf.to_container(cfg, resolve=True)
    return datamodule, model


def make_trainer(
    cfg: DictConfig, extra_callbacks: Sequence[pl.Callback] = ()
) -> tuple[pl.Trainer, list[pl.Callback]]:
    """The Trainer of a composed config with its callbacks and loggers (the run's config
    logged as hyperparameters), and the config's callbacks. ``extra_callbacks`` join them
    (the overhead benchmark's clock); :class:`FrameworkCallback` always does."""
    callbacks = instantiate_group(cfg.get("callbacks"))
    loggers = instantiate_group(cfg.get("logger"))
    trainer: pl.Trainer = instantiate(
        cfg.trainer,
        callbacks=[FrameworkCallback(), *callbacks, *extra_callbacks],
        logger=loggers or False,
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
    ckpt_path = resume_checkpoint(cfg)
    if cfg.get("init_from") is not None:
        if ckpt_path:
            log.info("resuming from %s: init_from=%s is not used", ckpt_path, cfg.init_from)
        else:
            init_weights(model, cfg.init_from, strict=cfg.get("init_from_strict", True))
    trainer, callbacks = make_trainer(cfg)

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


def resume_checkpoint(cfg: DictConfig) -> str | None:
    """The checkpoint a run resumes from: ``ckpt_path`` if given, else (``auto_resume``) the
    run directory's own ``checkpoints/last.ckpt`` when it exists: a job requeued by SLURM runs
    again in the same directory with the same overrides, and continues where it stopped."""
    if cfg.get("ckpt_path") is not None:
        return str(resolve_checkpoint(cfg.ckpt_path))
    last = Path(cfg.paths.output_dir) / "checkpoints" / LAST
    if cfg.get("auto_resume", True) and last.is_file():
        log.info("this run directory holds %s (a requeued job?): resuming from it", last)
        return str(last)
    return None


def init_weights(model: GenerativeModel, path: str | Path, strict: bool = True) -> None:
    """Load the weights of checkpoint ``path`` into ``model`` to start training from them at
    epoch 0 with a fresh optimizer (``init_from``; fine-tuning, chained models). The EMA copy
    of the checkpoint is not loaded (the new run averages its own weights).

    ``strict``: every weight must match by name and shape; otherwise only those that do are
    loaded and the others keep their initialisation (both lists are logged).

    Raises:
        RunConfigError: ``strict`` and the weights do not match (names what differs).
    """
    checkpoint = load_checkpoint(path)
    state = {k: v for k, v in checkpoint["state_dict"].items() if not k.startswith("averaged.")}
    own = {k: v for k, v in model.state_dict().items() if not k.startswith("averaged.")}
    matching = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    unmatched = sorted(set(state) - set(matching))
    missing = sorted(set(own) - set(matching))
    if strict and (unmatched or missing):
        raise RunConfigError(
            f"init_from={path}: the checkpoint's weights do not fit model "
            f"{type(model).__name__}: not in the model or of another shape: "
            f"{unmatched[:8]}{' ...' if len(unmatched) > 8 else ''}; not in the checkpoint: "
            f"{missing[:8]}{' ...' if len(missing) > 8 else ''} (init_from_strict=false loads "
            "the weights that match)"
        )
    model.load_state_dict(matching, strict=False)
    log.info(
        "init_from=%s: %d weights loaded%s",
        path,
        len(matching),
        f"; kept initialised: {missing}" if missing else "",
    )


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
