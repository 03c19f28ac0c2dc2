"""``report.md`` and the terminal output: the tables as markdown."""

from __future__ import annotations

from genhep.report.formatting import MISSING
from genhep.report.tables import Report, Table


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table: the first column left-aligned, the others right-aligned."""

    def escape(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = [
        "| " + " | ".join(escape(h) for h in header) + " |",
        "| " + " | ".join([":---"] + ["---:"] * (len(header) - 1)) + " |",
    ]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _render(table: Table) -> str:
    parts = [f"### {table.title}"] if table.title else []
    parts.append(markdown_table(table.header, table.rows))
    if table.notes:
        parts.append("\n".join(f"- {n}" for n in table.notes))
    return "\n\n".join(parts)


def render_tables(report: Report) -> str:
    """Every table of the report with its notes, as markdown (what the terminal shows)."""
    return "\n\n".join(_render(table) for table in report.tables()) + "\n"


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
    if report.settings.average_over:
        summary.append("- averaged over: " + ", ".join(report.settings.average_over))
    if report.sections:
        titles = ", ".join(str(section.label) for section in report.sections)
        summary.append(f"- sections by {report.settings.sections}: {titles}")
    parts = ["# genhep report", "\n".join(summary), render_tables(report).rstrip()]
    if report.warnings:
        parts.append("\n".join(f"> warning: {w}" for w in report.warnings))
    if report.figures and report.out is not None:
        folder = report.out / "figures"
        links = [
            f"![{p.relative_to(folder).with_suffix('').as_posix()}]"
            f"({p.relative_to(report.out).as_posix()})"
            for p in report.figures
        ]
        parts.append("## Observables\n\n" + "\n".join(links))
    return "\n\n".join(parts) + "\n"
