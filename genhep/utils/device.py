"""The device to run on by default, and human-readable names of the hardware a measurement
ran on."""

from __future__ import annotations

import os

import torch


def plural(n: int, noun: str) -> str:
    """``"1 core"``, ``"2 cores"``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def describe_cpu(cores: int, threads: int | None = None) -> str:
    """``"cpu (2 cores)"``, or with ``threads`` ``"cpu (2 cores, 1 thread)"``."""
    parts = [plural(cores, "core")] + ([plural(threads, "thread")] if threads is not None else [])
    return f"cpu ({', '.join(parts)})"


def default_device(device: torch.device | str | None = None) -> torch.device:
    """``device``, or where it is ``None``: CUDA when available, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def describe_device(device: torch.device | str) -> str:
    """Name a device as results files state it, e.g. ``"cpu (2 cores)"`` or ``"cuda: NVIDIA H100"``."""
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda: {torch.cuda.get_device_name(index)}"
    if device.type == "cpu":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        return describe_cpu(cores, torch.get_num_threads())
    return str(device)
