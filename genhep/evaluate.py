"""``genhep evaluate``: score a checkpoint, or a sample file, with its family's evaluator.

::

    genhep evaluate ckpt_path=<run dir or .ckpt> [split=test] [n_samples=N] [seed=S]
    genhep evaluate ckpt_path=<run dir> checkpoint=best      # the best-metric checkpoint
    genhep evaluate ckpt_path=<run dir> model.<sampler option>=<value>
    genhep evaluate samples=<file.h5> data=<family> [data.path=<real file>]

With ``ckpt_path`` the data module and the model are rebuilt from the checkpoint's own
configuration (``genhep_config``: nothing needs repeating), the weights and the fitted
transforms are loaded, and the evaluation runs exactly as the training run's
:class:`~genhep.callbacks.EvaluationCallback` did: same split, same number of events,
same sampling seed (its defaults are the run's ``callbacks.evaluation`` settings), so it
reproduces the run's test metrics. Single data keys may still change, e.g.
``data.path=<where the file is on this machine>``, and so may the evaluator's settings
(``data.evaluator`` in ``conf/data/<family>.yaml``), e.g. ``data.evaluator.n_bootstrap=5``, and
model options that leave the weights as they are, e.g. a diffusion sampler's number of steps
(``model.<key>=<value>``).

With ``samples`` a file in the family's public format (written by ``genhep sample`` or
any other tool) is scored against the family's real split: genhep as the neutral judge.
There is no sampling speed then (``sampling: null``).

Results (``results.json``, ``observables/``, ``figures/``) go to the Hydra run directory,
by default ``outputs/evaluate/runs/<date_time>/`` (choose it with ``hydra.run.dir=...``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from genhep.callbacks.evaluation import (
    Scores,
    generate_like,
    likelihood_record,
    results_record,
    score_and_save,
)
from genhep.checkpoints import load_checkpoint, resolve_checkpoint, run_dir_of
from genhep.data.base import GenerativeDataModule
from genhep.evaluation.base import Sample, as_float64
from genhep.models.base import GenerativeModel
from genhep.models.likelihood import bits_per_dim
from genhep.report.runs import EVALUATED_CONFIG
from genhep.utils.device import default_device
from genhep.utils.io import atomic_write_json, atomic_write_text
from genhep.utils.run_info import hydra_overrides
from genhep.utils.task import task_wrapper

log = logging.getLogger(__name__)

EVALUATION_DEFAULTS = {"n_samples": 10000, "batch_size": 1000, "seed": 1234}
EVAL_SPLITS = ("val", "test")


class EvaluateConfigError(ValueError):
    """An ``evaluate``/``sample`` command line that cannot work."""


# -- command line ------------------------------------------------------------------------


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def checkpoint_overrides(args: Sequence[str]) -> list[str]:
    """Let ``data.<key>=<value>`` and ``model.<key>=<value>`` change the checkpoint's config.

    These commands compose no ``data`` or ``model`` group when a checkpoint is given (the
    checkpoint brings its config), so ``data.path=x`` becomes ``++data.path=x``: Hydra adds
    the key, and :func:`restore_checkpoint` applies it on top of the checkpoint's config. A
    ``model.<key>`` override is for options that do not change the weights, e.g. a sampler's
    number of steps; one that changes the architecture fails when the weights load.
    """
    if not any(_key(a) == "ckpt_path" for a in args if "=" in a):
        return list(args)
    return [f"++{a}" if a.startswith(("data.", "model.")) and "=" in a else a for a in args]


def command(args: Sequence[str]) -> None:
    """``genhep evaluate ...`` (see the module docstring)."""
    from genhep.cli import run_hydra

    run_hydra(main, "evaluate", checkpoint_overrides(args))


# -- restoring a checkpoint --------------------------------------------------------------


@dataclass
class Restored:
    """A model and its data module rebuilt from a checkpoint, weights and transforms loaded."""

    path: Path
    checkpoint: dict[str, Any]
    config: dict[str, Any]
    datamodule: GenerativeDataModule
    model: GenerativeModel

    @property
    def evaluation_settings(self) -> dict[str, Any]:
        """The run's ``callbacks.evaluation`` settings (defaults where it had none)."""
        callbacks = self.config.get("callbacks") or {}
        settings = callbacks.get("evaluation") or {}
        return {k: settings.get(k, v) for k, v in EVALUATION_DEFAULTS.items()}

    @property
    def epochs_trained(self) -> int | None:
        """Training epochs the weights have seen."""
        try:
            return int(
                self.checkpoint["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"]
            )
        except (KeyError, TypeError):
            epoch = self.checkpoint.get("epoch")
            return None if epoch is None else int(epoch) + 1

    def run_choices(self) -> dict[str, Any]:
        """``model``, ``data``, ``experiment`` and ``overrides`` of the training run."""
        out: dict[str, Any] = {
            "model": type(self.model).__name__,
            "data": self.datamodule.family,
            "experiment": None,
            "overrides": [],
        }
        run_dir = run_dir_of(self.path)
        if run_dir is None:
            return out
        hydra_file = run_dir / ".hydra" / "hydra.yaml"
        if hydra_file.is_file():
            hydra_cfg = (yaml.safe_load(hydra_file.read_text()) or {}).get("hydra") or {}
            choices = (hydra_cfg.get("runtime") or {}).get("choices") or {}
            out.update({k: choices[k] for k in ("model", "data", "experiment") if choices.get(k)})
        overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()) or []
        out["overrides"] = [str(o) for o in overrides if not _key(str(o)).startswith("hydra.")]
        return out


