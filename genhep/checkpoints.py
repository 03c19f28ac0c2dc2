"""Finding and reading checkpoints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

LAST = "last.ckpt"


CHECKPOINT_CHOICES = ("last", "best")


def resolve_checkpoint(path: str | os.PathLike[str], which: str = "last") -> Path:
    """A checkpoint file from a file path, a run directory or a checkpoint directory.

    A directory resolves to its ``checkpoints/last.ckpt`` (or ``last.ckpt``); with
    ``which="best"``, to the best checkpoint its ``ModelCheckpoint`` kept (by ``val/loss`` or
    the physics metric it monitors), as recorded in that ``last.ckpt``.
    """
    if which not in CHECKPOINT_CHOICES:
        raise ValueError(f"checkpoint must be one of {CHECKPOINT_CHOICES}, got {which!r}")
    path = Path(path).expanduser()
    if which == "best":
        return best_checkpoint(resolve_checkpoint(path))
    if path.is_file():
        return path.resolve()
    if path.is_dir():
        for candidate in (path / "checkpoints" / LAST, path / LAST):
            if candidate.is_file():
                return candidate.resolve()
        found = sorted(str(p.relative_to(path)) for p in path.rglob("*.ckpt"))
        raise FileNotFoundError(
            f"ckpt_path={path}: no checkpoints/{LAST} or {LAST} in this directory"
            + (f"; checkpoints found: {found}" if found else "")
        )
    raise FileNotFoundError(f"ckpt_path={path}: no such file or directory")


def best_checkpoint(last: Path) -> Path:
    """The best checkpoint recorded by the ``ModelCheckpoint`` state of checkpoint ``last``
    (looked up beside ``last`` when the recorded path was written on another machine)."""
    states = load_checkpoint(last).get("callbacks") or {}
    for key, state in states.items():
        # the ModelCheckpoint with a monitor (the one keeping last.ckpt has none)
        monitored = str(key).startswith("ModelCheckpoint") and "'monitor': None" not in str(key)
        best = state.get("best_model_path") if monitored else None
        if not best:
            continue
        for candidate in (Path(best), last.parent / Path(best).name):
            if candidate.is_file():
                return candidate.resolve()
        raise FileNotFoundError(f"{last}: its best checkpoint {best} is not there any more")
    raise FileNotFoundError(
        f"{last}: no best checkpoint recorded (the run had no ModelCheckpoint with a monitor)"
    )


def run_dir_of(checkpoint: Path) -> Path | None:
    """The Hydra run directory a checkpoint belongs to (holding ``.hydra/``), if any."""
    for parent in checkpoint.parents:
        if (parent / ".hydra" / "overrides.yaml").is_file():
            return parent
    return None


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a genhep checkpoint with ``weights_only=True`` (no arbitrary code runs)."""
    return torch.load(resolve_checkpoint(path), map_location="cpu", weights_only=True)
