"""``genhep report``: one table and one set of overlay figures for a sweep's runs.

Reads nothing but run directories (DESIGN.md, "Result files"): ``results.json``,
``observables/<split>.npz``, ``failure.json`` and ``.hydra/overrides.yaml``. Writes
``report.md``, ``report.csv`` and ``figures/<observable>.png`` into the output folder
(by default the sweep directory) atomically, and prints the table.

Rows are runs, labelled by the overrides that differ between them; columns are the
metrics of ``results.json`` as ``value ± error`` and the sampling speed; a last row
holds the real-vs-real baseline. A reference table (a paper's numbers) can be given
with ``--reference FILE``, a YAML or JSON file of this schema::

    source: "Lu et al., PRD 103, 036012 (2021), Table II"   # where the numbers come from
    note: "optional free text"                                # optional
    rows:                                                     # label -> metric -> number
      SARM:
        w1_mass: [1.07, 0.05]      # value and error
        w1_pt: 2.3                 # value only
      LAGAN:
        w1_mass: {value: 3.1, error: 0.2}

Metric names are those of ``results.json`` (``w1m``, ``fpd``, ``w1_mass``, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from genhep.utils.io import atomic_open, atomic_write_text

RESULTS = "results.json"
FAILURE = "failure.json"
REAL_VS_REAL = "real vs real"
SPLITS = ("test", "val")
MISSING = "—"


class ReportError(Exception):
    """A problem with the report's input that the person can fix (bad path, bad file)."""


# --------------------------------------------------------------------------- numbers


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def error_decimals(error: float, digits: int = 2) -> int:
    """Decimal places that show ``error`` to ``digits`` significant digits.

    Negative for errors of 10 and more (round to tens, hundreds, ...). Rounding can
    carry into the next digit (0.0996 -> 0.10): the places are taken after it.
    """
    decimals = digits - 1 - math.floor(math.log10(error))
    rounded = float(_rounded(error, decimals))
    return digits - 1 - math.floor(math.log10(rounded))


def _rounded(x: float, decimals: int) -> Decimal:
    """``x`` as printed (shortest repr), rounded half to even: 0.0285 -> 0.028."""
    rounded = Decimal(repr(float(x))).quantize(Decimal(1).scaleb(-decimals), ROUND_HALF_EVEN)
    return abs(rounded) if rounded == 0 else rounded  # no "-0.00"


def _fixed(x: float, decimals: int) -> str:
    return f"{_rounded(x, decimals):f}"


def format_number(value: Any, decimals: int | None = None, digits: int = 3) -> str:
    """``value`` to ``decimals`` places, or to ``digits`` significant digits if None."""
    if not _finite(value):
        return "n/a"
    if decimals is not None and abs(value) < 1e6 and decimals <= 6:
        return _fixed(value, decimals)
    return f"{value:.{digits}g}"


def format_measurement(value: Any, error: Any, digits: int = 2) -> str:
    """``value ± error`` with ``digits`` significant digits of the error.

    The value is rounded to the same decimal place as the error, half to even
    (``0.10767, 0.0285`` -> ``0.108 ± 0.028``). Very large or small numbers share one power of ten
    (``(3.10 ± 0.12)e-06``). Without a usable error the value gets 4 significant digits.
    """
    if not _finite(value):
        return "n/a"
    if not _finite(error) or error <= 0:
        return f"{value:.4g}"
    decimals = error_decimals(error, digits)
    scale = math.floor(math.log10(max(abs(value), error)))
    if -4 <= scale < 6:
        return f"{_fixed(value, decimals)} ± {_fixed(error, decimals)}"
    shifted = decimals + scale
    factor = 10.0**scale
    return f"({value / factor:.{shifted}f} ± {error / factor:.{shifted}f})e{scale:+03d}"


def format_rate(value: Any) -> str:
    """Samples per second to 3 significant digits, thousands separated (``561,000``)."""
    if not _finite(value):
        return "n/a"
    if value >= 1000:
        return f"{float(f'{value:.3g}'):,.0f}"
    return f"{value:.3g}"


# --------------------------------------------------------------------------- runs


