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

``report.sections`` (a config key such as ``data.jet_type``) puts the rows in blocks, one
per value in order of first appearance, each titled (``report.section_labels`` maps a
value to its title) and closed by its own real-vs-real row: the runs of a section share
the real data. ``report.scales`` shows a metric in a unit (``{w1m: 1.0e-3}``: values,
errors and real-vs-real divided by 10⁻³, header ``w1m (×10⁻³)``); a reference's numbers,
given in its own ``scales``, are converted to the same unit. ``report.csv`` keeps raw
numbers and has a ``section`` column. MPGAN's Table 2 in the paper's layout::

    report:
      reference: mpgan_neurips2021
      columns: [w1m, w1p, w1efp, fpnd, cov, mmd]
      sections: data.jet_type
      section_labels: {g: gluon, q: light quark, t: top}
      scales: {w1m: 1.0e-3, w1p: 1.0e-3, w1efp: 1.0e-5, fpd: 1.0e-3, kpd: 1.0e-3}

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
from genhep.report.rows import Row, Section, group_runs, label_runs, section_rows
from genhep.report.runs import Run, find_run_dirs, load_run
from genhep.report.tables import Report

__all__ = [
    "Reference",
    "Report",
    "ReportError",
    "Row",
    "Run",
    "Section",
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
    "section_rows",
]
