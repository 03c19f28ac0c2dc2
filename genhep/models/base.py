"""The model contract: a LightningModule that can ``sample`` (and maybe ``log_prob``).

Every generative model subclasses :class:`GenerativeModel` (or one of the two family bases,
:class:`~genhep.models.likelihood.LikelihoodModel` and
:class:`~genhep.models.adversarial.AdversarialModel`) and

- says which data it can model with :meth:`GenerativeModel.incompatibility` (``None``: it can),
  from the :class:`~genhep.spec.DataSpec` alone; ``accepts(spec)`` is its yes/no form and the
  runner refuses an incompatible pair before anything is built. The helpers of
  :mod:`genhep.spec` describe kinds of data: "any flat vector", "any cloud", "jet images";
- implements ``sample(n, cond=None, mask=None)`` in the family's *transformed* space. It
  returns the events ``(n, *event_shape)``, or a :class:`Generated` ``(x, mask)`` when the
  model makes its own particle masks (clouds whose multiplicity it samples): the evaluation
  then uses the model's masks, not the real ones;
- implements ``log_prob(x, cond=None)`` only if it has a likelihood, and then declares its
  kind in :attr:`GenerativeModel.log_prob_kind`: ``"exact"`` (a density), ``"discretised"`` (the
  probability of quantised data) or ``"bound"`` (a lower bound, e.g. a VAE's ELBO). Models
  without one do not define it.
- may fit what it needs from the training data (intensity levels, ranges) in
  :meth:`GenerativeModel.fit_to_data`, called once before training starts on fresh weights;
- may keep an exponential moving average of the weights of the part that generates
  (``ema``: the decay, ``None`` = off; :meth:`GenerativeModel.generating_module`), held in the
  checkpoint and used by every sampling (evaluation, ``genhep evaluate``, ``genhep sample``).

``sample`` is abstract and enforced: a model class without it cannot be instantiated.

What the framework does around the hooks, random-state restore for exact resume, EMA updates,
the composed config in checkpoints, lives in :class:`genhep.callbacks.framework.FrameworkCallback`,
which the runner always adds: no subclass can switch it off by overriding a hook without
``super()``.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from genhep.spec import DataSpec

OptimizerFactory = Callable[[Iterable[torch.nn.Parameter]], torch.optim.Optimizer]
SchedulerFactory = Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler]
#: torch LR schedulers defined per optimizer step (the others step once per epoch)
PER_STEP_SCHEDULERS = (torch.optim.lr_scheduler.OneCycleLR, torch.optim.lr_scheduler.CyclicLR)

#: The kinds of ``log_prob`` a model may have, and what each means (``results.json``, report).
LOG_PROB_KINDS = {
    "exact": "exact log-density",
    "discretised": "exact log-probability of the discretised data",
    "bound": "lower bound of the log-likelihood (ELBO)",
}


class IncompatibleDataError(ValueError):
    """A model composed with data it cannot model."""


class Generated(NamedTuple):
    """What ``sample`` returns when the model makes the particle masks too."""

    x: Tensor
    mask: Tensor | None = None


@dataclass(frozen=True)
class TrainingData:
    """The training split as :meth:`GenerativeModel.fit_to_data` sees it.

    Attributes:
        x: ``(N, *event_shape)`` model-space events (CPU, float32).
        cond: ``(N, cond_dim)`` model-space conditions, or ``None``.
        mask: ``(N, n)`` bool particle masks, or ``None``.
        to_physical: maps model-space ``x`` (any leading shape the transform accepts) back to
            physical units (numpy float64), given the physical ``cond``/``mask`` the
            transform needs; ``None`` where the data module has no transform.
    """

    x: Tensor
    cond: Tensor | None = None
    mask: Tensor | None = None
    to_physical: Callable[..., Any] | None = None


def check_compatible(model_class: type[GenerativeModel], spec: DataSpec) -> None:
    """Raise :class:`IncompatibleDataError` if ``model_class`` cannot model ``spec``'s data."""
    problem = model_class.incompatibility(spec)
    if problem is None:
        return
    mask = ", masked" if spec.has_mask else ""
    raise IncompatibleDataError(
        f"model {model_class.__name__} cannot model data '{spec.family}' (event_shape "
        f"{tuple(spec.event_shape)}, cond_dim {spec.cond_dim}{mask}): {problem}. "
        "Choose another model=... or data=..."
    )


