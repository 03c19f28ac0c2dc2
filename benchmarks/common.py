"""What every benchmark module shares: the run context, the timer and the result entry.

A benchmark module exposes ``benchmarks(ctx: Context) -> list[Entry]``; it builds its
objects, times them with :func:`measure` and turns each timing into an :class:`Entry`
with :meth:`Context.entry`. The harness (``benchmarks/run.py``) adds nothing to the
entries: each one is complete on its own (machine, commit, date, torch version).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from genhep.utils import run_info
from genhep.utils.device import describe_device

#: What an entry's ``value`` can be. Rates are per second of wall time (higher is
#: better); ``seconds`` is the wall time of one call (lower is better).
METRICS = ("samples_per_s", "events_per_s", "steps_per_s", "seconds")

#: Fields every entry has (the test and any reader can rely on them).
REQUIRED_FIELDS = (
    "benchmark",
    "case",
    "metric",
    "value",
    "batch_size",
    "device",
    "threads",
    "commit",
    "date",
    "torch",
)

REPO_ROOT = Path(__file__).resolve().parent.parent


class BenchmarkSkipped(Exception):
    """Raise from a benchmark module when it cannot run here (an optional dependency,
    no GPU, ...). The harness reports it as skipped and writes no file for it."""


def git_commit(root: Path = REPO_ROOT) -> str:
    """:func:`genhep.utils.run_info.git_commit` of ``root`` (``-dirty`` with uncommitted
    changes), or ``"unknown"`` outside a git checkout."""
    return run_info.git_commit(root) or "unknown"


def utc_now() -> str:
    """The current time in UTC, ISO 8601 to the second (``2026-05-09T07:35:25+00:00``)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _machine_busy_seconds() -> float | None:
    """CPU seconds all processes of the machine have spent busy since boot (Linux
    ``/proc/stat``); ``None`` where that is not available."""
    try:
        with open("/proc/stat") as handle:
            fields = handle.readline().split()
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


