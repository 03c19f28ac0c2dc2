"""What a run is: its config choices and overrides, read from Hydra when Hydra is running."""

from __future__ import annotations

from typing import Any

from hydra.core.hydra_config import HydraConfig


def hydra_overrides() -> list[str]:
    """The task overrides of the current Hydra job (``[]`` outside Hydra)."""
    if not HydraConfig.initialized():
        return []
    return [str(o) for o in HydraConfig.get().overrides.task]


def run_summary() -> dict[str, Any]:
    """``{"model", "data", "overrides", "job"}`` of the current Hydra job, empty outside Hydra."""
    if not HydraConfig.initialized():
        return {}
    hydra_cfg = HydraConfig.get()
    choices = hydra_cfg.runtime.choices
    job_num = hydra_cfg.job.get("num")
    return {
        "model": choices.get("model"),
        "data": choices.get("data"),
        "experiment": choices.get("experiment"),
        "overrides": [o for o in hydra_overrides() if not o.startswith("hydra.")],
        "job": {"name": hydra_cfg.job.name, "num": job_num},
    }
