"""``overhead``: what genhep's training loop costs on top of the model's own step.

For two models, the config ``genhep train`` composes, built as it builds it
(:func:`genhep.train.build`, :func:`genhep.train.make_trainer`: the default callbacks —
checkpointing, the evaluation callback, the Rich progress bar — and the CSV logger):

- ``mdn``: ``model=mdn data=gaussian_mixture`` (20,000 toy events, batch 256), evaluation
  callback on but set to fire every 1000 epochs, so never here;
- ``sarm``: ``experiment=quickstart`` (the small SARM-1 (D+C) of ``make run``, batch 64) on a
  LAGAN-format file of 1200 random sparse images written beforehand (no Pythia run); its
  evaluation callback runs at test only, and there is no test here.

``trainer.fit`` runs ``1 + repeats`` epochs with one torch thread. A clock callback stamps
the start of every training batch; an epoch's **genhep step** is the time from its second
batch's start to its last batch's start over the steps in between: everything the loop does
per step (fetching and collating the batch, ``training_step`` with its ``self.log`` calls,
backward, the optimizer, the progress bar, the logger, every callback's batch hooks).
Excluded: start-up (timed separately), the first and last step of every epoch (epoch
boundaries: validation, checkpoint writing, epoch-end hooks), and the first epoch
(warm-up). At the end of every epoch, outside that window, the clock runs the same number
of **bare** PyTorch steps on a twin model (same class and config, weights copied when
training starts, the same optimizer settings) over the same full batches drawn beforehand
from the same DataLoader: ``zero_grad``, the training loss computed from ``log_prob``
directly, ``backward``, ``step``. The two measurements thus alternate epoch by epoch; the
medians over the ``repeats`` epochs after the warm-up are reported. ``params.overhead`` is
the median of the epochs' (genhep − bare) / bare; ``params.overhead_cpu`` the same in the
process's CPU time (all its threads: the progress bar draws in its own), which other
processes on a shared machine disturb less than wall time. ``loader_batch`` is one batch
of iterating that DataLoader alone (part of the overhead, which the bare loop does not pay:
its batches are in memory). ``fit_startup`` is ``trainer.fit`` up to the first training
batch (data already set up; model summary, SARM's intensity fit, validation sanity check),
the clock's own preparation subtracted.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import Tensor

from genhep.data.jets.image_format import lagan_schema
from genhep.data.schema import write_hdf5
from genhep.models.base import GenerativeModel
from genhep.train import QUIET, build, make_trainer

from benchmarks.common import Context, Entry, Timing

NAME = "overhead"
#: environment variables ``pl.seed_everything`` sets
SEED_VARIABLES = ("PL_GLOBAL_SEED", "PL_SEED_WORKERS")
Batch = Mapping[str, Tensor]


def mdn_loss(model: GenerativeModel, batch: Batch) -> Tensor:
    """The MDN's training loss: mean −log p."""
    return -model.log_prob(batch["x"], batch.get("cond")).mean()


def sarm_loss(model: GenerativeModel, batch: Batch) -> Tensor:
    """The SARM's training loss: −log p in nats per pixel."""
    return -model.log_prob(batch["x"], batch.get("cond")).mean() / model.n_pixels


@dataclass(frozen=True)
class Case:
    """One model: train-config overrides (full and quick mode), measured epochs, its loss."""

    name: str
    overrides: tuple[str, ...]
    quick_overrides: tuple[str, ...]
    repeats: int
    loss: Callable[[GenerativeModel, Batch], Tensor]
    jet_images: bool = False


CASES = (
    Case(
        "mdn",
        ("model=mdn", "data=gaussian_mixture", "callbacks.evaluation.every_n_epochs=1000"),
        ("data.n_events=2000",),
        repeats=20,
        loss=mdn_loss,
    ),
    Case(
        "sarm",
        ("experiment=quickstart", "data.n_events=1200"),
        (
            "data.batch_size=8",
            "+trainer.limit_train_batches=4",
            "+trainer.limit_val_batches=1",
            "model.hidden=8",
            "model.embed_dim=4",
            "model.head_hidden=[8]",
        ),
        repeats=8,
        loss=sarm_loss,
        jet_images=True,
    ),
)


