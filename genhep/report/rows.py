"""Table rows: runs, or runs averaged over seeds (``average_over``), their labels, and
the sections (``report.sections``) that group them."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from genhep.report.formatting import is_finite
from genhep.report.runs import Run

REAL_VS_REAL = "real vs real"


@dataclass
class Row:
    """One row of the tables: a run, or the runs that differ only in averaged config keys.

    A row of several runs shows, per metric, the mean over the runs and their standard
    deviation (``ddof=1``) as the error; ``n`` counts the runs that have the metric. A
    metric only one of the runs has keeps that run's value and error. Failed runs are
    rows of their own.
    """

    runs: list[Run]
    label: str = ""

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def ok(self) -> bool:
        return all(run.ok for run in self.runs)

    @property
    def status(self) -> str:
        return self.runs[0].status

    @cached_property
    def metrics(self) -> dict[str, dict[str, Any]]:
        if self.n == 1:
            return self.runs[0].metrics
        names = dict.fromkeys(name for run in self.runs for name in run.metrics)
        return {name: _average([run.metrics.get(name) for run in self.runs]) for name in names}

    @property
    def samples_per_s(self) -> float | None:
        return _mean([run.samples_per_s for run in self.runs])

    @property
    def likelihood_kind(self) -> str | None:
        """The kind of ``log_prob`` of the row's runs (exact, discretised, bound), if any."""
        return _distinct((run.likelihood or {}).get("kind") for run in self.runs)

    @property
    def bits_per_dim(self) -> float | None:
        """The mean bits per dimension of the row's runs (None where none was logged)."""
        return _mean([(run.likelihood or {}).get("bits_per_dim") for run in self.runs])

    @property
    def monte_carlo_speed(self) -> float | None:
        """The mean Monte Carlo samples/s stored with the row's runs (None if none is)."""
        return _mean([(run.monte_carlo or {}).get("samples_per_s") for run in self.runs])

    @property
    def device(self) -> str | None:
        return _distinct(run.device for run in self.runs)

    @property
    def batch_size(self) -> str | None:
        return _distinct(run.sampling.get("batch_size") for run in self.runs)


def _mean(values: Sequence[Any]) -> float | None:
    finite = [float(v) for v in values if is_finite(v)]
    return float(np.mean(finite)) if finite else None


def _distinct(values: Any) -> str | None:
    return ", ".join(str(v) for v in dict.fromkeys(v for v in values if v is not None)) or None


