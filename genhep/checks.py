"""Checks of a composed run configuration that must fail before any training starts."""

from __future__ import annotations

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, ListConfig

from genhep.models.base import check_compatible
from genhep.spec import DataSpec


class RunConfigError(ValueError):
    """A configuration that would fail, hang or silently misbehave."""


def check_model_data(cfg: DictConfig, spec: DataSpec | None = None) -> DataSpec:
    """Model x data compatibility from the data's :class:`DataSpec` (the data module is built,
    which reads no data) and the model's class (not built); returns the spec.

    Raises:
        IncompatibleDataError: the model cannot model this data (says why).
    """
    if spec is None:
        spec = instantiate(cfg.data).spec
    check_compatible(get_class(cfg.model._target_), spec)
    return spec


def _n_devices(devices: object) -> int | None:
    """Devices a Trainer ``devices`` value asks for; None where only the machine can tell."""
    if isinstance(devices, int):
        return devices if devices >= 0 else None
    if isinstance(devices, str):
        parts = [p for p in devices.split(",") if p.strip()]
        if len(parts) > 1:
            return len(parts)
        return int(devices) if devices.strip().isdigit() else None
    if isinstance(devices, ListConfig | list | tuple):
        return len(devices)
    return None


def _strategy_name(trainer_cfg: DictConfig) -> str:
    strategy = trainer_cfg.get("strategy", "auto")
    if isinstance(strategy, DictConfig):
        target = str(strategy.get("_target_", "")).lower()
        return (
            "ddp_spawn"
            if "spawn" in str(strategy.get("start_method", ""))
            else ("ddp" if "ddp" in target else target)
        )
    if str(strategy) == "auto":
        # Lightning picks ddp (a re-launch of sys.argv per rank) for several devices or nodes
        n_devices = _n_devices(trainer_cfg.get("devices", "auto"))
        if (n_devices or 1) > 1 or int(trainer_cfg.get("num_nodes", 1) or 1) > 1:
            return "ddp (what strategy=auto picks for several devices)"
    return str(strategy)


def check_multirun_strategy(cfg: DictConfig) -> None:
    """Refuse multirun + ``strategy=ddp`` unless a cluster launcher creates the ranks.

    Lightning's ``ddp`` re-launches ``sys.argv`` for ranks > 0; under a Hydra multirun
    the children re-run the whole sweep, and jobs after the first silently train as
    one process. ``ddp_spawn`` forks inside the job instead, and the SLURM launcher with
    ``tasks_per_node == trainer.devices`` lets the cluster start every rank.
    """
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return
    strategy = _strategy_name(cfg.trainer)
    if not strategy.startswith("ddp") or "spawn" in strategy or "fork" in strategy:
        return
    launcher = HydraConfig.get().launcher
    if "submitit" in str(launcher.get("_target_", "")).lower() and "Slurm" in str(
        launcher.get("_target_", "")
    ):
        tasks = launcher.get("tasks_per_node")
        devices = cfg.trainer.get("devices")
        if tasks == devices:
            return
        raise RunConfigError(
            f"multirun with strategy={strategy} on SLURM needs hydra.launcher.tasks_per_node "
            f"({tasks}) == trainer.devices ({devices}) so that SLURM starts every rank"
        )
    raise RunConfigError(
        f"multirun (-m) with trainer.strategy={strategy} is not supported: Lightning would "
        "re-launch the whole sweep in each child rank. Use trainer=ddp_spawn for local sweeps, "
        "or launcher=slurm (hydra.launcher.tasks_per_node == trainer.devices) on a cluster. "
        "A single run (no -m) with trainer=ddp is fine."
    )