class _ModelMeta(ABCMeta, type(pl.LightningModule)):
    """``abc`` enforcement for LightningModules: abstract methods must be implemented."""


class GenerativeModel(pl.LightningModule, metaclass=_ModelMeta):
    """Base class of every generative model (see the module docstring).

    Args:
        data_spec: :meth:`DataSpec.to_dict` of the data family, filled in by the runner.
        optimizer: ``functools.partial`` of a torch optimizer (Hydra ``_partial_: true``).
        scheduler: optional ``functools.partial`` of a torch LR scheduler.
        ema: decay of the exponential moving average of the generating weights (e.g. 0.999),
            updated after every optimizer step of the generating part; ``None``: off.
    """

    #: ``"exact"``, ``"discretised"`` or ``"bound"`` where the model defines ``log_prob``.
    log_prob_kind: ClassVar[str | None] = None
    #: the model's name in messages (default: the class name)
    display_name: ClassVar[str | None] = None

    def __init__(
        self,
        data_spec: Mapping[str, Any],
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        ema: float | None = None,
    ) -> None:
        super().__init__()
        self.data_spec = DataSpec.from_dict(data_spec)
        check_compatible(type(self), self.data_spec)
        if ema is not None and not 0.0 < ema < 1.0:
            raise ValueError(f"model.ema must be a decay in (0, 1) or null, got {ema}")
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.ema_decay = ema
        self.averaged: AveragedModel | None = None
        self.run_config: dict[str, Any] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        has_log_prob = callable(getattr(cls, "log_prob", None))
        kind = cls.__dict__.get("log_prob_kind", cls.log_prob_kind)
        if has_log_prob and kind is None:
            raise TypeError(
                f"{cls.__name__} defines log_prob but no log_prob_kind "
                f"(one of {sorted(LOG_PROB_KINDS)})"
            )
        if isinstance(kind, str) and kind not in LOG_PROB_KINDS:
            raise TypeError(f"{cls.__name__}.log_prob_kind must be one of {sorted(LOG_PROB_KINDS)}")

    # -- what data the model takes ------------------------------------------------------

    @classmethod
    @abstractmethod
    def incompatibility(cls, spec: DataSpec) -> str | None:
        """Why this model cannot model data of ``spec`` (a phrase), or ``None`` if it can."""

    @classmethod
    def accepts(cls, spec: DataSpec) -> bool:
        """Whether this model can model data of ``spec``."""
        return cls.incompatibility(spec) is None

    # -- what the model offers ------------------------------------------------------------

    @property
    def has_log_prob(self) -> bool:
        """Whether this model defines ``log_prob`` (its kind: :attr:`log_prob_kind`)."""
        return self.log_prob_kind is not None and callable(getattr(self, "log_prob", None))

    @property
    def log_prob_method(self) -> str | None:
        """How ``log_prob`` is computed where the model offers a choice (an ODE solver, an
        estimator), for ``results.json``; ``None``: one way, by the model's construction."""
        return None

    @abstractmethod
    def sample(
        self, n: int, cond: Tensor | None = None, mask: Tensor | None = None
    ) -> Tensor | Generated:
        """``n`` events ``(n, *event_shape)`` in transformed space, on the module's device,
        or :class:`Generated` with the model's own masks ``(n, particles)``.

        ``cond`` ``(n, cond_dim)`` and ``mask`` ``(n, particles)`` are in model space too.
        """

    def condition(self, cond: Tensor | None, n: int) -> Tensor | None:
        """``cond`` as ``(n, cond_dim)`` float32 on the module's device; ``None`` for an
        unconditional model. A conditional model given no ``cond`` raises ``ValueError``
        naming the shape it needs."""
        cond_dim = self.data_spec.cond_dim
        if cond_dim == 0:
            return None
        if cond is None:
            name = self.display_name or type(self).__name__
            raise ValueError(f"this {name} is conditional: pass cond of shape (n, {cond_dim})")
        return cond.to(self.device, torch.float32).reshape(n, cond_dim)

    def fit_to_data(self, data: TrainingData) -> None:
        """Fit what the model takes from the training data (levels, ranges) into buffers.

        Called once before training on fresh weights (not on resume), by the framework; the
        buffers travel in checkpoints. The default fits nothing.
        """

    def logs_this_step(self) -> bool:
        """Whether this training step's values are logged: on the steps the loggers write
        (every ``trainer.log_every_n_steps``) and on the last batch of each epoch (so that
        every epoch leaves its value in the progress bar and the metric store). The bases log
        training terms only then: each ``self.log`` costs ~0.5 ms, a fifth of a small model's
        step (``make bench``, ``overhead``)."""
        trainer = self._trainer
        if trainer is None:
            return True
        return bool(trainer._logger_connector.should_update_logs or trainer.is_last_batch)

    # -- optimisation ---------------------------------------------------------------------

    def build_optimizer(self, factory: OptimizerFactory | None, params: Iterable[Any]) -> Any:
        """``factory(params=params)``, with a clear error when no optimizer is configured."""
        if factory is None:
            raise ValueError(f"{type(self).__name__}: no optimizer configured (model.optimizer)")
        return factory(params=params)

    def trained_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter an optimizer updates (the EMA copy is not one)."""
        return (p for name, p in self.named_parameters() if not name.startswith("averaged."))

    def configure_optimizers(self) -> Any:
        optimizer = self.build_optimizer(self.optimizer_factory, self.trained_parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.build_scheduler(optimizer)}

    def build_scheduler(self, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """Lightning's ``{"scheduler", "interval"}`` of ``model.scheduler`` on ``optimizer``.

        ``OneCycleLR`` and ``CyclicLR`` (:data:`PER_STEP_SCHEDULERS`) step after every batch,
        the others once per epoch. A ``OneCycleLR`` given neither ``total_steps`` nor ``epochs``
        spans the trainer's ``estimated_stepping_batches`` (set ``trainer.max_epochs`` or
        ``max_steps``: a run bounded by ``max_time`` alone would never finish its cycle).
        """
        factory = self.scheduler_factory
        extra: dict[str, Any] = {}
        given = set(getattr(factory, "keywords", {}))
        if getattr(factory, "func", None) is torch.optim.lr_scheduler.OneCycleLR and not (
            {"total_steps", "epochs"} & given
        ):
            extra["total_steps"] = int(self.trainer.estimated_stepping_batches)
        scheduler = factory(optimizer=optimizer, **extra)
        interval = "step" if isinstance(scheduler, PER_STEP_SCHEDULERS) else "epoch"
        return {"scheduler": scheduler, "interval": interval}

    # -- exponential moving average -------------------------------------------------------

    def generating_module(self) -> nn.Module:
        """The part of the model that generates, whose weights the EMA averages.

        Default: every submodule (a container over them); a GAN returns its generator.
        """
        return nn.ModuleList([m for name, m in self.named_children() if name != "averaged"])

    def attach_ema(self) -> None:
        """Create the averaged copy of :meth:`generating_module` (idempotent; a no-op when
        ``ema`` is off). Called by the framework before training and before a checkpoint's
        weights are loaded, so that ``averaged.*`` entries load too."""
        if self.ema_decay is None or self.averaged is not None:
            return
        self.averaged = AveragedModel(
            self.generating_module(),
            multi_avg_fn=self.ema_average_fn(),
            use_buffers=False,
        ).requires_grad_(False)

    def ema_average_fn(self) -> Callable[..., None]:
        """The EMA update ``(averaged params, current params, n_averaged) -> None``: a constant
        decay (``ema``); a model may warm it up (diffusion: ``min(ema, (1 + n) / (10 + n))``)."""
        return get_ema_multi_avg_fn(self.ema_decay)

    def update_ema(self) -> None:
        """One EMA step towards the current generating weights (the first copies them)."""
        if self.averaged is not None:
            self.averaged.update_parameters(self.generating_module())

    @contextmanager
    def averaged_weights(self) -> Iterator[None]:
        """Within the block the generating module's parameters are the EMA averages (when
        there are any); the live ones are put back afterwards. Buffers (batch-norm statistics,
        fitted levels) are not averaged: the live ones serve both."""
        if self.averaged is None or int(self.averaged.n_averaged) == 0:
            yield
            return
        live = list(self.generating_module().parameters())
        backup = [t.detach().clone() for t in live]
        with torch.no_grad():
            for target, value in zip(live, self.averaged.module.parameters(), strict=True):
                target.copy_(value)
        try:
            yield
        finally:
            with torch.no_grad():
                for target, value in zip(live, backup, strict=True):
                    target.copy_(value)