def _average(entries: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    """Mean ± std (ddof=1) of the entries' values; ``n``: how many had a finite value."""
    found = [e for e in entries if e and is_finite(e.get("value"))]
    if len(found) == 1:
        return {**found[0], "n": 1}
    if not found:
        return {"value": None, "error": None, "real_vs_real": None, "n": 0}
    values = np.array([e["value"] for e in found], dtype=float)
    return {
        "value": float(values.mean()),
        "error": float(values.std(ddof=1)),
        "real_vs_real": _mean([e.get("real_vs_real") for e in found]),
        "n": len(found),
    }


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~") if "=" in override else override


def _averaged(key: str, average_over: Sequence[str]) -> bool:
    """Whether the dotted config ``key`` is one of ``average_over`` or below one."""
    return any(key == name or key.startswith(f"{name}.") for name in average_over)


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _identity(run: Run, average_over: Sequence[str]) -> str:
    """What must be equal for runs to share a row: the config (else the overrides)
    without the averaged keys."""
    if run.config is not None:
        items = _flatten(run.config)
    else:
        items = {_override_key(o): o for o in run.overrides}
    kept = {k: v for k, v in items.items() if not _averaged(k, average_over)}
    return json.dumps([run.config is not None, kept], sort_keys=True, default=str)


def group_runs(runs: Sequence[Run], average_over: Sequence[str]) -> list[Row]:
    """One row per run, or (with ``average_over``) per set of runs with results whose
    configs differ only in those keys; rows stay in the order of their first run."""
    if not average_over:
        return [Row([run]) for run in runs]
    rows: list[Row] = []
    by_identity: dict[str, Row] = {}
    for run in runs:
        if not run.ok:
            rows.append(Row([run]))
            continue
        identity = _identity(run, average_over)
        if identity in by_identity:
            by_identity[identity].runs.append(run)
        else:
            by_identity[identity] = Row([run])
            rows.append(by_identity[identity])
    return rows


def _folder(path: Path, root: Path | None) -> str:
    if root is not None and path != root and path.is_relative_to(root):
        return str(path.relative_to(root))
    return path.name


def _labels(
    overrides: Sequence[Sequence[str]], folders: Sequence[str], given: Sequence[Any]
) -> tuple[list[str], list[str]]:
    """Labels and the common overrides: a given label, else the overrides that differ
    between items, else the folder; equal labels get the folder appended."""
    per_item = [{_override_key(o): o for o in item} for item in overrides]
    keys = list(dict.fromkeys(k for item in per_item for k in item))
    differing = [k for k in keys if len({item.get(k) for item in per_item}) > 1]
    common = [per_item[0][k] for k in keys if k not in differing] if per_item else []
    labels = [
        str(name) if name not in (None, "") else " ".join(o[k] for k in differing if k in o) or f
        for o, f, name in zip(per_item, folders, given, strict=True)
    ]
    counts = Counter(labels)
    return [
        label if counts[label] == 1 and label != REAL_VS_REAL else f"{label} [{folder}]"
        for label, folder in zip(labels, folders, strict=True)
    ], common


def label_runs(runs: Sequence[Run], root: Path | None = None) -> list[str]:
    """Label every run; return the overrides common to all runs.

    A run's label is its config's ``label`` if set, else its overrides that differ
    between runs, else its folder (relative to ``root``). Equal labels get the folder
    appended, so every run stays distinguishable.
    """
    labels, common = _labels(
        [run.overrides for run in runs],
        [_folder(run.path, root) for run in runs],
        [run.setting("label") for run in runs],
    )
    for run, label in zip(runs, labels, strict=True):
        run.label = label
    return common


def label_rows(rows: Sequence[Row], average_over: Sequence[str], root: Path | None) -> None:
    """Label the rows; call after :func:`label_runs`.

    A row of a failed run, and every row when nothing is averaged, keeps its run's
    label. The other rows are labelled among themselves as :func:`label_runs` labels
    runs, leaving out the averaged keys; a row of several runs falls back on their folders.
    """
    averaged = [row for row in rows if average_over and row.ok]
    labels, _ = _labels(
        [
            [o for o in row.runs[0].overrides if not _averaged(_override_key(o), average_over)]
            for row in averaged
        ],
        [", ".join(_folder(run.path, root) for run in row.runs) for row in averaged],
        [row.runs[0].setting("label") for row in averaged],
    )
    for row in rows:
        row.label = row.runs[0].label
    for row, label in zip(averaged, labels, strict=True):
        row.label = label


def real_vs_real(
    runs: Sequence[Run], metrics: Sequence[str]
) -> tuple[dict[str, float | None], dict[str, tuple[float, float, int]]]:
    """Per metric the mean real-vs-real value of the runs, and ``(low, high, n)`` where
    the runs disagree on it."""
    values: dict[str, float | None] = {}
    spread: dict[str, tuple[float, float, int]] = {}
    for name in metrics:
        found = [
            float(m["real_vs_real"])
            for run in runs
            if (m := run.metrics.get(name)) and is_finite(m.get("real_vs_real"))
        ]
        values[name] = float(np.mean(found)) if found else None
        if found and not np.allclose(found, found[0], rtol=1e-6, atol=0.0):
            spread[name] = (min(found), max(found), len(found))
    return values, spread


@dataclass
class Section:
    """A block of rows sharing the value of the ``report.sections`` config key, with the
    real-vs-real values of its runs (they share the real data). Without sections the
    report is one section whose ``label`` is None."""

    label: str | None
    rows: list[Row]
    real_vs_real: dict[str, float | None] = field(default_factory=dict)
    real_vs_real_spread: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    value: Any = None
    """The config value the section's runs share (None without sections)."""

    @property
    def runs(self) -> list[Run]:
        return [run for row in self.rows for run in row.runs]


def section_value(run: Run, key: str) -> Any:
    """The run's value of the config ``key``; a run without a config (a failed job) is
    read from its overrides. None where neither has it."""
    if run.config is not None:
        return run.setting(key)
    for override in reversed(run.overrides):
        if "=" in override and _override_key(override) == key:
            return override.split("=", 1)[1]
    return None


def section_rows(
    rows: Sequence[Row],
    metrics: Sequence[str],
    key: str | None = None,
    labels: dict[str, str] | None = None,
) -> list[Section]:
    """The rows in blocks by their first run's value of the config ``key``, in order of
    first appearance, each with its real-vs-real values; one block of all rows if ``key``
    is None. A block is titled ``labels[str(value)]``, else by the value itself (``<key>
    unset`` where runs lack the key)."""
    if key is None:
        rvr, spread = real_vs_real([run for row in rows for run in row.runs], metrics)
        return [Section(None, list(rows), rvr, spread)]
    labels = labels or {}
    blocks: dict[str, Section] = {}
    for row in rows:
        value = section_value(row.runs[0], key)
        name = json.dumps(value, sort_keys=True, default=str)
        if name not in blocks:
            text = f"{key} unset" if value is None else labels.get(str(value), str(value))
            blocks[name] = Section(text, [], value=value)
        blocks[name].rows.append(row)
    for section in blocks.values():
        section.real_vs_real, section.real_vs_real_spread = real_vs_real(section.runs, metrics)
    return list(blocks.values())
