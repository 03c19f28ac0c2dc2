"""Run the speed benchmarks and write ``benchmarks/results/<name>.json``.

    python -m benchmarks.run                 # every benchmark (make bench)
    python -m benchmarks.run --only mdn      # some of them (repeat or comma-separate)
    python -m benchmarks.run --quick         # smoke mode -> benchmarks/results/quick/
    python -m benchmarks.run --list          # the registered names

Adding a benchmark: a module ``benchmarks/bench_<name>.py`` with
``benchmarks(ctx: Context) -> list[Entry]`` and one line in :data:`REGISTRY`.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from genhep.utils.io import atomic_write_json, atomic_write_text

from benchmarks.common import BackgroundCpu, BenchmarkSkipped, Context, Entry

#: Benchmark name -> module exposing ``benchmarks(ctx) -> list[Entry]``. Modules are
#: imported only when their benchmark runs, so one whose optional dependencies are
#: missing does not stop the others.
REGISTRY: dict[str, str] = {
    "mdn": "benchmarks.bench_mdn",
    "calo_sim": "benchmarks.bench_calo_sim",
    "pythia": "benchmarks.bench_pythia",
    "evaluators": "benchmarks.bench_evaluators",
    "images": "benchmarks.bench_images",
    "overhead": "benchmarks.bench_overhead",
    "caloflow": "benchmarks.bench_caloflow",
    "diffusion": "benchmarks.bench_diffusion",
    "clouds": "benchmarks.bench_clouds",
}

RESULTS_DIR = Path(__file__).resolve().parent / "results"
QUICK_DIR = RESULTS_DIR / "quick"  # git-ignored: smoke numbers never replace real ones

SCHEMA_VERSION = 1

#: Cores used by other processes during a benchmark above which the harness warns.
BUSY_WARNING = 0.2


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Speed benchmarks of genhep; one JSON file per benchmark.",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only these benchmarks (repeat or comma-separate); known: {', '.join(REGISTRY)}",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke mode: tiny sizes, short timings"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"output folder (default {RESULTS_DIR}, or {QUICK_DIR} with --quick)",
    )
    parser.add_argument("--device", default="cpu", help="torch device for the models (default cpu)")
    parser.add_argument(
        "--list", action="store_true", help="print the registered benchmarks and exit"
    )
    return parser.parse_args(argv)


def select(only: Sequence[str] | None) -> list[str]:
    """Registered names to run, in registry order; unknown names are an error."""
    if not only:
        return list(REGISTRY)
    wanted = {name.strip() for item in only for name in item.split(",") if name.strip()}
    unknown = sorted(wanted - REGISTRY.keys())
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
    return [name for name in REGISTRY if name in wanted]


def run_benchmark(name: str, ctx: Context) -> list[Entry]:
    """Import the benchmark's module, run it, check its entries and stamp on them how
    busy other processes kept the machine meanwhile (``background_cpu``)."""
    module = importlib.import_module(REGISTRY[name])
    background = BackgroundCpu()
    entries = list(module.benchmarks(ctx))
    cores = background.cores()
    entries = [dataclasses.replace(entry, background_cpu=cores) for entry in entries]
    if not entries:
        raise RuntimeError(f"benchmark '{name}' returned no entries")
    for entry in entries:
        if entry.benchmark != name:
            raise RuntimeError(f"benchmark '{name}' returned an entry of '{entry.benchmark}'")
        entry.check()
    return entries


def result_document(name: str, entries: Sequence[Entry], ctx: Context) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "benchmark": name,
        "quick": ctx.quick,
        "commit": ctx.commit,
        "date": ctx.date,
        "background_cpu": entries[0].background_cpu,
        "entries": [entry.to_dict() for entry in entries],
    }


def format_value(value: float) -> str:
    return f"{value:.4g}" if value < 1000 else f"{value:,.0f}"


def print_table(entries: Sequence[Entry], console: Console) -> None:
    devices = ", ".join(dict.fromkeys(e.device for e in entries))
    table = Table(title=f"benchmarks on {devices}", title_justify="left")
    for column, justify in (
        ("benchmark", "left"),
        ("case", "left"),
        ("batch", "right"),
        ("value", "right"),
        ("metric", "left"),
        ("spread", "right"),
    ):
        table.add_column(column, justify=justify, no_wrap=True)
    for e in entries:
        table.add_row(
            e.benchmark,
            e.case,
            str(e.batch_size),
            format_value(e.value),
            e.metric,
            f"{100 * e.spread:.0f}%",
        )
    console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected benchmarks; 0 if all ran (or were skipped), 1 if one failed."""
    args = parse_args(argv)
    console = Console()
    if args.list:
        for name, module in REGISTRY.items():
            console.print(f"{name}\t{module}")
        return 0
    names = select(args.only)
    out = args.out if args.out is not None else (QUICK_DIR if args.quick else RESULTS_DIR)
    if args.out is None and args.quick:
        atomic_write_text(QUICK_DIR / ".gitignore", "*\n")
    ctx = Context.create(quick=args.quick, device=args.device)
    mode = "quick (smoke) mode" if ctx.quick else "full mode"
    console.print(
        f"[bold]benchmarks[/] {', '.join(names)} in {mode}, commit {ctx.commit[:12]}, "
        f"torch {ctx.torch_version}, {torch.get_num_threads()} threads"
    )

    done: list[Entry] = []
    failed: list[str] = []
    for name in names:
        console.print(f"running [bold]{name}[/] ...")
        try:
            entries = run_benchmark(name, ctx)
        except BenchmarkSkipped as skip:
            console.print(f"[yellow]skipped {name}[/]: {skip}")
            continue
        except Exception:
            console.print(f"[red]benchmark {name} failed[/] (no file written)")
            console.print(traceback.format_exc(), markup=False, highlight=False)
            failed.append(name)
            continue
        background = entries[0].background_cpu
        if background is not None and background >= BUSY_WARNING:
            console.print(
                f"[yellow]warning:[/] other processes kept {background:.2f} cores busy during "
                f"{name}: its numbers may be far too low; rerun on an idle machine"
            )
        path = atomic_write_json(out / f"{name}.json", result_document(name, entries, ctx))
        console.print(f"wrote {path}")
        done.extend(entries)

    if done:
        print_table(done, console)
    if failed:
        console.print(f"[red]failed:[/] {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
