"""Shared test helpers: compose the real config, patched for CPU and tiny sizes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from genhep.data.gaussian_mixture import GaussianMixtureDataModule
from genhep.spec import DataSpec

import checkout_conf

checkout_conf.install()  # compose this checkout's conf/, also in a git worktree

TESTS_DIR = Path(__file__).parent
REPO_ROOT = TESTS_DIR.parent

# Small enough for seconds on 2 cores, large enough for metrics to mean something.
TINY = (
    "data.n_events=3000",
    "data.batch_size=128",
    "trainer.max_epochs=2",
    "callbacks.evaluation.n_samples=500",
    "callbacks.evaluation.every_n_epochs=1",
    "callbacks.evaluation.progress=false",
    "~callbacks.progress_bar",
)


def compose_train(tmp_path: Path, overrides: Sequence[str] = (), tiny: bool = True) -> DictConfig:
    """The composed ``train`` config with outputs under ``tmp_path`` and HydraConfig set."""
    GlobalHydra.instance().clear()
    with initialize_config_module("genhep.conf", version_base="1.3"):
        cfg = compose(
            "train", overrides=[*(TINY if tiny else ()), *overrides], return_hydra_config=True
        )
    with open_dict(cfg):
        cfg.paths.root_dir = str(tmp_path)
        cfg.paths.output_dir = str(tmp_path / "run")
        cfg.hydra.runtime.output_dir = str(tmp_path / "run")
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg.hydra
    return cfg


def run_cli(
    args: Sequence[str],
    cwd: Path,
    timeout: float = 300,
    extra_env: dict | None = None,
    root: Path | None = None,
):
    """Run ``python -m genhep <args>`` in ``cwd``; return the CompletedProcess.

    GENHEP_ROOT is ``root`` (default ``cwd``); ``extra_env`` entries set variables, a
    ``None`` value removes one.
    """
    env = {
        **os.environ,
        "GENHEP_ROOT": str(root or cwd),
        "WANDB_MODE": "offline",
        # this checkout's genhep and conf/ first (not whichever the venv has installed;
        # tests/sitecustomize.py maps genhep.conf)
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(TESTS_DIR)]),
    }
    for key, value in (extra_env or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-m", "genhep", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def bare_trainer(*callbacks: pl.Callback, **options) -> pl.Trainer:
    """A quiet CPU Trainer without logger, checkpoints or progress bar."""
    settings = dict(
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    return pl.Trainer(callbacks=list(callbacks), **{**settings, **options})


@pytest.fixture
def one_thread():
    """One torch thread for the test (tiny networks; numbers made with one thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class ImageLikeFamily(GaussianMixtureDataModule):
    """A stand-in family of images, which flat-vector models refuse (compatibility errors)."""

    family = "jet_images"

    @property
    def spec(self) -> DataSpec:
        return DataSpec(self.family, (1, 25, 25), cond_dim=1)


@pytest.fixture(autouse=True)
def _clean_hydra():
    yield
    GlobalHydra.instance().clear()
    HydraConfig.instance().cfg = None