def write_toy_jet_images(path: Path, n: int, seed: int = 0) -> Path:
    """A LAGAN-format file of ``n`` random sparse 25×25 images (about 40 hits around the
    centre, exponential pT), half labelled signal: the SARM's training cost does not
    depend on what the images show."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 25, 25), dtype=np.float32)
    rows, cols = (np.clip(np.rint(rng.normal(12, 3, (n, 40))), 0, 24).astype(int) for _ in "rc")
    pt = rng.exponential(5.0, (n, 40)).astype(np.float32)
    np.add.at(images, (np.arange(n)[:, None], rows, cols), pt)
    signal = (np.arange(n) % 2).astype(np.float32)
    return write_hdf5(path, {"image": images, "signal": signal}, lagan_schema())


def compose_train(overrides: list[str], workdir: Path) -> DictConfig:
    """The ``train`` config, outputs and generated data under ``workdir``."""
    GlobalHydra.instance().clear()
    with initialize_config_module("genhep.conf", version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                *overrides,
                f"paths.root_dir={workdir}",
                f"paths.output_dir={workdir / 'run'}",
            ],
        )
    GlobalHydra.instance().clear()
    return cfg


class BareLoop:
    """A plain PyTorch training loop over in-memory batches of a model's twin."""

    def __init__(self, model: GenerativeModel, loss: Callable[[GenerativeModel, Batch], Tensor]):
        self.model, self.loss = model, loss
        self.batches: list[Batch] = []
        self.index = 0
        self.losses: list[float] = []

    def prepare(self, trained: GenerativeModel, datamodule: pl.LightningDataModule) -> None:
        """Copy the weights (and fitted statistics) of the model Lightning trains, make the
        same optimizer and draw the full batches of one epoch of its training DataLoader."""
        self.model.load_state_dict(trained.state_dict())
        self.model.train()
        optimizers = self.model.configure_optimizers()
        self.optimizer = optimizers["optimizer"] if isinstance(optimizers, dict) else optimizers
        self.loader = datamodule.train_dataloader()
        batches = list(self.loader)
        self.batches = [b for b in batches if len(b["x"]) == len(batches[0]["x"])]

    def block(self, steps: int) -> tuple[float, float, float]:
        """Seconds per bare step over ``steps`` steps (wall and process CPU time), and per
        batch of one pass of the DataLoader."""
        with torch.inference_mode(False), torch.enable_grad():
            began, cpu = time.perf_counter(), time.process_time()
            for _ in range(steps):
                batch = self.batches[self.index % len(self.batches)]
                self.index += 1
                self.optimizer.zero_grad(set_to_none=True)
                loss = self.loss(self.model, batch)
                loss.backward()
                self.optimizer.step()
            step = (time.perf_counter() - began) / steps
            cpu = (time.process_time() - cpu) / steps
        self.losses.append(float(loss.detach()))
        began = time.perf_counter()
        n = sum(1 for _ in self.loader)
        return step, cpu, (time.perf_counter() - began) / n


class StepClock(pl.Callback):
    """Times training-loop iterations inside ``trainer.fit`` and runs a bare block after each
    epoch (see the module docstring)."""

    def __init__(self, bare: BareLoop, warmup_epochs: int = 1) -> None:
        self.bare, self.warmup_epochs = bare, warmup_epochs
        self.fit_called: float | None = None
        self.first_batch: float | None = None
        self.own = 0.0  # the clock's own work before the first batch
        self.starts: list[tuple[float, float]] = []  # (wall, process CPU) at batch starts
        self.genhep: list[float] = []
        self.bare_step: list[float] = []
        self.genhep_cpu: list[float] = []
        self.bare_cpu: list[float] = []
        self.loader: list[float] = []
        self.steps: list[int] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        began = time.perf_counter()
        self.bare.prepare(pl_module, trainer.datamodule)
        self.own += time.perf_counter() - began

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.starts = []

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        now = time.perf_counter()
        self.starts.append((now, time.process_time()))
        if self.first_batch is None:
            self.first_batch = now

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        steps = len(self.starts) - 2
        if steps < 1:
            raise RuntimeError(f"an epoch of {len(self.starts)} batches has no step to time")
        (wall0, cpu0), (wall1, cpu1) = self.starts[1], self.starts[-1]
        genhep, genhep_cpu = (wall1 - wall0) / steps, (cpu1 - cpu0) / steps
        bare, bare_cpu, loader = self.bare.block(steps)
        if trainer.current_epoch >= self.warmup_epochs:
            self.genhep.append(genhep)
            self.bare_step.append(bare)
            self.genhep_cpu.append(genhep_cpu)
            self.bare_cpu.append(bare_cpu)
            self.loader.append(loader)
            self.steps.append(steps)

    @property
    def startup(self) -> float:
        if self.fit_called is None or self.first_batch is None:
            raise RuntimeError("trainer.fit did not reach a training batch")
        return self.first_batch - self.fit_called - self.own


