"""``genhep sample``: write events from a checkpoint in the family's public file format.

::

    genhep sample ckpt_path=<run dir or .ckpt> n_events=<N> out=<file.h5> [batch_size=<B>] [seed=<S>]

The model and its data module are rebuilt from the checkpoint (see
:func:`genhep.evaluate.restore_checkpoint`). Conditional families take the conditions
(and particle masks) of the real ``split`` (default ``test``), in order, cycling when
``n_events`` is larger than the split. The file is written atomically; the sampling speed is
printed. ``out`` defaults to ``samples.h5`` in the Hydra run directory.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from genhep.callbacks.evaluation import generate_like
from genhep.evaluate import (
    EvaluateConfigError,
    check_split,
    checkpoint_overrides,
    data_overrides,
    model_overrides,
    or_default,
    pick_device,
    restore_checkpoint,
)
from genhep.utils.task import task_wrapper

log = logging.getLogger(__name__)


def command(args: Sequence[str]) -> None:
    """``genhep sample ...`` (see the module docstring)."""
    from genhep.cli import run_hydra

    for arg in args:  # the number of events was n=<N> before it took data generate's name
        key, equals, value = arg.partition("=")
        if equals and key.lstrip("+~") == "n":
            sys.stderr.write(
                f"genhep sample: {arg!r}: the number of events is n_events=, the name "
                f"`genhep data generate` uses (data.generator.n_events): n_events={value}\n"
            )
            raise SystemExit(2)
    run_hydra(main, "sample", checkpoint_overrides(args))


@task_wrapper
def sample(cfg: DictConfig) -> dict[str, Any]:
    """Write ``cfg.n_events`` events to ``cfg.out``; return where, how many and how fast."""
    n = int(cfg.n_events)
    if n < 1:
        raise EvaluateConfigError(f"n_events must be a positive number of events, got {n}")
    out = Path(cfg.out).expanduser()
    split = check_split(cfg.split)
    restored = restore_checkpoint(
        cfg.ckpt_path, data_overrides(cfg), model_overrides(cfg), cfg.get("checkpoint", "last")
    )
    settings = restored.evaluation_settings
    batch_size = int(or_default(cfg.get("batch_size"), settings["batch_size"]))
    model, datamodule = restored.model, restored.datamodule
    model.to(pick_device(cfg.get("device"), restored.config))

    # conditions and masks of the real split, in order, cycling when n exceeds it
    real, _ = datamodule.evaluation_samples(split, n)
    n_real = len(real["x"])
    if n_real == 0:
        raise EvaluateConfigError(f"the {split} split has no events to take conditions from")
    index = np.arange(n) % n_real
    template = {key: value[index] for key, value in real.items()}
    log.info("sampling %d events from %s on %s", n, restored.path, model.device)
    generated, speed = generate_like(
        model, datamodule, template, batch_size, int(cfg.seed), cfg.progress, warmup=True
    )
    path = datamodule.write_samples(out, generated)
    cycled = f", conditions of the {split} split ({n_real} events) cycled" if n > n_real else ""
    log.info(
        "wrote %d events to %s%s\nsampling speed: %.4g samples/s on %s (batch size %d)",
        n,
        path,
        cycled,
        speed.samples_per_s,
        speed.device,
        batch_size,
    )
    return {"path": str(path), "n_events": n, "sampling": speed.to_dict()}


def main(cfg: DictConfig) -> None:
    """Hydra task function of ``genhep sample``."""
    sample(cfg)
