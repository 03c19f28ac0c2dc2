"""What the framework does around every model, kept out of the model's own hooks.

:class:`FrameworkCallback` is added by the runner to every training (whatever
``callbacks=...`` says), so a model that overrides a Lightning hook without calling
``super()`` cannot switch any of it off:

- **exact resume**: the global random states (torch, numpy, Python, CUDA) go into every
  checkpoint and are restored at the start of the next training epoch (not at load time:
  the validation sanity check and other set-up work between loading and training must not
  shift the stream);
- **the run's config** (plain containers) and the hyperparameters as plain containers in
  every checkpoint, so ``weights_only=True`` loads them and ``genhep evaluate`` rebuilds the run;
- **fitting to the training data**: :meth:`~genhep.models.base.GenerativeModel.fit_to_data`
  once before training on fresh weights (not on resume);
- **EMA**: the averaged copy is attached before weights load, and updated after each
  training batch in which the generating part took an optimizer step (the global step moved).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from genhep.models.base import GenerativeModel, TrainingData

RNG_KEY = "genhep_rng_state"
CONFIG_KEY = "genhep_config"


def plain_containers(value: Any) -> Any:
    """``value`` with every OmegaConf container and mapping turned into dicts and lists."""
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, Mapping):
        return {k: plain_containers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_containers(v) for v in value]
    return value


def rng_state() -> dict[str, Any]:
    """Global random states as tensors and plain containers (``weights_only``-safe)."""
    np_state = np.random.get_state()
    python = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2])},
        "python": [list(python[1]), python[0], python[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` saved."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(
        ("MT19937", state["numpy"]["keys"].numpy().astype(np.uint32), state["numpy"]["pos"])
    )
    internal, version, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class FrameworkCallback(pl.Callback):
    """The framework's hooks around a :class:`GenerativeModel` (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._pending_rng_state: Mapping[str, Any] | None = None
        self._ema_step = -1

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if isinstance(pl_module, GenerativeModel):
            pl_module.attach_ema()

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not isinstance(pl_module, GenerativeModel) or trainer.ckpt_path is not None:
            return
        datamodule = trainer.datamodule
        dataset = getattr(datamodule, "datasets", {}).get("train")
        if dataset is None:
            return
        tensors = dataset.tensors
        pl_module.fit_to_data(
            TrainingData(
                x=tensors["x"],
                cond=tensors.get("cond"),
                mask=tensors.get("mask"),
                to_physical=getattr(datamodule, "to_physical", None),
            )
        )

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending_rng_state is not None:
            set_rng_state(self._pending_rng_state)
            self._pending_rng_state = None

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any
    ) -> None:
        if isinstance(pl_module, GenerativeModel) and trainer.global_step != self._ema_step:
            self._ema_step = trainer.global_step
            pl_module.update_ema()

    def state_dict(self) -> dict[str, Any]:
        return {"ema_step": self._ema_step}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._ema_step = int(state_dict.get("ema_step", -1))

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if "hyper_parameters" in checkpoint:
            checkpoint["hyper_parameters"] = plain_containers(checkpoint["hyper_parameters"])
        checkpoint[RNG_KEY] = rng_state()
        run_config = getattr(pl_module, "run_config", None)
        if run_config is not None:
            checkpoint[CONFIG_KEY] = run_config

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        self._pending_rng_state = checkpoint.get(RNG_KEY)
        if isinstance(pl_module, GenerativeModel):
            pl_module.run_config = checkpoint.get(CONFIG_KEY, pl_module.run_config)
