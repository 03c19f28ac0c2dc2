"""``genhep report``: tables and overlay figures for a sweep's runs.

Reads nothing but run directories (docs/architecture.md, "Result files"): ``results.json``,
``observables/<split>.npz``, ``failure.json`` and ``.hydra/{config,overrides}.yaml``.
Writes ``report.md``, ``report.csv`` and ``figures/<observable>.{png,pdf}`` into the output
folder (by default the sweep directory) atomically, and prints the tables.

Rows are runs, labelled by their config's ``label`` or else by the overrides that differ
between them; runs differing only in ``report.average_over`` keys share a row (mean ±
std). Columns are the metrics of ``results.json`` as ``value ± error``, those of
``report.columns`` first; a last row holds the real-vs-real baseline. A reference table
(a paper's numbers, :mod:`genhep.report.reference`) is printed beside ours. Layouts:
:mod:`genhep.report.tables`.

Modules: ``formatting`` (numbers), ``runs`` (run directories), ``rows`` (grouping,
averaging, labels), ``reference`` (published tables), ``settings`` (command line vs the
runs' configs), ``tables`` (the tables as strings), ``markdown`` and ``csv_table``
(the files), ``figures`` (overlays), ``command`` (``make_report`` and the CLI).
"""

from genhep.report.command import command, make_report
from genhep.report.csv_table import render_csv
from genhep.report.errors import ReportError
from genhep.report.formatting import (
    error_decimals,
    format_measurement,
    format_number,
    format_rate,
)
from genhep.report.markdown import render_markdown, render_tables
from genhep.report.reference import Reference, load_reference, reference_names
from genhep.report.rows import Row, group_runs, label_runs
from genhep.report.runs import Run, find_run_dirs, load_run
from genhep.report.tables import Report

__all__ = [
    "Reference",
    "Report",
    "ReportError",
    "Row",
    "Run",
    "command",
    "error_decimals",
    "find_run_dirs",
    "format_measurement",
    "format_number",
    "format_rate",
    "group_runs",
    "label_runs",
    "load_reference",
    "load_run",
    "make_report",
    "reference_names",
    "render_csv",
    "render_markdown",
    "render_tables",
]
