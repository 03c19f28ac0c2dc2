"""Named steps of a long computation, shown with rich as sampling shows its batches.

::

    with progress_step("EFPs (50000 jets)", enabled=progress):
        ...
    with progress_step("FPD bootstraps", total=20, enabled=progress) as advance:
        for _ in range(20):
            ...
            advance()

Each step is one line: a spinner (or a bar with ``total``), its name and the elapsed
time, left on screen when it finishes so a long evaluation leaves a record of where the
time went. With ``enabled=False`` nothing is printed and ``advance`` does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["Advance", "progress_step"]

Advance = Callable[..., None]
"""``advance(n=1)``: ``n`` more units of a step done."""


def _nothing(n: int = 1) -> None:
    return None


@contextmanager
def progress_step(name: str, total: int | None = None, enabled: bool = True) -> Iterator[Advance]:
    """Show step ``name`` while the block runs; yield ``advance(n=1)`` for a bar of ``total``."""
    if not enabled:
        yield _nothing
        return
    columns: list[ProgressColumn] = [
        SpinnerColumn(finished_text="[green]✓"),
        TextColumn("{task.description}"),
    ]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    columns.append(TimeElapsedColumn())
    with Progress(*columns) as bar:
        task = bar.add_task(name, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance
        bar.update(task, total=total or 1, completed=total or 1)
