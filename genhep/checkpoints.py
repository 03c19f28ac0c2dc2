"""Finding and reading checkpoints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

LAST = "last.ckpt"


def resolve_checkpoint(path: str | os.PathLike[str]) -> Path:
    """A checkpoint file from a file path, a run directory or a checkpoint directory.

    A directory resolves to its ``checkpoints/last.ckpt`` (or ``last.ckpt``).
    """
    path = Path(path).expanduser()
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


def run_dir_of(checkpoint: Path) -> Path | None:
    """The Hydra run directory a checkpoint belongs to (holding ``.hydra/``), if any."""
    for parent in checkpoint.parents:
        if (parent / ".hydra" / "overrides.yaml").is_file():
            return parent
    return None


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a genhep checkpoint with ``weights_only=True`` (no arbitrary code runs)."""
    return torch.load(resolve_checkpoint(path), map_location="cpu", weights_only=True)
