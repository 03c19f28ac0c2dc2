"""``report.csv``: every number of the report at full precision."""

from __future__ import annotations

import csv
import io
from typing import Any

from genhep.report.formatting import is_finite
from genhep.report.rows import REAL_VS_REAL
from genhep.report.tables import Report
from genhep.utils.device import describe_cpu


def _number(x: Any) -> str:
    return repr(float(x)) if is_finite(x) else ""


def render_csv(report: Report) -> str:
    """``report.csv``: a line per run, averaged row, real-vs-real, Monte Carlo and reference row.

    Columns: ``label, kind, run_dir, model, data, split, section``, then ``<metric>`` and
    ``<metric>_error`` for every metric (ours, then the reference's others), then
    ``samples_per_s, device, batch_size, n_runs, note``. ``kind`` is ``ok``, ``failed``,
    ``missing``, ``mean`` (runs averaged into one row: mean and std), ``real_vs_real``,
    ``monte_carlo`` or ``reference``; empty cells are missing numbers.

    ``section`` is the title of the row's section (``report.sections``; empty without
    sections): each section has its own ``real_vs_real`` line; a reference row gets the
    section of the run row (or real-vs-real row) it belongs to. The numbers are raw, in the
    units of ``results.json``, whatever ``report.scales`` shows in ``report.md``; the
    reference's numbers are converted from its ``scales`` to raw units too.
    """
    metrics = report.metrics + [m for m in report.reference_metrics() if m not in report.metrics]
    header = ["label", "kind", "run_dir", "model", "data", "split", "section"]
    section_of = {
        run.path: section.label or "" for section in report.blocks for run in section.runs
    }
    label_section = {row.label: section_of[row.runs[0].path] for row in report.rows}
    for section in report.blocks:
        label_section[report.real_vs_real_key(section)] = section.label or ""
    for name in metrics:
        header += [name, f"{name}_error"]
    header += ["samples_per_s", "device", "batch_size", "n_runs", "note"]

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for run in report.runs:
        results = run.results or {}
        row = [run.label, run.status, str(run.path), results.get("model") or ""]
        row += [results.get("data") or "", results.get("split") or "", section_of[run.path]]
        for name in metrics:
            m = run.metrics.get(name) or {}
            row += [_number(m.get("value")), _number(m.get("error"))]
        row += [_number(run.samples_per_s), run.device or "", run.sampling.get("batch_size", "")]
        writer.writerow(row + [1, run.problem or ""])
    for averaged in (r for r in report.rows if r.n > 1):
        row = [averaged.label, "mean", "", "", "", report.split, label_section[averaged.label]]
        for name in metrics:
            m = averaged.metrics.get(name) or {}
            row += [_number(m.get("value")), _number(m.get("error"))]
        row += [_number(averaged.samples_per_s), averaged.device or "", averaged.batch_size or ""]
        folders = "; ".join(str(run.path) for run in averaged.runs)
        writer.writerow(row + [averaged.n, f"mean ± std (ddof=1) of {folders}"])
    for section in report.blocks:
        spread = ", ".join(section.real_vs_real_spread)
        row = [REAL_VS_REAL, "real_vs_real", "", "", "", report.split, section.label or ""]
        for name in metrics:
            row += [_number(section.real_vs_real.get(name)), ""]
        row += ["", "", "", "", f"mean over runs that disagree on: {spread}" if spread else ""]
        writer.writerow(row)
    blank = [""] * (2 * len(metrics))
    for entry in report.monte_carlo:
        cores = entry.get("cores")
        row = ["Monte Carlo", "monte_carlo", "", "", "", "", "", *blank]
        row += [_number(entry["samples_per_s"]), describe_cpu(cores) if cores else "", ""]
        writer.writerow(row + ["", entry.get("source") or ""])
    if report.reference is not None:
        reference = report.reference
        for label in dict.fromkeys([*reference.rows, *reference.speed]):
            row = [label, "reference", "", "", "", "", label_section.get(label, "")]
            for name in metrics:
                value, error = reference.entry(label, name)
                row += [_number(value), _number(error)]
            row += [_number(reference.speed.get(label)), "", "", "", reference.source]
            writer.writerow(row)
    return buffer.getvalue()
