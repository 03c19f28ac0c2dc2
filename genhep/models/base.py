"""The model contract: a LightningModule that can ``sample`` (and maybe ``log_prob``).

Every generative model subclasses :class:`GenerativeModel` and

- lists the data families it accepts in ``supported_families``;
- implements ``sample(n, cond=None, mask=None)`` in the family's *transformed* space;
- implements ``log_prob(x, cond=None)`` only if its density is tractable. Models
  without one do not define it (``model.has_log_prob`` is then False).

The base class builds the optimizer from a ``_partial_`` Hydra config, stores the
random state in checkpoints so a resumed run continues exactly as an uninterrupted
one, and keeps the composed run configuration (plain containers) in the checkpoint.
"""

from __future__ import annotations

import random
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf
from torch import Tensor

from genhep.spec import DataSpec

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]


class IncompatibleDataError(ValueError):
    """A model composed with a data family it does not support."""


def check_compatible(model_class: type, family: str) -> None:
    """Fail before training if ``model_class`` does not accept data ``family``."""
    supported = getattr(model_class, "supported_families", ())
    if family not in supported:
        raise IncompatibleDataError(
            f"model {model_class.__name__} does not support data family '{family}'. "
            f"Supported families: {', '.join(supported) or '(none declared)'}. "
            f"Choose data=<one of these> or another model."
        )


def plain_containers(value: Any) -> Any:
    """``value`` with every OmegaConf container and mapping turned into dicts and lists."""
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    if isinstance(value, Mapping):
        return {k: plain_containers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_containers(v) for v in value]
    return value


def _rng_state() -> dict[str, Any]:
    """Global random states as tensors and plain containers (``weights_only``-safe)."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2])},
        "python": [list(random.getstate()[1]), random.getstate()[0], random.getstate()[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(
        ("MT19937", state["numpy"]["keys"].numpy().astype(np.uint32), state["numpy"]["pos"])
    )
    internal, version, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class GenerativeModel(pl.LightningModule):
    """Base class of every generative model (see the module docstring).

    Args:
        data_spec: :meth:`DataSpec.to_dict` of the data family, filled in by the runner.
        optimizer: ``functools.partial`` of a torch optimizer (Hydra ``_partial_: true``).
        scheduler: optional ``functools.partial`` of a torch LR scheduler.
    """

    supported_families: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        data_spec: Mapping[str, Any],
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
    ) -> None:
        super().__init__()
        self.data_spec = DataSpec.from_dict(data_spec)
        check_compatible(type(self), self.data_spec.family)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.run_config: dict[str, Any] | None = None
        self._pending_rng_state: Mapping[str, Any] | None = None

    @property
    def has_log_prob(self) -> bool:
        """Whether this model defines an exact (or bounded) ``log_prob``."""
        return callable(getattr(self, "log_prob", None))

    @abstractmethod
    def sample(self, n: int, cond: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        """``n`` events ``(n, *event_shape)`` in transformed space, on the module's device.

        ``cond`` ``(n, cond_dim)`` and ``mask`` ``(n, particles)`` are in model space too.
        """

    def configure_optimizers(self) -> Any:
        if self.optimizer_factory is None:
            raise ValueError(f"{type(self).__name__}: no optimizer configured (model.optimizer)")
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer=optimizer)},
        }

    # -- checkpoints -------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "hyper_parameters" in checkpoint:
            checkpoint["hyper_parameters"] = plain_containers(checkpoint["hyper_parameters"])
        checkpoint["genhep_rng_state"] = _rng_state()
        if self.run_config is not None:
            checkpoint["genhep_config"] = self.run_config

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Restored at the next training epoch start: validation sanity checks and
        # other set-up work between loading and training must not shift the stream.
        self._pending_rng_state = checkpoint.get("genhep_rng_state")
        self.run_config = checkpoint.get("genhep_config", self.run_config)

    def on_train_epoch_start(self) -> None:
        if self._pending_rng_state is not None:
            _set_rng_state(self._pending_rng_state)
            self._pending_rng_state = None
