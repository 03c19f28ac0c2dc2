"""The training progress bar: Lightning's Rich bar, updated only as often as it is drawn."""

from __future__ import annotations

import math
import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichProgressBar


class ProgressBar(RichProgressBar):
    """:class:`~pytorch_lightning.callbacks.RichProgressBar` whose training bar and metrics
    are updated at most ``refresh_rate`` times a second.

    Lightning's bar is drawn by a thread at most ``refresh_rate`` times a second (its
    default, 100, is far more than a person reads), but it reads every logged metric into
    Python numbers and updates its task after *every* training batch. For a model whose
    step takes milliseconds (the MDN on the toy) the two together cost about a tenth of
    the step (``benchmarks/bench_overhead.py``). This bar skips a batch's update when the
    last one is less than ``1 / refresh_rate`` seconds old; the last batch of an epoch is
    always shown. Validation, test and prediction bars are Lightning's.

    Args:
        refresh_rate: updates (and redraws) per second; 0 hides the bar.
        **kwargs: :class:`~pytorch_lightning.callbacks.RichProgressBar` options
            (``leave``, ``theme``, ``console_kwargs``).
    """

    def __init__(self, refresh_rate: int = 10, **kwargs: Any) -> None:
        super().__init__(refresh_rate=refresh_rate, **kwargs)
        self._last_update = -math.inf

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        now = time.monotonic()
        last_batch = batch_idx + 1 >= self.total_train_batches
        if self.is_enabled and not last_batch and now - self._last_update < 1 / self.refresh_rate:
            return
        self._last_update = now
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