class BackgroundCpu:
    """How many cores other processes kept busy while this process ran a benchmark.

    Another process on the same cores slows a benchmark down, on a small CPU machine
    by up to two orders of magnitude when torch's thread pools compete. The harness
    measures this around every benchmark and stores it with each entry
    (``background_cpu``), so a disturbed measurement can be recognised.
    """

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.busy = _machine_busy_seconds()
        self.own = time.process_time()

    def cores(self) -> float | None:
        """Average cores used by other processes since construction (``None`` if unknown)."""
        busy = _machine_busy_seconds()
        wall = time.perf_counter() - self.wall
        if busy is None or self.busy is None or wall <= 0:
            return None
        others = (busy - self.busy) - (time.process_time() - self.own)
        return round(max(others, 0.0) / wall, 3)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so a timer measures it (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class Timing:
    """Wall time of one call of a function: median (and spread) over ``repeats`` repeats,
    each repeat timing ``calls_per_repeat`` back-to-back calls."""

    seconds: float
    repeats: int
    calls_per_repeat: int
    spread: float  # (slowest - fastest) / median over the repeats


def measure(
    fn: Callable[[], Any],
    *,
    repeats: int,
    warmup: int,
    min_time: float,
    device: torch.device | str = "cpu",
) -> Timing:
    """Time ``fn()`` after ``warmup`` untimed calls.

    The number of calls per repeat doubles until one repeat lasts at least ``min_time``
    seconds (so fast calls are not lost in timer noise); then ``repeats`` repeats are
    timed and the median per-call time is returned. GPU work is synchronised before
    each clock read.
    """
    if repeats < 1 or warmup < 0 or min_time < 0:
        raise ValueError(
            f"need repeats >= 1, warmup >= 0, min_time >= 0; got {repeats}, {warmup}, {min_time}"
        )
    device = torch.device(device)

    def run(number: int) -> float:
        synchronize(device)
        began = time.perf_counter()
        for _ in range(number):
            fn()
        synchronize(device)
        return time.perf_counter() - began

    for _ in range(warmup):
        fn()
    number = 1
    while run(number) < min_time and number < 1 << 20:
        number *= 2
    per_call = [run(number) / number for _ in range(repeats)]
    median = statistics.median(per_call)
    spread = (max(per_call) - min(per_call)) / median if median > 0 else 0.0
    return Timing(median, repeats, number, spread)


def measure_once(fn: Callable[[], Any], device: torch.device | str = "cpu") -> Timing:
    """One timed call of ``fn()``, no warm-up: for work that takes minutes per call."""
    return measure(fn, repeats=1, warmup=0, min_time=0.0, device=device)


@dataclass
class Context:
    """Settings of one harness run, handed to every benchmark module.

    Attributes:
        quick: smoke mode: tiny sizes and short timings, numbers not meaningful.
        device: where models run (``"cpu"``, ``"cuda"``).
        repeats, warmup, min_time: :func:`measure` settings for this mode.
        commit, date, torch_version: stamped on every entry.
    """

    quick: bool = False
    device: str = "cpu"
    repeats: int = 7
    warmup: int = 3
    min_time: float = 0.2
    commit: str = field(default_factory=git_commit)
    date: str = field(default_factory=utc_now)
    torch_version: str = torch.__version__

    @classmethod
    def create(cls, quick: bool = False, device: str = "cpu") -> Context:
        if quick:
            return cls(quick=True, device=device, repeats=3, warmup=1, min_time=0.005)
        if torch.device(device).type == "cuda":
            # GPU timings of long calls vary by a few per cent: fewer repeats keep a device
            # lease (minutes) for more cases
            return cls(quick=False, device=device, repeats=3, warmup=1)
        return cls(quick=False, device=device)

    @property
    def torch_device(self) -> torch.device:
        return torch.device(self.device)

    @property
    def gpu(self) -> bool:
        """Models run on a GPU: benchmarks use GPU-sized batches (full runs only)."""
        return not self.quick and self.torch_device.type == "cuda"

    def measure(self, fn: Callable[[], Any], device: torch.device | str | None = None) -> Timing:
        """:func:`measure` with this run's settings (``device`` defaults to the run's)."""
        return measure(
            fn,
            repeats=self.repeats,
            warmup=self.warmup,
            min_time=self.min_time,
            device=self.device if device is None else device,
        )

    def entry(
        self,
        benchmark: str,
        case: str,
        metric: str,
        timing: Timing,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        params: dict[str, Any] | None = None,
    ) -> Entry:
        """An entry for ``timing``: a rate (``batch_size`` items, or one step, per call)
        or, for ``metric="seconds"``, the per-call time itself.

        ``device`` is where the timed work ran, if not the run's device (a numpy
        Monte Carlo generator runs on the CPU whatever ``--device`` says).
        """
        if metric not in METRICS:
            raise ValueError(f"unknown metric '{metric}', choose from {METRICS}")
        per_call = {"samples_per_s": batch_size, "events_per_s": batch_size, "steps_per_s": 1}
        value = timing.seconds if metric == "seconds" else per_call[metric] / timing.seconds
        # Long benchmarks (minutes per case) would otherwise look hung.
        print(f"  {benchmark}/{case}: {value:.4g} {metric}", file=sys.stderr, flush=True)
        return Entry(
            benchmark=benchmark,
            case=case,
            metric=metric,
            value=value,
            batch_size=batch_size,
            device=describe_device(self.device if device is None else device),
            threads=torch.get_num_threads(),
            commit=self.commit,
            date=self.date,
            torch=self.torch_version,
            quick=self.quick,
            background_cpu=None,
            seconds_per_call=timing.seconds,
            repeats=timing.repeats,
            calls_per_repeat=timing.calls_per_repeat,
            spread=timing.spread,
            params=dict(params or {}),
        )


@dataclass(frozen=True)
class Entry:
    """One measured number (the JSON schema is in ``benchmarks/README.md``)."""

    benchmark: str
    case: str
    metric: str
    value: float
    batch_size: int
    device: str
    threads: int
    commit: str
    date: str
    torch: str
    quick: bool
    background_cpu: float | None  # filled in by the harness (see BackgroundCpu)
    seconds_per_call: float
    repeats: int
    calls_per_repeat: int
    spread: float
    params: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check(self) -> None:
        """Fail if the value is not a positive finite number of a known metric."""
        if self.metric not in METRICS:
            raise ValueError(f"{self.benchmark}/{self.case}: unknown metric '{self.metric}'")
        if not (math.isfinite(self.value) and self.value > 0):
            raise ValueError(
                f"{self.benchmark}/{self.case}: {self.metric} = {self.value} is not positive and finite"
            )
