"""The adversarial base: a generator and a discriminator (critic) trained in turn.

A subclass builds ``self.generator`` and ``self.discriminator`` and writes two generator
functions of a batch that *yield* one loss dict per optimizer step:

- :meth:`AdversarialModel.discriminator_losses`: each yielded ``{"loss": ..., <name>: ...}``
  is back-propagated and stepped on the discriminator's optimizer before the function resumes,
  so a later yield sees the updated discriminator (LAGAN steps once on real and once on
  generated images; a WGAN critic once on both);
- :meth:`AdversarialModel.generator_losses`: the same for the generator.

The base runs the discriminator's steps on every batch and the generator's on every
``critic_steps``-th batch (five critic updates per generator update for WGAN-GP, as MPGAN's
code counts them), logs the mean of every named value over the steps as ``train/<name>`` (on the steps the loggers
write),
steps the learning-rate schedulers once per epoch, and counts the **global step in generator
updates only** (Lightning counts every optimizer step): ``max_steps``, step-based checkpoints
and the EMA follow the generator. The EMA averages the generator only.

Optimizers: ``optimizer`` builds the generator's, ``discriminator_optimizer`` the
discriminator's (default: the same factory, e.g. MPGAN's RMSprop with its own learning rates
through two configs). A WGAN gradient penalty is :func:`genhep.nn.gradient_penalty`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from genhep.models.base import (
    PER_STEP_SCHEDULERS,
    GenerativeModel,
    OptimizerFactory,
    SchedulerFactory,
)


def _do_nothing() -> None:
    return None


class AdversarialModel(GenerativeModel):
    """Generator/discriminator training (see the module docstring).

    Args:
        data_spec, optimizer, scheduler, ema: as :class:`GenerativeModel` (``optimizer`` is the
            generator's; ``scheduler`` is built for each optimizer, stepped once per epoch).
        discriminator_optimizer: the discriminator's ``_partial_`` optimizer; ``None``: the
            generator's factory.
        critic_steps: batches (discriminator updates) per generator update (>= 1).
    """

    generator: nn.Module
    discriminator: nn.Module

    def __init__(
        self,
        data_spec: Mapping[str, Any],
        optimizer: OptimizerFactory | None = None,
        discriminator_optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        critic_steps: int = 1,
        ema: float | None = None,
    ) -> None:
        super().__init__(data_spec, optimizer, scheduler, ema)
        if critic_steps < 1:
            raise ValueError(f"model.critic_steps must be >= 1, got {critic_steps}")
        self.automatic_optimization = False
        self.discriminator_optimizer_factory = discriminator_optimizer
        self.critic_steps = critic_steps

    @abstractmethod
    def discriminator_losses(self, batch: Mapping[str, Tensor]) -> Iterator[dict[str, Tensor]]:
        """Yield one ``{"loss", <logged names>...}`` per discriminator step on ``batch``."""

    @abstractmethod
    def generator_losses(self, batch: Mapping[str, Tensor]) -> Iterator[dict[str, Tensor]]:
        """Yield one ``{"loss", <logged names>...}`` per generator step (``batch`` gives the
        batch size and, where the model uses them, the real conditions and masks)."""

    def generating_module(self) -> nn.Module:
        return self.generator

    def configure_optimizers(self) -> Any:
        d_factory = self.discriminator_optimizer_factory or self.optimizer_factory
        optimizers = [
            self.build_optimizer(self.optimizer_factory, self.generator.parameters()),
            self.build_optimizer(d_factory, self.discriminator.parameters()),
        ]
        if self.scheduler_factory is None:
            return optimizers
        return optimizers, [self.build_scheduler(o) for o in optimizers]

    def _run_steps(self, optimizer: Any, losses: Iterator[dict[str, Tensor]]) -> dict[str, Tensor]:
        """Step ``optimizer`` on every yielded loss; the mean of each logged value."""
        logged: dict[str, list[Tensor]] = {}
        for values in losses:
            optimizer.zero_grad()
            self.manual_backward(values["loss"])
            optimizer.step()
            for name, value in values.items():
                if name != "loss":
                    logged.setdefault(name, []).append(value.detach())
        return {name: torch.stack(v).mean() for name, v in logged.items()}

    def training_step(self, batch: Mapping[str, Tensor], batch_idx: int) -> None:
        opt_g, opt_d = self.optimizers()
        # discriminator steps do not count as global steps (Lightning's manual loop counts
        # every LightningOptimizer.step through these two hooks, which it sets per batch)
        opt_d._on_before_step = opt_d._on_after_step = _do_nothing
        with self.toggled_optimizer(opt_d):
            logged = self._run_steps(opt_d, self.discriminator_losses(batch))
        if (batch_idx + 1) % self.critic_steps == 0:
            with self.toggled_optimizer(opt_g):
                logged.update(self._run_steps(opt_g, self.generator_losses(batch)))
        if not self.logs_this_step():
            return
        for name, value in logged.items():
            self.log(
                f"train/{name}",
                value,
                prog_bar=name in ("d_loss", "g_loss"),
                batch_size=len(batch["x"]),
            )

    def _step_schedulers(self, per_step: bool) -> None:
        """Manual optimisation steps its schedulers itself: the per-step ones
        (:data:`~genhep.models.base.PER_STEP_SCHEDULERS`) after each batch, the others at the
        end of each epoch."""
        schedulers = self.lr_schedulers()
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            if scheduler is not None and isinstance(scheduler, PER_STEP_SCHEDULERS) == per_step:
                scheduler.step()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._step_schedulers(per_step=True)

    def on_train_epoch_end(self) -> None:
        self._step_schedulers(per_step=False)