def restore_checkpoint(
    ckpt_path: str | Path,
    data_overrides: dict[str, Any] | None = None,
    model_overrides: dict[str, Any] | None = None,
    which: str = "last",
) -> Restored:
    """Rebuild data module and model from a checkpoint's ``genhep_config`` and load them.

    ``data_overrides`` (e.g. ``{"path": "/new/place.h5"}``) and ``model_overrides`` (e.g. a
    sampler setting) replace keys of the checkpoint's data and model configs. The transforms
    are loaded from the checkpoint (the state Lightning stores under the data module's class
    name), not refitted; the model's EMA weights too, where it kept them. ``which``: ``last``
    or ``best`` checkpoint of a run directory (:func:`~genhep.checkpoints.resolve_checkpoint`).
    """
    from genhep.train import build

    path = resolve_checkpoint(ckpt_path, which)
    checkpoint = load_checkpoint(path)
    config = checkpoint.get("genhep_config")
    if not isinstance(config, dict):
        raise EvaluateConfigError(
            f"ckpt_path={path}: not a genhep checkpoint (it holds no 'genhep_config'; "
            f"keys: {sorted(checkpoint)})"
        )
    cfg = OmegaConf.create(config)
    for group, overrides in (("data", data_overrides), ("model", model_overrides)):
        for key, value in (overrides or {}).items():
            OmegaConf.update(cfg, f"{group}.{key}", value, force_add=True)
    datamodule, model = build(cfg)
    state_key = type(datamodule).__qualname__
    if state_key in checkpoint:
        datamodule.load_state_dict(checkpoint[state_key])
    else:
        log.warning("%s holds no %s state: transforms are refitted on the data", path, state_key)
    model.run_config = config
    if any(k.startswith("averaged.") for k in checkpoint["state_dict"]):
        model.attach_ema()
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    return Restored(path, checkpoint, OmegaConf.to_container(cfg), datamodule, model)


HINTS = {
    "data": "data=<family> goes with samples=<file>; with ckpt_path the checkpoint's own data "
    "config is used (change single keys with data.<key>=<value>, e.g. data.path=...)",
    "model": "with ckpt_path the checkpoint's own model is used: change single options with "
    "model.<key>=<value> (e.g. a sampler's number of steps), not model=<name>",
}


def group_overrides(cfg: DictConfig, group: str) -> dict[str, Any]:
    """The ``<group>.<key>=...`` (``data`` or ``model``) given with ``ckpt_path``, as a
    nested dict (see :func:`checkpoint_overrides`); a whole ``<group>=<name>`` is refused."""
    node = cfg.get(group)
    if node is None:
        return {}
    if "_target_" in node:
        raise EvaluateConfigError(HINTS[group])
    return OmegaConf.to_container(node, resolve=True)


