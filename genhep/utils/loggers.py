"""Logger helpers: figures to every logger, and a wandb logger that works offline."""

from __future__ import annotations

import logging
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from pytorch_lightning.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter
from pytorch_lightning.loggers.logger import rank_zero_experiment

from genhep.utils.io import atomic_write_text
from genhep.utils.run_info import run_summary

log = logging.getLogger(__name__)


class _AppendingWriter(ExperimentWriter):
    """Lightning's CSV writer, but an existing ``metrics.csv`` is continued, not deleted.

    The header is merged with the one on disk at every save, so writers in several
    processes (a resumed run, ``ddp_spawn`` workers and their parent) share one file.
    """

    def _check_log_dir_exists(self) -> None:
        """Keep an existing ``metrics.csv`` (Lightning deletes it here)."""

    def _header_on_disk(self) -> list[str]:
        if not self._fs.isfile(self.metrics_file_path):
            return []
        with self._fs.open(self.metrics_file_path, "r", newline="") as handle:
            header = handle.readline().strip()
        return header.split(",") if header else []

    def _record_new_keys(self) -> set[str]:
        on_disk = self._header_on_disk()
        self.metrics_keys = sorted(set(on_disk) | set(self.metrics_keys).union(*self.metrics))
        return set(self.metrics_keys) - set(on_disk) if on_disk else set()


class ResumableCSVLogger(CSVLogger):
    """CSV logger whose ``metrics.csv`` survives a resumed run (rows are appended).

    Lightning's own CSV logger deletes an existing ``metrics.csv``; a run resumed in
    place with ``genhep train ckpt_path=<run>`` would lose its history.
    """

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _AppendingWriter(log_dir=self.log_dir)
        return self._experiment


def wandb_has_credentials() -> bool:
    """True when an API key is set or stored in ``~/.netrc`` for the wandb host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def wandb_logger(
    project: str = "genhep",
    save_dir: str = ".",
    offline: bool | None = None,
    name: str | None = None,
    group: str | None = None,
    tags: Sequence[str] = (),
    **kwargs: Any,
) -> WandbLogger:
    """A :class:`WandbLogger` named after the run's overrides and grouped by sweep.

    Args:
        offline: ``None`` = offline unless credentials are found (``WANDB_MODE``
            set by the user always wins). Offline runs sync later with ``wandb sync``.
        name: run name; defaults to the composed overrides, e.g. ``model=mdn,seed=3``.
        group: run group; defaults to the multirun's sweep folder, so the runs of one
            sweep sit side by side on the dashboard.

    The wandb run id is kept in ``<save_dir>/wandb_run_id``: a run resumed in its directory
    (``genhep train ckpt_path=<run dir>``, a requeued SLURM job) continues the same wandb run
    (``resume="allow"``) instead of opening a second one.
    """
    if offline is None:
        offline = os.environ.get("WANDB_MODE", "") in ("offline", "disabled") or (
            "WANDB_MODE" not in os.environ and not wandb_has_credentials()
        )
    summary = run_summary()
    if name is None:
        name = ",".join(summary.get("overrides", [])) or None
    if group is None:
        group = _sweep_group()
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("id", wandb_run_id(Path(save_dir)))
    kwargs.setdefault("resume", "allow")
    return WandbLogger(
        project=project,
        save_dir=save_dir,
        offline=offline,
        name=name,
        group=group,
        tags=list(tags),
        **kwargs,
    )


def wandb_run_id(run_dir: Path) -> str:
    """The wandb run id of the run in ``run_dir``: read from ``wandb_run_id``, or made and
    written there on the first start (rank 0 writes; a new id is 8 random hex digits)."""
    path = run_dir / "wandb_run_id"
    if path.is_file():
        return path.read_text().strip()
    run_id = uuid.uuid4().hex[:8]
    atomic_write_text(path, run_id + "\n")
    return run_id


def _sweep_group() -> str | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return Path(HydraConfig.get().sweep.dir).name


def log_figures(loggers: Sequence[Logger], figures: dict[str, Figure], step: int) -> None:
    """Send figures to the loggers that take images (wandb, TensorBoard)."""
    for logger in loggers:
        if isinstance(logger, WandbLogger):
            import wandb

            logger.experiment.log(
                {key: wandb.Image(fig) for key, fig in figures.items()}, step=step
            )
        elif isinstance(logger, TensorBoardLogger):
            for key, fig in figures.items():
                logger.experiment.add_figure(key, fig, global_step=step, close=False)


def finish_wandb(failed: bool) -> None:
    """Close an open wandb run, with exit code 1 when the job failed."""
    if "wandb" not in sys.modules:
        return
    import wandb

    if wandb.run is not None:
        log.info("closing wandb run %s (%s)", wandb.run.name, "failed" if failed else "finished")
        wandb.finish(exit_code=1 if failed else 0)
