"""The task wrapper: every job ends with closed loggers and, on failure, a record of why."""

from __future__ import annotations

import functools
import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig

from genhep.utils.io import atomic_write_json
from genhep.utils.loggers import finish_wandb

log = logging.getLogger(__name__)

T = TypeVar("T")


def task_wrapper(task: Callable[[DictConfig], T]) -> Callable[[DictConfig], T]:
    """Run ``task(cfg)``; always close wandb; on an exception write ``failure.json``.

    ``failure.json`` (in ``cfg.paths.output_dir``) holds the error type, message and
    traceback, so a sweep's report can tell failed jobs from finished ones. The
    exception is re-raised: Hydra then reports it and stops the multirun.
    """

    @functools.wraps(task)
    def wrapped(cfg: DictConfig) -> T:
        output_dir = Path(cfg.paths.output_dir)
        try:
            result = task(cfg)
        except BaseException as err:
            record_failure(output_dir, err)
            finish_wandb(failed=True)
            raise
        finish_wandb(failed=False)
        print_outputs(output_dir)
        return result

    return wrapped


def record_failure(output_dir: Path, err: BaseException) -> Path:
    """Write ``failure.json`` describing ``err`` into ``output_dir``."""
    record: dict[str, Any] = {
        "error": type(err).__name__,
        "message": str(err),
        "traceback": "".join(traceback.format_exception(err)),
    }
    path = atomic_write_json(output_dir / "failure.json", record)
    # the message itself reaches the terminal once, from the command (genhep.utils.errors)
    log.error("job failed (%s); error and traceback in %s", type(err).__name__, path)
    return path


def print_outputs(output_dir: Path) -> None:
    """Tell the person at the terminal where the job's results are."""
    lines = [f"output directory: {output_dir}"]
    for name in ("results.json", "figures", "checkpoints/last.ckpt"):
        if (output_dir / name).exists():
            lines.append(f"  {name:<22} {output_dir / name}")
    log.info("\n".join(lines))