def data_overrides(cfg: DictConfig) -> dict[str, Any]:
    """The ``data.<key>=...`` given with ``ckpt_path``."""
    return group_overrides(cfg, "data")


def model_overrides(cfg: DictConfig) -> dict[str, Any]:
    """The ``model.<key>=...`` given with ``ckpt_path``."""
    return group_overrides(cfg, "model")


def pick_device(requested: str | None, run_config: dict[str, Any]) -> torch.device:
    """``requested`` (``cpu``, ``cuda``, ``cuda:1``, ``auto``), by default where the run trained.

    The default keeps a CPU-trained run on the CPU, so its evaluation is reproduced to the
    last digit; runs trained on an accelerator use CUDA when there is one.
    """
    if requested is None:
        accelerator = str((run_config.get("trainer") or {}).get("accelerator", "cpu"))
        requested = "cpu" if accelerator == "cpu" else "auto"
    return default_device(None if requested == "auto" else requested)


def or_default(value: Any, default: Any) -> Any:
    return default if value is None else value


def check_split(split: str) -> str:
    if split not in EVAL_SPLITS:
        raise EvaluateConfigError(f"split must be one of {EVAL_SPLITS}, got {split!r}")
    return split


# -- the two modes -----------------------------------------------------------------------


def _score(
    cfg: DictConfig,
    datamodule: GenerativeDataModule,
    generated: Sample,
    real: Sample,
    reference: Sample,
    output_dir: Path,
) -> Scores:
    """:func:`score_and_save` with the family's evaluator and the command's options."""
    return score_and_save(
        datamodule.evaluator(),
        generated,
        real,
        reference,
        cfg.split,
        output_dir,
        cfg.figures,
        cfg.progress,
    )


def evaluate_checkpoint(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Evaluate a checkpoint as its run's EvaluationCallback would; return the record."""
    began = time.perf_counter()
    restored = restore_checkpoint(
        cfg.ckpt_path, data_overrides(cfg), model_overrides(cfg), cfg.get("checkpoint", "last")
    )
    settings = restored.evaluation_settings
    n_samples = int(or_default(cfg.get("n_samples"), settings["n_samples"]))
    batch_size = int(or_default(cfg.get("batch_size"), settings["batch_size"]))
    seed = int(or_default(cfg.get("seed"), settings["seed"]))
    split = check_split(cfg.split)
    model, datamodule = restored.model, restored.datamodule
    model.to(pick_device(cfg.get("device"), restored.config))
    log.info("evaluating %s on the %s split (%s)", restored.path, split, model.device)
    # what genhep report reads as this evaluation's run (its label, report settings)
    atomic_write_text(
        output_dir / EVALUATED_CONFIG, yaml.safe_dump(restored.config, sort_keys=False)
    )

    real, reference = datamodule.evaluation_samples(split, n_samples)
    n_generated = cfg.get("n_generated")
    generated, speed = generate_like(
        model,
        datamodule,
        real,
        batch_size,
        seed,
        cfg.progress,
        warmup=True,
        n_generated=n_generated,
    )
    scores = _score(cfg, datamodule, generated, real, reference, output_dir)
    scores.close_figures()
    run = restored.run_choices()
    record = results_record(
        model=run["model"],
        data=run["data"],
        experiment=run["experiment"],
        overrides=run["overrides"],
        seed=restored.config.get("seed"),
        split=split,
        epochs_trained=restored.epochs_trained,
        global_step=restored.checkpoint.get("global_step"),
        n_samples=len(real["x"]),
        speed=speed,
        scores=scores,
        monte_carlo=datamodule.monte_carlo_speed(),
        likelihood=likelihood_record(
            model, split_likelihood(model, datamodule, batch_size, split), split
        ),
    )
    record.update(
        command="evaluate",
        ckpt_path=str(restored.path),
        samples=None,
        sampling_seed=seed,
        n_generated=len(generated["x"]),
        evaluate_overrides=_own_overrides(),
        evaluation_seconds=time.perf_counter() - began,
    )
    return record


def evaluate_samples(cfg: DictConfig, output_dir: Path) -> dict[str, Any]:
    """Score a sample file in the family's public format against the real split."""
    began = time.perf_counter()
    path = Path(cfg.samples).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"samples={path}: no such file")
    if cfg.get("data") is None or "_target_" not in cfg.data:
        raise EvaluateConfigError(
            f"samples={path} needs the data family it belongs to: data=<family> "
            "(the options are the files in conf/data/)"
        )
    datamodule: GenerativeDataModule = instantiate(cfg.data)
    generated = as_float64(datamodule.read_samples(path))
    n_file = len(generated["x"])
    n_samples = min(n_file, int(or_default(cfg.get("n_samples"), n_file)))
    if n_samples < 1:
        raise EvaluateConfigError(f"samples={path}: no events to evaluate")
    generated = {k: v[:n_samples] for k, v in generated.items()}
    split = check_split(cfg.split)
    log.info("evaluating %d events of %s against the %s split", n_samples, path, split)

    real, reference = datamodule.evaluation_samples(split, n_samples)
    scores = _score(cfg, datamodule, generated, real, reference, output_dir)
    scores.close_figures()
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    record = results_record(
        model=None,
        data=choices.get("data") or datamodule.family,
        experiment=None,
        overrides=_own_overrides(),
        seed=None,
        split=split,
        epochs_trained=None,
        global_step=None,
        n_samples=n_samples,
        speed=None,
        scores=scores,
        monte_carlo=datamodule.monte_carlo_speed(),
    )
    record.update(
        command="evaluate",
        ckpt_path=None,
        samples=str(path.resolve()),
        n_real=len(real["x"]),
        evaluation_seconds=time.perf_counter() - began,
    )
    return record


