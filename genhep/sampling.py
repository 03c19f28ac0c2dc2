"""Batched sampling from a model with speed measurement and a progress bar."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from genhep.data.base import GenerativeDataModule
from genhep.evaluation.base import Sample
from genhep.models.base import Generated, GenerativeModel
from genhep.utils.device import describe_device


@dataclass(frozen=True)
class SamplingSpeed:
    """Events per second of ``model.sample`` alone (no transform, no metrics)."""

    samples_per_s: float
    batch_size: int
    device: str
    seconds: float

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "samples_per_s": self.samples_per_s,
            "batch_size": self.batch_size,
            "device": self.device,
            "seconds": self.seconds,
        }


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def sample_like(
    model: GenerativeModel,
    datamodule: GenerativeDataModule,
    real: Sample,
    batch_size: int = 1000,
    progress: bool = True,
) -> tuple[Sample, SamplingSpeed]:
    """Generate one event for each event of ``real``, at its condition and mask.

    The model samples with its EMA weights where it keeps them
    (:meth:`~genhep.models.base.GenerativeModel.averaged_weights`). Returns the generated
    sample in physical units, ``x`` with the ``cond`` of ``real`` and the ``mask`` the model
    generated (where its ``sample`` returns :class:`~genhep.models.base.Generated` with one),
    else the one of ``real``; and the sampling speed.
    """
    n = len(real["x"])
    model_space = datamodule.to_model_space(real)
    was_training = model.training
    model.eval()
    chunks, masks, seconds = [], [], 0.0
    columns = (TextColumn("sampling"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with model.averaged_weights(), Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task("sampling", total=n)
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            kwargs = {
                key: model_space[key][start:stop].to(model.device)
                for key in ("cond", "mask")
                if key in model_space
            }
            _synchronize(model.device)
            began = time.perf_counter()
            out = model.sample(stop - start, **kwargs)
            _synchronize(model.device)
            seconds += time.perf_counter() - began
            x, mask = (out.x, out.mask) if isinstance(out, Generated) else (out, None)
            chunks.append(x.detach().cpu())
            if mask is not None:
                masks.append(mask.detach().cpu().bool())
            bar.advance(task, stop - start)
    model.train(was_training)
    if masks and len(masks) != len(chunks):
        raise ValueError(f"{type(model).__name__}.sample returned masks for some batches only")
    mask = torch.cat(masks).numpy() if masks else real.get("mask")
    generated = {"x": datamodule.to_physical(torch.cat(chunks), real.get("cond"), mask)}
    if "cond" in real:
        generated["cond"] = real["cond"]
    if mask is not None:
        generated["mask"] = mask
    speed = SamplingSpeed(
        samples_per_s=n / seconds if seconds > 0 else float("inf"),
        batch_size=batch_size,
        device=describe_device(model.device),
        seconds=seconds,
    )
    return generated, speed
