"""The report's tables, as display strings: metrics, other metrics, speed, reference.

Layouts (markdown renders them one after the other, see :mod:`genhep.report.markdown`):

* **main table** -- a row per run (or per averaged set of runs, with a ``runs`` column),
  the metrics of ``report.columns`` in that order (else all metrics), then ``samples/s``
  unless speed has its own table. A reference row whose label equals a row's label is
  printed right under it as ``<label> (reference)``. Last, the real-vs-real row (and the
  reference's ``real vs real`` row under it). With ``report.sections`` the rows come in
  blocks, one per value of that config key in order of first appearance: a title row
  (``**<section>**``), the block's rows, its own real-vs-real row (the runs of a section
  share the real data) and the reference's ``<section> · real vs real`` row.
* **units** -- a metric with a scale (``report.scales``, else the reference's ``scales``)
  is shown in units of it: values, errors and real-vs-real values divided by it, the
  reference's numbers converted to it, and the header says so (``w1m (×10⁻³)``).
* **other metrics** -- with ``report.columns``, the metrics not listed there, same rows.
* **generation speed** -- when ``report.columns`` is set, the reference has ``speed`` or
  the runs carry a Monte Carlo speed: samples/s, device, batch size, ``× Monte Carlo``
  (samples/s over the Monte Carlo samples/s stored with the same runs) and the
  reference's speed; then a row per reference speed entry no run matches, then a
  ``Monte Carlo (<source>)`` row per distinct Monte Carlo entry of the runs.
* **likelihood** -- for runs of likelihood models: the kind of their ``log_prob`` (exact
  density, discretised probability, or a lower bound such as a VAE's ELBO: bounds and
  discretised values are not comparable with exact densities) and the bits per dimension.
* **reference** -- the whole reference table, its metrics in our column order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from genhep.report.formatting import (
    MISSING,
    error_decimals,
    format_measurement,
    format_number,
    format_published,
    format_rate,
    is_finite,
)
from genhep.report.reference import MONTE_CARLO, Reference
from genhep.report.rows import REAL_VS_REAL, Row, Section
from genhep.report.runs import FAILURE, RESULTS, Run
from genhep.report.settings import Settings, unit_label
from genhep.utils.device import describe_cpu

REFERENCE_SUFFIX = " (reference)"


@dataclass
class Table:
    """One table: an optional title, a header, rows of cells, notes printed under it."""

    header: list[str]
    rows: list[list[str]]
    title: str | None = None
    notes: list[str] = field(default_factory=list)


def _rate(value: Any) -> str:
    return MISSING if value is None else format_rate(value)


@dataclass
class Report:
    """Everything the report shows; :func:`~genhep.report.make_report` fills it."""

    runs: list[Run]
    rows: list[Row]
    split: str
    columns: list[str]
    """The main table's metrics, in order."""
    others: list[str]
    """The metrics of the "other metrics" table (empty without ``report.columns``)."""
    common_overrides: list[str]
    real_vs_real: dict[str, float | None]
    real_vs_real_spread: dict[str, tuple[float, float, int]]
    settings: Settings = field(default_factory=Settings)
    reference: Reference | None = None
    warnings: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    out: Path | None = None
    sections: list[Section] = field(default_factory=list)
    """The rows in blocks (``report.sections``); empty: one block of all rows."""

    @property
    def blocks(self) -> list[Section]:
        """The sections, or one section (label None) of all rows."""
        if self.sections:
            return self.sections
        return [Section(None, self.rows, self.real_vs_real, self.real_vs_real_spread)]

    def unit(self, metric: str) -> float:
        """The unit ``metric`` is shown in: ``report.scales``, else the reference's, else 1."""
        if metric in self.settings.scales:
            return self.settings.scales[metric]
        if self.reference is not None and metric in self.reference.scales:
            return self.reference.scales[metric]
        return 1.0

    def header(self, metric: str) -> str:
        """The column header of ``metric``: its name and unit (``w1m (×10⁻³)``)."""
        return metric + unit_label(self.unit(metric))

    def published(self, label: str, metric: str) -> str:
        """The reference's cell of ``metric`` in row ``label``, in the column's unit."""
        assert self.reference is not None
        return format_published(*self.reference.entry(label, metric, self.unit(metric)))

    def real_vs_real_key(self, section: Section) -> str:
        """The reference row holding the published real-vs-real numbers of ``section``."""
        return REAL_VS_REAL if section.label is None else f"{section.label} · {REAL_VS_REAL}"

    @property
    def metrics(self) -> list[str]:
        """Every metric, in display order."""
        return self.columns + self.others

    @property
    def averaged(self) -> bool:
        """Whether rows may average runs (then a ``runs`` column counts them)."""
        return bool(self.settings.average_over)

    @cached_property
    def monte_carlo(self) -> list[dict[str, Any]]:
        """The distinct Monte Carlo speed entries of the runs, first run's first."""
        entries: list[dict[str, Any]] = []
        for run in self.runs:
            if (entry := run.monte_carlo) is not None and entry not in entries:
                entries.append(entry)
        return entries

    @property
    def speed_table_shown(self) -> bool:
        """Speed gets its own table with the paper layout, a reference speed or Monte Carlo."""
        has_speed = self.reference is not None and bool(self.reference.speed)
        return self.settings.columns is not None or has_speed or bool(self.monte_carlo)

    @property
    def devices(self) -> list[str]:
        return list(dict.fromkeys(d for run in self.runs if (d := run.device)))

    @property
    def devices_differ(self) -> bool:
        return len(self.devices) > 1

    # ---- the metric tables

    def _decimals(self, metric: str) -> int | None:
        """The finest decimal place any row's error of ``metric`` is shown to."""
        unit = self.unit(metric)
        places = [
            error_decimals(m["error"] / unit)
            for row in self.rows
            if (m := row.metrics.get(metric)) and is_finite(m.get("error")) and m["error"] > 0
        ]
        return max(places) if places else None

    def _reference_row(
        self, label: str, names: list[str], width: int, shown: str | None = None
    ) -> list[str] | None:
        """The reference's row of ``label`` in a metric table, if it has any of ``names``,
        labelled ``<shown> (reference)`` (``shown`` defaults to ``label``)."""
        published = (self.reference.rows.get(label) if self.reference else None) or {}
        if not any(name in published for name in names):
            return None
        cells = [self.published(label, name) for name in names]
        shown = label if shown is None else shown
        return [shown + REFERENCE_SUFFIX, *self._runs(MISSING), *cells, *[MISSING] * width]

    def _measurement(self, metric: str, m: dict[str, Any]) -> str:
        """A row's ``value ± error`` of ``metric`` in the column's unit."""
        unit = self.unit(metric)
        value, error = m.get("value"), m.get("error")
        return format_measurement(
            value / unit if is_finite(value) else value, error / unit if is_finite(error) else error
        )

    def _metric_rows(self, names: list[str], speed: bool) -> list[list[str]]:
        speed_cells = (1 + self.devices_differ) if speed else 0
        rows = []
        for section in self.blocks:
            if section.label is not None:
                width = len(self._head()) + len(names) + speed_cells - 1
                rows.append([f"**{section.label}**", *[""] * width])
            rows += self._section_rows(section, names, speed, speed_cells)
        return rows

    def _section_rows(
        self, section: Section, names: list[str], speed: bool, speed_cells: int
    ) -> list[list[str]]:
        rows = []
        for row in section.rows:
            cells = [
                self._measurement(name, m) if row.ok and (m := row.metrics.get(name)) else MISSING
                for name in names
            ]
            if speed:
                cells.append(format_rate(row.samples_per_s) if row.ok else MISSING)
                if self.devices_differ:
                    cells.append(row.device or MISSING)
            label = row.label if row.ok else f"{row.label} ({row.status})"
            rows.append([label, *self._runs(str(row.n)), *cells])
            if (published := self._reference_row(row.label, names, speed_cells)) is not None:
                rows.append(published)
        rvr = []
        for name in names:
            value = section.real_vs_real.get(name)
            text = (
                MISSING
                if value is None
                else format_number(value / self.unit(name), self._decimals(name))
            )
            rvr.append(text + (" †" if name in section.real_vs_real_spread else ""))
        rows.append([REAL_VS_REAL, *self._runs(MISSING), *rvr, *[MISSING] * speed_cells])
        key = self.real_vs_real_key(section)
        if (published := self._reference_row(key, names, speed_cells, REAL_VS_REAL)) is not None:
            rows.append(published)
        return rows

    def _runs(self, cell: str) -> list[str]:
        """``[cell]`` for the ``runs`` column where rows may average runs, else nothing."""
        return [cell] if self.averaged else []

    def _head(self) -> list[str]:
        return ["run", *self._runs("runs")]

    def main_table(self) -> Table:
        speed = not self.speed_table_shown
        header = self._head() + [self.header(name) for name in self.columns]
        if speed:
            header += ["samples/s"] + (["device"] if self.devices_differ else [])
        return Table(header, self._metric_rows(self.columns, speed), notes=self.notes())

    def other_table(self) -> Table | None:
        if not self.others:
            return None
        rows = self._metric_rows(self.others, speed=False)
        header = self._head() + [self.header(name) for name in self.others]
        return Table(header, rows, title="Other metrics")

    def notes(self) -> list[str]:
        """Footnotes under the main table."""
        notes = []
        if self.averaged:
            notes.append(
                f"runs: how many runs differing only in {', '.join(self.settings.average_over)} "
                "each row averages; their values are the mean ± standard deviation (ddof=1)."
            )
        for row in self.rows:
            for name, m in row.metrics.items():
                if row.n > 1 and m["n"] < row.n:
                    notes.append(f"{row.label}: {name} of {m['n']} of its {row.n} runs only.")
        for section in self.blocks:
            where = "" if section.label is None else f" ({section.label})"
            for name, (low, high, n) in section.real_vs_real_spread.items():
                low, high = low / self.unit(name), high / self.unit(name)
                notes.append(
                    f"† {name}{where}: the runs disagree on the real-vs-real value "
                    f"({format_number(low)} to {format_number(high)}); the row shows the mean "
                    f"of {n} runs."
                )
        if self.reference is not None:
            shown = {row.label for row in self.rows} | {
                self.real_vs_real_key(s) for s in self.blocks
            }
            if shown & set(self.reference.rows):
                notes.append(f"rows '…{REFERENCE_SUFFIX}': {self.reference.source}.")
        if converted := self.converted():
            notes.append(
                "reference numbers converted to the columns' units from the reference's: "
                + ", ".join(converted)
                + "."
            )
        speed = [run for run in self.runs if run.ok and is_finite(run.samples_per_s)]
        if not self.speed_table_shown and speed and not self.devices_differ and self.devices:
            sizes = {run.sampling.get("batch_size") for run in speed}
            batch = f", batch size {sizes.pop()}" if len(sizes) == 1 and None not in sizes else ""
            notes.append(f"samples/s measured on {self.devices[0]}{batch}.")
        for row in self.rows:
            for run in row.runs:
                if not run.ok:
                    where = run.path / FAILURE if run.failure is not None else run.path / RESULTS
                    notes.append(f"{row.label} {run.status}: {run.problem} ({where})")
        return notes

    def converted(self) -> list[str]:
        """``<metric> ×<unit>`` for every metric whose reference numbers are converted."""
        if self.reference is None:
            return []
        return [
            f"{name}{unit_label(scale)}"
            for name, scale in self.reference.scales.items()
            if scale != self.unit(name)
        ]

    # ---- generation speed

    def speed_table(self) -> Table | None:
        if not self.speed_table_shown:
            return None
        published = self.reference.speed if self.reference is not None else {}
        ratio = bool(self.monte_carlo)
        header = self._head() + ["samples/s", "device", "batch size"]
        header += (["× Monte Carlo"] if ratio else []) + (["reference"] if published else [])
        rows = []
        for row in self.rows:
            if not row.ok:
                continue
            cells = [row.label, *self._runs(str(row.n)), _rate(row.samples_per_s)]
            cells += [row.device or MISSING, row.batch_size or MISSING]
            if ratio:
                mc = row.monte_carlo_speed
                ours = row.samples_per_s
                cells.append(_rate(ours / mc) if mc and ours is not None else MISSING)
            rows.append(cells + ([_rate(published.get(row.label))] if published else []))
        labels = {row.label for row in self.rows}
        blank = self._runs(MISSING) + [MISSING] * (4 if ratio else 3)
        for label, value in published.items():
            if label not in labels and not (ratio and label in MONTE_CARLO):
                rows.append([label, *blank, format_rate(value)])
        mc_published = self.reference.monte_carlo_speed if self.reference is not None else None
        for entry in self.monte_carlo:
            source = f" ({entry['source']})" if entry.get("source") else ""
            cores = entry.get("cores")
            cells = ["Monte Carlo" + source, *self._runs(MISSING)]
            cells += [
                format_rate(entry["samples_per_s"]),
                describe_cpu(cores) if cores else MISSING,
            ]
            cells += [MISSING, "1"] + ([_rate(mc_published)] if published else [])
            rows.append(cells)
        return Table(header, rows, title="Generation speed", notes=self._speed_notes(ratio))

    def _speed_notes(self, ratio: bool) -> list[str]:
        notes = []
        if ratio:
            notes.append(
                "× Monte Carlo: samples/s over the Monte Carlo samples/s stored with the same "
                "runs (the Monte Carlo rows)."
            )
        if len(self.monte_carlo) > 1:
            notes.append("the runs hold different Monte Carlo speeds; each is a row.")
        if self.reference is not None and self.reference.speed:
            what = f"{self.reference.speed_note}; " if self.reference.speed_note else ""
            notes.append(f"reference: {what}{self.reference.source}.")
        return notes

    # ---- likelihoods

    def likelihood_table(self) -> Table | None:
        """Kind of ``log_prob`` and bits per dimension of the rows of likelihood models."""
        rows = [
            [
                row.label,
                kind,
                format_number(row.bits_per_dim) if is_finite(row.bits_per_dim) else MISSING,
            ]
            for row in self.rows
            if row.ok and (kind := row.likelihood_kind)
        ]
        if not rows:
            return None
        kinds = dict.fromkeys(k for run in self.runs if (k := (run.likelihood or {}).get("kind")))
        meanings = {
            (run.likelihood or {}).get("kind"): (run.likelihood or {}).get("meaning")
            for run in self.runs
        }
        notes = [f"{kind}: {meanings.get(kind)}." for kind in kinds]
        if len(kinds) > 1:
            notes.append("Bits per dimension of different kinds are not comparable.")
        return Table(
            ["run", "log p", f"bits/dim ({self.split})"], rows, title="Likelihood", notes=notes
        )

    # ---- the reference table

    def reference_metrics(self) -> list[str]:
        """The reference's metrics: ours in our order, then its others."""
        if self.reference is None:
            return []
        names = list(dict.fromkeys(n for row in self.reference.rows.values() for n in row))
        return [m for m in self.metrics if m in names] + [n for n in names if n not in self.metrics]

    def reference_table(self) -> Table | None:
        if self.reference is None:
            return None
        names = self.reference_metrics()
        rows = [
            [label, *[self.published(label, name) for name in names]]
            for label in self.reference.rows
        ]
        notes = [self.reference.note] if self.reference.note else []
        if converted := self.converted():
            notes.append(
                "converted to the report's units from the reference's: "
                + ", ".join(converted)
                + "."
            )
        header = ["row", *[self.header(name) for name in names]]
        return Table(header, rows, title=f"Reference: {self.reference.source}", notes=notes)

    def tables(self) -> list[Table]:
        """Every table shown, in order."""
        found = [
            self.main_table(),
            self.other_table(),
            self.speed_table(),
            self.likelihood_table(),
            self.reference_table(),
        ]
        return [t for t in found if t is not None]
