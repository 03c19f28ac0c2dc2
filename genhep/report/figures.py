"""Overlay figures: every row's generated distribution of an observable over the real one."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from genhep.report.rows import Row
from genhep.report.runs import Run


def _observables(run: Run, split: str) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
    """``(name, generated, real or None)`` for every observable a run stored."""
    path = run.path / "observables" / f"{split}.npz"
    if not run.ok or not path.is_file():
        return
    with np.load(path) as arrays:
        for key in arrays.files:
            if key.startswith("generated/"):
                name = key.split("/", 1)[1]
                real = arrays[f"real/{name}"] if f"real/{name}" in arrays.files else None
                yield name, arrays[key], real


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name).strip("._") or "observable"


def overlay_figures(
    rows: Sequence[Row], split: str, folder: Path, title: str | None = None
) -> list[Path]:
    """One figure per observable, ``<observable>.png`` and ``.pdf``: the first run's real
    histogram, every row's generated one and their ratios to the real one
    (:func:`~genhep.plotting.histogram_overlay`). Returns the PNG paths (what ``report.md``
    shows). ``title`` (a section's) goes top left.

    A row of several runs shows their generated samples pooled. A report in sections
    draws each section's figures in ``figures/<section>/``: its rows share the real data.
    """
    import matplotlib.pyplot as plt

    from genhep.plotting import histogram_overlay, save_figure

    real: dict[str, np.ndarray] = {}
    generated: dict[str, dict[str, list[np.ndarray]]] = {}
    for row in rows:
        label = row.label if row.label != "real" else "real (generated)"
        for run in row.runs:
            for name, gen, ref in _observables(run, split):
                if ref is not None:
                    real.setdefault(name, ref)
                generated.setdefault(name, {}).setdefault(label, []).append(gen)
    written = []
    for name, samples in generated.items():
        if name not in real:
            continue
        pooled = {label: np.concatenate(parts) for label, parts in samples.items()}
        fig = histogram_overlay({"real": real[name], **pooled}, xlabel=name)
        fig.axes[0].set_title(f"{split} split", loc="right", fontsize="small")
        if title is not None:
            fig.axes[0].set_title(title, loc="left", fontsize="small")
        png, _ = save_figure(fig, folder / safe_name(name), dpi=120)
        plt.close(fig)
        written.append(png)
    return written
