"""``genhep report``: collect the runs, resolve the settings, write the report files."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from genhep.report.csv_table import render_csv
from genhep.report.errors import ReportError
from genhep.report.figures import overlay_figures, safe_name
from genhep.report.markdown import render_markdown, render_tables
from genhep.report.reference import load_reference
from genhep.report.rows import group_runs, label_rows, label_runs, real_vs_real, section_rows
from genhep.report.runs import RESULTS, Run, find_run_dirs, load_run
from genhep.report.settings import positive_number, resolve_settings
from genhep.report.tables import Report
from genhep.utils.io import atomic_write_text

SPLITS = ("test", "val")


def _choose_split(runs: Sequence[Run], split: str | None, warnings: list[str]) -> str:
    """The split shown (default: test); runs holding another split's results get a problem."""
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


def _warn_families(runs: Sequence[Run], warnings: list[str]) -> None:
    families = Counter(r.results["data"] for r in runs if r.results and r.results.get("data"))
    if len(families) > 1:
        counts = ", ".join(f"{k}: {n} run{'s' * (n > 1)}" for k, n in families.items())
        warnings.append(
            f"the runs come from different data families ({counts}); their metrics are "
            "not comparable across families"
        )


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
    columns: Sequence[str] | None = None,
    average_over: Sequence[str] | None = None,
    sections: str | None = None,
    section_labels: Mapping[str, str] | None = None,
    scales: Mapping[str, Any] | None = None,
) -> Report:
    """Collect the runs under ``paths``, write ``report.md``, ``report.csv`` and figures.

    ``reference``, ``columns``, ``average_over``, ``sections``, ``section_labels`` and
    ``scales`` default to the ``report`` settings the runs' configs agree on
    (:mod:`genhep.report.settings`). Raises
    :class:`ReportError` for input a person must fix. Returns the report; its
    ``warnings`` list what the person should know (mixed families or splits).
    """
    if split is not None and split not in SPLITS:
        raise ReportError(f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    given = [Path(p).resolve() for p in paths]
    if not given:
        raise ReportError("give a sweep directory or one or more run directories")
    runs = [load_run(p) for p in find_run_dirs(given)]
    warnings: list[str] = []
    settings = resolve_settings(
        runs,
        warnings,
        reference=None if reference is None else os.fspath(reference),
        columns=columns,
        average_over=average_over,
        sections=sections,
        section_labels=section_labels,
        scales=scales,
    )
    ref = None if settings.reference is None else load_reference(settings.reference)
    out_dir = Path(out).resolve() if out is not None else _default_out(given)
    root = given[0] if len(given) == 1 else out_dir
    common = label_runs(runs, root)
    split = _choose_split(runs, split, warnings)
    rows = group_runs(runs, settings.average_over)
    label_rows(rows, settings.average_over, root)
    _warn_families(runs, warnings)
    metrics = list(dict.fromkeys(name for run in runs for name in run.metrics))
    main = metrics if settings.columns is None else settings.columns
    if metrics and (absent := [m for m in main if m not in metrics]):
        warnings.append(f"columns no run has: {', '.join(absent)}")
    if ref is not None:
        unknown = sorted({n for row in ref.rows.values() for n in row} - set(metrics))
        if unknown and metrics:
            warnings.append(
                f"reference metrics not in the runs' results: {', '.join(unknown)} "
                f"(the runs have: {', '.join(metrics)})"
            )
    if not any(run.ok for run in runs):
        warnings.append("no run has results to show")
    others = [m for m in metrics if m not in main]
    rvr, spread = real_vs_real(runs, main + others)
    sections = (
        []
        if settings.sections is None
        else section_rows(rows, main + others, settings.sections, settings.section_labels)
    )
    if settings.sections is not None and (unset := [s.label for s in sections if s.value is None]):
        warnings.append(f"runs without {settings.sections}: their rows are under '{unset[0]}'")
    if metrics and (unknown := [m for m in settings.scales if m not in metrics]):
        warnings.append(f"scales of metrics no run has: {', '.join(unknown)}")
    report = Report(
        runs,
        rows,
        split,
        main,
        others,
        common,
        rvr,
        spread,
        settings,
        ref,
        warnings,
        out=out_dir,
        sections=sections,
    )
    if figures and not sections:
        report.figures = overlay_figures(rows, split, out_dir / "figures")
    elif figures:
        for section in sections:
            folder = out_dir / "figures" / safe_name(str(section.label))
            report.figures += overlay_figures(section.rows, split, folder, title=section.label)
    atomic_write_text(out_dir / "report.csv", render_csv(report))
    atomic_write_text(out_dir / "report.md", render_markdown(report))
    return report


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _pairs(text: str) -> dict[str, str]:
    pairs = {}
    for item in _names(text):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"{item!r} is not NAME=VALUE")
        pairs[name.strip()] = value.strip()
    return pairs


def _scales(text: str) -> dict[str, float]:
    scales = {}
    for name, value in _pairs(text).items():
        if (scale := positive_number(value)) is None:
            raise argparse.ArgumentTypeError(
                f"{name}={value} is not a positive number (the unit {name} is shown in)"
            )
        scales[name] = scale
    return scales


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genhep report",
        description=(
            "Collect the results.json files of a sweep (or of several run directories) into "
            "one table (report.md, report.csv) and overlay figures (figures/<observable>.png, .pdf). "
            "--reference, --columns, --average-over, --sections, --section-labels and --scales "
            "default to the runs' report.* config."
        ),
        epilog="Reference file schema: see the docstring of genhep/report/reference.py.",
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
        help="YAML/JSON table of published numbers to print beside ours, or the name of one "
        "shipped in genhep/references (e.g. sarm_prd2021)",
    )
    parser.add_argument(
        "--columns",
        type=_names,
        metavar="A,B,...",
        help="metrics shown first, in this order; the others go to an 'other metrics' table",
    )
    parser.add_argument(
        "--average-over",
        type=_names,
        metavar="KEY,...",
        help="config keys (e.g. seed): runs differing only in them are one row, mean ± std",
    )
    parser.add_argument(
        "--sections",
        metavar="KEY",
        help="config key (e.g. data.jet_type): rows in blocks by its value, each block with "
        "its own real-vs-real row",
    )
    parser.add_argument(
        "--section-labels",
        type=_pairs,
        metavar="VALUE=LABEL,...",
        help="titles of the sections (e.g. g=gluon,q=light quark,t=top)",
    )
    parser.add_argument(
        "--scales",
        type=_scales,
        metavar="METRIC=UNIT,...",
        help="show metrics in units (e.g. w1m=1e-3: values and errors ×10³, header 'w1m (×10⁻³)')",
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
            columns=options.columns,
            average_over=options.average_over,
            sections=options.sections,
            section_labels=options.section_labels,
            scales=options.scales,
        )
    except ReportError as err:
        sys.stderr.write(f"genhep report: {err}\n")
        raise SystemExit(2) from None
    for warning in report.warnings:
        sys.stderr.write(f"genhep report: warning: {warning}\n")
    sys.stdout.write(render_tables(report))
    assert report.out is not None
    written = ["report.md", "report.csv"] + (
        [f"{len(report.figures)} figures (PNG, PDF) in figures/"] if report.figures else []
    )
    sys.stdout.write(f"\nwrote {', '.join(written)} to {report.out}\n")
