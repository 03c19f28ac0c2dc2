"""Overlay figures: every row's generated distribution of an observable over the real one."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genhep.report.rows import Row
from genhep.report.runs import Run
from genhep.utils.io import atomic_open


def _style() -> contextlib.AbstractContextManager[Any]:
    """mplhep's CMS style when mplhep is installed (optional ``hep`` extra)."""
    try:
        import mplhep
    except ImportError:
        return contextlib.nullcontext()
    import matplotlib.pyplot as plt

    return plt.style.context([mplhep.style.CMS, {"font.size": 14, "legend.fontsize": 11}])


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


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", name).strip("._") or "observable"


def overlay_figures(rows: Sequence[Row], split: str, folder: Path) -> list[Path]:
    """One PNG per observable: the first run's real histogram and every row's generated one.

    A row of several runs shows their generated samples pooled.
    """
    import matplotlib.pyplot as plt

    from genhep.plotting import histogram_overlay

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
        with _style():
            fig = histogram_overlay({"real": real[name], **pooled}, xlabel=name)
            ax = fig.axes[0]
            ax.set_title(f"{split} split", loc="right", fontsize="small")
            ax.legend(frameon=False, fontsize="small")
            low, high = ax.get_ylim()  # headroom so the legend does not hide the peaks
            ax.set_ylim(low, high * (1.0 + 0.07 * len(samples)))
            path = folder / f"{_safe_name(name)}.png"
            with atomic_open(path, "wb") as handle:
                fig.savefig(handle, format="png", dpi=120)
        plt.close(fig)
        written.append(path)
    return written