def _timing(values: list[float], steps: int) -> Timing:
    median = statistics.median(values)
    return Timing(median, len(values), steps, (max(values) - min(values)) / median)


@contextmanager
def _isolated() -> Iterator[None]:
    """One torch thread, ``genhep train``'s warning filters; the global settings that
    Lightning's seeding and ``trainer=cpu`` change are restored afterwards."""
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    environ = {key: os.environ.get(key) for key in SEED_VARIABLES}
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings():
            for message in QUIET:
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        for key, value in environ.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_case(case: Case, ctx: Context, workdir: Path) -> list[Entry]:
    """Fit one model with the clock; its entries."""
    overrides = [*case.overrides, *(case.quick_overrides if ctx.quick else ())]
    repeats = 2 if ctx.quick else case.repeats
    extra = [f"trainer.max_epochs={1 + repeats}"]
    if case.jet_images:
        n = 100 if ctx.quick else 1200
        extra.append(f"data.path={write_toy_jet_images(workdir / 'jet_images.h5', n)}")
    cfg = compose_train([*overrides, *extra], workdir)

    pl.seed_everything(cfg.seed, workers=True)
    datamodule, model = build(cfg)
    datamodule.setup("fit")  # data drawn or read before any clock runs
    twin = instantiate(cfg.model, data_spec=datamodule.spec.to_dict())
    clock = StepClock(BareLoop(twin, case.loss))
    began = time.perf_counter()
    trainer, callbacks = make_trainer(cfg, [clock])
    trainer_seconds = time.perf_counter() - began
    clock.fit_called = time.perf_counter()
    trainer.fit(model, datamodule=datamodule)
    if not np.isfinite(clock.bare.losses).all():
        raise RuntimeError(f"{case.name}: the bare loop diverged (losses {clock.bare.losses})")

    steps = clock.steps[0]
    ratios = [g / b - 1.0 for g, b in zip(clock.genhep, clock.bare_step, strict=True)]
    cpu_ratios = [g / b - 1.0 for g, b in zip(clock.genhep_cpu, clock.bare_cpu, strict=True)]
    params = {
        "model": case.name,
        "overrides": overrides,
        "batch_size": datamodule.batch_size,
        "overhead": statistics.median(ratios),
        "overhead_per_epoch": ratios,
        "overhead_cpu": statistics.median(cpu_ratios),
        "genhep_step_cpu_seconds": statistics.median(clock.genhep_cpu),
        "bare_step_cpu_seconds": statistics.median(clock.bare_cpu),
        "loader_share": statistics.median(clock.loader) / statistics.median(clock.bare_step),
        "timed_steps_per_epoch": steps,
        "measured_epochs": repeats,
        "warmup_epochs": clock.warmup_epochs,
        "callbacks": [type(c).__name__ for c in callbacks],
        "loggers": [type(lg).__name__ for lg in trainer.loggers],
        "excluded": "start-up, first epoch, first and last step of every epoch",
        "trainer_init_seconds": trainer_seconds,
    }
    if case.jet_images:
        params["data"] = f"{n} random sparse LAGAN-format images (not Pythia)"
    timings = {
        "genhep_step": _timing(clock.genhep, steps),
        "bare_step": _timing(clock.bare_step, steps),
        "loader_batch": _timing(clock.loader, steps),
        "fit_startup": Timing(clock.startup, 1, 1, 0.0),
    }
    return [
        ctx.entry(
            NAME,
            f"{case.name}_{part}",
            "seconds",
            timing,
            datamodule.batch_size,
            device="cpu",
            params=params,
        )
        for part, timing in timings.items()
    ]


def benchmarks(ctx: Context) -> list[Entry]:
    entries: list[Entry] = []
    with _isolated():
        for case in CASES:
            with tempfile.TemporaryDirectory(prefix="genhep-overhead-") as workdir:
                entries += run_case(case, ctx, Path(workdir))
    return entries
