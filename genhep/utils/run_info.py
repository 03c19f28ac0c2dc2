"""What a run is: its config choices and overrides, read from Hydra when Hydra is running,
and the code that ran it (:func:`provenance`: versions and git commit)."""

from __future__ import annotations

import functools
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig

#: The directory holding the ``genhep`` package: a checkout's root, or site-packages.
SOURCE_ROOT = Path(__file__).resolve().parent.parent.parent


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


def _git(root: Path, *args: str) -> str:
    # GIT_OPTIONAL_LOCKS=0: `git status` may not write the index (concurrent jobs, ranks)
    out = subprocess.run(
        ["git", "-C", str(root), *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
        env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
    )
    return out.stdout


@functools.cache
def git_commit(root: Path = SOURCE_ROOT) -> str | None:
    """``git rev-parse HEAD`` of the checkout whose top level is ``root`` (by default the one
    holding genhep's source), ``"<hash>-dirty"`` if tracked files differ from it, ``None``
    where ``root`` is not the top of a git checkout (an installed genhep, no git). Never
    raises. Read once per process (first call): edits made while a run goes on do not
    change the code it runs, so they do not make it "dirty".
    """
    try:
        top, head = _git(root, "rev-parse", "--show-toplevel", "HEAD").splitlines()
        if Path(top).resolve() != Path(root).resolve():
            return None  # e.g. site-packages inside some other project's checkout
        dirty = _git(root, "status", "--porcelain", "--untracked-files=no").strip()
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if dirty else head


def provenance() -> dict[str, Any]:
    """The code of a run: genhep's version and git commit (:func:`git_commit`), and the
    versions of Python, torch, Lightning (``pytorch_lightning``) and numpy."""
    import numpy
    import pytorch_lightning
    import torch

    import genhep

    return {
        "genhep": genhep.__version__,
        "commit": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pytorch_lightning": pytorch_lightning.__version__,
        "numpy": numpy.__version__,
    }