@dataclass
class Run:
    """One run directory as the report sees it."""

    path: Path
    results: dict[str, Any] | None = None
    failure: dict[str, Any] | None = None
    overrides: list[str] = field(default_factory=list)
    label: str = ""
    problem: str | None = None
    """Why the run has no metrics in this report (failed, other split), else None."""

    @property
    def ok(self) -> bool:
        return self.problem is None and self.results is not None

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        return "failed" if self.failure is not None else "missing"

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        if not self.ok:
            return {}
        return (self.results or {}).get("metrics") or {}

    @property
    def samples_per_s(self) -> float | None:
        return (
            ((self.results or {}).get("sampling") or {}).get("samples_per_s") if self.ok else None
        )

    @property
    def device(self) -> str | None:
        if not self.ok:
            return None
        results = self.results or {}
        return (results.get("sampling") or {}).get("device") or results.get("device")


def _is_run_dir(path: Path) -> bool:
    return (path / RESULTS).is_file() or (path / FAILURE).is_file()


def _natural_key(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def find_run_dirs(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Every run directory given or found below a given directory, in natural order.

    A run directory holds ``results.json`` or (for a failed job) ``failure.json``;
    the search does not descend into run directories nor hidden folders.
    """
    found: list[Path] = []
    for given in paths:
        root = Path(given)
        if not root.exists():
            raise ReportError(f"{root} does not exist")
        if not root.is_dir():
            raise ReportError(
                f"{root} is not a directory; give a run directory (holding {RESULTS}) "
                "or a sweep directory holding run directories"
            )
        if _is_run_dir(root):
            found.append(root)
            continue
        below = []
        for folder, subdirs, _ in os.walk(root):
            here = Path(folder)
            if here != root and _is_run_dir(here):
                below.append(here)
                subdirs.clear()
                continue
            subdirs[:] = [d for d in subdirs if not d.startswith(".")]
        if not below:
            raise ReportError(
                f"no {RESULTS} in or below {root}: expected a run directory holding "
                f"{RESULTS} (written by the evaluation callback at the end of a run) or a "
                f"sweep directory holding run directories such as {root / '0' / RESULTS}"
            )
        found.extend(sorted(below, key=_natural_key))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ReportError(f"cannot read {path}: {err}") from err
    if not isinstance(data, dict):
        raise ReportError(f"{path} holds {type(data).__name__}, expected a JSON object")
    return data


def load_run(path: Path) -> Run:
    """Read a run directory. A ``failure.json`` newer than ``results.json`` marks it failed."""
    run = Run(path)
    results_file, failure_file = path / RESULTS, path / FAILURE
    if results_file.is_file():
        run.results = _read_json(results_file)
    if failure_file.is_file() and (
        run.results is None or failure_file.stat().st_mtime >= results_file.stat().st_mtime
    ):
        run.failure = _read_json(failure_file)
        error = run.failure.get("error", "error")
        message = str(run.failure.get("message", "")).strip().splitlines()
        run.problem = f"{error}: {message[0]}" if message else str(error)
    overrides = (run.results or {}).get("overrides")
    if overrides is None:
        overrides_file = path / ".hydra" / "overrides.yaml"
        if overrides_file.is_file():
            overrides = yaml.safe_load(overrides_file.read_text()) or []
    run.overrides = [str(o) for o in overrides or [] if not str(o).startswith("hydra.")]
    return run


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~") if "=" in override else override


def label_runs(runs: Sequence[Run], root: Path | None = None) -> list[str]:
    """Label every run by its overrides that differ between runs; return the common ones.

    A run with no differing override is labelled by its folder (relative to ``root``).
    Equal labels get the folder appended, so every row stays distinguishable.
    """
    per_run = [{_override_key(o): o for o in run.overrides} for run in runs]
    keys = list(dict.fromkeys(k for overrides in per_run for k in overrides))
    differing = [k for k in keys if len({o.get(k) for o in per_run}) > 1]
    common = [] if not per_run else [per_run[0][k] for k in keys if k not in differing]

    def folder(run: Run) -> str:
        if root is not None and run.path != root and run.path.is_relative_to(root):
            return str(run.path.relative_to(root))
        return run.path.name

    labels = [
        " ".join(o[k] for k in differing if k in o) or folder(r)
        for o, r in zip(per_run, runs, strict=True)
    ]
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    for run, label in zip(runs, labels, strict=True):
        run.label = (
            label if counts[label] == 1 and label != REAL_VS_REAL else f"{label} [{folder(run)}]"
        )
    return common


# --------------------------------------------------------------------------- reference


@dataclass
class Reference:
    """A table of published numbers: label -> metric -> (value, error or None)."""

    source: str
    rows: dict[str, dict[str, tuple[float | None, float | None]]]
    note: str | None = None
    path: Path | None = None


def _reference_entry(path: Path, where: str, entry: Any) -> tuple[float | None, float | None]:
    if isinstance(entry, dict):
        entry = [entry.get("value"), entry.get("error")]
    if entry is None or _finite(entry):
        return (None if entry is None else float(entry), None)
    if isinstance(entry, list | tuple) and len(entry) == 2:
        value, error = entry
        if all(x is None or _finite(x) for x in entry):
            return (
                None if value is None else float(value),
                None if error is None else float(error),
            )
    raise ReportError(
        f"{path}: rows.{where} is {entry!r}; expected a number, [value, error] "
        "or {value: ..., error: ...}"
    )


def load_reference(path: str | os.PathLike[str]) -> Reference:
    """Read a reference table (YAML or JSON, schema in this module's docstring)."""
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"reference file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())  # YAML is a superset of JSON
    except yaml.YAMLError as err:
        raise ReportError(f"cannot parse reference file {path}: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get("rows"), dict) or not data["rows"]:
        raise ReportError(
            f"{path}: a reference file needs 'rows', a mapping label -> metric -> value "
            "or [value, error], and should name its 'source' (schema: genhep/report.py)"
        )
    rows: dict[str, dict[str, tuple[float | None, float | None]]] = {}
    for label, metrics in data["rows"].items():
        if not isinstance(metrics, dict):
            raise ReportError(f"{path}: rows.{label} must map metric names to values")
        rows[str(label)] = {
            str(name): _reference_entry(path, f"{label}.{name}", entry)
            for name, entry in metrics.items()
        }
    return Reference(
        source=str(data.get("source") or path.name),
        rows=rows,
        note=None if data.get("note") is None else str(data["note"]),
        path=path,
    )


# --------------------------------------------------------------------------- table


@dataclass
class Report:
    """Everything the report shows; :func:`make_report` fills it, writers render it."""

    runs: list[Run]
    split: str
    metrics: list[str]
    common_overrides: list[str]
    real_vs_real: dict[str, float | None]
    real_vs_real_spread: dict[str, tuple[float, float, int]]
    reference: Reference | None = None
    warnings: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    out: Path | None = None

    # ---- cells

    def _decimals(self, metric: str) -> int | None:
        """The finest decimal place any run's error of ``metric`` is shown to."""
        places = [
            error_decimals(m["error"])
            for run in self.runs
            if (m := run.metrics.get(metric)) and _finite(m.get("error")) and m["error"] > 0
        ]
        return max(places) if places else None

    def header(self) -> list[str]:
        return ["run", *self.metrics, "samples/s"] + (["device"] if self.devices_differ else [])

    @property
    def devices(self) -> list[str]:
        return list(dict.fromkeys(d for run in self.runs if (d := run.device)))

    @property
    def devices_differ(self) -> bool:
        return len(self.devices) > 1

    def rows(self) -> list[list[str]]:
        """The run rows then the real-vs-real row, as display strings."""
        rows = []
        for run in self.runs:
            if run.ok:
                cells = [
                    format_measurement(m.get("value"), m.get("error"))
                    if (m := run.metrics.get(name))
                    else MISSING
                    for name in self.metrics
                ]
                cells.append(format_rate(run.samples_per_s))
            else:
                cells = [MISSING] * (len(self.metrics) + 1)
            label = run.label if run.ok else f"{run.label} ({run.status})"
            rows.append([label, *cells] + ([run.device or MISSING] if self.devices_differ else []))
        rvr = []
        for name in self.metrics:
            value = self.real_vs_real.get(name)
            text = MISSING if value is None else format_number(value, self._decimals(name))
            rvr.append(text + (" †" if name in self.real_vs_real_spread else ""))
        rows.append([REAL_VS_REAL, *rvr, MISSING] + ([MISSING] if self.devices_differ else []))
        return rows

    def reference_metrics(self) -> list[str]:
        if self.reference is None:
            return []
        names = list(dict.fromkeys(n for row in self.reference.rows.values() for n in row))
        return [m for m in self.metrics if m in names] + [n for n in names if n not in self.metrics]

    def reference_rows(self) -> list[list[str]]:
        if self.reference is None:
            return []
        names = self.reference_metrics()
        rows = []
        for label, metrics in self.reference.rows.items():
            cells = []
            for name in names:
                value, error = metrics.get(name, (None, None))
                if value is None:
                    cells.append(MISSING)
                elif error is None:
                    cells.append(f"{value:g}")
                else:
                    cells.append(format_measurement(value, error))
            rows.append([label, *cells])
        return rows

    def notes(self) -> list[str]:
        """Footnotes under the main table."""
        notes = []
        for name, (low, high, n) in self.real_vs_real_spread.items():
            notes.append(
                f"† {name}: the runs disagree on the real-vs-real value "
                f"({format_number(low)} to {format_number(high)}); the row shows the mean of {n} runs."
            )
        speed = [run for run in self.runs if run.ok and _finite(run.samples_per_s)]
        if speed and not self.devices_differ and self.devices:
            sizes = {((r.results or {}).get("sampling") or {}).get("batch_size") for r in speed}
            batch = f", batch size {sizes.pop()}" if len(sizes) == 1 and None not in sizes else ""
            notes.append(f"samples/s measured on {self.devices[0]}{batch}.")
        for run in self.runs:
            if not run.ok:
                where = run.path / FAILURE if run.failure is not None else run.path / RESULTS
                notes.append(f"{run.label} {run.status}: {run.problem} ({where})")
        return notes


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def escape(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = [
        "| " + " | ".join(escape(h) for h in header) + " |",
        "| " + " | ".join([":---"] + ["---:"] * (len(header) - 1)) + " |",
    ]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_tables(report: Report) -> str:
    """The main table, its notes and (if any) the reference table, as markdown."""
    parts = [_markdown_table(report.header(), report.rows())]
    notes = report.notes()
    if notes:
        parts.append("\n".join(f"- {n}" for n in notes))
    if report.reference is not None:
        ref = report.reference
        title = f"Reference: {ref.source}"
        parts.append(
            f"### {title}\n\n"
            + _markdown_table(["row", *report.reference_metrics()], report.reference_rows())
        )
        if ref.note:
            parts.append(ref.note)
    return "\n\n".join(parts) + "\n"


def render_markdown(report: Report) -> str:
    """The whole ``report.md``: summary, tables, warnings, figures."""
    models = list(dict.fromkeys(str(r.results.get("model")) for r in report.runs if r.results))
    families = list(dict.fromkeys(str(r.results.get("data")) for r in report.runs if r.results))
    n_bad = sum(not r.ok for r in report.runs)
    summary = [
        f"- runs: {len(report.runs)}" + (f" ({n_bad} without results)" if n_bad else ""),
        f"- split: {report.split}",
        f"- data: {', '.join(families) or MISSING}; model: {', '.join(models) or MISSING}",
    ]
    if report.common_overrides:
        summary.append("- common overrides: " + " ".join(f"`{o}`" for o in report.common_overrides))
    parts = ["# genhep report", "\n".join(summary), render_tables(report).rstrip()]
    if report.warnings:
        parts.append("\n".join(f"> warning: {w}" for w in report.warnings))
    if report.figures and report.out is not None:
        links = [f"![{p.stem}]({p.relative_to(report.out).as_posix()})" for p in report.figures]
        parts.append("## Observables\n\n" + "\n".join(links))
    return "\n\n".join(parts) + "\n"


def render_csv(report: Report) -> str:
    """``report.csv``: one line per run, real-vs-real and reference row; full precision.

    Columns: ``label, kind, run_dir, model, data, split``, then ``<metric>`` and
    ``<metric>_error`` for every metric (ours, then the reference's others), then
    ``samples_per_s, device, note``. ``kind`` is ``ok``, ``failed``, ``missing``,
    ``real_vs_real`` or ``reference``; empty cells are missing numbers.
    """
    metrics = report.metrics + [m for m in report.reference_metrics() if m not in report.metrics]
    header = ["label", "kind", "run_dir", "model", "data", "split"]
    for name in metrics:
        header += [name, f"{name}_error"]
    header += ["samples_per_s", "device", "note"]

    def number(x: Any) -> str:
        return repr(float(x)) if _finite(x) else ""

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for run in report.runs:
        results = run.results or {}
        row = [
            run.label,
            run.status,
            str(run.path),
            results.get("model") or "",
            results.get("data") or "",
        ]
        row.append(results.get("split") or "")
        for name in metrics:
            m = run.metrics.get(name) or {}
            row += [number(m.get("value")), number(m.get("error"))]
        row += [number(run.samples_per_s), run.device or "", run.problem or ""]
        writer.writerow(row)
    spread = ", ".join(report.real_vs_real_spread)
    row = [REAL_VS_REAL, "real_vs_real", "", "", "", report.split]
    for name in metrics:
        row += [number(report.real_vs_real.get(name)), ""]
    row += ["", "", f"mean over runs that disagree on: {spread}" if spread else ""]
    writer.writerow(row)
    if report.reference is not None:
        for label, values in report.reference.rows.items():
            row = [label, "reference", "", "", "", ""]
            for name in metrics:
                value, error = values.get(name, (None, None))
                row += [number(value), number(error)]
            row += ["", "", report.reference.source]
            writer.writerow(row)
    return buffer.getvalue()


# --------------------------------------------------------------------------- figures


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


def overlay_figures(runs: Sequence[Run], split: str, folder: Path) -> list[Path]:
    """One PNG per observable: the first run's real histogram and every run's generated one."""
    import matplotlib.pyplot as plt

    from genhep.plotting import histogram_overlay

    real: dict[str, np.ndarray] = {}
    generated: dict[str, dict[str, np.ndarray]] = {}
    for run in runs:
        for name, gen, ref in _observables(run, split):
            if ref is not None:
                real.setdefault(name, ref)
            label = run.label if run.label != "real" else "real (generated)"
            generated.setdefault(name, {})[label] = gen
    written = []
    for name, samples in generated.items():
        if name not in real:
            continue
        with _style():
            fig = histogram_overlay({"real": real[name], **samples}, xlabel=name)
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


# --------------------------------------------------------------------------- assembly


def _choose_split(runs: Sequence[Run], split: str | None, warnings: list[str]) -> str:
    found = [r.results.get("split") for r in runs if r.results is not None and r.failure is None]
    found = [s for s in found if s]
    if split is None:
        kinds = list(dict.fromkeys(found))
        split = "test" if "test" in kinds or not kinds else kinds[0]
        if len(kinds) > 1:
            warnings.append(
                f"runs hold results of different splits ({', '.join(kinds)}); showing {split}"
            )
    for run in runs:
        if (
            run.problem is None
            and run.results is not None
            and run.results.get("split", split) != split
        ):
            run.problem = (
                f"no {split} results: its {RESULTS} holds the {run.results.get('split')} evaluation"
            )
    return split


def _real_vs_real(runs: Sequence[Run], metrics: Sequence[str]) -> tuple[dict, dict]:
    values, spread = {}, {}
    for name in metrics:
        found = [
            float(m["real_vs_real"])
            for run in runs
            if (m := run.metrics.get(name)) and _finite(m.get("real_vs_real"))
        ]
        if not found:
            values[name] = None
            continue
        values[name] = float(np.mean(found))
        if not np.allclose(found, found[0], rtol=1e-6, atol=0.0):
            spread[name] = (min(found), max(found), len(found))
    return values, spread


def _default_out(paths: Sequence[Path]) -> Path:
    if len(paths) == 1:
        return paths[0]
    return Path(os.path.commonpath([str(p) for p in paths]))


def make_report(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str] | None = None,
    reference: str | os.PathLike[str] | None = None,
    split: str | None = None,
    figures: bool = True,
) -> Report:
    """Collect the runs under ``paths``, write ``report.md``, ``report.csv`` and figures.

    Raises :class:`ReportError` for input a person must fix. Returns the report; its
    ``warnings`` list what the person should know (mixed families or splits).
    """
    if split is not None and split not in SPLITS:
        raise ReportError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    given = [Path(p).resolve() for p in paths]
    if not given:
        raise ReportError("give a sweep directory or one or more run directories")
    run_dirs = find_run_dirs(given)
    runs = [load_run(p) for p in run_dirs]
    ref = None if reference is None else load_reference(reference)
    out_dir = Path(out).resolve() if out is not None else _default_out(given)
    root = given[0] if len(given) == 1 else out_dir
    common = label_runs(runs, root)
    warnings: list[str] = []
    split = _choose_split(runs, split, warnings)
    families: dict[str, int] = {}
    for run in runs:
        if run.results is not None and run.results.get("data"):
            families[run.results["data"]] = families.get(run.results["data"], 0) + 1
    if len(families) > 1:
        counts = ", ".join(f"{k}: {n} run{'s' * (n > 1)}" for k, n in families.items())
        warnings.append(
            f"the runs come from different data families ({counts}); their metrics are "
            "not comparable across families"
        )
    metrics = list(dict.fromkeys(name for run in runs for name in run.metrics))
    if ref is not None:
        names = {n for row in ref.rows.values() for n in row}
        unknown = sorted(names - set(metrics))
        if unknown and metrics:
            warnings.append(
                f"reference metrics not in the runs' results: {', '.join(unknown)} "
                f"(the runs have: {', '.join(metrics)})"
            )
    if not any(run.ok for run in runs):
        warnings.append("no run has results to show")
    rvr, spread = _real_vs_real(runs, metrics)
    report = Report(runs, split, metrics, common, rvr, spread, ref, warnings, out=out_dir)
    if figures:
        report.figures = overlay_figures(runs, split, out_dir / "figures")
    atomic_write_text(out_dir / "report.csv", render_csv(report))
    atomic_write_text(out_dir / "report.md", render_markdown(report))
    return report


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genhep report",
        description=(
            "Collect the results.json files of a sweep (or of several run directories) into "
            "one table (report.md, report.csv) and overlay figures (figures/<observable>.png)."
        ),
        epilog="Reference file schema: see the docstring of genhep/report.py.",
    )
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="sweep directory or run directories"
    )
    parser.add_argument(
        "--out", help="where to write (default: the sweep directory, or the runs' common parent)"
    )
    parser.add_argument(
        "--reference",
        metavar="FILE",
        help="YAML/JSON table of published numbers to print beside ours",
    )
    parser.add_argument("--split", choices=SPLITS, help="which evaluation to show (default: test)")
    parser.add_argument("--no-figures", action="store_true", help="write the tables only")
    return parser


def command(args: Sequence[str] | None = None) -> None:
    """``genhep report`` on the command line."""
    options = _parser().parse_args(list(sys.argv[1:] if args is None else args))
    try:
        report = make_report(
            options.paths,
            out=options.out,
            reference=options.reference,
            split=options.split,
            figures=not options.no_figures,
        )
    except ReportError as err:
        sys.stderr.write(f"genhep report: {err}\n")
        raise SystemExit(2) from None
    for warning in report.warnings:
        sys.stderr.write(f"genhep report: warning: {warning}\n")
    sys.stdout.write(render_tables(report))
    assert report.out is not None
    written = ["report.md", "report.csv"] + (
        [f"{len(report.figures)} figures in figures/"] if report.figures else []
    )
    sys.stdout.write(f"\nwrote {', '.join(written)} to {report.out}\n")
