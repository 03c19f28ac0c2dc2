"""``genhep data generate``: a data family makes its dataset from first principles.

Every family with a Monte Carlo generator implements ``GenerativeDataModule.generate()``,
which writes the family's public file format into the cache under ``paths.data_dir``
(named by the generator configuration) and returns the file; a rerun reuses it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig

from genhep.data.base import GenerativeDataModule
from genhep.utils.task import task_wrapper

log = logging.getLogger(__name__)

USAGE = "usage: genhep data generate data=<family> [data.<option>=<value> ...]\n"


@task_wrapper
def generate(cfg: DictConfig) -> Path:
    """Instantiate ``cfg.data`` and let it make (or find) its generated file."""
    datamodule: GenerativeDataModule = instantiate(cfg.data)
    path = datamodule.generate()
    log.info("%s data: %s", datamodule.family, Path(path).resolve())
    return path


def command(args: Sequence[str]) -> None:
    """``genhep data <action> ...``; the one action is ``generate``."""
    from genhep.cli import run_hydra

    if not args or args[0] != "generate":
        sys.stderr.write(USAGE)
        raise SystemExit(2)
    run_hydra(generate, "generate", args[1:])