def split_likelihood(
    model: GenerativeModel, datamodule: GenerativeDataModule, batch_size: int, split: str
) -> dict[str, float]:
    """``{"<split>/loss", "<split>/bits_per_dim"}`` of a likelihood model on the whole split,
    as its test step logs them (the mean negative log-likelihood per event, or per number for
    a model with ``nll_per = "dim"``); ``{}`` for a model without ``log_prob``."""
    if not model.has_log_prob:
        return {}
    datamodule.setup()
    tensors = datamodule.datasets[split].tensors
    n, nll = len(tensors["x"]), 0.0
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            x = tensors["x"][start : start + batch_size].to(model.device)
            cond = tensors.get("cond")
            cond = None if cond is None else cond[start : start + batch_size].to(model.device)
            nll -= float(model.log_prob(x, cond).double().sum())
    nll /= max(n, 1)
    n_dims = model.data_spec.n_dims
    loss = nll / n_dims if getattr(model, "nll_per", "event") == "dim" else nll
    return {f"{split}/loss": loss, f"{split}/bits_per_dim": bits_per_dim(nll, n_dims)}


def _own_overrides() -> list[str]:
    return [o for o in hydra_overrides() if not _key(o).startswith("hydra.")]


@task_wrapper
def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Run ``genhep evaluate``; write and return the ``results.json`` record."""
    has_ckpt, has_samples = cfg.get("ckpt_path") is not None, cfg.get("samples") is not None
    if has_ckpt == has_samples:
        raise EvaluateConfigError(
            "give exactly one of ckpt_path=<run dir or .ckpt> or samples=<file> data=<family>"
            + (" (both were given)" if has_ckpt else "")
        )
    output_dir = Path(cfg.paths.output_dir)
    record = evaluate_checkpoint(cfg, output_dir) if has_ckpt else evaluate_samples(cfg, output_dir)
    path = atomic_write_json(output_dir / "results.json", record)
    lines = [f"{record['split']} metrics ({record['n_samples']} events):"]
    for name, metric in record["metrics"].items():
        rvr = metric.get("real_vs_real")
        baseline = "" if rvr is None or not math.isfinite(rvr) else f"  (real vs real {rvr:.4g})"
        lines.append(f"  {name:<16} {metric['value']:.4g} ± {metric['error']:.2g}{baseline}")
    if record["sampling"]:
        lines.append(
            f"sampling: {record['sampling']['samples_per_s']:.4g} samples/s "
            f"on {record['device']} (batch size {record['sampling']['batch_size']})"
        )
    lines.append(f"results: {path}")
    log.info("\n".join(lines))
    return record


def main(cfg: DictConfig) -> None:
    """Hydra task function of ``genhep evaluate``."""
    evaluate(cfg)
